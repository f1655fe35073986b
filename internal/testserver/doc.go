// Package testserver starts the real servers that idsync's tests run
// against, on loopback, from Debian's packages: OpenLDAP slapd with syncprov,
// a Samba Active Directory domain controller, and PostgreSQL.
//
// Each helper first honours an environment variable naming an outside server
// (IDSYNC_TEST_LDAP_URL, IDSYNC_TEST_AD_URL, IDSYNC_TEST_POSTGRES_DSN, …).
// When a server can be neither found nor started, the test is skipped — or,
// with IDSYNC_REQUIRE_INTEGRATION=1 (as in CI), failed. Under -short (the
// unit tests alone, no server started) every test that needs one is
// skipped, saying which server and how to get it (Integration); -short with
// IDSYNC_REQUIRE_INTEGRATION=1 fails those tests instead.
//
// Servers are children of the test process with a parent-death signal, so a
// crashed test binary leaves none behind. Process-wide servers (PostgreSQL,
// Samba) are started once per test binary and stopped by Main.
//
// Test-only: nothing outside _test.go files and test helpers imports it.
//
// It may import `internal/gendir` (the entries it seeds), `internal/ldapattr`
// (how AD takes a password), go-ldap (`github.com/go-ldap/ldap/v3`), the
// PostgreSQL driver (`github.com/jackc/pgx/v5/...`) and
// `golang.org/x/sync/errgroup`.
package testserver
