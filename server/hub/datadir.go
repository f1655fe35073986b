package hub

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
)

// secretFiles are the data directory's files that hold a key or a token.
var secretFiles = []string{"ca.key", "hub.key", "secrets.key", "admin.conf"}

// privateFiles are the files that hold a key, a token or the store: those
// of the data directory dir, and, with the SQLite store, the database db and
// the files SQLite keeps beside it.
func privateFiles(dir, db string) []string {
	files := []string{}
	for _, name := range secretFiles {
		files = append(files, filepath.Join(dir, name))
	}
	if db != "" {
		files = append(files, db, db+"-wal", db+"-shm", db+"-journal")
	}
	return files
}

// secureDataDir makes dir 0700 and each of files that exists 0600, when they are more open: a data directory restored from
// a backup, or copied, keeps the hub's secrets to its user. A file that is
// not a regular file, or whose mode cannot be changed, stops the hub with
// an error naming it.
func secureDataDir(dir string, files []string, log *slog.Logger) error {
	if runtime.GOOS == "windows" {
		return nil // modes do not protect files there; the installer sets ACLs
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data dir %s: not a directory", dir)
	}
	if err := fixMode(dir, fi.Mode(), 0o700, log); err != nil {
		return err
	}
	for _, f := range files {
		fi, err := os.Lstat(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: a %s, not a regular file: the hub keeps its keys and store in regular files of mode 0600",
				f, kindOf(fi.Mode()))
		}
		if err := fixMode(f, fi.Mode(), 0o600, log); err != nil {
			return err
		}
	}
	return nil
}

// fixMode sets path's permissions to want when they allow more.
func fixMode(path string, mode fs.FileMode, want fs.FileMode, log *slog.Logger) error {
	if mode.Perm()&^want == 0 {
		return nil
	}
	if err := os.Chmod(path, want); err != nil {
		return fmt.Errorf("%s has mode %04o and the hub cannot make it %04o: %w", path, mode.Perm(), want, err)
	}
	log.Warn("made a data file private", "path", path, "was", fmt.Sprintf("%04o", mode.Perm()), "now", fmt.Sprintf("%04o", want))
	return nil
}

func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	}
	return "special file"
}

// createPrivate creates path empty with mode 0600 when it is missing, so
// that SQLite, which gives its -wal and -shm files the database's mode,
// creates no file others may read.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	return f.Close()
}
