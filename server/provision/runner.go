package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/idsync/idsync/server/scim"
	"github.com/idsync/idsync/server/store"
)

// appRunner runs one app's jobs: it claims due jobs up to the app's
// concurrency and runs each in its own goroutine, every HTTP request
// through the app's rate limiter.
type appRunner struct {
	e       *Engine
	app     *store.App
	client  *scim.Client
	once    *scim.Client // one attempt per call: creates
	mapping *Mapping
	log     *slog.Logger
	wake    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}

	patchMu sync.Mutex
	patch   *bool // what the app's ServiceProviderConfig said, once read
}

func (e *Engine) newRunner(ctx context.Context, a *store.App) (*appRunner, error) {
	m, err := CompileMapping(a.Mapping)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", a.Name, err)
	}
	hc := e.opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	if a.RateLimit > 0 {
		limited := *hc
		base := hc.Transport
		if base == nil {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConnsPerHost = 64
			base = t
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
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &appRunner{e: e, app: a, client: c, once: once, mapping: m, log: e.log.With("app", a.Name),
		wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}), patch: a.PatchSupported}
	go func() {
		defer close(r.done)
		r.run(rctx, ctx)
	}()
	return r, nil
}

// stop ends the runner and waits for its jobs; a job cut short keeps its
// lease and runs again when the lease ends.
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

// run claims and runs jobs until ctx (the runner's) or parent (the
// engine's) ends. Jobs are claimed in batches of up to twice the app's
// concurrency, fed to that many workers, and claimed again once half have
// been taken up: one claim transaction serves many pushes. Jobs claimed
// but not started when the runner stops are handed back at once.
func (r *appRunner) run(ctx, parent context.Context) {
	go func() {
		select {
		case <-parent.Done():
			r.cancel()
		case <-ctx.Done():
		}
	}()
	n := concurrency(r.app)
	work := make(chan *store.Job, 2*n)
	var held atomic.Int64 // claimed and not finished: in work or running
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				if ctx.Err() == nil {
					r.runJob(ctx, j)
				} else {
					r.release(j)
				}
				held.Add(-1)
				signal(r.wake)
			}
		}()
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	t := time.NewTicker(r.e.opts.PollInterval)
	defer t.Stop()
	for ctx.Err() == nil {
		if free := int64(2*n) - held.Load(); free >= int64(n) || (held.Load() == 0 && free > 0) {
			jobs, err := r.e.st.ClaimJobs(ctx, r.app.ID, r.e.opts.Owner, r.e.opts.Now(), r.e.opts.Lease, int(free))
			if err != nil && ctx.Err() == nil {
				r.log.Warn("claiming jobs", "err", err)
			}
			for _, j := range jobs {
				held.Add(1)
				work <- j // never blocks: held bounds what is in work
			}
			if int64(len(jobs)) == free {
				continue // there may be more
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-t.C:
		}
	}
}

// release hands a claimed job that did not start back to the queue, due
// at once, so that a restart does not wait for its lease to end.
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

// permanent marks an error that no retry can fix (a mapping that fails, a
// 400): the job is dead-lettered at once.
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// runJob runs one job and records its outcome.
func (r *appRunner) runJob(ctx context.Context, j *store.Job) {
	err := r.do(ctx, j)
	st, now := r.e.st, r.e.opts.Now()
	// The outcome is recorded even when the runner is stopping.
	octx := context.WithoutCancel(ctx)
	var (
		lt *later
		ae *scim.AuthError
		ra *scim.RetryAfterError
		pe *permanent
	)
	switch {
	case err == nil:
		err = st.CompleteJob(octx, j.ID, r.e.opts.Owner, now)
	case errors.As(err, &lt):
		// No error recorded: a change meanwhile may run it at once (a
		// restored user is reactivated without waiting for a retention).
		r.log.Debug("job waits", "job", j.ID, "until", lt.at, "why", lt.why)
		err = st.RetryJob(octx, j.ID, r.e.opts.Owner, lt.at, "")
	case ctx.Err() != nil:
		// Stopping: the job runs again when its lease ends.
		return
	case errors.As(err, &ae):
		msg := fmt.Sprintf("paused: the app refused idsync's credentials (%d on %s %s); update them with `idsyncctl app update %s` to resume",
			ae.Status, ae.Method, ae.Path, r.app.Name)
		r.log.Error("app paused", "status", ae.Status, "method", ae.Method, "path", ae.Path)
		if serr := st.SetAppStatus(octx, r.app.ID, store.AppPaused, msg); serr != nil {
			r.log.Error("pausing the app", "err", serr)
		}
		// ClaimJobs skips a paused app: the job waits for the resume.
		err = st.RetryJob(octx, j.ID, r.e.opts.Owner, now, err.Error())
	case errors.As(err, &ra):
		r.log.Info("the app asked to wait", "job", j.ID, "wait", ra.Wait)
		err = st.RetryJob(octx, j.ID, r.e.opts.Owner, now.Add(ra.Wait), err.Error())
	case errors.As(err, &pe) || !scim.Retryable(err) || j.Attempts >= r.e.opts.MaxAttempts:
		r.log.Warn("push dead-lettered", "job", j.ID, "kind", j.Kind, "target", j.Target, "attempts", j.Attempts, "err", err)
		err = st.DeadJob(octx, j.ID, r.e.opts.Owner, err.Error(), now)
	default:
		wait := r.e.backoff(j.Attempts)
		r.log.Info("push failed, retrying", "job", j.ID, "kind", j.Kind, "target", j.Target, "attempt", j.Attempts, "in", wait, "err", err)
		err = st.RetryJob(octx, j.ID, r.e.opts.Owner, now.Add(wait), err.Error())
	}
	if err != nil {
		r.log.Error("recording a job's outcome", "job", j.ID, "err", err)
	}
}

// backoff is the jittered exponential wait after attempt failures.
func (e *Engine) backoff(attempt int) time.Duration {
	d := e.opts.MinBackoff
	for i := 1; i < attempt && d < e.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, e.opts.MaxBackoff)
	// Full jitter over the upper half: retries of many jobs spread out.
	return d/2 + rand.N(d/2+1)
}

// do runs a job's work.
func (r *appRunner) do(ctx context.Context, j *store.Job) error {
	switch j.Kind {
	case store.JobUser:
		return r.pushUser(ctx, j.Target, j.Attempts > 1)
	case store.JobGroup:
		return r.pushGroup(ctx, j.Target)
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
