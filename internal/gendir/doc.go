// Package gendir generates directory contents for tests, demos and
// benchmarks: users and groups with realistic names (non-ASCII ones
// included), managers and group memberships, for OpenLDAP (inetOrgPerson,
// groupOfNames, groupOfUniqueNames, posixGroup) or Active Directory (user,
// group).
//
// The output is a pure function of the Options: every entry is computed from
// its index and the seed, so a directory of any size streams out (as LDIF or
// entry by entry) without being held in memory, and a test can ask for the
// exact expected attributes of user i or group j without reading anything
// back.
//
// It may import the standard library only.
package gendir
