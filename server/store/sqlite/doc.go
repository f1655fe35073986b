// Package sqlite is the hub's embedded store: SQLite through the pure-Go
// modernc.org/sqlite driver (no cgo), in WAL mode, with the SQL of
// server/store/sqlstore. Writes go through one connection that begins its
// transactions IMMEDIATE, so concurrent writers queue instead of failing with
// SQLITE_BUSY; reads use a pool of read-only connections.
//
// It may import the standard library, `server/store`,
// `server/store/sqlstore`, `modernc.org/sqlite/...` and `modernc.org/libc` (to
// configure SQLite before its first connection); never `agent` or
// `ldapsync`.
package sqlite
