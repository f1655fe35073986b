//go:build linux

package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the hub's PostgreSQL store, read from outside
	_ "modernc.org/sqlite"             // the hub's SQLite store, read-only
)

// hubDB is a connection to a hub's store from outside the hub, to watch
// what it committed: a read-only one to its hub.db (WAL mode lets it read
// while the hub writes), or one to its PostgreSQL database. Queries are
// written with ? placeholders and times as Unix microseconds (micros).
type hubDB struct {
	db    *sql.DB
	pg    bool
	dirID int64
	row   *sql.Stmt
}

// openHubDB opens the stack's store and finds the bench's directory.
func (s *stack) openHubDB(ctx context.Context) (*hubDB, error) {
	h := &hubDB{pg: s.dsn != ""}
	var err error
	if h.pg {
		h.db, err = sql.Open("pgx", s.dsn)
	} else {
		h.db, err = sql.Open("sqlite", filepath.Join(s.hub.DataDir, "hub.db")+"?_busy_timeout=10000&_query_only=1")
	}
	if err != nil {
		return nil, fmt.Errorf("opening the hub's store: %w", err)
	}
	if err := h.db.QueryRowContext(ctx, h.q(`SELECT id FROM directories WHERE name = ?`), directoryName).Scan(&h.dirID); err != nil {
		h.db.Close()
		return nil, fmt.Errorf("directory %s in the hub's store: %w", directoryName, err)
	}
	if h.row, err = h.db.PrepareContext(ctx, h.q(`SELECT title, `+h.micros("updated_at")+` FROM objects
		WHERE directory_id = ? AND external_id = ?`)); err != nil {
		h.db.Close()
		return nil, err
	}
	return h, nil
}

func (h *hubDB) Close() error { return h.db.Close() }

// q rewrites the ? placeholders of query for PostgreSQL ($1, $2, …).
func (h *hubDB) q(query string) string {
	if !h.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r != '?' {
			b.WriteRune(r)
			continue
		}
		n++
		b.WriteString("$" + strconv.Itoa(n))
	}
	return b.String()
}

// micros is column col, a time, as Unix microseconds (SQLite stores them
// so; PostgreSQL a timestamptz).
func (h *hubDB) micros(col string) string {
	if !h.pg {
		return col
	}
	return "(EXTRACT(EPOCH FROM " + col + ") * 1000000)::bigint"
}

// title returns a user's title and the hub's stamp of its last write.
func (h *hubDB) title(ctx context.Context, ext string) (string, time.Time, error) {
	var title string
	var updated int64
	err := h.row.QueryRowContext(ctx, h.dirID, ext).Scan(&title, &updated)
	return title, time.UnixMicro(updated), err
}

// size is the store's size on disk: hub.db and its WAL, or the
// PostgreSQL database (wal 0).
func (h *hubDB) size(ctx context.Context, dataDir string) (db, wal int64, err error) {
	if h.pg {
		err := h.db.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&db)
		return db, 0, err
	}
	m, err := sqliteSize(dataDir)
	return m.db, m.wal, err
}
