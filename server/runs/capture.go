package runs

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/idsync/idsync/internal/backoff"
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
	if !c.captureMayStart(s.ID(), d.ID) {
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

// leaseKey is one session's capture of one directory.
type leaseKey struct {
	session   string
	directory int64
}

// captureWait is the backoff of one session's capture of a directory.
type captureWait struct {
	b     *backoff.Backoff
	until time.Time
}

// captureFailed backs off session's next capture of a directory.
func (c *Coordinator) captureFailed(session string, directoryID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := leaseKey{session, directoryID}
	w := c.backoffs[k]
	if w == nil {
		w = &captureWait{b: backoff.New(captureRetryMin, captureRetryMax)}
		c.backoffs[k] = w
	}
	w.until = c.now().Add(w.b.Next())
}

// captureOK resets the backoff after a batch of a capture was applied.
func (c *Coordinator) captureOK(session string, directoryID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.backoffs, leaseKey{session, directoryID})
}

func (c *Coordinator) captureMayStart(session string, directoryID int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.backoffs[leaseKey{session, directoryID}]
	return w == nil || !c.now().Before(w.until)
}

// forget drops the backoffs of a session that ended.
func (c *Coordinator) forget(session string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.backoffs {
		if k.session == session {
			delete(c.backoffs, k)
		}
	}
}
