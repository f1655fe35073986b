package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
)

var holdTests = []test{
	{"Deactivate", testHoldDeactivate},
	{"Suspend", testHoldSuspend},
	{"Purge", testPurge},
	{"PurgeMarksTheGroup", testPurgeMarksTheGroup},
}

// testPurge: a deprovisioned user is due for purge once its directory's
// retention has run out; purged, it is gone with its member rows (one
// audit event kept), and the same external id later makes a new user. A
// user restored meanwhile is not purged. The directory keeps its
// retention.
func testPurge(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	f.dir.Retention = 30 * 24 * time.Hour
	must(t, "UpdateDirectory", s.UpdateDirectory(ctx, f.dir))
	if d, err := s.GetDirectory(ctx, "corp"); err != nil || d.Retention != 30*24*time.Hour {
		t.Errorf("retention read back: %v, %v; want 720h", d.Retention, err)
	}
	capture := f.run(store.RunIncremental)
	alice, bob := newUser("u1", "alice"), newUser("u2", "bob")
	f.upsert(capture, alice, bob, newGroup("g1", "staff", dnMember(alice.DN), dnMember(bob.DN)))
	f.apply(capture, store.Batch{Deletes: []string{"u1", "u2"}})
	gone := f.user("alice")
	if due, err := s.PurgeDue(ctx, f.dir.ID, gone.DeprovisionedAt.Add(-time.Second), 10); err != nil || len(due) != 0 {
		t.Errorf("PurgeDue before the retention ran out: %d, %v; want none", len(due), err)
	}
	due, err := s.PurgeDue(ctx, f.dir.ID, gone.DeprovisionedAt.Add(time.Second), 10)
	must(t, "PurgeDue", err)
	if len(due) != 2 {
		t.Fatalf("PurgeDue after: %d users, want alice and bob", len(due))
	}
	// bob comes back before his purge: not purged.
	f.upsert(capture, bob)
	_, err = s.PurgeUser(ctx, f.user("bob").ID, "hub")
	wantErr(t, "PurgeUser(restored)", err, store.ErrConflict)

	// alice has an account in an app (assigned to her directly) and one
	// another app already deleted: the purge keeps the live account's row
	// and queues its job, in its own transaction, so that the account
	// goes from the app even if the hub stops right after.
	app, old := newApp(t, s, "wiki"), newApp(t, s, "old-wiki")
	must(t, "Assign", s.Assign(ctx, store.Assignment{AppID: app.ID, Kind: store.AssignUser, TargetID: gone.ID}))
	must(t, "PutAccount", s.PutAccount(ctx, &store.Account{AppID: app.ID, UserID: gone.ID, RemoteID: "r-alice", State: store.AccountDeactivated}))
	must(t, "PutAccount", s.PutAccount(ctx, &store.Account{AppID: old.ID, UserID: gone.ID, RemoteID: "r-old", State: store.AccountDeleted}))

	purged, err := s.PurgeUser(ctx, gone.ID, "hub")
	must(t, "PurgeUser", err)
	if acct, err := s.GetAccount(ctx, app.ID, gone.ID); err != nil || acct.RemoteID != "r-alice" {
		t.Errorf("the purged user's account: %+v, %v; want kept until its job deletes it in the app", acct, err)
	}
	for _, a := range []*store.App{app, old} {
		jobs, err := s.ListJobs(ctx, store.JobFilter{AppID: a.ID})
		must(t, "ListJobs", err)
		want := 0
		if a == app {
			want = 1
		}
		if len(jobs) != want || want == 1 && (jobs[0].Kind != store.JobUser || jobs[0].Target != gone.ID || jobs[0].State != store.JobQueued) {
			t.Errorf("jobs of app %s after the purge: %+v; want %d queued user job of %s", a.Name, jobs, want, gone.ID)
		}
	}
	// The job, once it deleted the account in the app, records that.
	must(t, "PutAccount(purged user's account)", s.PutAccount(ctx, &store.Account{AppID: app.ID, UserID: gone.ID,
		RemoteID: "r-alice", State: store.AccountDeleted}))
	wantErr(t, "PutAccount(purged user, new app)", s.PutAccount(ctx, &store.Account{AppID: newApp(t, s, "new-wiki").ID,
		UserID: gone.ID, State: store.AccountActive}), store.ErrNotFound)
	if as, err := s.ListAssignments(ctx, app.ID); err != nil || len(as) != 0 {
		t.Errorf("assignments of the app after the purge: %+v, %v; want the purged user's gone", as, err)
	}
	if purged.ID != gone.ID {
		t.Errorf("PurgeUser returned %s, want %s", purged.ID, gone.ID)
	}
	_, err = s.GetUser(ctx, gone.ID)
	wantErr(t, "GetUser(purged)", err, store.ErrNotFound)
	if got := memberValues(f.members(f.group("staff").ID)); len(got) != 1 || got[0] != bob.DN {
		t.Errorf("staff lists %q after alice's purge, want bob alone", got)
	}
	events, err := s.ListAudit(ctx, store.AuditFilter{Action: "user.purged"})
	must(t, "ListAudit", err)
	if len(events) != 1 || !strings.Contains(events[0].Detail, gone.ID) || !strings.Contains(events[0].Detail, "corp") {
		t.Errorf("audit: %+v, want one user.purged naming the id and the directory", events)
	}
	_, err = s.PurgeUser(ctx, gone.ID, "hub")
	wantErr(t, "PurgeUser(again)", err, store.ErrNotFound)
	f.upsert(capture, alice)
	if again := f.user("alice"); again.ID == gone.ID {
		t.Errorf("alice back after her purge kept the old id %s, want a new user", gone.ID)
	}
}

// testPurgeMarksTheGroup: a purge that takes the purged user's rows out
// of a directory's group — one that still lists it, as OpenLDAP without
// refint does after a delete — marks the group, so that the next read of
// it, listing the same members as before, writes it whole instead of
// counting it unchanged: the hub's group is the directory's again, and a
// user made later at that DN is in it. A read after that is unchanged.
func testPurgeMarksTheGroup(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	capture := f.run(store.RunIncremental)
	alice, bob := newUser("u1", "alice"), newUser("u2", "bob")
	staff := newGroup("g1", "staff", dnMember(alice.DN), dnMember(bob.DN))
	untouched := newGroup("g2", "untouched", dnMember(bob.DN))
	f.upsert(capture, alice, bob, staff, untouched)
	f.apply(capture, store.Batch{Deletes: []string{"u1"}})
	_, err := s.PurgeUser(ctx, f.user("alice").ID, "hub")
	must(t, "PurgeUser", err)
	if got := memberValues(f.members(f.group("staff").ID)); !slices.Equal(got, []string{bob.DN}) {
		t.Fatalf("staff lists %q after alice's purge, want bob alone", got)
	}

	// alice again at her DN, a new object; the directory's staff, read
	// whole, lists her still.
	full := f.run(store.RunFull)
	res := f.apply(full, store.Batch{Upserts: []*store.Object{newUser("u3", "alice"), bob, staff, untouched}})
	if res.Created != 1 || res.Updated != 1 || res.Unchanged != 2 {
		t.Errorf("a full read after the purge: %+v, want alice created, staff rewritten, bob and untouched unchanged", res)
	}
	if got, want := sortedLower(memberValues(f.members(f.group("staff").ID))), sortedLower([]string{alice.DN, bob.DN}); !slices.Equal(got, want) {
		t.Errorf("staff lists %q after the read, want %q", got, want)
	}
	groups, err := s.UserGroups(ctx, f.user("alice").ID)
	must(t, "UserGroups", err)
	if len(groups) != 1 || groups[0].Name != "staff" {
		t.Errorf("the new alice is in %+v, want staff", groups)
	}
	f.end(full)
	again := f.run(store.RunFull)
	if res := f.apply(again, store.Batch{Upserts: []*store.Object{staff}}); res.Unchanged != 1 {
		t.Errorf("the next read of staff: %+v, want it unchanged", res)
	}
}

// testHoldDeactivate: an admin's hold keeps a user deprovisioned whatever
// its directory says — a change of it, or the same object again, leaves
// it so — until lifted, when it takes its source's status; each change of
// status is a real write in the change feed, audited by the admin.
func testHoldDeactivate(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	capture := f.run(store.RunIncremental)
	alice := newUser("u1", "alice")
	f.upsert(capture, alice)
	u := f.user("alice")
	pos, err := s.FeedPosition(ctx)
	must(t, "FeedPosition", err)

	admin := f.run(store.RunAdmin)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	held, err := s.SetHold(ctx, u.ID, store.Hold{Status: store.StatusDeprovisioned, By: "admin:ann", Reason: "left in a hurry", At: at,
		Role: "super-admin"}, "user.deactivated", admin.ID)
	must(t, "SetHold", err)
	if held.Status != store.StatusDeprovisioned || held.SourceStatus != store.StatusActive || held.Hold.By != "admin:ann" ||
		held.Hold.Role != "super-admin" || f.user("alice").Hold.Role != "super-admin" ||
		held.Hold.Reason != "left in a hurry" || !sameTime(held.Hold.At, at) || held.DeprovisionedAt.IsZero() || held.Revision != u.Revision+1 {
		t.Errorf("held: %+v, want deprovisioned by admin:ann as super-admin (source active), revision %d", held, u.Revision+1)
	}
	changes, _, err := s.Changes(ctx, pos, 10)
	must(t, "Changes", err)
	if len(changes) != 1 || changes[0].ObjectID != u.ID {
		t.Errorf("the feed after the hold: %+v, want alice once", changes)
	}
	events, err := s.ListAudit(ctx, store.AuditFilter{Action: "user.deactivated"})
	must(t, "ListAudit", err)
	if len(events) != 1 || events[0].Actor != "admin:ann" || !strings.Contains(events[0].Detail, "left in a hurry") {
		t.Errorf("audit: %+v, want user.deactivated by admin:ann with the reason", events)
	}

	// The directory says she is active, with a new title: her profile
	// follows, her status does not.
	same := f.upsert(capture, alice)
	if same.Unchanged != 1 {
		t.Errorf("the same object again: %+v, want unchanged (the hold is no change of the source)", same)
	}
	changed := clone(alice)
	changed.Profile.Title = "Lead"
	f.upsert(capture, rehash(changed))
	if got := f.user("alice"); got.Status != store.StatusDeprovisioned || got.Title != "Lead" || got.SourceStatus != store.StatusActive {
		t.Errorf("after a change in the directory: %s (source %s), title %q; want deprovisioned, active, Lead", got.Status, got.SourceStatus, got.Title)
	}
	if restored, err := s.ListAudit(ctx, store.AuditFilter{Action: "user.restored"}); err != nil || len(restored) != 0 {
		t.Errorf("user.restored events while held: %+v, %v", restored, err)
	}
	// Held while the directory still has her: never due for purge (purged,
	// she would come back from the directory active, the hold lost).
	if due, err := s.PurgeDue(ctx, f.dir.ID, time.Now().Add(24*time.Hour), 10); err != nil || len(due) != 0 {
		t.Errorf("PurgeDue with alice held and in her directory: %d users, %v; want none", len(due), err)
	}
	_, err = s.PurgeUser(ctx, u.ID, "hub")
	wantErr(t, "PurgeUser(held, in her directory)", err, store.ErrConflict)

	// Lifted: her source's status.
	lifted, err := s.SetHold(ctx, u.ID, store.Hold{By: "admin:ann"}, "user.reactivated", admin.ID)
	must(t, "SetHold(lift)", err)
	if lifted.Status != store.StatusActive || lifted.Hold.Status != "" || lifted.Hold.Role != "" || !lifted.DeprovisionedAt.IsZero() {
		t.Errorf("lifted: %+v, want active, no hold (nor its role)", lifted)
	}
	_, err = s.SetHold(ctx, "no-such-user", store.Hold{Status: store.StatusDeprovisioned}, "user.deactivated", admin.ID)
	wantErr(t, "SetHold(unknown)", err, store.ErrNotFound)
}

// testHoldSuspend: a suspension hold yields to a delete in the directory
// (deprovisioned is stronger), and lifting it then leaves the user
// deprovisioned; a full run's sweep while a user is held records that the
// directory no longer has it.
func testHoldSuspend(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	capture := f.run(store.RunIncremental)
	bob, carol := newUser("u2", "bob"), newUser("u3", "carol")
	f.upsert(capture, bob, carol)
	admin := f.run(store.RunAdmin)
	held, err := s.SetHold(ctx, f.user("bob").ID, store.Hold{Status: store.StatusSuspended, By: "admin:ann"}, "user.suspended", admin.ID)
	must(t, "SetHold", err)
	if held.Status != store.StatusSuspended {
		t.Errorf("suspended: %s, want suspended", held.Status)
	}
	f.apply(capture, store.Batch{Deletes: []string{"u2"}})
	if got := f.user("bob"); got.Status != store.StatusDeprovisioned || got.SourceStatus != store.StatusDeprovisioned {
		t.Errorf("deleted while suspended: %s (source %s), want deprovisioned", got.Status, got.SourceStatus)
	}
	lifted, err := s.SetHold(ctx, f.user("bob").ID, store.Hold{By: "admin:ann"}, "user.unsuspended", admin.ID)
	must(t, "SetHold(lift)", err)
	if lifted.Status != store.StatusDeprovisioned {
		t.Errorf("lifted after the delete: %s, want deprovisioned", lifted.Status)
	}

	// carol held deprovisioned, then gone from a full read: her source
	// says so too.
	_, err = s.SetHold(ctx, f.user("carol").ID, store.Hold{Status: store.StatusDeprovisioned, By: "admin:ann"}, "user.deactivated", admin.ID)
	must(t, "SetHold(carol)", err)
	f.end(capture)
	full := f.run(store.RunFull)
	f.upsert(full, newUser("u4", "dave"))
	_, err = s.Sweep(ctx, full.ID, []store.RunState{store.RunRunning}, "done")
	must(t, "Sweep", err)
	if got := f.user("carol"); got.Status != store.StatusDeprovisioned || got.SourceStatus != store.StatusDeprovisioned {
		t.Errorf("swept while held: %s (source %s), want deprovisioned both", got.Status, got.SourceStatus)
	}
}
