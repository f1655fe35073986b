// Package store holds the hub's persistent state behind one interface, Store,
// with two backends: SQLite (the embedded default, pure Go, WAL) in
// server/store/sqlite and PostgreSQL (for several hub replicas) in
// server/store/postgres. Both pass the same conformance suite,
// server/store/storetest.
//
// The store knows nothing of LDAP, gRPC or mapping: the sync layer hands it
// mapped objects with content hashes, and it applies them idempotently.
//
// It may import the standard library only (the backends import the SQL
// drivers); never `agent` or `ldapsync`.
package store
