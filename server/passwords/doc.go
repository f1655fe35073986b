// Package passwords holds a directory's password rules: the policy a
// super-admin sets (`directory update D --password-policy
// min-length=14,classes=3,not-username,not-reused`), the check every
// password the hub sets must pass before it is sent (a violation names its
// rule), a generator of passwords that pass it (`random()` in the mapping
// language), and the salted digests that tell a password the hub set
// before for the same user (not-reused).
//
// It may import the standard library only; never `agent` or `ldapsync`.
package passwords
