package provision_test

import (
	"fmt"
	"log/slog"
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

// staff makes users alice, bob and carol, a group staff holding them, and
// assigns the group to the app.
func staff(w *world) (alice, bob, carol *store.User) {
	w.t.Helper()
	w.apply([]*store.Object{user("u1", "alice"), user("u2", "bob"), user("u3", "carol"),
		group("g1", "staff", "uid=alice,ou=People,dc=example,dc=org", "uid=bob,ou=People,dc=example,dc=org",
			"uid=carol,ou=People,dc=example,dc=org")})
	w.assign(store.AssignGroup, w.hubGroup("staff").ID)
	return w.hubUser("alice"), w.hubUser("bob"), w.hubUser("carol")
}

func (w *world) waitActive(name string, want bool) map[string]any {
	w.t.Helper()
	var got map[string]any
	eventually.That(w.t, fmt.Sprintf("%s active=%v in the app", name, want), func() (bool, string) {
		var ok bool
		got, ok = w.remote(name)
		return ok && active(got) == want, fmt.Sprintf("app holds %v\n%s", got, w.describeJobs())
	})
	return got
}

// TestLifecycle: create on assignment, PATCH of only what changed, deactivate
// on deprovisioning, reactivate on restore, deactivate on unassignment.
func TestLifecycle(t *testing.T) {
	w := newWorld(t, nil)
	w.start()
	alice, bob, _ := staff(w)

	got := w.waitActive("alice@example.org", true)
	if str(got, "externalId") != alice.ID || str(got, "name", "givenName") != "Given alice" || str(got, "title") != "Engineer" {
		t.Errorf("alice in the app = %v; want externalId %s, givenName, title", got, alice.ID)
	}
	if dept := str(got, scim.EnterpriseUserSchema, "department"); dept != "R&D" {
		t.Errorf("enterprise department = %q, want R&D", dept)
	}
	w.waitActive("bob@example.org", true)
	eventually.That(w.t, "idle", w.idle)
	if n := w.srv.UserCount(); n != 3 {
		t.Fatalf("the app holds %d users, want 3", n)
	}
	posts := w.srv.Requests("POST", "/Users")

	// A title change is one PATCH carrying only the title.
	patches := w.srv.Requests("PATCH", "/Users")
	w.apply([]*store.Object{user("u1", "alice", func(o *store.Object) { o.Profile.Title = "Staff Engineer" })})
	eventually.That(w.t, "alice's new title", func() (bool, string) {
		r, _ := w.remote("alice@example.org")
		return str(r, "title") == "Staff Engineer", w.describeJobs()
	})
	eventually.That(w.t, "idle", w.idle)
	if n := w.srv.Requests("PATCH", "/Users") - patches; n != 1 {
		t.Errorf("%d PATCH requests for one changed title, want 1", n)
	}
	// An unchanged write pushes nothing.
	before := w.srv.Requests("", "/Users")
	w.apply([]*store.Object{user("u1", "alice", func(o *store.Object) {
		o.Profile.Title = "Staff Engineer"
		o.Profile.Extra = map[string][]string{"x": {"1"}}
	})})
	eventually.That(w.t, "idle", w.idle)
	if n := w.srv.Requests("", "/Users") - before; n != 0 {
		t.Errorf("%d requests for a change the mapping does not use, want 0", n)
	}

	// Deprovisioned → deactivated; restored → reactivated.
	w.apply([]*store.Object{user("u2", "bob", func(o *store.Object) { o.Status = store.StatusDeprovisioned })})
	w.waitActive("bob@example.org", false)
	eventually.That(w.t, "bob's account recorded deactivated", func() (bool, string) {
		a := w.account(bob.ID)
		return a != nil && a.State == store.AccountDeactivated, fmt.Sprintf("%+v", w.account(bob.ID))
	})
	w.apply([]*store.Object{user("u2", "bob")})
	w.waitActive("bob@example.org", true)

	// Unassigned → deactivated.
	w.unassign(store.AssignGroup, w.hubGroup("staff").ID)
	for _, n := range []string{"alice", "bob", "carol"} {
		w.waitActive(n+"@example.org", false)
	}
	// Assigned again → reactivated, not created again.
	w.assign(store.AssignUser, alice.ID)
	w.waitActive("alice@example.org", true)
	eventually.That(w.t, "idle", w.idle)
	if n := w.srv.Requests("POST", "/Users"); n != posts {
		t.Errorf("%d POST /Users in all, want the first %d only", n, posts)
	}
	if n := w.srv.UserCount(); n != 3 {
		t.Errorf("the app holds %d users, want 3", n)
	}
}

// TestChangeDuringPush: a push decides from what the read of its claimed
// batch found; a change committed after that read — while the creates the
// read led to are in flight — still reaches the app: the user who left
// the scope, or was deprovisioned, meanwhile ends deactivated, not left
// active by the create that was on its way.
func TestChangeDuringPush(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(w *world)
	}{
		{"left the group", func(w *world) {
			w.apply([]*store.Object{group("g1", "staff", "uid=bob,ou=People,dc=example,dc=org",
				"uid=carol,ou=People,dc=example,dc=org")})
		}},
		{"deprovisioned", func(w *world) {
			w.apply([]*store.Object{user("u1", "alice", func(o *store.Object) { o.Status = store.StatusDeprovisioned })})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, nil)
			// Every create is held a while by the app: the batch's read is
			// done once one has arrived.
			w.srv.Inject(scimtest.Fault{Method: "POST", PathPrefix: "/Users", Times: -1, Latency: 2 * time.Second})
			w.start()
			alice, _, _ := staff(w)
			eventually.That(t, "a create in flight", func() (bool, string) {
				n := w.srv.Requests("POST", "/Users")
				return n > 0, fmt.Sprintf("%d POST /Users", n)
			})
			tc.change(w)
			w.waitActive("alice@example.org", false)
			w.waitActive("bob@example.org", true)
			eventually.That(t, "idle", w.idle)
			if a := w.account(alice.ID); a == nil || a.State != store.AccountDeactivated {
				t.Errorf("alice's account = %+v, want deactivated", a)
			}
		})
	}
}

// TestDeleteAfterRetention: an app that allows deletes deletes a
// deprovisioned user's account once the retention is over, not before.
func TestDeleteAfterRetention(t *testing.T) {
	w := newWorld(t, func(a *store.App) { a.AllowDelete = true; a.DeleteAfter = 1500 * time.Millisecond })
	w.start()
	staff(w)
	w.waitActive("carol@example.org", true)
	w.apply([]*store.Object{user("u3", "carol", func(o *store.Object) { o.Status = store.StatusDeprovisioned })})
	w.waitActive("carol@example.org", false)
	start := time.Now()
	eventually.That(w.t, "carol deleted", func() (bool, string) { _, ok := w.remote("carol@example.org"); return !ok, w.describeJobs() })
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("deleted %v after the deactivation, before the retention of 1.5 s", waited)
	}
	carol := w.hubUser("carol").ID
	eventually.That(w.t, "carol's account recorded deleted", func() (bool, string) {
		a := w.account(carol)
		return a != nil && a.State == store.AccountDeleted, fmt.Sprintf("%+v", w.account(carol))
	})
	if n := w.srv.UserCount(); n != 2 {
		t.Errorf("the app holds %d users, want 2", n)
	}
}

// TestManualTask: an app that cannot deactivate gets one manual deprovision
// task per account, and the account stays as it is.
func TestManualTask(t *testing.T) {
	w := newWorld(t, func(a *store.App) { a.AllowDeactivate = false })
	w.start()
	_, bob, _ := staff(w)
	w.waitActive("bob@example.org", true)
	w.apply([]*store.Object{user("u2", "bob", func(o *store.Object) { o.Status = store.StatusDeprovisioned })})
	var tasks []*store.Task
	eventually.That(w.t, "a task for bob", func() (bool, string) {
		tasks, _ = w.st.ListTasks(t.Context(), store.TaskFilter{AppID: w.app.ID, State: store.TaskOpen})
		return len(tasks) == 1, w.describeJobs()
	})
	if tasks[0].UserID != bob.ID || tasks[0].Kind != "deprovision" || !strings.Contains(tasks[0].Detail, "bob@example.org") {
		t.Errorf("task = %+v, want bob's deprovision naming his account", tasks[0])
	}
	// Pushing again opens no second task.
	w.changed()
	eventually.That(w.t, "idle", w.idle)
	if ts, _ := w.st.ListTasks(t.Context(), store.TaskFilter{AppID: w.app.ID}); len(ts) != 1 {
		t.Errorf("%d tasks, want 1", len(ts))
	}
	if r, _ := w.remote("bob@example.org"); !active(r) {
		t.Errorf("bob was deactivated by an app that does not allow it: %v", r)
	}
}

// TestGroupPush: a pushed group follows membership by difference, users
// first, nested members included.
func TestGroupPush(t *testing.T) {
	w := newWorld(t, func(a *store.App) { a.PushGroups = true })
	w.start()
	w.apply([]*store.Object{user("u1", "alice"), user("u2", "bob"), user("u3", "carol"), user("u4", "dave"),
		group("g2", "contractors", "uid=dave,ou=People,dc=example,dc=org"),
		group("g1", "staff", "uid=alice,ou=People,dc=example,dc=org", "uid=bob,ou=People,dc=example,dc=org",
			"cn=contractors,ou=Groups,dc=example,dc=org")})
	w.assign(store.AssignGroup, w.hubGroup("staff").ID)
	want := func(names ...string) { t.Helper(); w.wantGroup("staff", names...) }
	want("alice@example.org", "bob@example.org", "dave@example.org")
	if n := len(w.srv.Groups()); n != 1 {
		t.Errorf("the app holds %d groups, want 1", n)
	}
	eventually.That(w.t, "idle", w.idle)
	patches := w.srv.Requests("PATCH", "/Groups")

	// bob leaves, carol joins: one diff.
	w.apply([]*store.Object{group("g1", "staff", "uid=alice,ou=People,dc=example,dc=org", "uid=carol,ou=People,dc=example,dc=org",
		"cn=contractors,ou=Groups,dc=example,dc=org")})
	want("alice@example.org", "carol@example.org", "dave@example.org")
	eventually.That(w.t, "idle", w.idle)
	if n := w.srv.Requests("PATCH", "/Groups") - patches; n != 2 {
		t.Errorf("%d PATCH /Groups for one member out and one in, want 2 (removals, then additions)", n)
	}
	// bob is out of scope now: deactivated.
	w.waitActive("bob@example.org", false)

	// The group unassigned: emptied (deletes are off).
	w.unassign(store.AssignGroup, w.hubGroup("staff").ID)
	want()
	if n := len(w.srv.Groups()); n != 1 {
		t.Errorf("the app holds %d groups, want the emptied one", n)
	}
}

// TestAssignReadsTheScopeOnce: an admin's assign counts the users in the
// app's scope, and the scope job it queues finds them in the app's scope
// cache rather than reading them all again (with nothing changed between
// the two); the pushes that follow ask that cache too.
func TestAssignReadsTheScopeOnce(t *testing.T) {
	w := newWorld(t, nil)
	w.start()
	w.apply([]*store.Object{user("u1", "alice"), user("u2", "bob"), user("u3", "carol"),
		group("g1", "staff", "uid=alice,ou=People,dc=example,dc=org", "uid=bob,ou=People,dc=example,dc=org")})
	// The app's runner is up once it has looked at the queue, and the
	// engine has read the feed to its end: a change read after the assign
	// would queue pushes of its own, whose scope question could come
	// before the assign's read is kept.
	eventually.That(t, "the app's runner looks at the queue", func() (bool, string) { return w.claims.Load() > 0, "" })
	w.feedRead()
	eventually.That(t, "idle", w.idle)
	log := slog.New(slog.DiscardHandler)
	apps := provision.NewApps(provision.AppsConfig{Store: w.counted(), Engine: w.eng, Box: w.box, Audit: audit.New(w.st, log), Log: log})
	before := w.scopeReads.Load()
	n, err := apps.Assign(t.Context(), w.app, provision.Assignee{Kind: store.AssignGroup, ID: w.hubGroup("staff").ID, Name: "staff"}, "admin:test")
	if err != nil || n != 2 {
		t.Fatalf("Assign(staff) = %d users in scope, %v; want 2", n, err)
	}
	w.waitActive("alice@example.org", true)
	w.waitActive("bob@example.org", true)
	eventually.That(t, "idle", w.idle)
	if got := w.scopeReads.Load() - before; got != 1 {
		t.Errorf("the assign and the pushes it made read the app's scope %d times, want 1", got)
	}
	if _, ok := w.remote("carol@example.org"); ok {
		t.Errorf("carol, in no assigned group, has an account")
	}
}

// TestScopeQueuesInParts: the scope job of an assign queues its users'
// pushes in parts of a thousand, each its own commit, so that the first
// pushes start while the rest are queued; every user is queued once and
// pushed once.
func TestScopeQueuesInParts(t *testing.T) {
	const users = 2500
	w := newWorld(t, nil)
	w.start()
	objs := make([]*store.Object, 0, users+1)
	var members []string
	for i := range users {
		name := fmt.Sprintf("user%04d", i)
		objs = append(objs, user(fmt.Sprintf("u%04d", i), name))
		members = append(members, "uid="+name+",ou=People,dc=example,dc=org")
	}
	w.apply(append(objs, group("g1", "everyone", members...)))
	// Read to its end, the feed queues no pushes of its own after the
	// assign.
	w.feedRead()
	eventually.That(t, "idle", w.idle)
	before, queuedBefore := w.userEnqueues.Load(), w.usersEnqueued.Load()
	w.assign(store.AssignGroup, w.hubGroup("everyone").ID)
	eventually.That(t, "every user pushed", func() (bool, string) {
		n := w.srv.UserCount()
		return n == users, fmt.Sprintf("the app holds %d users", n)
	})
	eventually.That(t, "idle", w.idle)
	if got := w.userEnqueues.Load() - before; got != 3 {
		t.Errorf("the scope job queued its %d users in %d commits, want 3 (parts of 1,000)", users, got)
	}
	if got := w.usersEnqueued.Load() - queuedBefore; got != users {
		t.Errorf("the scope job queued %d user jobs, want %d", got, users)
	}
	if got := w.srv.Requests("POST", "/Users"); got != users {
		t.Errorf("the app got %d creates, want %d", got, users)
	}
}

// TestConflictAdopts: a 409 on create adopts the one account of that
// userName (compared case-insensitively) and brings it in line.
func TestConflictAdopts(t *testing.T) {
	w := newWorld(t, nil)
	id, err := w.srv.SeedUser(map[string]any{"userName": "ALICE@example.org", "title": "old title", "active": true})
	if err != nil {
		t.Fatal(err)
	}
	w.start()
	w.apply([]*store.Object{user("u1", "alice")})
	alice := w.hubUser("alice")
	w.assign(store.AssignUser, alice.ID)
	eventually.That(w.t, "alice adopted", func() (bool, string) {
		a := w.account(alice.ID)
		return a != nil && a.RemoteID == id && a.State == store.AccountActive, w.describeJobs()
	})
	eventually.That(w.t, "alice's title", func() (bool, string) {
		r, _ := w.srv.User(id)
		return str(r, "title") == "Engineer" && str(r, "name", "givenName") == "Given alice", fmt.Sprint(r)
	})
	if n := w.srv.UserCount(); n != 1 {
		t.Errorf("the app holds %d users, want 1 (adopted, not duplicated)", n)
	}
}

// TestLostResponse: a POST that commits but whose answer is lost (502)
// creates no duplicate.
func TestLostResponse(t *testing.T) {
	w := newWorld(t, nil)
	w.srv.Inject(scimtest.Fault{Method: "POST", PathPrefix: "/Users", Commit: true, Status: 502, Times: 2})
	w.start()
	w.apply([]*store.Object{user("u1", "alice")})
	alice := w.hubUser("alice")
	w.assign(store.AssignUser, alice.ID)
	w.waitActive("alice@example.org", true)
	eventually.That(w.t, "idle", w.idle)
	if n := w.srv.UserCount(); n != 1 {
		t.Errorf("the app holds %d users, want 1", n)
	}
	r, _ := w.remote("alice@example.org")
	if a := w.account(alice.ID); a == nil || a.RemoteID != str(r, "id") {
		t.Errorf("account %+v does not name the app's user %s", a, str(r, "id"))
	}
}

// TestRetries: 500s are retried, a 429 with a long Retry-After re-queues
// the job instead of holding a worker, a 400 is dead-lettered at once
// without stopping the queue, and a dead job retried succeeds.
func TestRetries(t *testing.T) {
	w := newWorld(t, nil)
	w.srv.Inject(scimtest.Fault{Method: "POST", PathPrefix: "/Users", Status: 500, Times: 3})
	w.start()
	w.apply([]*store.Object{user("u1", "alice")})
	w.assign(store.AssignUser, w.hubUser("alice").ID)
	w.waitActive("alice@example.org", true)
	if n := w.srv.Requests("POST", "/Users"); n != 4 {
		t.Errorf("%d POST /Users, want 3 refused and 1 served", n)
	}

	w.srv.Inject(scimtest.Fault{Method: "POST", PathPrefix: "/Users", Status: 429, RetryAfter: "2"})
	start := time.Now()
	w.apply([]*store.Object{user("u2", "bob")})
	w.assign(store.AssignUser, w.hubUser("bob").ID)
	w.waitActive("bob@example.org", true)
	if waited := time.Since(start); waited < 1500*time.Millisecond {
		t.Errorf("bob created %v after a 429 asking for 2 s", waited)
	}
	if !strings.Contains(w.logs.String(), "the app asked to wait") {
		t.Errorf("the 429's long Retry-After did not re-queue the job")
	}

	// A 400 is not retried; carol's neighbour dave still goes through.
	w.srv.Inject(scimtest.Fault{Method: "POST", PathPrefix: "/Users", Status: 400})
	w.apply([]*store.Object{user("u3", "carol")})
	w.assign(store.AssignUser, w.hubUser("carol").ID)
	var dead []*store.Job
	eventually.That(w.t, "a dead job", func() (bool, string) { dead = w.jobs(store.JobDead); return len(dead) == 1, w.describeJobs() })
	if dead[0].Attempts != 1 || !strings.Contains(dead[0].LastError, "400") {
		t.Errorf("dead job %+v, want one attempt and the 400 in its error", dead[0])
	}
	w.apply([]*store.Object{user("u4", "dave")})
	w.assign(store.AssignUser, w.hubUser("dave").ID)
	w.waitActive("dave@example.org", true)
	if n, err := w.st.RequeueDead(t.Context(), w.app.ID, 0, time.Now()); err != nil || n != 1 {
		t.Fatalf("RequeueDead = %d, %v", n, err)
	}
	w.eng.Wake(w.app.ID)
	w.waitActive("carol@example.org", true)

	// The trail: alice's three refused POSTs and carol's dead letter
	// failed, every create succeeded (carol's is recorded just after the
	// app has her).
	eventually.That(t, "every create in the audit trail", func() (bool, string) {
		n := len(w.audit("push.succeeded"))
		return n >= 4, fmt.Sprintf("%d push.succeeded events", n)
	})
	var failed, deadLetters int
	for _, e := range w.audit("push.failed") {
		if e.Outcome != store.AuditFailed || e.Target != "app:"+w.app.Name {
			t.Errorf("push.failed event %+v: want outcome failed on app:%s", e, w.app.Name)
		}
		if strings.Contains(e.Detail, "dead-lettered") {
			deadLetters++
		} else if strings.Contains(e.Detail, "500") {
			failed++
		}
	}
	if failed != 3 || deadLetters != 1 {
		t.Errorf("audit: %d failed attempts with a 500 and %d dead letters, want 3 and 1", failed, deadLetters)
	}
	if n := len(w.audit("push.succeeded")); n != 4 {
		t.Errorf("audit: %d push.succeeded events, want 4 (alice, bob, carol, dave created)", n)
	}
	// The activity counts them under the app (an app-admin limited to
	// it sees them), and under no other.
	for _, c := range []struct {
		apps                    []int64
		wantSucceeded, wantFail int64
	}{{[]int64{w.app.ID}, 4, 4}, {[]int64{w.app.ID + 1}, 0, 0}} {
		counts, err := w.st.Activity(t.Context(), time.Now().Add(-time.Hour), store.ActivityFilter{OnlyApps: true, Apps: c.apps})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, a := range counts {
			got[a.Kind] += a.N
		}
		if got[store.ActivityPushSucceeded] != c.wantSucceeded || got[store.ActivityPushFailed] != c.wantFail {
			t.Errorf("activity of apps %v: %v, want %d pushes succeeded and %d failed", c.apps, got, c.wantSucceeded, c.wantFail)
		}
	}
}

// TestUnauthorizedPauses: a 401 pauses the whole app with a clear status;
// new credentials resume it and everything queued is delivered.
func TestUnauthorizedPauses(t *testing.T) {
	w := newWorld(t, nil)
	w.start()
	const newToken = "scim-token-rotated-5c1e"
	w.srv.AddToken(newToken) // the server is open with no token at all
	w.srv.RevokeToken(testToken)
	staff(w)
	eventually.That(w.t, "app paused", func() (bool, string) {
		a, _ := w.st.GetAppByID(t.Context(), w.app.ID)
		return a.Status == store.AppPaused, w.describeJobs()
	})
	a, _ := w.st.GetAppByID(t.Context(), w.app.ID)
	if !strings.Contains(a.StatusMessage, "401") || !strings.Contains(a.StatusMessage, "app update") {
		t.Errorf("status message %q does not say 401 and how to resume", a.StatusMessage)
	}
	sent := w.srv.Requests("", "/Users")
	// The engine looks at the queue every 50 ms: three more looks, and a
	// paused app would have been sent what was queued.
	looked := w.claims.Load()
	eventually.That(t, "the engine to look at the queue again", func() (bool, string) {
		n := w.claims.Load() - looked
		return n >= 3, fmt.Sprintf("%d looks", n)
	})
	if n := w.srv.Requests("", "/Users") - sent; n > 4 {
		t.Errorf("%d requests to a paused app (only those in flight may end)", n)
	}

	w.token = newToken
	w.updateApp(func(a *store.App) {
		a.Secret = w.box.Seal([]byte(newToken), "app-secret:"+a.Name)
	})
	if err := w.st.SetAppStatus(t.Context(), w.app.ID, store.AppActive, ""); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"alice", "bob", "carol"} {
		w.waitActive(n+"@example.org", true)
	}
	if strings.Contains(w.logs.String(), newToken) {
		t.Errorf("the new token appears in the log")
	}
}

// TestRestartDelivers: jobs queued while no hub runs, and a hub stopped
// with jobs in flight, are all delivered after a restart.
func TestRestartDelivers(t *testing.T) {
	w := newWorld(t, nil)
	var objs []*store.Object
	var dns []string
	for i := range 40 {
		name := fmt.Sprintf("user%02d", i)
		objs = append(objs, user(fmt.Sprintf("u%02d", i), name))
		dns = append(dns, "uid="+name+",ou=People,dc=example,dc=org")
	}
	w.apply(append(objs, group("g1", "all", dns...)))
	w.assign(store.AssignGroup, w.hubGroup("all").ID) // queued, no engine
	w.srv.SetLatency(20 * time.Millisecond)
	w.start()
	eventually.That(w.t, "some created", func() (bool, string) { return w.srv.UserCount() >= 5, w.describeJobs() })
	w.restart()
	w.srv.SetLatency(0)
	eventually.That(w.t, "all 40 created", func() (bool, string) { return w.srv.UserCount() == 40, w.describeJobs() })
	eventually.That(w.t, "idle", w.idle)
	accts, err := w.st.ListAccounts(t.Context(), store.AccountFilter{AppID: w.app.ID, State: store.AccountActive})
	if err != nil || len(accts) != 40 {
		t.Errorf("%d active accounts, %v; want 40", len(accts), err)
	}
}

// TestAppDownConverges: while the app refuses connections the pushes back
// off; when it is back they all arrive.
func TestAppDownConverges(t *testing.T) {
	w := newWorld(t, nil)
	w.start()
	w.srv.Down()
	staff(w)
	eventually.That(w.t, "retries", func() (bool, string) {
		for _, j := range w.jobs() {
			if j.Attempts >= 2 && j.LastError != "" {
				return true, ""
			}
		}
		return false, w.describeJobs()
	})
	if err := w.srv.Up(); err != nil {
		t.Fatal(err)
	}
	// Jobs that gave up meanwhile are retried as an admin would.
	if _, err := w.st.RequeueDead(t.Context(), w.app.ID, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	w.eng.Wake(w.app.ID)
	for _, n := range []string{"alice", "bob", "carol"} {
		w.waitActive(n+"@example.org", true)
	}
}

// TestImportFromApp: the app's existing accounts are correlated by userName
// (or email), linked, and the first push updates them instead of creating
// duplicates; the rest are listed.
func TestImportFromApp(t *testing.T) {
	for _, by := range []string{"userName", "email"} {
		t.Run(by, func(t *testing.T) {
			w := newWorld(t, func(a *store.App) { a.MatchBy = by })
			seed := func(name, mail string) string {
				id, err := w.srv.SeedUser(map[string]any{"userName": name, "title": "from the app", "active": true,
					"emails": []any{map[string]any{"value": mail, "type": "work", "primary": true}}})
				if err != nil {
					t.Fatal(err)
				}
				return id
			}
			// By userName the app's userName matches alice's mapped one; by
			// email only the email does.
			var aliceID string
			if by == "userName" {
				aliceID = seed("Alice@Example.org", "a.lovelace@elsewhere.example")
			} else {
				aliceID = seed("a.lovelace", "ALICE@example.org")
			}
			seed("stranger@example.org", "stranger@example.org")
			w.apply([]*store.Object{user("u1", "alice"), user("u2", "bob")})
			alice := w.hubUser("alice")
			w.assign(store.AssignUser, alice.ID)
			w.assign(store.AssignUser, w.hubUser("bob").ID)
			res, err := w.eng.ImportFromApp(t.Context(), w.app)
			if err != nil {
				t.Fatal(err)
			}
			wantRead := 2
			if res.Read != wantRead || res.Linked != 1 || len(res.Unmatched) != wantRead-1 {
				t.Errorf("import = read %d linked %d unmatched %v; want read %d, linked 1", res.Read, res.Linked, res.Unmatched, wantRead)
			}
			if a := w.account(alice.ID); a == nil || a.RemoteID != aliceID || !a.Linked {
				t.Errorf("alice's account = %+v, want linked to %s", a, aliceID)
			}
			un, _ := w.st.ListUnmatched(t.Context(), w.app.ID)
			if len(un) != len(res.Unmatched) {
				t.Errorf("%d unmatched stored, %d returned", len(un), len(res.Unmatched))
			}
			w.start()
			w.waitActive("bob@example.org", true)
			eventually.That(w.t, "alice updated", func() (bool, string) {
				r, _ := w.srv.User(aliceID)
				return str(r, "title") == "Engineer", w.describeJobs()
			})
			eventually.That(w.t, "idle", w.idle)
			if n := w.srv.Requests("POST", "/Users"); n != 1 {
				t.Errorf("%d POST /Users, want 1 (bob; alice was linked)", n)
			}
			// Importing again links nothing new.
			res, err = w.eng.ImportFromApp(t.Context(), w.app)
			if err != nil || res.Linked != 0 || res.AlreadyLinked != 2 {
				t.Errorf("second import = %+v, %v; want 2 already linked", res, err)
			}
		})
	}
}

// TestReconcileRepairsDrift: a full reconcile sets back what was changed in
// the app and creates again what was deleted there.
func TestReconcileRepairsDrift(t *testing.T) {
	w := newWorld(t, nil)
	w.start()
	alice, bob, _ := staff(w)
	w.waitActive("carol@example.org", true)
	eventually.That(w.t, "idle", w.idle)
	c, err := scim.New(w.srv.URL, scim.Auth{Kind: scim.AuthBearer, Token: testToken}, scim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	aliceID := w.account(alice.ID).RemoteID
	if _, err := c.PatchUser(t.Context(), aliceID, []scim.PatchOp{{Op: "replace", Path: "title", Value: "changed in the app"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteUser(t.Context(), w.account(bob.ID).RemoteID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.st.Enqueue(t.Context(), w.app.ID, store.JobReconcile, "full", time.Now()); err != nil {
		t.Fatal(err)
	}
	w.eng.Wake(w.app.ID)
	eventually.That(w.t, "alice's title set back", func() (bool, string) {
		r, _ := w.srv.User(aliceID)
		return str(r, "title") == "Engineer", w.describeJobs()
	})
	w.waitActive("bob@example.org", true)
	if n := w.srv.UserCount(); n != 3 {
		t.Errorf("the app holds %d users, want 3", n)
	}
}

// TestPreview: the exact request the next push would send.
func TestPreview(t *testing.T) {
	w := newWorld(t, nil)
	w.start()
	w.apply([]*store.Object{user("u1", "alice")})
	alice := w.hubUser("alice")
	p, err := w.eng.Preview(t.Context(), w.app, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Action != "none" || !strings.Contains(p.Reason, "not assigned") {
		t.Errorf("unassigned preview = %+v, want none: not assigned", p)
	}
	w.assign(store.AssignUser, alice.ID)
	w.stop()
	p, err = w.eng.Preview(t.Context(), w.app, alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Action != "create" || p.Request != "POST /Users" || !strings.Contains(p.Body, `"userName": "alice@example.org"`) ||
		!strings.Contains(p.Body, `"externalId": "`+alice.ID+`"`) {
		t.Errorf("preview = %+v", p)
	}
	if n := w.srv.Requests("", ""); n != 0 {
		t.Errorf("preview sent %d requests", n)
	}
}
