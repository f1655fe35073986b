package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/store"
)

// Change capture, as seen from one agent's session: the capture of a
// directory is one running incremental run, claimed by one session — the
// lease. The holder's liveness is its agent's heartbeat in the store; a
// standby session that finds the holder silent for three heartbeats ends its
// run and takes over from the stored checkpoint. Creating the run is the
// compare-and-set (one running incremental run per directory, enforced by
// the store), so two standbys, or two hub replicas, cannot both win.

// ensureCapture starts capture for d on this session's agent when nobody
// holds it, and takes it over from a silent holder.
func (ss *session) ensureCapture(ctx context.Context, d *store.Directory, capture, full *store.Run) error {
	st := ss.s.store
	if capture != nil {
		switch {
		case capture.State != store.RunRunning:
			return nil // paused by the safeguard: an admin decides
		case capture.SessionID == ss.id:
			return nil // ours
		case capture.AgentID == "":
			return ss.startCapture(ctx, d, capture) // created by an admin
		}
		holder, err := st.GetAgent(ctx, capture.AgentID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err == nil && holder.SessionID == capture.SessionID && time.Since(holder.LastSeen) < ss.s.staleAfter() {
			return nil // alive: this session stands by
		}
		if _, err := ss.s.engine.EndCapture(ctx, capture.ID,
			"capture moved: the agent holding it stopped answering"); err != nil && !errors.Is(err, ingest.ErrRunEnded) {
			return err
		}
		ss.log.Warn("taking over change capture from a silent agent", "directory", d.Name, "run", capture.ID, "from", capture.AgentID)
	}
	cp, err := st.Checkpoint(ctx, d.ID)
	if err != nil {
		return err
	}
	if cp == nil {
		// No checkpoint yet: the first (or a reconciling) full import takes
		// one; capture starts once it completes.
		return nil
	}
	if !ss.captureMayStart(d.ID) {
		return nil
	}
	r := &store.Run{DirectoryID: d.ID, Kind: store.RunIncremental, State: store.RunRunning, Trigger: "capture"}
	if err := st.CreateRun(ctx, r); errors.Is(err, store.ErrConflict) {
		return nil // another session (or replica) got there first
	} else if err != nil {
		return err
	}
	return ss.startCapture(ctx, d, r)
}

func (ss *session) startCapture(ctx context.Context, d *store.Directory, r *store.Run) error {
	if err := ss.s.store.ClaimRun(ctx, r.ID, ss.agent.ID, ss.id); errors.Is(err, store.ErrConflict) {
		return nil
	} else if err != nil {
		return err
	}
	cp, err := ss.s.store.Checkpoint(ctx, d.ID)
	if err != nil {
		return err
	}
	ss.log.Info("starting change capture on agent", "run", r.ID, "directory", d.Name)
	return ss.startRun(ctx, &idsyncv1.StartImport{RunId: strconv.FormatInt(r.ID, 10),
		Kind: idsyncv1.ImportKind_IMPORT_KIND_INCREMENTAL, Source: ingest.Source(d, cp)})
}

// captureFailed backs off this session's next capture of a directory, so
// that an LDAP server that is down is not hammered with new runs.
func (ss *session) captureFailed(directoryID int64) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	b := ss.backoffs[directoryID]
	if b == nil {
		b = &captureBackoff{}
		ss.backoffs[directoryID] = b
	}
	b.failures++
	wait := min(time.Second<<min(b.failures, 6), time.Minute)
	b.until = time.Now().Add(wait)
}

// captureOK resets the backoff after a batch of a capture was applied.
func (ss *session) captureOK(directoryID int64) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.backoffs, directoryID)
}

func (ss *session) captureMayStart(directoryID int64) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	b := ss.backoffs[directoryID]
	return b == nil || time.Now().After(b.until)
}

type captureBackoff struct {
	failures int
	until    time.Time
}

// afterCommit does what a committed batch of a run asks beyond the data:
// record the capture strategy and lag, run the present-phase sweep at the
// end of a refresh, store a full run's checkpoint once it completes.
func (ss *session) afterCommit(ctx context.Context, pb *preparedBatch) error {
	b, r := pb.wire, pb.ap.Run()
	st := ss.s.store
	if b.GetStrategy() != "" && r.Kind == store.RunIncremental {
		if err := st.SetRunStrategy(ctx, r.ID, b.GetStrategy()); err != nil {
			ss.log.Warn("recording capture strategy", "run", r.ID, "err", err)
		}
	}
	if r.Kind == store.RunIncremental {
		ss.captureOK(r.DirectoryID)
		if ra := b.GetReadAt(); ra != nil && time.Since(ss.lagAt) >= time.Second {
			ss.lagAt = time.Now()
			if err := st.AgentLag(ctx, ss.agent.ID, time.Since(ra.AsTime())); err != nil {
				ss.log.Warn("recording lag", "err", err)
			}
		}
	}
	if b.GetRefreshDone() && b.GetPresentPhase() && r.Kind == store.RunIncremental {
		paused, _, err := ss.s.engine.PresentDone(ctx, r.ID)
		if err != nil {
			return fmt.Errorf("present phase of run %d: %w", r.ID, err)
		}
		if paused {
			ss.dropApplier(r.ID)
			return ss.cancelRun(ctx, r.ID, "the capture refresh paused on the safeguard")
		}
	}
	return nil
}

// finishFull ends a full run whose read completed and, when the run took a
// capture checkpoint and the directory has none, stores it: capture resumes
// from the moment the snapshot began.
func (ss *session) finishFull(ctx context.Context, pb *preparedBatch) (*store.Run, error) {
	run, err := ss.s.engine.Finish(ctx, pb.runID)
	if err != nil {
		return nil, err
	}
	if pb.checkpoint == nil || (run.State != store.RunCompleted && run.State != store.RunPausedBySafeguard) {
		return run, nil
	}
	cur, err := ss.s.store.Checkpoint(ctx, run.DirectoryID)
	if err != nil {
		return run, err
	}
	if cur == nil {
		if err := ss.s.store.SetCheckpoint(ctx, run.DirectoryID, pb.checkpoint); err != nil {
			return run, fmt.Errorf("storing the capture checkpoint of run %d: %w", run.ID, err)
		}
		ss.log.Info("capture checkpoint stored from a full import", "run", run.ID)
		ss.s.hub.WakeAll()
	}
	return run, nil
}
