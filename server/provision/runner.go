package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/idsync/idsync/internal/backoff"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/store"
)

// appRunner runs one app's jobs: it claims due jobs up to the app's
// concurrency and runs each in its own goroutine, every HTTP request
// through the app's rate limiter.
type appRunner struct {
	e       *Engine
	app     *store.App
	target  Target
	mapping *Mapping
	log     *slog.Logger
	wake    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}

	patchMu sync.Mutex
	patch   *bool // what the app's ServiceProviderConfig said, once read

	heldMu sync.Mutex
	held   map[int64]bool // jobs claimed and not finished

	scopes *scopeCache
}

func (e *Engine) newRunner(ctx context.Context, a *store.App) (*appRunner, error) {
	m, err := CompileMapping(a.Mapping)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", a.Name, err)
	}
	claimCtx, cancel := context.WithCancel(ctx)
	r := &appRunner{e: e, app: a, mapping: m, log: e.log.With("app", a.Name),
		wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}), patch: a.PatchSupported,
		held: map[int64]bool{}, scopes: newScopeCache(e.st, a.ID)}
	if a.Target != nil {
		r.target, err = e.dirTarget(ctx, a)
	} else {
		r.target, err = e.scimTarget(a)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		defer close(r.done)
		r.run(claimCtx, ctx)
	}()
	return r, nil
}

// scimTarget returns an app's SCIM target: one client retrying calls, one
// making one attempt per call (creates), both through the app's rate
// limit.
func (e *Engine) scimTarget(a *store.App) (*scimTarget, error) {
	if err := e.CheckURLs(a); err != nil {
		return nil, fmt.Errorf("app %s: %w", a.Name, err)
	}
	// One pooled transport for both clients, which keeps a connection per
	// worker instead of redialling.
	hc := e.httpClient(a)
	if a.RateLimit > 0 {
		limited := *hc
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		burst := max(1, concurrency(a))
		limited.Transport = &limitTransport{base: base, lim: rate.NewLimiter(rate.Limit(a.RateLimit), burst)}
		hc = &limited
	}
	c, err := e.client(a, hc, e.opts.CallAttempts)
	if err != nil {
		return nil, err
	}
	once, err := e.client(a, hc, 1)
	if err != nil {
		return nil, err
	}
	return &scimTarget{c: c, once: once}, nil
}

// reachable says whether this hub can run the app's jobs now: a
// directory target needs an agent of the directory on this replica (with
// several replicas, the one the agent is connected to runs them).
func (r *appRunner) reachable() bool {
	return r.app.Target == nil || r.e.opts.Directories.Serves(r.app.Target.Directory, idsyncv1.CapabilityWrite)
}

// stop stops claiming, hands back the jobs claimed but not started, and
// waits for the running ones to end (a hub shutting down cuts those short:
// they are handed back too, and looked up first when they run again).
func (r *appRunner) stop() {
	r.cancel()
	<-r.done
}

func concurrency(a *store.App) int {
	if a.Concurrency > 0 {
		return a.Concurrency
	}
	return 4
}

// commitWait bounds how long a job that ended well waits for the
// transaction that completes it while the workers still have claimed jobs
// to run (a slow app).
const commitWait = 50 * time.Millisecond

// run claims jobs until claimCtx ends (the runner stops, or the app's
// settings changed) and runs them until jobCtx (the engine's) ends, with
// the app's concurrency of workers. One goroutine, this one, keeps the
// queue: each of its transactions (CycleJobs) completes the jobs that
// ended well since the last and claims as many due jobs as that frees, so
// that one commit serves many pushes. It holds up to 32 times the
// concurrency (claimed, running, or ended and not yet completed), and
// writes when half of that has ended — the workers still have claimed
// jobs to run meanwhile — or sooner: when they have none left, when an
// ended job has waited commitWait, or to claim when it holds little. (A
// commit's cost is mostly the pages it writes, shared by its jobs: 32
// jobs a cycle cost the store a tenth less per job than 16; 64 make
// fewer cycles, so fewer claims and reads of users too; at the bench's
// concurrency of 8, cycles of 128 cost the hub about a tenth less per
// job than 64, and 256 hardly less than 128.) The leases of the jobs
// held are renewed while they are held.
func (r *appRunner) run(claimCtx, jobCtx context.Context) {
	n := concurrency(r.app)
	capacity := 32 * n
	work := make(chan claimed, capacity)
	done := make(chan store.JobResult, capacity)
	var stopping atomic.Bool
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				j := c.job
				handed := false
				if stopping.Load() {
					r.release(j)
				} else {
					handed = r.runJob(jobCtx, j, c.read, done)
				}
				if !handed {
					r.drop(j.ID)
					signal(r.wake)
				}
			}
		}()
	}
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		r.renewLeases(jobCtx, claimCtx)
	}()
	var ended []store.JobResult // jobs that ended well, not yet completed
	defer func() {
		stopping.Store(true)
		close(work)
		wg.Wait()
		close(done)
		for d := range done {
			ended = append(ended, d)
		}
		r.complete(ended)
		r.cancel() // ends the renewals
		<-renewed
	}()
	// Learn early whether the app takes PATCH, so that preview shows
	// what the pushes send.
	r.patchMode(claimCtx)
	t := time.NewTicker(r.e.opts.PollInterval)
	defer t.Stop()
	// waited wakes the loop when the oldest job in ended, which ended
	// at since, has waited commitWait.
	waited := time.NewTimer(commitWait)
	waited.Stop()
	var since time.Time
	add := func(d store.JobResult) {
		if len(ended) == 0 {
			since = time.Now()
		}
		ended = append(ended, d)
	}
	// dry: the last claim found fewer due jobs than it asked for; claim
	// again when woken (a job queued or handed back) or at the next poll.
	dry := false
	for claimCtx.Err() == nil {
		for more := true; more; {
			select {
			case d := <-done:
				add(d)
			default:
				more = false
			}
		}
		held := r.holding() // ended among them
		free := capacity - held + len(ended)
		limit := 0
		if !dry && r.reachable() && (free >= capacity/2 || (held == len(ended) && free > 0)) {
			limit = free
		}
		write := len(ended) >= capacity/2 || (len(ended) > 0 && (len(work) == 0 || time.Since(since) >= commitWait))
		if write || limit > 0 {
			got, ok := r.cycle(claimCtx, ended, limit, work)
			ended = ended[:0] // completed, whatever became of the claim
			if !ok {
				return
			}
			dry = got < limit
			continue
		}
		if len(ended) > 0 {
			waited.Reset(commitWait - time.Since(since))
		}
		select {
		case <-claimCtx.Done():
			return
		case d := <-done:
			add(d)
		case <-r.wake:
			dry = false
		case <-t.C:
			dry = false
		case <-waited.C:
		}
		waited.Stop()
	}
}

// cycle completes the jobs that ended well and claims up to limit more in
// one transaction, hands those to work, and reports how many it claimed;
// false when the app changed since the runner started (another hub
// replica, or an admin, updated it): the jobs claimed are then handed back
// for the new runner, and the runner stops.
func (r *appRunner) cycle(ctx context.Context, ended []store.JobResult, limit int, work chan<- claimed) (int, bool) {
	res, err := r.e.st.CycleJobs(ctx, store.JobCycle{Owner: r.e.opts.Owner, Now: r.e.opts.Now(), Done: ended,
		AppID: r.app.ID, Lease: r.e.opts.Lease, Limit: limit})
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("completing and claiming jobs", "completing", len(ended), "claiming", limit, "err", err)
		}
		r.complete(ended) // without the claim (one by one should that fail too)
		return 0, true
	}
	r.completed(ended)
	jobs := res.Claimed
	if len(jobs) > 0 && (!res.App.UpdatedAt.Equal(r.app.UpdatedAt) || res.App.Status != r.app.Status) {
		for _, j := range jobs {
			r.release(j)
		}
		signal(r.e.appsWake)
		return 0, false
	}
	reads := r.readUsers(ctx, jobs)
	for _, j := range jobs {
		r.hold(j.ID)
		var read *userRead
		if j.Kind == store.JobUser {
			read = reads[j.Target]
		}
		work <- claimed{j, read} // never blocks: held bounds what is in work
	}
	return len(jobs), true
}

// claimed is a job claimed, with what the read of its batch found of a
// user job's user (nil: the job reads it).
type claimed struct {
	job  *store.Job
	read *userRead
}

func (r *appRunner) hold(id int64) {
	r.heldMu.Lock()
	r.held[id] = true
	r.heldMu.Unlock()
}

func (r *appRunner) drop(id int64) {
	r.heldMu.Lock()
	delete(r.held, id)
	r.heldMu.Unlock()
}

func (r *appRunner) holding() int {
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	return len(r.held)
}

// renewLeases extends the leases of the jobs held every third of a lease,
// until the runner has stopped claiming and holds nothing.
func (r *appRunner) renewLeases(jobCtx, claimCtx context.Context) {
	t := time.NewTicker(r.e.opts.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-jobCtx.Done():
			return
		case <-t.C:
		}
		r.heldMu.Lock()
		ids := slices.Collect(maps.Keys(r.held))
		r.heldMu.Unlock()
		if len(ids) == 0 && claimCtx.Err() != nil {
			return
		}
		if len(ids) > 0 {
			if err := r.e.st.ExtendJobLeases(jobCtx, r.e.opts.Owner, ids, r.e.opts.Now().Add(r.e.opts.Lease)); err != nil && jobCtx.Err() == nil {
				r.log.Warn("renewing job leases", "err", err)
			}
		}
	}
}

// release hands a claimed job back to the queue, due at once, so that a
// restart does not wait for its lease to end.
func (r *appRunner) release(j *store.Job) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.e.st.RetryJob(ctx, j.ID, r.e.opts.Owner, r.e.opts.Now(), j.LastError); err != nil {
		r.log.Warn("handing back a job", "job", j.ID, "err", err)
	}
}

// later is a job's request to run again at a time, not a failure: a
// retention not yet over, group members not pushed yet.
type later struct {
	at  time.Time
	why string
}

func (l *later) Error() string { return l.why }

// permanent marks an error of the engine's own that no retry can fix (a
// mapping that fails, an entry the app did not create): the job is
// dead-lettered at once, as it is when the target refused.
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// runJob runs one job and records its outcome.
//
// A job that ends well is handed to done (with the account it left), to be
// completed with others in one transaction (cycle); runJob then reports
// true.
func (r *appRunner) runJob(ctx context.Context, j *store.Job, read *userRead, done chan<- store.JobResult) bool {
	jr := &jobRun{}
	err := r.do(context.WithValue(ctx, jobRunKey{}, jr), j, read)
	st, now := r.e.st, r.e.opts.Now()
	// The outcome is recorded even when the runner is stopping.
	octx := context.WithoutCancel(ctx)
	if err == nil {
		res := store.JobResult{ID: j.ID, Account: jr.acct}
		if jr.acct != nil && r.e.audit != nil {
			// A push that changed the account; one that found nothing to
			// do is no change of state.
			res.Audit = &store.AuditEvent{Actor: "hub", Action: "push.succeeded", Target: "app:" + r.app.Name, AppID: r.app.ID,
				Detail: fmt.Sprintf("%s %s: account %s %s (job %d)", j.Kind, j.Target, jr.acct.State, jr.acct.RemoteID, j.ID)}
		}
		r.pushed(PushSucceeded)
		done <- res
		return true
	}
	if jr.acct != nil {
		// What the app holds now, whatever became of the job.
		if perr := st.PutAccount(octx, jr.acct); perr != nil {
			r.log.Error("storing an account", "user", jr.acct.UserID, "err", perr)
		}
	}
	var (
		lt *later
		ar *AuthRefused
		ra *RetryAfter
		pe *permanent
	)
	switch {
	case errors.As(err, &lt):
		// No error recorded: a change meanwhile may run it at once (a
		// restored user is reactivated without waiting for a retention).
		r.log.Debug("job waits", "job", j.ID, "until", lt.at, "why", lt.why)
		err = st.WaitJob(octx, j.ID, r.e.opts.Owner, lt.at, now)
	case ctx.Err() != nil:
		// The hub is stopping: hand the job back; its next attempt looks
		// up what this one may have done.
		r.release(j)
		return false
	case errors.As(err, &ar):
		msg := fmt.Sprintf("paused: the app refused idsync's credentials (%s); update them with `idsyncctl app update %s` to resume",
			ar.Where, r.app.Name)
		r.log.Error("app paused", "refused", ar.Where)
		r.auditFailure(octx, "app.paused", j, err, "%s", msg)
		if serr := st.SetAppStatus(octx, r.app.ID, store.AppPaused, msg); serr != nil {
			r.log.Error("pausing the app", "err", serr)
		}
		// ClaimJobs skips a paused app: the job waits for the resume.
		r.pushed(PushFailed)
		err = st.RetryJob(octx, j.ID, r.e.opts.Owner, now, err.Error())
	case errors.As(err, &ra):
		r.log.Info("the app asked to wait", "job", j.ID, "wait", ra.Wait)
		r.pushed(PushFailed)
		err = st.RetryJob(octx, j.ID, r.e.opts.Owner, now.Add(ra.Wait), err.Error())
	case errors.As(err, &pe) || !retryable(err) || j.Attempts >= r.e.opts.MaxAttempts:
		r.log.Warn("push dead-lettered", "job", j.ID, "kind", j.Kind, "target", j.Target, "attempts", j.Attempts, "err", err)
		r.auditFailure(octx, "push.failed", j, err, "dead-lettered after %d attempts", j.Attempts)
		r.pushed(PushDead)
		err = st.DeadJob(octx, j.ID, r.e.opts.Owner, err.Error(), now)
	default:
		wait := r.e.backoff(j.Attempts)
		r.log.Info("push failed, retrying", "job", j.ID, "kind", j.Kind, "target", j.Target, "attempt", j.Attempts, "in", wait, "err", err)
		r.auditFailure(octx, "push.failed", j, err, "attempt %d, retrying in %s", j.Attempts, wait.Round(time.Millisecond))
		r.pushed(PushFailed)
		err = st.RetryJob(octx, j.ID, r.e.opts.Owner, now.Add(wait), err.Error())
	}
	if err != nil {
		r.log.Error("recording a job's outcome", "job", j.ID, "err", err)
	}
	return false
}

// auditFailure records a job's failure.
func (r *appRunner) auditFailure(ctx context.Context, action string, j *store.Job, err error, format string, args ...any) {
	if r.e.audit == nil {
		return
	}
	r.e.audit.Record(ctx, store.AuditEvent{Actor: "hub", Action: action, Target: "app:" + r.app.Name, AppID: r.app.ID, Outcome: store.AuditFailed,
		Detail: fmt.Sprintf("%s %s (job %d): %s: %v", j.Kind, j.Target, j.ID, fmt.Sprintf(format, args...), err)})
}

// pushed counts a job's outcome.
func (r *appRunner) pushed(outcome string) {
	if m := r.e.opts.Metrics; m != nil {
		m.Pushed(r.app.Name, outcome)
	}
}

// jobRun is what a job leaves to store when it ends: the account of the
// user it pushed, as the push left it.
type jobRun struct{ acct *store.Account }

type jobRunKey struct{}

// putAccount stores an account: within a job, when the job ends (with the
// job's completion when it ends well); elsewhere at once.
func (r *appRunner) putAccount(ctx context.Context, a *store.Account) error {
	if jr, ok := ctx.Value(jobRunKey{}).(*jobRun); ok {
		c := *a
		jr.acct = &c
		return nil
	}
	return r.e.st.PutAccount(ctx, a)
}

// complete completes jobs that ended well outside a cycle — when the
// runner stops, or when a cycle failed — together, or one by one should
// that fail.
func (r *appRunner) complete(ended []store.JobResult) {
	if len(ended) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.e.st.CompleteJobs(ctx, r.e.opts.Owner, r.e.opts.Now(), ended); err != nil {
		r.log.Warn("completing jobs together; one by one instead", "jobs", len(ended), "err", err)
		for _, d := range ended {
			if d.Account != nil {
				if err := r.e.st.PutAccount(ctx, d.Account); err != nil {
					r.log.Error("storing an account", "user", d.Account.UserID, "err", err)
				}
			}
			if err := r.e.st.CompleteJob(ctx, d.ID, r.e.opts.Owner, r.e.opts.Now()); err != nil {
				r.log.Error("completing a job", "job", d.ID, "err", err)
			}
		}
	}
	r.completed(ended)
}

// completed follows the completion of jobs that ended well: groups that
// waited for their accounts are pushed again, and they are held no more.
func (r *appRunner) completed(ended []store.JobResult) {
	if len(ended) == 0 {
		return
	}
	created := map[string]bool{}
	for _, d := range ended {
		if a := d.Account; a != nil && a.State == store.AccountActive && a.RemoteID != "" {
			created[a.UserID] = true
		}
	}
	if len(created) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r.wakeGroups(ctx, created)
		cancel()
	}
	for _, d := range ended {
		r.drop(d.ID)
	}
}

// backoff is the jittered exponential wait after attempt failures: retries
// of many jobs spread out.
func (e *Engine) backoff(attempt int) time.Duration {
	return backoff.Delay(e.opts.MinBackoff, e.opts.MaxBackoff, attempt-1)
}

// do runs a job's work; read is what the read of its batch found of a
// user job's user (nil: the job reads it).
func (r *appRunner) do(ctx context.Context, j *store.Job, read *userRead) error {
	switch j.Kind {
	case store.JobUser:
		return r.pushUser(ctx, j.Target, j.Attempts > 1, read)
	case store.JobGroup:
		return r.pushGroup(ctx, j.Target, j.Attempts)
	case store.JobReconcile:
		if j.Target == fullTarget {
			return r.reconcile(ctx)
		}
		return r.scope(ctx)
	case store.JobImport:
		_, err := r.e.ImportFromApp(ctx, r.app)
		return err
	}
	return &permanent{fmt.Errorf("unknown job kind %q", j.Kind)}
}

// limitTransport waits for the app's rate limiter before each request.
type limitTransport struct {
	base http.RoundTripper
	lim  *rate.Limiter
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.lim.Wait(req.Context()); err != nil {
		return nil, err
	}
	return t.base.RoundTrip(req)
}
