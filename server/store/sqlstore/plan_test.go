package sqlstore_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
	"github.com/idsync/idsync/server/store/sqlstore"
)

// TestNestingPlansUseIndexes: on SQLite, which plans without statistics,
// every table the nesting queries read is searched through an index, never
// scanned, over a group of 5,000 users with 10 nested groups, and a local
// directory's groups that hold those users by id and nest by id. (PostgreSQL
// plans by cost: over a group that is the whole directory it rightly
// hashes; in a directory of 100,000 users the same queries probe its
// indexes, which EXPLAIN showed when they were written.)
func TestNestingPlansUseIndexes(t *testing.T) {
	ctx := t.Context()
	s, raw := openPlanned(t)
	d, r := plannedRun(t, s)
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
	users, err := s.ListUsers(ctx, store.UserFilter{DirectoryID: d.ID})
	if err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	staff := &store.Directory{Name: "staff", Kind: store.KindLocal}
	if err := s.CreateDirectory(ctx, staff); err != nil {
		t.Fatalf("CreateDirectory: %v", err)
	}
	lr := &store.Run{DirectoryID: staff.ID, Kind: store.RunWrite}
	if err := s.CreateRun(ctx, lr); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	local := &store.Object{Kind: store.ObjectGroup, ExternalID: "local-all", Hash: "a", Name: "local-all", MembersComplete: true}
	for _, u := range users {
		local.Members = append(local.Members, store.IDMember(u.ID))
	}
	inner := &store.Object{Kind: store.ObjectGroup, ExternalID: "local-inner", Hash: "i", Name: "local-inner",
		MembersComplete: true, Members: []store.MemberRef{store.IDMember(users[7].ID)}}
	if _, err := s.ApplyBatch(ctx, &store.Batch{RunID: lr.ID, Sequence: 1, Upserts: []*store.Object{local, inner}}); err != nil {
		t.Fatalf("ApplyBatch(local): %v", err)
	}
	outer := &store.Object{Kind: store.ObjectGroup, ExternalID: "local-outer", Hash: "o", Name: "local-outer", MembersComplete: true}
	for _, name := range []string{"local-inner", "n3"} {
		gs, err := s.FindGroups(ctx, 0, name)
		if err != nil || len(gs) != 1 {
			t.Fatalf("FindGroups(%s): %v, %v", name, gs, err)
		}
		outer.Members = append(outer.Members, store.IDMember(gs[0].ID))
	}
	if _, err := s.ApplyBatch(ctx, &store.Batch{RunID: lr.ID, Sequence: 2, Upserts: []*store.Object{outer}}); err != nil {
		t.Fatalf("ApplyBatch(local): %v", err)
	}
	user := users[5]

	tests := []struct {
		name string
		q    string
		args []any
	}{
		{"up from a user", sqlstore.NestUpQuery(3), []any{"id:" + user.ID, "dn:" + big[5], "uid:user00005", d.ID}},
		{"the direct groups of a user", sqlstore.DirectQuery(3), []any{"id:" + user.ID, "dn:" + big[5], "uid:user00005", d.ID}},
		{"down from a group", sqlstore.NestDownQuery, []any{"some id"}},
		{"members to users", sqlstore.GroupUsersQuery(3), []any{d.ID, d.ID, "a", "b", "c"}},
		{"members resolved", sqlstore.GroupMembersQuery, []any{d.ID, d.ID, "a"}},
		{"users by id", sqlstore.UsersByIDQuery(3), []any{"a", "b", "c"}},
		{"groups by id", sqlstore.GroupsByIDQuery(3), []any{"a", "b", "c"}},
	}
	for _, tc := range tests {
		// Only the CTE (n, nest) may be scanned.
		plan := explain(t, raw, tc.name, tc.q, tc.args...)
		wantIndexes(t, tc.name, plan, "n", "nest", "byid", "kinds")
		wantProbes(t, tc.name, plan)
	}
}

// objectSearch matches a plan line that searches the objects table (alias
// o or g) through an index, with the index's constrained columns.
var objectSearch = regexp.MustCompile(`^SEARCH [og] USING (?:COVERING )?INDEX \S+ \((.*)\)`)

// wantProbes fails t when plan reaches objects through an index whose
// first constrained column is not a key of one object (id, dn_key,
// name_key): a search by directory and kind alone reads every user of
// the directory at each member row, which is what pushing a group of
// 10,000 users did while an index on (directory_id, kind, status)
// existed (0024).
func wantProbes(t *testing.T, name string, plan []string) {
	t.Helper()
	for _, line := range plan {
		m := objectSearch.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if !strings.HasPrefix(m[1], "id=") && !strings.HasPrefix(m[1], "dn_key=") && !strings.HasPrefix(m[1], "name_key=") {
			t.Errorf("%s: the plan reaches objects by %q, not by one object's key, in\n%s", name, m[1], strings.Join(plan, "\n"))
		}
	}
}

// TestFeedAndQueuePlansUseIndexes: on SQLite, the change feed and the job
// claims read through their indexes, in the index's order (no sort of
// what they pass over).
func TestFeedAndQueuePlansUseIndexes(t *testing.T) {
	_, raw := openPlanned(t)
	tests := []struct {
		name    string
		q       string
		args    []any
		ordered bool // served in the index's order
	}{
		{"changes after a position", sqlstore.ChangesQuery, []any{10, 1001}, true},
		{"changes at a position", sqlstore.ChangesAtQuery, []any{10}, false},
		{"due queued jobs", sqlstore.PickQueuedQuery, []any{1, 0, 16}, true},
		{"running jobs with an expired lease", sqlstore.PickExpired, []any{1, 0, 16}, true},
		{"done jobs to prune", sqlstore.PruneQuery, []any{0, 1000}, false},
		{"a directory's counts", sqlstore.DirectoryStatsQuery, []any{1}, true},
	}
	for _, tc := range tests {
		plan := explain(t, raw, tc.name, tc.q, tc.args...)
		wantIndexes(t, tc.name, plan)
		if tc.ordered && slices.ContainsFunc(plan, func(l string) bool { return strings.Contains(l, "TEMP B-TREE") }) {
			t.Errorf("%s: the plan sorts:\n%s", tc.name, strings.Join(plan, "\n"))
		}
	}
}

// openPlanned opens a SQLite store on a fresh file, and a read-only
// handle on the file to explain queries with; both close when t ends.
func openPlanned(t *testing.T) (*sqlite.Store, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	raw, err := sql.Open("sqlite", path+"?mode=ro")
	if err != nil {
		t.Fatalf("opening the file: %v", err)
	}
	t.Cleanup(func() { raw.Close() })
	return s, raw
}

// plannedRun creates directory corp in s and a full run of it.
func plannedRun(t *testing.T, s *sqlite.Store) (*store.Directory, *store.Run) {
	t.Helper()
	d := &store.Directory{Name: "corp", Kind: store.KindOpenLDAP}
	if err := s.CreateDirectory(t.Context(), d); err != nil {
		t.Fatalf("CreateDirectory: %v", err)
	}
	r := &store.Run{DirectoryID: d.ID, Kind: store.RunFull}
	if err := s.CreateRun(t.Context(), r); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	return d, r
}

// explain returns the lines of SQLite's query plan of q.
func explain(t *testing.T, raw *sql.DB, name, q string, args ...any) []string {
	t.Helper()
	rows, err := raw.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("%s: EXPLAIN: %v", name, err)
	}
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatalf("%s: reading the plan: %v", name, err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Close(); err != nil {
		t.Fatalf("%s: reading the plan: %v", name, err)
	}
	return plan
}

// scanLine matches a plan line "SCAN x", which reads all of x ("SCAN x
// USING … INDEX" is an index scan).
var scanLine = regexp.MustCompile(`^SCAN (\w+)`)

// wantIndexes fails t when plan scans a table other than the CTEs named
// (and constant rows), or builds an automatic index (which reads the whole
// table to build, at every run of the query).
func wantIndexes(t *testing.T, name string, plan []string, ctes ...string) {
	t.Helper()
	for _, line := range plan {
		m := scanLine.FindStringSubmatch(line)
		if strings.HasSuffix(line, "CONSTANT ROWS") {
			m = nil
		}
		if m != nil && !slices.Contains(ctes, m[1]) && !strings.Contains(line, "INDEX") {
			t.Errorf("%s: the plan scans a table: %q in\n%s", name, line, strings.Join(plan, "\n"))
		}
		if strings.Contains(line, "AUTOMATIC") {
			t.Errorf("%s: the plan builds an index: %q in\n%s", name, line, strings.Join(plan, "\n"))
		}
	}
}

// TestUserSearchPlans: on SQLite, the console's user list reads the name
// index (name_key, directory_id, kind) in its order, with a directory, a
// status and the cursor (a range of it), sorting only users of one name
// key by id (the last term of the ORDER BY): a page stops at its end
// rather than reading and sorting every user. A search by prefix scans
// the covering search index (0032: id, name_key, lower-cased e-mail and
// names), testing the prefixes on its entries, and sorts the matches
// alone. A group's members (each found by one object's key) and a
// scope's ids are read by id first, and only they are sorted.
func TestUserSearchPlans(t *testing.T) {
	ctx := t.Context()
	s, raw := openPlanned(t)
	d, r := plannedRun(t, s)
	var objs []*store.Object
	group := &store.Object{Kind: store.ObjectGroup, ExternalID: "cn=staff", DN: "cn=staff", DNKey: "cn=staff", Hash: "g",
		Name: "staff", MembersComplete: true}
	for i := range 100 {
		dn := fmt.Sprintf("uid=user%03d,dc=example,dc=org", i)
		objs = append(objs, &store.Object{Kind: store.ObjectUser, ExternalID: dn, DN: dn, DNKey: dn, Hash: dn,
			Name: fmt.Sprintf("user%03d", i), Profile: store.Profile{Username: fmt.Sprintf("user%03d", i),
				Email: fmt.Sprintf("user%03d@example.org", i), GivenName: "Given", FamilyName: "Family", DisplayName: "Given Family"}})
		group.Members = append(group.Members, store.MemberRef{Value: dn, Key: "dn:" + dn})
	}
	if _, err := s.ApplyBatch(ctx, &store.Batch{RunID: r.ID, Sequence: 1, Upserts: append(objs, group)}); err != nil {
		t.Fatalf("ApplyBatch: %v", err)
	}
	gs, err := s.FindGroups(ctx, d.ID, "staff")
	if err != nil || len(gs) != 1 {
		t.Fatalf("FindGroups(staff): %v, %v", gs, err)
	}
	after := store.UserSearch{AfterKey: "user050", AfterID: "some id"}
	// How the users are read.
	const (
		inNameOrder = iota // the name index in its order
		searched           // the search index scanned, the matches sorted
		byID               // found by id first: a group's members, a scope's ids
	)
	tests := []struct {
		name string
		f    store.UserSearch
		read int
	}{
		{"every user", store.UserSearch{}, inNameOrder},
		{"the next page", after, inNameOrder},
		{"a directory's", store.UserSearch{DirectoryID: d.ID}, inNameOrder},
		{"a status", store.UserSearch{Status: store.StatusSuspended}, inNameOrder},
		{"a prefix", store.UserSearch{Prefix: "given"}, searched},
		{"a prefix, the next page", store.UserSearch{Prefix: "given", AfterKey: after.AfterKey, AfterID: after.AfterID}, searched},
		{"a prefix in a directory, of a status", store.UserSearch{Prefix: "given", DirectoryID: d.ID, Status: store.StatusActive}, searched},
		{"a group's members", store.UserSearch{GroupID: gs[0].ID}, byID},
		{"a group's members, nested, the next page", store.UserSearch{GroupID: gs[0].ID, Nested: true,
			AfterKey: after.AfterKey, AfterID: after.AfterID}, byID},
		{"a prefix in a group", store.UserSearch{Prefix: "given", GroupID: gs[0].ID}, byID},
		{"some ids", store.UserSearch{IDs: []string{"a", "b", "c"}}, byID},
	}
	for _, tc := range tests {
		q, args, err := sqlstore.SearchUsersQuery(ctx, s.Store, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		plan := explain(t, raw, tc.name, q, args...)
		wantIndexes(t, tc.name, plan)
		wantMemberProbes(t, tc.name, plan)
		// The users o are read by these lines, in order.
		byIDLine := `SEARCH o USING INDEX (?:sqlite_autoindex_objects_1|objects_user_search) \(id=\?`
		switch tc.read {
		case inNameOrder:
			wantUsersRead(t, tc.name, plan, true, `(?:SCAN o USING INDEX objects_name_key$|SEARCH o USING INDEX objects_name_key \(name_key>\?\))`)
		case searched:
			wantUsersRead(t, tc.name, plan, false, `SEARCH o USING INDEX sqlite_autoindex_objects_1 \(id=\?\)`,
				`SCAN o USING INDEX objects_user_search$`)
		case byID:
			if tc.f.Prefix != "" {
				wantUsersRead(t, tc.name, plan, false, `SEARCH o USING INDEX sqlite_autoindex_objects_1 \(id=\?\)`, byIDLine)
			} else {
				wantUsersRead(t, tc.name, plan, false, byIDLine)
			}
		}
	}
}

// userSearchScan matches the plan line of a loop over objects o.
var userSearchScan = regexp.MustCompile(`^(?:SCAN|SEARCH) o\b`)

// wantUsersRead fails t unless plan reads users o by lines that match
// want (regular expressions), one each, in order, and, when ordered,
// sorts for the ORDER BY no more than its last term (users of one name
// key, by id). A prefix search reads the page's ids from the search
// index in a subquery, then the page's users by id.
func wantUsersRead(t *testing.T, name string, plan []string, ordered bool, want ...string) {
	t.Helper()
	var outer []string
	for _, line := range plan {
		if userSearchScan.MatchString(line) {
			outer = append(outer, line)
		}
		if ordered && strings.Contains(line, "TEMP B-TREE FOR") && strings.Contains(line, "ORDER BY") &&
			!strings.Contains(line, "LAST TERM OF ORDER BY") {
			t.Errorf("%s: the plan sorts: %q in\n%s", name, line, strings.Join(plan, "\n"))
		}
	}
	ok := len(outer) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = regexp.MustCompile("^" + want[i]).MatchString(outer[i])
	}
	if !ok {
		t.Errorf("%s: users are read by %q, want %q, in\n%s", name, outer, want, strings.Join(plan, "\n"))
	}
}

// memberSearch matches a plan line that searches objects x, a member of
// a group, through an index, with the index's constrained columns.
var memberSearch = regexp.MustCompile(`^SEARCH x USING (?:COVERING )?INDEX \S+ \((.*)\)`)

// wantMemberProbes fails t when plan finds a group's members x by
// anything but one object's key (dn_key, name_key).
func wantMemberProbes(t *testing.T, name string, plan []string) {
	t.Helper()
	for _, line := range plan {
		if strings.HasPrefix(line, "SCAN x") {
			t.Errorf("%s: the plan scans the objects for members: %q in\n%s", name, line, strings.Join(plan, "\n"))
		}
		m := memberSearch.FindStringSubmatch(line)
		if m != nil && !strings.HasPrefix(m[1], "dn_key=") && !strings.HasPrefix(m[1], "name_key=") {
			t.Errorf("%s: the plan finds members by %q, not by one object's key, in\n%s", name, m[1], strings.Join(plan, "\n"))
		}
	}
}
