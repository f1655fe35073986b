// Package outbound holds the rules of where the hub's outbound
// connections may go — an app's pushes (server/provision) and a
// notification channel's messages (server/notify): no loopback,
// link-local, unspecified or multicast address, no name of localhost, and
// none of the hub's own listeners, unless a super-admin allowed local
// addresses for that app or channel. Each caller checks the host when it
// is configured and every address again when it dials.
//
// It may import the standard library only; never `agent` or `ldapsync`.
package outbound
