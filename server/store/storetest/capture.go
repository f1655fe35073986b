package storetest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/idsync/idsync/server/store"
)

// captureTests cover change capture running beside full imports: the
// captured_at guard, revisions, present phases, checkpoints.
var captureTests = []test{
	{"CaptureBeatsOlderFullRun", testCaptureBeatsOlderFullRun},
	{"FullRunBeatsOlderCapture", testFullRunBeatsOlderCapture},
	{"Revisions", testCaptureRevisions},
	{"Present", testCapturePresent},
	{"SweepPresent", testCaptureSweepPresent},
	{"SetCheckpoint", testCaptureSetCheckpoint},
}

// wantUser checks a user's status, title and revision.
func (f *fixture) wantUser(step, name string, status store.Status, title string, revision int64) {
	f.t.Helper()
	u := f.user(name)
	if u.Status != status || u.Title != title || u.Revision != revision {
		f.t.Errorf("%s: %s is %s, title %q, revision %d; want %s, %q, %d",
			step, name, u.Status, u.Title, u.Revision, status, title, revision)
	}
}

// retitled returns a copy of o with another title, rehashed.
func retitled(o *store.Object, title string) *store.Object {
	c := clone(o)
	c.Profile.Title = title
	return rehash(c)
}

// testCaptureBeatsOlderFullRun: what change capture applied after a full
// run started is newer than the full run's snapshot, which may have been
// read before the change: the full run only marks those objects seen.
func testCaptureBeatsOlderFullRun(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	alice, bob, carol, dave := newUser("u1", "alice"), newUser("u2", "bob"), newUser("u3", "carol"), newUser("u4", "dave")
	staff := newGroup("g1", "staff", dnMember(userDN("alice")))
	first := f.run(store.RunFull)
	f.upsert(first, alice, bob, carol, dave, staff)
	f.apply(first, store.Batch{Deletes: []string{"u4"}})
	f.end(first)
	capture := f.run(store.RunIncremental)
	pause()

	full := f.run(store.RunFull)
	// Capture, after the full run started: alice changes, staff gains bob,
	// carol is confirmed unchanged, bob is deleted, dave (already gone) is
	// deleted again.
	res := f.apply(capture, store.Batch{
		Upserts: []*store.Object{retitled(alice, "Captured"), carol,
			newGroup("g1", "staff", dnMember(userDN("alice")), dnMember(userDN("bob")))},
		Deletes: []string{"u2", "u4"},
	})
	if want := (store.BatchResult{Updated: 2, Unchanged: 1, Deleted: 1}); res != want {
		t.Errorf("capture batch = %+v, want %+v", res, want)
	}
	// The full run's snapshot, read before those changes.
	res = f.upsert(full, retitled(alice, "Snapshot"), bob, retitled(carol, "Snapshot"), dave, staff,
		newUser("u5", "erin"))
	if want := (store.BatchResult{Created: 1, Unchanged: 5}); res != want {
		t.Errorf("full run batch = %+v, want %+v (only erin is new; the captured objects are left)", res, want)
	}
	f.wantUser("after the full batch", "alice", store.StatusActive, "Captured", 2)
	f.wantUser("after the full batch", "bob", store.StatusDeprovisioned, "Engineer", 2)
	f.wantUser("after the full batch", "carol", store.StatusActive, "Engineer", 1)
	f.wantUser("after the full batch", "dave", store.StatusDeprovisioned, "Engineer", 2)
	f.wantUser("after the full batch", "erin", store.StatusActive, "Engineer", 1)
	g := f.group("staff")
	if g.MemberCount != 2 || g.Revision != 2 {
		t.Errorf("staff has %d members, revision %d; want capture's 2 members, revision 2", g.MemberCount, g.Revision)
	}
	// A full run's delete of an object captured since it started is left too.
	if res := f.apply(full, store.Batch{Deletes: []string{"u1"}}); res.Deleted != 0 {
		t.Errorf("full run deleting captured alice = %+v, want Deleted 0", res)
	}
	f.wantUser("after the full run's delete", "alice", store.StatusActive, "Captured", 2)

	wantCounts(t, f.getRun(full.ID), 6, 1, 0, 5, 0, 0)
	c, err := s.SweepCandidates(ctx, full.ID)
	must(t, "SweepCandidates", err)
	// Active: alice and carol, and staff, held before the run (erin is
	// new, bob and dave gone).
	if want := (store.SweepCount{ActiveUsers: 2, ActiveGroups: 1}); c != want {
		t.Errorf("SweepCandidates = %+v, want %+v (the objects the full run left are seen)", c, want)
	}
}

// testFullRunBeatsOlderCapture: what capture applied before a full run
// started is older than the full run's snapshot, which overwrites and
// restores it.
func testFullRunBeatsOlderCapture(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	alice, bob := newUser("u1", "alice"), newUser("u2", "bob")
	capture := f.run(store.RunIncremental)
	f.upsert(capture, alice, bob)
	f.apply(capture, store.Batch{Deletes: []string{"u2"}})
	pause()

	full := f.run(store.RunFull)
	if res := f.upsert(full, retitled(alice, "Snapshot"), bob); res != (store.BatchResult{Updated: 2}) {
		t.Errorf("full run batch = %+v, want Updated 2 (alice overwritten, bob restored)", res)
	}
	f.wantUser("after the full batch", "alice", store.StatusActive, "Snapshot", 2)
	f.wantUser("after the full batch", "bob", store.StatusActive, "Engineer", 3)
	if res := f.apply(full, store.Batch{Deletes: []string{"u1"}}); res.Deleted != 1 {
		t.Errorf("full run deleting alice = %+v, want Deleted 1", res)
	}
	f.wantUser("after the full run's delete", "alice", store.StatusDeprovisioned, "Snapshot", 3)
	// Capture after the full run started still wins over the full run's
	// later batches: bob is captured now.
	f.upsert(capture, retitled(bob, "Captured"))
	if res := f.upsert(full, bob); res != (store.BatchResult{Unchanged: 1}) {
		t.Errorf("full run batch after capture = %+v, want Unchanged 1", res)
	}
	f.wantUser("after capture", "bob", store.StatusActive, "Captured", 4)
}

// testCaptureRevisions: every real write of an object adds one to its
// revision; a redelivered batch, an unchanged hash or a second delete
// does not.
func testCaptureRevisions(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	alice := newUser("u1", "alice")
	staff := newGroup("g1", "staff", dnMember(userDN("alice")))
	suspended := clone(alice)
	suspended.Status = store.StatusSuspended
	delta := clone(staff)
	delta.Members, delta.MembersComplete = nil, false
	delta.AddMembers = []store.MemberRef{uidMember("bob")}

	steps := []struct {
		name          string
		batch         store.Batch
		redeliver     bool // send the previous sequence again
		user, group   int64
		userStatusNow store.Status
	}{
		{"created", store.Batch{Upserts: []*store.Object{alice, staff}}, false, 1, 1, store.StatusActive},
		{"redelivered", store.Batch{Upserts: []*store.Object{retitled(alice, "x"), newGroup("g1", "staff")}}, true, 1, 1, store.StatusActive},
		{"same hash", store.Batch{Upserts: []*store.Object{alice, staff}}, false, 1, 1, store.StatusActive},
		{"updated", store.Batch{Upserts: []*store.Object{retitled(alice, "Lead")}}, false, 2, 1, store.StatusActive},
		{"status only", store.Batch{Upserts: []*store.Object{retitled(suspended, "Lead")}}, false, 3, 1, store.StatusSuspended},
		{"member delta", store.Batch{Upserts: []*store.Object{delta}}, false, 3, 2, store.StatusSuspended},
		{"deleted", store.Batch{Deletes: []string{"u1", "g1"}}, false, 4, 3, store.StatusDeprovisioned},
		{"deleted again", store.Batch{Deletes: []string{"u1", "g1"}}, false, 4, 3, store.StatusDeprovisioned},
		{"restored", store.Batch{Upserts: []*store.Object{retitled(suspended, "Lead"), staff}}, false, 5, 4, store.StatusSuspended},
	}
	for _, st := range steps {
		if st.redeliver {
			b := st.batch
			b.RunID, b.DirectoryID, b.Sequence = run.ID, f.dir.ID, f.seq[run.ID]
			res, err := s.ApplyBatch(ctx, &b)
			must(t, st.name, err)
			if !res.Duplicate {
				t.Errorf("%s: %+v, want Duplicate", st.name, res)
			}
		} else {
			f.apply(run, st.batch)
		}
		u, g := f.user("alice"), f.group("staff")
		if u.Revision != st.user || g.Revision != st.group || u.Status != st.userStatusNow {
			t.Errorf("%s: alice revision %d (%s), staff revision %d; want %d (%s), %d",
				st.name, u.Revision, u.Status, g.Revision, st.user, st.userStatusNow, st.group)
		}
	}

	// A sweep that deprovisions alice is a write too.
	f.end(run)
	pause()
	full := f.run(store.RunFull)
	f.upsert(full, staff)
	_, err := s.Sweep(ctx, full.ID, []store.RunState{store.RunRunning}, "")
	must(t, "Sweep", err)
	if u := f.user("alice"); u.Revision != 6 || u.Status != store.StatusDeprovisioned {
		t.Errorf("after the sweep alice is %s, revision %d; want deprovisioned, 6", u.Status, u.Revision)
	}
	if g := f.group("staff"); g.Revision != 4 {
		t.Errorf("after the sweep staff revision %d, want still 4", g.Revision)
	}
}

// testCapturePresent: external ids declared present count as seen by the
// run (a sweep leaves them) without counting in Seen or changing them.
func testCapturePresent(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	first := f.run(store.RunFull)
	f.upsert(first, newUser("u1", "alice"), newUser("u2", "bob"), newUser("u3", "carol"), newUser("u4", "dave"),
		newGroup("g1", "staff"), newGroup("g2", "old"))
	f.apply(first, store.Batch{Deletes: []string{"u4"}})
	f.end(first)
	bob := f.user("bob")
	pause()

	full := f.run(store.RunFull)
	res := f.apply(full, store.Batch{Upserts: []*store.Object{newUser("u1", "alice")},
		Present: []string{"u2", "g1", "u4", "u1", "nobody", ""}})
	if want := (store.BatchResult{Unchanged: 1}); res != want {
		t.Errorf("batch = %+v, want %+v", res, want)
	}
	wantCounts(t, f.getRun(full.ID), 1, 0, 0, 1, 0, 0)
	c, err := s.SweepCandidates(ctx, full.ID)
	must(t, "SweepCandidates", err)
	if want := (store.SweepCount{Users: 1, Groups: 1, ActiveUsers: 3, ActiveGroups: 2}); c != want {
		t.Errorf("SweepCandidates = %+v, want %+v (carol and old unseen)", c, want)
	}
	got := f.user("bob")
	if got.Revision != 1 || !got.UpdatedAt.Equal(bob.UpdatedAt) {
		t.Errorf("present bob revision %d updated %v; want 1, %v (not written)", got.Revision, got.UpdatedAt, bob.UpdatedAt)
	}
	f.wantUser("present", "dave", store.StatusDeprovisioned, "Engineer", 2)
}

// testCaptureSweepPresent: the end of a present phase deprovisions what
// was neither sent nor declared present since the run started, and the
// run goes on.
func testCaptureSweepPresent(t *testing.T, s store.Store) {
	ctx := t.Context()
	f, other := newFixture(t, s, "corp"), newFixture(t, s, "other")
	first := f.run(store.RunFull)
	f.upsert(first, newUser("u1", "alice"), newUser("u2", "bob"), newUser("u3", "carol"),
		newGroup("g1", "staff"), newGroup("g2", "old"))
	f.end(first)
	other.upsert(other.run(store.RunIncremental), newUser("x1", "xavier"))
	pause()

	capture := f.run(store.RunIncremental)
	f.apply(capture, store.Batch{Upserts: []*store.Object{retitled(newUser("u1", "alice"), "Lead")},
		Present: []string{"u2", "g1"}})
	n, err := s.SweepPresent(ctx, capture.ID)
	must(t, "SweepPresent", err)
	if n != 2 {
		t.Errorf("SweepPresent = %d, want 2 (carol, old)", n)
	}
	r := f.getRun(capture.ID)
	if r.State != store.RunRunning || r.Deprovisioned != 2 || !r.FinishedAt.IsZero() {
		t.Errorf("after SweepPresent the run is %s, %d deprovisioned, finished %v; want running, 2, not finished",
			r.State, r.Deprovisioned, r.FinishedAt)
	}
	f.wantUser("swept", "carol", store.StatusDeprovisioned, "Engineer", 2)
	f.wantUser("swept", "alice", store.StatusActive, "Lead", 2)
	f.wantUser("swept", "bob", store.StatusActive, "Engineer", 1)
	if g := f.group("old"); g.Status != store.StatusDeprovisioned {
		t.Errorf("group old is %s, want deprovisioned", g.Status)
	}
	if g := f.group("staff"); g.Status != store.StatusActive {
		t.Errorf("group staff is %s, want active", g.Status)
	}
	if u := other.user("xavier"); u.Status != store.StatusActive {
		t.Errorf("xavier of another directory is %s, want active", u.Status)
	}
	n, err = s.SweepPresent(ctx, capture.ID)
	must(t, "SweepPresent(again)", err)
	if n != 0 || f.getRun(capture.ID).Deprovisioned != 2 {
		t.Errorf("SweepPresent again = %d, want 0 and the counter kept", n)
	}

	f.end(capture)
	_, err = s.SweepPresent(ctx, capture.ID)
	wantErr(t, "SweepPresent(completed run)", err, store.ErrConflict)
	_, err = s.SweepPresent(ctx, capture.ID+100)
	wantErr(t, "SweepPresent(unknown run)", err, store.ErrNotFound)
}

func testCaptureSetCheckpoint(t *testing.T, s store.Store) {
	ctx := t.Context()
	f, other := newFixture(t, s, "corp"), newFixture(t, s, "other")
	must(t, "SetCheckpoint(other)", s.SetCheckpoint(ctx, other.dir.ID, []byte("theirs")))
	run := f.run(store.RunIncremental)
	steps := []struct {
		name string
		do   func() error
		want []byte
	}{
		{"clear when none", func() error { return s.SetCheckpoint(ctx, f.dir.ID, nil) }, nil},
		{"set", func() error { return s.SetCheckpoint(ctx, f.dir.ID, []byte{0, 1, 0xff}) }, []byte{0, 1, 0xff}},
		{"replace", func() error { return s.SetCheckpoint(ctx, f.dir.ID, []byte("cookie-2")) }, []byte("cookie-2")},
		{"a batch replaces it", func() error {
			f.apply(run, store.Batch{Checkpoint: []byte("cookie-3")})
			return nil
		}, []byte("cookie-3")},
		{"clear", func() error { return s.SetCheckpoint(ctx, f.dir.ID, nil) }, nil},
		{"a batch without one keeps it clear", func() error {
			f.apply(run, store.Batch{})
			return nil
		}, nil},
	}
	for _, st := range steps {
		must(t, st.name, st.do())
		got, err := s.Checkpoint(ctx, f.dir.ID)
		must(t, "Checkpoint", err)
		if !bytes.Equal(got, st.want) || (st.want == nil) != (got == nil) {
			t.Errorf("%s: Checkpoint = %q, want %q", st.name, got, st.want)
		}
	}
	if got, _ := s.Checkpoint(ctx, other.dir.ID); string(got) != "theirs" {
		t.Errorf("other directory's checkpoint = %q, want theirs", got)
	}
	wantErr(t, "SetCheckpoint(unknown directory)", s.SetCheckpoint(ctx, other.dir.ID+100, []byte("x")), store.ErrNotFound)
}

// testRunOneOpenPerKind: a directory has at most one running or paused run
// of each kind.
func testRunOneOpenPerKind(t *testing.T, s store.Store) {
	ctx := t.Context()
	f, other := newFixture(t, s, "corp"), newFixture(t, s, "other")
	create := func(f *fixture, kind store.RunKind) (*store.Run, error) {
		r := &store.Run{DirectoryID: f.dir.ID, Kind: kind}
		return r, s.CreateRun(ctx, r)
	}
	full := f.run(store.RunFull)
	steps := []struct {
		name string
		do   func() error
		want error
	}{
		{"second full while running", func() error { _, err := create(f, store.RunFull); return err }, store.ErrConflict},
		{"incremental beside it", func() error { _, err := create(f, store.RunIncremental); return err }, nil},
		{"second incremental", func() error { _, err := create(f, store.RunIncremental); return err }, store.ErrConflict},
		{"full of another directory", func() error { _, err := create(other, store.RunFull); return err }, nil},
		{"pause the full run", func() error {
			_, err := s.TransitionRun(ctx, full.ID, []store.RunState{store.RunRunning},
				store.RunUpdate{State: store.RunPausedBySafeguard})
			return err
		}, nil},
		{"second full while paused", func() error { _, err := create(f, store.RunFull); return err }, store.ErrConflict},
		{"cancel the full run", func() error {
			_, err := s.TransitionRun(ctx, full.ID, []store.RunState{store.RunPausedBySafeguard},
				store.RunUpdate{State: store.RunCancelled, Finished: true})
			return err
		}, nil},
		{"full after it ended", func() error { _, err := create(f, store.RunFull); return err }, nil},
	}
	for _, st := range steps {
		wantErr(t, st.name, st.do(), st.want)
	}
	open, err := s.ListRuns(ctx, store.RunFilter{DirectoryID: f.dir.ID,
		States: []store.RunState{store.RunRunning, store.RunPausedBySafeguard}})
	must(t, "ListRuns", err)
	if len(open) != 2 {
		t.Errorf("%d open runs, want 2 (one full, one incremental)", len(open))
	}
}

// testRunOpenRace: of several replicas starting a full run at once,
// exactly one wins.
func testRunOpenRace(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	oneWins(t, 8, "replicas", store.ErrConflict, func(i int) error {
		return s.CreateRun(t.Context(), &store.Run{DirectoryID: f.dir.ID, Kind: store.RunFull,
			Trigger: fmt.Sprint("replica ", i)})
	})
}

func testRunStrategy(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	r := &store.Run{DirectoryID: f.dir.ID, Kind: store.RunIncremental, Strategy: "poll"}
	must(t, "CreateRun", s.CreateRun(ctx, r))
	if got := f.getRun(r.ID).Strategy; got != "poll" {
		t.Errorf("Strategy after CreateRun = %q, want poll", got)
	}
	must(t, "SetRunStrategy", s.SetRunStrategy(ctx, r.ID, "syncrepl"))
	if got := f.getRun(r.ID).Strategy; got != "syncrepl" {
		t.Errorf("GetRun Strategy = %q, want syncrepl", got)
	}
	rs, err := s.ListRuns(ctx, store.RunFilter{DirectoryID: f.dir.ID})
	must(t, "ListRuns", err)
	if len(rs) != 1 || rs[0].Strategy != "syncrepl" {
		t.Errorf("ListRuns = %d runs, want 1 with strategy syncrepl", len(rs))
	}
	wantErr(t, "SetRunStrategy(unknown run)", s.SetRunStrategy(ctx, r.ID+100, "dirsync"), store.ErrNotFound)
}
