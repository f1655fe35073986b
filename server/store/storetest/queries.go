package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/store"
)

var queryTests = []test{
	{"ListUsers", testListUsers},
	{"ListUsersPaging", testListUsersPaging},
	{"GetNotFound", testGetNotFound},
	{"Find", testFind},
	{"ObjectByExternalID", testObjectByExternalID},
	{"UserGroups", testUserGroups},
	{"ListGroups", testListGroups},
	{"GroupMembersPage", testGroupMembersPage},
}

// populated is a store with two directories:
//
//	corp: alice, bob (memberUid only), carol (suspended), dave (deprovisioned);
//	      staff {alice, bob by uid, ghost}, admins {alice}, old (deprovisioned) {alice}
//	lab:  alice; staff {alice}
type populated struct {
	corp, lab *fixture
}

// people are the users of corp in populate and nest: alice, bob, carol
// (suspended) and dave.
func people() []*store.Object {
	carol := newUser("u3", "carol")
	carol.Status = store.StatusSuspended
	return []*store.Object{newUser("u1", "alice"), newUser("u2", "bob"), rehash(carol), newUser("u4", "dave")}
}

func populate(t *testing.T, s store.Store) populated {
	corp, lab := newFixture(t, s, "corp"), newFixture(t, s, "lab")
	run := corp.run(store.RunIncremental)
	corp.upsert(run, append(people(),
		newGroup("g1", "staff", dnMember(userDN("alice")), uidMember("BOB"), dnMember(userDN("ghost"))),
		newGroup("g2", "admins", dnMember(userDN("alice"))),
		newGroup("g3", "old", dnMember(userDN("alice"))))...)
	corp.apply(run, store.Batch{Deletes: []string{"u4", "g3"}})
	lab.upsert(lab.run(store.RunIncremental), newUser("l1", "alice"),
		newGroup("lg1", "staff", dnMember(userDN("alice"))))
	return populated{corp, lab}
}

func usernames(us []*store.User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Directory+"/"+u.Username)
	}
	return out
}

func testListUsers(t *testing.T, s store.Store) {
	p := populate(t, s)
	all, err := s.ListUsers(t.Context(), store.UserFilter{})
	must(t, "ListUsers", err)
	if !slices.IsSortedFunc(all, func(a, b *store.User) int { return strings.Compare(a.ID, b.ID) }) {
		t.Errorf("ListUsers not ordered by id: %v", usernames(all))
	}
	tests := []struct {
		name string
		f    store.UserFilter
		want []string // sorted
	}{
		{"all", store.UserFilter{}, []string{"corp/alice", "corp/bob", "corp/carol", "corp/dave", "lab/alice"}},
		{"directory", store.UserFilter{DirectoryID: p.lab.dir.ID}, []string{"lab/alice"}},
		{"status", store.UserFilter{Status: store.StatusSuspended}, []string{"corp/carol"}},
		{"directory and status", store.UserFilter{DirectoryID: p.corp.dir.ID, Status: store.StatusActive},
			[]string{"corp/alice", "corp/bob"}},
		{"deprovisioned", store.UserFilter{Status: store.StatusDeprovisioned}, []string{"corp/dave"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			us, err := s.ListUsers(t.Context(), tc.f)
			must(t, "ListUsers", err)
			got := usernames(us)
			slices.Sort(got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ListUsers(%+v) = %v, want %v", tc.f, got, tc.want)
			}
		})
	}

	t.Run("with groups", func(t *testing.T) {
		us, err := s.ListUsers(t.Context(), store.UserFilter{WithGroups: true})
		must(t, "ListUsers", err)
		got := map[string][]string{}
		for _, u := range us {
			got[u.Directory+"/"+u.Username] = u.Groups
		}
		want := map[string][]string{
			"corp/alice": {"admins", "staff"}, "corp/bob": {"staff"}, "corp/carol": nil, "corp/dave": nil,
			"lab/alice": {"staff"},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("groups = %v, want %v", got, want)
		}
	})

	// What a group-admin's reads name: some users, some groups.
	t.Run("some users, some groups", func(t *testing.T) {
		ctx := t.Context()
		byName := map[string]*store.User{}
		for _, u := range all {
			byName[u.Directory+"/"+u.Username] = u
		}
		staff, err := s.ListGroups(ctx, store.GroupFilter{DirectoryID: p.corp.dir.ID, Prefix: "staff"})
		must(t, "ListGroups", err)
		if len(staff) != 1 {
			t.Fatalf("corp's groups named staff…: %d", len(staff))
		}
		ids := []string{byName["corp/alice"].ID, byName["lab/alice"].ID, "no-such-user"}
		us, err := s.ListUsers(ctx, store.UserFilter{IDs: ids, WithGroups: true, OnlyGroups: []string{staff[0].ID}})
		must(t, "ListUsers", err)
		got := map[string][]string{}
		for _, u := range us {
			got[u.Directory+"/"+u.Username] = u.Groups
		}
		if want := map[string][]string{"corp/alice": {"staff"}, "lab/alice": nil}; !reflect.DeepEqual(got, want) {
			t.Errorf("ListUsers of corp/alice and lab/alice with corp's staff only: %v, want %v", got, want)
		}
		if us, err := s.ListUsers(ctx, store.UserFilter{IDs: []string{}}); err != nil || len(us) != 0 {
			t.Errorf("ListUsers of no ids: %v (%v), want none", usernames(us), err)
		}
		gs, err := s.ListGroups(ctx, store.GroupFilter{IDs: []string{staff[0].ID, "no-such-group"}})
		must(t, "ListGroups", err)
		if len(gs) != 1 || gs[0].ID != staff[0].ID {
			t.Errorf("ListGroups of corp's staff: %v", gs)
		}
		if gs, err := s.ListGroups(ctx, store.GroupFilter{IDs: []string{}}); err != nil || len(gs) != 0 {
			t.Errorf("ListGroups of no ids: %v (%v), want none", gs, err)
		}
	})
}

func testListUsersPaging(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunFull)
	var objs []*store.Object
	for i := range 25 {
		objs = append(objs, newUser(fmt.Sprintf("u%02d", i), fmt.Sprintf("user%02d", i)))
	}
	f.upsert(run, objs...)
	f.upsert(run, newGroup("g1", "evens", dnMember(userDN("user00")), dnMember(userDN("user10")), dnMember(userDN("user20"))))
	all, err := s.ListUsers(t.Context(), store.UserFilter{})
	must(t, "ListUsers", err)

	var paged []*store.User
	groups := map[string][]string{}
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatalf("paging does not end")
		}
		page, err := s.ListUsers(t.Context(), store.UserFilter{AfterID: after, Limit: 10, WithGroups: true})
		must(t, "ListUsers(page)", err)
		if len(page) == 0 {
			break
		}
		if len(page) > 10 {
			t.Fatalf("page of %d users, want at most 10", len(page))
		}
		for _, u := range page {
			groups[u.Username] = u.Groups
		}
		paged = append(paged, page...)
		after = page[len(page)-1].ID
	}
	if got, want := usernames(paged), usernames(all); !reflect.DeepEqual(got, want) {
		t.Errorf("pages = %v, want %v", got, want)
	}
	for _, n := range []string{"user00", "user10", "user20"} {
		if !reflect.DeepEqual(groups[n], []string{"evens"}) {
			t.Errorf("%s groups = %v, want [evens]", n, groups[n])
		}
	}
	if groups["user05"] != nil {
		t.Errorf("user05 groups = %v, want none", groups["user05"])
	}
}

func testGetNotFound(t *testing.T, s store.Store) {
	p := populate(t, s)
	alice, staff := p.corp.user("alice"), p.corp.group("staff")
	got, err := s.GetUser(t.Context(), alice.ID)
	must(t, "GetUser", err)
	if !reflect.DeepEqual(got, alice) {
		t.Errorf("GetUser = %+v, want %+v", got, alice)
	}
	g, err := s.GetGroup(t.Context(), staff.ID)
	must(t, "GetGroup", err)
	if !reflect.DeepEqual(g, staff) {
		t.Errorf("GetGroup = %+v, want %+v", g, staff)
	}
	tests := []struct {
		name string
		fn   func() error
	}{
		{"GetUser(unknown)", func() error { _, err := s.GetUser(t.Context(), "nope"); return err }},
		{"GetUser(a group)", func() error { _, err := s.GetUser(t.Context(), staff.ID); return err }},
		{"GetGroup(unknown)", func() error { _, err := s.GetGroup(t.Context(), "nope"); return err }},
		{"GetGroup(a user)", func() error { _, err := s.GetGroup(t.Context(), alice.ID); return err }},
		{"GroupMembers(unknown)", func() error { _, err := s.GroupMembers(t.Context(), "nope"); return err }},
		{"UserGroups(unknown)", func() error { _, err := s.UserGroups(t.Context(), "nope"); return err }},
		{"UserGroupsTransitive(unknown)", func() error { _, err := s.UserGroupsTransitive(t.Context(), "nope"); return err }},
		{"UserGroupsTransitive(a group)", func() error { _, err := s.UserGroupsTransitive(t.Context(), staff.ID); return err }},
		{"GroupUsersTransitive(unknown)", func() error { _, err := s.GroupUsersTransitive(t.Context(), "nope"); return err }},
		{"GroupUsersTransitive(a user)", func() error { _, err := s.GroupUsersTransitive(t.Context(), alice.ID); return err }},
	}
	for _, tc := range tests {
		wantErr(t, tc.name, tc.fn(), store.ErrNotFound)
	}
}

func groupNames(gs []*store.Group) []string {
	var out []string
	for _, g := range gs {
		out = append(out, g.Directory+"/"+g.Name)
	}
	return out
}

// testFind covers FindUsers and FindGroups: case-insensitive, in one
// directory or all, one kind only.
func testFind(t *testing.T, s store.Store) {
	p := populate(t, s)
	findUsers := func(dir int64, name string) ([]string, error) {
		us, err := s.FindUsers(t.Context(), dir, name)
		return usernames(us), err
	}
	findGroups := func(dir int64, name string) ([]string, error) {
		gs, err := s.FindGroups(t.Context(), dir, name)
		return groupNames(gs), err
	}
	tests := []struct {
		name string
		find func(int64, string) ([]string, error)
		dir  int64
		arg  string
		want []string
	}{
		{"user in one directory", findUsers, p.corp.dir.ID, "alice", []string{"corp/alice"}},
		{"user case-insensitive", findUsers, p.corp.dir.ID, "ALICE", []string{"corp/alice"}},
		{"user in every directory", findUsers, 0, "Alice", []string{"corp/alice", "lab/alice"}},
		{"deprovisioned user", findUsers, p.corp.dir.ID, "dave", []string{"corp/dave"}},
		{"a group name is no user", findUsers, 0, "staff", nil},
		{"unknown user", findUsers, 0, "zed", nil},
		{"group in one directory", findGroups, p.corp.dir.ID, "staff", []string{"corp/staff"}},
		{"group case-insensitive", findGroups, p.lab.dir.ID, "STAFF", []string{"lab/staff"}},
		{"group in every directory", findGroups, 0, "Staff", []string{"corp/staff", "lab/staff"}},
		{"a user name is no group", findGroups, 0, "alice", nil},
	}
	for _, tc := range tests {
		got, err := tc.find(tc.dir, tc.arg)
		must(t, tc.name, err)
		slices.Sort(got)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: find(%d, %q) = %v, want %v", tc.name, tc.dir, tc.arg, got, tc.want)
		}
	}
}

// testObjectByExternalID: the object of one directory that holds an
// external id, of either kind, deprovisioned included.
func testObjectByExternalID(t *testing.T, s store.Store) {
	p := populate(t, s)
	tests := []struct {
		name string
		dir  *fixture
		ext  string
		want string // kind/name/status, "" for ErrNotFound
	}{
		{"user", p.corp, "u1", "user/alice/active"},
		{"suspended user", p.corp, "u3", "user/carol/suspended"},
		{"deprovisioned user", p.corp, "u4", "user/dave/deprovisioned"},
		{"group", p.corp, "g1", "group/staff/active"},
		{"deprovisioned group", p.corp, "g3", "group/old/deprovisioned"},
		{"another directory's", p.lab, "u1", ""},
		{"case-exact", p.corp, "U1", ""},
		{"unknown", p.corp, "zz", ""},
	}
	for _, tc := range tests {
		r, err := s.ObjectByExternalID(t.Context(), tc.dir.dir.ID, tc.ext)
		got := ""
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			t.Fatalf("%s: ObjectByExternalID = %v", tc.name, err)
		case r.Kind == store.ObjectUser:
			u, err := s.GetUser(t.Context(), r.ID)
			must(t, "GetUser", err)
			got = fmt.Sprintf("user/%s/%s", u.Username, r.Status)
		default:
			g, err := s.GetGroup(t.Context(), r.ID)
			must(t, "GetGroup", err)
			got = fmt.Sprintf("%s/%s/%s", r.Kind, g.Name, r.Status)
		}
		if got != tc.want {
			t.Errorf("%s: ObjectByExternalID(%s, %q) = %q, %v; want %q", tc.name, tc.dir.dir.Name, tc.ext, got, err, tc.want)
		}
	}
}

func testUserGroups(t *testing.T, s store.Store) {
	p := populate(t, s)
	tests := []struct {
		name string
		user *store.User
		want []string
	}{
		{"by DN, not the deprovisioned group, not another directory's", p.corp.user("alice"), []string{"corp/admins", "corp/staff"}},
		{"by memberUid", p.corp.user("bob"), []string{"corp/staff"}},
		{"none", p.corp.user("carol"), nil},
		{"other directory", p.lab.user("alice"), []string{"lab/staff"}},
	}
	for _, tc := range tests {
		gs, err := s.UserGroups(t.Context(), tc.user.ID)
		must(t, "UserGroups", err)
		if got := groupNames(gs); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: UserGroups = %v, want %v", tc.name, got, tc.want)
		}
		for _, g := range gs {
			if g.MemberCount == 0 {
				t.Errorf("%s: group %s has no member count", tc.name, g.Name)
			}
		}
	}
}

func testListGroups(t *testing.T, s store.Store) {
	p := populate(t, s)
	type counts struct {
		name                string
		status              store.Status
		members, unresolved int64
	}
	tests := []struct {
		name string
		f    store.GroupFilter
		want []counts
	}{
		{"corp", store.GroupFilter{DirectoryID: p.corp.dir.ID}, []counts{
			{"corp/admins", store.StatusActive, 1, 0},
			{"corp/old", store.StatusDeprovisioned, 1, 0},
			{"corp/staff", store.StatusActive, 3, 1},
		}},
		{"all", store.GroupFilter{}, []counts{
			{"corp/admins", store.StatusActive, 1, 0},
			{"corp/old", store.StatusDeprovisioned, 1, 0},
			{"corp/staff", store.StatusActive, 3, 1},
			{"lab/staff", store.StatusActive, 1, 0},
		}},
		{"a prefix, any case", store.GroupFilter{Prefix: "ST"}, []counts{
			{"corp/staff", store.StatusActive, 3, 1},
			{"lab/staff", store.StatusActive, 1, 0},
		}},
		{"a page", store.GroupFilter{Limit: 2}, []counts{
			{"corp/admins", store.StatusActive, 1, 0},
			{"corp/old", store.StatusDeprovisioned, 1, 0},
		}},
		{"the page after old", store.GroupFilter{AfterName: "old", AfterID: p.corp.group("old").ID, Limit: 2}, []counts{
			{"corp/staff", store.StatusActive, 3, 1},
			{"lab/staff", store.StatusActive, 1, 0},
		}},
	}
	for _, tc := range tests {
		gs, err := s.ListGroups(t.Context(), tc.f)
		must(t, "ListGroups", err)
		var got []counts
		for _, g := range gs {
			got = append(got, counts{g.Directory + "/" + g.Name, g.Status, g.MemberCount, g.UnresolvedMembers})
		}
		// Equal names may come in either directory order.
		slices.SortStableFunc(got, func(a, b counts) int { return strings.Compare(a.name, b.name) })
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: ListGroups = %+v, want %+v", tc.name, got, tc.want)
		}
		if !slices.IsSortedFunc(gs, func(a, b *store.Group) int { return strings.Compare(a.Name, b.Name) }) {
			t.Errorf("%s: ListGroups not ordered by name: %v", tc.name, groupNames(gs))
		}
	}
}

// testGroupMembersPage: the pages of a group's members, by key, hold
// every member once, resolved as GroupMembers resolves them.
func testGroupMembersPage(t *testing.T, s store.Store) {
	p := populate(t, s)
	ctx := t.Context()
	staff := p.corp.group("staff")
	all, err := s.GroupMembers(ctx, staff.ID)
	must(t, "GroupMembers", err)
	var paged []store.Member
	after := ""
	for range 10 {
		page, err := s.GroupMembersPage(ctx, staff.ID, after, 2)
		must(t, "GroupMembersPage", err)
		if len(page) > 2 {
			t.Fatalf("a page of 2 holds %d", len(page))
		}
		paged = append(paged, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].Key
	}
	if !slices.IsSortedFunc(paged, func(a, b store.Member) int { return strings.Compare(a.Key, b.Key) }) {
		t.Errorf("pages not in key order: %+v", paged)
	}
	slices.SortFunc(paged, func(a, b store.Member) int { return strings.Compare(a.Value, b.Value) })
	for i := range paged {
		if paged[i].Key == "" {
			t.Errorf("member %s: no key", paged[i].Value)
		}
		paged[i].Key = ""
	}
	if !reflect.DeepEqual(paged, all) {
		t.Errorf("the pages hold %+v, want GroupMembers' %+v", paged, all)
	}
	if _, err := s.GroupMembersPage(ctx, "no-such-group", "", 2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown group: %v, want ErrNotFound", err)
	}
}
