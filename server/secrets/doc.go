// Package secrets encrypts the downstream credentials the hub keeps (SCIM
// bearer tokens, passwords, OAuth2 client secrets) before they reach the
// store: AES-256-GCM under a key file in the data directory (0600), which
// never leaves the hub and is not in the store, so a copy of the database
// alone discloses nothing.
//
// It may import the standard library and `internal/atomicfile` only;
// never `agent` or `ldapsync`.
package secrets
