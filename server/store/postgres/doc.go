// Package postgres is the hub's store for several replicas: PostgreSQL
// through pgx connections behind a small database/sql adapter (driver.go),
// with the SQL of server/store/sqlstore.
// Transactions run at READ COMMITTED; rows that a decision depends on (a
// run, an enrolment token) are locked FOR UPDATE. Migrations run under an
// advisory lock, so replicas starting at once migrate once.
//
// It may import the standard library, `server/store`,
// `server/store/sqlstore` and `github.com/jackc/pgx/v5/...`; never `agent`
// or `ldapsync`.
package postgres
