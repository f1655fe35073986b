// Package audit keeps the hub's audit trail: every change of state — admin
// actions, agent enrolment and streams, import runs, user lifecycle,
// pushes, safeguard trips, refused requests — as an append-only event in
// the store, and prunes events past their retention. Refusals are
// summarised per caller (per client address when it has not
// authenticated), so that they cannot flood the trail.
//
// It may import `server/store` and `server/auth` (for the caller of a
// context); never `agent` or `ldapsync`.
package audit
