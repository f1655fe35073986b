// Package adminconf reads and writes admin.conf, the file that tells
// idsyncctl where the hub is, which CA to trust and which admin token to
// send. The hub writes it on its first start; idsyncctl reads it.
//
// It imports only the YAML decoder and internal/atomicfile, so the CLI links
// nothing of the hub.
package adminconf
