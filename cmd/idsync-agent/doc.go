// Command idsync-agent runs next to a directory and streams it to the hub:
// `idsync-agent enroll` once, then `idsync-agent run`.
//
// It may import `agent`, `installer` (to run as a service),
// `internal/logging` and `internal/version`; never the hub (`server/...`)
// or an SQL driver (`database/sql`, `modernc.org/sqlite/...`,
// `github.com/jackc/pgx/...`), however far down: the agent stays small and
// keeps no sync state.
package main
