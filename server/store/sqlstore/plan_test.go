package sqlstore_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
	"github.com/idsync/idsync/server/store/sqlstore"
)

// TestNestingPlansUseIndexes: on SQLite, which plans without statistics,
// every table the nesting queries read is searched through an index, never
// scanned, over a group of 5,000 users with 10 nested groups. (PostgreSQL
// plans by cost: over a group that is the whole directory it rightly
// hashes; in a directory of 100,000 users the same queries probe its
// indexes, which EXPLAIN showed when they were written.)
func TestNestingPlansUseIndexes(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	d := &store.Directory{Name: "corp", Kind: store.KindOpenLDAP}
	if err := s.CreateDirectory(ctx, d); err != nil {
		t.Fatalf("CreateDirectory: %v", err)
	}
	r := &store.Run{DirectoryID: d.ID, Kind: store.RunFull}
	if err := s.CreateRun(ctx, r); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	object := func(kind store.ObjectKind, dn, name string, members ...string) *store.Object {
		o := &store.Object{Kind: kind, ExternalID: dn, DN: dn, DNKey: dn, Hash: dn, Name: name,
			Profile: store.Profile{Username: name}, MembersComplete: true}
		for _, m := range members {
			o.Members = append(o.Members, store.MemberRef{Value: m, Key: "dn:" + m})
		}
		return o
	}
	var objs []*store.Object
	var big []string
	for i := range 5000 {
		dn := fmt.Sprintf("uid=user%05d,dc=example,dc=org", i)
		objs = append(objs, object(store.ObjectUser, dn, fmt.Sprintf("user%05d", i)))
		big = append(big, dn)
	}
	objs = append(objs, object(store.ObjectGroup, "cn=big", "big", append(big, "cn=n1")...))
	for i := 1; i <= 10; i++ {
		objs = append(objs, object(store.ObjectGroup, fmt.Sprint("cn=n", i), fmt.Sprint("n", i), fmt.Sprint("cn=n", i+1), big[i]))
	}
	if _, err := s.ApplyBatch(ctx, &store.Batch{RunID: r.ID, Sequence: 1, Upserts: objs}); err != nil {
		t.Fatalf("ApplyBatch: %v", err)
	}
	raw, err := sql.Open("sqlite", path+"?mode=ro")
	if err != nil {
		t.Fatalf("opening the file: %v", err)
	}
	defer raw.Close()

	// A plan line "SCAN x" reads all of x; only the CTE (n, nest) may be
	// read so, and "SCAN x USING … INDEX" is an index scan.
	scan := regexp.MustCompile(`^SCAN (\w+)`)
	tests := []struct {
		name string
		q    string
		args []any
	}{
		{"up from a user", sqlstore.NestUpQuery(2), []any{"dn:" + big[5], "uid:user00005", d.ID, d.ID}},
		{"down from a group", sqlstore.NestDownQuery, []any{"some id", d.ID}},
		{"members to users", sqlstore.GroupUsersQuery(3), []any{d.ID, d.ID, "a", "b", "c"}},
		{"users by id", sqlstore.UsersByIDQuery(3), []any{"a", "b", "c"}},
		{"groups by id", sqlstore.GroupsByIDQuery(3), []any{"a", "b", "c"}},
	}
	for _, tc := range tests {
		rows, err := raw.QueryContext(ctx, "EXPLAIN QUERY PLAN "+tc.q, tc.args...)
		if err != nil {
			t.Fatalf("%s: EXPLAIN: %v", tc.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatalf("%s: reading the plan: %v", tc.name, err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Close(); err != nil {
			t.Fatalf("%s: reading the plan: %v", tc.name, err)
		}
		for _, line := range plan {
			m := scan.FindStringSubmatch(line)
			if m != nil && m[1] != "n" && m[1] != "nest" && !strings.Contains(line, "INDEX") {
				t.Errorf("%s: the plan scans a table: %q in\n%s", tc.name, line, strings.Join(plan, "\n"))
			}
		}
	}
}
