package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
)

var sweepTests = []test{
	{"CandidatesAndSweep", testSweep},
	{"FromPaused", testSweepFromPaused},
	{"ErrorsCountAsSeen", testSweepErrorsCountAsSeen},
}

// pause lets the clock move past the times already stored.
func pause() { time.Sleep(3 * time.Millisecond) }

func testSweep(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	other := newFixture(t, s, "other")
	first := f.run(store.RunFull)
	f.upsert(first, newUser("u1", "alice"), newUser("u2", "bob"), newUser("u3", "carol"), newUser("u4", "dave"),
		newGroup("g1", "staff"), newGroup("g2", "old"))
	f.apply(first, store.Batch{Deletes: []string{"u4"}})
	f.end(first)
	other.upsert(other.run(store.RunFull), newUser("x1", "xavier"))

	pause()
	full := f.run(store.RunFull)
	f.upsert(full, newUser("u1", "alice"), newGroup("g1", "staff"), newUser("u5", "erin"))
	// An incremental batch after the full run started shows carol exists,
	// and creates frank, whom the full run's read never saw.
	pause()
	f.upsert(f.run(store.RunIncremental), newUser("u3", "carol"), newUser("u6", "frank"))

	c, err := s.SweepCandidates(ctx, full.ID)
	must(t, "SweepCandidates", err)
	// bob and old unseen; dave already deprovisioned; xavier elsewhere.
	// Active: what the directory held before the run (alice, bob, carol;
	// staff and old), not erin and frank, created since.
	if want := (store.SweepCount{Users: 1, Groups: 1, ActiveUsers: 3, ActiveGroups: 2}); c != want {
		t.Errorf("SweepCandidates = %+v, want %+v", c, want)
	}
	_, err = s.SweepCandidates(ctx, full.ID+100)
	wantErr(t, "SweepCandidates(unknown)", err, store.ErrNotFound)

	before := time.Now()
	r, err := s.Sweep(ctx, full.ID, []store.RunState{store.RunRunning}, "swept")
	must(t, "Sweep", err)
	if r.State != store.RunCompleted || r.Deprovisioned != 2 || r.Message != "swept" ||
		r.FinishedAt.Before(before.Add(-timeTolerance)) {
		t.Errorf("after Sweep the run is %s, %d deprovisioned, %q, finished %v; want completed, 2, swept, about %v",
			r.State, r.Deprovisioned, r.Message, r.FinishedAt, before)
	}
	want := map[string]store.Status{
		"alice": store.StatusActive, "bob": store.StatusDeprovisioned, "carol": store.StatusActive,
		"dave": store.StatusDeprovisioned, "erin": store.StatusActive, "frank": store.StatusActive,
	}
	for name, st := range want {
		if got := f.user(name).Status; got != st {
			t.Errorf("%s is %s after the sweep, want %s", name, got, st)
		}
	}
	if got := f.group("old").Status; got != store.StatusDeprovisioned {
		t.Errorf("group old is %s after the sweep, want deprovisioned", got)
	}
	if got := f.group("staff").Status; got != store.StatusActive {
		t.Errorf("group staff is %s after the sweep, want active", got)
	}
	if got := other.user("xavier").Status; got != store.StatusActive {
		t.Errorf("xavier of another directory is %s, want active", got)
	}

	_, err = s.Sweep(ctx, full.ID, []store.RunState{store.RunRunning}, "again")
	wantErr(t, "Sweep(completed run)", err, store.ErrConflict)
	_, err = s.Sweep(ctx, full.ID+100, []store.RunState{store.RunRunning}, "")
	wantErr(t, "Sweep(unknown run)", err, store.ErrNotFound)
}

func testSweepFromPaused(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	first := f.run(store.RunFull)
	f.upsert(first, newUser("u1", "alice"), newUser("u2", "bob"))
	f.end(first)
	pause()
	full := f.run(store.RunFull)
	f.upsert(full, newUser("u1", "alice"))
	_, err := s.TransitionRun(ctx, full.ID, []store.RunState{store.RunRunning},
		store.RunUpdate{State: store.RunPausedBySafeguard, Message: "50% would go", PendingDeprovision: 1})
	must(t, "TransitionRun", err)

	_, err = s.Sweep(ctx, full.ID, []store.RunState{store.RunRunning}, "")
	wantErr(t, "Sweep(from running while paused)", err, store.ErrConflict)
	if got := f.user("bob").Status; got != store.StatusActive {
		t.Errorf("a refused sweep left bob %s", got)
	}
	r, err := s.Sweep(ctx, full.ID, []store.RunState{store.RunPausedBySafeguard}, "confirmed")
	must(t, "Sweep(from paused)", err)
	if r.State != store.RunCompleted || r.PendingDeprovision != 0 || r.Deprovisioned != 1 || r.Message != "confirmed" {
		t.Errorf("confirmed run = %s pending %d deprovisioned %d %q; want completed, 0, 1, confirmed",
			r.State, r.PendingDeprovision, r.Deprovisioned, r.Message)
	}
}

// testSweepErrorsCountAsSeen: an object that failed to map in a full run
// exists, so the sweep leaves it.
func testSweepErrorsCountAsSeen(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	var objs []*store.Object
	for i := range 3 {
		objs = append(objs, newUser(fmt.Sprint("u", i), fmt.Sprint("user", i)))
	}
	first := f.run(store.RunFull)
	f.upsert(first, objs...)
	f.end(first)
	pause()
	full := f.run(store.RunFull)
	f.apply(full, store.Batch{Upserts: objs[:1],
		Errors: []store.EntryError{{DN: objs[1].DN, ExternalID: objs[1].ExternalID, Kind: store.ObjectUser, Message: "bad mail"}}})
	c, err := s.SweepCandidates(ctx, full.ID)
	must(t, "SweepCandidates", err)
	if want := (store.SweepCount{Users: 1, ActiveUsers: 3}); c != want {
		t.Errorf("SweepCandidates = %+v, want %+v (only user2 unseen)", c, want)
	}
}
