// Package authn signs users in with their directory password through an
// online agent of the directory (delegated authentication): the limits per
// address and per person, the one answer for every refusal and its floor
// in time, and the just-in-time user made from the entry the agent read.
// The gRPC and HTTP doors (server/api) call it.
//
// It may import `server/store`, `server/auth` (the limiters), the wire
// types of `proto/idsync/v1`, `server/ingest` (the source an agent reads
// with), `internal/loginname` and `golang.org/x/time/rate`; no gRPC
// transport, and never `server/api`, `agent` or `ldapsync`.
package authn
