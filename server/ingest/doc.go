// Package ingest turns what agents read into the hub's universal directory:
// directory presets and validation, the attribute mapping into the profile
// (with a content hash so an unchanged object is not rewritten), import runs
// and their end — the sweep of a complete full run, held back by the
// safeguard against mass deprovisioning.
//
// It may import `server/store`, the wire types of `proto/idsync/v1`, go-ldap's
// DN and filter parsers (`github.com/go-ldap/ldap/v3`) and
// `internal/backoff`; no gRPC transport, and never `agent` or `ldapsync`.
package ingest
