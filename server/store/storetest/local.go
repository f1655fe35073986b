package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/store"
)

var localTests = []test{
	{"MembersOfTwoDirectories", testLocalMembers},
	{"NestingByID", testLocalNesting},
	{"DeprovisionedByID", testLocalDeprovisioned},
	{"PurgeByID", testLocalPurge},
	{"IDKeysOnlyInLocalGroups", testLocalIDKeys},
	{"Actor", testLocalActor},
	{"IfRevision", testIfRevision},
}

// newLocalFixture creates a local directory name in s: the hub masters
// its objects, which have no DN.
func newLocalFixture(t testing.TB, s store.Store, name string) *fixture {
	t.Helper()
	d := &store.Directory{Name: name, Kind: store.KindLocal}
	must(t, "CreateDirectory", s.CreateDirectory(t.Context(), d))
	return &fixture{t: t, s: s, dir: d, seq: map[int64]uint64{}}
}

// localUser is a user of a local directory.
func localUser(ext, name string) *store.Object {
	return rehash(&store.Object{Kind: store.ObjectUser, ExternalID: ext, Status: store.StatusActive,
		Profile: store.Profile{Username: name, Email: name + "@example.org"}})
}

// localGroup is a group of a local directory, holding members by id.
func localGroup(ext, name string, ids ...string) *store.Object {
	o := &store.Object{Kind: store.ObjectGroup, ExternalID: ext, Status: store.StatusActive, Name: name, MembersComplete: true}
	for _, id := range ids {
		o.Members = append(o.Members, store.IDMember(id))
	}
	return rehash(o)
}

// localWorld is nest's corp and lab, and a local directory staff with a
// user of its own, contractor, and groups that hold members by id:
//
//	mixed {corp alice, lab alice, contractor, an id of nothing}
//	inner {corp bob}   outer {inner, corp eng, outer}: nesting, a cycle
//	gone (deprovisioned) {corp carol}   viagone {gone}: a broken chain
type localWorld struct {
	populated
	staff *fixture
}

func newLocalWorld(t *testing.T, s store.Store) localWorld {
	n := nest(t, s)
	staff := newLocalFixture(t, s, "staff")
	run := staff.run(store.RunWrite)
	staff.upsert(run, localUser("s1", "contractor"))
	alice, bob, carol := n.corp.user("alice").ID, n.corp.user("bob").ID, n.corp.user("carol").ID
	staff.upsert(run, localGroup("sg1", "mixed", alice, n.lab.user("alice").ID, staff.user("contractor").ID, "no-such-id"),
		localGroup("sg2", "inner", bob), localGroup("sg4", "gone", carol))
	staff.apply(run, store.Batch{Deletes: []string{"sg4"}})
	staff.upsert(run, localGroup("sg3", "outer", staff.group("inner").ID, n.corp.group("eng").ID, "outer-id-below"),
		localGroup("sg5", "viagone", staff.group("gone").ID))
	// outer holds itself: a cycle the walks must end.
	outer := localGroup("sg3", "outer", staff.group("inner").ID, n.corp.group("eng").ID, staff.group("outer").ID)
	staff.upsert(run, outer)
	staff.end(run)
	return localWorld{n, staff}
}

// testLocalMembers: a local group holds users of several directories by
// id; every read that resolves members finds them, in their directories.
func testLocalMembers(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newLocalWorld(t, s)
	corpAlice, labAlice, contractor := w.corp.user("alice"), w.lab.user("alice"), w.staff.user("contractor")
	mixed := w.staff.group("mixed")

	if mixed.MemberCount != 4 || mixed.UnresolvedMembers != 1 {
		t.Errorf("mixed: %d members, %d unresolved; want 4, 1 (an id of nothing)", mixed.MemberCount, mixed.UnresolvedMembers)
	}
	ms, err := s.GroupMembers(ctx, mixed.ID)
	must(t, "GroupMembers", err)
	got := map[string]store.Member{}
	for _, m := range ms {
		got[m.Value] = m
	}
	want := map[string]store.Member{
		corpAlice.ID:  {Value: corpAlice.ID, ID: corpAlice.ID, Kind: store.ObjectUser, Name: "alice"},
		labAlice.ID:   {Value: labAlice.ID, ID: labAlice.ID, Kind: store.ObjectUser, Name: "alice"},
		contractor.ID: {Value: contractor.ID, ID: contractor.ID, Kind: store.ObjectUser, Name: "contractor"},
		"no-such-id":  {Value: "no-such-id"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GroupMembers(mixed) = %+v, want %+v", ms, want)
	}

	us, err := s.GroupUsersTransitive(ctx, mixed.ID)
	must(t, "GroupUsersTransitive", err)
	if got, want := ids(us), sortedIDs(corpAlice, labAlice, contractor); !slices.Equal(got, want) {
		t.Errorf("GroupUsersTransitive(mixed) = %v, want corp's alice, lab's alice and contractor %v", usernames(us), want)
	}

	all, err := s.ListUsers(ctx, store.UserFilter{WithGroups: true})
	must(t, "ListUsers", err)
	for _, tc := range []struct {
		user *store.User
		want []string // directory/name
	}{
		{corpAlice, []string{"corp/eng", "staff/mixed", "corp/ops"}},
		{labAlice, []string{"lab/eng", "staff/mixed"}},
		{contractor, []string{"staff/mixed"}},
		{w.corp.user("bob"), []string{"corp/eng", "staff/inner"}},
	} {
		gs, err := s.UserGroups(ctx, tc.user.ID)
		must(t, "UserGroups", err)
		if got := pluck(gs, func(g *store.Group) string { return g.Directory + "/" + g.Name }); !slices.Equal(got, tc.want) {
			t.Errorf("UserGroups(%s/%s) = %v, want %v (by name)", tc.user.Directory, tc.user.Username, got, tc.want)
		}
		wantNames := pluck(tc.want, func(g string) string { _, name, _ := strings.Cut(g, "/"); return name })
		slices.Sort(wantNames)
		i := slices.IndexFunc(all, func(u *store.User) bool { return u.ID == tc.user.ID })
		if i < 0 || !slices.Equal(all[i].Groups, wantNames) {
			t.Errorf("ListUsers WithGroups: %s/%s has groups %v, want %v", tc.user.Directory, tc.user.Username, all[max(i, 0)].Groups, wantNames)
		}
	}
	wantAgreement(t, s, "mixed", mixed.ID, []string{"corp/alice", "lab/alice", "staff/contractor"})
}

// testLocalNesting: a local group nests a local group and a directory's
// group by id; the directory group's own members (a DN, a memberUid)
// resolve in its directory; a group holding itself ends the walk.
func testLocalNesting(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newLocalWorld(t, s)
	ms, err := s.UserGroupsTransitive(ctx, w.corp.user("bob").ID)
	must(t, "UserGroupsTransitive", err)
	got := pluck(ms, func(m store.GroupMembership) membership { return membership{m.Group.Name, m.Depth, m.Via} })
	want := []membership{{"eng", 1, ""}, {"inner", 1, ""}, {"dev", 2, "eng"}, {"outer", 2, "eng"}, {"tie", 2, "eng"},
		{"wide", 2, "eng"}, {"all", 3, "dev"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UserGroupsTransitive(bob) =\n%v\nwant\n%v", got, want)
	}
	ms, err = s.UserGroupsTransitive(ctx, w.corp.user("alice").ID)
	must(t, "UserGroupsTransitive", err)
	if !slices.ContainsFunc(ms, func(m store.GroupMembership) bool { return m.Group.Name == "outer" && m.Depth == 2 && m.Via == "eng" }) {
		t.Errorf("UserGroupsTransitive(alice) = %v, want outer at depth 2 via corp's eng", ms)
	}
	outer := w.staff.group("outer")
	us, err := s.GroupUsersTransitive(ctx, outer.ID)
	must(t, "GroupUsersTransitive", err)
	if got, want := ids(us), sortedIDs(w.corp.user("alice"), w.corp.user("bob")); !slices.Equal(got, want) {
		t.Errorf("GroupUsersTransitive(outer) = %v, want corp's alice (eng's DN) and bob (inner's id, eng's memberUid)", usernames(us))
	}
	if outer.MemberCount != 3 || outer.UnresolvedMembers != 0 {
		t.Errorf("outer: %d members, %d unresolved; want 3, 0", outer.MemberCount, outer.UnresolvedMembers)
	}
	members, err := s.GroupMembers(ctx, outer.ID)
	must(t, "GroupMembers", err)
	kinds := pluck(members, func(m store.Member) string { return string(m.Kind) + ":" + m.Name })
	slices.Sort(kinds)
	if want := []string{"group:eng", "group:inner", "group:outer"}; !slices.Equal(kinds, want) {
		t.Errorf("GroupMembers(outer) resolve to %v, want %v", kinds, want)
	}
	wantAgreement(t, s, "outer", outer.ID, []string{"corp/alice", "corp/bob"})
}

// testLocalDeprovisioned: a deprovisioned group named by id grants
// nothing, asked for or in a chain; a deprovisioned user named by id
// resolves as one named by DN does (listed, deprovisioned: its accounts
// are deactivated, not granted).
func testLocalDeprovisioned(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newLocalWorld(t, s)
	for _, g := range []string{"gone", "viagone"} {
		us, err := s.GroupUsersTransitive(ctx, w.staff.group(g).ID)
		must(t, "GroupUsersTransitive", err)
		if len(us) != 0 {
			t.Errorf("GroupUsersTransitive(%s) = %v, want none (a deprovisioned group grants nothing)", g, usernames(us))
		}
	}
	ms, err := s.UserGroupsTransitive(ctx, w.corp.user("carol").ID)
	must(t, "UserGroupsTransitive", err)
	if got := pluck(ms, func(m store.GroupMembership) string { return m.Group.Name }); !slices.Equal(got, []string{"all"}) {
		t.Errorf("UserGroupsTransitive(carol) = %v, want all alone: gone is deprovisioned, viagone reached through it", got)
	}

	// dave: listed by DN in corp's x, and by id in staff's leavers.
	run := w.staff.run(store.RunWrite)
	w.staff.upsert(run, localGroup("sg6", "leavers", w.corp.user("dave").ID))
	w.corp.apply(w.corp.run(store.RunWrite), store.Batch{Deletes: []string{"u4"}})
	dave := w.corp.user("dave")
	for _, g := range []struct {
		f    *fixture
		name string
	}{{w.corp, "x"}, {w.staff, "leavers"}} {
		us, err := s.GroupUsersTransitive(ctx, g.f.group(g.name).ID)
		must(t, "GroupUsersTransitive", err)
		if len(us) != 1 || us[0].ID != dave.ID || us[0].Status != store.StatusDeprovisioned {
			t.Errorf("GroupUsersTransitive(%s) = %v, want dave, deprovisioned", g.name, us)
		}
	}
	gs, err := s.UserGroups(ctx, dave.ID)
	must(t, "UserGroups", err)
	if got := pluck(gs, func(g *store.Group) string { return g.Name }); !slices.Equal(got, []string{"leavers", "self", "x"}) {
		t.Errorf("UserGroups(dave) = %v, want leavers, self, x", got)
	}
}

// testLocalPurge: a purged user's rows naming it by id go with it, in any
// directory's local groups, and those groups are written again at their
// next write; the other members stay.
func testLocalPurge(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newLocalWorld(t, s)
	dave, alice := w.corp.user("dave"), w.corp.user("alice")
	run := w.staff.run(store.RunWrite)
	leavers := localGroup("sg6", "leavers", dave.ID, alice.ID)
	w.staff.upsert(run, leavers)
	w.corp.apply(w.corp.run(store.RunWrite), store.Batch{Deletes: []string{"u4"}})
	_, err := s.PurgeUser(ctx, dave.ID, "hub")
	must(t, "PurgeUser", err)

	g := w.staff.group("leavers")
	ms, err := s.GroupMembers(ctx, g.ID)
	must(t, "GroupMembers", err)
	if len(ms) != 1 || ms[0].ID != alice.ID || g.MemberCount != 1 {
		t.Errorf("leavers after dave's purge: %+v (%d members), want alice alone", ms, g.MemberCount)
	}
	x, err := s.GroupMembers(ctx, w.corp.group("x").ID)
	must(t, "GroupMembers", err)
	if len(x) != 1 || x[0].Name != "y" {
		t.Errorf("corp's x after dave's purge: %+v, want y alone", x)
	}
	// Its stored hash no longer covers its rows: the same object again
	// is a write, not unchanged.
	if res := w.staff.upsert(run, leavers); res.Updated != 1 {
		t.Errorf("leavers sent again after the purge: %+v, want updated", res)
	}
}

// testLocalIDKeys: a directory's group cannot name a member by id, nor a
// local group otherwise; the batch fails and writes nothing.
func testLocalIDKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	f, staff := newFixture(t, s, "corp"), newLocalFixture(t, s, "staff")
	run, local := f.run(store.RunIncremental), staff.run(store.RunWrite)
	f.upsert(run, newUser("u1", "alice"))
	alice := f.user("alice")
	for _, tc := range []struct {
		name string
		f    *fixture
		run  *store.Run
		g    *store.Object
		want string
	}{
		{"a directory's group by id", f, run, newGroup("g1", "eng", store.IDMember(alice.ID)), "only a local directory's groups do"},
		{"a local group by DN", staff, local, localGroup("s1", "eng"), "a local group names its members by id"},
		{"a local group by delta", staff, local, localGroup("s2", "eng"), "a local group names its members by id"},
	} {
		if tc.g.ExternalID == "s1" {
			tc.g.Members = []store.MemberRef{dnMember(alice.DN)}
		}
		if tc.g.ExternalID == "s2" {
			tc.g.MembersComplete, tc.g.AddMembers = false, []store.MemberRef{uidMember("alice")}
		}
		_, err := s.ApplyBatch(ctx, &store.Batch{RunID: tc.run.ID, DirectoryID: tc.f.dir.ID, Sequence: 9, Upserts: []*store.Object{rehash(tc.g)}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ApplyBatch: %v, want refused saying %q", tc.name, err, tc.want)
		}
		if gs, err := s.FindGroups(ctx, tc.f.dir.ID, "eng"); err != nil || len(gs) != 0 {
			t.Errorf("%s: FindGroups(eng) = %v, %v; want none written", tc.name, gs, err)
		}
	}
}

// testIfRevision: an object written with IfRevision is written only at
// that revision; at another (written since), or unknown, the batch fails
// with ErrConflict and writes nothing.
func testIfRevision(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newLocalFixture(t, s, "staff")
	run := f.run(store.RunWrite)
	f.upsert(run, localUser("s1", "carol"))
	carol := f.user("carol")
	stale := localUser("s1", "carol")
	stale.Profile.Title, stale.IfRevision = "Lead", carol.Revision
	f.upsert(run, rehash(stale)) // at revision 1: written, now 2
	if got := f.user("carol"); got.Title != "Lead" || got.Revision != carol.Revision+1 {
		t.Fatalf("written at its revision: title %q, revision %d; want Lead, %d", got.Title, got.Revision, carol.Revision+1)
	}
	for _, tc := range []struct {
		name string
		o    *store.Object
	}{
		{"written since", func() *store.Object {
			o := localUser("s1", "carol")
			o.Profile.Title, o.IfRevision = "Boss", carol.Revision
			return rehash(o)
		}()},
		{"unknown", func() *store.Object { o := localUser("s2", "dave"); o.IfRevision = 1; return rehash(o) }()},
	} {
		_, err := s.ApplyBatch(ctx, &store.Batch{RunID: run.ID, DirectoryID: f.dir.ID, Sequence: 99, Upserts: []*store.Object{tc.o}})
		wantErr(t, tc.name, err, store.ErrConflict)
	}
	if got := f.user("carol"); got.Title != "Lead" {
		t.Errorf("after the refused write: title %q, want Lead", got.Title)
	}
	if us, err := s.FindUsers(ctx, f.dir.ID, "dave"); err != nil || len(us) != 0 {
		t.Errorf("FindUsers(dave) = %v, %v; want none", us, err)
	}
}

// testLocalActor: a batch's actor is who its lifecycle events are by, and
// its audit events commit with it (not again for a duplicate).
func testLocalActor(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newLocalFixture(t, s, "staff")
	run := f.run(store.RunWrite)
	b := store.Batch{Upserts: []*store.Object{localUser("s1", "contractor"), localGroup("sg1", "crew")}, Actor: "admin:ann",
		Audit: []*store.AuditEvent{{Action: "group.created", Target: "group:crew", Detail: "in staff"}}}
	f.apply(run, b)
	b.RunID, b.DirectoryID, b.Sequence = run.ID, f.dir.ID, 1
	res, err := s.ApplyBatch(ctx, &b)
	if err != nil || !res.Duplicate {
		t.Fatalf("the batch again: %+v, %v; want a duplicate", res, err)
	}
	events, err := s.ListAudit(ctx, store.AuditFilter{Actor: "admin:ann"})
	must(t, "ListAudit", err)
	got := pluck(events, func(e *store.AuditEvent) string { return e.Action + " " + e.Target + ": " + e.Detail })
	want := []string{fmt.Sprintf("user.created user:contractor: run %d", run.ID), "group.created group:crew: in staff"}
	if !slices.Equal(got, want) {
		t.Errorf("events by admin:ann = %q, want %q", got, want)
	}
}

// wantAgreement checks that the users in scope of an app assigned group
// are want (directory/username), and that AppsOfUser agrees for each.
func wantAgreement(t *testing.T, s store.Store, app, group string, want []string) {
	t.Helper()
	ctx := t.Context()
	a := newApp(t, s, app)
	must(t, "Assign", s.Assign(ctx, store.Assignment{AppID: a.ID, Kind: store.AssignGroup, TargetID: group}))
	inScope, err := s.AppUsers(ctx, a.ID)
	must(t, "AppUsers", err)
	var got []string
	for _, id := range inScope {
		u, err := s.GetUser(ctx, id)
		must(t, "GetUser", err)
		got = append(got, u.Directory+"/"+u.Username)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("AppUsers(%s) = %v, want %v", app, got, want)
	}
	all, err := s.ListUsers(ctx, store.UserFilter{})
	must(t, "ListUsers", err)
	for _, u := range all {
		apps, err := s.AppsOfUser(ctx, u.ID)
		must(t, "AppsOfUser", err)
		if in := slices.Contains(inScope, u.ID); slices.Contains(apps, a.ID) != in {
			t.Errorf("AppsOfUser(%s/%s) = %v: app %s there %v, want %v (as AppUsers)", u.Directory, u.Username, apps, app, !in, in)
		}
	}
}

// ids are the ids of users, in order.
func ids(us []*store.User) []string { return pluck(us, func(u *store.User) string { return u.ID }) }

// sortedIDs are the ids of users, sorted.
func sortedIDs(us ...*store.User) []string { return slices.Sorted(slices.Values(ids(us))) }
