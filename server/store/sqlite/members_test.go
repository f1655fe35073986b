package sqlite_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// TestMembersDiffWritesOnlyTheChange: a complete member set replaces the
// stored one by difference. Triggers count the membership rows each batch
// writes.
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
	writes := func() map[string]int {
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
	}

	d := &store.Directory{Name: "corp", Kind: store.KindOpenLDAP}
	if err := s.CreateDirectory(ctx, d); err != nil {
		t.Fatalf("CreateDirectory: %v", err)
	}
	run := &store.Run{DirectoryID: d.ID, Kind: store.RunFull}
	if err := s.CreateRun(ctx, run); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	member := func(i int) store.MemberRef {
		dn := fmt.Sprintf("uid=user%05d,ou=People,dc=example,dc=org", i)
		return store.MemberRef{Value: dn, Key: "dn:" + dn}
	}
	members := func(from, to int) []store.MemberRef {
		var out []store.MemberRef
		for i := from; i < to; i++ {
			out = append(out, member(i))
		}
		return out
	}
	renamed := members(0, 5001)
	renamed[7].Value = strings.ToUpper(renamed[7].Value)

	steps := []struct {
		name    string
		members []store.MemberRef
		want    map[string]int
	}{
		{"5,000 members", members(0, 5000), map[string]int{"insert": 5000}},
		{"one more", members(0, 5001), map[string]int{"insert": 1}},
		{"one fewer", members(1, 5001), map[string]int{"delete": 1}},
		{"one value changed", renamed, map[string]int{"insert": 1, "update": 1}},
		{"same set, description changed", renamed, map[string]int{}},
	}
	for i, st := range steps {
		g := &store.Object{Kind: store.ObjectGroup, ExternalID: "g1", DN: "cn=big", DNKey: "cn=big",
			Status: store.StatusActive, Name: "big", Description: st.name, Hash: fmt.Sprint("hash ", i),
			Members: st.members, MembersComplete: true}
		res, err := s.ApplyBatch(ctx, &store.Batch{RunID: run.ID, Sequence: uint64(i + 1), Upserts: []*store.Object{g}})
		if err != nil {
			t.Fatalf("%s: ApplyBatch: %v", st.name, err)
		}
		if res.Created+res.Updated != 1 {
			t.Errorf("%s: batch %+v, want the group written", st.name, res)
		}
		if got := writes(); fmt.Sprint(got) != fmt.Sprint(st.want) {
			t.Errorf("%s: membership writes %v, want %v", st.name, got, st.want)
		}
	}
}
