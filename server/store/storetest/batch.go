package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
)

var batchTests = []test{
	{"CreateUpdateUnchanged", testBatchCreateUpdateUnchanged},
	{"RenameKeepsIdentity", testBatchRenameKeepsIdentity},
	{"SameExternalIDTwice", testBatchSameExternalIDTwice},
	{"Duplicate", testBatchDuplicate},
	{"RunNotRunning", testBatchRunNotRunning},
	{"WrongDirectory", testBatchWrongDirectory},
	{"Deletes", testBatchDeletes},
	{"Restore", testBatchRestore},
	{"Errors", testBatchErrors},
	{"Checkpoint", testBatchCheckpoint},
	{"ConcurrentRedelivery", testBatchConcurrentRedelivery},
	{"ConcurrentWriters", testBatchConcurrentWriters},
	{"Several", testBatchSeveral},
}

// wantCounts compares the counters of a run.
func wantCounts(t *testing.T, r *store.Run, seen, created, updated, unchanged, deprovisioned, errs int64) {
	t.Helper()
	got := [6]int64{r.Seen, r.Created, r.Updated, r.Unchanged, r.Deprovisioned, r.Errors}
	want := [6]int64{seen, created, updated, unchanged, deprovisioned, errs}
	if got != want {
		t.Errorf("run %d counters seen/created/updated/unchanged/deprovisioned/errors = %v, want %v", r.ID, got, want)
	}
}

func testBatchCreateUpdateUnchanged(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	run := f.run(store.RunFull)
	alice := newUser("u1", "alice")
	alice.Profile.Extra = map[string][]string{"mobile": {"+1 555 0100", "+1 555 0101"}}
	rehash(alice)
	bob := newUser("u2", "bob")
	before := time.Now()
	res := f.upsert(run, alice, bob, newGroup("g1", "staff", dnMember(alice.DN)))
	if want := (store.BatchResult{Created: 3}); res != want {
		t.Errorf("first batch = %+v, want %+v", res, want)
	}

	a1 := f.user("alice")
	want := store.User{ID: a1.ID, DirectoryID: f.dir.ID, Directory: "corp", ExternalID: "u1", DN: alice.DN,
		Status: store.StatusActive, SourceStatus: store.StatusActive, Profile: alice.Profile, Revision: 1, CreatedAt: a1.CreatedAt, UpdatedAt: a1.UpdatedAt}
	if !reflect.DeepEqual(*a1, want) {
		t.Errorf("alice = %+v\nwant %+v", *a1, want)
	}
	if a1.ID == "" || a1.CreatedAt.Before(before.Add(-timeTolerance)) || !sameTime(a1.UpdatedAt, a1.CreatedAt) {
		t.Errorf("alice ID %q CreatedAt %v UpdatedAt %v; want an id and both about %v", a1.ID, a1.CreatedAt, a1.UpdatedAt, before)
	}
	b1 := f.user("bob")

	time.Sleep(5 * time.Millisecond) // so that a rewrite shows in UpdatedAt
	bob2 := clone(bob)
	bob2.Profile.Title = "Manager"
	rehash(bob2)
	res = f.upsert(run, alice, bob2)
	if want := (store.BatchResult{Updated: 1, Unchanged: 1}); res != want {
		t.Errorf("second batch = %+v, want %+v", res, want)
	}
	a2, b2 := f.user("alice"), f.user("bob")
	if !sameTime(a2.UpdatedAt, a1.UpdatedAt) {
		t.Errorf("unchanged alice UpdatedAt %v, want still %v", a2.UpdatedAt, a1.UpdatedAt)
	}
	if b2.ID != b1.ID || b2.Title != "Manager" || !b2.UpdatedAt.After(b1.UpdatedAt) || !sameTime(b2.CreatedAt, b1.CreatedAt) {
		t.Errorf("updated bob = id %s title %q created %v updated %v; want id %s, Manager, created %v, updated after %v",
			b2.ID, b2.Title, b2.CreatedAt, b2.UpdatedAt, b1.ID, b1.CreatedAt, b1.UpdatedAt)
	}
	r := f.getRun(run.ID)
	wantCounts(t, r, 5, 3, 1, 1, 0, 0)
	if r.LastSequence != 2 {
		t.Errorf("LastSequence = %d, want 2", r.LastSequence)
	}

	// A status change with the same hash is still a change.
	bob3 := clone(bob2)
	bob3.Status = store.StatusSuspended
	if res := f.upsert(run, bob3); res.Updated != 1 {
		t.Errorf("status change = %+v, want Updated 1", res)
	}
	if got := f.user("bob").Status; got != store.StatusSuspended {
		t.Errorf("bob status = %s, want suspended", got)
	}
	_, err := s.GetUser(ctx, a1.ID)
	must(t, "GetUser", err)
}

func testBatchRenameKeepsIdentity(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	alice := newUser("u1", "alice")
	f.upsert(run, alice)
	before := f.user("alice")

	moved := clone(alice)
	moved.Profile.Username, moved.DN, moved.DNKey = "alice.smith", "uid=alice.smith,ou=Staff,dc=example,dc=org",
		"uid=alice.smith,ou=staff,dc=example,dc=org"
	rehash(moved)
	if res := f.upsert(run, moved); res.Updated != 1 || res.Created != 0 {
		t.Errorf("rename = %+v, want Updated 1, Created 0", res)
	}
	after := f.user("alice.smith")
	if after.ID != before.ID || after.DN != moved.DN {
		t.Errorf("renamed user id %s DN %q, want id %s DN %q", after.ID, after.DN, before.ID, moved.DN)
	}
	if us, _ := f.s.FindUsers(t.Context(), f.dir.ID, "alice"); len(us) != 0 {
		t.Errorf("old username still finds %d users", len(us))
	}
	// Another object taking the old DN is another object.
	if res := f.upsert(run, newUser("u9", "alice")); res.Created != 1 {
		t.Errorf("new object at the old DN = %+v, want Created 1", res)
	}
	if got := f.user("alice"); got.ID == before.ID {
		t.Errorf("the new object at the old DN took the renamed object's id %s", got.ID)
	}
}

func testBatchSameExternalIDTwice(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	first, last := newUser("u1", "alice"), newUser("u1", "alice")
	last.Profile.Title = "Last"
	rehash(last)
	if res := f.upsert(run, first, last); res != (store.BatchResult{Created: 1}) {
		t.Errorf("batch = %+v, want Created 1", res)
	}
	if got := f.user("alice").Title; got != "Last" {
		t.Errorf("title = %q, want the last version's", got)
	}
}

func testBatchDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	f.apply(run, store.Batch{Upserts: []*store.Object{newUser("u1", "alice")}, Checkpoint: []byte("c1")})
	f.apply(run, store.Batch{Upserts: []*store.Object{newUser("u2", "bob")}, Checkpoint: []byte("c2")})
	before := f.getRun(run.ID)
	alice := f.user("alice")

	changed := newUser("u1", "alice")
	changed.Profile.Title = "Changed"
	rehash(changed)
	for _, seq := range []uint64{1, 2} {
		res, err := s.ApplyBatch(ctx, &store.Batch{RunID: run.ID, DirectoryID: f.dir.ID, Sequence: seq,
			Upserts: []*store.Object{changed, newUser("u3", "carol")}, Deletes: []string{"u2"},
			Errors: []store.EntryError{{DN: "cn=x", Message: "bad"}}, Checkpoint: []byte("c3")})
		must(t, "ApplyBatch(redelivery)", err)
		if res != (store.BatchResult{Duplicate: true}) {
			t.Errorf("redelivery of sequence %d = %+v, want only Duplicate", seq, res)
		}
	}
	after := f.getRun(run.ID)
	if !reflect.DeepEqual(after, before) {
		t.Errorf("a duplicate changed the run:\n got %+v\nwant %+v", after, before)
	}
	if got := f.user("alice"); !reflect.DeepEqual(got, alice) {
		t.Errorf("a duplicate changed alice:\n got %+v\nwant %+v", got, alice)
	}
	if us, _ := s.FindUsers(ctx, f.dir.ID, "carol"); len(us) != 0 {
		t.Errorf("a duplicate created carol")
	}
	if got := f.user("bob").Status; got != store.StatusActive {
		t.Errorf("a duplicate deleted bob: status %s", got)
	}
	if cp, _ := s.Checkpoint(ctx, f.dir.ID); string(cp) != "c2" {
		t.Errorf("checkpoint = %q, want c2", cp)
	}
	// A redelivery after the run ended is still acknowledged as a duplicate.
	_, err := s.TransitionRun(ctx, run.ID, []store.RunState{store.RunRunning},
		store.RunUpdate{State: store.RunCompleted, Finished: true})
	must(t, "TransitionRun", err)
	res, err := s.ApplyBatch(ctx, &store.Batch{RunID: run.ID, DirectoryID: f.dir.ID, Sequence: 2})
	must(t, "ApplyBatch(redelivery after the end)", err)
	if !res.Duplicate {
		t.Errorf("redelivery after the end = %+v, want Duplicate", res)
	}
}

func testBatchRunNotRunning(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	run := f.run(store.RunFull)
	for _, st := range []store.RunState{store.RunPausedBySafeguard, store.RunFailed} {
		from := []store.RunState{store.RunRunning, store.RunPausedBySafeguard}
		_, err := s.TransitionRun(ctx, run.ID, from, store.RunUpdate{State: st})
		must(t, "TransitionRun", err)
		_, err = s.ApplyBatch(ctx, &store.Batch{RunID: run.ID, DirectoryID: f.dir.ID, Sequence: 1,
			Upserts: []*store.Object{newUser("u1", "alice")}})
		wantErr(t, fmt.Sprintf("ApplyBatch(run %s)", st), err, store.ErrConflict)
	}
	if us, _ := s.ListUsers(ctx, store.UserFilter{}); len(us) != 0 {
		t.Errorf("a refused batch wrote %d users", len(us))
	}
	_, err := s.ApplyBatch(ctx, &store.Batch{RunID: run.ID + 100, DirectoryID: f.dir.ID, Sequence: 1})
	wantErr(t, "ApplyBatch(unknown run)", err, store.ErrNotFound)
}

// testBatchWrongDirectory: a batch naming another directory than its run's
// is refused and changes nothing.
func testBatchWrongDirectory(t *testing.T, s store.Store) {
	ctx := t.Context()
	f, other := newFixture(t, s, "corp"), newFixture(t, s, "other")
	run := f.run(store.RunIncremental)
	_, err := s.ApplyBatch(ctx, &store.Batch{RunID: run.ID, DirectoryID: other.dir.ID, Sequence: 1,
		Upserts: []*store.Object{newUser("u1", "alice")}})
	if err == nil {
		t.Fatalf("ApplyBatch(batch of another directory) succeeded, want an error")
	}
	if r := f.getRun(run.ID); r.LastSequence != 0 || r.Seen != 0 {
		t.Errorf("a refused batch moved the run to sequence %d, %d seen", r.LastSequence, r.Seen)
	}
}

func testBatchDeletes(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	f.upsert(run, newUser("u1", "alice"), newUser("u2", "bob"), newGroup("g1", "staff"))
	alice := f.user("alice")
	time.Sleep(5 * time.Millisecond)

	res := f.apply(run, store.Batch{Deletes: []string{"u1", "g1", "unknown", "u1"}})
	if want := (store.BatchResult{Deleted: 2}); res != want {
		t.Errorf("deletes = %+v, want %+v", res, want)
	}
	got, err := s.GetUser(ctx, alice.ID)
	must(t, "GetUser(deleted)", err)
	if got.Status != store.StatusDeprovisioned || !got.UpdatedAt.After(alice.UpdatedAt) {
		t.Errorf("deleted alice status %s updated %v; want deprovisioned, after %v", got.Status, got.UpdatedAt, alice.UpdatedAt)
	}
	if g := f.group("staff"); g.Status != store.StatusDeprovisioned {
		t.Errorf("deleted group status %s, want deprovisioned", g.Status)
	}
	if b := f.user("bob"); b.Status != store.StatusActive {
		t.Errorf("bob status %s, want active", b.Status)
	}
	if res := f.apply(run, store.Batch{Deletes: []string{"u1"}}); res.Deleted != 0 {
		t.Errorf("deleting again = %+v, want Deleted 0", res)
	}
	wantCounts(t, f.getRun(run.ID), 3, 3, 0, 0, 2, 0)
}

func testBatchRestore(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	alice := newUser("u1", "alice")
	f.upsert(run, alice)
	f.apply(run, store.Batch{Deletes: []string{"u1"}})
	if res := f.upsert(run, alice); res != (store.BatchResult{Updated: 1}) {
		t.Errorf("reappearing with the same hash = %+v, want Updated 1", res)
	}
	if got := f.user("alice").Status; got != store.StatusActive {
		t.Errorf("restored alice status %s, want active", got)
	}
}

func testBatchErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	run := f.run(store.RunFull)
	errs := func(from, n int) []store.EntryError {
		var out []store.EntryError
		for i := from; i < from+n; i++ {
			out = append(out, store.EntryError{DN: fmt.Sprintf("uid=e%d,dc=example,dc=org", i),
				ExternalID: fmt.Sprintf("e%d", i), Kind: store.ObjectUser, Message: fmt.Sprintf("error %d", i)})
		}
		return out
	}
	res := f.apply(run, store.Batch{Upserts: []*store.Object{newUser("u1", "alice")}, Errors: errs(0, 600)})
	if want := (store.BatchResult{Created: 1, Errs: 600}); res != want {
		t.Errorf("batch with errors = %+v, want %+v", res, want)
	}
	f.apply(run, store.Batch{Errors: errs(600, 600)})
	wantCounts(t, f.getRun(run.ID), 1, 1, 0, 0, 0, 1200)

	tests := []struct {
		name  string
		limit int
		want  int
	}{
		{"all kept", 0, 1000},
		{"limit", 10, 10},
		{"above the cap", 5000, 1000},
	}
	for _, tc := range tests {
		got, err := s.RunErrors(ctx, run.ID, tc.limit)
		must(t, "RunErrors", err)
		if len(got) != tc.want {
			t.Errorf("%s: RunErrors(%d) returned %d, want %d", tc.name, tc.limit, len(got), tc.want)
			continue
		}
		if want := errs(0, 1)[0]; got[0] != want {
			t.Errorf("%s: first error %+v, want %+v", tc.name, got[0], want)
		}
		if want := errs(tc.want-1, 1)[0]; got[tc.want-1] != want {
			t.Errorf("%s: last error %+v, want %+v", tc.name, got[tc.want-1], want)
		}
	}
	_, err := s.RunErrors(ctx, run.ID+100, 10)
	wantErr(t, "RunErrors(unknown run)", err, store.ErrNotFound)
}

func testBatchCheckpoint(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	other := newFixture(t, s, "other")
	cp, err := s.Checkpoint(ctx, f.dir.ID)
	must(t, "Checkpoint", err)
	if cp != nil {
		t.Errorf("Checkpoint before any batch = %q, want nil", cp)
	}
	run := f.run(store.RunIncremental)
	steps := []struct {
		name string
		cp   []byte
		want []byte
	}{
		{"stored", []byte{0, 1, 2, 0xff}, []byte{0, 1, 2, 0xff}},
		{"kept without one", nil, []byte{0, 1, 2, 0xff}},
		{"replaced", []byte("cookie-2"), []byte("cookie-2")},
	}
	for _, st := range steps {
		f.apply(run, store.Batch{Upserts: []*store.Object{newUser("u1", "alice")}, Checkpoint: st.cp})
		got, err := s.Checkpoint(ctx, f.dir.ID)
		must(t, "Checkpoint", err)
		if !bytes.Equal(got, st.want) {
			t.Errorf("%s: Checkpoint = %q, want %q", st.name, got, st.want)
		}
	}
	if got, _ := s.Checkpoint(ctx, other.dir.ID); got != nil {
		t.Errorf("other directory's checkpoint = %q, want nil", got)
	}
}

// testBatchConcurrentRedelivery: a batch delivered several times at once is
// applied once.
func testBatchConcurrentRedelivery(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	const n = 6
	results := make([]store.BatchResult, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = s.ApplyBatch(t.Context(), &store.Batch{RunID: run.ID, DirectoryID: f.dir.ID,
				Sequence: 1, Upserts: []*store.Object{newUser("u1", "alice"), newUser("u2", "bob")}})
		})
	}
	close(start)
	wg.Wait()
	applied := 0
	for i := range n {
		must(t, fmt.Sprintf("delivery %d", i), errs[i])
		if !results[i].Duplicate {
			applied++
		}
	}
	if applied != 1 {
		t.Errorf("%d deliveries applied, want 1", applied)
	}
	wantCounts(t, f.getRun(run.ID), 2, 2, 0, 0, 0, 0)
}

// testBatchConcurrentWriters: runs of several directories writing at once
// all succeed (no "database is locked").
func testBatchConcurrentWriters(t *testing.T, s store.Store) {
	const writers, batches, size = 4, 10, 20
	fs := make([]*fixture, writers)
	runs := make([]*store.Run, writers)
	for w := range writers {
		fs[w] = newFixture(t, s, fmt.Sprint("dir", w))
		runs[w] = fs[w].run(store.RunFull)
	}
	errs := make(chan error, writers*batches)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				var objs []*store.Object
				for i := range size {
					objs = append(objs, newUser(fmt.Sprintf("u%d-%d", b, i), fmt.Sprintf("user%d-%d", b, i)))
				}
				_, err := s.ApplyBatch(t.Context(), &store.Batch{RunID: runs[w].ID, DirectoryID: fs[w].dir.ID,
					Sequence: uint64(b + 1), Upserts: objs})
				if err != nil {
					errs <- fmt.Errorf("writer %d batch %d: %w", w, b, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range writers {
		wantCounts(t, fs[w].getRun(runs[w].ID), batches*size, batches*size, 0, 0, 0, 0)
	}
}

// testBatchSeveral: ApplyBatches applies batches in order in one
// transaction — a later batch sees what an earlier one wrote (a delete
// after a create, a create after a delete), a repeated sequence is
// Duplicate, the last checkpoint is stored — and when one fails, none of
// them is.
func testBatchSeveral(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	f.apply(run, store.Batch{Upserts: []*store.Object{newUser("u1", "alice")}, Checkpoint: []byte("c1")})
	b := func(seq uint64, cp string, ups []*store.Object, dels ...string) *store.Batch {
		return &store.Batch{RunID: run.ID, DirectoryID: f.dir.ID, Sequence: seq, Upserts: ups, Deletes: dels, Checkpoint: []byte(cp)}
	}
	res, err := s.ApplyBatches(ctx, []*store.Batch{
		b(1, "c1 again", []*store.Object{newUser("u9", "ignored")}),
		b(2, "c2", []*store.Object{newUser("u2", "bob")}),
		b(3, "c3", nil, "u2", "u1"),
		b(4, "c4", []*store.Object{newUser("u1", "alice")}),
		b(4, "c4 again", []*store.Object{newUser("u9", "ignored")}),
	})
	must(t, "ApplyBatches", err)
	want := []store.BatchResult{{Duplicate: true}, {Created: 1}, {Deleted: 2}, {Created: 0, Updated: 1}, {Duplicate: true}}
	if len(res) != len(want) {
		t.Fatalf("ApplyBatches returned %d results, want %d", len(res), len(want))
	}
	for i := range want {
		if res[i] != want[i] {
			t.Errorf("batch %d: result %+v, want %+v", i+1, res[i], want[i])
		}
	}
	if got := f.user("alice").Status; got != store.StatusActive {
		t.Errorf("alice, deleted then restored in one call: status %s, want active", got)
	}
	if got := f.user("bob").Status; got != store.StatusDeprovisioned {
		t.Errorf("bob, created then deleted in one call: status %s, want deprovisioned", got)
	}
	if us, _ := s.FindUsers(ctx, f.dir.ID, "ignored"); len(us) != 0 {
		t.Errorf("a duplicate in ApplyBatches created a user")
	}
	if cp, _ := s.Checkpoint(ctx, f.dir.ID); string(cp) != "c4" {
		t.Errorf("checkpoint = %q, want c4", cp)
	}
	wantCounts(t, f.getRun(run.ID), 3, 2, 1, 0, 2, 0)

	// A batch of another directory fails the call: the batch before it in
	// the call is not applied either, and the run's sequence stays.
	other := newFixture(t, s, "other")
	_, err = s.ApplyBatches(ctx, []*store.Batch{
		b(5, "c5", []*store.Object{newUser("u5", "carol")}),
		{RunID: run.ID, DirectoryID: other.dir.ID, Sequence: 6, Upserts: []*store.Object{newUser("u6", "dave")}},
	})
	if err == nil {
		t.Fatal("ApplyBatches with a batch of another directory succeeded")
	}
	if us, _ := s.FindUsers(ctx, f.dir.ID, "carol"); len(us) != 0 {
		t.Errorf("a failed ApplyBatches kept the batch before the failing one")
	}
	if cp, _ := s.Checkpoint(ctx, f.dir.ID); string(cp) != "c4" {
		t.Errorf("checkpoint after a failed ApplyBatches = %q, want c4", cp)
	}
	res, err = s.ApplyBatches(ctx, []*store.Batch{b(5, "c5", []*store.Object{newUser("u5", "carol")})})
	must(t, "ApplyBatches(sequence 5 after the failure)", err)
	if res[0].Duplicate || res[0].Created != 1 {
		t.Errorf("sequence 5 after the failed call = %+v, want created 1", res[0])
	}
}
