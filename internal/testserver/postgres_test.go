//go:build linux

package testserver_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/idsync/idsync/internal/testserver"
)

// TestPostgresFreshDatabases: each call gives a database of its own, empty,
// that the test can write to and that others do not see.
func TestPostgresFreshDatabases(t *testing.T) {
	ctx := t.Context()
	dsns := []string{testserver.Postgres(t), testserver.Postgres(t)}
	if dsns[0] == dsns[1] {
		t.Fatalf("two calls returned the same DSN %q", dsns[0])
	}
	conns := make([]*pgx.Conn, len(dsns))
	for i, dsn := range dsns {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connecting to database %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close(ctx) })
		conns[i] = c
	}
	tables := func(c *pgx.Conn) int {
		t.Helper()
		var n int
		err := c.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables
			WHERE table_schema = current_schema()`).Scan(&n)
		if err != nil {
			t.Fatalf("counting tables: %v", err)
		}
		return n
	}
	for i, c := range conns {
		if n := tables(c); n != 0 {
			t.Errorf("database %d holds %d tables, want 0", i, n)
		}
	}
	if _, err := conns[0].Exec(ctx, "CREATE TABLE probe (id int PRIMARY KEY)"); err != nil {
		t.Fatalf("creating a table: %v", err)
	}
	if got := []int{tables(conns[0]), tables(conns[1])}; got[0] != 1 || got[1] != 0 {
		t.Errorf("tables after creating one in the first database = %v, want [1 0]", got)
	}
}

// TestPostgresOutsideServer: with IDSYNC_TEST_POSTGRES_DSN, Postgres makes
// a fresh database on that server, or a fresh schema where the role may not
// create databases.
func TestPostgresOutsideServer(t *testing.T) {
	ctx := t.Context()
	base := testserver.Postgres(t)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(func() { admin.Close(context.WithoutCancel(ctx)) })
	var baseDB string
	if err := admin.QueryRow(ctx, "SELECT current_database()").Scan(&baseDB); err != nil {
		t.Fatalf("reading the database name: %v", err)
	}

	t.Run("database", func(t *testing.T) {
		t.Setenv("IDSYNC_TEST_POSTGRES_DSN", base)
		c, err := pgx.Connect(ctx, testserver.Postgres(t))
		if err != nil {
			t.Fatalf("connecting to the fresh database: %v", err)
		}
		defer c.Close(ctx)
		var db string
		if err := c.QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil {
			t.Fatalf("reading the database name: %v", err)
		}
		if db == baseDB || !strings.HasPrefix(db, "t_") {
			t.Errorf("fresh database %q, want a new t_… beside %q", db, baseDB)
		}
	})

	t.Run("schema", func(t *testing.T) {
		var super bool
		if err := admin.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil {
			t.Fatalf("reading the role: %v", err)
		}
		if !super {
			testserver.Unavailable(t, "making a role without CREATEDB needs a superuser DSN")
		}
		role := "r_" + strings.TrimPrefix(baseDB, "t_")
		for _, q := range []string{
			"CREATE ROLE " + role + " LOGIN NOCREATEDB",
			"GRANT CREATE ON DATABASE " + baseDB + " TO " + role,
		} {
			if _, err := admin.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		t.Cleanup(func() {
			for _, q := range []string{"DROP OWNED BY " + role, "DROP ROLE " + role} {
				if _, err := admin.Exec(context.WithoutCancel(ctx), q); err != nil {
					t.Errorf("%s: %v", q, err)
				}
			}
		})
		u, err := url.Parse(base)
		if err != nil {
			t.Fatalf("parsing the DSN: %v", err)
		}
		u.User = url.User(role)
		t.Setenv("IDSYNC_TEST_POSTGRES_DSN", u.String())
		c, err := pgx.Connect(ctx, testserver.Postgres(t))
		if err != nil {
			t.Fatalf("connecting with the fresh schema: %v", err)
		}
		defer c.Close(ctx)
		var db, schema string
		if err := c.QueryRow(ctx, "SELECT current_database(), current_schema()").Scan(&db, &schema); err != nil {
			t.Fatalf("reading the database and schema: %v", err)
		}
		if db != baseDB || !strings.HasPrefix(schema, "t_") {
			t.Errorf("database %q schema %q, want %q and a fresh t_… schema", db, schema, baseDB)
		}
	})
}
