package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite store.
type Store struct {
	*sqlstore.Store
}

var _ store.Store = (*Store)(nil)

// params are the DSN parameters every connection opens with: a busy
// timeout for other processes holding the file, foreign keys, WAL, and
// NORMAL sync (durable across a process crash; WAL keeps it consistent
// across power loss).
const params = "_busy_timeout=10000&_foreign_keys=1&_journal_mode=WAL&_synchronous=NORMAL"

// writerParams are the writer's besides: a page cache of 32 MiB (the
// default 2 MiB makes a large import read again the index pages it just
// wrote; bounded, whatever the directory's size. With usernames and
// e-mails that scatter, as a directory's do, 32 MiB took a fifth off the
// store's CPU of a 100,000-user import and re-import against 16 MiB, in
// system time — reads of evicted index pages, dirty pages spilled to the
// WAL mid-transaction — and 64 MiB nothing more); and a WAL
// checkpointed every 64 MiB instead of 4 MiB, and cut back to 64 MiB
// after: each checkpoint copies the pages written since the last into the
// database, and an import's batches write the same index pages again and
// again. Statement journals stay in memory up to 16 MiB and spill to a
// temporary file beyond (stmtjournal.go; temp_store stays FILE: entirely
// in memory, a sweep's one UPDATE would hold every page it changes).
const writerParams = "&_pragma=cache_size(-32768)&_pragma=wal_autocheckpoint(16384)&_pragma=journal_size_limit(67108864)"

// Backup writes a consistent copy of the SQLite store at path into the
// new file to (0600), while a hub may be writing it: VACUUM INTO reads one
// snapshot, the WAL's committed transactions included, so a copy of the
// database file alone (which may hold none of them) is not needed.
func Backup(ctx context.Context, path, to string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("SQLite store: %w", err)
	}
	if strings.ContainsAny(path, "?#") {
		return fmt.Errorf("SQLite store %q: the path must hold no ? or #", path)
	}
	db, err := sql.Open("sqlite", path+"?"+params)
	if err != nil {
		return fmt.Errorf("opening SQLite store %s: %w", path, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", to); err != nil {
		return fmt.Errorf("copying SQLite store %s into %s: %w", path, to, err)
	}
	if err := os.Chmod(to, 0o600); err != nil {
		return fmt.Errorf("%s: %w", to, err)
	}
	return nil
}

// Open opens (creating it if need be) the SQLite database at path and
// migrates it to the newest schema.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("opening SQLite store %q: the path must be non-empty and hold no ? or #", path)
	}
	w, err := sql.Open("sqlite", path+"?"+params+writerParams+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("opening SQLite store %s: %w", path, err)
	}
	// One writer: writers queue for the connection in Go rather than spin
	// on the file lock.
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", path+"?"+params+"&_query_only=1")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening SQLite store %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s, err := sqlstore.New(ctx, w, r, dialect())
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("opening SQLite store %s: %w", path, err)
	}
	return &Store{s}, nil
}

func dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:              "sqlite",
		TimeValue:         func(t time.Time) any { return t.UnixMicro() },
		IsUniqueViolation: isUniqueViolation,
		IsForeignKeyViolation: func(err error) bool {
			var e *sqlite.Error
			return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
		},
		Migrations: migrations,
		MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
		// SQLite's default limit is 32766.
		MaxParams:         32000,
		PrepareStatements: true,
		ScanUserSearch:    true,
	}
}

func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}
