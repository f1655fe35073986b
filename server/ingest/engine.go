package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/store"
)

// Engine applies agents' batches to the store and decides how runs end.
// It holds no state of its own beyond a cache of mappers: everything that
// matters is in the store, so any hub replica can continue a run's decision.
type Engine struct {
	store   Store
	log     *slog.Logger
	changed func()
	audit   Recorder
	metrics Metrics
}

// Store is what the engine reads and writes of the hub's store.
type Store interface {
	ApplyBatch(ctx context.Context, b *store.Batch) (store.BatchResult, error)
	ApplyBatches(ctx context.Context, bs []*store.Batch) ([]store.BatchResult, error)
	CreateRun(ctx context.Context, r *store.Run) error
	FindUsers(ctx context.Context, directoryID int64, name string) ([]*store.User, error)
	GetDirectory(ctx context.Context, name string) (*store.Directory, error)
	GetDirectoryByID(ctx context.Context, id int64) (*store.Directory, error)
	GetRun(ctx context.Context, id int64) (*store.Run, error)
	GetUser(ctx context.Context, id string) (*store.User, error)
	SetCheckpoint(ctx context.Context, directoryID int64, data []byte) error
	Sweep(ctx context.Context, runID int64, from []store.RunState, message string) (*store.Run, error)
	SweepCandidates(ctx context.Context, runID int64) (store.SweepCount, error)
	SweepPresent(ctx context.Context, runID int64) (int64, error)
	TransitionRun(ctx context.Context, runID int64, from []store.RunState, u store.RunUpdate) (*store.Run, error)
	WrittenObjects(ctx context.Context, directoryID int64, externalIDs, dnKeys []string) (map[string]string, error)
}

// Config is what an Engine is built with.
type Config struct {
	Store Store
	Log   *slog.Logger
	// Audit records the runs' changes of state (completed, failed,
	// cancelled, paused by the safeguard); nil records nothing.
	Audit Recorder
	// Metrics hears the objects applied; nil counts nothing.
	Metrics Metrics
	// OnChange is called, without blocking, after a batch or a sweep
	// committed: provisioning reads the store's change feed at once
	// instead of at its next poll.
	OnChange func()
}

// New returns an engine built from c.
func New(c Config) *Engine {
	return &Engine{store: c.Store, log: c.Log.With("component", "ingest"), audit: c.Audit, metrics: c.Metrics, changed: c.OnChange}
}

// Recorder writes audit events (server/audit.Log).
type Recorder interface {
	Record(ctx context.Context, e store.AuditEvent)
}

// record writes an audit event about run r, when a recorder is set.
func (e *Engine) record(ctx context.Context, action string, r *store.Run, detail string) {
	if e.audit == nil || r == nil {
		return
	}
	d := fmt.Sprintf("directory %s, %s run", r.Directory, r.Kind)
	if r.State == store.RunCompleted || r.State == store.RunFailed {
		d += fmt.Sprintf(", seen %d, created %d, updated %d, deprovisioned %d, errors %d",
			r.Seen, r.Created, r.Updated, r.Deprovisioned, r.Errors)
	}
	if detail != "" {
		d += ": " + detail
	}
	outcome := store.AuditOK
	if r.State == store.RunFailed {
		outcome = store.AuditFailed
	}
	e.audit.Record(ctx, store.AuditEvent{Action: action, Target: fmt.Sprintf("run:%d", r.ID), Outcome: outcome, Detail: d})
}

// Metrics hears how many objects the engine applied, by directory and
// outcome: "created", "updated", "unchanged" or "deprovisioned" (a delete
// or a sweep). The hub's Prometheus counters implement it.
type Metrics interface {
	Applied(directory, outcome string, n int64)
}

// Outcomes of applied objects, as Metrics hears them.
const (
	OutcomeCreated       = "created"
	OutcomeUpdated       = "updated"
	OutcomeUnchanged     = "unchanged"
	OutcomeDeprovisioned = "deprovisioned"
)

func (e *Engine) applied(directory, outcome string, n int64) {
	if e.metrics != nil && n > 0 {
		e.metrics.Applied(directory, outcome, n)
	}
}

func (e *Engine) notify() {
	if e.changed != nil {
		e.changed()
	}
}

// ErrRunEnded reports a batch or decision for a run that is no longer running
// (failed, cancelled, completed or paused meanwhile).
var ErrRunEnded = errors.New("run is no longer running")

func (e *Engine) run(ctx context.Context, id int64) (*store.Run, error) {
	r, err := e.store.GetRun(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("run %d: %w", id, err)
	}
	return r, nil
}

// ParseRunID parses a run id as it travels on the wire.
func ParseRunID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("run id %q is not a positive number", s)
	}
	return id, nil
}

// RunApplier applies the batches of one run, in order. Not safe for
// concurrent use: a run's batches are applied one after the other.
type RunApplier struct {
	e      *Engine
	run    *store.Run
	dir    *store.Directory
	mapper *Mapper
}

// Applier prepares to apply the batches of run id.
func (e *Engine) Applier(ctx context.Context, id int64) (*RunApplier, error) {
	r, err := e.run(ctx, id)
	if err != nil {
		return nil, err
	}
	d, err := e.store.GetDirectoryByID(ctx, r.DirectoryID)
	if err != nil {
		return nil, fmt.Errorf("directory of run %d: %w", id, err)
	}
	return &RunApplier{e: e, run: r, dir: d, mapper: NewMapper(d)}, nil
}

// Run returns the run as loaded when the applier was made.
func (a *RunApplier) Run() *store.Run { return a.run }

// Apply maps and applies one batch in one store transaction. A batch already
// applied changes nothing (Duplicate). A run that ended meanwhile is
// ErrRunEnded.
func (a *RunApplier) Apply(ctx context.Context, b *idsyncv1.ChangeBatch) (store.BatchResult, error) {
	return a.Commit(ctx, a.Prepare(b))
}

// Prepare maps a batch into its store form. It touches no store, so it may
// run while the previous batch commits.
func (a *RunApplier) Prepare(b *idsyncv1.ChangeBatch) *store.Batch {
	sb := &store.Batch{
		RunID: a.run.ID, DirectoryID: a.dir.ID, Sequence: b.GetSequence(),
		Upserts:       make([]*store.Object, 0, len(b.GetChanges())),
		LinkedMembers: a.dir.Kind == store.KindAD,
	}
	if len(b.GetCheckpoint()) > 0 {
		sb.Checkpoint = b.GetCheckpoint()
	}
	for _, c := range b.GetChanges() {
		switch c.GetType() {
		case idsyncv1.ChangeType_CHANGE_TYPE_UPSERT:
			o, ee := a.mapper.Map(c)
			if ee != nil {
				sb.Errors = append(sb.Errors, *ee)
				continue
			}
			sb.Upserts = append(sb.Upserts, o)
		case idsyncv1.ChangeType_CHANGE_TYPE_DELETE:
			if c.GetExternalId() == "" {
				sb.Errors = append(sb.Errors, store.EntryError{DN: c.GetDn(), Kind: store.ObjectKind(idsyncv1.ObjectKindName(c.GetKind())),
					Message: "delete without an external id"})
				continue
			}
			if c.GetDeparted() {
				sb.Departed = append(sb.Departed, c.GetExternalId())
			} else {
				sb.Deletes = append(sb.Deletes, c.GetExternalId())
			}
		default:
			sb.Errors = append(sb.Errors, store.EntryError{DN: c.GetDn(), ExternalID: c.GetExternalId(),
				Kind: store.ObjectKind(idsyncv1.ObjectKindName(c.GetKind())), Message: fmt.Sprintf("unknown change type %v", c.GetType())})
		}
	}
	sb.Present = b.GetPresentIds()
	for _, ee := range b.GetErrors() {
		sb.Errors = append(sb.Errors, store.EntryError{DN: ee.GetDn(), ExternalID: ee.GetExternalId(),
			Kind: store.ObjectKind(idsyncv1.ObjectKindName(ee.GetKind())), Message: ee.GetMessage()})
	}
	return sb
}

// Commit applies a prepared batch in one store transaction. Users the
// hub itself wrote into the directory (an app with a directory target)
// are left out: they are the hub's users already, and applying them
// again would make a second user, and a loop.
func (a *RunApplier) Commit(ctx context.Context, sb *store.Batch) (store.BatchResult, error) {
	written, err := a.e.skipWritten(ctx, sb)
	if err != nil {
		return store.BatchResult{}, fmt.Errorf("applying batch %d of run %d: %w", sb.Sequence, a.run.ID, err)
	}
	res, err := a.e.store.ApplyBatch(ctx, sb)
	if err == nil && !res.Duplicate {
		a.e.mergeWritten(ctx, a.dir, written)
	}
	if errors.Is(err, store.ErrConflict) {
		return res, fmt.Errorf("applying batch %d of run %d: %w", sb.Sequence, a.run.ID, ErrRunEnded)
	}
	if err != nil {
		return res, fmt.Errorf("applying batch %d of run %d: %w", sb.Sequence, a.run.ID, err)
	}
	a.e.notify()
	if !res.Duplicate {
		a.e.appliedBatch(a.dir.Name, res)
	}
	return res, nil
}

// CommitMany is Commit for consecutive batches of the run, in one
// transaction: all commit or none does. When it fails, the caller commits
// them one by one, which says which one failed and why.
func (a *RunApplier) CommitMany(ctx context.Context, sbs []*store.Batch) ([]store.BatchResult, error) {
	written := make([]map[*store.Object]string, len(sbs))
	// skipWritten drops entries from the batches: a failed attempt leaves
	// them as they came, for the commits one by one.
	upserts := make([][]*store.Object, len(sbs))
	restore := func() {
		for i, sb := range sbs {
			sb.Upserts = upserts[i]
		}
	}
	for i, sb := range sbs {
		upserts[i] = slices.Clone(sb.Upserts)
		var err error
		if written[i], err = a.e.skipWritten(ctx, sb); err != nil {
			restore()
			return nil, fmt.Errorf("applying batch %d of run %d: %w", sb.Sequence, a.run.ID, err)
		}
	}
	res, err := a.e.store.ApplyBatches(ctx, sbs)
	if err != nil {
		restore()
		return nil, fmt.Errorf("applying batches %d to %d of run %d: %w", sbs[0].Sequence, sbs[len(sbs)-1].Sequence, a.run.ID, err)
	}
	for i, r := range res {
		if !r.Duplicate {
			a.e.mergeWritten(ctx, a.dir, written[i])
			a.e.appliedBatch(a.dir.Name, r)
		}
	}
	a.e.notify()
	return res, nil
}

// appliedBatch counts what a committed batch of directory did.
func (e *Engine) appliedBatch(directory string, res store.BatchResult) {
	e.applied(directory, OutcomeCreated, int64(res.Created))
	e.applied(directory, OutcomeUpdated, int64(res.Updated))
	e.applied(directory, OutcomeUnchanged, int64(res.Unchanged))
	e.applied(directory, OutcomeDeprovisioned, int64(res.Deleted))
}

// Finish ends a run whose read completed: an incremental run completes; a
// full run sweeps unless the read looks empty (fail) or the sweep would pass
// the safeguard (pause for an admin).
func (e *Engine) Finish(ctx context.Context, id int64) (*store.Run, error) {
	r, err := e.run(ctx, id)
	if err != nil {
		return nil, err
	}
	running := []store.RunState{store.RunRunning}
	if r.Kind != store.RunFull {
		return e.transition(ctx, id, running, store.RunUpdate{State: store.RunCompleted, Finished: true})
	}
	d, err := e.store.GetDirectoryByID(ctx, r.DirectoryID)
	if err != nil {
		return nil, fmt.Errorf("directory of run %d: %w", id, err)
	}
	c, err := e.store.SweepCandidates(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("counting sweep candidates of run %d: %w", id, err)
	}
	if c.ActiveUsers > 0 && c.Users == c.ActiveUsers {
		msg := fmt.Sprintf("the full import saw none of the directory's %d users; nothing was deprovisioned "+
			"(an empty read never sweeps: check the base DN, the user filter and the bind account's rights)", c.ActiveUsers)
		e.log.Warn("empty full import", "run", id, "directory", d.Name, "active_users", c.ActiveUsers)
		return e.transition(ctx, id, running, store.RunUpdate{State: store.RunFailed, Message: msg, Finished: true})
	}
	if msg, trip := safeguard(d, c); trip {
		e.log.Warn("safeguard paused a sweep", "run", id, "directory", d.Name,
			"would_deprovision", c.Users, "active_users", c.ActiveUsers)
		return e.transition(ctx, id, running, store.RunUpdate{
			State: store.RunPausedBySafeguard, Message: msg, PendingDeprovision: c.Users})
	}
	var run *store.Run
	if c.Users == 0 && c.Groups == 0 {
		// Nothing to deprovision: the run completes without the sweep's
		// second pass over the directory (a re-import's most common end).
		// What a sweep would deprovision cannot grow after the count —
		// every batch marks what it names seen, and an object created
		// since the run started counts as seen — so nobody who should go
		// is kept.
		if run, err = e.store.TransitionRun(ctx, id, running, store.RunUpdate{State: store.RunCompleted, Finished: true}); err != nil {
			return nil, e.endErr(ctx, id, "completing", err)
		}
	} else if run, err = e.store.Sweep(ctx, id, running, ""); err != nil {
		return nil, e.endErr(ctx, id, "sweeping", err)
	}
	e.notify()
	e.record(ctx, "import.completed", run, "")
	e.applied(d.Name, OutcomeDeprovisioned, run.Deprovisioned-r.Deprovisioned)
	e.log.Info("full import completed", "run", id, "directory", d.Name, "seen", run.Seen,
		"created", run.Created, "updated", run.Updated, "deprovisioned", run.Deprovisioned, "errors", run.Errors)
	return run, nil
}

// Safeguard says whether a sweep of c would deprovision more users than
// directory d allows, and why: what a dry run of an import tells.
func Safeguard(d *store.Directory, c store.SweepCount) (string, bool) { return safeguard(d, c) }

// FinishHeld ends a full run whose read could not identify some of what it
// read (a file's rows whose id is unreadable): what it would sweep may
// include those, so a sweep that deprovisions anyone waits for an admin,
// as the safeguard holds one, with why; one that deprovisions nobody
// completes as Finish does.
func (e *Engine) FinishHeld(ctx context.Context, id int64, why string) (*store.Run, error) {
	c, err := e.store.SweepCandidates(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("counting sweep candidates of run %d: %w", id, err)
	}
	if c.Users == 0 {
		return e.Finish(ctx, id)
	}
	e.log.Warn("a sweep held for an admin", "run", id, "would_deprovision", c.Users, "reason", why)
	return e.transition(ctx, id, []store.RunState{store.RunRunning}, store.RunUpdate{
		State: store.RunPausedBySafeguard, PendingDeprovision: c.Users,
		Message: fmt.Sprintf("%s; the sweep would deprovision %d users, and nobody was changed: confirm with "+
			"`idsyncctl import confirm RUN` or cancel with `idsyncctl import cancel RUN`", why, c.Users)})
}

// safeguard says whether a sweep of c would deprovision more users, or
// more groups, than the directory allows (its percentage or count, for
// each kind), and why. Groups count as users do: a group filter that
// misses, or a base DN that leaves them out, would take every group away
// and with them what apps get through them.
func safeguard(d *store.Directory, c store.SweepCount) (string, bool) {
	over := func(n, active int64) bool {
		return n > int64(d.SafeguardMax) || n*100 > int64(d.SafeguardPercent)*active
	}
	share := func(n, active int64) string {
		pct := float64(0)
		if active > 0 {
			pct = float64(n) * 100 / float64(active)
		}
		return fmt.Sprintf("%d of %d (%.1f%%)", n, active, pct)
	}
	var what []string
	if over(c.Users, c.ActiveUsers) {
		what = append(what, share(c.Users, c.ActiveUsers)+" active users")
	}
	if over(c.Groups, c.ActiveGroups) {
		what = append(what, share(c.Groups, c.ActiveGroups)+" groups")
	}
	if len(what) == 0 {
		return "", false
	}
	return fmt.Sprintf("the sweep would deprovision %s, more than the safeguard allows (%d%% or %d of each); "+
		"nothing was changed: confirm with `idsyncctl import confirm RUN` or cancel with `idsyncctl import cancel RUN`",
		strings.Join(what, " and "), d.SafeguardPercent, d.SafeguardMax), true
}

// ErrNoSweep refuses to sweep after a run that is not an import (full, or
// a capture's refresh): a group rule's paused change (kind rule) goes
// ahead through its rule, and a sweep after it would deprovision what it
// did not read — everyone.
var ErrNoSweep = errors.New("only an import sweeps")

// Confirm lets an import paused by the safeguard sweep.
func (e *Engine) Confirm(ctx context.Context, id int64) (*store.Run, error) {
	before, err := e.run(ctx, id)
	if err != nil {
		return nil, err
	}
	if before.Kind != store.RunFull && before.Kind != store.RunIncremental {
		how := ""
		if rule, ok := strings.CutPrefix(before.Trigger, "rule:"); ok && before.Kind == store.RunRule {
			how = fmt.Sprintf(": it holds a change of group rule %s, which `idsyncctl group rule confirm %s` lets go ahead", rule, rule)
		}
		return nil, fmt.Errorf("run %d is a %s run%s: %w", id, before.Kind, how, ErrNoSweep)
	}
	r, err := e.store.Sweep(ctx, id, []store.RunState{store.RunPausedBySafeguard}, "sweep confirmed by an admin")
	if err != nil {
		return nil, e.endErr(ctx, id, "confirming", err)
	}
	e.notify()
	e.record(ctx, "import.completed", r, "sweep confirmed")
	e.applied(r.Directory, OutcomeDeprovisioned, r.Deprovisioned-before.Deprovisioned)
	return r, nil
}

// Cancel cancels a running or paused run; nothing is swept.
func (e *Engine) Cancel(ctx context.Context, id int64, why string) (*store.Run, error) {
	return e.transition(ctx, id, []store.RunState{store.RunRunning, store.RunPausedBySafeguard},
		store.RunUpdate{State: store.RunCancelled, Message: why, Finished: true})
}

// Fail ends a running run as failed; nothing is swept.
func (e *Engine) Fail(ctx context.Context, id int64, why string) (*store.Run, error) {
	return e.transition(ctx, id, []store.RunState{store.RunRunning},
		store.RunUpdate{State: store.RunFailed, Message: why, Finished: true})
}

func (e *Engine) transition(ctx context.Context, id int64, from []store.RunState, u store.RunUpdate) (*store.Run, error) {
	r, err := e.store.TransitionRun(ctx, id, from, u)
	if err != nil {
		return nil, e.endErr(ctx, id, "moving to "+string(u.State), err)
	}
	action := "import." + string(u.State)
	if u.State == store.RunPausedBySafeguard {
		action = "safeguard.trip"
	}
	e.record(ctx, action, r, u.Message)
	return r, nil
}

// endErr explains a lost compare-and-set with the run's actual state.
func (e *Engine) endErr(ctx context.Context, id int64, doing string, err error) error {
	if errors.Is(err, store.ErrConflict) {
		if r, gerr := e.store.GetRun(ctx, id); gerr == nil {
			return fmt.Errorf("run %d is %s: %w", id, r.State, ErrRunEnded)
		}
		return fmt.Errorf("run %d: %w", id, ErrRunEnded)
	}
	return fmt.Errorf("%s run %d: %w", doing, id, err)
}

// skipWritten drops from sb the user upserts that are entries the hub
// wrote into the directory, known by id or, for one just created whose
// id the hub has not heard yet, by DN; it returns the objects it dropped
// with the hub user each was written for.
func (e *Engine) skipWritten(ctx context.Context, sb *store.Batch) (map[*store.Object]string, error) {
	var ids, keys []string
	for _, o := range sb.Upserts {
		if o.Kind == store.ObjectUser {
			ids, keys = append(ids, o.ExternalID), append(keys, o.DNKey)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	written, err := e.store.WrittenObjects(ctx, sb.DirectoryID, ids, keys)
	if err != nil || len(written) == 0 {
		return nil, err
	}
	skipped := map[*store.Object]string{}
	for _, o := range sb.Upserts {
		user := cmp.Or(written[o.ExternalID], written[o.DNKey])
		if o.Kind != store.ObjectUser || user == "" {
			continue
		}
		if written[o.ExternalID] == "" {
			// Matched by the DN of a create in flight only: an entry the
			// hub already holds as this directory's is not the one made.
			known, err := e.known(ctx, sb.DirectoryID, o)
			if err != nil {
				return nil, err
			}
			if known {
				continue
			}
		}
		e.log.Info("skipping an entry the hub wrote", "dn", o.DN, "external_id", o.ExternalID, "user", user)
		skipped[o] = user
	}
	sb.Upserts = slices.DeleteFunc(sb.Upserts, func(o *store.Object) bool { return skipped[o] != "" })
	return skipped, nil
}

// known reports whether the hub holds o as a user of the directory.
func (e *Engine) known(ctx context.Context, directoryID int64, o *store.Object) (bool, error) {
	users, err := e.store.FindUsers(ctx, directoryID, o.Profile.Username)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(users, func(u *store.User) bool { return u.ExternalID == o.ExternalID }), nil
}

// mergeWritten takes into the hub users the fields a directory masters of
// the entries the hub wrote into it (d.Mastered, e.g. AD owns email): an
// admin's change there reaches the user — and from it the apps — while the
// fields the user's own source masters stay the source's. The write goes
// through the user's own directory, as that source's; one that changes
// nothing is no write. Failures are logged: the batch itself committed.
func (e *Engine) mergeWritten(ctx context.Context, d *store.Directory, skipped map[*store.Object]string) {
	if len(d.Mastered) == 0 {
		return
	}
	for o, userID := range skipped {
		if err := e.mergeOne(ctx, d, o, userID); err != nil {
			e.log.Warn("taking a written entry's fields into its hub user", "directory", d.Name, "dn", o.DN, "user", userID, "err", err)
		}
	}
}

func (e *Engine) mergeOne(ctx context.Context, d *store.Directory, o *store.Object, userID string) error {
	u, err := e.store.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	if u.Status == store.StatusDeprovisioned {
		return nil
	}
	p := u.Profile
	changed := false
	for _, f := range store.ProfileFieldsOf(&p, &o.Profile) {
		if slices.Contains(d.Mastered, f.Name) && *f.Dst != *f.Src {
			*f.Dst, changed = *f.Src, true
		}
	}
	if !changed {
		return nil
	}
	home, err := e.store.GetDirectory(ctx, u.Directory)
	if err != nil {
		return err
	}
	obj := &store.Object{Kind: store.ObjectUser, ExternalID: u.ExternalID, DN: u.DN, DNKey: DNKey(u.DN), Status: u.Status, Profile: p}
	obj.Hash = Hash(obj)
	_, err = e.ApplyWrite(ctx, home, "directory:"+d.Name, &store.Batch{Upserts: []*store.Object{obj}})
	if err == nil {
		e.log.Info("a written entry's fields reached its hub user", "directory", d.Name, "dn", o.DN, "user", userID, "fields", d.Mastered)
	}
	return err
}
