package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/idsync/idsync/server/store/sqlite"
	"github.com/idsync/idsync/server/store/storetest"
)

// TestMembersDiffWritesOnlyTheChange: membership changes write only the
// rows that change. Triggers count the membership rows each batch writes.
func TestMembersDiffWritesOnlyTheChange(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	raw, err := sql.Open("sqlite", path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatalf("opening the file: %v", err)
	}
	defer raw.Close()
	for _, q := range []string{
		`CREATE TABLE member_writes (op TEXT NOT NULL)`,
		`CREATE TRIGGER member_insert AFTER INSERT ON memberships BEGIN INSERT INTO member_writes VALUES ('insert'); END`,
		`CREATE TRIGGER member_update AFTER UPDATE ON memberships BEGIN INSERT INTO member_writes VALUES ('update'); END`,
		`CREATE TRIGGER member_delete AFTER DELETE ON memberships BEGIN INSERT INTO member_writes VALUES ('delete'); END`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	storetest.MemberWrites(t, s, func() map[string]int {
		t.Helper()
		rows, err := raw.QueryContext(ctx, `SELECT op, COUNT(*) FROM member_writes GROUP BY op`)
		if err != nil {
			t.Fatalf("counting writes: %v", err)
		}
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var op string
			var n int
			if err := rows.Scan(&op, &n); err != nil {
				t.Fatalf("counting writes: %v", err)
			}
			out[op] = n
		}
		if _, err := raw.ExecContext(ctx, `DELETE FROM member_writes`); err != nil {
			t.Fatalf("resetting the count: %v", err)
		}
		return out
	})
}
