package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
}

// New migrates the database behind w to the newest schema of d and returns
// a store that writes through w and reads through r (w when r is nil). The
// store owns both pools: Close closes them.
func New(ctx context.Context, w, r *sql.DB, d Dialect) (*Store, error) {
	if r == nil {
		r = w
	}
	s := &Store{d: d, w: w, r: r}
	s.wr, s.rd = runner{w, &s.d}, runner{r, &s.d}
	if err := migrate(ctx, w, &s.d); err != nil {
		return nil, fmt.Errorf("migrating the %s store: %w", d.Name, err)
	}
	return s, nil
}

// Close closes the pools.
func (s *Store) Close() error {
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
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
}

func (r runner) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return r.x.ExecContext(ctx, r.d.rebind(q), args...)
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
	return r.x.QueryContext(ctx, r.d.rebind(q), args...)
}

func (r runner) row(ctx context.Context, q string, args ...any) *sql.Row {
	return r.x.QueryRowContext(ctx, r.d.rebind(q), args...)
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
	if err := fn(runner{tx, &s.d}); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
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
