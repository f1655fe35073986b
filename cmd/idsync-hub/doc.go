// Command idsync-hub runs the hub: `idsync-hub serve --data-dir DIR`.
//
// It may import `server/hub`, `internal/days`, `internal/logging` and
// `internal/version`; never `agent`, `ldapsync` or `installer`.
package main
