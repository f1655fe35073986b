// Package rules computes groups by rules: a rule names a group of a local
// directory and an expression over a user's profile (server/provision/expr,
// in the environment the mappings use, plus groups), and the group holds
// exactly the users, of the directories the rule covers, for which the
// expression is true. The rule masters that group's members; it never
// writes a directory's own groups, nor a group that holds an admin grant
// (who is an admin is not for directories' and sources' data to decide:
// server/admins refuses a grant on a rule's group alike).
//
// # Writes
//
// A rule writes its group as the hub writes any local group: through the
// engine (ingest.Engine.ApplyWrite), one batch per change set, by the actor
// rule:NAME, with an audit event in the batch's transaction, so that the
// change feed, provisioning (a rule group is assigned and pushed like any
// group) and the audit trail follow unchanged. A full evaluation writes the
// complete member set, compared and set against the group's revision read
// at its start (a write made meanwhile makes it evaluate again). The
// evaluation of the users a step changed writes their joins and leaves as
// deltas, every rule's in one batch per local directory (joins first when
// the groups are in several): a user who moves from one rule's group to
// another's is never in neither, which would deactivate its account in an
// app both groups are assigned to.
//
// # When rules are evaluated
//
//   - On every user change, in the feed's next step: the engine reads the
//     store's change feed from a cursor of its own (one hub replica at a
//     time, under a lease), evaluates every rule for the users a page
//     changed, writes, and only then moves the cursor, so a crash
//     evaluates the page again (evaluation is idempotent). The ingest
//     engine's OnChange wakes it (Config.Wake), so this takes milliseconds;
//     a poll catches anything else.
//   - In full: when a rule is added or updated, on group rule apply, on a
//     schedule (Config.Interval, an hour by default), and when a group
//     change may have moved its users (below).
//
// # groups
//
// The field groups is the list of the groups a user is in, directly or
// through nesting (deprovisioned groups grant nothing and break a chain),
// each by its name and by DIRECTORY/NAME, sorted: "contractors" in groups
// matches a group contractors of any directory, "staff/contractors" in
// groups only staff's. Rules are ordered by their id (the order they were
// added in): a rule sees in groups the groups of the rules before it, never
// its own or a later rule's, nor a group it would reach only through them.
// So rules may build on rules, and no chain of rules can loop.
//
// A group change moves groups for its users. The rules that read groups
// re-evaluate at once the users the changed group holds (when it holds at
// most ImmediateGroupUsers); and, because a user who left a group is no
// longer among its users, the change marks them (in the store, before the
// cursor moves) for a full evaluation, which runs once Config.Settle has
// passed since their last one. A rule's own writes are read back in the
// same step by the rules after it, for the users the step evaluated; a full
// evaluation or a removal that changes a group marks the later rules that
// read groups.
//
// # Safeguard
//
// The safeguard of the group's directory guards large groups. A full
// evaluation that would remove more than SafeguardMax members, or more
// than SafeguardPercent of a group that holds more than SafeguardMax, and
// a removal of a rule whose group holds more than SafeguardMax members
// (it empties the group), change nothing: they pause as a
// run of kind rule of that directory, paused by the safeguard, which an
// admin confirms (group rule confirm) or cancels (group rule cancel, or
// import cancel). While paused the rule is not evaluated. A cancelled
// evaluation leaves the rule held — its group as it is, not evaluated —
// until group rule apply evaluates it again (with the safeguard) or it is
// updated; a cancelled removal leaves the rule as it was. The evaluation of
// a few users does not go through the safeguard.
//
// # Errors
//
// An expression that fails for a user (a function given a list, a result
// that is not a bool) is no change for that user — a member stays one, a
// user who is not one stays out — and is recorded as the rule's last error
// and logged, never taken as false.
//
// It may import `server/store`, `server/provision` (the user's expression
// environment), `server/provision/expr` and `server/ingest` (the object
// hash a write carries); never `server/api`, `agent` or `ldapsync`.
package rules
