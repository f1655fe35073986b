package storetest

import (
	"bytes"
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
)

var accountTests = []test{
	{"PutGet", testAccountPutGet},
	{"RemoteID", testAccountRemoteID},
	{"ManyAtOnce", testAccountsManyAtOnce},
	{"ListCount", testAccountListCount},
	{"Unmatched", testUnmatched},
	{"PushedGroups", testPushedGroups},
	{"PushedGroupFound", testPushedGroupFound},
	{"AppGroups", testAppGroups},
}

// sameAccount reports whether got is want, times within timeTolerance.
func sameAccount(got, want *store.Account) bool {
	g, w := *got, *want
	ok := sameTime(g.CreatedAt, w.CreatedAt) && sameTime(g.UpdatedAt, w.UpdatedAt) &&
		sameTime(g.DeactivatedAt, w.DeactivatedAt) && bytes.Equal(g.Pushed, w.Pushed)
	g.CreatedAt, g.UpdatedAt, g.DeactivatedAt, g.Pushed = time.Time{}, time.Time{}, time.Time{}, nil
	w.CreatedAt, w.UpdatedAt, w.DeactivatedAt, w.Pushed = time.Time{}, time.Time{}, time.Time{}, nil
	return ok && reflect.DeepEqual(g, w)
}

// testAccountsManyAtOnce: GetUsers and GetAccounts, what a push reads of
// a claimed batch, return what GetUser and GetAccount return for each id,
// once, in id order, leaving out unknown ids, over more ids than one
// statement carries and with repeats.
func testAccountsManyAtOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	var objs []*store.Object
	for i := range 150 {
		objs = append(objs, newUser(fmt.Sprint("u", i), fmt.Sprintf("user%03d", i)))
	}
	f.upsert(f.run(store.RunIncremental), objs...)
	hr, crm := newApp(t, s, "hr"), newApp(t, s, "crm")
	var ids, want []string
	for i := range 150 {
		u := f.user(fmt.Sprintf("user%03d", i))
		ids = append(ids, u.ID)
		if i%3 == 0 {
			must(t, "PutAccount", s.PutAccount(ctx, &store.Account{AppID: hr.ID, UserID: u.ID, RemoteID: fmt.Sprint("r", i),
				State: store.AccountActive, Hash: fmt.Sprint("h", i)}))
			want = append(want, u.ID)
		}
		if i%5 == 0 {
			must(t, "PutAccount", s.PutAccount(ctx, &store.Account{AppID: crm.ID, UserID: u.ID, State: store.AccountCreating}))
		}
	}
	slices.Sort(want)
	// Every id, repeats and unknown ones among them, in no order.
	ask := append(slices.Clone(ids), ids[7], "nobody", ids[0], ids[149])
	slices.Reverse(ask)

	users, err := s.GetUsers(ctx, ask)
	must(t, "GetUsers", err)
	if got, want := pluck(users, func(u *store.User) string { return u.ID }), slices.Sorted(slices.Values(ids)); !slices.Equal(got, want) {
		t.Errorf("GetUsers returned users %v, want %v", got, want)
	}
	for _, u := range users[:3] {
		one, err := s.GetUser(ctx, u.ID)
		must(t, "GetUser", err)
		if !reflect.DeepEqual(u, one) {
			t.Errorf("GetUsers returned %+v, GetUser %+v", u, one)
		}
	}
	accounts, err := s.GetAccounts(ctx, hr.ID, ask)
	must(t, "GetAccounts", err)
	if got := pluck(accounts, func(a *store.Account) string { return a.UserID }); !slices.Equal(got, want) {
		t.Errorf("GetAccounts returned the accounts of %v, want %v", got, want)
	}
	for _, a := range accounts {
		one, err := s.GetAccount(ctx, hr.ID, a.UserID)
		must(t, "GetAccount", err)
		if !sameAccount(a, one) {
			t.Errorf("GetAccounts returned %+v, GetAccount %+v", a, one)
		}
	}
	if got, err := s.GetUsers(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("GetUsers(none) = %v, %v; want none", got, err)
	}
	if got, err := s.GetAccounts(ctx, hr.ID, []string{"nobody"}); err != nil || len(got) != 0 {
		t.Errorf("GetAccounts(unknown user) = %v, %v; want none", got, err)
	}
}

func testAccountPutGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newAppWorld(t, s)
	hr := newApp(t, s, "hr")
	steps := []struct {
		name string
		put  store.Account
	}{
		{"creating", store.Account{State: store.AccountCreating}},
		{"created", store.Account{RemoteID: "2819c223", State: store.AccountActive,
			Pushed: []byte(`{"userName":"bob","active":true}`), Hash: "h1"}},
		{"a failed update", store.Account{RemoteID: "2819c223", State: store.AccountActive,
			Pushed: []byte(`{"userName":"bob","active":true}`), Hash: "h1", LastError: "500 from the app"}},
		{"deactivated", store.Account{RemoteID: "2819c223", State: store.AccountDeactivated,
			Pushed: []byte(`{"userName":"bob","active":false}`), Hash: "h2",
			DeactivatedAt: time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)}},
		{"linked", store.Account{RemoteID: "2819c223", State: store.AccountActive, Linked: true}},
	}
	var created time.Time
	for i, st := range steps {
		a := st.put
		a.AppID, a.UserID = hr.ID, w.bob.ID
		before := time.Now()
		must(t, st.name+": PutAccount", s.PutAccount(ctx, &a))
		if i == 0 {
			created = a.CreatedAt
		}
		if !sameTime(a.CreatedAt, created) || a.UpdatedAt.Before(before.Add(-timeTolerance)) {
			t.Errorf("%s: PutAccount set created %v, updated %v; want %v (the first), about %v",
				st.name, a.CreatedAt, a.UpdatedAt, created, before)
		}
		got, err := s.GetAccount(ctx, hr.ID, w.bob.ID)
		must(t, st.name+": GetAccount", err)
		if !sameAccount(got, &a) {
			t.Errorf("%s: GetAccount = %+v, want %+v", st.name, got, a)
		}
		pause()
	}
	_, err := s.GetAccount(ctx, hr.ID, w.alice.ID)
	wantErr(t, "GetAccount(no account)", err, store.ErrNotFound)
	wantErr(t, "PutAccount(unknown user)", s.PutAccount(ctx, &store.Account{AppID: hr.ID, UserID: "nobody",
		State: store.AccountActive}), store.ErrNotFound)
	wantErr(t, "PutAccount(unknown app)", s.PutAccount(ctx, &store.Account{AppID: 999, UserID: w.bob.ID,
		State: store.AccountActive}), store.ErrNotFound)
}

func testAccountRemoteID(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newAppWorld(t, s) // alice holds r-alice in crm and billing
	got, err := s.GetAccountByRemoteID(ctx, w.crm.ID, "r-alice")
	must(t, "GetAccountByRemoteID", err)
	if got.UserID != w.alice.ID || got.AppID != w.crm.ID {
		t.Errorf("GetAccountByRemoteID(crm, r-alice) = user %s of app %d, want alice of crm", got.UserID, got.AppID)
	}
	must(t, "PutAccount(bob, no remote id)", s.PutAccount(ctx, &store.Account{AppID: w.crm.ID, UserID: w.bob.ID,
		State: store.AccountCreating}))
	tests := []struct {
		name     string
		remoteID string
		want     error
	}{
		{"unknown", "r-bob", store.ErrNotFound},
		{"empty is no remote id", "", store.ErrNotFound},
	}
	for _, tc := range tests {
		_, err := s.GetAccountByRemoteID(ctx, w.crm.ID, tc.remoteID)
		wantErr(t, tc.name, err, tc.want)
	}
	// Two accounts of one app cannot hold one remote id; two apps can.
	wantErr(t, "PutAccount(bob takes alice's remote id)", s.PutAccount(ctx, &store.Account{AppID: w.crm.ID,
		UserID: w.bob.ID, RemoteID: "r-alice", State: store.AccountActive}), store.ErrConflict)
	hr := newApp(t, s, "hr")
	must(t, "PutAccount(the same remote id in another app)", s.PutAccount(ctx, &store.Account{AppID: hr.ID,
		UserID: w.bob.ID, RemoteID: "r-alice", State: store.AccountActive}))
}

func testAccountListCount(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newAppWorld(t, s) // alice active in crm and billing
	for _, a := range []store.Account{
		{AppID: w.crm.ID, UserID: w.bob.ID, RemoteID: "r-bob", State: store.AccountDeactivated},
		{AppID: w.billing.ID, UserID: w.bob.ID, State: store.AccountCreating},
	} {
		must(t, "PutAccount", s.PutAccount(ctx, &a))
	}
	type key struct {
		app  int64
		user string
	}
	byUser := []key{{w.crm.ID, w.alice.ID}, {w.billing.ID, w.alice.ID}, {w.crm.ID, w.bob.ID}, {w.billing.ID, w.bob.ID}}
	slices.SortFunc(byUser, func(a, b key) int { return cmp.Or(strings.Compare(a.user, b.user), cmp.Compare(a.app, b.app)) })
	first, second := byUser[0].user, byUser[2].user
	tests := []struct {
		name string
		f    store.AccountFilter
		want []key
	}{
		{"all, by user then app", store.AccountFilter{}, byUser},
		{"one app", store.AccountFilter{AppID: w.crm.ID}, []key{{w.crm.ID, first}, {w.crm.ID, second}}},
		{"one state", store.AccountFilter{State: store.AccountDeactivated}, []key{{w.crm.ID, w.bob.ID}}},
		{"limit", store.AccountFilter{Limit: 3}, byUser[:3]},
		{"after a user", store.AccountFilter{AfterUserID: first}, byUser[2:]},
		{"after the last", store.AccountFilter{AfterUserID: second}, nil},
		{"some users", store.AccountFilter{UserIDs: []string{w.bob.ID, "no-such-user"}}, []key{{w.crm.ID, w.bob.ID}, {w.billing.ID, w.bob.ID}}},
		{"some users, after one", store.AccountFilter{UserIDs: []string{w.alice.ID, w.bob.ID}, AfterUserID: first}, byUser[2:]},
		{"no users", store.AccountFilter{UserIDs: []string{}}, nil},
	}
	for _, tc := range tests {
		as, err := s.ListAccounts(ctx, tc.f)
		must(t, tc.name, err)
		got := pluck(as, func(a *store.Account) key { return key{a.AppID, a.UserID} })
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: ListAccounts = %v, want %v", tc.name, got, tc.want)
		}
	}
	counts, err := s.CountAccounts(ctx)
	must(t, "CountAccounts", err)
	want := []store.AccountCount{
		{AppID: w.crm.ID, State: store.AccountActive, Count: 1},
		{AppID: w.crm.ID, State: store.AccountDeactivated, Count: 1},
		{AppID: w.billing.ID, State: store.AccountActive, Count: 1},
		{AppID: w.billing.ID, State: store.AccountCreating, Count: 1},
	}
	slices.SortFunc(want, func(a, b store.AccountCount) int {
		return cmp.Or(cmp.Compare(a.AppID, b.AppID), strings.Compare(string(a.State), string(b.State)))
	})
	if !slices.Equal(counts, want) {
		t.Errorf("CountAccounts = %v, want %v", counts, want)
	}
}

func testUnmatched(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newAppWorld(t, s) // each app has r-x unmatched
	steps := []struct {
		name string
		put  []store.RemoteAccount
		want []store.RemoteAccount
	}{
		{"replaced, by user name", []store.RemoteAccount{
			{RemoteID: "r2", UserName: "zoe", Email: "zoe@example.org"},
			{RemoteID: "r1", UserName: "adam"},
			{RemoteID: "r3", UserName: "adam", Email: "adam2@example.org"},
		}, []store.RemoteAccount{
			{RemoteID: "r1", UserName: "adam"},
			{RemoteID: "r3", UserName: "adam", Email: "adam2@example.org"},
			{RemoteID: "r2", UserName: "zoe", Email: "zoe@example.org"},
		}},
		{"a remote id twice keeps the last", []store.RemoteAccount{
			{RemoteID: "r1", UserName: "first"}, {RemoteID: "r1", UserName: "last"},
		}, []store.RemoteAccount{{RemoteID: "r1", UserName: "last"}}},
		{"none clears", nil, nil},
	}
	for _, st := range steps {
		must(t, st.name, s.PutUnmatched(ctx, w.crm.ID, st.put))
		got, err := s.ListUnmatched(ctx, w.crm.ID)
		must(t, "ListUnmatched", err)
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: ListUnmatched = %v, want %v", st.name, got, st.want)
		}
	}
	if got, _ := s.ListUnmatched(ctx, w.billing.ID); len(got) != 1 {
		t.Errorf("the other app's unmatched accounts = %v, want its one", got)
	}
	wantErr(t, "PutUnmatched(unknown app)", s.PutUnmatched(ctx, 999, []store.RemoteAccount{{RemoteID: "r"}}),
		store.ErrNotFound)
}

func testPushedGroups(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newAppWorld(t, s) // staff pushed to each app as r-staff with alice and bob
	hr := newApp(t, s, "hr")
	g := &store.PushedGroup{AppID: hr.ID, GroupID: w.staff.ID}
	before := time.Now()
	must(t, "PutPushedGroup(no remote id yet)", s.PutPushedGroup(ctx, g))
	created := g.CreatedAt
	if created.Before(before.Add(-timeTolerance)) {
		t.Errorf("PutPushedGroup set CreatedAt %v, want about %v", created, before)
	}
	pause()
	g = &store.PushedGroup{AppID: hr.ID, GroupID: w.staff.ID, RemoteID: "e9e30dba"}
	must(t, "PutPushedGroup(remote id)", s.PutPushedGroup(ctx, g))
	gs, err := s.ListPushedGroups(ctx, hr.ID)
	must(t, "ListPushedGroups", err)
	if len(gs) != 1 || gs[0].RemoteID != "e9e30dba" || !sameTime(gs[0].CreatedAt, created) || !sameTime(g.CreatedAt, created) {
		t.Errorf("ListPushedGroups = %+v, want staff as e9e30dba created %v", gs, created)
	}

	// What a push knows of the group, and a reconcile's request to check
	// it: each writer keeps to its own columns.
	asked := time.Now().Add(-time.Minute).UTC()
	must(t, "CheckPushedGroups", s.CheckPushedGroups(ctx, hr.ID, asked))
	checked, drifted := asked.Add(time.Second), asked.Add(-time.Hour)
	g = &store.PushedGroup{AppID: hr.ID, GroupID: w.staff.ID, RemoteID: "e9e30dba", DisplayName: "Staff",
		Missing: []string{"u-9", "u-8"}, CheckedAt: checked, Drift: "1 member added in the app removed", DriftAt: drifted}
	must(t, "PutPushedGroup(state)", s.PutPushedGroup(ctx, g))
	if !sameTime(g.CheckAt, asked) {
		t.Errorf("PutPushedGroup set CheckAt %v, want the stored %v", g.CheckAt, asked)
	}
	gs, err = s.ListPushedGroups(ctx, hr.ID)
	must(t, "ListPushedGroups", err)
	if len(gs) != 1 || gs[0].DisplayName != "Staff" || !slices.Equal(gs[0].Missing, []string{"u-9", "u-8"}) ||
		!sameTime(gs[0].CheckAt, asked) || !sameTime(gs[0].CheckedAt, checked) || gs[0].Drift != g.Drift ||
		!sameTime(gs[0].DriftAt, drifted) || !sameTime(gs[0].CreatedAt, created) {
		t.Errorf("ListPushedGroups = %+v, want %+v", gs[0], g)
	}
	if others, _ := s.ListPushedGroups(ctx, w.crm.ID); len(others) != 1 || !others[0].CheckAt.IsZero() {
		t.Errorf("another app's pushed groups = %+v, want one, not asked to check", others)
	}
	g = &store.PushedGroup{AppID: hr.ID, GroupID: w.staff.ID, RemoteID: "e9e30dba"}
	must(t, "PutPushedGroup(cleared)", s.PutPushedGroup(ctx, g))
	if gs, _ = s.ListPushedGroups(ctx, hr.ID); len(gs) != 1 || gs[0].Missing != nil || gs[0].Drift != "" ||
		!gs[0].CheckedAt.IsZero() || !sameTime(gs[0].CheckAt, asked) {
		t.Errorf("after clearing: %+v, want no missing members, no drift, CheckAt kept", gs[0])
	}

	u := []string{"u-1", "u-2", "u-3", "u-4"}
	steps := []struct {
		name        string
		add, remove []string
		want        []string
	}{
		{"add", []string{u[2], u[0], u[1]}, nil, u[:3]},
		{"add again and more", []string{u[0], u[3], u[3]}, nil, u},
		{"remove", nil, []string{u[1], "u-never"}, []string{u[0], u[2], u[3]}},
		{"both: removed", []string{u[1]}, []string{u[1], u[0]}, []string{u[2], u[3]}},
		{"nothing", nil, nil, []string{u[2], u[3]}},
	}
	for _, st := range steps {
		must(t, st.name, s.SetPushedMembers(ctx, hr.ID, w.staff.ID, st.add, st.remove))
		got, err := s.PushedMembers(ctx, hr.ID, w.staff.ID)
		must(t, "PushedMembers", err)
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: PushedMembers = %v, want %v", st.name, got, st.want)
		}
	}
	wantErr(t, "SetPushedMembers(a group not pushed)", s.SetPushedMembers(ctx, hr.ID, "g-other", u, nil), store.ErrNotFound)
	wantErr(t, "PutPushedGroup(unknown group)", s.PutPushedGroup(ctx, &store.PushedGroup{AppID: hr.ID, GroupID: "nope"}),
		store.ErrNotFound)

	must(t, "DeletePushedGroup", s.DeletePushedGroup(ctx, hr.ID, w.staff.ID))
	wantErr(t, "DeletePushedGroup(again)", s.DeletePushedGroup(ctx, hr.ID, w.staff.ID), store.ErrNotFound)
	if gs, _ := s.ListPushedGroups(ctx, hr.ID); len(gs) != 0 {
		t.Errorf("after DeletePushedGroup: %v, want none", gs)
	}
	if got, _ := s.PushedMembers(ctx, hr.ID, w.staff.ID); len(got) != 0 {
		t.Errorf("after DeletePushedGroup the members are %v, want none", got)
	}
	if got, _ := s.PushedMembers(ctx, w.crm.ID, w.staff.ID); len(got) != 2 {
		t.Errorf("another app's pushed members = %v, want its two", got)
	}
}

// testPushedGroupFound: what an import found a pushed group gained or lost
// in the app stays until a push reads the group after it (a reconcile's
// check) and sets it back; a push that did not read it keeps it.
func testPushedGroupFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newAppWorld(t, s) // staff pushed to each app as r-staff
	found := time.Now().Add(-time.Minute).UTC()
	must(t, "NotePushedGroupDrift", s.NotePushedGroupDrift(ctx, w.crm.ID, w.staff.ID, "1 member(s) added in the app (eve)", found))
	wantErr(t, "NotePushedGroupDrift(a group not pushed)", s.NotePushedGroupDrift(ctx, w.crm.ID, "g-other", "x", found),
		store.ErrNotFound)
	get := func(appID int64) *store.PushedGroup {
		t.Helper()
		gs, err := s.ListPushedGroups(ctx, appID)
		must(t, "ListPushedGroups", err)
		if len(gs) != 1 {
			t.Fatalf("ListPushedGroups = %+v, want staff", gs)
		}
		return gs[0]
	}
	if g := get(w.crm.ID); g.Found != "1 member(s) added in the app (eve)" || !sameTime(g.FoundAt, found) {
		t.Errorf("after NotePushedGroupDrift: %+v, want the finding at %v", g, found)
	}
	if g := get(w.billing.ID); g.Found != "" || !g.FoundAt.IsZero() {
		t.Errorf("another app's pushed group: %+v, want nothing found", g)
	}
	// A push that did not read the group (checked before the finding)
	// keeps it; PutPushedGroup does not write Found.
	must(t, "PutPushedGroup(not read)", s.PutPushedGroup(ctx, &store.PushedGroup{AppID: w.crm.ID, GroupID: w.staff.ID,
		RemoteID: "r-staff", CheckedAt: found.Add(-time.Hour)}))
	if g := get(w.crm.ID); g.Found == "" || !sameTime(g.FoundAt, found) {
		t.Errorf("after a push that did not read the group: %+v, want the finding kept", g)
	}
	// One that read it after sets it back: the finding is cleared.
	must(t, "PutPushedGroup(read)", s.PutPushedGroup(ctx, &store.PushedGroup{AppID: w.crm.ID, GroupID: w.staff.ID,
		RemoteID: "r-staff", CheckedAt: found.Add(time.Second), Found: "ignored"}))
	if g := get(w.crm.ID); g.Found != "" || !g.FoundAt.IsZero() {
		t.Errorf("after a push that read the group: %+v, want nothing found", g)
	}

	pushes, err := s.PushesOfGroup(ctx, w.staff.ID)
	must(t, "PushesOfGroup", err)
	if len(pushes) != 2 || pushes[0].AppID != min(w.crm.ID, w.billing.ID) || pushes[1].AppID != max(w.crm.ID, w.billing.ID) ||
		pushes[0].RemoteID != "r-staff" {
		t.Errorf("PushesOfGroup = %+v, want staff in crm and billing, by app id", pushes)
	}
	if none, err := s.PushesOfGroup(ctx, w.alice.ID); err != nil || len(none) != 0 {
		t.Errorf("PushesOfGroup(not a pushed group) = %v, %v; want none", none, err)
	}
}

// testAppGroups: the groups an app holds of its own are replaced by each
// import, per app, and go with the app.
func testAppGroups(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newAppWorld(t, s)
	before := time.Now()
	put := []*store.AppGroup{
		{RemoteID: "r-2", DisplayName: "Sales", ExternalID: "ext-2", Members: []string{w.bob.ID, w.alice.ID}, Unlinked: 3},
		{RemoteID: "r-1", DisplayName: "Admins"},
		{RemoteID: "r-3", DisplayName: "Admins", Members: []string{w.alice.ID}},
	}
	must(t, "PutAppGroups", s.PutAppGroups(ctx, w.crm.ID, put))
	got, err := s.ListAppGroups(ctx, w.crm.ID)
	must(t, "ListAppGroups", err)
	want := []string{"r-1 Admins  [] 0", "r-3 Admins  [" + w.alice.ID + "] 0",
		"r-2 Sales ext-2 [" + w.bob.ID + " " + w.alice.ID + "] 3"}
	var have []string
	for _, g := range got {
		have = append(have, fmt.Sprintf("%s %s %s %v %d", g.RemoteID, g.DisplayName, g.ExternalID, g.Members, g.Unlinked))
		if g.AppID != w.crm.ID || g.ImportedAt.Before(before.Add(-timeTolerance)) {
			t.Errorf("app group %+v: want app %d, imported about %v", g, w.crm.ID, before)
		}
	}
	if !slices.Equal(have, want) {
		t.Errorf("ListAppGroups = %q, want %q (by name, then remote id)", have, want)
	}
	if other, _ := s.ListAppGroups(ctx, w.billing.ID); len(other) != 0 {
		t.Errorf("another app's groups = %+v, want none", other)
	}

	// The next import replaces them.
	must(t, "PutAppGroups(again)", s.PutAppGroups(ctx, w.crm.ID, []*store.AppGroup{{RemoteID: "r-9", DisplayName: "New"}}))
	if got, _ = s.ListAppGroups(ctx, w.crm.ID); len(got) != 1 || got[0].RemoteID != "r-9" || got[0].Members != nil {
		t.Errorf("after the second import: %+v, want r-9 alone", got)
	}
	wantErr(t, "PutAppGroups(unknown app)", s.PutAppGroups(ctx, 99999, []*store.AppGroup{{RemoteID: "x"}}), store.ErrNotFound)

	must(t, "DeleteApp", s.DeleteApp(ctx, w.crm.ID))
	if got, _ = s.ListAppGroups(ctx, w.crm.ID); len(got) != 0 {
		t.Errorf("after DeleteApp: %+v, want none", got)
	}
}
