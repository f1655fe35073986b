package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/idsync/idsync/server/store"
)

// sweepable selects, on objects o, what a sweep after a run deprovisions:
// objects of the run's directory that are not deprovisioned, not seen by
// the run, and not seen by any batch since it started — which an object
// created since then was (its batch marks it by creating it). Arguments:
// directory id, run start, run id, run start; see sweepArgs.
const sweepable = `o.directory_id = ? AND o.source_status <> 'deprovisioned' AND o.created_at < ?
	AND NOT EXISTS (SELECT 1 FROM object_seen s WHERE s.object_id = o.id AND (s.run_id = ? OR s.at >= ?))`

// sweepArgs are sweepable's arguments for run runID of r.
func sweepArgs(q runner, r sweepRun, runID int64) []any {
	return []any{r.dirID, q.t(r.started), runID, q.t(r.started)}
}

// sweepRun is what a sweep needs of its run.
type sweepRun struct {
	dirID   int64
	state   store.RunState
	started time.Time
}

func readSweepRun(ctx context.Context, q runner, runID int64, lock string) (sweepRun, error) {
	var r sweepRun
	err := q.row(ctx, `SELECT directory_id, state, started_at FROM runs WHERE id = ?`+lock, runID).
		Scan(&r.dirID, &r.state, scanTime{&r.started})
	if err != nil {
		return r, noRows(err, "run %d", runID)
	}
	return r, nil
}

// SweepCandidates counts the users and groups a sweep after the run would
// deprovision, and the directory's users and groups that are not
// deprovisioned and were there before the run started.
func (s *Store) SweepCandidates(ctx context.Context, runID int64) (store.SweepCount, error) {
	var c store.SweepCount
	r, err := readSweepRun(ctx, s.rd, runID, "")
	if err != nil {
		return c, err
	}
	err = s.rd.row(ctx, `SELECT
		COALESCE(SUM(CASE WHEN o.kind = 'user' AND `+sweepable+` THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN o.kind = 'group' AND `+sweepable+` THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN o.kind = 'user' AND o.created_at < ? THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN o.kind = 'group' AND o.created_at < ? THEN 1 ELSE 0 END), 0)
		FROM objects o WHERE o.directory_id = ? AND o.source_status <> 'deprovisioned'`,
		slices.Concat(sweepArgs(s.rd, r, runID), sweepArgs(s.rd, r, runID),
			[]any{s.rd.t(r.started), s.rd.t(r.started), r.dirID})...,
	).Scan(&c.Users, &c.Groups, &c.ActiveUsers, &c.ActiveGroups)
	if err != nil {
		return c, fmt.Errorf("counting the sweep after run %d: %w", runID, err)
	}
	return c, nil
}

// Sweep deprovisions what SweepCandidates counts and moves the run from one
// of the from states to completed, adding the count to its Deprovisioned
// counter and clearing PendingDeprovision, in one transaction. A run in
// none of the from states is store.ErrConflict.
func (s *Store) Sweep(ctx context.Context, runID int64, from []store.RunState, message string) (*store.Run, error) {
	var out *store.Run
	err := s.inTx(ctx, func(tx runner) error {
		r, err := readSweepRun(ctx, tx, runID, s.d.LockRow)
		if err != nil {
			return err
		}
		if !slices.Contains(from, r.state) {
			return conflict("sweeping after run %d: it is %s, not %v", runID, r.state, from)
		}
		t := now()
		n, err := sweepObjects(ctx, tx, s.d.LockRow, r, runID, t)
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, `UPDATE runs SET state = ?, message = ?, finished_at = ?, pending_deprovision = 0,
			deprovisioned = deprovisioned + ? WHERE id = ?`,
			string(store.RunCompleted), message, tx.t(t), n, runID)
		if err != nil {
			return fmt.Errorf("completing run %d: %w", runID, err)
		}
		out, err = getRun(ctx, tx, runID)
		return err
	})
	if err == nil && s.d.Analyze != "" {
		// Best effort: the sweep is done, and autovacuum would catch up.
		_, _ = s.w.ExecContext(ctx, s.d.Analyze)
	}
	return out, err
}

// SweepPresent deprovisions what SweepCandidates counts for a running run
// and adds the count to its Deprovisioned counter, without ending it: the
// end of a syncrepl present phase. A run that is not running is
// store.ErrConflict; unknown, store.ErrNotFound.
func (s *Store) SweepPresent(ctx context.Context, runID int64) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx runner) error {
		r, err := readSweepRun(ctx, tx, runID, s.d.LockRow)
		if err != nil {
			return err
		}
		if r.state != store.RunRunning {
			return conflict("sweeping the present phase of run %d: it is %s", runID, r.state)
		}
		if n, err = sweepObjects(ctx, tx, s.d.LockRow, r, runID, now()); err != nil {
			return err
		}
		_, err = tx.exec(ctx, `UPDATE runs SET deprovisioned = deprovisioned + ? WHERE id = ?`, n, runID)
		if err != nil {
			return fmt.Errorf("counting the present phase of run %d: %w", runID, err)
		}
		return nil
	})
	return n, err
}

// sweepObjects deprovisions the objects sweepable after run r at t, at
// the next feed position (lock: the dialect's LockRow), and returns how
// many. Every batch that marks an object seen takes the feed position
// first too, so on PostgreSQL no batch marks objects while the sweep
// reads the marks.
func sweepObjects(ctx context.Context, tx runner, lock string, r sweepRun, runID int64, t time.Time) (int64, error) {
	var feed feedPos
	if err := feed.take(ctx, tx, lock); err != nil {
		return 0, err
	}
	// A held object is deprovisioned already; its source's status follows.
	rows, err := tx.query(ctx, `UPDATE objects AS o SET status = 'deprovisioned', source_status = 'deprovisioned', updated_at = ?,
		revision = o.revision + 1, deprovisioned_at = COALESCE(o.deprovisioned_at, ?), feed_pos = ? WHERE `+sweepable+` RETURNING kind, COALESCE(username, ''), dn`,
		append([]any{tx.t(t), tx.t(t), feed.pos}, sweepArgs(tx, r, runID)...)...)
	if err != nil {
		return 0, fmt.Errorf("sweeping after run %d: %w", runID, err)
	}
	evs, n, err := deprovisionedUsers(rows)
	if err != nil {
		return 0, fmt.Errorf("sweeping after run %d: %w", runID, err)
	}
	if err := auditLifecycle(ctx, tx, runID, "", t, evs); err != nil {
		return 0, err
	}
	feed.wrote = n > 0
	return n, feed.commit(ctx, tx)
}

// Checkpoint returns the stored capture checkpoint of a directory; nil when
// there is none.
func (s *Store) Checkpoint(ctx context.Context, directoryID int64) ([]byte, error) {
	var b []byte
	err := s.rd.row(ctx, `SELECT data FROM checkpoints WHERE directory_id = ?`, directoryID).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the checkpoint of directory %d: %w", directoryID, err)
	}
	return b, nil
}

// SetCheckpoint stores a directory's capture checkpoint; nil or empty
// clears it. Unknown directory: store.ErrNotFound.
func (s *Store) SetCheckpoint(ctx context.Context, directoryID int64, data []byte) error {
	return s.inTx(ctx, func(tx runner) error {
		ok, err := tx.exists(ctx, `SELECT 1 FROM directories WHERE id = ?`, directoryID)
		switch {
		case err != nil:
			return fmt.Errorf("reading directory %d: %w", directoryID, err)
		case !ok:
			return notFound("directory %d", directoryID)
		case len(data) == 0:
			_, err = tx.exec(ctx, `DELETE FROM checkpoints WHERE directory_id = ?`, directoryID)
			if err != nil {
				return fmt.Errorf("clearing the checkpoint of directory %d: %w", directoryID, err)
			}
			return nil
		}
		return putCheckpoint(ctx, tx, directoryID, data, now())
	})
}

// putCheckpoint stores a directory's checkpoint as of t.
func putCheckpoint(ctx context.Context, tx runner, directoryID int64, data []byte, t time.Time) error {
	_, err := tx.exec(ctx, `INSERT INTO checkpoints (directory_id, data, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (directory_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
		directoryID, data, tx.t(t))
	if err != nil {
		return fmt.Errorf("storing the checkpoint of directory %d: %w", directoryID, err)
	}
	return nil
}
