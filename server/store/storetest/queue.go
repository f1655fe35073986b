package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
)

var queueTests = []test{
	{"EnqueueCoalesces", testQueueEnqueueCoalesces},
	{"EnqueueKeepsBackoff", testQueueEnqueueKeepsBackoff},
	{"EnqueueMany", testQueueEnqueueMany},
	{"LeasesExtendRelease", testQueueLeasesExtendRelease},
	{"CompleteJobs", testQueueCompleteJobs},
	{"CycleJobs", testQueueCycleJobs},
	{"ConcurrentEnqueue", testQueueConcurrentEnqueue},
	{"ClaimOrderAndLimit", testQueueClaimOrder},
	{"Again", testQueueAgain},
	{"Wait", testQueueWait},
	{"LeaseExpiry", testQueueLeaseExpiry},
	{"OwnerChecks", testQueueOwnerChecks},
	{"PausedApp", testQueuePausedApp},
	{"RetryAndDead", testQueueRetryAndDead},
	{"RequeueDead", testQueueRequeueDead},
	{"PruneDone", testQueuePruneDone},
	{"Stats", testQueueStats},
	{"ConcurrentClaimers", testQueueConcurrentClaimers},
}

// t0 is the queue tests' clock: jobs take the caller's time.
var t0 = time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)

// at is t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// enqueue enqueues a job and returns it.
func enqueue(t testing.TB, s store.Store, appID int64, kind store.JobKind, target string, now time.Time) *store.Job {
	t.Helper()
	j, err := s.Enqueue(t.Context(), appID, kind, target, now)
	must(t, fmt.Sprintf("Enqueue(%s %s)", kind, target), err)
	return j
}

// claim claims jobs and returns their targets in the order returned.
func claim(t testing.TB, s store.Store, appID int64, owner string, now time.Time, limit int) ([]*store.Job, []string) {
	t.Helper()
	jobs, err := s.ClaimJobs(t.Context(), appID, owner, now, time.Minute, limit)
	must(t, "ClaimJobs", err)
	return jobs, pluck(jobs, jobTarget)
}

func jobTarget(j *store.Job) string { return j.Target }

// job reads one job back by id.
func job(t testing.TB, s store.Store, id int64) *store.Job {
	t.Helper()
	jobs, err := s.ListJobs(t.Context(), store.JobFilter{Limit: 10000})
	must(t, "ListJobs", err)
	for _, j := range jobs {
		if j.ID == id {
			return j
		}
	}
	t.Fatalf("job %d not found", id)
	return nil
}

func testQueueEnqueueCoalesces(t *testing.T, s store.Store) {
	a, other := newApp(t, s, "crm"), newApp(t, s, "billing")
	first := enqueue(t, s, a.ID, store.JobUser, "u1", at(time.Minute))
	if first.ID == 0 || first.State != store.JobQueued || first.Attempts != 0 || !first.NextAt.Equal(at(time.Minute)) ||
		first.AppID != a.ID || first.Kind != store.JobUser || first.Target != "u1" || first.Again {
		t.Fatalf("Enqueue = %+v, want a new queued job of crm, user u1, due at %v", first, at(time.Minute))
	}
	steps := []struct {
		name     string
		app      int64
		kind     store.JobKind
		target   string
		now      time.Time
		same     bool // the first job
		wantNext time.Time
	}{
		{"later: kept as due", a.ID, store.JobUser, "u1", at(time.Hour), true, at(time.Minute)},
		{"earlier: due earlier", a.ID, store.JobUser, "u1", at(0), true, at(0)},
		{"another target", a.ID, store.JobUser, "u2", at(0), false, at(0)},
		{"another kind", a.ID, store.JobGroup, "u1", at(0), false, at(0)},
		{"another app", other.ID, store.JobUser, "u1", at(0), false, at(0)},
	}
	for _, st := range steps {
		j := enqueue(t, s, st.app, st.kind, st.target, st.now)
		if (j.ID == first.ID) != st.same || !j.NextAt.Equal(st.wantNext) || j.State != store.JobQueued {
			t.Errorf("%s: job %d due %v (%s); want the first job %v, due %v, queued", st.name, j.ID, j.NextAt, j.State,
				st.same, st.wantNext)
		}
	}
	jobs, err := s.ListJobs(t.Context(), store.JobFilter{})
	must(t, "ListJobs", err)
	if len(jobs) != 4 || !slices.IsSortedFunc(jobs, func(a, b *store.Job) int { return cmp.Compare(a.ID, b.ID) }) {
		t.Errorf("ListJobs = %d jobs, want 4 by id", len(jobs))
	}
	_, err = s.Enqueue(t.Context(), 999, store.JobUser, "u1", at(0))
	wantErr(t, "Enqueue(unknown app)", err, store.ErrNotFound)
}

// testQueueEnqueueKeepsBackoff: a job waiting after a failure (a backoff,
// an app's Retry-After) keeps its time when the target changes again, so
// the app is not called early; one waiting without an error (a retention)
// is due at once.
func testQueueEnqueueKeepsBackoff(t *testing.T, s store.Store) {
	a := newApp(t, s, "crm")
	for _, tc := range []struct {
		name, lastError string
		wantNext        time.Time
	}{
		{"after a failure", "429: retry after 2m", at(2 * time.Minute)},
		{"waiting without an error", "", at(time.Second)},
	} {
		target := "u-" + tc.name
		enqueue(t, s, a.ID, store.JobUser, target, at(0))
		jobs, _ := claim(t, s, a.ID, "w1", at(0), 10)
		if len(jobs) != 1 {
			t.Fatalf("%s: claimed %d jobs, want 1", tc.name, len(jobs))
		}
		must(t, "RetryJob", s.RetryJob(t.Context(), jobs[0].ID, "w1", at(2*time.Minute), tc.lastError))
		if j := enqueue(t, s, a.ID, store.JobUser, target, at(time.Second)); !j.NextAt.Equal(tc.wantNext) || j.ID != jobs[0].ID {
			t.Errorf("%s: Enqueue = job %d due %v, want job %d due %v", tc.name, j.ID, j.NextAt, jobs[0].ID, tc.wantNext)
		}
	}
}

// testQueueEnqueueMany: many targets at once, coalescing with the jobs
// there as Enqueue does, each target once however often it is named.
func testQueueEnqueueMany(t *testing.T, s store.Store) {
	a := newApp(t, s, "crm")
	queued := enqueue(t, s, a.ID, store.JobUser, "u0", at(time.Hour))
	running := enqueue(t, s, a.ID, store.JobUser, "u1", at(0))
	if jobs, _ := claim(t, s, a.ID, "w1", at(0), 1); len(jobs) != 1 || jobs[0].ID != running.ID {
		t.Fatalf("claimed %v, want u1", jobs)
	}
	targets := []string{"u0", "u1", "u2", "u2"}
	for i := range 3000 {
		targets = append(targets, fmt.Sprintf("bulk%04d", i))
	}
	must(t, "EnqueueMany", s.EnqueueMany(t.Context(), a.ID, store.JobUser, targets, at(time.Minute)))
	jobs, err := s.ListJobs(t.Context(), store.JobFilter{AppID: a.ID, Limit: 10000})
	must(t, "ListJobs", err)
	if len(jobs) != 3003 {
		t.Fatalf("%d jobs, want 3003 (u0, u1, u2 and 3,000 more)", len(jobs))
	}
	byTarget := map[string]*store.Job{}
	for _, j := range jobs {
		byTarget[j.Target] = j
	}
	if j := byTarget["u0"]; j.ID != queued.ID || !j.NextAt.Equal(at(time.Minute)) {
		t.Errorf("u0 = job %d due %v, want job %d due earlier, at %v", j.ID, j.NextAt, queued.ID, at(time.Minute))
	}
	if j := byTarget["u1"]; j.ID != running.ID || j.State != store.JobRunning || !j.Again {
		t.Errorf("u1 = %+v, want the running job marked again", j)
	}
	if j := byTarget["bulk2999"]; j == nil || j.State != store.JobQueued || !j.NextAt.Equal(at(time.Minute)) {
		t.Errorf("bulk2999 = %+v, want queued at %v", j, at(time.Minute))
	}
	must(t, "EnqueueMany(none)", s.EnqueueMany(t.Context(), a.ID, store.JobUser, nil, at(0)))
	wantErr(t, "EnqueueMany(unknown app)", s.EnqueueMany(t.Context(), 999, store.JobUser, []string{"x"}, at(0)), store.ErrNotFound)
}

// testQueueLeasesExtendRelease: a worker renews the leases of the jobs it
// holds, and a hub that starts again takes back what it held.
func testQueueLeasesExtendRelease(t *testing.T, s store.Store) {
	a := newApp(t, s, "crm")
	for _, target := range []string{"u1", "u2", "u3"} {
		enqueue(t, s, a.ID, store.JobUser, target, at(0))
	}
	mine, _ := claim(t, s, a.ID, "w1", at(0), 2) // leases end at at(time.Minute)
	theirs, _ := claim(t, s, a.ID, "w2", at(0), 1)
	if len(mine) != 2 || len(theirs) != 1 {
		t.Fatalf("claimed %d and %d jobs, want 2 and 1", len(mine), len(theirs))
	}
	ids := []int64{mine[0].ID, mine[1].ID, theirs[0].ID}
	must(t, "ExtendJobLeases", s.ExtendJobLeases(t.Context(), "w1", ids, at(time.Hour)))
	// Past the first leases: only w2's job (not renewed by w1) is due again.
	if got, _ := claim(t, s, a.ID, "w3", at(2*time.Minute), 10); len(got) != 1 || got[0].ID != theirs[0].ID {
		t.Errorf("claim after the first leases = %v, want w2's job alone", got)
	}
	n, err := s.ReleaseJobs(t.Context(), "w1", at(150*time.Second))
	if err != nil || n != 2 {
		t.Fatalf("ReleaseJobs = %d, %v; want 2", n, err)
	}
	got, _ := claim(t, s, a.ID, "w1", at(150*time.Second), 10)
	if len(got) != 2 || got[0].Attempts != 2 {
		t.Errorf("claim after the release = %v, want w1's 2 jobs, second attempt", got)
	}
	if n, err := s.ReleaseJobs(t.Context(), "nobody", at(0)); err != nil || n != 0 {
		t.Errorf("ReleaseJobs(nobody) = %d, %v; want 0", n, err)
	}
}

// testQueueCompleteJobs: jobs that end together complete in one call with
// the accounts they left (the last, when two name one account) and the
// audit events of those it completed, each counted once as activity;
// another owner's job is left alone (its event unwritten), a job marked
// again is queued again.
func testQueueCompleteJobs(t *testing.T, s store.Store) {
	w := newAppWorld(t, s) // alice's job of crm is queued
	a := w.crm
	enqueue(t, s, a.ID, store.JobUser, w.bob.ID, time.Now())
	enqueue(t, s, a.ID, store.JobGroup, w.staff.ID, time.Now())
	mine, _ := claim(t, s, a.ID, "w1", time.Now(), 2)
	theirs, _ := claim(t, s, a.ID, "w2", time.Now(), 1)
	if len(mine) != 2 || len(theirs) != 1 {
		t.Fatalf("claimed %d and %d jobs, want 2 and 1", len(mine), len(theirs))
	}
	enqueue(t, s, a.ID, mine[1].Kind, mine[1].Target, time.Now()) // marked again
	bob := &store.Account{AppID: a.ID, UserID: w.bob.ID, RemoteID: "r-bob", State: store.AccountActive, Hash: "h"}
	earlier := &store.Account{AppID: a.ID, UserID: w.bob.ID, RemoteID: "r-old", State: store.AccountCreating}
	event := func(target string) *store.AuditEvent {
		return &store.AuditEvent{Actor: "app:crm", Action: store.ActivityPushSucceeded, Target: target, AppID: a.ID}
	}
	start := time.Now()
	n, err := s.CompleteJobs(t.Context(), "w1", time.Now(), []store.JobResult{
		{ID: mine[1].ID, Account: earlier, Audit: event("mine-1")}, {ID: mine[0].ID, Account: bob, Audit: event("mine-0")},
		{ID: theirs[0].ID, Audit: event("theirs")}})
	if err != nil || n != 2 {
		t.Fatalf("CompleteJobs = %d, %v; want 2", n, err)
	}
	evs, err := s.ListAudit(t.Context(), store.AuditFilter{Action: store.ActivityPushSucceeded})
	must(t, "ListAudit", err)
	var targets []string
	for _, e := range evs {
		targets = append(targets, e.Target)
	}
	if want := []string{"mine-1", "mine-0"}; !slices.Equal(targets, want) {
		t.Errorf("audit events of CompleteJobs: %q, want %q (those it completed, in order)", targets, want)
	}
	for _, c := range []struct {
		f    store.ActivityFilter
		want int64
	}{{store.ActivityFilter{}, 2}, {store.ActivityFilter{OnlyApps: true, Apps: []int64{a.ID}}, 2},
		{store.ActivityFilter{OnlyApps: true, Apps: []int64{a.ID + 1000}}, 0}} {
		counts, err := s.Activity(t.Context(), start.Add(-time.Hour), c.f)
		must(t, "Activity", err)
		var pushed int64
		for _, c := range counts {
			if c.Kind == store.ActivityPushSucceeded {
				pushed += c.N
			}
		}
		if pushed != c.want {
			t.Errorf("activity %s of %+v = %d, want %d (counted under the job's app)", store.ActivityPushSucceeded, c.f, pushed, c.want)
		}
	}
	states := map[int64]store.JobState{}
	jobs, err := s.ListJobs(t.Context(), store.JobFilter{AppID: a.ID})
	must(t, "ListJobs", err)
	for _, j := range jobs {
		states[j.ID] = j.State
	}
	want := map[int64]store.JobState{mine[0].ID: store.JobDone, mine[1].ID: store.JobQueued, theirs[0].ID: store.JobRunning}
	for id, st := range want {
		if states[id] != st {
			t.Errorf("job %d is %s, want %s", id, states[id], st)
		}
	}
	got, err := s.GetAccount(t.Context(), a.ID, w.bob.ID)
	if err != nil || got.RemoteID != "r-bob" || got.State != store.AccountActive || got.Hash != "h" {
		t.Errorf("bob's account = %+v, %v; want it stored", got, err)
	}
}

// testQueueCycleJobs: one call completes the jobs that ended (with their
// accounts and audit events, as CompleteJobs) and then claims due jobs (as
// ClaimJobs) — a job it completed that was marked Again among them, with
// its account stored — and says what the claim read of the app; without
// a claim it claims nothing, and a paused app gives none; an unknown app
// completes nothing.
func testQueueCycleJobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newAppWorld(t, s) // alice's job of crm is queued
	a := w.crm
	enqueue(t, s, a.ID, store.JobUser, w.bob.ID, at(0))
	mine, _ := claim(t, s, a.ID, "w1", at(time.Second), 2)
	if len(mine) != 2 {
		t.Fatalf("claimed %d jobs, want 2", len(mine))
	}
	enqueue(t, s, a.ID, store.JobUser, mine[0].Target, at(time.Second)) // marked again
	enqueue(t, s, a.ID, store.JobGroup, w.staff.ID, at(time.Second))
	acct := &store.Account{AppID: a.ID, UserID: mine[0].Target, RemoteID: "r-0", State: store.AccountActive, Hash: "h0"}
	done := []store.JobResult{{ID: mine[0].ID, Account: acct,
		Audit: &store.AuditEvent{Actor: "hub", Action: store.ActivityPushSucceeded, Target: "app:crm"}}, {ID: mine[1].ID}}

	res, err := s.CycleJobs(ctx, store.JobCycle{Owner: "w1", Now: at(time.Minute), Done: done, AppID: a.ID, Lease: time.Minute, Limit: 10})
	must(t, "CycleJobs", err)
	if res.Completed != 2 {
		t.Errorf("CycleJobs completed %d jobs, want 2", res.Completed)
	}
	// The group job was due first; the user job marked Again is due at
	// the cycle's time.
	if got, want := pluck(res.Claimed, jobTarget), []string{w.staff.ID, mine[0].Target}; !slices.Equal(got, want) {
		t.Errorf("CycleJobs claimed %v, want %v", got, want)
	}
	for _, j := range res.Claimed {
		if j.State != store.JobRunning || j.Owner != "w1" || j.Attempts != 1 || !sameTime(j.LeaseUntil, at(2*time.Minute)) {
			t.Errorf("claimed job %+v: want running for w1, attempt 1, leased until %v", j, at(2*time.Minute))
		}
	}
	app, err := s.GetAppByID(ctx, a.ID)
	must(t, "GetAppByID", err)
	if res.App.Status != app.Status || !res.App.UpdatedAt.Equal(app.UpdatedAt) {
		t.Errorf("CycleJobs read the app as %+v, want status %s updated %v", res.App, app.Status, app.UpdatedAt)
	}
	if got, err := s.GetAccount(ctx, a.ID, mine[0].Target); err != nil || got.RemoteID != "r-0" || got.Hash != "h0" {
		t.Errorf("account of the completed job = %+v, %v; want it stored", got, err)
	}
	if evs, err := s.ListAudit(ctx, store.AuditFilter{Action: store.ActivityPushSucceeded}); err != nil || len(evs) != 1 {
		t.Errorf("audit events of the cycle: %d, %v; want 1", len(evs), err)
	}
	if got := job(t, s, mine[1].ID); got.State != store.JobDone {
		t.Errorf("completed job is %s, want done", got.State)
	}

	// No claim: the jobs complete, nothing is claimed.
	enqueue(t, s, a.ID, store.JobUser, "u-later", at(time.Minute))
	res, err = s.CycleJobs(ctx, store.JobCycle{Owner: "w1", Now: at(2 * time.Minute),
		Done: []store.JobResult{{ID: res.Claimed[0].ID}}, AppID: a.ID, Lease: time.Minute})
	must(t, "CycleJobs(no claim)", err)
	if res.Completed != 1 || len(res.Claimed) != 0 {
		t.Errorf("CycleJobs(no claim) = %+v, want 1 completed, none claimed", res)
	}

	must(t, "SetAppStatus(paused)", s.SetAppStatus(ctx, a.ID, store.AppPaused, "401"))
	res, err = s.CycleJobs(ctx, store.JobCycle{Owner: "w1", Now: at(2 * time.Minute), AppID: a.ID, Lease: time.Minute, Limit: 10})
	must(t, "CycleJobs(paused)", err)
	if len(res.Claimed) != 0 || res.App.Status != store.AppPaused {
		t.Errorf("CycleJobs(paused app) = %+v, want nothing claimed and the app paused", res)
	}

	last, _ := claim(t, s, w.billing.ID, "w1", at(2*time.Minute), 1)
	_, err = s.CycleJobs(ctx, store.JobCycle{Owner: "w1", Now: at(2 * time.Minute), Done: []store.JobResult{{ID: last[0].ID}},
		AppID: 999, Lease: time.Minute, Limit: 1})
	wantErr(t, "CycleJobs(unknown app)", err, store.ErrNotFound)
	if got := job(t, s, last[0].ID); got.State != store.JobRunning {
		t.Errorf("job of a failed cycle is %s, want still running", got.State)
	}
}

// testQueueConcurrentEnqueue: a burst of changes to one user, from several
// replicas at once, costs one job.
func testQueueConcurrentEnqueue(t *testing.T, s store.Store) {
	a := newApp(t, s, "crm")
	ids := make([]int64, 16)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			j, err := s.Enqueue(t.Context(), a.ID, store.JobUser, "u1", at(time.Duration(i)*time.Second))
			if err != nil {
				t.Errorf("Enqueue %d: %v", i, err)
				return
			}
			ids[i] = j.ID
		})
	}
	wg.Wait()
	if distinct := slices.Compact(slices.Sorted(slices.Values(ids))); len(distinct) != 1 {
		t.Errorf("16 concurrent Enqueue made jobs %v, want one", distinct)
	}
	if j := job(t, s, ids[0]); !j.NextAt.Equal(at(0)) {
		t.Errorf("the coalesced job is due %v, want the earliest, %v", j.NextAt, at(0))
	}
}

func testQueueClaimOrder(t *testing.T, s store.Store) {
	a, other := newApp(t, s, "crm"), newApp(t, s, "billing")
	for _, e := range []struct {
		target string
		due    time.Duration
	}{{"c", 3 * time.Second}, {"a", time.Second}, {"later", time.Hour}, {"b", 2 * time.Second}, {"d", 4 * time.Second}} {
		enqueue(t, s, a.ID, store.JobUser, e.target, at(e.due))
	}
	enqueue(t, s, other.ID, store.JobUser, "theirs", at(0))
	steps := []struct {
		name  string
		now   time.Time
		limit int
		want  []string
	}{
		{"oldest NextAt first, up to the limit", at(time.Minute), 2, []string{"a", "b"}},
		{"only what is due", at(3 * time.Second), 10, []string{"c"}},
		{"the rest that is due", at(time.Minute), 10, []string{"d"}},
		{"nothing due", at(time.Minute), 10, nil},
		{"a limit below 1 takes 1", at(2 * time.Hour), 0, []string{"later"}},
	}
	for _, st := range steps {
		jobs, got := claim(t, s, a.ID, "w1", st.now, st.limit)
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: claimed %v, want %v", st.name, got, st.want)
		}
		for _, j := range jobs {
			if j.State != store.JobRunning || j.Owner != "w1" || j.Attempts != 1 || !j.LeaseUntil.Equal(st.now.Add(time.Minute)) {
				t.Errorf("%s: claimed %+v; want running for w1, attempt 1, lease until %v", st.name, j, st.now.Add(time.Minute))
			}
			// Done, so that its lease does not expire into a later step.
			must(t, "CompleteJob", s.CompleteJob(t.Context(), j.ID, "w1", st.now))
		}
	}
	_, err := s.ClaimJobs(t.Context(), 999, "w1", at(0), time.Minute, 1)
	wantErr(t, "ClaimJobs(unknown app)", err, store.ErrNotFound)
}

func testQueueAgain(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newApp(t, s, "crm")
	j := enqueue(t, s, a.ID, store.JobUser, "u1", at(0))
	claim(t, s, a.ID, "w1", at(time.Second), 1)
	// Changes while it runs mark it Again: still one job.
	for i := range 3 {
		if k := enqueue(t, s, a.ID, store.JobUser, "u1", at(2*time.Second)); k.ID != j.ID || !k.Again ||
			k.State != store.JobRunning {
			t.Fatalf("Enqueue %d while running = job %d (%s, again %v); want job %d running, again", i, k.ID, k.State, k.Again, j.ID)
		}
	}
	must(t, "CompleteJob", s.CompleteJob(ctx, j.ID, "w1", at(5*time.Second)))
	got := job(t, s, j.ID)
	if got.State != store.JobQueued || got.Again || got.Attempts != 0 || !got.NextAt.Equal(at(5*time.Second)) ||
		!got.FinishedAt.IsZero() {
		t.Errorf("after completing a job marked Again: %+v; want queued at once (%v), attempts 0, not again", got, at(5*time.Second))
	}
	jobs, _ := claim(t, s, a.ID, "w2", at(5*time.Second), 1)
	if len(jobs) != 1 || jobs[0].ID != j.ID || jobs[0].Attempts != 1 {
		t.Fatalf("claiming again = %+v, want job %d at attempt 1", jobs, j.ID)
	}
	must(t, "CompleteJob", s.CompleteJob(ctx, j.ID, "w2", at(6*time.Second)))
	if got := job(t, s, j.ID); got.State != store.JobDone || !got.FinishedAt.Equal(at(6*time.Second)) || got.Owner != "w2" {
		t.Errorf("after the second run: %+v; want done at %v by w2", got, at(6*time.Second))
	}
	// A change after it is done queues a new job.
	if k := enqueue(t, s, a.ID, store.JobUser, "u1", at(7*time.Second)); k.ID == j.ID || k.State != store.JobQueued {
		t.Errorf("Enqueue after done = job %d (%s), want a new queued job", k.ID, k.State)
	}
}

func testQueueLeaseExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newApp(t, s, "crm")
	j := enqueue(t, s, a.ID, store.JobUser, "u1", at(0))
	claim(t, s, a.ID, "dead-worker", at(0), 1) // lease until at(1m)
	if _, got := claim(t, s, a.ID, "w2", at(30*time.Second), 1); got != nil {
		t.Errorf("claimed %v while the lease is current, want nothing", got)
	}
	jobs, _ := claim(t, s, a.ID, "w2", at(time.Minute), 1)
	if len(jobs) != 1 || jobs[0].ID != j.ID || jobs[0].Owner != "w2" || jobs[0].Attempts != 2 {
		t.Fatalf("claiming after the lease expired = %+v, want job %d for w2 at attempt 2", jobs, j.ID)
	}
	// The first worker wakes up: its job is someone else's now.
	wantErr(t, "CompleteJob(old owner)", s.CompleteJob(ctx, j.ID, "dead-worker", at(time.Minute)), store.ErrConflict)
	wantErr(t, "RetryJob(old owner)", s.RetryJob(ctx, j.ID, "dead-worker", at(time.Hour), "x"), store.ErrConflict)
	wantErr(t, "DeadJob(old owner)", s.DeadJob(ctx, j.ID, "dead-worker", "x", at(time.Minute)), store.ErrConflict)
	if got := job(t, s, j.ID); got.State != store.JobRunning || got.Owner != "w2" {
		t.Errorf("after the old owner's attempts: %s by %s, want running by w2", got.State, got.Owner)
	}
	must(t, "CompleteJob(new owner)", s.CompleteJob(ctx, j.ID, "w2", at(time.Minute)))
}

func testQueueOwnerChecks(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newApp(t, s, "crm")
	queued := enqueue(t, s, a.ID, store.JobUser, "queued", at(time.Hour))
	done := enqueue(t, s, a.ID, store.JobUser, "done", at(0))
	claim(t, s, a.ID, "w1", at(0), 1)
	must(t, "CompleteJob", s.CompleteJob(ctx, done.ID, "w1", at(0)))
	tests := []struct {
		name string
		id   int64
		want error
	}{
		{"unknown", 999, store.ErrNotFound},
		{"queued, not claimed", queued.ID, store.ErrConflict},
		{"done", done.ID, store.ErrConflict},
	}
	for _, tc := range tests {
		wantErr(t, "CompleteJob: "+tc.name, s.CompleteJob(ctx, tc.id, "w1", at(0)), tc.want)
		wantErr(t, "RetryJob: "+tc.name, s.RetryJob(ctx, tc.id, "w1", at(0), "x"), tc.want)
		wantErr(t, "DeadJob: "+tc.name, s.DeadJob(ctx, tc.id, "w1", "x", at(0)), tc.want)
	}
}

func testQueuePausedApp(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, other := newApp(t, s, "crm"), newApp(t, s, "billing")
	enqueue(t, s, a.ID, store.JobUser, "u1", at(0))
	enqueue(t, s, other.ID, store.JobUser, "u1", at(0))
	must(t, "SetAppStatus(paused)", s.SetAppStatus(ctx, a.ID, store.AppPaused, "401"))
	if _, got := claim(t, s, a.ID, "w1", at(time.Minute), 10); got != nil {
		t.Errorf("claimed %v of a paused app, want nothing", got)
	}
	if _, got := claim(t, s, other.ID, "w1", at(time.Minute), 10); len(got) != 1 {
		t.Errorf("claimed %v of the other app, want its job", got)
	}
	must(t, "SetAppStatus(active)", s.SetAppStatus(ctx, a.ID, store.AppActive, ""))
	if _, got := claim(t, s, a.ID, "w1", at(time.Minute), 10); len(got) != 1 {
		t.Errorf("claimed %v after resuming, want the job", got)
	}
}

// testQueueWait: a job put back to wait (a retention) runs at the end of
// the wait — or at once when a change marked it Again while it ran, so
// that a restore or a purge is not held up by the wait it ends.
func testQueueWait(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newApp(t, s, "crm")
	j := enqueue(t, s, a.ID, store.JobUser, "u1", at(0))
	claim(t, s, a.ID, "w1", at(0), 1)
	must(t, "WaitJob", s.WaitJob(ctx, j.ID, "w1", at(30*24*time.Hour), at(time.Second)))
	if got := job(t, s, j.ID); got.State != store.JobQueued || !got.NextAt.Equal(at(30*24*time.Hour)) || got.LastError != "" ||
		got.Owner != "" || got.Again {
		t.Errorf("after WaitJob: %+v; want queued at the end of the wait, no error, no owner", got)
	}
	// Claimed at the end of the wait, marked Again while it runs: it waits
	// no more.
	claim(t, s, a.ID, "w1", at(30*24*time.Hour), 1)
	enqueue(t, s, a.ID, store.JobUser, "u1", at(30*24*time.Hour+time.Second))
	must(t, "WaitJob", s.WaitJob(ctx, j.ID, "w1", at(60*24*time.Hour), at(30*24*time.Hour+2*time.Second)))
	if got := job(t, s, j.ID); got.State != store.JobQueued || !got.NextAt.Equal(at(30*24*time.Hour+2*time.Second)) || got.Again {
		t.Errorf("after WaitJob of a job marked Again: %+v; want queued at once, not again", got)
	}
	wantErr(t, "WaitJob(not running)", s.WaitJob(ctx, j.ID, "w1", at(0), at(0)), store.ErrConflict)
}

func testQueueRetryAndDead(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newApp(t, s, "crm")
	j := enqueue(t, s, a.ID, store.JobUser, "u1", at(0))
	claim(t, s, a.ID, "w1", at(0), 1)
	enqueue(t, s, a.ID, store.JobUser, "u1", at(time.Second)) // Again: the retry covers it
	must(t, "RetryJob", s.RetryJob(ctx, j.ID, "w1", at(time.Hour), "503 from the app"))
	got := job(t, s, j.ID)
	if got.State != store.JobQueued || !got.NextAt.Equal(at(time.Hour)) || got.LastError != "503 from the app" ||
		got.Attempts != 1 || got.Again || got.Owner != "" || !got.LeaseUntil.IsZero() {
		t.Errorf("after RetryJob: %+v; want queued at %v with the error, attempt 1 kept, no owner or lease", got, at(time.Hour))
	}
	if _, got := claim(t, s, a.ID, "w1", at(time.Minute), 1); got != nil {
		t.Errorf("claimed %v before the retry is due, want nothing", got)
	}
	jobs, _ := claim(t, s, a.ID, "w1", at(time.Hour), 1)
	if len(jobs) != 1 || jobs[0].Attempts != 2 {
		t.Fatalf("claiming the retry = %+v, want it at attempt 2", jobs)
	}
	must(t, "DeadJob", s.DeadJob(ctx, j.ID, "w1", "400: invalid userName", at(time.Hour)))
	got = job(t, s, j.ID)
	if got.State != store.JobDead || got.LastError != "400: invalid userName" || !got.FinishedAt.Equal(at(time.Hour)) {
		t.Errorf("after DeadJob: %+v; want dead at %v with the error", got, at(time.Hour))
	}
	if _, got := claim(t, s, a.ID, "w1", at(48*time.Hour), 10); got != nil {
		t.Errorf("claimed %v, want nothing: a dead job is not claimed", got)
	}
	// A new change queues a new job beside the dead one; when that dies
	// too, it supersedes the older dead job.
	k := enqueue(t, s, a.ID, store.JobUser, "u1", at(49*time.Hour))
	if k.ID == j.ID {
		t.Fatalf("Enqueue beside a dead job returned the dead job")
	}
	claim(t, s, a.ID, "w1", at(49*time.Hour), 1)
	must(t, "DeadJob(the second)", s.DeadJob(ctx, k.ID, "w1", "400 again", at(49*time.Hour)))
	dead, err := s.ListJobs(ctx, store.JobFilter{AppID: a.ID, States: []store.JobState{store.JobDead}})
	must(t, "ListJobs(dead)", err)
	if len(dead) != 1 || dead[0].ID != k.ID || dead[0].LastError != "400 again" {
		t.Errorf("dead jobs = %+v, want only the newest, %d", dead, k.ID)
	}
}

func testQueueRequeueDead(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, other := newApp(t, s, "crm"), newApp(t, s, "billing")
	// kill makes a dead job of app for target.
	kill := func(appID int64, target string) *store.Job {
		t.Helper()
		j := enqueue(t, s, appID, store.JobUser, target, at(0))
		jobs, err := s.ClaimJobs(ctx, appID, "w1", at(0), time.Minute, 100)
		must(t, "ClaimJobs", err)
		for _, c := range jobs {
			if c.ID != j.ID {
				must(t, "CompleteJob", s.CompleteJob(ctx, c.ID, "w1", at(0)))
			}
		}
		must(t, "DeadJob", s.DeadJob(ctx, j.ID, "w1", "400", at(0)))
		return j
	}
	d1, d2, d3, theirs := kill(a.ID, "u1"), kill(a.ID, "u2"), kill(a.ID, "u3"), kill(other.ID, "u1")
	// u2 changed since it died: an open job exists for it; u3's runs.
	open2 := enqueue(t, s, a.ID, store.JobUser, "u2", at(time.Hour))
	open3 := enqueue(t, s, a.ID, store.JobUser, "u3", at(0))
	claim(t, s, a.ID, "w2", at(0), 1)

	n, err := s.RequeueDead(ctx, 0, d1.ID, at(time.Minute))
	must(t, "RequeueDead(one)", err)
	if got := job(t, s, d1.ID); n != 1 || got.State != store.JobQueued || got.Attempts != 0 ||
		!got.NextAt.Equal(at(time.Minute)) || !got.FinishedAt.IsZero() {
		t.Errorf("RequeueDead(job %d) = %d, job %+v; want 1, queued at %v, attempts 0", d1.ID, n, got, at(time.Minute))
	}
	n, err = s.RequeueDead(ctx, a.ID, 0, at(2*time.Minute))
	must(t, "RequeueDead(app)", err)
	if n != 2 {
		t.Errorf("RequeueDead(app) = %d, want 2 (u2 and u3, folded into their open jobs)", n)
	}
	jobs, err := s.ListJobs(ctx, store.JobFilter{AppID: a.ID})
	must(t, "ListJobs", err)
	ids := pluck(jobs, func(j *store.Job) int64 { return j.ID })
	if want := []int64{d1.ID, open2.ID, open3.ID}; !slices.Equal(ids, want) {
		t.Errorf("the app's jobs are %v, want %v (the folded dead jobs %d, %d gone)", ids, want, d2.ID, d3.ID)
	}
	if got := job(t, s, open2.ID); !got.NextAt.Equal(at(2 * time.Minute)) {
		t.Errorf("the open job of u2 is due %v, want %v (brought forward)", got.NextAt, at(2*time.Minute))
	}
	if got := job(t, s, open3.ID); !got.Again || got.State != store.JobRunning {
		t.Errorf("the running job of u3: %s, again %v; want running, again", got.State, got.Again)
	}
	if got := job(t, s, theirs.ID); got.State != store.JobDead {
		t.Errorf("the other app's dead job is %s, want still dead", got.State)
	}
	n, err = s.RequeueDead(ctx, 0, 0, at(3*time.Minute))
	must(t, "RequeueDead(all)", err)
	if got := job(t, s, theirs.ID); n != 1 || got.State != store.JobQueued {
		t.Errorf("RequeueDead(all) = %d, the other app's job %s; want 1, queued", n, got.State)
	}
	n, err = s.RequeueDead(ctx, 0, 0, at(3*time.Minute))
	if err != nil || n != 0 {
		t.Errorf("RequeueDead with none dead = %d, %v; want 0", n, err)
	}
}

func testQueuePruneDone(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newApp(t, s, "crm")
	old := enqueue(t, s, a.ID, store.JobUser, "old", at(0))
	claim(t, s, a.ID, "w1", at(0), 1)
	must(t, "CompleteJob(old)", s.CompleteJob(ctx, old.ID, "w1", at(0)))
	recent := enqueue(t, s, a.ID, store.JobUser, "recent", at(20*time.Hour))
	claim(t, s, a.ID, "w1", at(20*time.Hour), 1)
	must(t, "CompleteJob(recent)", s.CompleteJob(ctx, recent.ID, "w1", at(20*time.Hour)))
	dead := enqueue(t, s, a.ID, store.JobUser, "dead", at(0))
	claim(t, s, a.ID, "w1", at(0), 1)
	must(t, "DeadJob", s.DeadJob(ctx, dead.ID, "w1", "400", at(0)))

	// A claim that finds the queue dry prunes what is done for over a day.
	if _, got := claim(t, s, a.ID, "w1", at(25*time.Hour), 10); got != nil {
		t.Fatalf("claimed %v, want nothing", got)
	}
	jobs, err := s.ListJobs(ctx, store.JobFilter{AppID: a.ID})
	must(t, "ListJobs", err)
	left := pluck(jobs, jobTarget)
	if want := []string{"recent", "dead"}; !slices.Equal(left, want) {
		t.Errorf("after pruning the jobs are %v, want %v (done over a day ago pruned; dead kept)", left, want)
	}
}

func testQueueStats(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, other := newApp(t, s, "crm"), newApp(t, s, "billing")
	for _, target := range []string{"u1", "u2", "u3", "u4"} {
		enqueue(t, s, a.ID, store.JobUser, target, at(0))
	}
	enqueue(t, s, other.ID, store.JobReconcile, "", at(0))
	jobs, _ := claim(t, s, a.ID, "w1", at(0), 3)
	must(t, "CompleteJob", s.CompleteJob(ctx, jobs[0].ID, "w1", at(0)))
	must(t, "DeadJob", s.DeadJob(ctx, jobs[1].ID, "w1", "400", at(0)))
	got, err := s.QueueStats(ctx)
	must(t, "QueueStats", err)
	want := []store.QueueCount{
		{AppID: a.ID, State: store.JobDead, Count: 1}, {AppID: a.ID, State: store.JobDone, Count: 1},
		{AppID: a.ID, State: store.JobQueued, Count: 1}, {AppID: a.ID, State: store.JobRunning, Count: 1},
		{AppID: other.ID, State: store.JobQueued, Count: 1},
	}
	if !slices.Equal(got, want) {
		t.Errorf("QueueStats = %v, want %v", got, want)
	}
}

// testQueueConcurrentClaimers: 8 workers claiming and completing 2,000
// jobs at once complete each exactly once.
func testQueueConcurrentClaimers(t *testing.T, s store.Store) {
	const jobs, workers = 2000, 8
	a := newApp(t, s, "crm")
	for i := range jobs {
		enqueue(t, s, a.ID, store.JobUser, fmt.Sprintf("u%04d", i), at(0))
	}
	completed, failed := drain(t, s, a.ID, jobs, workers, 16)
	if failed > 0 {
		t.Errorf("%d completions failed", failed)
	}
	var twice []int64
	for id, n := range completed {
		if n != 1 {
			twice = append(twice, id)
		}
	}
	if len(completed) != jobs || len(twice) > 0 {
		t.Errorf("%d jobs completed, %d of them more than once; want %d, each once", len(completed), len(twice), jobs)
	}
	stats, err := s.QueueStats(t.Context())
	must(t, "QueueStats", err)
	if want := []store.QueueCount{{AppID: a.ID, State: store.JobDone, Count: jobs}}; !slices.Equal(stats, want) {
		t.Errorf("QueueStats = %v, want %v", stats, want)
	}
}

// drain runs workers that claim up to batch jobs of app at a time and
// complete each, until n jobs are completed (or a minute passes). It
// returns how many times each job was completed and how many completions
// failed.
func drain(tb testing.TB, s store.Store, appID int64, n, workers, batch int) (map[int64]int, int) {
	var mu sync.Mutex
	completed := map[int64]int{}
	done, failed := 0, 0
	deadline := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	for w := range workers {
		owner := fmt.Sprint("worker-", w)
		wg.Go(func() {
			for {
				mu.Lock()
				finished := done >= n
				mu.Unlock()
				if finished || time.Now().After(deadline) || tb.Context().Err() != nil {
					return
				}
				jobs, err := s.ClaimJobs(tb.Context(), appID, owner, at(time.Second), time.Minute, batch)
				if err != nil {
					tb.Errorf("%s: ClaimJobs: %v", owner, err)
					return
				}
				if len(jobs) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				for _, j := range jobs {
					err := s.CompleteJob(tb.Context(), j.ID, owner, at(time.Second))
					mu.Lock()
					if err != nil {
						failed++
						tb.Errorf("%s: CompleteJob(%d): %v", owner, j.ID, err)
					} else {
						completed[j.ID]++
						done++
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return completed, failed
}
