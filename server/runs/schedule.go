package runs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/store"
)

// FullImportJitter is the largest share of the interval added to each
// scheduled full import, so that directories (and hubs) do not all
// reconcile at once.
const FullImportJitter = 0.1

// Reap ends the running runs whose agent session is gone (a hub that
// crashed, an agent that vanished, a newer stream of the agent) or silent
// for three heartbeats, and those no agent picked up within six, so that
// nothing waits forever and nothing is swept: a full run fails, a capture
// stops for another agent to resume.
func (c *Coordinator) Reap(ctx context.Context) error {
	runs, err := c.st.ListRuns(ctx, store.RunFilter{States: []store.RunState{store.RunRunning}, Limit: 1000})
	if err != nil {
		return fmt.Errorf("listing runs: %w", err)
	}
	now := c.now()
	kinds := map[string]store.DirectoryKind{}
	for _, r := range runs {
		why := ""
		file := r.AgentID == "" && c.fileRun(ctx, r, kinds)
		if file {
			// A file is applied by the hub replica that received it; one
			// that died mid-way leaves its run to end here.
			if now.Sub(r.StartedAt) > FileRunLimit {
				why = fmt.Sprintf("the file was not applied within %v (the hub applying it stopped?); nothing was swept", FileRunLimit)
			}
		} else if r.AgentID == "" {
			if now.Sub(r.StartedAt) > 6*c.hb {
				why = "no agent picked up the run"
			}
		} else if a, err := c.st.GetAgent(ctx, r.AgentID); err == nil &&
			(a.SessionID != r.SessionID || now.Sub(a.LastSeen) > c.staleAfter()) {
			why = "the agent's stream ended before the run finished; nothing was swept"
		}
		if why == "" {
			continue
		}
		if r.Kind == store.RunIncremental && !file {
			if _, err := c.eng.EndCapture(ctx, r.ID, "capture ended: the agent stopped answering"); err == nil {
				c.log.Warn("reaper ended a capture run", "run", r.ID)
			}
			continue
		}
		if _, err := c.eng.Fail(ctx, r.ID, why); err == nil {
			c.log.Warn("reaper failed a run", "run", r.ID, "reason", why)
		}
	}
	return nil
}

// FileRunLimit is how long the import of a file may run before the reaper
// ends it: far longer than the largest file takes.
const FileRunLimit = time.Hour

// fileRun says whether r is the import of a file (a run of a directory no
// agent reads); kinds caches the directories' kinds by name.
func (c *Coordinator) fileRun(ctx context.Context, r *store.Run, kinds map[string]store.DirectoryKind) bool {
	k, ok := kinds[r.Directory]
	if !ok {
		if d, err := c.st.GetDirectory(ctx, r.Directory); err == nil {
			k = d.Kind
		}
		kinds[r.Directory] = k
	}
	return k == store.KindCSV
}

// Schedule starts the scheduled full reconciliation of every directory
// that is due (its interval, jittered, since its last full run; at once
// when it was never imported; after a failed one, a minute later, then 2,
// 4, … up to the interval) and has an agent online. The store refuses a
// second open full run of a directory, so hub replicas scheduling side by
// side start one.
func (c *Coordinator) Schedule(ctx context.Context) error {
	dirs, err := c.st.ListDirectories(ctx)
	if err != nil {
		return err
	}
	agents, err := c.st.ListAgents(ctx)
	if err != nil {
		return err
	}
	now := c.now()
	for _, d := range dirs {
		if !ingest.ReadByAgents(d.Kind) {
			continue // an agent of a csv directory sends files; it reads nothing
		}
		if !slices.ContainsFunc(agents, func(a *store.Agent) bool { return c.online(a, d, now) }) {
			continue
		}
		// Full runs only: captures, writes and admins' actions on users
		// come between them, as many as they like.
		runs, err := c.st.ListRuns(ctx, store.RunFilter{DirectoryID: d.ID, Kinds: []store.RunKind{store.RunFull}, Limit: 21})
		if err != nil {
			return err
		}
		var last *store.Run
		if len(runs) > 0 {
			last = runs[0]
		}
		failed := 0 // the full runs that failed in a row, newest first
		for _, r := range runs {
			if r.State != store.RunFailed {
				break
			}
			failed++
		}
		if !fullImportDue(d, last, failed, now) {
			continue
		}
		r := &store.Run{DirectoryID: d.ID, Kind: store.RunFull, State: store.RunRunning, Trigger: "schedule"}
		if err := c.st.CreateRun(ctx, r); errors.Is(err, store.ErrConflict) {
			continue
		} else if err != nil {
			return err
		}
		c.log.Info("scheduled full import started", "run", r.ID, "directory", d.Name)
		c.audit.Event(ctx, "import.start", fmt.Sprintf("run:%d", r.ID), "directory %s, scheduled full import", d.Name)
		c.wake.Wake(d.Name)
	}
	return nil
}

// FullImportRetry is how long the scheduler waits after a failed full
// import before it tries again; it doubles with each failure in a row, up
// to the directory's interval.
const FullImportRetry = time.Minute

// fullImportDue says whether a scheduled full import of d is due, given its
// newest full run (nil: never imported, due at once) and how many full
// runs failed in a row up to it. A negative interval turns scheduling off.
func fullImportDue(d *store.Directory, last *store.Run, failed int, now time.Time) bool {
	if d.FullImportInterval < 0 {
		return false
	}
	if last == nil {
		return true
	}
	interval := d.FullImportInterval
	if interval == 0 {
		interval = ingest.DefaultFullImportInterval
	}
	if failed > 0 {
		// A failed read (a wrong password, a server down) is tried again
		// soon, not at the next interval: a first import that failed would
		// otherwise leave the directory empty for a day.
		wait := min(FullImportRetry<<min(failed-1, 20), interval)
		ended := last.FinishedAt
		if ended.IsZero() {
			ended = last.StartedAt
		}
		return !now.Before(ended.Add(wait))
	}
	// The jitter is fixed per (directory, last run): the decision does not
	// change from one check to the next.
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d", d.ID, last.ID)
	jitter := time.Duration(float64(interval) * FullImportJitter * float64(h.Sum64()%1000) / 1000)
	return now.After(last.StartedAt.Add(interval + jitter))
}
