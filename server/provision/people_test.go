package provision_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/people"
	"github.com/idsync/idsync/server/store"
)

// deleteRemote deletes a user's account in the app, as the app's own admin
// would.
func (w *world) deleteRemote(name string) {
	w.t.Helper()
	r, ok := w.remote(name)
	if !ok {
		w.t.Fatalf("%s is not in the app", name)
	}
	req, err := http.NewRequestWithContext(w.t.Context(), http.MethodDelete, w.srv.URL+"/Users/"+str(r, "id"), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+w.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		w.t.Fatalf("DELETE %s in the app: %s", name, resp.Status)
	}
}

// settled reports whether the app's queue has nothing running and nothing
// due before an hour (jobs that wait for the app's delete retention do).
func (w *world) settled() (bool, string) {
	if len(w.jobs(store.JobRunning)) > 0 {
		return false, w.describeJobs()
	}
	for _, j := range w.jobs(store.JobQueued) {
		if j.NextAt.Before(time.Now().Add(time.Hour)) {
			return false, w.describeJobs()
		}
	}
	return true, ""
}

// TestHoldRestorePurge: an admin's hold reaches the app as a directory's
// delete would, and holds against the directory's changes; a restore
// brings the same account back (created again where the app deleted
// it); a purge of a user gone from the directory deletes the account
// where the app allows it, else opens a task — from the job the purge
// queued with it.
func TestHoldRestorePurge(t *testing.T) {
	ctx := t.Context()
	// The app deletes accounts, a year after their users left: before
	// then, only a purge deletes one.
	w := newWorld(t, func(a *store.App) { a.AllowDelete, a.DeleteAfter = true, 365*24*time.Hour })
	w.start()
	w.apply([]*store.Object{user("u1", "alice"), user("u2", "bob"), user("u3", "cy")})
	alice, bob, cy := w.hubUser("alice"), w.hubUser("bob"), w.hubUser("cy")
	for _, u := range []*store.User{alice, bob, cy} {
		w.assign(store.AssignUser, u.ID)
	}
	first := w.waitActive("alice@example.org", true)
	w.waitActive("bob@example.org", true)
	w.waitActive("cy@example.org", true)
	engine := ingest.New(ingest.Config{Store: w.st, Log: slog.New(slog.DiscardHandler), OnChange: w.eng.Notify})
	s := people.New(people.Config{Store: w.st, Apply: engine, Notify: w.eng.Notify})

	t.Run("held against the directory", func(t *testing.T) {
		if _, err := s.Hold(ctx, alice.ID, people.Deactivate, people.Internal, "admin:ann", "left"); err != nil {
			t.Fatal(err)
		}
		w.waitActive("alice@example.org", false)
		// The directory changes her title: the hub takes it, the hold
		// stands, the app keeps her inactive.
		w.apply([]*store.Object{user("u1", "alice", func(o *store.Object) { o.Profile.Title = "Manager" })})
		// The fence: the engine has read the feed past the change (its
		// "provision" cursor) and done what that queued.
		_, head, err := w.st.Changes(ctx, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		eventually.That(t, "the change read by provisioning, the queue settled", func() (bool, string) {
			pos, err := w.st.Cursor(ctx, "provision")
			if err != nil || pos < head {
				return false, fmt.Sprintf("provisioning's cursor at %d (%v), the feed's head at %d", pos, err, head)
			}
			return w.settled()
		})
		if u, _ := w.st.GetUser(ctx, alice.ID); u.Title != "Manager" {
			t.Errorf("alice's title in the hub: %q, want Manager", u.Title)
		}
		if u, _ := w.st.GetUser(ctx, alice.ID); u.Status != store.StatusDeprovisioned {
			t.Errorf("alice after her directory's change: %s, want still deprovisioned (held)", u.Status)
		}
		if r, _ := w.remote("alice@example.org"); active(r) {
			t.Errorf("alice active in the app after her directory's change, want inactive (held)")
		}
	})

	t.Run("restored, the same account", func(t *testing.T) {
		if _, err := s.Restore(ctx, alice.ID, "admin:ann"); err != nil {
			t.Fatal(err)
		}
		got := w.waitActive("alice@example.org", true)
		if str(got, "id") != str(first, "id") || str(got, "title") != "Manager" {
			t.Errorf("alice restored: %v; want the account %s, titled Manager", got, str(first, "id"))
		}
	})

	t.Run("restored, created again where the app deleted it", func(t *testing.T) {
		if _, err := s.Hold(ctx, bob.ID, people.Deactivate, people.Internal, "admin:ann", ""); err != nil {
			t.Fatal(err)
		}
		w.waitActive("bob@example.org", false)
		eventually.That(t, "the queue settled", w.settled)
		w.deleteRemote("bob@example.org")
		if _, err := s.Restore(ctx, bob.ID, "admin:ann"); err != nil {
			t.Fatal(err)
		}
		got := w.waitActive("bob@example.org", true)
		if str(got, "externalId") != bob.ID {
			t.Errorf("bob created again: %v, want externalId %s", got, bob.ID)
		}
	})

	t.Run("purged: deleted where the app allows it", func(t *testing.T) {
		// Gone from the directory (a user held while the directory has it
		// is never purged).
		w.apply(nil, "u2")
		w.waitActive("bob@example.org", false)
		deletes := w.srv.Requests("DELETE", "/Users")
		// The purge alone, without UserGone: the job it queued does it.
		n, err := people.Purge(ctx, w.st, noApps{}, time.Nanosecond, time.Now().Add(time.Minute), slog.New(slog.DiscardHandler))
		if err != nil || n != 1 {
			t.Fatalf("Purge = %d, %v; want bob", n, err)
		}
		w.eng.Notify()
		eventually.That(t, "bob gone from the app", func() (bool, string) {
			_, ok := w.remote("bob@example.org")
			return !ok, w.describeJobs()
		})
		if got := w.srv.Requests("DELETE", "/Users") - deletes; got != 1 {
			t.Errorf("%d DELETE /Users for bob's purge, want 1", got)
		}
		// The job records it as it completes, just after the DELETE.
		eventually.That(t, "bob's account recorded deleted", func() (bool, string) {
			a := w.account(bob.ID)
			return a != nil && a.State == store.AccountDeleted, fmt.Sprintf("%+v", a)
		})
	})

	t.Run("purged: a task where the app does not allow deletes", func(t *testing.T) {
		w.updateApp(func(a *store.App) { a.AllowDelete = false })
		w.apply(nil, "u3")
		w.waitActive("cy@example.org", false)
		if _, err := people.Purge(ctx, w.st, w.eng, time.Nanosecond, time.Now().Add(time.Minute), slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		var tasks []*store.Task
		eventually.That(t, "a task to remove cy's account", func() (bool, string) {
			tasks, _ = w.st.ListTasks(ctx, store.TaskFilter{AppID: w.app.ID})
			return len(tasks) == 1 && tasks[0].UserID == cy.ID, fmt.Sprintf("tasks %+v\n%s", tasks, w.describeJobs())
		})
		if r, ok := w.remote("cy@example.org"); !ok || active(r) {
			t.Errorf("cy in the app after the purge: %v, %v; want kept, inactive, for an admin to remove", r, ok)
		}
	})
}

// noApps is told nothing: the purge's own jobs must do.
type noApps struct{}

func (noApps) UserGone(context.Context, string) error { return nil }
