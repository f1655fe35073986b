// Package e2e holds the end-to-end tests: the real idsync-hub, idsync-agent
// and idsyncctl binaries, built once per run, against real directory servers
// (slapd, Samba AD) on loopback, driven the way an admin drives them.
package e2e
