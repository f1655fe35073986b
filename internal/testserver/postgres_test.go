//go:build linux

package testserver_test

import (
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
