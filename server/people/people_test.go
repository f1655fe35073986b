package people_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/server/people"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// openStore opens a SQLite store that closes when t ends.
func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// world is a SQLite store with directory corp holding alice and bob.
func world(t *testing.T) (store.Store, *people.Service, map[string]*store.User, *int) {
	t.Helper()
	ctx := t.Context()
	st := openStore(t)
	d := &store.Directory{Name: "corp", Kind: store.KindOpenLDAP, BaseDN: "dc=corp"}
	if err := st.CreateDirectory(ctx, d); err != nil {
		t.Fatal(err)
	}
	r := &store.Run{DirectoryID: d.ID, Kind: store.RunIncremental, Trigger: "test"}
	if err := st.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	users := map[string]*store.User{}
	var objs []*store.Object
	for _, n := range []string{"alice", "bob"} {
		dn := "uid=" + n + ",dc=corp"
		objs = append(objs, &store.Object{Kind: store.ObjectUser, ExternalID: "ext-" + n, DN: dn, DNKey: dn,
			Status: store.StatusActive, Hash: n, Profile: store.Profile{Username: n}})
	}
	if _, err := st.ApplyBatch(ctx, &store.Batch{RunID: r.ID, DirectoryID: d.ID, Sequence: 1, Upserts: objs}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"alice", "bob"} {
		us, err := st.FindUsers(ctx, d.ID, n)
		if err != nil || len(us) != 1 {
			t.Fatal(us, err)
		}
		users[n] = us[0]
	}
	notified := new(int)
	s := people.New(people.Config{Store: st, Notify: func() { *notified++ }, Now: func() time.Time { return time.Unix(1800000000, 0) }})
	return st, s, users, notified
}

func TestHold(t *testing.T) {
	ctx := t.Context()
	st, s, users, notified := world(t)
	alice := users["alice"]

	u, err := s.Hold(ctx, alice.ID, people.Deactivate, people.Internal, "admin:ann", "contract ended")
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != store.StatusDeprovisioned || u.Hold.By != "admin:ann" || !u.Hold.At.Equal(time.Unix(1800000000, 0)) || *notified != 1 {
		t.Errorf("deactivated: %s by %q at %v, notified %d; want deprovisioned by admin:ann, at the clock's time, notified once",
			u.Status, u.Hold.By, u.Hold.At, *notified)
	}
	runs, err := st.ListRuns(ctx, store.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if r := runs[0]; r.Kind != store.RunAdmin || r.State != store.RunCompleted || r.Trigger != "admin:ann" {
		t.Errorf("the newest run: %+v, want a completed admin run by admin:ann", r)
	}
	events, err := st.ListAudit(ctx, store.AuditFilter{Action: "user.deactivated"})
	if err != nil || len(events) != 1 || events[0].Actor != "admin:ann" || !strings.Contains(events[0].Detail, "contract ended") {
		t.Errorf("audit: %+v, %v; want one user.deactivated by admin:ann with the reason", events, err)
	}

	// The lift must match the hold.
	_, err = s.Hold(ctx, alice.ID, people.Unsuspend, people.Internal, "admin:ann", "")
	var se *people.StateError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "`idsyncctl user reactivate` lifts that") {
		t.Errorf("unsuspend of a deactivated user: %v, want a StateError naming reactivate", err)
	}
	u, err = s.Hold(ctx, alice.ID, people.Reactivate, people.Internal, "admin:bo", "")
	if err != nil || u.Status != store.StatusActive || u.Hold.Status != "" {
		t.Errorf("reactivated: %+v, %v; want active, no hold", u, err)
	}
	// Nothing held: nothing done, no run.
	before, _ := st.ListRuns(ctx, store.RunFilter{})
	if _, err := s.Hold(ctx, users["bob"].ID, people.Reactivate, people.Internal, "admin:ann", ""); err != nil {
		t.Fatal(err)
	}
	if after, _ := st.ListRuns(ctx, store.RunFilter{}); len(after) != len(before) {
		t.Errorf("lifting no hold started a run")
	}
	if _, err := s.Hold(ctx, "no-such-id", people.Deactivate, people.Internal, "admin:ann", ""); !errors.Is(err, people.ErrNotAUser) {
		t.Errorf("an unknown user: %v, want ErrNotAUser", err)
	}
}

func TestRestore(t *testing.T) {
	ctx := t.Context()
	st, s, users, _ := world(t)
	alice, bob := users["alice"], users["bob"]
	if _, err := s.Restore(ctx, alice.ID, "admin:ann"); err == nil || !strings.Contains(err.Error(), "nothing to restore") {
		t.Errorf("restoring an active user: %v, want refused", err)
	}
	if _, err := s.Hold(ctx, alice.ID, people.Suspend, people.Internal, "admin:ann", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Hold(ctx, alice.ID, people.Deactivate, people.Internal, "admin:ann", ""); err != nil {
		t.Fatal(err)
	}
	u, err := s.Restore(ctx, alice.ID, "admin:bo")
	if err != nil || u.Status != store.StatusActive || u.Hold.Status != "" {
		t.Errorf("restored: %+v, %v; want active, no hold", u, err)
	}
	// bob deleted in his directory: not restorable from the hub.
	r := &store.Run{DirectoryID: bob.DirectoryID, Kind: store.RunWrite, Trigger: "test"}
	if err := st.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ApplyBatch(ctx, &store.Batch{RunID: r.ID, DirectoryID: bob.DirectoryID, Sequence: 1, Deletes: []string{bob.ExternalID}}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Restore(ctx, bob.ID, "admin:ann")
	var se *people.StateError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "no longer has it") {
		t.Errorf("restoring a user its directory deleted: %v, want a StateError saying why", err)
	}
}

// gone records the users Purge says are gone.
type gone []string

func (g *gone) UserGone(_ context.Context, id string) error { *g = append(*g, id); return nil }

// TestPurge: a deprovisioned user is purged once its directory's retention
// (else the hub's) has run out — one its directory deleted; one an admin
// holds while its directory still has it is kept, held.
func TestPurge(t *testing.T) {
	ctx := t.Context()
	st, s, users, _ := world(t)
	alice, bob := users["alice"], users["bob"]
	held, err := s.Hold(ctx, alice.ID, people.Deactivate, people.Internal, "admin:ann", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Hold(ctx, bob.ID, people.Deactivate, people.Internal, "admin:ann", ""); err != nil {
		t.Fatal(err)
	}
	d, err := st.GetDirectory(ctx, "corp")
	if err != nil {
		t.Fatal(err)
	}
	// The directory deletes alice; it still has bob.
	runs, err := st.ListRuns(ctx, store.RunFilter{DirectoryID: d.ID})
	if err != nil || len(runs) == 0 {
		t.Fatal(runs, err)
	}
	if _, err := st.ApplyBatch(ctx, &store.Batch{RunID: runs[len(runs)-1].ID, DirectoryID: d.ID, Sequence: 2,
		Deletes: []string{"ext-alice"}}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	var apps gone
	at := held.DeprovisionedAt
	if n, err := people.Purge(ctx, st, &apps, 90*24*time.Hour, at.Add(89*24*time.Hour), log); err != nil || n != 0 {
		t.Errorf("a day before the retention ran out: purged %d, %v; want none", n, err)
	}
	// The directory keeps them 30 days.
	d.Retention = 30 * 24 * time.Hour
	if err := st.UpdateDirectory(ctx, d); err != nil {
		t.Fatal(err)
	}
	n, err := people.Purge(ctx, st, &apps, 90*24*time.Hour, at.Add(31*24*time.Hour), log)
	if err != nil || n != 1 || len(apps) != 1 || apps[0] != alice.ID {
		t.Errorf("after the directory's 30 days: purged %d (%v), apps told of %v; want alice alone", n, err, apps)
	}
	if _, err := st.GetUser(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("alice after her purge: %v, want gone", err)
	}
	if u, err := st.GetUser(ctx, bob.ID); err != nil || u.Status != store.StatusDeprovisioned || u.Hold.Status == "" {
		t.Errorf("bob, held while his directory has him: %+v, %v; want kept, held", u, err)
	}
	if _, err := s.Restore(ctx, alice.ID, "admin:ann"); !errors.Is(err, people.ErrNotAUser) || !strings.Contains(err.Error(), "purged") {
		t.Errorf("restoring a purged user: %v, want ErrNotAUser saying it was purged", err)
	}
}
