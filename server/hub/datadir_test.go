package hub

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addrs are the addresses a hub serves on.
type addrs struct{ grpc, http string }

// serve runs the hub with cfg on loopback until stop is called or the test
// ends; it returns once the hub serves, with its addresses.
func serve(t *testing.T, cfg Config) (addrs, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	cfg.GRPCListen, cfg.HTTPListen = "127.0.0.1:0", "127.0.0.1:0"
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	ready := make(chan addrs, 1)
	cfg.Ready = func(grpc, http string) { ready <- addrs{grpc, http} }
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	select {
	case a := <-ready:
		return a, stop
	case err := <-done:
		stopped = true
		t.Fatalf("Run ended at start: %v", err)
	}
	return addrs{}, nil
}

// TestDataDirModes: the hub creates its database 0600; it makes a data dir
// and key, config and database files that others may read private again at
// start; and it refuses to start, naming the file, when one is not a
// regular file.
func TestDataDirModes(t *testing.T) {
	dir := t.TempDir()
	mode := func(name string) fs.FileMode {
		t.Helper()
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	_, stop := serve(t, Config{DataDir: dir})
	// SQLite gives its -wal and -shm files the database's mode.
	for _, name := range []string{"hub.db", "hub.db-wal", "hub.db-shm"} {
		if got := mode(name); got != 0o600 {
			t.Errorf("first start: %s has mode %04o, want 0600", name, got)
		}
	}
	stop()

	opened := map[string]fs.FileMode{".": 0o755, "hub.db": 0o644, "secrets.key": 0o644, "ca.key": 0o640,
		"hub.key": 0o660, "admin.conf": 0o604}
	for name, m := range opened {
		if err := os.Chmod(filepath.Join(dir, name), m); err != nil {
			t.Fatal(err)
		}
	}
	_, stop = serve(t, Config{DataDir: dir})
	stop()
	for name := range opened {
		want := fs.FileMode(0o600)
		if name == "." {
			want = 0o700
		}
		if got := mode(name); got != want {
			t.Errorf("after a start: %s has mode %04o, want %04o", name, got, want)
		}
	}

	t.Run("not a regular file", func(t *testing.T) {
		tests := []struct {
			name string
			make func(path string) error
			want string
		}{
			{"secrets.key", func(p string) error { return os.Mkdir(p, 0o700) }, "a directory, not a regular file"},
			{"admin.conf", func(p string) error { return os.Symlink(filepath.Join(dir, "admin.conf"), p) }, "a symbolic link"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				d := t.TempDir()
				path := filepath.Join(d, tc.name)
				if err := tc.make(path); err != nil {
					t.Fatal(err)
				}
				err := Run(t.Context(), Config{DataDir: d, GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
					Log: slog.New(slog.DiscardHandler)})
				if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Run = %v, want an error naming %s: %s", err, path, tc.want)
				}
			})
		}
	})
}
