// Package directories is what an admin does to the hub's directories:
// create one (its empty settings filled from its kind's preset), change its
// settings, turn write-back on, change or off (the initial password
// expression checked and sealed for the directory), and issue a SCIM
// source its bearer token. Each is validated as a whole and audited.
//
// It may import `server/store`, `server/ingest` (presets and validation),
// `server/provision` (the write-back rules and the sealing context of the
// initial password), `server/secrets`, `server/refusal` and `internal/pki`
// (the source tokens); never `server/api`, `agent` or `ldapsync`.
package directories
