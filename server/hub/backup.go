package hub

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/idsync/idsync/internal/atomicfile"
	"github.com/idsync/idsync/server/store/sqlite"
)

// backupFiles are the files of a data directory a backup copies as they
// are: the CA, the hub's certificate, the key of the stored secrets and
// admin.conf. Without secrets.key the apps' stored credentials cannot be
// read; without ca.key no agent's certificate can be renewed.
var backupFiles = append([]string{"ca.crt", "hub.crt"}, secretFiles...)

// Backup writes a copy of the hub of cfg (its data directory, and its
// SQLite store) into the new directory to (0700, files 0600), while the
// hub runs: the store is copied as one consistent snapshot. Restored as a
// data directory, it is that hub. With PostgreSQL the store is
// PostgreSQL's to back up (pg_dump); the files are copied all the same.
// It returns the files it wrote.
func Backup(ctx context.Context, cfg Config, to string) (wrote []string, err error) {
	if cfg.DataDir == "" {
		return nil, errors.New("--data-dir: required")
	}
	if to == "" {
		return nil, errors.New("--to: required (a directory that does not exist yet)")
	}
	if strings.Contains(sqlitePath(cfg), "://") {
		// A PostgreSQL DSN, which may hold a password: not repeated.
		return nil, errors.New("--store-dsn: a SQLite file, not a URL (a PostgreSQL hub's store is pg_dump's: --store postgres)")
	}
	if err := os.Mkdir(to, 0o700); err != nil {
		return nil, fmt.Errorf("--to %s: %w (a backup goes into a directory of its own, which it makes)", to, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(to) // no half backup is left to be taken for a whole one
			wrote = nil
		}
	}()
	for _, name := range backupFiles {
		data, err := os.ReadFile(filepath.Join(cfg.DataDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return wrote, fmt.Errorf("reading %s: %w", filepath.Join(cfg.DataDir, name), err)
		}
		dst := filepath.Join(to, name)
		if err := atomicfile.WriteFile(dst, data, 0o600); err != nil {
			return wrote, fmt.Errorf("writing %s: %w", dst, err)
		}
		wrote = append(wrote, dst)
	}
	if len(wrote) == 0 {
		return nil, fmt.Errorf("--data-dir %s holds no hub (no CA, no admin.conf)", cfg.DataDir)
	}
	if db := sqlitePath(cfg); db != "" {
		dst := filepath.Join(to, "hub.db")
		if err := sqlite.Backup(ctx, db, dst); err != nil {
			return wrote, err
		}
		wrote = append(wrote, dst)
	}
	return wrote, nil
}
