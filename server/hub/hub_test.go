package hub

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/obs/obstest"
	"github.com/idsync/idsync/server/store/sqlite"
)

// TestObservabilityEndpoints: a hub started on loopback answers /healthz,
// is ready, and serves its metrics with the Go and process collectors.
func TestObservabilityEndpoints(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{DataDir: t.TempDir(), GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
			Log: slog.New(slog.DiscardHandler), Ready: func(_, http string) { addr <- http }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("Run ended at start: %v", err)
	}

	if code, body := obstest.Get(t, base+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q, want 200 \"ok\"", code, body)
	}
	// Ready once gRPC serves, which follows Ready at once.
	var code int
	var body string
	eventually.That(t, "/readyz to answer 200", func() (bool, string) {
		code, body = obstest.Get(t, base+"/readyz")
		return code == http.StatusOK, fmt.Sprintf("%d %q", code, body)
	})
	if code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz = %d %q, want 200 \"ready\"", code, body)
	}
	m := obstest.Scrape(t, base)
	if got, ok := m["idsync_hub_agent_streams"]; !ok || got != 0 {
		t.Errorf("idsync_hub_agent_streams = %v (present %v), want 0", got, ok)
	}
	for _, series := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := m[series]; !ok {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}

// TestReadiness: the hub is not ready while gRPC does not serve or the
// store does not answer, and says which.
func TestReadiness(t *testing.T) {
	open, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { open.Close() })
	closed, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		serving bool
		closed  bool
		want    string // "" for ready
	}{
		{"ready", true, false, ""},
		{"gRPC not serving", false, false, "the gRPC server is not serving"},
		{"store closed", true, true, "the store does not answer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var serving atomic.Bool
			serving.Store(tc.serving)
			st := open
			if tc.closed {
				st = closed
			}
			err := readiness(st, &serving)(t.Context())
			got := ""
			if err != nil {
				got = err.Error()
			}
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("readiness = %q, want %q", got, tc.want)
			}
		})
	}
}
