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
	w, err := e.OpenWrite(ctx, d, trigger)
	if err != nil {
		return store.BatchResult{}, err
	}
	res, err := w.Apply(ctx, b)
	if err != nil {
		return res, err
	}
	return res, w.Close(ctx, "")
}

// WriteRun is a directory's open write run: while it is open, every other
// write of the directory waits, on this hub replica and the others. A
// caller that must read, check and write as one — a SCIM request checking
// If-Match or a unique name before its write — holds it from the read to
// the write.
type WriteRun struct {
	e       *Engine
	d       *store.Directory
	run     *store.Run
	applied bool
	res     store.BatchResult
	done    bool
}

// OpenWrite opens a write run of d, waiting within ctx for the one open
// (another request's, another replica's). The caller must Close it.
func (e *Engine) OpenWrite(ctx context.Context, d *store.Directory, trigger string) (*WriteRun, error) {
	r := &store.Run{DirectoryID: d.ID, Kind: store.RunWrite, State: store.RunRunning, Trigger: trigger}
	bo := backoff.New(5*time.Millisecond, 200*time.Millisecond)
	for {
		err := e.store.CreateRun(ctx, r)
		if err == nil {
			return &WriteRun{e: e, d: d, run: r}, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("starting a run of source %s: %w", d.Name, err)
		}
		if !bo.Wait(ctx) {
			return nil, fmt.Errorf("waiting for the open run of source %s: %w", d.Name, ctx.Err())
		}
	}
}

// Apply applies one batch in the run; its RunID and Sequence are set
// here. A batch that fails ends the run as failed.
func (w *WriteRun) Apply(ctx context.Context, b *store.Batch) (store.BatchResult, error) {
	if w.done || w.applied {
		return store.BatchResult{}, fmt.Errorf("run %d of source %s: a write run applies one batch", w.run.ID, w.d.Name)
	}
	b.RunID, b.DirectoryID, b.Sequence = w.run.ID, w.d.ID, 1
	res, err := w.e.store.ApplyBatch(ctx, b)
	if err != nil {
		w.done = true
		_, _ = w.e.store.TransitionRun(context.WithoutCancel(ctx), w.run.ID, []store.RunState{store.RunRunning},
			store.RunUpdate{State: store.RunFailed, Message: err.Error(), Finished: true})
		return res, fmt.Errorf("applying the write of source %s (run %d): %w", w.d.Name, w.run.ID, err)
	}
	w.applied, w.res = true, res
	return res, nil
}

// Close ends the run: completed when a batch was applied (and then
// provisioning is told), else cancelled with why (a refused request) as
// its message. It must end even when the
// caller has gone, or it blocks the source's next write until the reaper
// ends it. Closing an ended run does nothing.
func (w *WriteRun) Close(ctx context.Context, why string) error {
	if w.done {
		return nil
	}
	w.done = true
	u := store.RunUpdate{State: store.RunCompleted, Finished: true}
	if !w.applied {
		u = store.RunUpdate{State: store.RunCancelled, Message: why, Finished: true}
	}
	if _, err := w.e.store.TransitionRun(context.WithoutCancel(ctx), w.run.ID, []store.RunState{store.RunRunning}, u); err != nil {
		return fmt.Errorf("ending run %d of source %s: %w", w.run.ID, w.d.Name, err)
	}
	if w.applied {
		w.e.notify()
		w.e.appliedBatch(w.d.Name, w.res)
	}
	return nil
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
