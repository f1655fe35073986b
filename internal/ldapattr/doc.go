// Package ldapattr holds what the hub, the agent and the test servers all
// need to know of LDAP attributes: which ones the hub may write into a user
// entry it created (an allowlist per directory kind, checked by the hub
// when an app's mapping is configured and by the agent before every
// write), and how AD takes a password.
//
// It may import the standard library only.
package ldapattr
