package sqlstore

import (
	"context"

	"github.com/idsync/idsync/server/store"
)

// Exported for the query plan tests of package sqlstore_test, which open
// real backends (this package may not import them).
var (
	NestUpQuery       = nestUpQuery
	DirectQuery       = directQuery
	NestDownQuery     = nestDownQuery
	GroupUsersQuery   = groupUsersQuery
	GroupMembersQuery = groupMembersQuery
	// UsersByIDQuery and GroupsByIDQuery read objects by n ids.
	UsersByIDQuery  = func(n int) string { return userSelect + ` AND o.id IN (` + marks(n) + `)` }
	GroupsByIDQuery = func(n int) string { return groupSelect + ` AND g.id IN (` + marks(n) + `)` }

	// The feed and the queue, as SQLite runs them.
	ChangesQuery    = changesQuery
	ChangesAtQuery  = changesAtQuery
	PickQueuedQuery = pickQuery(dueQueued, "")
	PickExpired     = pickQuery(dueExpired, "")
	PruneQuery      = pruneQuery("")

	// The console's counts of a directory.
	DirectoryStatsQuery = directoryStatsQuery
)

// SearchUsersQuery returns the query SearchUsers runs for f, and its
// arguments.
func SearchUsersQuery(ctx context.Context, s *Store, f store.UserSearch) (string, []any, error) {
	return s.searchUsersQuery(ctx, f)
}

// Rebind rewrites the placeholders of q for d.
func Rebind(d Dialect, q string) string { return d.rebind(q) }
