// Package reports computes the hub's reports, each a table of strings:
// users per status per directory, app usage, pending deprovisions, failed
// pushes, recent imports, agents' health and upcoming purges. Each report
// needs the permission that guards what it shows, and an admin limited to
// apps sees the rows of its apps only: the caller says which.
//
// It may import `server/store`, `server/auth` (the permissions and the
// caller's scope), `server/agents` (the agents' states),
// `server/people` (the default retention) and `server/refusal`; never
// `server/api`, `agent` or `ldapsync`.
package reports
