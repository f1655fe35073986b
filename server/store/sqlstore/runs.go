package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/idsync/idsync/server/store"
)

const runSelect = `SELECT r.id, r.directory_id, d.name, r.kind, r.state, r.run_trigger, r.agent_id,
	r.session_id, r.seen, r.created, r.updated, r.unchanged, r.deprovisioned, r.errors,
	r.pending_deprovision, r.message, r.last_sequence, r.strategy, r.started_at, r.finished_at
	FROM runs r JOIN directories d ON d.id = r.directory_id`

func scanRun(sc scanner) (*store.Run, error) {
	r := &store.Run{}
	var seq int64
	err := sc.Scan(&r.ID, &r.DirectoryID, &r.Directory, &r.Kind, &r.State, &r.Trigger, &r.AgentID,
		&r.SessionID, &r.Seen, &r.Created, &r.Updated, &r.Unchanged, &r.Deprovisioned, &r.Errors,
		&r.PendingDeprovision, &r.Message, &seq, &r.Strategy, scanTime{&r.StartedAt}, scanTime{&r.FinishedAt})
	r.LastSequence = uint64(seq)
	return r, err
}

func getRun(ctx context.Context, q runner, id int64) (*store.Run, error) {
	r, err := scanRun(q.row(ctx, runSelect+` WHERE r.id = ?`, id))
	if err != nil {
		return nil, noRows(err, "run %d", id)
	}
	return r, nil
}

// CreateRun inserts r in state running and sets r.ID, r.State, r.Directory
// and r.StartedAt. Unknown directory: store.ErrNotFound. A run of the same
// directory and kind that is running or paused is store.ErrConflict: the
// partial unique index runs_open decides, so of two replicas starting one
// at once exactly one wins.
func (s *Store) CreateRun(ctx context.Context, r *store.Run) error {
	return s.inTx(ctx, func(tx runner) error {
		var dir string
		if err := tx.row(ctx, `SELECT name FROM directories WHERE id = ?`, r.DirectoryID).Scan(&dir); err != nil {
			return noRows(err, "creating a run of directory %d", r.DirectoryID)
		}
		started := now()
		err := tx.row(ctx, `INSERT INTO runs (directory_id, kind, state, run_trigger, agent_id, session_id,
			message, strategy, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			r.DirectoryID, string(r.Kind), string(store.RunRunning), r.Trigger, r.AgentID, r.SessionID,
			r.Message, r.Strategy, tx.t(started)).Scan(&r.ID)
		if err != nil && s.d.IsUniqueViolation(err) {
			return conflict("creating a run: directory %d has an open %s run", r.DirectoryID, r.Kind)
		}
		if err != nil {
			return fmt.Errorf("creating a run of directory %d: %w", r.DirectoryID, err)
		}
		r.State, r.Directory, r.StartedAt = store.RunRunning, dir, started
		return nil
	})
}

// GetRun returns a run, or store.ErrNotFound.
func (s *Store) GetRun(ctx context.Context, id int64) (*store.Run, error) {
	return getRun(ctx, s.rd, id)
}

// ListRuns returns the runs f selects, newest first.
func (s *Store) ListRuns(ctx context.Context, f store.RunFilter) ([]*store.Run, error) {
	var w where
	w.add(f.DirectoryID != 0, "r.directory_id = ?", f.DirectoryID)
	w.add(len(f.States) > 0, "r.state IN ("+marks(len(f.States))+")", anys(f.States)...)
	w.add(len(f.Kinds) > 0, "r.kind IN ("+marks(len(f.Kinds))+")", anys(f.Kinds)...)
	w.add(f.SessionID != "", "r.session_id = ?", f.SessionID)
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	rows, err := s.rd.query(ctx, runSelect+w.String()+" ORDER BY r.id DESC LIMIT ?", append(w.args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("listing runs: %w", err)
	}
	return collect(rows, scanRun, "listing runs")
}

// SetRunStrategy records how an incremental run captures changes. Unknown
// run: store.ErrNotFound.
func (s *Store) SetRunStrategy(ctx context.Context, runID int64, strategy string) error {
	n, err := s.wr.execN(ctx, `UPDATE runs SET strategy = ? WHERE id = ?`, strategy, runID)
	if err != nil {
		return fmt.Errorf("setting the strategy of run %d: %w", runID, err)
	}
	if n == 0 {
		return notFound("run %d", runID)
	}
	return nil
}

// ClaimRun sets the agent and session of a running run that has none yet;
// claiming it again with the same session succeeds. Claimed by another
// session or not running: store.ErrConflict; unknown: store.ErrNotFound.
func (s *Store) ClaimRun(ctx context.Context, runID int64, agentID, sessionID string) error {
	n, err := s.wr.execN(ctx, `UPDATE runs SET agent_id = ?, session_id = ?
		WHERE id = ? AND state = ? AND (session_id = '' OR session_id = ?)`,
		agentID, sessionID, runID, string(store.RunRunning), sessionID)
	if err != nil {
		return fmt.Errorf("claiming run %d: %w", runID, err)
	}
	if n == 0 {
		return s.runConflict(ctx, s.wr, runID, "claiming run %d for session %s", runID, sessionID)
	}
	return nil
}

// runConflict tells why a compare-and-set on a run changed nothing: the run
// is unknown (store.ErrNotFound) or was not in the expected state
// (store.ErrConflict).
func (s *Store) runConflict(ctx context.Context, q runner, runID int64, format string, args ...any) error {
	ok, err := q.exists(ctx, `SELECT 1 FROM runs WHERE id = ?`, runID)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
	case !ok:
		return notFound(format, args...)
	}
	return conflict(format, args...)
}

// TransitionRun moves a run from one of the from states to u.State and sets
// Message and PendingDeprovision (and FinishedAt when u.Finished). A run in
// none of the from states is store.ErrConflict; unknown, store.ErrNotFound.
func (s *Store) TransitionRun(ctx context.Context, runID int64, from []store.RunState, u store.RunUpdate) (*store.Run, error) {
	if len(from) == 0 {
		return nil, fmt.Errorf("moving run %d to %s: no from states", runID, u.State)
	}
	var r *store.Run
	err := s.inTx(ctx, func(tx runner) error {
		set := "state = ?, message = ?, pending_deprovision = ?"
		args := []any{string(u.State), u.Message, u.PendingDeprovision}
		if u.Finished {
			set, args = set+", finished_at = ?", append(args, tx.t(now()))
		}
		args = append(append(args, runID), anys(from)...)
		n, err := tx.execN(ctx, `UPDATE runs SET `+set+` WHERE id = ? AND state IN (`+marks(len(from))+`)`, args...)
		if err != nil {
			return fmt.Errorf("moving run %d to %s: %w", runID, u.State, err)
		}
		if n == 0 {
			return s.runConflict(ctx, tx, runID, "moving run %d from %v to %s", runID, from, u.State)
		}
		if r, err = getRun(ctx, tx, runID); err != nil {
			return err
		}
		id := fmt.Sprint(runID)
		switch {
		case u.State == store.RunPausedBySafeguard:
			_, err = addNotice(ctx, tx, &store.Notice{Kind: store.NoticeImportPaused, Subject: r.Directory,
				Ref: "run:" + id, Detail: store.NamedRun(runID, u.Message)})
		case u.State == store.RunFailed && r.Kind == store.RunFull:
			_, err = addNotice(ctx, tx, &store.Notice{Kind: store.NoticeImportFailed, Subject: r.Directory,
				Ref: "run:" + id, Detail: u.Message})
		}
		return err
	})
	if err == nil && s.d.Analyze != "" && r.Kind == store.RunFull && u.State == store.RunCompleted && r.Created+r.Updated > 0 {
		// As after a sweep (Sweep): a full run with nothing to sweep
		// completes here, and a first import's last statistics were taken
		// as its creates passed a power of two, at two thirds of 100,000
		// users. Best effort, after the commit.
		_, _ = s.w.ExecContext(ctx, s.d.Analyze)
	}
	return r, err
}

// RunErrors returns up to limit (at most the 1,000 kept) entry errors of a
// run in the order they were recorded. Unknown run: store.ErrNotFound.
func (s *Store) RunErrors(ctx context.Context, runID int64, limit int) ([]store.EntryError, error) {
	if limit <= 0 || limit > maxRunErrors {
		limit = maxRunErrors
	}
	rows, err := s.rd.query(ctx, `SELECT dn, external_id, kind, message FROM run_errors WHERE run_id = ?
		ORDER BY id LIMIT ?`, runID, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the errors of run %d: %w", runID, err)
	}
	out, err := collect(rows, func(sc scanner) (store.EntryError, error) {
		var e store.EntryError
		err := sc.Scan(&e.DN, &e.ExternalID, &e.Kind, &e.Message)
		return e, err
	}, fmt.Sprintf("reading the errors of run %d", runID))
	if err != nil || len(out) > 0 {
		return out, err
	}
	if _, err := getRun(ctx, s.rd, runID); errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return out, nil
}
