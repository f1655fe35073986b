package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/idsync/idsync/server/store"
)

var _ store.Store = (*Store)(nil)

// Store implements store.Store over database/sql.
type Store struct {
	d Dialect
	// w takes every write; r the reads. They are the same pool on
	// PostgreSQL; on SQLite w is one connection, so writers queue in Go
	// instead of polling for the file lock.
	w, r   *sql.DB
	wr, rd runner
	// stmts holds prepared statements when the dialect asks for them.
	stmts *stmtCache
}

// New migrates the database behind w to the newest schema of d and returns
// a store that writes through w and reads through r (w when r is nil). The
// store owns both pools: Close closes them.
func New(ctx context.Context, w, r *sql.DB, d Dialect) (*Store, error) {
	if r == nil {
		r = w
	}
	s := &Store{d: d, w: w, r: r}
	if d.PrepareStatements {
		s.stmts = &stmtCache{m: map[stmtKey]*sql.Stmt{}, want: map[stmtKey]bool{}}
	}
	s.wr, s.rd = runner{x: w, d: &s.d, c: s.stmts, db: w}, runner{x: r, d: &s.d, c: s.stmts, db: r}
	if err := migrate(ctx, w, &s.d); err != nil {
		return nil, fmt.Errorf("migrating the %s store: %w", d.Name, err)
	}
	return s, nil
}

// Close closes the pools.
func (s *Store) Close() error {
	s.stmts.close()
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// Ping runs SELECT 1 on the read pool.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.rd.row(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("pinging the %s store: %w", s.d.Name, err)
	}
	return nil
}

// sqlRunner is what *sql.DB, *sql.Tx and *sql.Conn have in common.
type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// runner runs queries written with ? placeholders in the store's dialect.
type runner struct {
	x sqlRunner
	d *Dialect
	// c, when not nil, keeps statements prepared on db, the pool x is
	// or whose transaction x is.
	c  *stmtCache
	db *sql.DB
}

// prepared returns q prepared for r, or nil when it is not kept prepared.
// A transaction only reuses what its pool prepared: preparing on the pool
// needs a connection of its own, and SQLite's writer pool has one, which
// the transaction holds.
func (r runner) prepared(ctx context.Context, q string) *sql.Stmt {
	tx, inTx := r.x.(*sql.Tx)
	st := r.c.get(ctx, r.db, q, !inTx)
	if inTx && st != nil {
		return tx.StmtContext(ctx, st)
	}
	return st
}

func (r runner) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	q = r.d.rebind(q)
	if st := r.prepared(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return r.x.ExecContext(ctx, q, args...)
}

// execN runs q and returns the number of rows it changed.
func (r runner) execN(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := r.exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (r runner) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q = r.d.rebind(q)
	if st := r.prepared(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return r.x.QueryContext(ctx, q, args...)
}

func (r runner) row(ctx context.Context, q string, args ...any) *sql.Row {
	q = r.d.rebind(q)
	if st := r.prepared(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return r.x.QueryRowContext(ctx, q, args...)
}

// t encodes a time parameter.
func (r runner) t(t time.Time) any { return r.d.timeArg(t) }

// inTx runs fn in one write transaction and commits when it returns nil.
// A transaction the dialect calls retryable runs again, a few times: fn
// must only set its results, not accumulate them.
func (s *Store) inTx(ctx context.Context, fn func(tx runner) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tryTx(ctx, fn)
		if err == nil || attempt == 3 || s.d.IsRetryable == nil || !s.d.IsRetryable(err) || ctx.Err() != nil {
			return err
		}
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(tx runner) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning a transaction: %w", err)
	}
	if err := fn(runner{x: tx, d: &s.d, c: s.stmts, db: s.w}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	s.stmts.prepareWanted(ctx)
	return nil
}

// now is the store's clock: UTC at the precision both backends keep.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// notFound wraps store.ErrNotFound with what was missing.
func notFound(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), store.ErrNotFound)
}

// conflict wraps store.ErrConflict with what conflicted.
func conflict(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), store.ErrConflict)
}

// noRows maps sql.ErrNoRows to store.ErrNotFound, naming what was missing.
func noRows(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(format, args...)
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}

// uniqueConflict maps a unique violation to store.ErrConflict.
func (s *Store) uniqueConflict(err error, format string, args ...any) error {
	if s.d.IsUniqueViolation(err) {
		return conflict(format, args...)
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}

// exists reports whether q (SELECT 1 … ) finds a row.
func (r runner) exists(ctx context.Context, q string, args ...any) (bool, error) {
	var one int
	err := r.row(ctx, q, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// Statements longer than maxPrepared, or beyond the first maxStatements,
// are not kept. Multi-row writes and IN lists are cut into a few shapes
// (chunks), so that the statements a batch runs repeat; the longest, 64
// rows of an object upsert, is some 9,000 characters.
const (
	maxPrepared   = 16384
	maxStatements = 512
)

// stmtKey names a statement prepared on one pool.
type stmtKey struct {
	db *sql.DB
	q  string
}

// stmtCache keeps prepared statements by pool and query. database/sql
// prepares a statement on each connection of its pool as it is used
// there, and in a transaction reuses the one of the transaction's
// connection.
//
// A transaction cannot prepare on its pool (SQLite's writer pool has one
// connection, which the transaction holds): what it runs unprepared is
// noted in want, and prepared once it has ended (prepareWanted), for the
// transactions after it.
type stmtCache struct {
	mu   sync.Mutex
	m    map[stmtKey]*sql.Stmt
	want map[stmtKey]bool
}

// get returns q prepared on db; when it is not yet and prepare is set, it
// prepares it, without holding the lock (that may wait for a connection),
// and when prepare is not set it notes q for prepareWanted. Nil when c is
// nil, q is not kept, or preparing failed (the caller runs q unprepared,
// and meets the error there).
func (c *stmtCache) get(ctx context.Context, db *sql.DB, q string, prepare bool) *sql.Stmt {
	if c == nil || len(q) > maxPrepared {
		return nil
	}
	k := stmtKey{db, q}
	c.mu.Lock()
	st, ok := c.m[k]
	full := len(c.m)+len(c.want) >= maxStatements
	if !ok && !full && !prepare {
		c.want[k] = true
	}
	c.mu.Unlock()
	if ok || full || !prepare {
		return st
	}
	return c.prepare(ctx, k)
}

// prepare prepares k on its pool and keeps it.
func (c *stmtCache) prepare(ctx context.Context, k stmtKey) *sql.Stmt {
	st, err := k.db.PrepareContext(ctx, k.q)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[k]; ok {
		_ = st.Close() // another caller prepared it meanwhile
		return prev
	}
	c.m[k] = st
	return st
}

// prepareWanted prepares the statements transactions ran unprepared; c may
// be nil. Called outside any transaction.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if len(c.want) == 0 {
		c.mu.Unlock()
		return
	}
	keys := make([]stmtKey, 0, len(c.want))
	for k := range c.want {
		keys = append(keys, k)
		delete(c.want, k)
	}
	c.mu.Unlock()
	for _, k := range keys {
		c.prepare(ctx, k)
	}
}

// close closes the statements; c may be nil.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, st := range c.m {
		_ = st.Close()
		delete(c.m, k)
	}
	clear(c.want)
}
