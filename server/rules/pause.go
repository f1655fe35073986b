package rules

import (
	"context"
	"errors"
	"fmt"

	"github.com/idsync/idsync/server/store"
)

// State is where a rule stands.
type State string

// States.
const (
	// StateActive: evaluated on every change and in full.
	StateActive State = "active"
	// StatePaused: a change of the rule waits for an admin (confirm or
	// cancel); the rule is not evaluated meanwhile.
	StatePaused State = "paused"
	// StateHeld: an admin cancelled an evaluation the safeguard paused;
	// the group is left as it is and the rule not evaluated until group
	// rule apply (or an update) evaluates it again.
	StateHeld State = "held"
	// StateRemoving: the rule's removal began and did not end (the hub
	// stopped): group rule remove ends it.
	StateRemoving State = "removing"
	// StateRemoved: the rule is gone (what its removal's outcome says).
	StateRemoved State = "removed"
)

// state returns where rule r stands, with the run that holds its change
// (nil when none). A run that ended without an admin's confirmation
// (cancelled, or failed) leaves an evaluation held and a removal called
// off.
func (e *Engine) state(ctx context.Context, r *store.Rule) (State, *store.Run, error) {
	if r.PausedRun == 0 {
		if r.Pending == store.RulePendingRemove {
			return StateRemoving, nil, nil
		}
		return StateActive, nil, nil
	}
	run, err := e.st.GetRun(ctx, r.PausedRun)
	if errors.Is(err, store.ErrNotFound) {
		return StateActive, nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("reading run %d of rule %s: %w", r.PausedRun, r.Name, err)
	}
	switch run.State {
	case store.RunPausedBySafeguard, store.RunRunning:
		return StatePaused, run, nil
	case store.RunCompleted:
		return StateActive, run, nil
	}
	if r.Pending == store.RulePendingRemove {
		return StateActive, run, nil
	}
	return StateHeld, run, nil
}

// pause holds a change of rule r for an admin as a run of kind rule of
// the group's directory d, paused by the safeguard, and records it with
// the rule (before the run pauses: a hub that stops between leaves a
// running run, which the reaper fails, and the rule held).
func (e *Engine) pause(ctx context.Context, r *store.Rule, d *store.Directory, pending store.RulePending, why string, left int) (*store.Run, error) {
	run := &store.Run{DirectoryID: d.ID, Kind: store.RunRule, State: store.RunRunning, Trigger: actorOf(r)}
	if err := e.st.CreateRun(ctx, run); errors.Is(err, store.ErrConflict) {
		return nil, &StateError{Rule: r.Name, Why: fmt.Sprintf("%s; but another rule's change in directory %s waits for an admin "+
			"already (one at a time: idsyncctl import list --directory %s, then group rule confirm or cancel it)", why, d.Name, d.Name)}
	} else if err != nil {
		return nil, fmt.Errorf("starting a run of rule %s: %w", r.Name, err)
	}
	if err := e.st.SetRulePause(ctx, r.ID, run.ID, pending); err != nil {
		return nil, err
	}
	what := "evaluation"
	if pending == store.RulePendingRemove {
		what = "removal"
	}
	msg := fmt.Sprintf("rule %s: %s; nothing was changed: confirm with `idsyncctl group rule confirm %s` or cancel with "+
		"`idsyncctl group rule cancel %s`", r.Name, why, r.Name, r.Name)
	paused, err := e.st.TransitionRun(ctx, run.ID, []store.RunState{store.RunRunning},
		store.RunUpdate{State: store.RunPausedBySafeguard, Message: msg, PendingDeprovision: int64(left)})
	if err != nil {
		return nil, fmt.Errorf("pausing run %d of rule %s: %w", run.ID, r.Name, err)
	}
	r.PausedRun, r.Pending = run.ID, pending
	e.record(ctx, store.AuditEvent{Actor: actorOf(r), Action: "safeguard.trip", Target: fmt.Sprintf("run:%d", run.ID),
		Detail: fmt.Sprintf("directory %s, rule %s %s: %s", d.Name, r.Name, what, why)})
	e.log.Warn("safeguard paused a rule", "rule", r.Name, "run", run.ID, "pending", pending, "would_remove", left)
	return paused, nil
}

// end moves a rule's run from running to state with a message.
func (e *Engine) end(ctx context.Context, run *store.Run, state store.RunState, msg string) {
	if _, err := e.st.TransitionRun(context.WithoutCancel(ctx), run.ID, []store.RunState{store.RunRunning},
		store.RunUpdate{State: state, Message: msg, Finished: true}); err != nil {
		e.log.Warn("ending a rule's run", "run", run.ID, "state", state, "err", err)
	}
}
