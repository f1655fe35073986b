package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
)

var consoleTests = []test{
	{"GrantsCreateListRevoke", testGrants},
	{"SessionsLifecycle", testSessions},
	{"RevokingAGrantEndsItsSessions", testGrantEndsSessions},
	{"ActivityCountsChangesAndPushes", testActivity},
	{"SearchUsers", testSearchUsers},
	{"AuditNewestFirst", testAuditNewest},
}

func testAuditNewest(t *testing.T, s store.Store) {
	ctx := t.Context()
	var evs []*store.AuditEvent
	for _, a := range []string{"a.one", "a.two", "a.three", "a.four"} {
		evs = append(evs, &store.AuditEvent{Actor: "hub", Action: a})
	}
	must(t, "AppendAudit", s.AppendAudit(ctx, evs...))
	got, err := s.ListAudit(ctx, store.AuditFilter{Newest: true, Limit: 2})
	must(t, "ListAudit(newest)", err)
	if acts := pluck(got, func(e *store.AuditEvent) string { return e.Action }); !slices.Equal(acts, []string{"a.four", "a.three"}) {
		t.Errorf("newest two = %q, want [a.four a.three]", acts)
	}
	got, err = s.ListAudit(ctx, store.AuditFilter{Newest: true, BeforeID: evs[2].ID, Limit: 5})
	must(t, "ListAudit(newest, before)", err)
	if acts := pluck(got, func(e *store.AuditEvent) string { return e.Action }); !slices.Equal(acts, []string{"a.two", "a.one"}) {
		t.Errorf("newest before a.three = %q, want [a.two a.one]", acts)
	}
}

func testGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := &store.AdminGrant{Role: "read-only", GroupID: "g-1", CreatedBy: "admin:boot"}
	must(t, "CreateAdminGrant", s.CreateAdminGrant(ctx, g))
	if g.ID == "" || g.CreatedAt.IsZero() {
		t.Fatalf("CreateAdminGrant left id %q, created %v", g.ID, g.CreatedAt)
	}
	wantErr(t, "CreateAdminGrant of the same role to the same group",
		s.CreateAdminGrant(ctx, &store.AdminGrant{Role: "read-only", GroupID: "g-1"}), store.ErrConflict)
	ga := &store.AdminGrant{Role: "app-admin", GroupID: "g-1", Apps: []string{"id:3"}}
	must(t, "CreateAdminGrant app-admin", s.CreateAdminGrant(ctx, ga))
	got, err := s.GetAdminGrant(ctx, ga.ID)
	must(t, "GetAdminGrant", err)
	if got.Role != "app-admin" || !slices.Equal(got.Apps, []string{"id:3"}) || got.GroupID != "g-1" {
		t.Errorf("GetAdminGrant = %+v, want the app-admin grant with apps [id:3]", got)
	}
	_, err = s.GetAdminGrant(ctx, "nope")
	wantErr(t, "GetAdminGrant(unknown)", err, store.ErrNotFound)
	at := time.Now().UTC().Truncate(time.Second)
	r, err := s.RevokeAdminGrant(ctx, g.ID, at)
	must(t, "RevokeAdminGrant", err)
	if !sameTime(r.RevokedAt, at) {
		t.Errorf("revoked at %v, want %v", r.RevokedAt, at)
	}
	r, err = s.RevokeAdminGrant(ctx, g.ID, at.Add(time.Hour))
	must(t, "RevokeAdminGrant again", err)
	if !sameTime(r.RevokedAt, at) {
		t.Errorf("a second revocation moved the time to %v, want %v kept", r.RevokedAt, at)
	}
	_, err = s.RevokeAdminGrant(ctx, "nope", at)
	wantErr(t, "RevokeAdminGrant(unknown)", err, store.ErrNotFound)
	// The revoked grant no longer holds its place.
	must(t, "CreateAdminGrant after the revocation", s.CreateAdminGrant(ctx, &store.AdminGrant{Role: "read-only", GroupID: "g-1"}))
	all, err := s.ListAdminGrants(ctx)
	must(t, "ListAdminGrants", err)
	if len(all) != 3 || all[0].ID != g.ID || all[0].RevokedAt.IsZero() {
		t.Errorf("ListAdminGrants = %d grants, first %+v; want 3, oldest first, the revoked one included", len(all), all[0])
	}
}

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	t0 := time.Now().UTC().Truncate(time.Second)
	c := &store.ConsoleSession{Hash: []byte("h1"), TokenID: "tok", Name: "boot", Addr: "127.0.0.1", CreatedAt: t0}
	must(t, "CreateConsoleSession", s.CreateConsoleSession(ctx, c))
	if c.ID == "" || !sameTime(c.LastSeenAt, t0) {
		t.Fatalf("CreateConsoleSession: id %q, last seen %v; want an id, last seen at creation", c.ID, c.LastSeenAt)
	}
	wantErr(t, "CreateConsoleSession with a taken hash", s.CreateConsoleSession(ctx, &store.ConsoleSession{Hash: []byte("h1")}), store.ErrConflict)
	got, err := s.ConsoleSessionByHash(ctx, []byte("h1"))
	must(t, "ConsoleSessionByHash", err)
	if got.ID != c.ID || got.TokenID != "tok" || got.Name != "boot" || got.Addr != "127.0.0.1" {
		t.Errorf("ConsoleSessionByHash = %+v, want %+v", got, c)
	}
	_, err = s.ConsoleSessionByHash(ctx, []byte("h2"))
	wantErr(t, "ConsoleSessionByHash(unknown)", err, store.ErrNotFound)

	must(t, "TouchConsoleSession", s.TouchConsoleSession(ctx, c.ID, t0.Add(10*time.Minute)))
	must(t, "TouchConsoleSession back in time", s.TouchConsoleSession(ctx, c.ID, t0.Add(time.Minute)))
	got, _ = s.ConsoleSessionByHash(ctx, []byte("h1"))
	if !sameTime(got.LastSeenAt, t0.Add(10*time.Minute)) {
		t.Errorf("last seen %v, want %v: a touch only moves it forward", got.LastSeenAt, t0.Add(10*time.Minute))
	}
	wantErr(t, "TouchConsoleSession(unknown)", s.TouchConsoleSession(ctx, "nope", t0), store.ErrNotFound)

	old := &store.ConsoleSession{Hash: []byte("h3"), GrantID: "g", UserID: "u", Name: "corp/ann", CreatedAt: t0.Add(-13 * time.Hour),
		LastSeenAt: t0.Add(5 * time.Minute)}
	must(t, "CreateConsoleSession old", s.CreateConsoleSession(ctx, old))
	idle := &store.ConsoleSession{Hash: []byte("h4"), TokenID: "tok", Name: "idle", CreatedAt: t0.Add(-time.Hour)}
	must(t, "CreateConsoleSession idle", s.CreateConsoleSession(ctx, idle))
	stale, err := s.StaleConsoleSessions(ctx, t0.Add(-30*time.Minute), t0.Add(-12*time.Hour), 10)
	must(t, "StaleConsoleSessions", err)
	if ids := pluck(stale, func(c *store.ConsoleSession) string { return c.ID }); !slices.Equal(ids, []string{old.ID, idle.ID}) {
		t.Errorf("StaleConsoleSessions = %v, want [%s %s]: too old, then idle", ids, old.ID, idle.ID)
	}

	ended, err := s.EndConsoleSession(ctx, c.ID)
	must(t, "EndConsoleSession", err)
	if ended.Name != "boot" {
		t.Errorf("EndConsoleSession returned %+v, want the session", ended)
	}
	_, err = s.EndConsoleSession(ctx, c.ID)
	wantErr(t, "EndConsoleSession again", err, store.ErrNotFound)
	_, err = s.ConsoleSessionByHash(ctx, []byte("h1"))
	wantErr(t, "ConsoleSessionByHash after the end", err, store.ErrNotFound)
}

func testGrantEndsSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	g := &store.AdminGrant{Role: "read-only", GroupID: "g-1"}
	must(t, "CreateAdminGrant", s.CreateAdminGrant(ctx, g))
	must(t, "CreateConsoleSession", s.CreateConsoleSession(ctx, &store.ConsoleSession{Hash: []byte("a"), GrantID: g.ID, UserID: "u"}))
	must(t, "CreateConsoleSession token", s.CreateConsoleSession(ctx, &store.ConsoleSession{Hash: []byte("b"), TokenID: "t"}))
	_, err := s.RevokeAdminGrant(ctx, g.ID, time.Now())
	must(t, "RevokeAdminGrant", err)
	_, err = s.ConsoleSessionByHash(ctx, []byte("a"))
	wantErr(t, "the grant's session after its revocation", err, store.ErrNotFound)
	_, err = s.ConsoleSessionByHash(ctx, []byte("b"))
	wantErr(t, "a token's session after the grant's revocation", err, nil)
}

func testActivity(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	f.upsert(run, newUser("1", "ann"), newUser("2", "bob"))
	f.upsert(run, newUser("1", "ann")) // unchanged: not a change
	must(t, "AppendAudit", s.AppendAudit(ctx, &store.AuditEvent{Actor: "hub", Action: "push.failed", Target: "app:crm", AppID: 7},
		&store.AuditEvent{Actor: "hub", Action: "push.failed", Target: "app:crm", AppID: 7},
		&store.AuditEvent{Actor: "hub", Action: "push.failed", Target: "app:hr", AppID: 8},
		&store.AuditEvent{Actor: "hub", Action: "app.create", Target: "app:crm"}))
	sums := func(what string, f store.ActivityFilter) map[string]int64 {
		t.Helper()
		got, err := s.Activity(ctx, time.Now().Add(-time.Hour), f)
		must(t, what, err)
		sum := map[string]int64{}
		for _, c := range got {
			if c.Hour.After(time.Now()) || c.Hour.Minute() != 0 {
				t.Errorf("%s: activity hour %v: want the start of an hour, not in the future", what, c.Hour)
			}
			sum[c.Kind] += c.N
		}
		return sum
	}
	// Every app's pushes, or those of the apps kept; changes belong to no
	// app and count for every filter.
	for _, c := range []struct {
		what   string
		f      store.ActivityFilter
		failed int64
	}{
		{"every app", store.ActivityFilter{}, 3},
		{"app 7", store.ActivityFilter{OnlyApps: true, Apps: []int64{7}}, 2},
		{"apps 8 and 9", store.ActivityFilter{OnlyApps: true, Apps: []int64{8, 9}}, 1},
		{"no app", store.ActivityFilter{OnlyApps: true}, 0},
	} {
		sum := sums("Activity of "+c.what, c.f)
		if sum[store.ActivityChanges] != 2 || sum[store.ActivityPushFailed] != c.failed || len(sum) > 2 {
			t.Errorf("Activity of %s sums %v, want 2 changes (an unchanged user is none) and %d failed pushes", c.what, sum, c.failed)
		}
	}
	got, err := s.Activity(ctx, time.Now().Add(2*time.Hour), store.ActivityFilter{})
	must(t, "Activity(later)", err)
	if len(got) != 0 {
		t.Errorf("Activity since two hours ahead = %v, want none", got)
	}
}

func testSearchUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	mk := func(ext, name, email, display string) *store.Object {
		u := newUser(ext, name)
		u.Profile.Email, u.Profile.DisplayName, u.Profile.GivenName, u.Profile.FamilyName = email, display, "", ""
		return rehash(u)
	}
	dora := mk("4", "dora", "dora@example.org", "Dora Ng")
	dora.Profile.GivenName, dora.Profile.FamilyName = "Theodora", "Ngata"
	f.upsert(run, mk("1", "ann", "ann@example.org", "Ann Lee"), mk("2", "Bob", "robert@example.org", "Bob Stone"),
		mk("3", "carl", "c@example.org", "Annika Carl"), rehash(dora),
		newGroup("g1", "staff", dnMember(userDN("Bob")), dnMember(userDN("dora"))),
		newGroup("g2", "everyone", dnMember(userDN("carl")), dnMember(groupDN("staff"))),
		newGroup("g3", "top", dnMember(groupDN("everyone"))))
	names := func(f store.UserSearch) []string {
		t.Helper()
		us, err := s.SearchUsers(ctx, f)
		must(t, "SearchUsers", err)
		return pluck(us, func(u *store.User) string { return u.Username })
	}
	for _, c := range []struct {
		name string
		f    store.UserSearch
		want []string
	}{
		{"every user by username, case folded", store.UserSearch{}, []string{"ann", "Bob", "carl", "dora"}},
		{"a username prefix, any case", store.UserSearch{Prefix: "BO"}, []string{"Bob"}},
		{"an e-mail prefix", store.UserSearch{Prefix: "rob"}, []string{"Bob"}},
		{"a display name prefix", store.UserSearch{Prefix: "ann"}, []string{"ann", "carl"}},
		{"a given name prefix", store.UserSearch{Prefix: "theo"}, []string{"dora"}},
		{"a family name prefix", store.UserSearch{Prefix: "NGAT"}, []string{"dora"}},
		{"a prefix, the next page", store.UserSearch{Prefix: "ann", AfterKey: "ann", AfterID: f.user("ann").ID}, []string{"carl"}},
		{"a prefix, past its last match", store.UserSearch{Prefix: "ann", AfterKey: "carl", AfterID: f.user("carl").ID}, nil},
		{"a prefix, a page", store.UserSearch{Prefix: "ann", Limit: 1}, []string{"ann"}},
		{"nothing matches", store.UserSearch{Prefix: "zz"}, nil},
		{"a page", store.UserSearch{Limit: 2}, []string{"ann", "Bob"}},
		{"the next page", store.UserSearch{AfterKey: "bob", AfterID: f.user("Bob").ID, Limit: 2}, []string{"carl", "dora"}},
		{"a group's members", store.UserSearch{GroupID: f.group("staff").ID}, []string{"Bob", "dora"}},
		{"a group's direct members", store.UserSearch{GroupID: f.group("everyone").ID}, []string{"carl"}},
		{"a group's members, nested ones too", store.UserSearch{GroupID: f.group("everyone").ID, Nested: true}, []string{"Bob", "carl", "dora"}},
		{"two levels down, a page", store.UserSearch{GroupID: f.group("top").ID, Nested: true, Prefix: "d"}, []string{"dora"}},
		{"a group of no nested group, nested", store.UserSearch{GroupID: f.group("staff").ID, Nested: true}, []string{"Bob", "dora"}},
		{"the directory", store.UserSearch{DirectoryID: f.dir.ID, Prefix: "d"}, []string{"dora"}},
		{"another directory", store.UserSearch{DirectoryID: f.dir.ID + 1000}, nil},
		{"a status", store.UserSearch{Status: store.StatusSuspended}, nil},
		{"some ids", store.UserSearch{IDs: []string{f.user("dora").ID, f.user("ann").ID}}, []string{"ann", "dora"}},
		{"no ids", store.UserSearch{IDs: []string{}}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := names(c.f); !slices.Equal(got, c.want) {
				t.Errorf("SearchUsers(%+v) = %q, want %q", c.f, got, c.want)
			}
		})
	}

	// Two users of one name key, in two directories, come by id: a page
	// of one ends between them, and the next begins with the second; a
	// search as a list.
	hr := newFixture(t, s, "hr")
	hr.upsert(hr.run(store.RunIncremental), mk("5", "Ann", "ann@hr.example.org", "Ann Hr"))
	anns := []string{f.user("ann").ID, hr.user("Ann").ID}
	slices.Sort(anns)
	for _, prefix := range []string{"", "an"} {
		first, err := s.SearchUsers(ctx, store.UserSearch{Prefix: prefix, Limit: 1})
		must(t, "SearchUsers", err)
		next, err := s.SearchUsers(ctx, store.UserSearch{Prefix: prefix, Limit: 1, AfterKey: "ann", AfterID: anns[0]})
		must(t, "SearchUsers", err)
		if len(first) != 1 || first[0].ID != anns[0] || len(next) != 1 || next[0].ID != anns[1] {
			t.Errorf("prefix %q: the first page of one is %v, the next %v; want the two anns by id, %q", prefix,
				pluck(first, func(u *store.User) string { return u.ID }), pluck(next, func(u *store.User) string { return u.ID }), anns)
		}
	}
}
