// Package provision pushes hub users and groups to downstream applications
// over SCIM 2.0 and keeps them right.
//
// The store holds the truth: apps, assignments, the account each user has
// in each app (what idsync last pushed), and a durable job queue. A job
// names what to make right — a user in an app, a pushed group, an app's
// scope or a full reconcile — never what to send: the worker reads the
// store and the last push when it runs, so a job run twice, late, or after
// a crash does the right thing. Jobs for one target coalesce, so a burst of
// changes to a user costs one push.
//
// The change feed of the store (every real write of a user or group)
// becomes jobs within a poll of the write, at once when the sync engine
// notifies (Engine.Notify): just in time, no schedule. Each app's workers
// claim jobs with a lease, up to the app's concurrency, every request
// through the app's rate limit. An app is a Target — a SCIM application,
// or a directory the hub writes through its agents — whose failures are
// typed outcomes (target.go), sorted alike for both: Unavailable (a 5xx,
// no answer, no agent online) backs off exponentially with jitter and is
// dead-lettered after Options.MaxAttempts; RetryAfter longer than a call
// waits re-queues the job for then; Refused (a 400, a directory's
// constraint) and mapping errors are dead at once; AuthRefused (401/403)
// pauses the app until an admin updates it. A create is recorded before it
// is sent, so a create whose answer was lost is found (by externalId, then
// userName) instead of made twice; a Conflict adopts the one account of
// that userName; NotFound on update looks the account up and creates it
// once more.
//
// Apps (apps.go) is what admins do to apps through the API: create and
// update them (validated, their secrets sealed, the exceptions to the
// outbound rules a super-admin's), delete, test, preview and import; assign
// users and groups; retry dead pushes; resolve manual tasks — each audited
// and told to the engine.
//
// It may import `server/store`, `server/scim` (the SCIM client),
// `server/secrets` (the apps' credentials), `server/outbound` (where
// pushes may go), `server/provision/expr` (the mappings),
// `server/passwords` (a directory's password rules), `server/ingest` (a
// directory target's mapper and source), `internal/backoff` (the queue's
// waits), `server/refusal` (what an admin is refused), the wire types of
// `proto/idsync/v1` (the writes a directory target sends an agent),
// `internal/ldapattr` (what a write may set), go-ldap's DN functions
// (`github.com/go-ldap/ldap/v3`) and `golang.org/x/time/rate` (each app's
// rate limit); never the API (`server/api`), `agent` or `ldapsync`.
package provision
