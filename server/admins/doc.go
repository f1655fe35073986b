// Package admins is the hub's admin tokens as super-admins manage them:
// issue one (a role, and for a group-admin the groups it acts for, for an
// app-admin the apps it is limited to, each granted by id), revoke one,
// and name what a token grants (DIRECTORY/GROUP, app names) for people
// and the audit trail. The secret of a token is returned once; the store
// keeps its hash.
//
// It may import `server/store`, `server/auth` (roles and grants),
// `server/refusal` and `internal/pki` (the secrets); never `server/api`,
// `agent` or `ldapsync`.
package admins
