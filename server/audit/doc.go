// Package audit keeps the hub's audit trail: every change of state — admin
// actions, agent enrolment and streams, import runs, user lifecycle,
// pushes, safeguard trips, refused requests — as an append-only event in
// the store, and prunes events past their retention.
//
// It imports server/store and server/auth (for the caller of a context).
package audit
