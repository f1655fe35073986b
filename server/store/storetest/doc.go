// Package storetest is the conformance suite every store.Store backend
// passes: Run runs it against fresh stores from an opener, and
// BenchmarkApplyBatch measures a full import. Each backend calls them from a
// ten-line _test.go. Two checks need a backend's own access to its
// database and have their own entry points: MemberWrites (the membership
// rows a change writes, counted by a trigger) and SeedV1 with CheckUpgrade
// (a database of schema version 1 upgraded).
//
// It is a non-test package so that the backends can share it; only tests
// import it.
//
// It may import the standard library and `server/store`; never `agent` or
// `ldapsync`.
package storetest
