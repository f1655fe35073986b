package pki

import (
	"fmt"
	"io"
	"os"
	"runtime"
)

// maxPrivateFile bounds what ReadPrivateFile reads: keys and passwords are
// small, and a wrong path must not make a daemon swallow a huge file.
const maxPrivateFile = 1 << 20

// ReadPrivateFile reads a file that holds a key or a secret. Except on Windows
// (whose ACLs mode bits do not describe) it refuses a file that group or others
// may read, so a secret left world-readable is noticed rather than used. Errors
// name the file but never include its content.
func ReadPrivateFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Stat the open file, not the path, so the check and the read see the
	// same file.
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("%s can be read or written by group or others (mode %#o): run chmod 600 %s", path, perm, path)
	}
	if fi.Size() > maxPrivateFile {
		return nil, fmt.Errorf("%s is too large (%d bytes) to hold a key or secret", path, fi.Size())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPrivateFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return b, nil
}
