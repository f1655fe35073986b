//go:build linux

// Command demo is `make demo`: a local slapd seeded with a generated
// directory, the hub on its embedded SQLite store, an enrolled agent, and a
// full import with its live progress line. It prints what to try next and
// stops everything it started on Ctrl-C.
//
// It may import the stack helpers (`internal/devstack`,
// `internal/testserver`, `internal/gendir`, `internal/scimtest` for the SCIM
// test app) and `internal/adminconf` (the token it prints for the console)
// only: it runs the real binaries.
package main
