package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/idsync/idsync/server/store"
)

// The change feed. Every object carries the feed position of its last real
// write (objects.feed_pos); feed_counter holds the newest position. A
// transaction that may write objects reads the counter under a row lock
// (SQLite's single writer needs none), writes them at the next position,
// and stores that position only when it wrote something, so positions
// have no gaps. The lock is held until commit: the next writer reads the
// counter only after this one's writes are visible, so positions become
// visible in order, which a sequence would not guarantee.

// feedPos is one transaction's position in the change feed.
type feedPos struct {
	pos   int64 // 0 until taken
	wrote bool  // an object was written at pos
}

// take locks the feed counter (lock: the dialect's LockRow) and sets the
// position this transaction's writes carry; a second call keeps it.
func (f *feedPos) take(ctx context.Context, tx runner, lock string) error {
	if f.pos != 0 {
		return nil
	}
	var p int64
	if err := tx.row(ctx, `SELECT pos FROM feed_counter WHERE id = 1`+lock).Scan(&p); err != nil {
		return fmt.Errorf("taking a feed position: %w", err)
	}
	f.pos = p + 1
	return nil
}

// commit stores the position as the newest when an object was written at
// it.
func (f *feedPos) commit(ctx context.Context, tx runner) error {
	if !f.wrote {
		return nil
	}
	if _, err := tx.exec(ctx, `UPDATE feed_counter SET pos = ? WHERE id = 1`, f.pos); err != nil {
		return fmt.Errorf("storing feed position %d: %w", f.pos, err)
	}
	return nil
}

// defaultChanges is how many objects Changes returns when limit is not
// positive.
const defaultChanges = 1000

// changesQuery reads the feed after a position, up to a limit, from the
// objects_feed index in its order; changesAtQuery reads one position.
const (
	changesQuery   = `SELECT feed_pos, id, kind, directory_id FROM objects WHERE feed_pos > ? ORDER BY feed_pos, id LIMIT ?`
	changesAtQuery = `SELECT feed_pos, id, kind, directory_id FROM objects WHERE feed_pos = ? ORDER BY id`
)

// Changes returns the objects last written after position after, ordered
// by position and id, and the position of the last one (after when there
// are none). It returns whole positions only: it stops before a position
// that limit would cut, and returns all of the first position even when it
// holds more than limit objects (a sweep), so that a reader resuming from
// the returned position misses nothing. An object written again since
// appears once, at its newest position.
func (s *Store) Changes(ctx context.Context, after int64, limit int) ([]store.ObjectChange, int64, error) {
	if limit <= 0 {
		limit = defaultChanges
	}
	rows, err := s.rd.query(ctx, changesQuery, after, limit+1)
	if err != nil {
		return nil, after, fmt.Errorf("reading the change feed after %d: %w", after, err)
	}
	out, err := collect(rows, scanChange, fmt.Sprintf("reading the change feed after %d", after))
	if err != nil {
		return nil, after, err
	}
	if len(out) > limit {
		cut := out[limit].Position
		out = out[:limit]
		for len(out) > 0 && out[len(out)-1].Position == cut {
			out = out[:len(out)-1]
		}
		if len(out) == 0 {
			// The first position alone holds more than limit: all of it.
			// (Its objects written again since have moved on to a later
			// position, where the reader finds them.)
			rows, err := s.rd.query(ctx, changesAtQuery, cut)
			if err != nil {
				return nil, after, fmt.Errorf("reading feed position %d: %w", cut, err)
			}
			if out, err = collect(rows, scanChange, fmt.Sprintf("reading feed position %d", cut)); err != nil {
				return nil, after, err
			}
		}
	}
	if len(out) == 0 {
		return nil, after, nil
	}
	return out, out[len(out)-1].Position, nil
}

func scanChange(sc scanner) (store.ObjectChange, error) {
	var c store.ObjectChange
	err := sc.Scan(&c.Position, &c.ObjectID, &c.Kind, &c.DirectoryID)
	return c, err
}

// FeedPosition returns the newest position written.
func (s *Store) FeedPosition(ctx context.Context) (int64, error) {
	var p int64
	if err := s.rd.row(ctx, `SELECT pos FROM feed_counter WHERE id = 1`).Scan(&p); err != nil {
		return 0, fmt.Errorf("reading the feed position: %w", err)
	}
	return p, nil
}

// ScopeStamp returns the feed position and the app's assignments in one
// query; see store.Store.
func (s *Store) ScopeStamp(ctx context.Context, appID int64) (int64, []store.Assignment, error) {
	rows, err := s.rd.query(ctx, `SELECT f.pos, COALESCE(a.kind, ''), COALESCE(a.target_id, '') FROM feed_counter f
		LEFT JOIN assignments a ON a.app_id = ? WHERE f.id = 1 ORDER BY a.kind, a.target_id`, appID)
	if err != nil {
		return 0, nil, fmt.Errorf("reading the scope stamp of app %d: %w", appID, err)
	}
	var pos int64
	var out []store.Assignment
	for rows.Next() {
		a := store.Assignment{AppID: appID}
		if err := rows.Scan(&pos, &a.Kind, &a.TargetID); err != nil {
			rows.Close()
			return 0, nil, fmt.Errorf("reading the scope stamp of app %d: %w", appID, err)
		}
		if a.Kind != "" {
			out = append(out, a)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, nil, fmt.Errorf("reading the scope stamp of app %d: %w", appID, err)
	}
	return pos, out, nil
}

// Cursor returns the stored position named name, 0 when there is none.
func (s *Store) Cursor(ctx context.Context, name string) (int64, error) {
	var p int64
	err := s.rd.row(ctx, `SELECT pos FROM cursors WHERE name = ?`, name).Scan(&p)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("reading cursor %q: %w", name, err)
	}
	return p, nil
}

// SetCursor stores the position named name.
func (s *Store) SetCursor(ctx context.Context, name string, pos int64) error {
	_, err := s.wr.exec(ctx, `INSERT INTO cursors (name, pos, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET pos = excluded.pos, updated_at = excluded.updated_at`,
		name, pos, s.wr.t(now()))
	if err != nil {
		return fmt.Errorf("storing cursor %q: %w", name, err)
	}
	return nil
}

// TryLease takes the lease named name for holder until now+ttl when it is
// free, expired (at or before now) or holder's already; it reports false
// while another holder's lease is current. One statement decides, so of
// several replicas trying at once exactly one wins.
func (s *Store) TryLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	n, err := s.wr.execN(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`,
		name, holder, s.wr.t(now.Add(ttl)), s.wr.t(now))
	if err != nil {
		return false, fmt.Errorf("taking lease %q for %s: %w", name, holder, err)
	}
	return n > 0, nil
}
