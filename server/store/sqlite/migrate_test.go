package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// TestReopen: opening a migrated database again applies nothing and keeps
// the data; a database from a newer binary is refused.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "hub.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.CreateDirectory(ctx, &store.Directory{Name: "corp", Kind: store.KindAD}); err != nil {
		t.Fatalf("CreateDirectory: %v", err)
	}
	s.Close()

	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open again: %v", err)
	}
	if _, err := s.GetDirectory(ctx, "corp"); err != nil {
		t.Errorf("GetDirectory after reopening: %v", err)
	}
	s.Close()

	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatalf("opening the file: %v", err)
	}
	defer raw.Close()
	var versions int
	if err := raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&versions); err != nil {
		t.Fatalf("reading schema_migrations: %v", err)
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("listing migrations: %v, %d files", err, len(files))
	}
	if versions != len(files) {
		t.Errorf("schema_migrations holds %d rows, want %d (one per migration)", versions, len(files))
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatalf("faking a newer schema: %v", err)
	}
	if s, err := sqlite.Open(ctx, path); err == nil || !strings.Contains(err.Error(), "newer") {
		if s != nil {
			s.Close()
		}
		t.Errorf("Open(newer schema) = %v, want an error saying the schema is newer", err)
	}
}

func TestOpenBadPath(t *testing.T) {
	tests := []struct{ name, path string }{
		{"empty", ""},
		{"query", filepath.Join(t.TempDir(), "hub.db?mode=ro")},
		{"missing directory", filepath.Join(t.TempDir(), "no", "such", "hub.db")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlite.Open(t.Context(), tc.path)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tc.path)
			}
		})
	}
}
