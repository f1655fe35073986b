package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/store"
)

var memberTests = []test{
	{"Resolve", testMembersResolve},
	{"ResolveLater", testMembersResolveLater},
	{"ReplaceCompleteSet", testMembersReplaceCompleteSet},
	{"Deltas", testMembersDeltas},
	{"OtherDirectory", testMembersOtherDirectory},
	{"LargeGroup", testMembersLargeGroup},
	{"LargeGroupDeltas", testMembersLargeGroupDeltas},
	{"FollowRenames", testLinkedMembers},
	{"ByExternalID", testMembersByExternalID},
	{"DeltasTwiceInABatch", testMembersDeltasTwiceInABatch},
	{"Departed", testMembersDeparted},
	{"UnlinkMarksTheGroup", testMembersUnlinkMarksTheGroup},
}

// members reads a group's members.
func (f *fixture) members(groupID string) []store.Member {
	f.t.Helper()
	ms, err := f.s.GroupMembers(f.t.Context(), groupID)
	must(f.t, "GroupMembers", err)
	return ms
}

// memberValues returns the values of ms.
func memberValues(ms []store.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Value)
	}
	return out
}

func testMembersResolve(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	upper := "UID=Alice,OU=People,DC=Example,DC=Org" // same DN as alice's, other case
	f.upsert(run, newUser("u1", "alice"), newUser("u2", "bob"), newGroup("g2", "admins"),
		newGroup("g1", "staff", dnMember(upper), uidMember("Bob"), dnMember(groupDN("admins")),
			dnMember(userDN("ghost")), uidMember("nobody")))
	alice, bob, admins, staff := f.user("alice"), f.user("bob"), f.group("admins"), f.group("staff")

	want := []store.Member{
		{Value: "Bob", ID: bob.ID, Kind: store.ObjectUser, Name: "bob"},
		{Value: "UID=Alice,OU=People,DC=Example,DC=Org", ID: alice.ID, Kind: store.ObjectUser, Name: "alice"},
		{Value: groupDN("admins"), ID: admins.ID, Kind: store.ObjectGroup, Name: "admins"},
		{Value: "nobody"},
		{Value: userDN("ghost")},
	}
	if got := f.members(staff.ID); !reflect.DeepEqual(got, want) {
		t.Errorf("GroupMembers =\n%+v\nwant\n%+v", got, want)
	}
	if staff.MemberCount != 5 || staff.UnresolvedMembers != 2 {
		t.Errorf("staff counts %d members, %d unresolved; want 5, 2", staff.MemberCount, staff.UnresolvedMembers)
	}
	if admins.MemberCount != 0 || admins.UnresolvedMembers != 0 {
		t.Errorf("admins counts %d, %d; want 0, 0", admins.MemberCount, admins.UnresolvedMembers)
	}
	_, err := s.GroupMembers(t.Context(), alice.ID)
	wantErr(t, "GroupMembers(a user's id)", err, store.ErrNotFound)
}

// testMembersResolveLater: a member DN not yet known is kept and resolves
// as soon as its object arrives, without the group being written again.
func testMembersResolveLater(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	f.upsert(run, newGroup("g1", "staff", dnMember(userDN("carol"))))
	staff := f.group("staff")
	if staff.UnresolvedMembers != 1 || f.members(staff.ID)[0].ID != "" {
		t.Fatalf("before carol arrives: %d unresolved, members %+v; want 1 unresolved", staff.UnresolvedMembers, f.members(staff.ID))
	}
	f.upsert(run, newUser("u3", "carol"))
	carol := f.user("carol")
	if got := f.group("staff").UnresolvedMembers; got != 0 {
		t.Errorf("after carol arrives: %d unresolved, want 0", got)
	}
	if got := f.members(staff.ID)[0]; got.ID != carol.ID || got.Name != "carol" {
		t.Errorf("member resolves to %+v, want carol %s", got, carol.ID)
	}
	// A deprovisioned object still resolves, but a live one with the same
	// key comes first.
	f.apply(run, store.Batch{Deletes: []string{"u3"}})
	if got := f.members(staff.ID)[0]; got.ID != carol.ID {
		t.Errorf("member resolves to %+v after carol left, want still carol %s", got, carol.ID)
	}
	f.upsert(run, newUser("u4", "carol"))
	us, err := s.FindUsers(t.Context(), f.dir.ID, "carol")
	must(t, "FindUsers", err)
	var live string
	for _, u := range us {
		if u.ExternalID == "u4" {
			live = u.ID
		}
	}
	if got := f.members(staff.ID)[0].ID; got != live || live == "" {
		t.Errorf("member resolves to %s, want the new live carol %q", got, live)
	}
}

func testMembersReplaceCompleteSet(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	f.upsert(run, newUser("u1", "alice"), newUser("u2", "bob"), newUser("u3", "carol"),
		newGroup("g1", "staff", dnMember(userDN("alice")), dnMember(userDN("bob"))))
	bobUpper := "UID=BOB,OU=People,DC=Example,DC=Org"
	next := newGroup("g1", "staff", store.MemberRef{Value: bobUpper, Key: dnMember(userDN("bob")).Key},
		dnMember(userDN("carol")))
	if res := f.upsert(run, next); res.Updated != 1 {
		t.Errorf("member change = %+v, want Updated 1", res)
	}
	staff := f.group("staff")
	want := []string{bobUpper, userDN("carol")}
	if got := memberValues(f.members(staff.ID)); !reflect.DeepEqual(got, want) {
		t.Errorf("members = %q, want %q (the new value of an unchanged key replaces the old)", got, want)
	}
	if staff.MemberCount != 2 {
		t.Errorf("MemberCount = %d, want 2", staff.MemberCount)
	}
	if res := f.upsert(run, newGroup("g1", "staff")); res.Updated != 1 || len(f.members(staff.ID)) != 0 {
		t.Errorf("emptying the group = %+v, %d members left; want Updated 1, none", res, len(f.members(staff.ID)))
	}
}

func testMembersDeltas(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	g := newGroup("g1", "staff", dnMember(userDN("alice")), dnMember(userDN("bob")))
	f.upsert(run, g)
	staff := f.group("staff")

	delta := clone(g)
	delta.Members, delta.MembersComplete = nil, false
	delta.AddMembers = []store.MemberRef{dnMember(userDN("carol")), uidMember("dave")}
	delta.RemoveMembers = []store.MemberRef{dnMember(userDN("alice")), dnMember(userDN("nobody"))}
	// The hash is left as it was: deltas alone are a change.
	if res := f.upsert(run, delta); res.Updated != 1 {
		t.Errorf("delta = %+v, want Updated 1", res)
	}
	want := []string{"dave", userDN("bob"), userDN("carol")}
	if got := memberValues(f.members(staff.ID)); !reflect.DeepEqual(got, want) {
		t.Errorf("members after delta = %q, want %q", got, want)
	}
	// A change without members and without deltas leaves the members.
	plain := clone(g)
	plain.Members, plain.MembersComplete, plain.Description = nil, false, "renamed"
	rehash(plain)
	f.upsert(run, plain)
	if got := memberValues(f.members(staff.ID)); !reflect.DeepEqual(got, want) {
		t.Errorf("members after a change without members = %q, want %q", got, want)
	}
}

// testMembersOtherDirectory: member values resolve only within the group's
// directory.
func testMembersOtherDirectory(t *testing.T, s store.Store) {
	a, b := newFixture(t, s, "a"), newFixture(t, s, "b")
	a.upsert(a.run(store.RunIncremental), newGroup("g1", "staff", dnMember(userDN("alice")), uidMember("alice")))
	b.upsert(b.run(store.RunIncremental), newUser("u1", "alice"))
	staff := a.group("staff")
	if staff.UnresolvedMembers != 2 {
		t.Errorf("unresolved = %d, want 2 (alice lives in another directory)", staff.UnresolvedMembers)
	}
	gs, err := s.UserGroups(t.Context(), b.user("alice").ID)
	must(t, "UserGroups", err)
	if len(gs) != 0 {
		t.Errorf("UserGroups found %d groups of another directory", len(gs))
	}
}

// testMembersLargeGroup: a group of 5,000 members gaining one.
func testMembersLargeGroup(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunFull)
	var refs []store.MemberRef
	for i := range 5000 {
		refs = append(refs, dnMember(userDN(fmt.Sprintf("user%05d", i))))
	}
	f.upsert(run, newGroup("g1", "big", refs...))
	f.upsert(run, newGroup("g1", "big", append(refs, uidMember("newcomer"))...))
	g := f.group("big")
	if g.MemberCount != 5001 || g.UnresolvedMembers != 5001 {
		t.Errorf("counts %d members, %d unresolved; want 5001, 5001", g.MemberCount, g.UnresolvedMembers)
	}
	if ms := f.members(g.ID); len(ms) != 5001 || ms[0].Value != "newcomer" {
		t.Errorf("%d members, first %q; want 5001, newcomer", len(ms), ms[0].Value)
	}
}

// bigMembers returns the member refs of users from to to-1.
func bigMembers(from, to int) []store.MemberRef {
	var out []store.MemberRef
	for i := from; i < to; i++ {
		out = append(out, dnMember(userDN(fmt.Sprintf("user%05d", i))))
	}
	return out
}

// bigDelta is a delta of group g1 "big" that adds and removes members.
func bigDelta(add, remove []store.MemberRef) *store.Object {
	g := newGroup("g1", "big")
	g.MembersComplete, g.AddMembers, g.RemoveMembers = false, add, remove
	return g
}

// testMembersLargeGroupDeltas: a group of 5,000 members gaining and losing
// one member by delta.
func testMembersLargeGroupDeltas(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	f.upsert(run, newGroup("g1", "big", bigMembers(0, 5000)...))
	newcomer := dnMember(userDN("newcomer"))
	steps := []struct {
		name     string
		delta    *store.Object
		members  int64
		revision int64
		has      bool // newcomer is a member
	}{
		{"gains one", bigDelta([]store.MemberRef{newcomer}, nil), 5001, 2, true},
		{"loses it", bigDelta(nil, []store.MemberRef{newcomer}), 5000, 3, false},
		{"loses another", bigDelta(nil, bigMembers(0, 1)), 4999, 4, false},
	}
	for _, st := range steps {
		if res := f.upsert(run, st.delta); res != (store.BatchResult{Updated: 1}) {
			t.Errorf("%s: batch %+v, want Updated 1", st.name, res)
		}
		g := f.group("big")
		if g.MemberCount != st.members || g.Revision != st.revision {
			t.Errorf("%s: %d members, revision %d; want %d, %d", st.name, g.MemberCount, g.Revision, st.members, st.revision)
		}
		has := false
		for _, m := range f.members(g.ID) {
			has = has || m.Value == newcomer.Value
		}
		if has != st.has {
			t.Errorf("%s: newcomer is a member: %v, want %v", st.name, has, st.has)
		}
	}
}

// MemberWrites checks that membership changes write only the rows that
// change: a group of 5,000 members gaining or losing one, by complete set
// or by delta, writes one row. writes returns the membership rows written
// since it was last called, by operation ("insert", "update", "delete"),
// as a backend counts them (a trigger). It is a separate entry point from
// Run because only a backend's own test can count rows.
func MemberWrites(t *testing.T, s store.Store, writes func() map[string]int) {
	t.Helper()
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	renamed := bigMembers(0, 5001)
	renamed[7].Value = strings.ToUpper(renamed[7].Value)
	newcomer := dnMember(userDN("newcomer"))
	complete := func(name string, members []store.MemberRef) *store.Object {
		g := newGroup("g1", "big", members...)
		g.Description = name
		return rehash(g)
	}

	steps := []struct {
		name  string
		group *store.Object
		want  map[string]int
	}{
		{"5,000 members", complete("5,000", bigMembers(0, 5000)), map[string]int{"insert": 5000}},
		{"one more", complete("one more", bigMembers(0, 5001)), map[string]int{"insert": 1}},
		{"one fewer", complete("one fewer", bigMembers(1, 5001)), map[string]int{"delete": 1}},
		{"one value changed", complete("changed", renamed), map[string]int{"insert": 1, "update": 1}},
		{"same set, description changed", complete("described", renamed), map[string]int{}},
		{"delta adds one", bigDelta([]store.MemberRef{newcomer}, nil), map[string]int{"insert": 1}},
		{"delta adds it again", bigDelta([]store.MemberRef{newcomer}, nil), map[string]int{}},
		{"delta removes one", bigDelta(nil, []store.MemberRef{newcomer}), map[string]int{"delete": 1}},
		{"delta removes it again", bigDelta(nil, []store.MemberRef{newcomer}), map[string]int{}},
	}
	writes() // what the fixture wrote
	for _, st := range steps {
		res := f.upsert(run, st.group)
		if res.Created+res.Updated != 1 {
			t.Errorf("%s: batch %+v, want the group written", st.name, res)
		}
		if got := writes(); fmt.Sprint(got) != fmt.Sprint(st.want) {
			t.Errorf("%s: membership writes %v, want %v", st.name, got, st.want)
		}
	}
}

// testLinkedMembers: with LinkedMembers (AD, where member values are
// links) a renamed or moved object is listed by its new DN in the groups of
// its directory, other directories untouched, and a deleted one leaves
// them; without it the group keeps the DN it lists.
func testLinkedMembers(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	other := newFixture(t, s, "other")
	run, otherRun := f.run(store.RunIncremental), other.run(store.RunIncremental)
	alice, bob, carol := newUser("u1", "alice"), newUser("u2", "bob"), newUser("u3", "carol")
	admins := newGroup("g2", "admins")
	f.upsert(run, alice, bob, carol, admins,
		newGroup("g1", "staff", dnMember(alice.DN), dnMember(bob.DN), dnMember(carol.DN), dnMember(admins.DN)),
		// ops lists alice by her old and her new DN (a delta already
		// applied): one row is kept.
		newGroup("g3", "ops", dnMember(alice.DN), dnMember(userDN("alice.smith"))))
	other.upsert(otherRun, newGroup("g1", "elsewhere", dnMember(alice.DN)))

	rename := func(o *store.Object, dn string) *store.Object {
		c := clone(o)
		c.DN, c.DNKey = dn, strings.ToLower(dn)
		return rehash(c)
	}
	f.apply(run, store.Batch{LinkedMembers: true, Upserts: []*store.Object{
		rename(alice, userDN("alice.smith")),
		rename(admins, "cn=admins,ou=Moved,dc=example,dc=org"),
	}})
	// Without the flag a rename leaves the groups as they are.
	f.upsert(run, rename(bob, userDN("bob.jones")))

	staff := f.group("staff")
	want := []string{"cn=admins,ou=Moved,dc=example,dc=org", userDN("alice.smith"), userDN("bob"), userDN("carol")}
	got := memberValues(f.members(staff.ID))
	if !reflect.DeepEqual(sortedLower(got), sortedLower(want)) {
		t.Errorf("staff members %q, want %q", got, want)
	}
	for _, m := range f.members(staff.ID) {
		if m.Value == userDN("bob") && m.ID != "" {
			t.Errorf("bob's old DN still resolves to %s after his rename without the flag", m.ID)
		}
		if m.Value != userDN("bob") && m.ID == "" {
			t.Errorf("member %q does not resolve after the rename", m.Value)
		}
	}
	if staff.MemberCount != 4 || staff.UnresolvedMembers != 1 {
		t.Errorf("staff counts %d members, %d unresolved; want 4, 1 (bob by his old DN)", staff.MemberCount, staff.UnresolvedMembers)
	}
	ops := f.group("ops")
	if got := memberValues(f.members(ops.ID)); len(got) != 1 || !strings.EqualFold(got[0], userDN("alice.smith")) {
		t.Errorf("ops members %q, want alice once by her new DN", got)
	}
	if got := memberValues(other.members(other.group("elsewhere").ID)); len(got) != 1 || got[0] != alice.DN {
		t.Errorf("a group of another directory lists %q, want the old DN %q untouched", got, alice.DN)
	}

	// carol deleted: she leaves staff. A user created since at the DN of a
	// deleted one keeps the membership under that DN.
	f.apply(run, store.Batch{LinkedMembers: true, Deletes: []string{"u3"}})
	dave := rename(newUser("u4", "dave"), userDN("dave"))
	f.upsert(run, dave, newGroup("g4", "new", dnMember(dave.DN)))
	// eve holds dave's DN too (the hub has not heard of his rename yet),
	// then dave is deleted.
	f.upsert(run, rename(newUser("u5", "eve"), dave.DN))
	f.apply(run, store.Batch{LinkedMembers: true, Deletes: []string{"u4"}})
	want = []string{"cn=admins,ou=Moved,dc=example,dc=org", userDN("alice.smith"), userDN("bob")}
	if got := memberValues(f.members(staff.ID)); !reflect.DeepEqual(sortedLower(got), sortedLower(want)) {
		t.Errorf("staff members after carol's deletion %q, want %q", got, want)
	}
	if got := memberValues(f.members(f.group("new").ID)); len(got) != 1 || got[0] != dave.DN {
		t.Errorf("new lists %q, want the DN %q that eve holds now", got, dave.DN)
	}
}

// sortedLower returns xs lower-cased and sorted.
func sortedLower(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = strings.ToLower(x)
	}
	slices.Sort(out)
	return out
}

// testMembersByExternalID: a delta that names the member's external id
// adds or removes the row of the DN the hub knows it by, whatever DN it
// names (Samba's DirSync names a member renamed around the change by its
// old DN, Windows by its new one).
func testMembersByExternalID(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	alice, bob := newUser("u1", "alice"), newUser("u2", "bob")
	g := newGroup("g1", "staff", dnMember(alice.DN), dnMember(bob.DN))
	f.upsert(run, alice, bob, g)
	delta := clone(g)
	delta.Members, delta.MembersComplete = nil, false
	gone := dnMember(userDN("alice.renamed"))
	gone.ExternalID = "u1"
	// An external id the directory does not hold removes nothing more.
	stranger := dnMember(userDN("nobody"))
	stranger.ExternalID = "u9"
	delta.RemoveMembers = []store.MemberRef{gone, stranger}
	f.upsert(run, delta)
	if got := memberValues(f.members(f.group("staff").ID)); !reflect.DeepEqual(got, []string{bob.DN}) {
		t.Errorf("members = %q, want bob's alone", got)
	}
	// An addition naming alice by a stale DN adds her by the hub's; one
	// naming an object the hub does not know keeps the DN it names.
	back := dnMember(userDN("alice.stale"))
	back.ExternalID = "u1"
	unknown := dnMember(userDN("carol"))
	unknown.ExternalID = "u3"
	delta.RemoveMembers, delta.AddMembers = nil, []store.MemberRef{back, unknown}
	f.upsert(run, delta)
	want := []string{alice.DN, bob.DN, userDN("carol")}
	staff := f.group("staff")
	if got := memberValues(f.members(staff.ID)); !reflect.DeepEqual(sortedLower(got), sortedLower(want)) {
		t.Errorf("members = %q, want %q", got, want)
	}
	if staff.UnresolvedMembers != 1 {
		t.Errorf("%d unresolved members, want 1 (carol, not yet known)", staff.UnresolvedMembers)
	}
	// So does a whole membership: bob named by a DN he had between two
	// renames the hub did not all see.
	between := dnMember(userDN("bob.between"))
	between.ExternalID = "u2"
	whole := clone(g)
	whole.Members = []store.MemberRef{between}
	rehash(whole)
	f.upsert(run, whole)
	if got := memberValues(f.members(staff.ID)); !reflect.DeepEqual(got, []string{bob.DN}) {
		t.Errorf("members after a whole membership = %q, want bob by the DN the hub knows", got)
	}

	// dave, not known yet, is listed by a DN he has left by the time he
	// arrives (with LinkedMembers): his row follows him, and a group that
	// already lists him by his DN keeps one row.
	early := dnMember(userDN("dave.between"))
	early.ExternalID = "u4"
	whole.Members = []store.MemberRef{between, early}
	rehash(whole)
	f.upsert(run, whole, newGroup("g9", "both", early, dnMember(userDN("dave"))))
	f.apply(run, store.Batch{LinkedMembers: true, Upserts: []*store.Object{newUser("u4", "dave")}})
	want = []string{bob.DN, userDN("dave")}
	if got := memberValues(f.members(staff.ID)); !reflect.DeepEqual(sortedLower(got), sortedLower(want)) {
		t.Errorf("members after dave arrived = %q, want %q", got, want)
	}
	if got := memberValues(f.members(f.group("both").ID)); !reflect.DeepEqual(got, []string{userDN("dave")}) {
		t.Errorf("both lists %q, want dave once", got)
	}
	if g := f.group("staff"); g.UnresolvedMembers != 0 {
		t.Errorf("staff has %d unresolved members, want 0", g.UnresolvedMembers)
	}

	// An object the hub never knew is added to a group, then deleted: it
	// leaves the group by its identity.
	ghost := dnMember(userDN("ghost"))
	ghost.ExternalID = "u8"
	delta.AddMembers, delta.RemoveMembers = []store.MemberRef{ghost}, nil
	f.upsert(run, delta)
	f.apply(run, store.Batch{LinkedMembers: true, Deletes: []string{"u8"}})
	want = []string{bob.DN, userDN("dave")}
	if got := memberValues(f.members(staff.ID)); !reflect.DeepEqual(sortedLower(got), sortedLower(want)) {
		t.Errorf("members after the ghost's deletion = %q, want %q", got, want)
	}
}

// testMembersDeltasTwiceInABatch: two DirSync rounds that change one group
// can share a batch; the first round's deltas are not lost to the second's.
func testMembersDeltasTwiceInABatch(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	m := func(name string) store.MemberRef { return dnMember(userDN(name)) }
	refs := func(names ...string) []store.MemberRef {
		var out []store.MemberRef
		for _, n := range names {
			out = append(out, m(n))
		}
		return out
	}
	f.upsert(run, newGroup("g1", "big", refs("ann", "bob", "cid")...))
	steps := []struct {
		name  string
		batch []*store.Object
		want  []string
	}{
		{"two removals", []*store.Object{bigDelta(nil, refs("ann")), bigDelta(nil, refs("bob"))}, []string{"cid"}},
		{"added then removed", []*store.Object{bigDelta(refs("dan"), nil), bigDelta(nil, refs("dan"))}, []string{"cid"}},
		{"removed then added", []*store.Object{bigDelta(nil, refs("cid")), bigDelta(refs("cid"), nil)}, []string{"cid"}},
		{"two additions", []*store.Object{bigDelta(refs("eve"), nil), bigDelta(refs("fay"), nil)}, []string{"cid", "eve", "fay"}},
		{"complete then delta", []*store.Object{newGroup("g1", "big", refs("gus", "hal")...), bigDelta(refs("ivy"), refs("gus"))}, []string{"hal", "ivy"}},
	}
	for _, st := range steps {
		f.upsert(run, st.batch...)
		var want []string
		for _, n := range st.want {
			want = append(want, userDN(n))
		}
		if got := memberValues(f.members(f.group("big").ID)); !reflect.DeepEqual(sortedLower(got), sortedLower(want)) {
			t.Errorf("%s: members %q, want %q", st.name, got, want)
		}
	}
}

// testMembersDeparted: with LinkedMembers, an object that left the scope
// (moved outside the base, still in the directory, which keeps its links)
// is deprovisioned but keeps its member rows; when it comes back, under
// another DN too, it is in its groups again at once. A group that departs
// stops contributing its nested members, and contributes them again when
// it returns. A deleted object, by contrast, leaves its groups.
func testMembersDeparted(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	alice, bob, carol := newUser("u1", "alice"), newUser("u2", "bob"), newUser("u3", "carol")
	// AD names members with their GUIDs (extended DNs).
	linked := func(o *store.Object) store.MemberRef {
		m := dnMember(o.DN)
		m.ExternalID = o.ExternalID
		return m
	}
	sales := newGroup("g1", "sales", linked(alice), linked(bob), linked(carol))
	all := newGroup("g2", "all-hands", dnMember(sales.DN))
	f.apply(run, store.Batch{LinkedMembers: true, Upserts: []*store.Object{alice, bob, carol, sales, all}})
	groupsOf := func(name string) []string {
		t.Helper()
		ms, err := s.UserGroupsTransitive(ctx, f.user(name).ID)
		must(t, "UserGroupsTransitive", err)
		var out []string
		for _, m := range ms {
			out = append(out, m.Group.Name)
		}
		slices.Sort(out)
		return out
	}
	usersOf := func(group string) []string {
		t.Helper()
		us, err := s.GroupUsersTransitive(ctx, f.group(group).ID)
		must(t, "GroupUsersTransitive", err)
		var out []string
		for _, u := range us {
			if u.Status != store.StatusDeprovisioned {
				out = append(out, u.Username)
			}
		}
		slices.Sort(out)
		return out
	}

	f.apply(run, store.Batch{LinkedMembers: true, Departed: []string{"u1"}, Deletes: []string{"u3"}})
	if u := f.user("alice"); u.Status != store.StatusDeprovisioned {
		t.Errorf("alice departed: status %s, want deprovisioned", u.Status)
	}
	if got, want := sortedLower(memberValues(f.members(f.group("sales").ID))), sortedLower([]string{alice.DN, bob.DN}); !slices.Equal(got, want) {
		t.Errorf("sales lists %q after alice departed and carol was deleted, want %q (alice kept, carol gone)", got, want)
	}
	if got := usersOf("all-hands"); !slices.Equal(got, []string{"bob"}) {
		t.Errorf("all-hands holds active %q, want bob alone", got)
	}

	back := clone(alice)
	back.DN, back.DNKey = userDN("alice.back"), strings.ToLower(userDN("alice.back"))
	f.apply(run, store.Batch{LinkedMembers: true, Upserts: []*store.Object{rehash(back)}})
	if u := f.user("alice"); u.Status != store.StatusActive || u.DN != back.DN {
		t.Errorf("alice back: %s at %s, want active at %s", u.Status, u.DN, back.DN)
	}
	if got := groupsOf("alice"); !slices.Equal(got, []string{"all-hands", "sales"}) {
		t.Errorf("alice back is in %q, want all-hands and sales", got)
	}

	// The group departs: its members are nobody's through it.
	f.apply(run, store.Batch{LinkedMembers: true, Departed: []string{"g1"}})
	if got := usersOf("all-hands"); len(got) != 0 {
		t.Errorf("all-hands holds %q while sales is out of scope, want nobody", got)
	}
	if got := groupsOf("bob"); len(got) != 0 {
		t.Errorf("bob is in %q while sales is out of scope, want none", got)
	}
	// Back, read whole: it lists alice by the DN she had, with her GUID.
	f.apply(run, store.Batch{LinkedMembers: true, Upserts: []*store.Object{sales}})
	if got := usersOf("all-hands"); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Errorf("all-hands holds %q once sales is back, want alice and bob", got)
	}
}

// testMembersUnlinkMarksTheGroup: a delete that unlinks a member from its
// groups (with LinkedMembers) marks them, so that a later read of such a
// group that lists the same members as before — the member was reported
// deleted but the directory still links it — rewrites it instead of
// counting it unchanged; a read after that is unchanged again.
func testMembersUnlinkMarksTheGroup(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	capture := f.run(store.RunIncremental)
	alice, bob := newUser("u1", "alice"), newUser("u2", "bob")
	staff := newGroup("g1", "staff", dnMember(alice.DN), dnMember(bob.DN))
	untouched := newGroup("g2", "untouched", dnMember(bob.DN))
	f.apply(capture, store.Batch{LinkedMembers: true, Upserts: []*store.Object{alice, bob, staff, untouched}})
	f.apply(capture, store.Batch{LinkedMembers: true, Deletes: []string{"u1"}})
	if got := memberValues(f.members(f.group("staff").ID)); !slices.Equal(got, []string{bob.DN}) {
		t.Fatalf("staff lists %q after alice's delete, want bob alone", got)
	}

	full := f.run(store.RunFull)
	res := f.apply(full, store.Batch{LinkedMembers: true, Upserts: []*store.Object{staff, untouched}})
	if res.Updated != 1 || res.Unchanged != 1 {
		t.Errorf("a full read of both groups: %+v, want staff rewritten and untouched unchanged", res)
	}
	if got, want := sortedLower(memberValues(f.members(f.group("staff").ID))), sortedLower([]string{alice.DN, bob.DN}); !slices.Equal(got, want) {
		t.Errorf("staff lists %q after the read, want %q", got, want)
	}
	f.end(full)
	again := f.run(store.RunFull)
	if res := f.apply(again, store.Batch{LinkedMembers: true, Upserts: []*store.Object{staff}}); res.Unchanged != 1 {
		t.Errorf("the next read of staff: %+v, want it unchanged", res)
	}
}
