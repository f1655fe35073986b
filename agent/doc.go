// Package agent is the idsync-agent daemon: enrolment, one outbound gRPC
// stream to the hub with reconnect and jittered backoff, and the ldapsync
// jobs the hub asks for, streamed in bounded batches with at most W of them
// unacknowledged. It decides no policy (what to import, whom to
// deprovision) and keeps no sync state: the hub tells it what to read and
// where to resume. Bind secrets stay here: they are never sent to the hub
// and never logged.
//
// With metrics_listen set it serves /healthz, /readyz and Prometheus
// /metrics (metrics.go).
//
// It may import `ldapsync`, `internal/pki`, `internal/backoff`,
// `internal/atomicfile`, `internal/obs`, `proto/idsync/v1`, gRPC and
// protobuf (`google.golang.org/grpc/...`, `google.golang.org/protobuf/...`),
// the Prometheus client (`github.com/prometheus/client_golang/...`) and the
// YAML decoder of its config file (`go.yaml.in/yaml/v3`); never the hub
// (`server/...`), `installer` or an SQL driver (`database/sql`,
// `modernc.org/sqlite/...`, `github.com/jackc/pgx/...`).
package agent
