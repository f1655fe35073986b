package sqlstore

import (
	"context"
	"database/sql"
	"io/fs"
	"strconv"
	"strings"
	"time"
)

// Dialect is what a backend tells the shared implementation about its SQL.
type Dialect struct {
	// Name names the backend in errors ("sqlite", "postgres").
	Name string
	// NumberedParams turns the ? placeholders the queries are written with
	// into $1, $2, … (PostgreSQL).
	NumberedParams bool
	// LockRow is appended to the SELECT that reads a run or an enrolment
	// token before changing it (" FOR UPDATE"), or "" where a write
	// transaction already excludes every other writer (SQLite).
	LockRow string
	// SkipLocked is appended to the SELECT that picks due jobs to claim ("
	// FOR UPDATE SKIP LOCKED": claimers on several replicas pass over each
	// other's rows instead of waiting), or "" where a write transaction
	// already excludes every other writer (SQLite).
	SkipLocked string
	// TimeValue encodes a non-zero UTC time as a query parameter; the
	// column type must round-trip it through scanTime.
	TimeValue func(time.Time) any
	// IsUniqueViolation reports whether err is a unique or primary key
	// violation.
	IsUniqueViolation func(error) bool
	// IsForeignKeyViolation reports whether err is a foreign key violation
	// (a row naming an app or object that does not exist).
	IsForeignKeyViolation func(error) bool
	// IsRetryable, when set, reports whether a transaction that failed
	// with err may simply run again (a deadlock between two writers).
	IsRetryable func(error) bool
	// Bytewise is appended to a computed text expression that is compared
	// or ordered byte-wise (` COLLATE "C"`), or "" where text already
	// compares so (SQLite).
	Bytewise string
	// ScanUserSearch makes a user search by prefix one scan of the users'
	// covering index in id order that tests the prefix on the index's
	// name key and lower-cased e-mail and names, and sorts the matches
	// (SQLite: objects_user_search, 0032, in id order so that an import
	// appends to it; an index per column, or one in name order, costs the
	// first import of 100,000 users about 0.5 s each). False: a union of
	// range scans, one per column's own index (PostgreSQL), which reads a
	// few entries for one person where the scan reads every user.
	ScanUserSearch bool
	// Migrations holds the schema files migrations/NNNN_name.sql, applied
	// in order of NNNN, each in one transaction.
	Migrations fs.FS
	// MigrationsTable is the CREATE TABLE IF NOT EXISTS statement of
	// schema_migrations(version, name, applied_at) in this dialect.
	MigrationsTable string
	// LockMigrations serialises migrations between processes that open the
	// same database at once; it returns the unlock function. Nil when the
	// write transaction suffices.
	LockMigrations func(ctx context.Context, c *sql.Conn) (unlock func(), err error)
	// Analyze, when set, refreshes the planner's statistics where the
	// tables changed the most: after a sweep, and as a run's created
	// objects pass powers of two (an import into empty tables).
	Analyze string
	// MaxParams bounds the parameters of one statement; multi-row writes
	// are cut into statements below it.
	MaxParams int
	// PrepareStatements keeps the short queries prepared, per pool, once
	// run (SQLite: its driver parses every query anew, which costs the
	// single writer more than running it). Off where the driver caches
	// statements itself (pgx).
	PrepareStatements bool
}

// rebind rewrites the ? placeholders of q for the dialect. The queries of
// this package never hold a ? inside a literal.
func (d *Dialect) rebind(q string) string {
	if !d.NumberedParams || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] != '?' {
			b.WriteByte(q[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// timeArg encodes t for a query: NULL when zero, else UTC at microsecond
// precision (the finest both backends keep).
func (d *Dialect) timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return d.TimeValue(t.UTC().Truncate(time.Microsecond))
}
