package provision_test

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/scimtest"
	"github.com/idsync/idsync/server/audit"
	"github.com/idsync/idsync/server/provision"
	"github.com/idsync/idsync/server/scim"
	"github.com/idsync/idsync/server/store"
)

// TestImportGroups: `app import --groups` against both SCIM
// implementations. The app holds groups before idsync pushes any: one
// whose externalId is a hub group's id, one named as another (in other
// case), one of its own. The import links the first two to the hub groups
// pushed as them (their pushes take them over: renamed, members put in
// step; no second group is created), records the third with its members
// linked through the accounts, and reports the member of a linked group
// that is no account of idsync's. Later, a pushed group changed by hand is
// reported by the next import, and a reconcile sets both back.
func TestImportGroups(t *testing.T) {
	for _, impl := range bothApps {
		t.Run(impl.name, func(t *testing.T) {
			ctx := t.Context()
			w := newWorldOn(t, impl, func(a *store.App) { a.PushGroups = true })
			w.apply([]*store.Object{user("u1", "alice"), user("u2", "bob"), user("u3", "carol"),
				group("g1", "staff", users("alice", "bob")...), group("g2", "ops", users("carol")...),
				group("g3", "eng", users("alice", "carol")...)})
			staff, ops, eng := w.hubGroup("staff"), w.hubGroup("ops"), w.hubGroup("eng")
			for _, g := range []*store.Group{staff, ops, eng} {
				w.assign(store.AssignGroup, g.ID)
			}

			// What the app holds before idsync: the three users' accounts,
			// eve's (no hub user), and three groups.
			c := w.client()
			remote := map[string]string{}
			for _, n := range []string{"alice", "bob", "carol", "eve"} {
				r, err := c.CreateUser(ctx, scim.Resource{"userName": n + "@example.org", "active": true})
				if err != nil {
					t.Fatal(err)
				}
				remote[n] = r.ID()
			}
			mkGroup := func(name, externalID string, members ...string) string {
				t.Helper()
				res := scim.Resource{"displayName": name}
				if externalID != "" {
					res["externalId"] = externalID
				}
				var ms []any
				for _, m := range members {
					ms = append(ms, map[string]any{"value": remote[m]})
				}
				if len(ms) > 0 {
					res["members"] = ms
				}
				r, err := c.CreateGroup(ctx, res)
				if err != nil {
					t.Fatalf("creating group %s in the app: %v", name, err)
				}
				return r.ID()
			}
			opsRemote := mkGroup("Operations", ops.ID, "carol", "eve")
			engRemote := mkGroup("ENG", "", "bob")
			adminsRemote := mkGroup("crm-admins", "", "alice", "eve")

			res, err := w.apps().Import(ctx, w.app, true, "test")
			if err != nil {
				t.Fatal(err)
			}
			if res.Linked != 3 {
				t.Errorf("import linked %d accounts, want alice, bob and carol", res.Linked)
			}
			g := res.Groups
			wantLinked := []provision.LinkedGroup{{Group: "ops", RemoteName: "Operations", By: "externalId"},
				{Group: "eng", RemoteName: "ENG", By: "displayName"}}
			slices.SortFunc(g.Linked, func(a, b provision.LinkedGroup) int { return strings.Compare(b.Group, a.Group) })
			if g.Read != 3 || g.AlreadyLinked != 0 || g.Own != 1 || !slices.Equal(g.Linked, wantLinked) {
				t.Errorf("group import = %+v, want 3 read, %v linked, 1 the app's own", g, wantLinked)
			}
			if len(g.Drift) != 1 || g.Drift[0].Group != "ops" || g.Drift[0].Found != "1 member(s) added in the app ("+remote["eve"]+")" {
				t.Errorf("drift = %+v, want ops: eve added in the app", g.Drift)
			}
			own, err := w.st.ListAppGroups(ctx, w.app.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(own) != 1 || own[0].RemoteID != adminsRemote || own[0].DisplayName != "crm-admins" ||
				!slices.Equal(own[0].Members, []string{w.hubUser("alice").ID}) || own[0].Unlinked != 1 {
				t.Errorf("the app's own groups = %+v, want crm-admins (%s) with alice and one member not linked", own, adminsRemote)
			}
			if pg := w.pushedGroup(ops.ID); pg == nil || pg.RemoteID != opsRemote || pg.Found == "" {
				t.Errorf("ops pushed as %+v, want linked to %s with what the import found", pg, opsRemote)
			}
			if pg := w.pushedGroup(eng.ID); pg == nil || pg.RemoteID != engRemote {
				t.Errorf("eng pushed as %+v, want linked to %s", pg, engRemote)
			}
			if evs := w.audit("app.import"); len(evs) != 1 || !strings.Contains(evs[0].Detail, "groups: 3 read, 2 linked") {
				t.Errorf("audit app.import = %+v, want one event with what the groups' import did", evs)
			}

			// The pushes take the linked groups over: renamed, members put
			// in step; eve, no account of idsync's, stays in ops until a
			// reconcile.
			w.start()
			w.wantAppGroups(remoteGroup{"crm-admins", names("alice", "eve")}, remoteGroup{"eng", names("alice", "carol")},
				remoteGroup{"ops", names("carol", "eve")}, remoteGroup{"staff", names("alice", "bob")})
			eventually.That(t, "idle", w.idle)

			// staff changed by hand: eve added, bob removed. The next
			// import reports it and leaves it to the reconcile.
			staffRemote := w.pushedGroup(staff.ID).RemoteID
			if err := c.PatchGroupMembers(ctx, staffRemote, []string{remote["eve"]}, []string{remote["bob"]}); err != nil {
				t.Fatal(err)
			}
			res, err = w.apps().Import(ctx, w.app, true, "test")
			if err != nil {
				t.Fatal(err)
			}
			g = res.Groups
			if g.Read != 4 || g.AlreadyLinked != 3 || len(g.Linked) != 0 || g.Own != 1 {
				t.Errorf("second group import = %+v, want 4 read, 3 linked before, 1 the app's own", g)
			}
			found := map[string]string{}
			for _, d := range g.Drift {
				found[d.Group] = d.Found
			}
			wantStaff := "1 member(s) added in the app (" + remote["eve"] + "); 1 member(s) removed in the app (bob)"
			if found["staff"] != wantStaff || !strings.Contains(found["ops"], remote["eve"]) || len(found) != 2 {
				t.Errorf("second import found %q, want staff: %q and ops: eve", found, wantStaff)
			}
			if pg := w.pushedGroup(staff.ID); pg.Found != wantStaff || pg.FoundAt.IsZero() {
				t.Errorf("staff pushed as %+v, want what the import found recorded", pg)
			}

			// eve out of ops by hand: the next import finds nothing left
			// to report there.
			opsRemoteNow := w.pushedGroup(ops.ID).RemoteID
			if err := c.PatchGroupMembers(ctx, opsRemoteNow, nil, []string{remote["eve"]}); err != nil {
				t.Fatal(err)
			}
			if res, err = w.apps().Import(ctx, w.app, true, "test"); err != nil {
				t.Fatal(err)
			}
			if len(res.Groups.Drift) != 1 || res.Groups.Drift[0].Group != "staff" {
				t.Errorf("third import found %+v, want staff alone", res.Groups.Drift)
			}
			if pg := w.pushedGroup(ops.ID); pg.Found != "" || !pg.FoundAt.IsZero() {
				t.Errorf("ops pushed as %+v, want nothing found any more", pg)
			}

			// A reconcile sets staff back, and what was found is cleared.
			if _, err := w.st.Enqueue(ctx, w.app.ID, store.JobReconcile, "full", time.Now()); err != nil {
				t.Fatal(err)
			}
			w.eng.Wake(w.app.ID)
			w.wantAppGroups(remoteGroup{"crm-admins", names("alice", "eve")}, remoteGroup{"eng", names("alice", "carol")},
				remoteGroup{"ops", names("carol")}, remoteGroup{"staff", names("alice", "bob")})
			eventually.That(t, "what the import found cleared", func() (bool, string) {
				var got []string
				for _, id := range []string{staff.ID} {
					if pg := w.pushedGroup(id); pg.Found != "" || pg.Drift == "" {
						got = append(got, fmt.Sprintf("%s: found %q, drift %q", id, pg.Found, pg.Drift))
					}
				}
				return len(got) == 0, strings.Join(got, "\n")
			})
		})
	}
}

// apps is the admins' service over the world's engine, auditing to the
// store.
func (w *world) apps() *provision.Apps {
	log := slog.New(slog.NewTextHandler(w.logs, nil))
	return provision.NewApps(provision.AppsConfig{Store: w.st, Engine: w.eng, Box: w.box, Audit: audit.New(w.st, log), Log: log})
}

// TestImportGroupsByNameOnce: an app that lets groups share a name, and
// pages its /Groups two at a time. A hub group is linked by displayName
// only to the app's one group of that name: two groups named as qa (in
// any case) are both kept as the app's own, the one named as ops is
// linked. Every page is read.
func TestImportGroupsByNameOnce(t *testing.T) {
	var srv *scimtest.Server
	shared := app{"scimtest-shared-names", func(t testing.TB, token string, _ bool) (string, *scimtest.Server) {
		srv = scimtest.Start(t, scimtest.Options{Token: token, SharedGroupNames: true, MaxResults: 2})
		return srv.URL, srv
	}}
	ctx := t.Context()
	w := newWorldOn(t, shared, func(a *store.App) { a.PushGroups = true })
	w.apply([]*store.Object{user("u1", "alice"), group("g1", "qa", users("alice")...), group("g2", "ops", users("alice")...)})
	qa, ops := w.hubGroup("qa"), w.hubGroup("ops")
	w.assign(store.AssignGroup, qa.ID)
	w.assign(store.AssignGroup, ops.ID)
	for _, name := range []string{"qa", "QA", "Ops", "x1", "x2"} {
		if _, err := srv.SeedGroup(map[string]any{"displayName": name}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := w.apps().Import(ctx, w.app, true, "test")
	if err != nil {
		t.Fatal(err)
	}
	g := res.Groups
	if g.Read != 5 || g.Own != 4 || len(g.Linked) != 1 || g.Linked[0] != (provision.LinkedGroup{Group: "ops", RemoteName: "Ops", By: "displayName"}) {
		t.Errorf("group import = %+v, want 5 read, ops linked to Ops by displayName, 4 the app's own", g)
	}
	if n := srv.Requests("GET", "/Groups"); n < 3 {
		t.Errorf("%d GET /Groups, want the 3 pages of 2", n)
	}
	if pg := w.pushedGroup(qa.ID); pg != nil {
		t.Errorf("qa pushed as %+v, want not linked: two groups of the app have its name", pg)
	}
	own, err := w.st.ListAppGroups(ctx, w.app.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range own {
		names = append(names, o.DisplayName)
	}
	if fmt.Sprint(names) != "[QA qa x1 x2]" {
		t.Errorf("the app's own groups = %v, want [QA qa x1 x2]", names)
	}
}
