package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// WriteFile writes data to path atomically with the permission bits perm.
//
// The data go to a temporary file in the same directory (a rename is atomic
// only within one file system), which is given perm before any byte is written
// so a secret is never readable by others, flushed to disk, and renamed over
// path; then the directory is flushed so that the rename itself survives a
// power loss. An error before the rename removes the temporary file and leaves
// path untouched.
//
// Unlike os.WriteFile, perm is applied exactly (the umask does not narrow it)
// and also when path already exists.
func WriteFile(path string, data []byte, perm os.FileMode) (err error) {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("writing %s: it exists and is not a regular file", path)
	}
	dir := filepath.Dir(path)
	// CreateTemp opens with O_EXCL and mode 0600, so the file starts private.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			err = fmt.Errorf("writing %s: %w", path, err)
		}
	}()
	// Windows has only a read-only bit; Chmod there cannot express perm.
	if runtime.GOOS != "windows" {
		if err := f.Chmod(perm); err != nil {
			return err
		}
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir flushes a directory's entries, making a rename in it durable.
// Windows cannot open a directory for syncing (and NTFS journals renames).
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
