package postgres_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/idsync/idsync/internal/testserver"
	"github.com/idsync/idsync/server/store/postgres"
	"github.com/idsync/idsync/server/store/storetest"
)

// TestUpgradeFromV1: a database of schema version 1 with two open runs of
// one kind upgrades; see storetest.CheckUpgrade.
func TestUpgradeFromV1(t *testing.T) {
	ctx := t.Context()
	dsn := testserver.Postgres(t)
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	defer c.Close(ctx)
	v1, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatalf("reading migration 1: %v", err)
	}
	stmts := append([]string{string(v1),
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', now())`,
	}, storetest.SeedV1("'2023-11-14 22:13:20+00'")...)
	for _, q := range stmts {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("making a version 1 database: %v", err)
		}
	}
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	storetest.CheckUpgrade(t, s)
}

// TestConcurrentOpenMigratesOnce: hub replicas starting at once on one
// database all open it, and each migration is applied once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := testserver.Postgres(t)
	const replicas = 4
	errs := make([]error, replicas)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			<-start
			s, err := postgres.Open(t.Context(), dsn)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: Open: %v", i, err)
		}
	}
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	defer c.Close(t.Context())
	rows, err := c.Query(t.Context(), `SELECT version, COUNT(*) FROM schema_migrations GROUP BY version ORDER BY version`)
	if err != nil {
		t.Fatalf("reading schema_migrations: %v", err)
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var v, n int
		err := r.Scan(&v, &n)
		return fmt.Sprintf("%d×%d", v, n), err
	})
	if err != nil {
		t.Fatalf("reading schema_migrations: %v", err)
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatalf("listing migrations: %v", err)
	}
	// Versions from the file names: numbers may have gaps while branches
	// that each add one are merged.
	var want []string
	for _, f := range files {
		var v int
		if _, err := fmt.Sscanf(filepath.Base(f), "%04d_", &v); err != nil {
			t.Fatalf("migration %s: %v", f, err)
		}
		want = append(want, fmt.Sprintf("%d×1", v))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("schema_migrations versions×rows = %v, want %v", got, want)
	}
}

// TestActivityUpgrade: the activity counted before pushes counted per app
// (migration 26) stays in the totals of the admins who see every app, and
// is in no app's.
func TestActivityUpgrade(t *testing.T) {
	ctx := t.Context()
	dsn := testserver.Postgres(t)
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range storetest.MigrationsUpTo(t, "migrations", 25) {
		if _, err := c.Exec(ctx, m.Contents); err != nil {
			t.Fatalf("migration %s: %v", m.Name, err)
		}
		if _, err := c.Exec(ctx, `INSERT INTO schema_migrations VALUES ($1, $2, now())`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	hour := time.Now().Unix() / 3600
	if _, err := c.Exec(ctx, `INSERT INTO activity (hour, kind, n) VALUES ($1, 'changes', 5), ($1, 'push.succeeded', 3)`, hour); err != nil {
		t.Fatalf("counting activity at version 25: %v", err)
	}
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	storetest.CheckActivityUpgrade(t, s)
}
