package hub

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/provision"
	"github.com/idsync/idsync/server/store"
)

// metrics are the hub's Prometheus metrics. The counters hear the sync and
// provisioning engines; the gauges are read from the store and the open
// sessions when scraped, so every replica over a shared store reports the
// same queue and lag.
type metrics struct {
	applied *prometheus.CounterVec
	pushed  *prometheus.CounterVec
	refused *prometheus.CounterVec
}

var (
	_ ingest.Metrics    = (*metrics)(nil)
	_ provision.Metrics = (*metrics)(nil)
)

// Applied counts objects a batch or a sweep applied.
func (m *metrics) Applied(directory, outcome string, n int64) {
	m.applied.WithLabelValues(directory, outcome).Add(float64(n))
}

// Pushed counts one push attempt's outcome.
func (m *metrics) Pushed(app, outcome string) { m.pushed.WithLabelValues(app, outcome).Inc() }

// metricsStore is what the scrape-time collector reads.
type metricsStore interface {
	ListApps(ctx context.Context) ([]*store.App, error)
	QueueStats(ctx context.Context) ([]store.QueueCount, error)
	ListRuns(ctx context.Context, f store.RunFilter) ([]*store.Run, error)
	ListAgents(ctx context.Context) ([]*store.Agent, error)
}

// newMetrics registers the hub's metrics with reg. streams says how many
// agent streams are open on this hub.
func newMetrics(reg prometheus.Registerer, st metricsStore, streams func() int, log *slog.Logger) *metrics {
	m := &metrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idsync_hub_objects_applied_total",
			Help: "Users and groups applied from agents' batches and sweeps, by directory and outcome (created, updated, unchanged, deprovisioned).",
		}, []string{"directory", "outcome"}),
		pushed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idsync_hub_pushes_total",
			Help: "Push attempts to apps, by app and outcome (succeeded; failed, to be retried; dead, dead-lettered).",
		}, []string{"app", "outcome"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "idsync_hub_refused_total",
			Help: "Connections closed and calls refused at once because a client would hold more than the hub's bounds allow, by what (grpc_connection, http_connection, call).",
		}, []string{"what"}),
	}
	reg.MustRegister(m.applied, m.pushed, m.refused,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "idsync_hub_agent_streams",
			Help: "Agent streams open on this hub.",
		}, func() float64 { return float64(streams()) }),
		&storeCollector{st: st, log: log})
	return m
}

var (
	queueDepthDesc = prometheus.NewDesc("idsync_hub_push_queue_depth",
		"Push jobs queued or running, by app.", []string{"app"}, nil)
	deadJobsDesc = prometheus.NewDesc("idsync_hub_push_dead_jobs",
		"Dead-lettered push jobs waiting for an admin, by app.", []string{"app"}, nil)
	captureLagDesc = prometheus.NewDesc("idsync_hub_capture_lag_seconds",
		"How far change capture runs behind its directory, as the capturing agent's last batch showed, by directory and agent.",
		[]string{"directory", "agent"}, nil)
)

// storeCollector reads the push queue and the capture lag from the store at
// scrape time.
type storeCollector struct {
	st  metricsStore
	log *slog.Logger
}

// scrapeTimeout bounds the store reads of one scrape.
const scrapeTimeout = 5 * time.Second

// Describe sends the descriptors of the store's gauges.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- deadJobsDesc
	ch <- captureLagDesc
}

// Collect reads the gauges from the store; a read that fails leaves its
// gauges out of the scrape and is logged.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	if err := c.queue(ctx, ch); err != nil {
		c.log.Warn("metrics: reading the push queue", "err", err)
	}
	if err := c.lag(ctx, ch); err != nil {
		c.log.Warn("metrics: reading capture lag", "err", err)
	}
}

func (c *storeCollector) queue(ctx context.Context, ch chan<- prometheus.Metric) error {
	apps, err := c.st.ListApps(ctx)
	if err != nil {
		return err
	}
	counts, err := c.st.QueueStats(ctx)
	if err != nil {
		return err
	}
	depth, dead := map[int64]int64{}, map[int64]int64{}
	for _, q := range counts {
		switch q.State {
		case store.JobQueued, store.JobRunning:
			depth[q.AppID] += q.Count
		case store.JobDead:
			dead[q.AppID] += q.Count
		}
	}
	for _, a := range apps {
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(depth[a.ID]), a.Name)
		ch <- prometheus.MustNewConstMetric(deadJobsDesc, prometheus.GaugeValue, float64(dead[a.ID]), a.Name)
	}
	return nil
}

// lag reports, for each directory whose capture runs, the lag its agent
// last recorded.
func (c *storeCollector) lag(ctx context.Context, ch chan<- prometheus.Metric) error {
	runs, err := c.st.ListRuns(ctx, store.RunFilter{States: []store.RunState{store.RunRunning}, Limit: 10000})
	if err != nil {
		return err
	}
	agents, err := c.st.ListAgents(ctx)
	if err != nil {
		return err
	}
	lag := make(map[string]time.Duration, len(agents))
	for _, a := range agents {
		lag[a.ID] = max(a.Lag, 0)
	}
	for _, r := range runs {
		if r.Kind != store.RunIncremental || r.AgentID == "" {
			continue
		}
		ch <- prometheus.MustNewConstMetric(captureLagDesc, prometheus.GaugeValue,
			lag[r.AgentID].Seconds(), r.Directory, r.AgentID)
	}
	return nil
}
