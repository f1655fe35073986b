package runs

import (
	"context"
	"errors"
	"strconv"
	"time"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/store"
)

// Change capture: the capture of a directory is one running incremental
// run, claimed by one session — the lease. The holder's liveness is its
// agent's heartbeat in the store; a standby session that finds the holder
// silent for three heartbeats (or its agent on another stream) ends its
// run and takes over from the stored checkpoint. Creating the run is the
// compare-and-set (one running incremental run per directory, enforced by
// the store), so two standbys, or two hub replicas, cannot both win.

// Capture backoff after a capture failed on a session's agent: from
// captureRetryMin, doubling, up to captureRetryMax (jittered).
const (
	captureRetryMin = 2 * time.Second
	captureRetryMax = time.Minute
)

// holdCapture starts capture of d on s's agent when nobody holds it, and
// takes it over from a silent holder. capture is the directory's open
// incremental run, if any.
func (c *Coordinator) holdCapture(ctx context.Context, s Session, d *store.Directory, capture *store.Run) error {
	if capture != nil {
		switch {
		case capture.State != store.RunRunning:
			return nil // paused by the safeguard: an admin decides
		case capture.SessionID == s.ID():
			return nil // ours
		case capture.AgentID == "":
			return c.startCapture(ctx, s, d, capture) // created by an admin
		}
		holder, err := c.st.GetAgent(ctx, capture.AgentID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err == nil && holder.SessionID == capture.SessionID && c.now().Sub(holder.LastSeen) < c.staleAfter() {
			return nil // alive: this session stands by
		}
		if _, err := c.eng.EndCapture(ctx, capture.ID,
			"capture moved: the agent holding it stopped answering"); err != nil && !errors.Is(err, ingest.ErrRunEnded) {
			return err
		}
		c.sessionLog(s).Warn("taking over change capture from a silent agent", "directory", d.Name, "run", capture.ID, "from", capture.AgentID)
	}
	cp, err := c.st.Checkpoint(ctx, d.ID)
	if err != nil {
		return err
	}
	if cp == nil {
		// No checkpoint yet: the first (or a reconciling) full import takes
		// one; capture starts once it completes.
		return nil
	}
	if !c.backoff.Ready(leaseKey{s.ID(), d.Name}) {
		return nil
	}
	r := &store.Run{DirectoryID: d.ID, Kind: store.RunIncremental, State: store.RunRunning, Trigger: "capture"}
	if err := c.st.CreateRun(ctx, r); errors.Is(err, store.ErrConflict) {
		return nil // another session (or replica) got there first
	} else if err != nil {
		return err
	}
	return c.startCapture(ctx, s, d, r)
}

// startCapture claims capture run r for s and starts it on the agent from
// the stored checkpoint.
func (c *Coordinator) startCapture(ctx context.Context, s Session, d *store.Directory, r *store.Run) error {
	if err := c.st.ClaimRun(ctx, r.ID, s.AgentID(), s.ID()); errors.Is(err, store.ErrConflict) {
		return nil
	} else if err != nil {
		return err
	}
	cp, err := c.st.Checkpoint(ctx, d.ID)
	if err != nil {
		return err
	}
	c.sessionLog(s).Info("starting change capture on agent", "run", r.ID, "directory", d.Name)
	return s.StartImport(ctx, &idsyncv1.StartImport{RunId: strconv.FormatInt(r.ID, 10),
		Kind: idsyncv1.ImportKind_IMPORT_KIND_INCREMENTAL, Source: ingest.Source(d, cp)})
}

// leaseKey is one session's capture of one directory (by name).
type leaseKey struct{ session, directory string }

// forget drops the capture backoff of a session that ended.
func (c *Coordinator) forget(s Session) {
	for _, d := range s.Directories() {
		c.backoff.Reset(leaseKey{s.ID(), d})
	}
}
