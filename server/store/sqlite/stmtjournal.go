package sqlite

import (
	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// stmtJournalSpill is how large a statement journal grows in memory
// before SQLite moves it to a temporary file. A statement that writes
// several rows inside a transaction (an import batch's multi-row upsert,
// whose foreign key to its directory may abort it) journals every page
// it changes, so that it can be undone alone. SQLite's default keeps
// 64 KiB in memory: every import statement spilled and wrote its pages
// to a file, a pwrite each (a fifth of a first import's hub CPU). 16 MiB
// holds the largest batch statement; a larger one (a sweep or purge of
// a whole directory) still spills, so the hub never holds a directory's
// pages in memory.
const stmtJournalSpill = 16 << 20

// stmtJournalConfigured is whether SQLite took stmtJournalSpill: it
// accepts the setting only before its first connection opens, which
// this package's init precedes.
var stmtJournalConfigured = configureStmtJournal()

func configureStmtJournal() bool {
	tls := libc.NewTLS()
	defer tls.Close()
	va := libc.NewVaList(int32(stmtJournalSpill))
	if va == 0 {
		return false
	}
	defer libc.Xfree(tls, va)
	return sqlite3.Xsqlite3_config(tls, sqlite3.SQLITE_CONFIG_STMTJRNL_SPILL, va) == sqlite3.SQLITE_OK
}
