// Package agents is the hub's fleet of agents: the enrolment tokens an
// admin creates for a directory, the enrolment that trades one for an
// agent's client certificate, revocation (the agent's stream closes at
// once on this replica, within a poll on the others), and each agent's
// state — active while it holds the change capture of a directory,
// standby while online otherwise, offline, or revoked.
//
// It may import `server/store`, `server/refusal`, `internal/pki` (the
// enrolment tokens and the CA) and `github.com/google/uuid` (the agents'
// ids); never `server/api`, `agent` or `ldapsync`.
package agents
