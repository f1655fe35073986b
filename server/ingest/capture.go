package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idsync/idsync/server/store"
)

// Capture settings.
const (
	// CaptureOff turns change capture off for a directory: full imports
	// only.
	CaptureOff = "off"
	// DefaultFullImportInterval schedules full reconciliations.
	DefaultFullImportInterval = 24 * time.Hour
	// DefaultPollInterval wakes DirSync rounds and polls.
	DefaultPollInterval = 5 * time.Second
)

// CaptureEnabled says whether a directory streams its changes.
func CaptureEnabled(d *store.Directory) bool { return d.CaptureStrategy != CaptureOff }

// PresentDone ends the present phase of a capture run's refresh: what the
// directory neither sent nor declared present since the run began is gone.
// The sweep obeys the same safeguard as a full run's; when it trips, the
// run pauses (and capture with it) until an admin confirms or cancels.
func (e *Engine) PresentDone(ctx context.Context, runID int64) (paused bool, deprovisioned int64, err error) {
	r, err := e.run(ctx, runID)
	if err != nil {
		return false, 0, err
	}
	d, err := e.store.GetDirectoryByID(ctx, r.DirectoryID)
	if err != nil {
		return false, 0, fmt.Errorf("directory of run %d: %w", runID, err)
	}
	c, err := e.store.SweepCandidates(ctx, runID)
	if err != nil {
		return false, 0, fmt.Errorf("counting what the present phase of run %d removes: %w", runID, err)
	}
	msg, trip := safeguard(d, c)
	if c.ActiveUsers > 0 && c.Users == c.ActiveUsers {
		msg, trip = fmt.Sprintf("the capture refresh listed none of the directory's %d users; nothing was deprovisioned "+
			"(check the base DN, the user filter and the bind account's rights; confirm with `idsyncctl import confirm RUN` "+
			"if they are really gone)", c.ActiveUsers), true
	}
	if trip {
		e.log.Warn("safeguard paused a capture refresh", "run", runID, "directory", d.Name,
			"would_deprovision", c.Users, "active_users", c.ActiveUsers)
		_, err := e.transition(ctx, runID, []store.RunState{store.RunRunning}, store.RunUpdate{
			State: store.RunPausedBySafeguard, Message: msg, PendingDeprovision: c.Users})
		return err == nil, 0, err
	}
	n, err := e.store.SweepPresent(ctx, runID)
	if errors.Is(err, store.ErrConflict) {
		return false, 0, fmt.Errorf("run %d: %w", runID, ErrRunEnded)
	}
	if err != nil {
		return false, 0, fmt.Errorf("sweeping the present phase of run %d: %w", runID, err)
	}
	if n > 0 {
		e.notify()
		e.applied(d.Name, OutcomeDeprovisioned, n)
		e.log.Info("capture refresh removed objects", "run", runID, "directory", d.Name, "deprovisioned", n)
	}
	return false, n, nil
}

// EndCapture ends a capture run that stopped for a reason that is no
// failure (its agent went away, capture moved to another agent).
func (e *Engine) EndCapture(ctx context.Context, runID int64, why string) (*store.Run, error) {
	return e.transition(ctx, runID, []store.RunState{store.RunRunning},
		store.RunUpdate{State: store.RunCompleted, Message: why, Finished: true})
}

// Reconcile handles a capture whose checkpoint the directory refused: the
// capture run fails with the reason, the checkpoint is dropped, and a full
// reconciliation starts; capture resumes from the checkpoint it takes.
func (e *Engine) Reconcile(ctx context.Context, runID int64, why string) (*store.Run, error) {
	r, err := e.run(ctx, runID)
	if err != nil {
		return nil, err
	}
	if _, err := e.Fail(ctx, runID, "a full reconciliation is needed: "+why); err != nil && !errors.Is(err, ErrRunEnded) {
		return nil, err
	}
	if err := e.store.SetCheckpoint(ctx, r.DirectoryID, nil); err != nil {
		return nil, fmt.Errorf("dropping the checkpoint of run %d's directory: %w", runID, err)
	}
	full := &store.Run{DirectoryID: r.DirectoryID, Kind: store.RunFull, State: store.RunRunning, Trigger: "reconcile"}
	if err := e.store.CreateRun(ctx, full); errors.Is(err, store.ErrConflict) {
		return nil, nil // a full run is on its way already
	} else if err != nil {
		return nil, fmt.Errorf("starting a reconciliation: %w", err)
	}
	e.record(ctx, "import.start", full, "reconciliation: "+why)
	e.log.Warn("capture checkpoint refused: full reconciliation started", "capture_run", runID, "full_run", full.ID, "reason", why)
	return full, nil
}
