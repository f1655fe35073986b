package provision_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/server/scim"
	"github.com/idsync/idsync/server/store"
)

// The tests of this file run against both SCIM implementations (scimtest's
// Server and Plain, built from elimity-com/scim apart from it), and read
// the app through a SCIM client, as any other client would.

// client is a SCIM client of the world's app.
func (w *world) client() *scim.Client {
	w.t.Helper()
	c, err := scim.New(w.url, scim.Auth{Kind: scim.AuthBearer, Token: w.token}, scim.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

// remoteGroup is a group as the app holds it: its name and its members'
// userNames, sorted.
type remoteGroup struct {
	name    string
	members []string
}

func (g remoteGroup) String() string { return g.name + " " + fmt.Sprint(g.members) }

// appGroups reads every group of the app, ordered by name.
func (w *world) appGroups() []remoteGroup {
	w.t.Helper()
	c := w.client()
	var out []remoteGroup
	err := c.ListGroups(w.t.Context(), scim.ListOptions{}, func(r scim.Resource) error {
		g := remoteGroup{name: r.DisplayName()}
		for _, id := range r.Members() {
			u, err := c.GetUser(w.t.Context(), id)
			if err != nil {
				g.members = append(g.members, "?"+id)
				continue
			}
			g.members = append(g.members, u.UserName())
		}
		slices.Sort(g.members)
		out = append(out, g)
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b remoteGroup) int { return strings.Compare(a.name, b.name) })
	return out
}

// wantAppGroups waits for the app to hold exactly these groups, by name.
func (w *world) wantAppGroups(want ...remoteGroup) {
	w.t.Helper()
	eventually.That(w.t, fmt.Sprintf("the app holds %v", want), func() (bool, string) {
		got := w.appGroups()
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("the app holds %v\n%s", got, w.describeJobs())
	})
}

// pushedGroup is the hub's record of a pushed group.
func (w *world) pushedGroup(groupID string) *store.PushedGroup {
	w.t.Helper()
	pgs, err := w.st.ListPushedGroups(w.t.Context(), w.app.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, pg := range pgs {
		if pg.GroupID == groupID {
			return pg
		}
	}
	return nil
}

func users(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "uid=" + n + ",ou=People,dc=example,dc=org"
	}
	return out
}

func names(ns ...string) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n + "@example.org"
	}
	return out
}

// TestGroupRename: a group renamed in the directory (a new cn: the DN
// changes, the id stays) is renamed in the app — PATCH replace
// displayName, or PUT of the whole group where the app does not take
// PATCH — keeping the app's group and its members. Before, only members
// were compared, and a group push to an app without PATCH failed.
func TestGroupRename(t *testing.T) {
	for _, impl := range bothApps {
		for _, mode := range []string{"patch", "put"} {
			t.Run(impl.name+"/"+mode, func(t *testing.T) {
				w := newWorldOn(t, impl, func(a *store.App) { a.PushGroups, a.UpdateMode = true, mode })
				w.start()
				w.apply([]*store.Object{user("u1", "alice"), user("u2", "bob"), group("g1", "staff", users("alice", "bob")...)})
				staff := w.hubGroup("staff")
				w.assign(store.AssignGroup, staff.ID)
				w.wantAppGroups(remoteGroup{"staff", names("alice", "bob")})
				eventually.That(t, "idle", w.idle) // the job that created the group has recorded it
				remote := w.pushedGroup(staff.ID).RemoteID

				w.apply([]*store.Object{group("g1", "personnel", users("alice", "bob")...)})
				if g := w.hubGroup("personnel"); g.ID != staff.ID {
					t.Fatalf("the renamed group is %s, want %s (a rename is an update)", g.ID, staff.ID)
				}
				w.wantAppGroups(remoteGroup{"personnel", names("alice", "bob")})
				// The app has the new name before the job that sent it
				// records it: wait for the record.
				eventually.That(t, "the pushed group's record names personnel", func() (bool, string) {
					pg := w.pushedGroup(staff.ID)
					return pg != nil && pg.RemoteID == remote && pg.DisplayName == "personnel", fmt.Sprintf("pushed group %+v, want %s named personnel", pg, remote)
				})
				// Renamed and a member out at once.
				w.apply([]*store.Object{group("g1", "people", users("alice")...)})
				w.wantAppGroups(remoteGroup{"people", names("alice")})
				eventually.That(t, "idle", w.idle)
			})
		}
	}
}

// TestGroupDoesNotSpin: a member whose create is dead-lettered (a 409 no
// one can adopt: the app holds another account of that userName) leaves
// the group pushed with the members it can have, the member recorded as
// missing, and the queue empty — the group job used to run every 2 s
// forever. Once an admin clears the way and retries the member's push, its
// new account brings the group job back, and the member in.
func TestGroupDoesNotSpin(t *testing.T) {
	for _, impl := range bothApps {
		t.Run(impl.name, func(t *testing.T) {
			w := newWorldOn(t, impl, func(a *store.App) { a.PushGroups = true })
			squatter, err := w.client().CreateUser(t.Context(), scim.Resource{"userName": "bob@example.org", "externalId": "someone-else"})
			if err != nil {
				t.Fatal(err)
			}
			w.start()
			w.apply([]*store.Object{user("u1", "alice"), user("u2", "bob"), user("u3", "carol"),
				group("g1", "staff", users("alice", "bob", "carol")...)})
			staff, bob := w.hubGroup("staff"), w.hubUser("bob")
			w.assign(store.AssignGroup, staff.ID)
			w.wantAppGroups(remoteGroup{"staff", names("alice", "carol")})
			eventually.That(t, "the queue empty, bob's push dead", func() (bool, string) {
				idle, jobs := w.idle()
				dead := w.jobs(store.JobDead)
				return idle && len(dead) == 1 && dead[0].Target == bob.ID, jobs
			})
			if pg := w.pushedGroup(staff.ID); !slices.Equal(pg.Missing, []string{bob.ID}) {
				t.Errorf("pushed group %+v, want bob missing", pg)
			}
			for _, j := range w.jobs(store.JobDone) {
				if j.Kind == store.JobGroup && j.Attempts > 4 {
					t.Errorf("group job %d ran %d times, more than the queue's 4 attempts", j.ID, j.Attempts)
				}
			}

			// The admin deletes the other account and retries bob's push.
			if err := w.client().DeleteUser(t.Context(), squatter.ID()); err != nil {
				t.Fatal(err)
			}
			if n, err := w.st.RequeueDead(t.Context(), w.app.ID, 0, time.Now()); err != nil || n != 1 {
				t.Fatalf("RequeueDead = %d, %v", n, err)
			}
			w.eng.Wake(w.app.ID)
			w.wantAppGroups(remoteGroup{"staff", names("alice", "bob", "carol")})
			eventually.That(t, "idle, nothing missing", func() (bool, string) {
				idle, jobs := w.idle()
				pg := w.pushedGroup(staff.ID)
				return idle && len(pg.Missing) == 0, fmt.Sprintf("%+v\n%s", pg, jobs)
			})
		})
	}
}

// TestReconcileGroups: a full reconcile reads the pushed groups and sets
// back what was changed in the app by hand — a member removed, another
// added (an account idsync does not know), the group renamed — and
// records what it found as the group's drift. Before, reconcile compared
// users only.
func TestReconcileGroups(t *testing.T) {
	for _, impl := range bothApps {
		t.Run(impl.name, func(t *testing.T) {
			w := newWorldOn(t, impl, func(a *store.App) { a.PushGroups = true })
			w.start()
			w.apply([]*store.Object{user("u1", "alice"), user("u2", "bob"), group("g1", "staff", users("alice", "bob")...)})
			staff, bob := w.hubGroup("staff"), w.hubUser("bob")
			w.assign(store.AssignGroup, staff.ID)
			w.wantAppGroups(remoteGroup{"staff", names("alice", "bob")})
			eventually.That(t, "idle", w.idle)

			c := w.client()
			eve, err := c.CreateUser(t.Context(), scim.Resource{"userName": "eve@example.org"})
			if err != nil {
				t.Fatal(err)
			}
			remote := w.pushedGroup(staff.ID).RemoteID
			bobRemote := w.account(bob.ID).RemoteID
			if err := c.PatchGroupMembers(t.Context(), remote, []string{eve.ID()}, []string{bobRemote}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.PatchGroup(t.Context(), remote, []scim.PatchOp{{Op: "replace", Path: "displayName", Value: "renamed by hand"}}); err != nil {
				t.Fatal(err)
			}
			w.wantAppGroups(remoteGroup{"renamed by hand", []string{"alice@example.org", "eve@example.org"}})

			if _, err := w.st.Enqueue(t.Context(), w.app.ID, store.JobReconcile, "full", time.Now()); err != nil {
				t.Fatal(err)
			}
			w.eng.Wake(w.app.ID)
			w.wantAppGroups(remoteGroup{"staff", names("alice", "bob")})
			// The app is set back before the reconcile records its drift.
			eventually.That(t, "idle", w.idle)
			pg := w.pushedGroup(staff.ID)
			for _, want := range []string{"1 member(s) added in the app removed (" + eve.ID() + ")",
				"1 member(s) removed in the app put back (bob)", `renamed "renamed by hand" in the app`} {
				if !strings.Contains(pg.Drift, want) {
					t.Errorf("drift %q does not say %q", pg.Drift, want)
				}
			}
			if pg.DriftAt.IsZero() || pg.CheckedAt.Before(pg.CheckAt) {
				t.Errorf("pushed group %+v: want the drift's time, checked after the request", pg)
			}

			// A second reconcile finds nothing new: the drift stays what
			// was last found, the group as it is.
			before := pg.DriftAt
			if _, err := w.st.Enqueue(t.Context(), w.app.ID, store.JobReconcile, "full", time.Now()); err != nil {
				t.Fatal(err)
			}
			w.eng.Wake(w.app.ID)
			eventually.That(t, "the group checked again", func() (bool, string) {
				pg := w.pushedGroup(staff.ID)
				return !pg.CheckedAt.Before(pg.CheckAt) && pg.CheckedAt.After(before), fmt.Sprintf("%+v", pg)
			})
			if pg := w.pushedGroup(staff.ID); !pg.DriftAt.Equal(before) {
				t.Errorf("drift at %v after a reconcile that found none, want %v", pg.DriftAt, before)
			}
			w.wantAppGroups(remoteGroup{"staff", names("alice", "bob")})
		})
	}
}
