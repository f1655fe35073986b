//go:build unix

package hub_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/hub"
)

// TestDataDirInUse: a second hub on a data directory a hub runs on is
// refused, naming the first; once the first stops, the directory is free.
func TestDataDirInUse(t *testing.T) {
	h := startHub(t)
	cfg := hub.Config{DataDir: h.dir, GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	err := hub.Run(t.Context(), cfg)
	want := fmt.Sprintf("data dir %s is in use by another idsync-hub (pid %d)", h.dir, os.Getpid())
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("a second hub on the data dir: %v, want %q", err, want)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan struct{})
	cfg.Ready = func(string, string) { close(ready) }
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx, cfg) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("a hub on the data dir once the first stopped: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("stopping the second hub: %v", err)
	}
}
