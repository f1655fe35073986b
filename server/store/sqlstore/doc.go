// Package sqlstore is the one SQL implementation of store.Store that the
// SQLite and PostgreSQL backends share through database/sql. The few places
// where the two dialects differ (placeholders, row locks, time encoding,
// error codes, the migration lock and the schema files themselves) are
// fields of Dialect, which each backend fills in.
//
// Times are kept in UTC at microsecond precision. Text that is ordered or
// compared (ids, names, member values) must sort byte-wise in both
// backends: the PostgreSQL schema declares it COLLATE "C".
//
// It may import the standard library, `server/store` and
// `github.com/google/uuid`, and registers no SQL driver (the backends do);
// never `agent` or `ldapsync`.
package sqlstore
