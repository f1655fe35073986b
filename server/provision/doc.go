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
// through the app's rate limit. Failures are sorted: 5xx and network
// errors back off exponentially with jitter and are dead-lettered after
// Options.MaxAttempts; a Retry-After longer than the client waits re-queues
// the job for then; 400s and mapping errors are dead at once; 401/403 pause
// the app until an admin updates it. A create is recorded before it is
// sent, so a POST whose answer was lost is found (by externalId, then
// userName) instead of created twice; a 409 adopts the one account of that
// userName; a 404 on update looks the account up and creates it once more.
//
// It may import server/store, server/scim, server/secrets,
// server/provision/expr and internal/backoff; nothing of the agent or the
// API.
package provision
