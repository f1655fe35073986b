package agent

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/idsync/idsync/internal/obs/obstest"
)

// TestMetricsEndpoint: the agent's metrics listener answers /healthz at
// once, /readyz only while the stream to the hub is up, and /metrics with
// the agent's own metrics and the Go and process collectors.
func TestMetricsEndpoint(t *testing.T) {
	a := New(&Config{path: "agent.yaml"}, "test", slog.New(slog.DiscardHandler))
	addr, err := a.serveMetrics(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr.String()

	if code, body := obstest.Get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %q, want 200", code, body)
	}
	if code, body := obstest.Get(t, base+"/readyz"); code != http.StatusServiceUnavailable || body != "not ready: no stream to the hub\n" {
		t.Errorf("/readyz before connecting = %d %q, want 503 naming the missing stream", code, body)
	}

	a.metrics.setConnected(true)
	a.metrics.reconnects.Inc()
	a.metrics.batches.WithLabelValues("corp", kindFull).Add(3)
	if code, body := obstest.Get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz when connected = %d %q, want 200", code, body)
	}
	m := obstest.Scrape(t, base)
	for series, want := range map[string]float64{
		"idsync_agent_connected":                                        1,
		"idsync_agent_reconnects_total":                                 1,
		`idsync_agent_batches_sent_total{directory="corp",kind="full"}`: 3,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	for _, series := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := m[series]; !ok {
			t.Errorf("/metrics lacks %s", series)
		}
	}

	a.metrics.setConnected(false)
	if code, _ := obstest.Get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz after the stream ended = %d, want 503", code)
	}
	if got := obstest.Scrape(t, base)["idsync_agent_connected"]; got != 0 {
		t.Errorf("idsync_agent_connected after the stream ended = %v, want 0", got)
	}
}
