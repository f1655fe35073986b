package runs

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/idsync/idsync/server/agents"
	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/store"
)

// The doors of an admin: start an import, confirm a run the safeguard
// paused, cancel a run. Each is audited, naming the admin (by).

// Start creates a run of kind of directory d for an online agent of d to
// pick up, and wakes the directory's sessions on this replica. A run of
// that kind already running is returned instead (already); one paused by
// the safeguard must be confirmed or cancelled first.
func (c *Coordinator) Start(ctx context.Context, d *store.Directory, kind store.RunKind, by string) (r *store.Run, already bool, err error) {
	if err := agents.CheckServed(d); err != nil {
		return nil, false, err
	}
	if d.Kind == store.KindCSV {
		return nil, false, refusal.Unmetf("directory %s is a csv directory: import a file into it "+
			"(idsyncctl import start --directory %s --file FILE)", d.Name, d.Name)
	}
	open, err := c.st.ListRuns(ctx, store.RunFilter{DirectoryID: d.ID,
		States: []store.RunState{store.RunRunning, store.RunPausedBySafeguard}})
	if err != nil {
		return nil, false, fmt.Errorf("listing runs: %w", err)
	}
	for _, r := range open {
		if r.Kind != kind {
			continue // change capture runs beside full imports
		}
		if r.State == store.RunPausedBySafeguard {
			return nil, false, refusal.Unmetf("run %d of %s is paused by the safeguard: confirm or cancel it first", r.ID, d.Name)
		}
		return r, true, nil
	}
	all, err := c.st.ListAgents(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("listing agents: %w", err)
	}
	now := c.now()
	if !slices.ContainsFunc(all, func(a *store.Agent) bool { return c.online(a, d, now) }) {
		return nil, false, refusal.Unmetf("no agent of directory %s is connected (see `idsyncctl agent list`)", d.Name)
	}
	r = &store.Run{DirectoryID: d.ID, Kind: kind, State: store.RunRunning, Trigger: by}
	if err := c.st.CreateRun(ctx, r); errors.Is(err, store.ErrConflict) {
		return nil, false, refusal.Unmetf("a %s run of %s started meanwhile (see `idsyncctl import list`)", kind, d.Name)
	} else if err != nil {
		return nil, false, fmt.Errorf("creating run: %w", err)
	}
	r.Directory = d.Name
	c.wake.Wake(d.Name)
	c.log.Info("import started", "run", r.ID, "directory", d.Name, "kind", kind, "by", by)
	c.audit.Event(ctx, "import.start", fmt.Sprintf("run:%d", r.ID), "directory %s, %s", d.Name, kind)
	return r, false, nil
}

// Confirm lets run r, paused by the safeguard, sweep.
func (c *Coordinator) Confirm(ctx context.Context, r *store.Run, by string) (*store.Run, error) {
	if r.State != store.RunPausedBySafeguard {
		return nil, refusal.Unmetf("run %d is %s, not paused by the safeguard", r.ID, r.State)
	}
	done, err := c.eng.Confirm(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	c.log.Warn("safeguard confirmed", "run", r.ID, "deprovisioned", done.Deprovisioned, "by", by)
	c.audit.Event(ctx, "safeguard.confirm", fmt.Sprintf("run:%d", r.ID), "directory %s, %d deprovisioned", done.Directory, done.Deprovisioned)
	return done, nil
}

// Cancel cancels run r, running or paused: nothing is swept, and the
// agent reading it is told to stop.
func (c *Coordinator) Cancel(ctx context.Context, r *store.Run, by string) (*store.Run, error) {
	done, err := c.eng.Cancel(ctx, r.ID, "cancelled by "+by+"; nothing was swept")
	if err != nil {
		return nil, err
	}
	if r.State == store.RunRunning && r.SessionID != "" {
		c.cancel.CancelRun(ctx, r.ID, r.SessionID, "cancelled by an admin")
	}
	c.log.Info("import cancelled", "run", r.ID, "by", by)
	c.audit.Event(ctx, "import.cancel", fmt.Sprintf("run:%d", r.ID), "directory %s", r.Directory)
	return done, nil
}
