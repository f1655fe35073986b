package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the PostgreSQL store.
type Store struct {
	*sqlstore.Store
}

var _ store.Store = (*Store)(nil)

// migrationLock is the advisory lock key that serialises migrations
// between replicas ("idsync" in ASCII).
const migrationLock = 0x696473796e63

// Open connects to the database dsn names (a URL or keyword/value string,
// as pgx parses it) and migrates it to the newest schema.
func Open(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing the PostgreSQL DSN: %w", err)
	}
	// Batches name hundreds of ids in IN lists whose best plan changes as
	// an import fills the tables; a generic plan cached while they were
	// empty would scan them for ever after.
	// The store's queries are short: compiling them costs more than it
	// saves.
	for k, v := range map[string]string{"plan_cache_mode": "force_custom_plan", "jit": "off"} {
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
	db := openDB(cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to the PostgreSQL store: %w", err)
	}
	s, err := sqlstore.New(ctx, db, nil, dialect())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening the PostgreSQL store: %w", err)
	}
	return &Store{s}, nil
}

func dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:              "postgres",
		NumberedParams:    true,
		LockRow:           " FOR UPDATE",
		SkipLocked:        " FOR UPDATE SKIP LOCKED",
		TimeValue:         func(t time.Time) any { return t },
		IsUniqueViolation: isUniqueViolation,
		// foreign_key_violation
		IsForeignKeyViolation: func(err error) bool { return hasCode(err, "23503") },
		IsRetryable:           isRetryable,
		Bytewise:              ` COLLATE "C"`,
		Migrations:            migrations,
		MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)`,
		LockMigrations: lockMigrations,
		Analyze:        "ANALYZE objects, memberships",
		// The protocol carries at most 65535 parameters.
		MaxParams: 65000,
	}
}

// lockMigrations takes the session advisory lock on c until unlock.
func lockMigrations(ctx context.Context, c *sql.Conn) (func(), error) {
	if _, err := c.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(migrationLock)); err != nil {
		return nil, err
	}
	return func() {
		_, _ = c.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrationLock))
	}, nil
}

func isUniqueViolation(err error) bool { return hasCode(err, "23505") }

// isRetryable: deadlock_detected or serialization_failure.
func isRetryable(err error) bool { return hasCode(err, "40P01", "40001") }

func hasCode(err error, codes ...string) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && slices.Contains(codes, e.Code)
}
