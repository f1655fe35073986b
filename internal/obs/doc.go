// Package obs serves what operators watch a process through: /healthz,
// /readyz and Prometheus /metrics, over a registry the caller owns, and the
// HTTP server they are served by, with its timeouts and bounds (NewServer).
//
// It may import the Prometheus client
// (`github.com/prometheus/client_golang/...`) and no idsync package, since
// both the hub and the agent use it; never `database/sql`, which the agent
// must not link (prometheus/collectors would bring it).
package obs
