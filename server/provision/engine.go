package provision

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/idsync/idsync/server/scim"
	"github.com/idsync/idsync/server/secrets"
	"github.com/idsync/idsync/server/store"
)

// Options tune an Engine; the zero value suits production.
type Options struct {
	// Owner names this hub in job leases. A hub that starts again under
	// the same name takes back the jobs it held (the hub passes its host
	// and data directory); default host-pid-random.
	Owner string
	// PollInterval is how often idle workers and the feed look for work
	// that no notification announced (default 1 s): jobs that came due, a
	// change another hub replica committed.
	PollInterval time.Duration
	// Lease is how long a claimed job is held before another worker may
	// take it, should this one die (default 20 s); workers renew the
	// leases of the jobs they hold every third of it.
	Lease time.Duration
	// MaxAttempts dead-letters a job after this many failed attempts
	// (default 8).
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the jittered exponential wait
	// between failed attempts (defaults 2 s and 10 min).
	MinBackoff, MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After a worker waits within a
	// call (default 5 s); a longer one re-queues the job for then, so no
	// worker is held.
	MaxRetryAfter time.Duration
	// CallAttempts is the tries of one HTTP call before the job is
	// re-queued (default 2).
	CallAttempts int
	// HTTPClient is used for every app (tests and benchmarks); nil: a
	// pooled client with a 30 s timeout.
	HTTPClient *http.Client
	// Now is the clock (tests).
	Now func() time.Time
	// Metrics, when not nil, hears how each push attempt ended.
	Metrics Metrics
	// Directories reaches the agents that write into directory targets
	// (apps with a DirectoryTarget); nil: such apps cannot run.
	Directories DirectoryWriter
	// Listeners are the hub's own listen addresses (host:port): no app
	// pushes to them unless a super-admin allowed local addresses.
	Listeners []string
	// Audit records pushes that changed an account, failed pushes and
	// paused apps; nil records nothing.
	Audit Recorder
}

// Metrics hears the outcome of push attempts by app: "succeeded", "failed"
// (to be retried) or "dead" (dead-lettered). The hub's Prometheus counters
// implement it.
type Metrics interface {
	Pushed(app, outcome string)
}

// Push outcomes, as Metrics hears them.
const (
	PushSucceeded = "succeeded"
	PushFailed    = "failed"
	PushDead      = "dead"
)

func (o Options) withDefaults() Options {
	if o.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		o.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 20 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 2 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 10 * time.Minute
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 5 * time.Second
	}
	if o.CallAttempts <= 0 {
		o.CallAttempts = 2
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Store is what provisioning reads and writes of the hub's store.
type Store interface {
	AppUsers(ctx context.Context, appID int64) ([]string, error)
	AppsOfUser(ctx context.Context, userID string) ([]int64, error)
	Changes(ctx context.Context, after int64, limit int) ([]store.ObjectChange, int64, error)
	CheckPushedGroups(ctx context.Context, appID int64, at time.Time) error
	CompleteJob(ctx context.Context, id int64, owner string, now time.Time) error
	CompleteJobs(ctx context.Context, owner string, now time.Time, done []store.JobResult) (int, error)
	CycleJobs(ctx context.Context, c store.JobCycle) (store.JobCycleResult, error)
	CreateTask(ctx context.Context, t *store.Task) (*store.Task, error)
	Cursor(ctx context.Context, name string) (int64, error)
	DeadJob(ctx context.Context, id int64, owner string, lastError string, now time.Time) error
	DeleteDirectoryWrite(ctx context.Context, appID int64, userID string) error
	DeletePushedGroup(ctx context.Context, appID int64, groupID string) error
	Enqueue(ctx context.Context, appID int64, kind store.JobKind, target string, now time.Time) (*store.Job, error)
	EnqueueMany(ctx context.Context, appID int64, kind store.JobKind, targets []string, now time.Time) error
	ListJobs(ctx context.Context, f store.JobFilter) ([]*store.Job, error)
	ExtendJobLeases(ctx context.Context, owner string, ids []int64, until time.Time) error
	FeedPosition(ctx context.Context) (int64, error)
	ScopeStamp(ctx context.Context, appID int64) (int64, []store.Assignment, error)
	FindDirectoryWrite(ctx context.Context, appID int64, externalID, dnKey string) (*store.DirectoryWrite, error)
	FindUsers(ctx context.Context, directoryID int64, name string) ([]*store.User, error)
	GetAccount(ctx context.Context, appID int64, userID string) (*store.Account, error)
	GetAccounts(ctx context.Context, appID int64, userIDs []string) ([]*store.Account, error)
	GetAccountByRemoteID(ctx context.Context, appID int64, remoteID string) (*store.Account, error)
	GetAppByID(ctx context.Context, id int64) (*store.App, error)
	GetDirectory(ctx context.Context, name string) (*store.Directory, error)
	GetGroup(ctx context.Context, id string) (*store.Group, error)
	GetUser(ctx context.Context, id string) (*store.User, error)
	GetUsers(ctx context.Context, ids []string) ([]*store.User, error)
	GroupUsersTransitive(ctx context.Context, groupID string) ([]*store.User, error)
	ListAccounts(ctx context.Context, f store.AccountFilter) ([]*store.Account, error)
	ListApps(ctx context.Context) ([]*store.App, error)
	ListAssignments(ctx context.Context, appID int64) ([]store.Assignment, error)
	ListPushedGroups(ctx context.Context, appID int64) ([]*store.PushedGroup, error)
	NotePushedGroupDrift(ctx context.Context, appID int64, groupID, found string, at time.Time) error
	PushedMembers(ctx context.Context, appID int64, groupID string) ([]string, error)
	PutAccount(ctx context.Context, a *store.Account) error
	PutAppGroups(ctx context.Context, appID int64, groups []*store.AppGroup) error
	PutDirectoryWrite(ctx context.Context, w *store.DirectoryWrite) error
	PutPushedGroup(ctx context.Context, g *store.PushedGroup) error
	PutUnmatched(ctx context.Context, appID int64, accounts []store.RemoteAccount) error
	ReleaseJobs(ctx context.Context, owner string, now time.Time) (int, error)
	RetryJob(ctx context.Context, id int64, owner string, nextAt time.Time, lastError string) error
	WaitJob(ctx context.Context, id int64, owner string, until, now time.Time) error
	SetAppPatchSupported(ctx context.Context, id int64, supported bool) error
	SetAppStatus(ctx context.Context, id int64, status store.AppStatus, message string) error
	SetCursor(ctx context.Context, name string, pos int64) error
	SetPushedMembers(ctx context.Context, appID int64, groupID string, add, remove []string) error
	TryLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	PasswordDigests(ctx context.Context, directoryID int64, userID string) ([]store.PasswordDigest, error)
	AddPasswordDigest(ctx context.Context, directoryID int64, userID string, d store.PasswordDigest) error
}

// Engine keeps the accounts of every app right: it turns the store's change
// feed into jobs, runs each app's jobs with the app's concurrency and rate
// limit, and reconciles each app on its schedule. Several hub replicas may
// run one each over a shared store: the feed is consumed under a lease and
// jobs are claimed, so no job runs twice at once.
type Engine struct {
	st   Store
	box  *secrets.Box
	log  *slog.Logger
	opts Options

	feedWake chan struct{}
	appsWake chan struct{}

	audit Recorder

	mu         sync.Mutex
	runners    map[int64]*appRunner
	restarting map[int64]bool // apps whose old runner is stopping

}

// New returns an engine over st; box opens the apps' sealed secrets.
func New(st Store, box *secrets.Box, log *slog.Logger, opts Options) *Engine {
	return &Engine{
		st: st, box: box, log: log.With("component", "provision"), opts: opts.withDefaults(), audit: opts.Audit,
		feedWake: make(chan struct{}, 1), appsWake: make(chan struct{}, 1),
		runners: map[int64]*appRunner{}, restarting: map[int64]bool{},
	}
}

// Recorder writes audit events (server/audit.Log).
type Recorder interface {
	Record(ctx context.Context, e store.AuditEvent)
}

// Notify tells the engine that users or groups changed (a batch from an
// agent committed): the feed is read at once, so a change reaches the apps
// without waiting for a poll.
func (e *Engine) Notify() { signal(e.feedWake) }

// AppChanged tells the engine that an app's settings or assignments
// changed: its workers pick up the new settings, and who is in scope is
// compared with the accounts it holds (a scope job), at once.
func (e *Engine) AppChanged(ctx context.Context, appID int64) error {
	if _, err := e.st.Enqueue(ctx, appID, store.JobReconcile, scopeTarget, e.opts.Now()); err != nil {
		return fmt.Errorf("queueing the scope of app %d: %w", appID, err)
	}
	signal(e.appsWake)
	e.wakeApp(appID)
	return nil
}

// UserGone tells the engine that the hub no longer has a user (purged
// after its retention): every app that holds an account of it deletes the
// account where it allows deletes, else opens a manual task for it.
func (e *Engine) UserGone(ctx context.Context, userID string) error {
	apps, err := e.st.ListApps(ctx)
	if err != nil {
		return err
	}
	for _, a := range apps {
		acct, err := e.st.GetAccount(ctx, a.ID, userID)
		if isNotFound(err) || err == nil && acct.State == store.AccountDeleted {
			continue
		}
		if err != nil {
			return err
		}
		if _, err := e.st.Enqueue(ctx, a.ID, store.JobUser, userID, e.opts.Now()); err != nil {
			return fmt.Errorf("queueing the account of purged user %s in app %s: %w", userID, a.Name, err)
		}
		e.wakeApp(a.ID)
	}
	return nil
}

// Wake makes an app's workers look for due jobs now (after push retry).
func (e *Engine) Wake(appID int64) { e.wakeApp(appID) }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// ScopeUsers returns the ids of the users in scope of app appID, as
// AppUsers does; through the cache of the app's runner when this hub runs
// it, so that the scope job an assignment queues next finds them there
// (unless the directory or the assignments changed in between).
func (e *Engine) ScopeUsers(ctx context.Context, appID int64) ([]string, error) {
	e.mu.Lock()
	r := e.runners[appID]
	e.mu.Unlock()
	if r == nil {
		return e.st.AppUsers(ctx, appID)
	}
	return r.scopes.read(ctx)
}

func (e *Engine) wakeApp(appID int64) {
	e.mu.Lock()
	r := e.runners[appID]
	e.mu.Unlock()
	if r != nil {
		signal(r.wake)
	}
}

// Run runs the feed consumer, the apps' workers and the reconcile schedule
// until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	// Jobs this hub held when it last stopped (under the same owner name)
	// are due at once, instead of when their leases end.
	if n, err := e.st.ReleaseJobs(ctx, e.opts.Owner, e.opts.Now()); err != nil {
		e.log.Warn("taking back the jobs held before a restart", "err", err)
	} else if n > 0 {
		e.log.Info("took back the jobs held before a restart", "jobs", n)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); e.runFeed(ctx) }()
	e.superviseApps(ctx)
	e.mu.Lock()
	runners := slices.Collect(maps.Values(e.runners))
	e.mu.Unlock()
	for _, r := range runners {
		r.stop()
	}
	wg.Wait()
	return nil
}

// superviseApps starts a runner per app, restarts one whose settings
// changed, stops those of removed apps, and queues each app's periodic
// reconcile when it is due.
func (e *Engine) superviseApps(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if err := e.syncRunners(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("loading apps", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-e.appsWake:
		}
	}
}

func (e *Engine) syncRunners(ctx context.Context) error {
	apps, err := e.st.ListApps(ctx)
	if err != nil {
		return err
	}
	now := e.opts.Now()
	live := map[int64]bool{}
	for _, a := range apps {
		live[a.ID] = true
		e.mu.Lock()
		r, restarting := e.runners[a.ID], e.restarting[a.ID]
		e.mu.Unlock()
		switch {
		case restarting:
			continue
		case r != nil && r.app.UpdatedAt.Equal(a.UpdatedAt) && r.app.Status == a.Status:
			e.scheduleReconcile(ctx, a, now)
			continue
		case r != nil:
			// New settings: the old runner hands back what it has not
			// started and finishes what it has, then a new one starts.
			e.mu.Lock()
			delete(e.runners, a.ID)
			e.restarting[a.ID] = true
			e.mu.Unlock()
			go func() {
				r.stop()
				e.mu.Lock()
				delete(e.restarting, a.ID)
				e.mu.Unlock()
				signal(e.appsWake)
			}()
			continue
		}
		nr, err := e.newRunner(ctx, a)
		if err != nil {
			e.log.Error("app cannot run", "app", a.Name, "err", err)
			_ = e.st.SetAppStatus(ctx, a.ID, store.AppPaused, err.Error())
			continue
		}
		e.mu.Lock()
		e.runners[a.ID] = nr
		e.mu.Unlock()
		e.scheduleReconcile(ctx, a, now)
	}
	e.mu.Lock()
	var gone []*appRunner
	for id, r := range e.runners {
		if !live[id] {
			gone = append(gone, r)
			delete(e.runners, id)
		}
	}
	e.mu.Unlock()
	for _, r := range gone {
		go r.stop()
	}
	return nil
}

// scheduleReconcile queues a full reconcile of a when its interval has
// passed since the last one (the first one an interval after the app was
// created). The time of the last is a cursor, so replicas share it.
func (e *Engine) scheduleReconcile(ctx context.Context, a *store.App, now time.Time) {
	every := a.ReconcileInterval
	if every < 0 {
		return
	}
	if every == 0 {
		every = 24 * time.Hour
	}
	name := fmt.Sprintf("reconcile:%d", a.ID)
	last, err := e.st.Cursor(ctx, name)
	if err != nil {
		return
	}
	from := a.CreatedAt
	if last > 0 {
		from = time.Unix(last, 0)
	}
	if now.Before(from.Add(every)) {
		return
	}
	if _, err := e.st.Enqueue(ctx, a.ID, store.JobReconcile, fullTarget, now); err != nil {
		e.log.Warn("queueing a reconcile", "app", a.Name, "err", err)
		return
	}
	_ = e.st.SetCursor(ctx, name, now.Unix())
	e.wakeApp(a.ID)
}

// Client returns a SCIM client for an app, its secret opened; an app whose
// URLs it may not reach (CheckURLs) has none.
func (e *Engine) Client(a *store.App) (*scim.Client, error) {
	if err := e.CheckURLs(a); err != nil {
		return nil, fmt.Errorf("app %s: %w", a.Name, err)
	}
	return e.client(a, nil, e.opts.CallAttempts)
}

func (e *Engine) client(a *store.App, hc *http.Client, attempts int) (*scim.Client, error) {
	secret, err := e.box.Open(a.Secret, SecretContext(a.Name))
	if err != nil {
		return nil, fmt.Errorf("app %s: its secret: %w", a.Name, err)
	}
	auth := scim.Auth{Kind: scim.AuthKind(a.AuthKind)}
	switch auth.Kind {
	case scim.AuthBearer:
		auth.Token = string(secret)
	case scim.AuthBasic:
		auth.Username, auth.Password = a.Username, string(secret)
	case scim.AuthOAuth2:
		auth.ClientID, auth.ClientSecret, auth.TokenURL, auth.Scopes = a.Username, string(secret), a.TokenURL, a.Scopes
	}
	if hc == nil {
		hc = e.httpClient(a)
	}
	c, err := scim.New(a.SCIMURL, auth, scim.Options{
		HTTPClient:    hc,
		Retry:         scim.RetryPolicy{Attempts: attempts, MinWait: 200 * time.Millisecond, MaxWait: 2 * time.Second},
		MaxRetryAfter: e.opts.MaxRetryAfter,
		Logger:        e.log,
	})
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", a.Name, err)
	}
	return c, nil
}

// SecretContext binds an app's sealed secret to its name.
func SecretContext(app string) string { return "app-secret:" + app }

// Job targets of reconcile jobs.
const (
	// scopeTarget compares who is in scope with the accounts idsync holds,
	// without reading the app.
	scopeTarget = "scope"
	// fullTarget also reads every account the app holds and repairs drift.
	fullTarget = "full"
)

// errNotFound is store.ErrNotFound, tested with errors.Is.
func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
