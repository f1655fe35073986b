package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/idsync/idsync/internal/obs"
)

// metrics are the agent's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg       *prometheus.Registry
	up        atomic.Bool // the stream to the hub is established
	connected prometheus.Gauge
	// reconnects counts streams that ended while the agent ran on.
	reconnects prometheus.Counter
	batches    *prometheus.CounterVec // by directory and kind
	changes    *prometheus.CounterVec // by directory and kind
	acks       prometheus.Counter
	lag        *prometheus.GaugeVec // by directory
	fullTime   *prometheus.GaugeVec // by directory
	fullCount  *prometheus.GaugeVec // by directory
}

// Batch kinds, as the metrics label them.
const (
	kindFull    = "full"
	kindCapture = "incremental"
)

func newMetrics() *metrics {
	m := &metrics{
		reg: obs.NewRegistry(),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "idsync_agent_connected",
			Help: "1 while the agent's stream to the hub is established, else 0.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "idsync_agent_reconnects_total",
			Help: "Streams to the hub that ended and were dialled again.",
		}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idsync_agent_batches_sent_total",
			Help: "Change batches sent to the hub, by directory and kind (full, incremental).",
		}, []string{"directory", "kind"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idsync_agent_changes_sent_total",
			Help: "Changes (users and groups) sent to the hub, by directory and kind (full, incremental).",
		}, []string{"directory", "kind"}),
		acks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "idsync_agent_acks_total",
			Help: "Batch acknowledgements received from the hub (each one after the hub committed a batch).",
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "idsync_agent_capture_lag_seconds",
			Help: "From reading the newest change of the last acknowledged capture batch to the hub's acknowledgement, by directory.",
		}, []string{"directory"}),
		fullTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "idsync_agent_full_import_duration_seconds",
			Help: "How long the last successful full import read took, by directory.",
		}, []string{"directory"}),
		fullCount: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "idsync_agent_full_import_objects",
			Help: "Users and groups the last successful full import read, by directory.",
		}, []string{"directory"}),
	}
	m.reg.MustRegister(m.connected, m.reconnects, m.batches, m.changes, m.acks, m.lag, m.fullTime, m.fullCount)
	return m
}

// setConnected records whether the stream to the hub is established.
func (m *metrics) setConnected(up bool) {
	m.up.Store(up)
	if up {
		m.connected.Set(1)
	} else {
		m.connected.Set(0)
	}
}

// ready is the agent's /readyz: ready while its stream to the hub is
// established.
func (m *metrics) ready(context.Context) error {
	if !m.up.Load() {
		return errors.New("no stream to the hub")
	}
	return nil
}

// serveMetrics serves /healthz, /readyz and /metrics on addr until ctx
// ends. It returns the bound address once bound, or the error binding it.
func (a *Agent) serveMetrics(ctx context.Context, addr string) (net.Addr, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: metrics_listen %s: %w", a.cfg.Path(), addr, err)
	}
	// Every route is a GET: no request has a body.
	hs := obs.NewServer(obs.Mux(a.metrics.reg, a.metrics.ready), obs.Timeouts{}, 0)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	go func() {
		if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("metrics server stopped", "err", err)
		}
	}()
	a.log.Info("serving metrics", "addr", l.Addr().String())
	return l.Addr(), nil
}
