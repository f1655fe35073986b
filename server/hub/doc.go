// Package hub composes the hub: it initialises the data directory (CA,
// server certificate, first admin token and admin.conf), opens the store,
// and runs the gRPC and HTTP servers and the background loops under one
// supervisor until its context is cancelled.
//
// Its HTTP listener serves /healthz, /readyz and Prometheus /metrics
// (internal/obs); metrics.go holds the hub's metrics.
//
// It may import every server/... package, internal/pki, internal/obs and
// internal/atomicfile; cmd/idsync-hub is its only importer.
package hub
