package runs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/idsync/idsync/internal/backoff"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/store"
)

// Store is what the Coordinator reads and writes of the hub's store.
type Store interface {
	GetDirectory(ctx context.Context, name string) (*store.Directory, error)
	ListDirectories(ctx context.Context) ([]*store.Directory, error)
	GetAgent(ctx context.Context, id string) (*store.Agent, error)
	ListAgents(ctx context.Context) ([]*store.Agent, error)
	CreateRun(ctx context.Context, r *store.Run) error
	GetRun(ctx context.Context, id int64) (*store.Run, error)
	ListRuns(ctx context.Context, f store.RunFilter) ([]*store.Run, error)
	ClaimRun(ctx context.Context, runID int64, agentID, sessionID string) error
	Checkpoint(ctx context.Context, directoryID int64) ([]byte, error)
	SetCheckpoint(ctx context.Context, directoryID int64, data []byte) error
	SetRunStrategy(ctx context.Context, runID int64, strategy string) error
}

// Engine ends runs: how a run ends (a sweep, the safeguard, a failure) is
// server/ingest's decision; when is the Coordinator's.
type Engine interface {
	Finish(ctx context.Context, id int64) (*store.Run, error)
	Fail(ctx context.Context, id int64, why string) (*store.Run, error)
	EndCapture(ctx context.Context, id int64, why string) (*store.Run, error)
	PresentDone(ctx context.Context, id int64) (paused bool, deprovisioned int64, err error)
	Reconcile(ctx context.Context, id int64, why string) (*store.Run, error)
	Confirm(ctx context.Context, id int64) (*store.Run, error)
	Cancel(ctx context.Context, id int64, why string) (*store.Run, error)
}

var _ Engine = (*ingest.Engine)(nil)

// Waker makes the sessions serving a directory (or all of them) look for
// work now rather than at their next poll (server/sessions.Registry).
type Waker interface {
	Wake(directory string)
	WakeAll()
}

// Canceller stops a run on the agent session that reads it, wherever that
// session is (server/sessions.Registry: at once on this replica; another
// replica's session finds the run ended in the store).
type Canceller interface {
	CancelRun(ctx context.Context, runID int64, sessionID, why string)
}

// Auditor writes audit events (server/audit.Log).
type Auditor interface {
	Event(ctx context.Context, action, target, detail string, args ...any)
}

// Session is one agent's open stream, as the Coordinator sees it: who it
// is, what it serves, and the commands it sends the agent when asked.
type Session interface {
	// ID is the session's id; AgentID its agent's.
	ID() string
	AgentID() string
	// Directories are the directories the agent serves on the stream.
	Directories() []string
	// Can reports whether the agent announced a capability.
	Can(capability string) bool
	// StartImport sends the agent a run to read. The session records the
	// run as its own first: the agent's batches and results for it may
	// come at once.
	StartImport(ctx context.Context, si *idsyncv1.StartImport) error
	// CancelImport stops a run on the agent; its batches still in flight
	// are refused.
	CancelImport(ctx context.Context, runID int64, why string) error
}

// Config is what a Coordinator is built from.
type Config struct {
	Store  Store
	Engine Engine
	// Wake reaches the sessions of this replica; nil: none (the others
	// find their work at their next poll).
	Wake Waker
	// Cancel stops the runs an admin cancels on their agents; nil: none
	// (their sessions find them ended in the store).
	Cancel Canceller
	// Audit records the full imports the scheduler starts and what
	// admins do to runs; nil: none.
	Audit Auditor
	Log   *slog.Logger
	// Heartbeat is the agents' heartbeat: one silent for three is gone,
	// and the reaper looks every Heartbeat (default 3 s).
	Heartbeat time.Duration
	// ScheduleEvery is how often the scheduler looks for due full
	// imports (default 10 s).
	ScheduleEvery time.Duration
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
}

// Coordinator decides the life of import runs (see the package doc). Safe
// for concurrent use by any number of sessions.
type Coordinator struct {
	st     Store
	eng    Engine
	wake   Waker
	cancel Canceller
	audit  Auditor
	log    *slog.Logger
	hb     time.Duration
	every  time.Duration
	now    func() time.Time

	// backoff puts a session's next capture of a directory off after one
	// failed on its agent, so that an LDAP server that is down is not
	// hammered with new runs; a batch applied resets it.
	backoff *backoff.Keyed[leaseKey]
}

// New returns a Coordinator.
func New(cfg Config) *Coordinator {
	c := &Coordinator{st: cfg.Store, eng: cfg.Engine, wake: cfg.Wake, cancel: cfg.Cancel, audit: cfg.Audit,
		hb: cfg.Heartbeat, every: cfg.ScheduleEvery, now: cfg.Now}
	if c.wake == nil {
		c.wake = noWaker{}
	}
	if c.cancel == nil {
		c.cancel = noCanceller{}
	}
	if c.audit == nil {
		c.audit = noAuditor{}
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c.log = log.With("component", "runs")
	if c.hb <= 0 {
		c.hb = 3 * time.Second
	}
	if c.every <= 0 {
		c.every = 10 * time.Second
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.backoff = backoff.NewKeyed[leaseKey](captureRetryMin, captureRetryMax, c.now)
	return c
}

type noWaker struct{}

func (noWaker) Wake(string) {}
func (noWaker) WakeAll()    {}

type noCanceller struct{}

func (noCanceller) CancelRun(context.Context, int64, string, string) {}

type noAuditor struct{}

func (noAuditor) Event(context.Context, string, string, string, ...any) {}

// staleAfter is how long an agent may stay silent before it counts as gone.
func (c *Coordinator) staleAfter() time.Duration { return 3 * c.hb }

// online says whether agent a has a live stream and serves directory d.
func (c *Coordinator) online(a *store.Agent, d *store.Directory, now time.Time) bool {
	return a.RevokedAt.IsZero() && a.SessionID != "" && now.Sub(a.LastSeen) < c.staleAfter() &&
		slices.Contains(a.Directories, d.Name)
}

// Run reaps stale runs every heartbeat and schedules full imports until ctx
// is cancelled; each starts at once.
func (c *Coordinator) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { c.loop(ctx, c.hb, "reaper", c.Reap) })
	wg.Go(func() { c.loop(ctx, c.every, "scheduler", c.Schedule) })
	wg.Wait()
	return nil
}

// loop calls step now and then every interval until ctx ends.
func (c *Coordinator) loop(ctx context.Context, interval time.Duration, name string, step func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := step(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn(name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Claim gives session s the work of its directories that is waiting: an
// unclaimed full run, and the capture lease when nobody holds it or its
// holder went silent. An agent is sent only the imports its capabilities
// cover: an older agent lacking one leaves that work to another agent.
func (c *Coordinator) Claim(ctx context.Context, s Session) error {
	for _, name := range s.Directories() {
		d, err := c.st.GetDirectory(ctx, name)
		if err != nil || !ingest.ReadByAgents(d.Kind) {
			// A csv directory's runs are the hub's, applying a file: an
			// agent only sends it files.
			continue
		}
		runs, err := c.st.ListRuns(ctx, store.RunFilter{DirectoryID: d.ID,
			States: []store.RunState{store.RunRunning, store.RunPausedBySafeguard}})
		if err != nil {
			return err
		}
		var capture, full *store.Run
		for _, r := range runs {
			switch r.Kind {
			case store.RunIncremental:
				capture = r
			case store.RunFull:
				full = r
			}
		}
		if full != nil && full.State == store.RunRunning && full.AgentID == "" && s.Can(idsyncv1.CapabilityFullImport) {
			if err := c.startFull(ctx, s, d, full); err != nil {
				return err
			}
		}
		if ingest.CaptureEnabled(d) && s.Can(idsyncv1.CapabilityCapture) {
			if err := c.holdCapture(ctx, s, d, capture); err != nil {
				return err
			}
		}
	}
	return nil
}

// startFull claims an unclaimed full run for s and starts it on the agent.
// It asks for a capture checkpoint when the directory has none: capture
// then resumes from the moment the snapshot began.
func (c *Coordinator) startFull(ctx context.Context, s Session, d *store.Directory, r *store.Run) error {
	if err := c.st.ClaimRun(ctx, r.ID, s.AgentID(), s.ID()); errors.Is(err, store.ErrConflict) {
		return nil // another session (or replica) got there first
	} else if err != nil {
		return err
	}
	cp, err := c.st.Checkpoint(ctx, d.ID)
	if err != nil {
		return err
	}
	c.sessionLog(s).Info("starting full import on agent", "run", r.ID, "directory", d.Name, "trigger", r.Trigger)
	return s.StartImport(ctx, &idsyncv1.StartImport{RunId: strconv.FormatInt(r.ID, 10),
		Kind: idsyncv1.ImportKind_IMPORT_KIND_FULL, Source: ingest.Source(d, nil),
		TakeCheckpoint: cp == nil && ingest.CaptureEnabled(d) && s.Can(idsyncv1.CapabilityCapture)})
}

func (c *Coordinator) sessionLog(s Session) *slog.Logger {
	return c.log.With("agent", s.AgentID(), "session", s.ID())
}

// Committed does what a committed (not duplicate) batch of a run asks
// beyond its data: for a capture, record its strategy, reset the session's
// capture backoff, and run the present-phase sweep at the end of a refresh
// (a sweep the safeguard holds back pauses the capture, which s then
// cancels on the agent).
func (c *Coordinator) Committed(ctx context.Context, s Session, r *store.Run, b *idsyncv1.ChangeBatch) error {
	if r.Kind != store.RunIncremental {
		return nil
	}
	if b.GetStrategy() != "" {
		if err := c.st.SetRunStrategy(ctx, r.ID, b.GetStrategy()); err != nil {
			c.log.Warn("recording capture strategy", "run", r.ID, "err", err)
		}
	}
	c.backoff.Reset(leaseKey{s.ID(), r.Directory})
	if !b.GetRefreshDone() || !b.GetPresentPhase() {
		return nil
	}
	paused, _, err := c.eng.PresentDone(ctx, r.ID)
	if err != nil {
		return fmt.Errorf("present phase of run %d: %w", r.ID, err)
	}
	if paused {
		return s.CancelImport(ctx, r.ID, "the capture refresh paused on the safeguard")
	}
	return nil
}

// ReadComplete ends a run whose last batch was committed: a capture
// completes; a full run sweeps, pauses at the safeguard or fails on an
// empty read (server/ingest decides). When the full run took a capture
// checkpoint and the directory has none, the checkpoint is stored now,
// once the run completed (or paused): capture resumes from the moment the
// snapshot began, and every session looks for it at once.
func (c *Coordinator) ReadComplete(ctx context.Context, runID int64, checkpoint []byte) (*store.Run, error) {
	run, err := c.eng.Finish(ctx, runID)
	if err != nil {
		return nil, err
	}
	if checkpoint == nil || (run.State != store.RunCompleted && run.State != store.RunPausedBySafeguard) {
		return run, nil
	}
	cur, err := c.st.Checkpoint(ctx, run.DirectoryID)
	if err != nil {
		return run, err
	}
	if cur == nil {
		if err := c.st.SetCheckpoint(ctx, run.DirectoryID, checkpoint); err != nil {
			return run, fmt.Errorf("storing the capture checkpoint of run %d: %w", run.ID, err)
		}
		c.log.Info("capture checkpoint stored from a full import", "run", run.ID)
		c.wake.WakeAll()
	}
	return run, nil
}

// Failed records a run that failed on the agent of session s: it fails (no
// sweep), and a failed capture puts s's next capture of the directory off.
func (c *Coordinator) Failed(ctx context.Context, s Session, runID int64, why string) {
	if run, err := c.st.GetRun(ctx, runID); err == nil && run.Kind == store.RunIncremental {
		c.backoff.Failed(leaseKey{s.ID(), run.Directory})
	}
	if _, err := c.eng.Fail(ctx, runID, why); err != nil && !errors.Is(err, ingest.ErrRunEnded) {
		c.log.Error("failing run", "run", runID, "err", err)
	}
	c.sessionLog(s).Warn("run failed on the agent", "run", runID, "error", why)
}

// BatchFailed fails a run one of whose batches the hub could not store.
func (c *Coordinator) BatchFailed(ctx context.Context, runID int64, err error) {
	if _, ferr := c.eng.Fail(context.WithoutCancel(ctx), runID, "the hub could not store a batch: "+err.Error()); ferr != nil {
		c.log.Error("failing run", "run", runID, "err", ferr)
	}
}

// Reconcile handles a capture whose checkpoint the directory refused: the
// capture fails, the checkpoint is dropped, and a full reconciliation
// starts, which every session looks for at once.
func (c *Coordinator) Reconcile(ctx context.Context, runID int64, why string) {
	if _, err := c.eng.Reconcile(ctx, runID, why); err != nil {
		c.log.Error("starting a reconciliation", "run", runID, "err", err)
	}
	c.wake.WakeAll()
}

// Ended ends the open runs of session s, whose stream is gone: they cannot
// finish. A full run fails cleanly (no sweep; the next one starts afresh);
// a capture stops, and another session (or this agent, back) resumes it
// from the checkpoint. agent names the agent in the runs' messages.
func (c *Coordinator) Ended(ctx context.Context, s Session, agent string) {
	c.forget(s)
	runs, err := c.st.ListRuns(ctx, store.RunFilter{SessionID: s.ID(), States: []store.RunState{store.RunRunning}})
	if err != nil {
		c.sessionLog(s).Error("listing runs of a closed session", "err", err)
		return
	}
	why := fmt.Sprintf("agent %s disconnected before the run finished; nothing was swept", agent)
	for _, r := range runs {
		if r.Kind == store.RunIncremental {
			// Capture is not a read that can fail half-way: it stops.
			if _, err := c.eng.EndCapture(ctx, r.ID, "capture ended: the agent disconnected"); err != nil && !errors.Is(err, ingest.ErrRunEnded) {
				c.log.Error("ending capture run", "run", r.ID, "err", err)
			}
			continue
		}
		if _, err := c.eng.Fail(ctx, r.ID, why); err != nil && !errors.Is(err, ingest.ErrRunEnded) {
			c.log.Error("failing run", "run", r.ID, "err", err)
		} else if err == nil {
			c.sessionLog(s).Warn("run failed: agent disconnected", "run", r.ID)
		}
	}
}
