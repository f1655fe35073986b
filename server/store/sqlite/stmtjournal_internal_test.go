package sqlite

import "testing"

// TestStatementJournalSpill: SQLite took the statement journal's spill
// size, which it refuses once a connection has opened (a package that
// opens one in its init, or sets up SQLite before this one, would make
// every import statement write its journal to a file again).
func TestStatementJournalSpill(t *testing.T) {
	if !stmtJournalConfigured {
		t.Fatal("SQLite refused SQLITE_CONFIG_STMTJRNL_SPILL: it was initialized before this package")
	}
}
