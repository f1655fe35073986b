// Package sessions is a hub replica's registry of open agent streams and
// the routing of commands to them: which stream serves a directory and a
// capability (round robin over the directory's agents), calls that wait
// for an agent's answer, and the wake-ups, revocations and replacements
// that reach a stream at once on this replica (other replicas learn the
// same through the store when they poll).
//
// It may import the wire types of `proto/idsync/v1` (the commands and
// results it routes) and the standard library; not the gRPC transport nor
// the packages that use it, and never `server/store`, `agent` or
// `ldapsync`.
package sessions
