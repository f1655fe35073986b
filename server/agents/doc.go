// Package agents is the hub's fleet of agents as admins manage it: the
// enrolment tokens an agent of a directory enrols with, revocation (the
// agent's stream closes at once on this replica, within a poll on the
// others), and each agent's state — active while it holds the change
// capture of a directory, standby while online otherwise, offline, or
// revoked.
//
// It may import `server/store`, `server/refusal` and `internal/pki` (the
// enrolment tokens); never `server/api`, `agent` or `ldapsync`.
package agents
