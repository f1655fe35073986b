package storetest

import (
	"fmt"
	"reflect"
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
