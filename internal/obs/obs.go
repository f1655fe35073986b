package obs

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry holding the Go runtime and process
// collectors. Each process makes its own and injects it: no global state.
//
// The collectors come from package prometheus, not prometheus/collectors:
// that one links database/sql (its DB stats collector), which the agent
// must not link (cmd/idsync-agent/doc.go, checked by internal/rooms).
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	//nolint:staticcheck // see above: the same collectors without database/sql
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return reg
}

// ReadyFunc reports nil when the process can do its work, or an error that
// says why not.
type ReadyFunc func(ctx context.Context) error

// readyTimeout bounds one readiness check: a store that hangs is not ready.
const readyTimeout = 3 * time.Second

// Mux returns a mux serving GET /healthz (the process answers), GET /readyz
// (200 "ready", or 503 with ready's error) and GET /metrics (reg).
func Mux(reg *prometheus.Registry, ready ReadyFunc) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}
