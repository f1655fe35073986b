// Package adminconf reads and writes admin.conf, the file that tells
// idsyncctl where the hub is, which CA to trust and which admin token to
// send. The hub writes it on its first start; idsyncctl reads it.
//
// It may import `internal/atomicfile` and the YAML decoder
// (`go.yaml.in/yaml/v3`) only, so that the CLI links nothing of the hub;
// never `server/...`.
package adminconf
