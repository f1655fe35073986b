// Package hub composes the hub: it initialises the data directory (CA,
// server certificate, first admin token and admin.conf), opens the store,
// and runs the gRPC and HTTP servers and the background loops under one
// supervisor until its context is cancelled.
//
// Its HTTP listener serves /healthz, /readyz and Prometheus /metrics
// (internal/obs); metrics.go holds the hub's metrics. listen.go bounds what
// clients may hold before they are authenticated (Bounds): it routes each
// gRPC connection, once its TLS handshake is done, to the server for agent
// certificates or to the one for everyone else, whose messages are bounded
// apart, and it bounds connections and the requests being received.
// datadir.go keeps the data directory's files private.
//
// cmd/idsync-hub is its only importer.
//
// It may import every package of the hub (`server/...`), `internal/pki`,
// `internal/obs`, `internal/adminconf` (it writes admin.conf),
// `internal/atomicfile` (a backup's files), the wire
// types of `proto/idsync/v1`, gRPC (`google.golang.org/grpc/...`), the
// Prometheus client (`github.com/prometheus/client_golang/...`) and
// `golang.org/x/sync/errgroup`; never `agent`, `ldapsync` or `installer`.
package hub
