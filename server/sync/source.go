package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idsync/idsync/internal/backoff"
	"github.com/idsync/idsync/server/store"
)

// ApplySource applies objects that an upstream source (a SCIM source such as
// an HR system) wrote, through the same path as an agent's batches: an
// incremental run of the source's directory with one batch, then completed.
// The change feed, the lifecycle audit events and provisioning follow as for
// any directory. b's RunID and Sequence are set here. A directory holds one
// open incremental run at a time, so a write that finds another one open
// (another replica's, or a capture run) waits for it, within ctx.
func (e *Engine) ApplySource(ctx context.Context, d *store.Directory, trigger string, b *store.Batch) (store.BatchResult, error) {
	r := &store.Run{DirectoryID: d.ID, Kind: store.RunIncremental, State: store.RunRunning, Trigger: trigger}
	bo := backoff.New(5*time.Millisecond, 200*time.Millisecond)
	for {
		err := e.store.CreateRun(ctx, r)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrConflict) {
			return store.BatchResult{}, fmt.Errorf("starting a run of source %s: %w", d.Name, err)
		}
		if !bo.Wait(ctx) {
			return store.BatchResult{}, fmt.Errorf("waiting for the open run of source %s: %w", d.Name, ctx.Err())
		}
	}
	b.RunID, b.DirectoryID, b.Sequence = r.ID, d.ID, 1
	// The run must end even when the caller has gone, or it blocks the
	// source's next write until the reaper ends it.
	end := context.WithoutCancel(ctx)
	res, err := e.store.ApplyBatch(ctx, b)
	if err != nil {
		_, _ = e.store.TransitionRun(end, r.ID, []store.RunState{store.RunRunning},
			store.RunUpdate{State: store.RunFailed, Message: err.Error(), Finished: true})
		return res, fmt.Errorf("applying the write of source %s (run %d): %w", d.Name, r.ID, err)
	}
	if _, err := e.store.TransitionRun(end, r.ID, []store.RunState{store.RunRunning},
		store.RunUpdate{State: store.RunCompleted, Finished: true}); err != nil {
		return res, fmt.Errorf("completing run %d of source %s: %w", r.ID, d.Name, err)
	}
	e.notify()
	e.appliedBatch(d.Name, res)
	return res, nil
}
