package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/idsync/idsync/server/store"
)

// Store is what the rule engine reads and writes.
type Store interface {
	CreateRule(ctx context.Context, r *store.Rule) error
	UpdateRule(ctx context.Context, r *store.Rule) error
	GetRule(ctx context.Context, name string) (*store.Rule, error)
	ListRules(ctx context.Context) ([]*store.Rule, error)
	DeleteRule(ctx context.Context, id int64) error
	RuleEvaluated(ctx context.Context, id int64, e store.RuleEvaluation, lastError string) error
	RuleFailed(ctx context.Context, id int64, msg string, at time.Time) error
	MarkRulesGroupsChanged(ctx context.Context, ids []int64, pos int64) error
	SetRulePause(ctx context.Context, id, runID int64, pending store.RulePending) error
	DirectGroups(ctx context.Context, userIDs []string) (map[string][]string, error)
	GroupGraph(ctx context.Context) (*store.GroupGraph, error)
	MemberCount(ctx context.Context, groupID string) (int64, error)

	GetDirectory(ctx context.Context, name string) (*store.Directory, error)
	GetDirectoryByID(ctx context.Context, id int64) (*store.Directory, error)
	ListUsers(ctx context.Context, f store.UserFilter) ([]*store.User, error)
	GetUser(ctx context.Context, id string) (*store.User, error)
	GetGroup(ctx context.Context, id string) (*store.Group, error)
	FindGroups(ctx context.Context, directoryID int64, name string) ([]*store.Group, error)
	GroupMembers(ctx context.Context, groupID string) ([]store.Member, error)
	GroupUsersTransitive(ctx context.Context, groupID string) ([]*store.User, error)
	// A group that holds an admin grant is no rule's.
	ListAdminGrants(ctx context.Context) ([]*store.AdminGrant, error)

	CreateRun(ctx context.Context, r *store.Run) error
	GetRun(ctx context.Context, id int64) (*store.Run, error)
	TransitionRun(ctx context.Context, runID int64, from []store.RunState, u store.RunUpdate) (*store.Run, error)

	Changes(ctx context.Context, after int64, limit int) ([]store.ObjectChange, int64, error)
	FeedPosition(ctx context.Context) (int64, error)
	Cursor(ctx context.Context, name string) (int64, error)
	SetCursor(ctx context.Context, name string, pos int64) error
	TryLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
}

// Applier applies a batch to a directory as a run of kind write
// (ingest.Engine.ApplyWrite).
type Applier interface {
	ApplyWrite(ctx context.Context, d *store.Directory, trigger string, b *store.Batch) (store.BatchResult, error)
}

// Recorder writes audit events (server/audit.Log).
type Recorder interface {
	Record(ctx context.Context, e store.AuditEvent)
}

// Defaults of Config.
const (
	DefaultInterval     = time.Hour
	DefaultSettle       = 30 * time.Second
	DefaultPollInterval = 5 * time.Second
)

// ImmediateGroupUsers is how many users a changed group may hold for the
// rules that read groups to re-evaluate them at once; a larger group's
// users wait for the full evaluation the change marks.
const ImmediateGroupUsers = 1000

// Config is what an Engine is built with.
type Config struct {
	Store Store
	// Apply writes the rules' groups (ingest.Engine).
	Apply Applier
	// Audit records what rules and admins did; nil records nothing.
	Audit Recorder
	Log   *slog.Logger
	// Wake, when it receives, makes the engine read the change feed at
	// once: the ingest engine's OnChange signals it after every commit.
	Wake <-chan struct{}
	// Owner names this hub in the lease of the feed (one replica reads it
	// at a time); default "rules".
	Owner string
	// Interval schedules a full evaluation of every rule (0: an hour;
	// negative: none but those asked for and those group changes call
	// for).
	Interval time.Duration
	// Settle is how long after its last full evaluation a rule that reads
	// groups waits before a group change evaluates it in full again (0:
	// 30 s): a burst of group changes costs one evaluation.
	Settle time.Duration
	// PollInterval reads the feed when nothing woke the engine (0: 5 s).
	PollInterval time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// Engine evaluates group rules and writes their groups.
type Engine struct {
	st     Store
	apply  Applier
	audit  Recorder
	log    *slog.Logger
	wake   <-chan struct{}
	owner  string
	every  time.Duration
	settle time.Duration
	poll   time.Duration
	now    func() time.Time
	// locks serialises the evaluations of one rule in this process (rule
	// id → *sync.Mutex); the group's revision guards against other
	// replicas.
	locks sync.Map
}

// New returns an engine built from c.
func New(c Config) *Engine {
	e := &Engine{st: c.Store, apply: c.Apply, audit: c.Audit, log: c.Log, wake: c.Wake, owner: c.Owner,
		every: c.Interval, settle: c.Settle, poll: c.PollInterval, now: c.Now}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.log = e.log.With("component", "rules")
	if e.owner == "" {
		e.owner = "rules"
	}
	if e.every == 0 {
		e.every = DefaultInterval
	}
	if e.settle <= 0 {
		e.settle = DefaultSettle
	}
	if e.poll <= 0 {
		e.poll = DefaultPollInterval
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e
}

const (
	// cursorName names the feed position the rules have evaluated.
	cursorName = "rules"
	// leaseName makes one hub replica evaluate the feed and the schedule
	// at a time.
	leaseName = "rules-feed"
	leaseTTL  = 15 * time.Second
	feedPage  = 1000
)

// Run reads the change feed and runs the due full evaluations until ctx
// ends: at once when woken, else every PollInterval.
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTicker(e.poll)
	defer t.Stop()
	for {
		if err := e.Step(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("evaluating group rules", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-e.wake:
		case <-t.C:
		}
	}
}

// Step evaluates what the change feed holds since the cursor, then the full
// evaluations that are due, when this replica holds the lease.
func (e *Engine) Step(ctx context.Context) error {
	held, err := e.st.TryLease(ctx, leaseName, e.owner, e.now(), leaseTTL)
	if err != nil || !held {
		return err
	}
	if err := e.drain(ctx); err != nil {
		return err
	}
	return e.scheduled(ctx)
}

// lock serialises the evaluations of rule id in this process.
func (e *Engine) lock(id int64) func() {
	m, _ := e.locks.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// record writes an audit event, when there is a trail.
func (e *Engine) record(ctx context.Context, ev store.AuditEvent) {
	if e.audit != nil {
		e.audit.Record(ctx, ev)
	}
}

// Errors a door maps to a status.
var (
	// ErrNoRule: no rule has the name.
	ErrNoRule = errors.New("no such rule")
	// ErrNotAGroup: the target names no group of the hub.
	ErrNotAGroup = errors.New("no such group")
)

// FieldError refuses what an admin gave, naming the field.
type FieldError struct {
	Field string
	Why   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Why }

// StateError refuses what the rule's state does not allow, saying why.
type StateError struct {
	Rule string
	Why  string
}

func (e *StateError) Error() string { return fmt.Sprintf("rule %s: %s", e.Rule, e.Why) }
