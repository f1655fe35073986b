package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idsync/idsync/internal/backoff"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/store"
)

// ApplyWrite applies objects the hub itself received — what an upstream
// source (a SCIM source such as an HR system) wrote, the entry of a user who
// signed in — through the same path as an agent's batches: a run of kind
// write of the directory with one batch, then completed. The change feed,
// the lifecycle audit events and provisioning follow as for any directory.
// b's RunID and Sequence are set here. A directory holds one open write run
// at a time, so a write that finds another one open (another replica's)
// waits for it, within ctx.
func (e *Engine) ApplyWrite(ctx context.Context, d *store.Directory, trigger string, b *store.Batch) (store.BatchResult, error) {
	r := &store.Run{DirectoryID: d.ID, Kind: store.RunWrite, State: store.RunRunning, Trigger: trigger}
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

// ApplyEntry maps one entry an agent read outside any run — the entry of a
// user who signed in — and applies it with ApplyWrite: the user is created
// or refreshed just in time, as a capture would have done. An entry the
// hub itself wrote into the directory is not applied: its hub user's id is
// returned instead.
func (e *Engine) ApplyEntry(ctx context.Context, d *store.Directory, trigger string, c *idsyncv1.Change) (o *store.Object, writtenFor string, err error) {
	o, ee := NewMapper(d).Map(c)
	if ee != nil {
		return nil, "", fmt.Errorf("entry %s of %s: %s", ee.DN, d.Name, ee.Message)
	}
	b := &store.Batch{DirectoryID: d.ID, Upserts: []*store.Object{o}, LinkedMembers: d.Kind == store.KindAD}
	written, err := e.skipWritten(ctx, b)
	if err != nil {
		return nil, "", err
	}
	if user := written[o]; user != "" {
		// An entry the hub wrote for one of its users: that user, with
		// the fields the directory masters taken in.
		e.mergeWritten(ctx, d, written)
		return o, user, nil
	}
	if _, err := e.ApplyWrite(ctx, d, trigger, b); err != nil {
		return nil, "", err
	}
	return o, "", nil
}
