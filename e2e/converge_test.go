//go:build linux

package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the hub's store, read for group revisions

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/testserver"
	"github.com/idsync/idsync/ldapsync"
)

// dirState is a direct read of a directory: its users and groups by
// external id, as ldapsync reads them (the same ids the hub keys on).
type dirState struct {
	kind   ldapsync.Kind
	users  map[string]ldapsync.Change
	groups map[string]ldapsync.Change
}

type dirCollector struct {
	st   *dirState
	errs []string
}

func (c *dirCollector) Change(_ context.Context, ch ldapsync.Change) error {
	if ch.Kind == ldapsync.ObjectGroup {
		c.st.groups[ch.ExternalID] = ch
	} else {
		c.st.users[ch.ExternalID] = ch
	}
	return nil
}

func (c *dirCollector) EntryError(_ context.Context, e ldapsync.EntryError) error {
	c.errs = append(c.errs, e.Error())
	return nil
}

// readDirectory reads every user and group under base with the attributes
// the hub maps.
func readDirectory(ctx context.Context, ep *testserver.Endpoint, kind ldapsync.Kind, base string) (*dirState, error) {
	conn, err := ldapsync.Dial(ctx, ldapsync.Config{URL: ep.URL, BindDN: ep.BindDN, BindPassword: ep.BindPassword})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	st := &dirState{kind: kind, users: map[string]ldapsync.Change{}, groups: map[string]ldapsync.Change{}}
	col := &dirCollector{st: st}
	spec := ldapsync.Spec{Kind: kind, BaseDN: base,
		UserAttributes: []string{"uid", "sAMAccountName", "mail", "userPrincipalName", "givenName", "sn", "displayName", "cn",
			"employeeID", "employeeNumber", "department", "departmentNumber", "ou", "title", "manager", "userAccountControl"},
		GroupAttributes: []string{"cn", "description", "member", "uniqueMember", "memberUid"}}
	if _, err := ldapsync.FullImport(ctx, conn, spec, col); err != nil {
		return nil, fmt.Errorf("reading %s: %w", base, err)
	}
	if len(col.errs) > 0 {
		return nil, fmt.Errorf("reading %s: %d entries unreadable: %s", base, len(col.errs), strings.Join(col.errs, "; "))
	}
	return st, nil
}

// userFields maps hub user fields to the attributes they come from (the
// first present wins), per directory kind: the presets of server/ingest.
var userFields = map[ldapsync.Kind][][2]string{
	ldapsync.KindOpenLDAP: {{"username", "uid"}, {"email", "mail"}, {"given_name", "givenname"}, {"family_name", "sn"},
		{"display_name", "displayname|cn"}, {"employee_number", "employeenumber"}, {"department", "departmentnumber|ou"},
		{"title", "title"}, {"manager", "manager"}},
	ldapsync.KindAD: {{"username", "samaccountname"}, {"email", "mail|userprincipalname"}, {"given_name", "givenname"},
		{"family_name", "sn"}, {"display_name", "displayname|cn"}, {"employee_number", "employeeid|employeenumber"},
		{"department", "department|departmentnumber"}, {"title", "title"}, {"manager", "manager"}},
}

func attrValues(ch ldapsync.Change, name string) []string {
	for _, a := range ch.Attributes {
		if a.Name == name {
			return a.Values
		}
	}
	return nil
}

// firstOf returns the first value of the first attribute of "a|b" present.
func firstOf(ch ldapsync.Change, names string) string {
	for n := range strings.SplitSeq(names, "|") {
		if v := attrValues(ch, n); len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func (d *dirState) expectStatus(ch ldapsync.Change) string {
	if d.kind == ldapsync.KindAD {
		if uac, _ := strconv.Atoi(firstOf(ch, "useraccountcontrol")); uac&2 != 0 {
			return "suspended"
		}
	}
	return "active"
}

func (d *dirState) memberAttrs(g ldapsync.Change) []string {
	var vals []string
	for _, n := range []string{"member", "uniquemember", "memberuid"} {
		vals = append(vals, attrValues(g, n)...)
	}
	return vals
}

// resolve returns the external id of the user a member value names ("" for
// none): a DN, or a uid for memberUid.
func (d *dirState) resolver() func(attrValue string) string {
	byKey := map[string]string{}
	for id, u := range d.users {
		byKey["dn:"+strings.ToLower(u.DN)] = id
		if uid := firstOf(u, userFields[d.kind][0][1]); uid != "" {
			byKey["uid:"+strings.ToLower(uid)] = id
		}
	}
	return func(v string) string {
		if id, ok := byKey["dn:"+strings.ToLower(v)]; ok {
			return id
		}
		return byKey["uid:"+strings.ToLower(v)]
	}
}

// userGroups returns, per user external id, the sorted names of the groups
// that list it.
func (d *dirState) userGroups() map[string][]string {
	resolve := d.resolver()
	out := map[string][]string{}
	for _, g := range d.groups {
		for _, v := range d.memberAttrs(g) {
			if id := resolve(v); id != "" {
				out[id] = append(out[id], firstOf(g, "cn"))
			}
		}
	}
	for id := range out {
		sort.Strings(out[id])
	}
	return out
}

// hubUser and hubGroup are what `idsyncctl … -o json` prints of them.
type hubUser struct {
	userJSON
	Revision uint64 `json:"revision"`
}

type hubGroup struct {
	groupJSON
	ExternalID  string `json:"external_id"`
	DN          string `json:"dn"`
	Description string `json:"description"`
	// Revision is read from the hub's store when idsyncctl does not print
	// it.
	Revision *uint64 `json:"revision"`
}

// hubState is what the hub holds of one directory, by external id.
type hubState struct {
	users  map[string]hubUser
	groups map[string]hubGroup
}

// readHub lists a directory's users and groups through idsyncctl.
func (s *stack) readHub(directory string) hubState {
	s.t.Helper()
	var users []hubUser
	s.ctlJSON(&users, "user", "list", "--directory", directory)
	var groups []hubGroup
	s.ctlJSON(&groups, "group", "list", "--directory", directory)
	h := hubState{users: map[string]hubUser{}, groups: map[string]hubGroup{}}
	for _, u := range users {
		h.users[u.ExternalID] = u
	}
	for _, g := range groups {
		h.groups[g.ExternalID] = g
	}
	return h
}

// diffs collects differences, keeping the first few.
type diffs struct {
	n    int
	list []string
}

func (d *diffs) add(format string, args ...any) {
	d.n++
	if len(d.list) < 25 {
		d.list = append(d.list, fmt.Sprintf(format, args...))
	}
}

func (d *diffs) String() string {
	s := strings.Join(d.list, "\n  ")
	if d.n > len(d.list) {
		s += fmt.Sprintf("\n  … and %d more", d.n-len(d.list))
	}
	return fmt.Sprintf("%d difference(s):\n  %s", d.n, s)
}

// compareHub compares the hub with the directory: every directory user and
// group is in the hub with the DN, the mapped attributes, the status and
// the direct groups the directory gives it (member counts for groups), and
// whatever the hub holds beyond is deprovisioned.
func compareHub(want *dirState, got hubState) *diffs {
	d := &diffs{}
	groupsOf := want.userGroups()
	pairUp(d, "user", want.users, got.users, func(u hubUser) (string, string) { return u.DN, u.Status }, func(id string, ch ldapsync.Change, u hubUser) {
		hub := map[string]string{"username": u.Username, "email": u.Email, "given_name": u.GivenName,
			"family_name": u.FamilyName, "display_name": u.DisplayName, "employee_number": u.EmployeeNumber,
			"department": u.Department, "title": u.Title, "manager": u.Manager}
		for _, f := range userFields[want.kind] {
			if w := firstOf(ch, f[1]); hub[f[0]] != w {
				d.add("user %s %s = %q, want %q", ch.DN, f[0], hub[f[0]], w)
			}
		}
		if u.DN != ch.DN {
			d.add("user %s: hub DN %q", ch.DN, u.DN)
		}
		if w := want.expectStatus(ch); u.Status != w {
			d.add("user %s status %s, want %s", ch.DN, u.Status, w)
		}
		gs := slices.Sorted(slices.Values(u.Groups))
		if w := groupsOf[id]; !slices.Equal(gs, w) {
			d.add("user %s groups %q, want %q", ch.DN, gs, w)
		}
	})
	resolve := want.resolver()
	pairUp(d, "group", want.groups, got.groups, func(g hubGroup) (string, string) { return g.DN, g.Status }, func(_ string, ch ldapsync.Change, g hubGroup) {
		vals := want.memberAttrs(ch)
		unresolved := 0
		for _, v := range vals {
			if resolve(v) == "" {
				unresolved++
			}
		}
		checks := []struct{ field, got, want string }{
			{"dn", g.DN, ch.DN}, {"name", g.Name, firstOf(ch, "cn")}, {"description", g.Description, firstOf(ch, "description")},
			{"status", g.Status, "active"}, {"member_count", fmt.Sprint(g.MemberCount), fmt.Sprint(len(vals))},
			{"unresolved_members", fmt.Sprint(g.UnresolvedMembers), fmt.Sprint(unresolved)},
		}
		for _, c := range checks {
			if c.got != c.want {
				d.add("group %s %s = %q, want %q", ch.DN, c.field, c.got, c.want)
			}
		}
	})
	return d
}

// pairUp calls each with every directory object and the hub's object of
// the same external id, and reports the directory's objects the hub lacks
// and the hub's beyond the directory that are not deprovisioned.
func pairUp[T any](d *diffs, kind string, want map[string]ldapsync.Change, got map[string]T,
	info func(T) (dn, status string), each func(id string, ch ldapsync.Change, o T)) {
	for id, ch := range want {
		o, ok := got[id]
		if !ok {
			d.add("%s %s (%s) is in the directory, not in the hub", kind, ch.DN, id)
			continue
		}
		each(id, ch, o)
	}
	for id, o := range got {
		if _, ok := want[id]; !ok {
			if dn, status := info(o); status != "deprovisioned" {
				d.add("%s %s (%s) is gone from the directory but %s in the hub", kind, dn, id, status)
			}
		}
	}
}

// compareMembers compares every group's member values one by one, and
// what each resolves to, with `idsyncctl group show`.
func (s *stack) compareMembers(directory string, want *dirState, got hubState) *diffs {
	s.t.Helper()
	d := &diffs{}
	extByID := map[string]string{}
	for ext, u := range got.users {
		extByID[u.ID] = ext
	}
	resolve := want.resolver()
	for id, ch := range want.groups {
		g, ok := got.groups[id]
		if !ok {
			continue // compareHub said so
		}
		var show groupJSON
		s.ctlJSON(&show, "group", "show", g.ID, "--directory", directory)
		wantVals := map[string]string{} // lower-case value → external id it names
		for _, v := range want.memberAttrs(ch) {
			wantVals[strings.ToLower(v)] = resolve(v)
		}
		seen := map[string]bool{}
		for _, m := range show.Members {
			key := strings.ToLower(m.Value)
			ext, ok := wantVals[key]
			switch {
			case !ok:
				d.add("group %s: hub member %q is not in the directory", ch.DN, m.Value)
			case extByID[m.ID] != ext:
				d.add("group %s: member %q resolves to %q (%s) in the hub, to %q in the directory", ch.DN, m.Value, m.ID, extByID[m.ID], ext)
			}
			seen[key] = true
		}
		for v := range wantVals {
			if !seen[v] {
				d.add("group %s: directory member %q is not in the hub", ch.DN, v)
			}
		}
	}
	return d
}

// converge waits until the hub equals the directory, deep compare
// included, and returns what it then holds; it fails the test after
// limit, saying how they last differed.
func (s *stack) converge(directory string, want *dirState, limit time.Duration) hubState {
	s.t.Helper()
	var got hubState
	eventually.Within(s.t, limit, "the hub to equal the directory", func() (bool, string) {
		got = s.readHub(directory)
		d := compareHub(want, got)
		if d.n == 0 {
			d = s.compareMembers(directory, want, got)
		}
		return d.n == 0, d.String()
	})
	return got
}

// groupRevisions reads the revisions of a directory's groups from the
// hub's SQLite store (read-only), for an idsyncctl that does not print them.
func (s *stack) groupRevisions(directory string) map[string]uint64 {
	s.t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(s.hub.DataDir, "hub.db")+"?_busy_timeout=10000&_query_only=1")
	if err != nil {
		s.t.Fatalf("opening the hub's store: %v", err)
	}
	defer db.Close()
	rows, err := db.QueryContext(s.t.Context(), `SELECT o.external_id, o.revision FROM objects o
		JOIN directories d ON d.id = o.directory_id WHERE d.name = ? AND o.kind = 'group'`, directory)
	if err != nil {
		s.t.Fatalf("reading group revisions from the hub's store: %v", err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var ext string
		var rev uint64
		if err := rows.Scan(&ext, &rev); err != nil {
			s.t.Fatal(err)
		}
		out[ext] = rev
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// revisions returns every object's revision by external id.
func (s *stack) revisions(directory string, h hubState) map[string]uint64 {
	out := map[string]uint64{}
	for ext, u := range h.users {
		out[ext] = u.Revision
	}
	var fromStore map[string]uint64
	for ext, g := range h.groups {
		if g.Revision != nil {
			out[ext] = *g.Revision
			continue
		}
		if fromStore == nil {
			fromStore = s.groupRevisions(directory)
		}
		out[ext] = fromStore[ext]
	}
	return out
}

// checkExactlyOnce checks that no object's revision exceeds the writes the
// driver counted for it (see churn), and that each driver object is one
// hub object: a rename or a move never made a second one.
func checkExactlyOnce(t *testing.T, h hubState, revs map[string]uint64, counts map[string]int) {
	t.Helper()
	d := &diffs{}
	owner := map[string]string{} // tag → external id
	check := func(kind, ext, tag, dn string) {
		if prev, dup := owner[tag]; dup {
			d.add("%s %s is two hub objects: %s and %s", kind, tag, prev, ext)
		}
		owner[tag] = ext
		n, ok := counts[tag]
		switch {
		case !ok:
			d.add("%s %s (%s, tag %q) was never written by the driver", kind, dn, ext, tag)
		case revs[ext] < 1:
			d.add("%s %s (%s) has revision %d", kind, tag, dn, revs[ext])
		case revs[ext] > uint64(n):
			d.add("%s %s (%s): revision %d > %d writes counted: a change was applied twice", kind, tag, dn, revs[ext], n)
		}
	}
	for ext, u := range h.users {
		check("user", ext, u.EmployeeNumber, u.DN)
	}
	for ext, g := range h.groups {
		check("group", ext, g.Description, g.DN)
	}
	if d.n > 0 {
		t.Errorf("exactly once: %s", d)
	}
	var sumRev uint64
	sumCount := 0
	for ext := range revs {
		sumRev += revs[ext]
	}
	for _, n := range counts {
		sumCount += n
	}
	t.Logf("exactly once: %d hub objects, revisions sum to %d for %d writes counted (syncrepl and DirSync coalesce)", len(revs), sumRev, sumCount)
}
