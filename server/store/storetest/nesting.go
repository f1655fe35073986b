package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/store"
)

var nestingTests = []test{
	{"UserGroups", testNestingUserGroups},
	{"GroupUsers", testNestingGroupUsers},
	{"LargeGroup", testNestingLargeGroup},
}

// nest fills a store whose corp directory has the people and nests groups:
//
//	eng {alice, bob by memberUid}   ops {alice}
//	dev {eng}   tie {eng, ops}   wide {eng, dev}   all {dev, carol}
//	x {y, dave}   y {x}   self {self, dave by memberUid}: cycles
//	mid (deprovisioned) {alice}   top {mid}: a broken chain
//
// and whose lab directory has the same names: alice; eng {alice}; up {eng}.
func nest(t *testing.T, s store.Store) populated {
	corp, lab := newFixture(t, s, "corp"), newFixture(t, s, "lab")
	g := func(name string) store.MemberRef { return dnMember(groupDN(name)) }
	u := func(name string) store.MemberRef { return dnMember(userDN(name)) }
	run := corp.run(store.RunIncremental)
	corp.upsert(run, append(people(),
		newGroup("g1", "eng", u("alice"), uidMember("Bob")),
		newGroup("g2", "ops", u("alice")),
		newGroup("g3", "dev", g("eng")),
		newGroup("g4", "tie", g("eng"), g("ops")),
		newGroup("g5", "wide", g("eng"), g("dev")),
		newGroup("g6", "all", g("dev"), u("carol")),
		newGroup("g7", "x", g("y"), u("dave")),
		newGroup("g8", "y", g("x")),
		newGroup("g9", "self", g("self"), uidMember("dave")),
		newGroup("g10", "mid", u("alice")),
		newGroup("g11", "top", g("mid")))...)
	corp.apply(run, store.Batch{Deletes: []string{"g10"}})
	lab.upsert(lab.run(store.RunIncremental), newUser("l1", "alice"),
		newGroup("lg1", "eng", u("alice")), newGroup("lg2", "up", g("eng")))
	return populated{corp, lab}
}

// membership is a GroupMembership by names.
type membership struct {
	group string
	depth int
	via   string
}

func testNestingUserGroups(t *testing.T, s store.Store) {
	n := nest(t, s)
	tests := []struct {
		name string
		f    *fixture
		user string
		want []membership
	}{
		{"three levels, shortest depth, first via by name, not through a deprovisioned group", n.corp, "alice", []membership{
			{"eng", 1, ""}, {"ops", 1, ""},
			{"dev", 2, "eng"}, {"tie", 2, "eng"}, {"wide", 2, "eng"},
			{"all", 3, "dev"},
		}},
		{"memberUid at depth 1", n.corp, "bob", []membership{
			{"eng", 1, ""}, {"dev", 2, "eng"}, {"tie", 2, "eng"}, {"wide", 2, "eng"}, {"all", 3, "dev"},
		}},
		{"a suspended user", n.corp, "carol", []membership{{"all", 1, ""}}},
		{"cycles end", n.corp, "dave", []membership{{"self", 1, ""}, {"x", 1, ""}, {"y", 2, "x"}}},
		{"other directory", n.lab, "alice", []membership{{"eng", 1, ""}, {"up", 2, "eng"}}},
	}
	for _, tc := range tests {
		ms, err := s.UserGroupsTransitive(t.Context(), tc.f.user(tc.user).ID)
		must(t, "UserGroupsTransitive", err)
		var got []membership
		for _, m := range ms {
			got = append(got, membership{m.Group.Name, m.Depth, m.Via})
			if want := tc.f.group(m.Group.Name); !reflect.DeepEqual(m.Group, want) {
				t.Errorf("%s: group %+v, want %+v", tc.name, m.Group, want)
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: UserGroupsTransitive(%s) =\n%v\nwant\n%v", tc.name, tc.user, got, tc.want)
		}
	}
}

func testNestingGroupUsers(t *testing.T, s store.Store) {
	n := nest(t, s)
	tests := []struct {
		name  string
		f     *fixture
		group string
		want  []string
	}{
		{"three levels, any status, each once", n.corp, "all", []string{"alice", "bob", "carol"}},
		{"direct by DN and memberUid", n.corp, "eng", []string{"alice", "bob"}},
		{"two ways to the same users", n.corp, "tie", []string{"alice", "bob"}},
		{"cycle", n.corp, "y", []string{"dave"}},
		{"self-member", n.corp, "self", []string{"dave"}},
		{"a deprovisioned group in the chain breaks it", n.corp, "top", nil},
		{"a deprovisioned group grants nothing", n.corp, "mid", nil},
		{"other directory", n.lab, "up", []string{"alice"}},
	}
	for _, tc := range tests {
		us, err := s.GroupUsersTransitive(t.Context(), tc.f.group(tc.group).ID)
		must(t, "GroupUsersTransitive", err)
		var want []*store.User
		for _, name := range tc.want {
			want = append(want, tc.f.user(name))
		}
		slices.SortFunc(want, func(a, b *store.User) int { return strings.Compare(a.ID, b.ID) })
		if !reflect.DeepEqual(us, want) {
			t.Errorf("%s: GroupUsersTransitive(%s) = %v, want %v (by id)", tc.name, tc.group, usernames(us), usernames(want))
		}
	}
}

// testNestingLargeGroup: a group of 5,000 users in a ring of 10 nested
// groups of 10 users each (big ∋ n01 ∋ n02 … ∋ n10 ∋ big).
func testNestingLargeGroup(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunFull)
	var objs []*store.Object
	for i := range 5100 {
		objs = append(objs, newUser(fmt.Sprintf("u%05d", i), fmt.Sprintf("user%05d", i)))
	}
	ring := func(i int) string { return fmt.Sprintf("n%02d", i) }
	objs = append(objs, newGroup("big", "big", append(bigMembers(0, 5000), dnMember(groupDN(ring(1))))...))
	for i := 1; i <= 10; i++ {
		next := "big"
		if i < 10 {
			next = ring(i + 1)
		}
		members := append(bigMembers(5000+10*(i-1), 5000+10*i), dnMember(groupDN(next)))
		objs = append(objs, newGroup(fmt.Sprint("ring", i), ring(i), members...))
	}
	f.upsert(run, objs...)

	for _, g := range []string{"big", "n10"} {
		us, err := s.GroupUsersTransitive(t.Context(), f.group(g).ID)
		must(t, "GroupUsersTransitive", err)
		if len(us) != 5100 || !slices.IsSortedFunc(us, func(a, b *store.User) int { return strings.Compare(a.ID, b.ID) }) {
			t.Errorf("GroupUsersTransitive(%s) = %d users, sorted %v; want 5100 by id", g, len(us),
				slices.IsSortedFunc(us, func(a, b *store.User) int { return strings.Compare(a.ID, b.ID) }))
		}
	}
	ms, err := s.UserGroupsTransitive(t.Context(), f.user("user05095").ID) // in n10
	must(t, "UserGroupsTransitive", err)
	// Up the ring: n10 is in n09, … n01 is in big, and big in n10 again.
	want := []membership{{"n10", 1, ""}}
	for i := 9; i >= 1; i-- {
		want = append(want, membership{ring(i), 11 - i, ring(i + 1)})
	}
	want = append(want, membership{"big", 11, "n01"})
	var got []membership
	for _, m := range ms {
		got = append(got, membership{m.Group.Name, m.Depth, m.Via})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UserGroupsTransitive(user05095) =\n%v\nwant\n%v", got, want)
	}
}
