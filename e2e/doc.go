// Package e2e holds the end-to-end tests: the real idsync-hub, idsync-agent
// and idsyncctl binaries, built once per run, against real directory servers
// (slapd, Samba AD) on loopback, driven the way an admin drives them.
//
// It may import the standard library only: there is nothing here but tests,
// and tests are not held to it (these use the helpers under internal/).
package e2e
