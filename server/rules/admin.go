package rules

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/idsync/idsync/server/provision"
	"github.com/idsync/idsync/server/store"
)

// What admins do with rules: add, update, apply, preview, remove, and
// confirm or cancel a change the safeguard paused. Each takes the actor
// ("admin:NAME") its audit events are by.

// Spec is a rule as an admin gives it.
type Spec struct {
	Name string
	// Group is the group the rule masters, of a local directory: its id,
	// its name, or DIRECTORY/NAME when the name is in several.
	Group string
	Expr  string
	// Directories name the directories whose users the rule covers; none:
	// every directory.
	Directories []string
}

// ruleName is the form of a rule's name: it is typed on command lines and
// names the rule's writes (rule:NAME).
var ruleName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Status is a rule with where it stands.
type Status struct {
	Rule  *store.Rule
	State State
	// Run is the run that holds or held the rule's change, if any.
	Run *store.Run
	// Members is how many members the group holds.
	Members int64
}

// List returns every rule, in the order they are evaluated.
func (e *Engine) List(ctx context.Context) ([]*Status, error) {
	rules, err := e.st.ListRules(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*Status, 0, len(rules))
	for _, r := range rules {
		s, err := e.status(ctx, r)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Get returns a rule by name, whatever its case.
func (e *Engine) Get(ctx context.Context, name string) (*Status, error) {
	r, err := e.rule(ctx, name)
	if err != nil {
		return nil, err
	}
	return e.status(ctx, r)
}

func (e *Engine) status(ctx context.Context, r *store.Rule) (*Status, error) {
	st, run, err := e.state(ctx, r)
	if err != nil {
		return nil, err
	}
	s := &Status{Rule: r, State: st, Run: run}
	if g, err := e.st.GetGroup(ctx, r.GroupID); err == nil {
		s.Members = g.MemberCount
	}
	return s, nil
}

// locked reads rule name under its lock (read again once locked: an
// evaluation may have changed it meanwhile), with where it stands and the
// run that holds its change; the caller unlocks.
func (e *Engine) locked(ctx context.Context, name string) (*store.Rule, State, *store.Run, func(), error) {
	r, err := e.rule(ctx, name)
	if err != nil {
		return nil, "", nil, nil, err
	}
	unlock := e.lock(r.ID)
	r, err = e.rule(ctx, name)
	if err != nil {
		unlock()
		return nil, "", nil, nil, err
	}
	st, run, err := e.state(ctx, r)
	if err != nil {
		unlock()
		return nil, "", nil, nil, err
	}
	return r, st, run, unlock, nil
}

// waiting is locked for a rule whose change waits for an admin (what).
func (e *Engine) waiting(ctx context.Context, name, what string) (*store.Rule, *store.Run, func(), error) {
	r, st, run, unlock, err := e.locked(ctx, name)
	if err != nil {
		return nil, nil, nil, err
	}
	if st != StatePaused || run.State != store.RunPausedBySafeguard {
		unlock()
		return nil, nil, nil, &StateError{Rule: r.Name, Why: fmt.Sprintf("it is %s: nothing waits for %s", st, what)}
	}
	return r, run, unlock, nil
}

// rule reads a rule by name.
func (e *Engine) rule(ctx context.Context, name string) (*store.Rule, error) {
	r, err := e.st.GetRule(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("rule %q: %w", name, ErrNoRule)
	}
	return r, err
}

// Add makes a rule and evaluates it in full, under the safeguard (a group
// that holds members the rule would remove, past the safeguard, pauses).
func (e *Engine) Add(ctx context.Context, s Spec, actor string) (*Outcome, error) {
	s.Name = strings.TrimSpace(s.Name)
	if !ruleName.MatchString(s.Name) {
		return nil, &FieldError{Field: "name", Why: fmt.Sprintf("%q: a letter or digit, then letters, digits, '.', '-' or '_' (64 at most)", s.Name)}
	}
	r := &store.Rule{Name: s.Name, Expr: s.Expr, CreatedBy: actor}
	c, err := compile(r)
	if err != nil {
		return nil, err
	}
	if err := provision.UnknownField(c.e); err != nil {
		return nil, &FieldError{Field: "expr", Why: fmt.Sprintf("%q: %v", r.Expr, err)}
	}
	if r.Directories, err = e.directories(ctx, s.Directories); err != nil {
		return nil, err
	}
	g, d, err := e.group(ctx, s.Group)
	if err != nil {
		return nil, err
	}
	if err := e.notAdmins(ctx, g, d); err != nil {
		return nil, err
	}
	r.GroupID = g.ID
	if err := e.taken(ctx, r); err != nil {
		return nil, err
	}
	if err := e.st.CreateRule(ctx, r); err != nil {
		return nil, fmt.Errorf("adding rule %s: %w", s.Name, err)
	}
	e.record(ctx, store.AuditEvent{Actor: actor, Action: "rule.created", Target: "rule:" + r.Name,
		Detail: fmt.Sprintf("group %s of %s, %s, expression %s", g.Name, d.Name, covered(r), r.Expr)})
	e.log.Info("rule added", "rule", r.Name, "group", g.Name, "directory", d.Name, "by", actor)
	defer e.lock(r.ID)()
	return e.full(ctx, c, mode{guarded: true, why: "added by " + actor})
}

// taken refuses a name another rule has, or a group another rule
// masters, naming it.
func (e *Engine) taken(ctx context.Context, r *store.Rule) error {
	rules, err := e.st.ListRules(ctx)
	if err != nil {
		return err
	}
	for _, o := range rules {
		switch {
		case strings.EqualFold(o.Name, r.Name):
			return fmt.Errorf("%w: %w", &FieldError{Field: "name", Why: fmt.Sprintf("%q is taken by a rule of group %s", r.Name, o.Group)}, store.ErrConflict)
		case o.GroupID == r.GroupID:
			return fmt.Errorf("%w: %w", &FieldError{Field: "group", Why: fmt.Sprintf("group %s of %s is the group of rule %s already (one rule per group)",
				o.Group, o.Directory, o.Name)}, store.ErrConflict)
		}
	}
	return nil
}

// notAdmins refuses a group that holds a live admin grant: a rule fills
// its group from what directories and sources say of users, and who is an
// admin is not theirs to say (server/admins refuses a grant on a rule's
// group alike).
func (e *Engine) notAdmins(ctx context.Context, g *store.Group, d *store.Directory) error {
	grants, err := e.st.ListAdminGrants(ctx)
	if err != nil {
		return fmt.Errorf("listing admin grants: %w", err)
	}
	for _, gr := range grants {
		if gr.GroupID == g.ID && gr.RevokedAt.IsZero() {
			return &TargetError{Group: g.Name, Directory: d.Name, Kind: d.Kind, Why: fmt.Sprintf(
				"it holds admin grant %s (role %s), and a rule does not decide who is an admin: grant the role to another group, or revoke the grant",
				gr.ID, gr.Role)}
		}
	}
	return nil
}

// covered says whose users a rule covers.
func covered(r *store.Rule) string {
	if len(r.DirectoryNames) == 0 {
		return "users of every directory"
	}
	return "users of " + strings.Join(r.DirectoryNames, ", ")
}

// group resolves what an admin names a rule's group by: an id, a name, or
// DIRECTORY/NAME; it must be a group of a local directory.
func (e *Engine) group(ctx context.Context, ref string) (*store.Group, *store.Directory, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, nil, &FieldError{Field: "group", Why: "required: the local group the rule fills (group create --directory LOCAL NAME)"}
	}
	if g, err := e.st.GetGroup(ctx, ref); err == nil {
		return e.target(ctx, g.ID)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	var dirID int64
	name := ref
	if dir, n, ok := strings.Cut(ref, "/"); ok {
		d, err := e.st.GetDirectory(ctx, dir)
		if err == nil {
			dirID, name = d.ID, n
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
	}
	gs, err := e.st.FindGroups(ctx, dirID, name)
	if err != nil {
		return nil, nil, err
	}
	switch len(gs) {
	case 0:
		return nil, nil, &FieldError{Field: "group", Why: fmt.Sprintf("no group %q: %v (make it with group create --directory LOCAL NAME)", ref, ErrNotAGroup)}
	case 1:
		return e.target(ctx, gs[0].ID)
	}
	var where []string
	for _, g := range gs {
		where = append(where, g.Directory+"/"+g.Name)
	}
	return nil, nil, &FieldError{Field: "group", Why: fmt.Sprintf("%q is the name of %d groups (%s): name one as DIRECTORY/NAME or by id",
		ref, len(gs), strings.Join(where, ", "))}
}

// directories resolves directory names to ids.
func (e *Engine) directories(ctx context.Context, names []string) ([]int64, error) {
	var ids []int64
	for _, n := range names {
		d, err := e.st.GetDirectory(ctx, strings.TrimSpace(n))
		if errors.Is(err, store.ErrNotFound) {
			return nil, &FieldError{Field: "directory", Why: fmt.Sprintf("no directory %q (see idsyncctl directory list)", n)}
		}
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, d.ID) {
			ids = append(ids, d.ID)
		}
	}
	return ids, nil
}

// Update changes a rule's expression (expr not nil) and the directories it
// covers (dirs not nil), then evaluates it in full under the safeguard. A
// change that waited for an admin is cancelled: the update supersedes it.
func (e *Engine) Update(ctx context.Context, name string, expr *string, dirs *[]string, actor string) (*Outcome, error) {
	r, st, run, unlock, err := e.locked(ctx, name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if st == StateRemoving {
		return nil, &StateError{Rule: r.Name, Why: "its removal began and did not end: group rule remove ends it"}
	}
	var changed []string
	if expr != nil && *expr != r.Expr {
		r.Expr = *expr
		changed = append(changed, "expression "+r.Expr)
	}
	if dirs != nil {
		if r.Directories, err = e.directories(ctx, *dirs); err != nil {
			return nil, err
		}
		changed = append(changed, "directories "+strings.Join(*dirs, ", "))
	}
	c, err := compile(r)
	if err != nil {
		return nil, err
	}
	if expr != nil {
		if err := provision.UnknownField(c.e); err != nil {
			return nil, &FieldError{Field: "expr", Why: fmt.Sprintf("%q: %v", r.Expr, err)}
		}
	}
	if st == StatePaused && run.State == store.RunPausedBySafeguard {
		if _, err := e.st.TransitionRun(ctx, run.ID, []store.RunState{store.RunPausedBySafeguard}, store.RunUpdate{
			State: store.RunCancelled, Message: "superseded by an update of rule " + r.Name + " by " + actor, Finished: true}); err != nil {
			return nil, fmt.Errorf("cancelling the paused run %d of rule %s: %w", run.ID, r.Name, err)
		}
	} else if st == StatePaused {
		return nil, &StateError{Rule: r.Name, Why: fmt.Sprintf("an admin's confirmation of run %d is being applied", run.ID)}
	}
	if err := e.st.UpdateRule(ctx, r); err != nil {
		return nil, fmt.Errorf("updating rule %s: %w", r.Name, err)
	}
	if err := e.st.SetRulePause(ctx, r.ID, 0, ""); err != nil {
		return nil, err
	}
	r.PausedRun, r.Pending = 0, ""
	e.record(ctx, store.AuditEvent{Actor: actor, Action: "rule.updated", Target: "rule:" + r.Name, Detail: strings.Join(changed, "; ")})
	return e.full(ctx, c, mode{guarded: true, why: "updated by " + actor})
}

// Apply evaluates a rule in full now, under the safeguard; a held rule is
// evaluated again.
func (e *Engine) Apply(ctx context.Context, name, actor string) (*Outcome, error) {
	r, st, run, unlock, err := e.locked(ctx, name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	c, err := e.ready(ctx, r, st, run)
	if err != nil {
		return nil, err
	}
	o, err := e.full(ctx, c, mode{guarded: true, why: "asked for by " + actor})
	if err != nil {
		return nil, err
	}
	if o.Paused == nil && o.Joined == 0 && o.Left == 0 {
		e.record(ctx, store.AuditEvent{Actor: actor, Action: "rule.applied", Target: "rule:" + c.r.Name,
			Detail: fmt.Sprintf("full evaluation: no change (%d matched, %d errors)", o.Matched, o.Errors)})
	}
	return o, nil
}

// ready compiles a rule that may be evaluated: active, or held (it is
// then released).
func (e *Engine) ready(ctx context.Context, r *store.Rule, st State, run *store.Run) (*compiled, error) {
	switch st {
	case StatePaused:
		return nil, &StateError{Rule: r.Name, Why: fmt.Sprintf("its %s waits for an admin (run %d): group rule confirm %s, or cancel",
			r.Pending, run.ID, r.Name)}
	case StateRemoving:
		return nil, &StateError{Rule: r.Name, Why: "its removal began and did not end: group rule remove ends it"}
	}
	if r.PausedRun != 0 || r.Pending != "" {
		if err := e.st.SetRulePause(ctx, r.ID, 0, ""); err != nil {
			return nil, err
		}
		r.PausedRun, r.Pending = 0, ""
	}
	return compile(r)
}

// Preview evaluates a rule in full and writes nothing: who would join and
// leave.
func (e *Engine) Preview(ctx context.Context, name string) (*Outcome, error) {
	r, err := e.rule(ctx, name)
	if err != nil {
		return nil, err
	}
	c, err := compile(r)
	if err != nil {
		return nil, err
	}
	rules, err := e.st.ListRules(ctx)
	if err != nil {
		return nil, err
	}
	p, err := e.plan(ctx, c, rules)
	if err != nil {
		return nil, err
	}
	return &p.Outcome, nil
}

// Remove removes a rule and empties its group (the group stays, a local
// group like any). A group holding more members than its directory's
// safeguard allows pauses the removal for an admin instead.
func (e *Engine) Remove(ctx context.Context, name, actor string) (*Outcome, error) {
	r, st, run, unlock, err := e.locked(ctx, name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	switch {
	case st == StatePaused && r.Pending == store.RulePendingRemove:
		return nil, &StateError{Rule: r.Name, Why: fmt.Sprintf("its removal waits for an admin (run %d): group rule confirm %s, or cancel", run.ID, r.Name)}
	case st == StatePaused && run.State == store.RunPausedBySafeguard:
		if _, err := e.st.TransitionRun(ctx, run.ID, []store.RunState{store.RunPausedBySafeguard}, store.RunUpdate{
			State: store.RunCancelled, Message: "superseded by the removal of rule " + r.Name + " by " + actor, Finished: true}); err != nil {
			return nil, fmt.Errorf("cancelling the paused run %d of rule %s: %w", run.ID, r.Name, err)
		}
	case st == StatePaused:
		return nil, &StateError{Rule: r.Name, Why: fmt.Sprintf("an admin's confirmation of run %d is being applied", run.ID)}
	}
	g, d, err := e.target(ctx, r.GroupID)
	if err != nil {
		return nil, err
	}
	current, _, err := e.members(ctx, g.ID)
	if err != nil {
		return nil, err
	}
	o := &Outcome{Rule: r, Members: len(current), Left: len(current)}
	if _, trip := tripped(d, len(current), len(current)); trip {
		_, most := safeguardOf(d)
		why := fmt.Sprintf("removing the rule would empty group %s of its %d members, more than the safeguard of directory %s allows (%d)",
			g.Name, len(current), d.Name, most)
		if o.Paused, err = e.pause(ctx, r, d, store.RulePendingRemove, why, len(current)); err != nil {
			return nil, err
		}
		return o, nil
	}
	return o, e.remove(ctx, r, g, d, actor, "removed by "+actor)
}

// remove empties the group of rule r and deletes the rule: marked
// removing first, so that a hub that stops between neither evaluates the
// rule again nor loses the removal (group rule remove ends it).
func (e *Engine) remove(ctx context.Context, r *store.Rule, g *store.Group, d *store.Directory, actor, why string) error {
	if err := e.st.SetRulePause(ctx, r.ID, 0, store.RulePendingRemove); err != nil {
		return err
	}
	current, other, err := e.members(ctx, g.ID)
	if err != nil {
		return err
	}
	if len(current) > 0 || other {
		ev := &store.AuditEvent{Action: "rule.applied", Target: "group:" + g.Name,
			Detail: fmt.Sprintf("rule %s %s: the group emptied, %d left", r.Name, why, len(current))}
		if err := e.writeSet(ctx, r, d, g, nil, 0, ev); err != nil {
			return err
		}
	}
	rules, err := e.st.ListRules(ctx)
	if err != nil {
		return err
	}
	if err := e.st.DeleteRule(ctx, r.ID); err != nil {
		return fmt.Errorf("removing rule %s: %w", r.Name, err)
	}
	if len(current) > 0 {
		if err := e.markLater(ctx, r, rules); err != nil {
			return err
		}
	}
	e.record(ctx, store.AuditEvent{Actor: actor, Action: "rule.removed", Target: "rule:" + r.Name,
		Detail: fmt.Sprintf("%s; group %s of %s emptied (%d members left); the group stays", why, g.Name, d.Name, len(current))})
	e.log.Info("rule removed", "rule", r.Name, "group", g.Name, "left", len(current), "by", actor)
	return nil
}

// Confirm lets the change of a rule that the safeguard paused go ahead:
// an evaluation is made again and written whatever it removes; a removal
// empties the group and removes the rule.
func (e *Engine) Confirm(ctx context.Context, name, actor string) (*Outcome, error) {
	r, run, unlock, err := e.waiting(ctx, name, "a confirmation")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := e.st.TransitionRun(ctx, run.ID, []store.RunState{store.RunPausedBySafeguard},
		store.RunUpdate{State: store.RunRunning, Message: "confirmed by " + actor}); err != nil {
		return nil, fmt.Errorf("confirming run %d of rule %s: %w", run.ID, r.Name, err)
	}
	e.record(ctx, store.AuditEvent{Actor: actor, Action: "rule.confirmed", Target: "rule:" + r.Name,
		Detail: fmt.Sprintf("run %d: the %s paused by the safeguard goes ahead", run.ID, r.Pending)})
	if r.Pending == store.RulePendingRemove {
		g, d, err := e.target(ctx, r.GroupID)
		if err == nil {
			err = e.remove(ctx, r, g, d, actor, "removal confirmed by "+actor)
		}
		if err != nil {
			e.end(ctx, run, store.RunFailed, err.Error())
			return nil, err
		}
		e.end(ctx, run, store.RunCompleted, fmt.Sprintf("rule %s removed, confirmed by %s", r.Name, actor))
		return &Outcome{Rule: r, Left: int(run.PendingDeprovision)}, nil
	}
	c, err := compile(r)
	var o *Outcome
	if err == nil {
		o, err = e.full(ctx, c, mode{why: "confirmed by " + actor})
	}
	if err != nil {
		e.end(ctx, run, store.RunFailed, err.Error())
		return nil, err
	}
	e.end(ctx, run, store.RunCompleted, fmt.Sprintf("rule %s evaluated, confirmed by %s: %d joined, %d left", r.Name, actor, o.Joined, o.Left))
	if err := e.st.SetRulePause(ctx, r.ID, 0, ""); err != nil {
		return nil, err
	}
	r.PausedRun, r.Pending = 0, ""
	return o, nil
}

// Cancel calls off the change of a rule that the safeguard paused: an
// evaluation leaves the rule held (its group as it is, not evaluated
// until group rule apply or an update); a removal leaves the rule as it
// was.
func (e *Engine) Cancel(ctx context.Context, name, actor string) (*Status, error) {
	r, run, unlock, err := e.waiting(ctx, name, "an admin")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := e.st.TransitionRun(ctx, run.ID, []store.RunState{store.RunPausedBySafeguard}, store.RunUpdate{
		State: store.RunCancelled, Message: "cancelled by " + actor + "; nothing was changed", Finished: true}); err != nil {
		return nil, fmt.Errorf("cancelling run %d of rule %s: %w", run.ID, r.Name, err)
	}
	pending := r.Pending
	if pending == store.RulePendingRemove {
		if err := e.st.SetRulePause(ctx, r.ID, 0, ""); err != nil {
			return nil, err
		}
		r.PausedRun, r.Pending = 0, ""
	}
	e.record(ctx, store.AuditEvent{Actor: actor, Action: "rule.cancelled", Target: "rule:" + r.Name,
		Detail: fmt.Sprintf("run %d: the %s paused by the safeguard is called off; nothing was changed", run.ID, pending)})
	return e.status(ctx, r)
}
