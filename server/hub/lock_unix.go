//go:build unix

package hub

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockDataDir holds hub.lock in dir for as long as the hub runs (the
// lock goes with the process, however it ends): a second hub on the same
// data directory would share its SQLite store, its CA and its admin
// token, and is refused, naming the first. The lock file holds the
// holder's pid, for the message.
func lockDataDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, "hub.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := "another idsync-hub"
			if pid := strings.TrimSpace(string(holder)); pid != "" {
				who += " (pid " + pid + ")"
			}
			return nil, fmt.Errorf("data dir %s is in use by %s: two hubs on one data directory would share its store, "+
				"its CA and its admin token; stop the other, or give this one a --data-dir of its own", dir, who)
		}
		return nil, fmt.Errorf("locking data dir %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}
