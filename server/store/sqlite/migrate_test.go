package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
	"github.com/idsync/idsync/server/store/storetest"
)

// TestUpgradeFromV1: a database of schema version 1 with two open runs of
// one kind upgrades; see storetest.CheckUpgrade.
func TestUpgradeFromV1(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "hub.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatalf("opening the file: %v", err)
	}
	v1, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatalf("reading migration 1: %v", err)
	}
	stmts := append([]string{string(v1),
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 0)`,
	}, storetest.SeedV1("1700000000000000")...)
	for _, q := range stmts {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("making a version 1 database: %v", err)
		}
	}
	raw.Close()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	storetest.CheckUpgrade(t, s)
}

// TestReopen: opening a migrated database again applies nothing and keeps
// the data; a database from a newer binary is refused.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.CreateDirectory(ctx, &store.Directory{Name: "corp", Kind: store.KindAD}); err != nil {
		t.Fatalf("CreateDirectory: %v", err)
	}
	s.Close()

	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open again: %v", err)
	}
	if _, err := s.GetDirectory(ctx, "corp"); err != nil {
		t.Errorf("GetDirectory after reopening: %v", err)
	}
	s.Close()

	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatalf("opening the file: %v", err)
	}
	defer raw.Close()
	var versions int
	if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&versions); err != nil {
		t.Fatalf("reading schema_migrations: %v", err)
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("listing migrations: %v, %d files", err, len(files))
	}
	if versions != len(files) {
		t.Errorf("schema_migrations holds %d rows, want %d (one per migration)", versions, len(files))
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatalf("faking a newer schema: %v", err)
	}
	if s, err := sqlite.Open(ctx, path); err == nil || !strings.Contains(err.Error(), "newer") {
		if s != nil {
			s.Close()
		}
		t.Errorf("Open(newer schema) = %v, want an error saying the schema is newer", err)
	}
}

func TestOpenBadPath(t *testing.T) {
	tests := []struct{ name, path string }{
		{"empty", ""},
		{"query", filepath.Join(t.TempDir(), "hub.db?mode=ro")},
		{"missing directory", filepath.Join(t.TempDir(), "no", "such", "hub.db")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlite.Open(t.Context(), tc.path)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tc.path)
			}
		})
	}
}

// TestActivityUpgrade: the activity counted before pushes counted per app
// (migration 26) stays in the totals of the admins who see every app, and
// is in no app's.
func TestActivityUpgrade(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "hub.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatalf("opening the file: %v", err)
	}
	if _, err := raw.ExecContext(ctx, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range storetest.MigrationsUpTo(t, "migrations", 25) {
		if _, err := raw.ExecContext(ctx, m.Contents); err != nil {
			t.Fatalf("migration %s: %v", m.Name, err)
		}
		if _, err := raw.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, ?, 0)`, m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	hour := time.Now().Unix() / 3600
	if _, err := raw.ExecContext(ctx, `INSERT INTO activity (hour, kind, n) VALUES (?, 'changes', 5), (?, 'push.succeeded', 3)`, hour, hour); err != nil {
		t.Fatalf("counting activity at version 25: %v", err)
	}
	raw.Close()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	storetest.CheckActivityUpgrade(t, s)
}
