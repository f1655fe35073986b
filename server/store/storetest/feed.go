package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
)

var feedTests = []test{
	{"Positions", testFeedPositions},
	{"WholePositions", testFeedWholePositions},
	{"Sweeps", testFeedSweeps},
	{"DeprovisionedAt", testFeedDeprovisionedAt},
	{"ConcurrentWriters", testFeedConcurrentWriters},
}

var leaseTests = []test{
	{"Cursor", testCursor},
	{"Lease", testLease},
	{"LeaseRace", testLeaseRace},
}

// feedPosition reads the newest feed position.
func feedPosition(t testing.TB, s store.Store) int64 {
	t.Helper()
	p, err := s.FeedPosition(t.Context())
	must(t, "FeedPosition", err)
	return p
}

// externalIDs maps the ids of the fixture's users and groups to their
// external ids.
func (f *fixture) externalIDs() map[string]string {
	f.t.Helper()
	out := map[string]string{}
	us, err := f.s.ListUsers(f.t.Context(), store.UserFilter{DirectoryID: f.dir.ID})
	must(f.t, "ListUsers", err)
	for _, u := range us {
		out[u.ID] = u.ExternalID
	}
	gs, err := f.s.ListGroups(f.t.Context(), store.GroupFilter{DirectoryID: f.dir.ID})
	must(f.t, "ListGroups", err)
	for _, g := range gs {
		out[g.ID] = g.ExternalID
	}
	return out
}

// wantMoved checks that the feed moved from prev by one position holding
// the objects with the external ids moved (sorted by id, as Changes orders
// them), or, when moved is empty, that it did not move.
func (f *fixture) wantMoved(step string, prev int64, moved []string) int64 {
	f.t.Helper()
	pos := feedPosition(f.t, f.s)
	changes, last, err := f.s.Changes(f.t.Context(), prev, 100)
	must(f.t, "Changes", err)
	if len(moved) == 0 {
		if pos != prev || len(changes) != 0 || last != prev {
			f.t.Errorf("%s: the feed moved from %d to %d (Changes %v, %d); want it to stay", step, prev, pos, changes, last)
		}
		return pos
	}
	ext := f.externalIDs()
	var got []string
	for _, c := range changes {
		got = append(got, ext[c.ObjectID])
		if c.Position != prev+1 || c.DirectoryID != f.dir.ID || (c.Kind == store.ObjectUser) != (ext[c.ObjectID][0] == 'u') {
			f.t.Errorf("%s: change %+v; want position %d, directory %d, its kind", step, c, prev+1, f.dir.ID)
		}
	}
	slices.Sort(got)
	if pos != prev+1 || last != prev+1 || !slices.Equal(got, moved) {
		f.t.Errorf("%s: the feed moved from %d to %d with %v (Changes returned %d); want %d with %v",
			step, prev, pos, got, last, prev+1, moved)
	}
	return pos
}

// testFeedPositions: every real write moves the feed one position per
// transaction; what writes nothing does not move it.
func testFeedPositions(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	capture := f.run(store.RunIncremental)
	alice, bob := newUser("u1", "alice"), newUser("u2", "bob")
	staff := newGroup("g1", "staff", dnMember(userDN("alice")))
	delta := clone(staff)
	delta.Members, delta.MembersComplete = nil, false
	delta.AddMembers = []store.MemberRef{dnMember(userDN("bob"))}
	var full *store.Run
	steps := []struct {
		name  string
		do    func()
		moved []string // external ids written at the next position; none: it stays
	}{
		{"create", func() { f.upsert(capture, alice, bob, staff) }, []string{"g1", "u1", "u2"}},
		{"redelivered", func() {
			b := store.Batch{RunID: capture.ID, DirectoryID: f.dir.ID, Sequence: f.seq[capture.ID],
				Upserts: []*store.Object{retitled(alice, "x")}}
			res, err := s.ApplyBatch(ctx, &b)
			if err != nil || !res.Duplicate {
				t.Fatalf("redelivering: %+v, %v; want Duplicate", res, err)
			}
		}, nil},
		{"unchanged", func() { f.upsert(capture, alice, staff) }, nil},
		{"update", func() { f.upsert(capture, retitled(alice, "Lead")) }, []string{"u1"}},
		{"member delta", func() { f.upsert(capture, delta) }, []string{"g1"}},
		{"delete", func() { f.apply(capture, store.Batch{Deletes: []string{"u2"}}) }, []string{"u2"}},
		{"delete again, and unknown", func() { f.apply(capture, store.Batch{Deletes: []string{"u2", "nobody"}}) }, nil},
		{"restore", func() { f.upsert(capture, bob) }, []string{"u2"}},
		{"a full run: unchanged and present", func() {
			pause()
			full = f.run(store.RunFull)
			f.apply(full, store.Batch{Upserts: []*store.Object{retitled(alice, "Lead")}, Present: []string{"u2", "g1"}})
		}, nil},
		{"a full run writes", func() { f.upsert(full, newUser("u3", "carol"), retitled(bob, "Snapshot")) }, []string{"u2", "u3"}},
		{"a sweep that finds nothing", func() {
			_, err := s.Sweep(ctx, full.ID, []store.RunState{store.RunRunning}, "")
			must(t, "Sweep", err)
		}, nil},
	}
	pos := feedPosition(t, s)
	if pos != 0 {
		t.Errorf("FeedPosition of an empty store = %d, want 0", pos)
	}
	for _, st := range steps {
		st.do()
		pos = f.wantMoved(st.name, pos, st.moved)
	}
	// From the start: each object once, at its newest position.
	changes, last, err := s.Changes(ctx, 0, 100)
	must(t, "Changes(0)", err)
	ext := f.externalIDs()
	got := map[string]int64{}
	for _, c := range changes {
		got[ext[c.ObjectID]] = c.Position
	}
	want := map[string]int64{"g1": 3, "u1": 2, "u2": 6, "u3": 6}
	if !maps.Equal(got, want) || last != 6 || len(changes) != len(want) ||
		!slices.IsSortedFunc(changes, func(a, b store.ObjectChange) int { return int(a.Position - b.Position) }) {
		t.Errorf("Changes(0) = %v up to %d; want %v up to 6, by position", got, last, want)
	}
}

// testFeedWholePositions: Changes never cuts a position in two.
func testFeedWholePositions(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	users := func(from, to int) []*store.Object {
		var out []*store.Object
		for i := from; i < to; i++ {
			out = append(out, newUser(fmt.Sprintf("u%d", i), fmt.Sprintf("user%d", i)))
		}
		return out
	}
	f.upsert(run, users(0, 5)...) // position 1
	f.upsert(run, users(5, 8)...) // 2
	f.upsert(run, users(8, 9)...) // 3
	tests := []struct {
		name         string
		after        int64
		limit        int
		wantN        int
		wantPosition int64
	}{
		{"a limit inside the second position stops before it", 0, 6, 5, 1},
		{"a first position over the limit comes whole", 0, 3, 5, 1},
		{"two whole positions", 1, 4, 4, 3},
		{"a limit at a position's end", 1, 3, 3, 2},
		{"no limit: the default", 0, 0, 9, 3},
		{"nothing after the newest", 3, 10, 0, 3},
		{"nothing after beyond it", 7, 10, 0, 7},
	}
	for _, tc := range tests {
		changes, last, err := s.Changes(t.Context(), tc.after, tc.limit)
		must(t, tc.name, err)
		if len(changes) != tc.wantN || last != tc.wantPosition {
			t.Errorf("%s: Changes(%d, %d) = %d objects up to %d, want %d up to %d",
				tc.name, tc.after, tc.limit, len(changes), last, tc.wantN, tc.wantPosition)
		}
	}
}

// testFeedSweeps: a sweep's deprovisioning, full or present phase, is one
// position.
func testFeedSweeps(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	alice := newUser("u1", "alice")
	first := f.run(store.RunFull)
	f.upsert(first, alice, newUser("u2", "bob"), newUser("u3", "carol"), newGroup("g1", "staff"), newGroup("g2", "old"))
	f.end(first)
	pos := feedPosition(t, s)
	pause()

	full := f.run(store.RunFull)
	f.upsert(full, alice, newGroup("g1", "staff"))
	pos = f.wantMoved("an unchanged full batch", pos, nil)
	before := time.Now()
	_, err := s.Sweep(ctx, full.ID, []store.RunState{store.RunRunning}, "")
	must(t, "Sweep", err)
	pos = f.wantMoved("the sweep", pos, []string{"g2", "u2", "u3"})
	if u := f.user("bob"); u.DeprovisionedAt.Before(before.Add(-timeTolerance)) || u.DeprovisionedAt.After(time.Now()) {
		t.Errorf("swept bob DeprovisionedAt = %v, want about %v", u.DeprovisionedAt, before)
	}
	pause()

	capture := f.run(store.RunIncremental)
	f.upsert(capture, retitled(alice, "Lead"))
	pos = f.wantMoved("capture", pos, []string{"u1"})
	n, err := s.SweepPresent(ctx, capture.ID)
	must(t, "SweepPresent", err)
	if n != 1 {
		t.Errorf("SweepPresent = %d, want 1 (staff)", n)
	}
	pos = f.wantMoved("the present phase", pos, []string{"g1"})
	_, err = s.SweepPresent(ctx, capture.ID)
	must(t, "SweepPresent(again)", err)
	f.wantMoved("the present phase again", pos, nil)
}

// testFeedDeprovisionedAt: a user's DeprovisionedAt is when it became
// deprovisioned, and zero otherwise.
func testFeedDeprovisionedAt(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	alice := newUser("u1", "alice")
	var first time.Time
	steps := []struct {
		name string
		do   func()
		// check returns what is wrong with DeprovisionedAt, given the time
		// before the step.
		check func(got, before time.Time) string
	}{
		{"created", func() { f.upsert(run, alice) }, zero},
		{"deleted", func() { f.apply(run, store.Batch{Deletes: []string{"u1"}}) }, func(got, before time.Time) string {
			first = got
			return since(got, before)
		}},
		{"deleted again: kept", func() { f.apply(run, store.Batch{Deletes: []string{"u1"}}) }, func(got, _ time.Time) string {
			if !got.Equal(first) {
				return fmt.Sprintf("%v, want the first time, %v", got, first)
			}
			return ""
		}},
		{"restored", func() { f.upsert(run, alice) }, zero},
		{"deleted later", func() { f.apply(run, store.Batch{Deletes: []string{"u1"}}) }, since},
	}
	for _, st := range steps {
		pause()
		before := time.Now()
		st.do()
		got := f.user("alice")
		if d := st.check(got.DeprovisionedAt, before); d != "" {
			t.Errorf("%s: GetUser DeprovisionedAt %s", st.name, d)
		}
		us, err := s.ListUsers(ctx, store.UserFilter{})
		must(t, "ListUsers", err)
		if len(us) != 1 || !us[0].DeprovisionedAt.Equal(got.DeprovisionedAt) {
			t.Errorf("%s: ListUsers DeprovisionedAt differs from GetUser's %v", st.name, got.DeprovisionedAt)
		}
	}
}

func zero(got, _ time.Time) string {
	if !got.IsZero() {
		return fmt.Sprintf("%v, want zero", got)
	}
	return ""
}

func since(got, before time.Time) string {
	if got.Before(before.Add(-timeTolerance)) || got.After(time.Now()) || got.Location() != time.UTC {
		return fmt.Sprintf("%v, want between %v and now, in UTC", got, before)
	}
	return ""
}

// testFeedConcurrentWriters: writers in several directories commit at
// once while a reader follows the feed with a small limit; every object
// (each written once) reaches the reader, each batch at a position of its
// own, the positions without gaps. A reader shown position n+1 before
// every write of n committed would miss the objects of n for ever.
func testFeedConcurrentWriters(t *testing.T, s store.Store) {
	const writers, batches, per = 4, 25, 3
	ctx := t.Context()
	fs := make([]*fixture, writers)
	runs := make([]*store.Run, writers)
	for i := range fs {
		fs[i] = newFixture(t, s, fmt.Sprint("dir", i))
		runs[i] = fs[i].run(store.RunIncremental)
	}
	var written atomic.Bool
	got := map[string]store.ObjectChange{}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		var cursor int64
		for {
			changes, last, err := s.Changes(ctx, cursor, 7)
			if err != nil {
				t.Errorf("Changes(%d): %v", cursor, err)
				return
			}
			for _, c := range changes {
				if c.Position <= cursor {
					t.Errorf("Changes(%d) returned position %d", cursor, c.Position)
				}
				if prev, dup := got[c.ObjectID]; dup {
					t.Errorf("object %s at positions %d and %d, written once", c.ObjectID, prev.Position, c.Position)
				}
				got[c.ObjectID] = c
			}
			cursor = last
			if len(changes) > 0 {
				continue
			}
			if written.Load() {
				if p, err := s.FeedPosition(ctx); err != nil || p == cursor {
					return // drained
				}
				continue
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				var objs []*store.Object
				for i := range per {
					n := (b*per + i)
					objs = append(objs, newUser(fmt.Sprintf("w%d-%03d", w, n), fmt.Sprintf("user%d-%03d", w, n)))
				}
				batch := store.Batch{RunID: runs[w].ID, Sequence: uint64(b + 1), Upserts: objs}
				if _, err := s.ApplyBatch(ctx, &batch); err != nil {
					t.Errorf("writer %d: ApplyBatch: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	written.Store(true)
	<-readerDone

	if len(got) != writers*batches*per {
		t.Errorf("the reader saw %d objects, want %d", len(got), writers*batches*per)
	}
	byPos := map[int64][]store.ObjectChange{}
	for _, c := range got {
		byPos[c.Position] = append(byPos[c.Position], c)
	}
	for p := int64(1); p <= writers*batches; p++ {
		cs := byPos[p]
		if len(cs) != per || slices.ContainsFunc(cs, func(c store.ObjectChange) bool { return c.DirectoryID != cs[0].DirectoryID }) {
			t.Errorf("position %d holds %v, want the %d objects of one batch", p, cs, per)
		}
	}
	if len(byPos) != writers*batches || feedPosition(t, s) != writers*batches {
		t.Errorf("%d positions, newest %d; want %d without gaps", len(byPos), feedPosition(t, s), writers*batches)
	}
}

func testCursor(t *testing.T, s store.Store) {
	ctx := t.Context()
	steps := []struct {
		name   string
		set    int64 // -1: no SetCursor
		cursor string
		want   int64
	}{
		{"none", -1, "provision", 0},
		{"set", 42, "provision", 42},
		{"moved", 43, "provision", 43},
		{"another name", -1, "audit", 0},
	}
	for _, st := range steps {
		if st.set >= 0 {
			must(t, st.name, s.SetCursor(ctx, st.cursor, st.set))
		}
		got, err := s.Cursor(ctx, st.cursor)
		must(t, st.name, err)
		if got != st.want {
			t.Errorf("%s: Cursor(%s) = %d, want %d", st.name, st.cursor, got, st.want)
		}
	}
}

func testLease(t *testing.T, s store.Store) {
	steps := []struct {
		name, lease, holder string
		now                 time.Duration // after t0
		want                bool
	}{
		{"free", "reconcile", "hub-a", 0, true},
		{"held by another", "reconcile", "hub-b", 30 * time.Second, false},
		{"renewed by its holder", "reconcile", "hub-a", 30 * time.Second, true},
		{"renewed: still held", "reconcile", "hub-b", 61 * time.Second, false},
		{"expired", "reconcile", "hub-b", 90 * time.Second, true},
		{"lost", "reconcile", "hub-a", 91 * time.Second, false},
		{"another lease", "prune", "hub-a", 91 * time.Second, true},
	}
	for _, st := range steps {
		got, err := s.TryLease(t.Context(), st.lease, st.holder, at(st.now), time.Minute)
		must(t, st.name, err)
		if got != st.want {
			t.Errorf("%s: TryLease(%s, %s) = %v, want %v", st.name, st.lease, st.holder, got, st.want)
		}
	}
}

var errLost = errors.New("lease lost")

// testLeaseRace: of several replicas taking a free lease at once, exactly
// one holds it.
func testLeaseRace(t *testing.T, s store.Store) {
	oneWins(t, 8, "replicas", errLost, func(i int) error {
		ok, err := s.TryLease(t.Context(), "reconcile", fmt.Sprint("hub-", i), at(0), time.Minute)
		if err == nil && !ok {
			err = errLost
		}
		return err
	})
}
