// Package people is what an admin does to a person in the hub: deactivate
// and reactivate (a hold on top of what the user's directory says),
// suspend and unsuspend, restore within the retention. Each action is a
// run of kind admin with its audit event and its change in the feed, so
// the apps follow at once, exactly as for a directory's change.
//
// It also writes the users and groups of local directories, which the hub
// masters: create, update and delete a user; create a group, add and
// remove its members (of any directory). Each write is a run of kind
// write through the engine, by the admin.
//
// It may import `server/store`, `server/ingest` (the engine's writes and
// its object hash), `internal/backoff` (waiting for a directory's open
// admin run), `server/refusal` (a caller who may not),
// `github.com/google/uuid` (the external ids of local objects),
// `server/provision` (to disable an entry in a writable directory through
// its agents) and the wire types of `proto/idsync/v1`; never `server/api`,
// `agent` or `ldapsync`.
package people
