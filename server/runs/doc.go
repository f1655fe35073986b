// Package runs is the life of the import runs agents read for the hub, in
// one state machine, the Coordinator:
//
//   - the capture lease: the change capture of a directory is one running
//     incremental run held by one agent session (Claim creates and claims
//     it from the stored checkpoint; a standby takes it over once the
//     holder is silent for three heartbeats; a capture that fails on the
//     agent backs off before that session starts it again);
//   - full runs: one session claims an unclaimed full run and starts it
//     (asking for a capture checkpoint when the directory has none); a
//     read that completes ends in a sweep, a pause at the safeguard or a
//     failure (ReadComplete), and its checkpoint is stored only then;
//   - the end of a session: its full runs fail (nothing is swept) and its
//     capture stops, for another session to resume (Ended);
//   - the reaper: runs whose agent went silent, or that no agent picked
//     up, end (Reap);
//   - the scheduler: a full import of each directory with an agent online
//     when its jittered interval has passed, at once when it was never
//     imported (Schedule); a capture whose checkpoint the directory refused
//     starts a full reconciliation (Reconcile).
//
// The gRPC session only applies and acknowledges batches: it tells the
// Coordinator what happened and sends the commands the Coordinator asks
// for through the Session it implements. Everything that matters is in the
// store, so any hub replica continues a run; the Coordinator itself keeps
// only its sessions' capture backoff.
//
// It also holds an admin's doors to runs: start an import (Start), confirm
// a run the safeguard paused (Confirm), cancel one (Cancel).
//
// It may import `server/store`, `server/ingest`, `server/agents` (whether
// agents serve a directory), `server/refusal` (what an admin is refused),
// the wire types of `proto/idsync/v1` and `internal/backoff`; no gRPC
// transport (it declares the small interfaces it uses, which the gRPC
// session and the session registry implement), and never `server/api`,
// `server/sessions`, `agent` or `ldapsync`.
package runs
