package hub_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/hub"
)

// TestBackup: a backup taken while the hub runs, started as a data
// directory, is that hub: its directories, its admin token, its CA. A
// backup never overwrites: its directory must be new.
func TestBackup(t *testing.T) {
	h := startHub(t)
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	if _, err := admin.CreateDirectory(as(t.Context(), h.boot), &idsyncv1.CreateDirectoryRequest{Directory: &idsyncv1.Directory{
		Name: "after-seed", Kind: idsyncv1.DirectoryKind_DIRECTORY_KIND_LOCAL}}); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "backup")
	wrote, err := hub.Backup(t.Context(), hub.Config{DataDir: h.dir}, to)
	if err != nil {
		t.Fatalf("Backup while the hub runs: %v", err)
	}
	for _, name := range []string{"ca.key", "ca.crt", "hub.key", "hub.crt", "secrets.key", "admin.conf", "hub.db"} {
		fi, err := os.Stat(filepath.Join(to, name))
		if err != nil || fi.Mode().Perm() != 0o600 || !slices.Contains(wrote, filepath.Join(to, name)) {
			t.Errorf("%s in the backup: %v (%v), want written, mode 0600", name, fi, err)
		}
	}
	if _, err := hub.Backup(t.Context(), hub.Config{DataDir: h.dir}, to); err == nil || !strings.Contains(err.Error(), "--to "+to) {
		t.Errorf("a backup into a directory that exists: %v, want refused naming it", err)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	back := startHubWith(t, func(c *hub.Config) { c.DataDir = to })
	if back.boot != h.boot {
		t.Errorf("the restored hub's admin token differs from the backed-up one's")
	}
	dirs, err := idsyncv1.NewAdminServiceClient(back.conn).ListDirectories(as(t.Context(), back.boot), &idsyncv1.ListDirectoriesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range dirs.GetDirectories() {
		names = append(names, d.GetName())
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"after-seed", "corp", "lab"}) {
		t.Errorf("the restored hub's directories: %v, want after-seed, corp, lab", names)
	}
}

// TestBackupRefusals: a PostgreSQL DSN given as the SQLite file is
// refused without being repeated (it may hold a password), and a backup
// that fails leaves no directory behind to be taken for a whole one.
func TestBackupRefusals(t *testing.T) {
	dir := t.TempDir()
	to := filepath.Join(t.TempDir(), "backup")
	_, err := hub.Backup(t.Context(), hub.Config{DataDir: dir, StoreDSN: "postgres://sync:hunter2@db/idsync"}, to)
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "not a URL") {
		t.Errorf("a PostgreSQL DSN as the SQLite file: %v, want refused without the DSN", err)
	}
	// A data dir with admin.conf but no store: the copy of the files is
	// undone.
	if err := os.WriteFile(filepath.Join(dir, "admin.conf"), []byte("version: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := hub.Backup(t.Context(), hub.Config{DataDir: dir}, to); err == nil {
		t.Fatal("a backup of a data dir without its store succeeded")
	}
	if _, err := os.Stat(to); !os.IsNotExist(err) {
		t.Errorf("after a failed backup, %s: %v, want it gone", to, err)
	}
}
