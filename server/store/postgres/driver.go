package postgres

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// This file adapts pgx connections to database/sql, the part of
// github.com/jackc/pgx/v5/stdlib the store needs. stdlib itself imports
// pgxpool and with it github.com/jackc/puddle/v2, a module go.mod does not
// carry; with it added, openDB could become stdlib.OpenDB.

// openDB returns a database/sql pool of pgx connections made from cfg.
func openDB(cfg *pgx.ConnConfig) *sql.DB { return sql.OpenDB(connector{cfg}) }

// connector makes pgx connections for database/sql.
type connector struct{ cfg *pgx.ConnConfig }

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	pc, err := pgx.ConnectConfig(ctx, c.cfg.Copy())
	if err != nil {
		return nil, err
	}
	return &conn{pc}, nil
}

func (c connector) Driver() driver.Driver { return pgxDriver{} }

// pgxDriver opens connections by DSN, for database/sql's Driver method.
type pgxDriver struct{}

func (pgxDriver) Open(dsn string) (driver.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	return connector{cfg}.Connect(context.Background())
}

// conn is one pgx connection; every call takes a context.
type conn struct{ c *pgx.Conn }

var (
	_ driver.ConnBeginTx       = (*conn)(nil)
	_ driver.ExecerContext     = (*conn)(nil)
	_ driver.QueryerContext    = (*conn)(nil)
	_ driver.Pinger            = (*conn)(nil)
	_ driver.SessionResetter   = (*conn)(nil)
	_ driver.Validator         = (*conn)(nil)
	_ driver.NamedValueChecker = (*conn)(nil)
	_ driver.Rows              = (*rows)(nil)
)

func (c *conn) Prepare(string) (driver.Stmt, error) {
	return nil, errors.New("postgres: explicit prepared statements are not supported (pgx caches statements itself)")
}

// Close says goodbye to the server, waiting at most five seconds for a
// dead network.
func (c *conn) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.c.Close(ctx)
}

func (c *conn) Begin() (driver.Tx, error) { return c.BeginTx(context.Background(), driver.TxOptions{}) }

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var o pgx.TxOptions
	switch sql.IsolationLevel(opts.Isolation) {
	case sql.LevelDefault:
	case sql.LevelReadCommitted:
		o.IsoLevel = pgx.ReadCommitted
	case sql.LevelRepeatableRead, sql.LevelSnapshot:
		o.IsoLevel = pgx.RepeatableRead
	case sql.LevelSerializable:
		o.IsoLevel = pgx.Serializable
	default:
		return nil, fmt.Errorf("postgres: isolation level %v is not supported", sql.IsolationLevel(opts.Isolation))
	}
	if opts.ReadOnly {
		o.AccessMode = pgx.ReadOnly
	}
	tx, err := c.c.BeginTx(ctx, o)
	if err != nil {
		return nil, err
	}
	return txn{tx}, nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	tag, err := c.c.Exec(ctx, query, values(args)...)
	if err != nil {
		return nil, err
	}
	return driver.RowsAffected(tag.RowsAffected()), nil
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := c.c.Query(ctx, query, values(args)...)
	if err != nil {
		return nil, err
	}
	return &rows{r: r, m: c.c.TypeMap()}, nil
}

func (c *conn) Ping(ctx context.Context) error { return c.c.Ping(ctx) }

func (c *conn) ResetSession(context.Context) error {
	if c.c.IsClosed() {
		return driver.ErrBadConn
	}
	return nil
}

func (c *conn) IsValid() bool { return !c.c.IsClosed() }

// CheckNamedValue passes every argument to pgx as it is: pgx encodes it by
// the parameter's type.
func (c *conn) CheckNamedValue(*driver.NamedValue) error { return nil }

func values(args []driver.NamedValue) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a.Value
	}
	return out
}

// txn is a pgx transaction.
type txn struct{ tx pgx.Tx }

func (t txn) Commit() error   { return t.tx.Commit(context.Background()) }
func (t txn) Rollback() error { return t.tx.Rollback(context.Background()) }

// rows decodes pgx result rows into database/sql values: integers as
// int64, floats as float64, bool, bytea as []byte, timestamps as
// time.Time, everything else (text, json, jsonb, …) as string.
type rows struct {
	r pgx.Rows
	m *pgtype.Map
}

func (r *rows) Columns() []string {
	fds := r.r.FieldDescriptions()
	out := make([]string, len(fds))
	for i, fd := range fds {
		out[i] = fd.Name
	}
	return out
}

func (r *rows) Close() error {
	r.r.Close()
	return r.r.Err()
}

func (r *rows) Next(dest []driver.Value) error {
	if !r.r.Next() {
		if err := r.r.Err(); err != nil {
			return err
		}
		return io.EOF
	}
	raw := r.r.RawValues()
	for i, fd := range r.r.FieldDescriptions() {
		v, err := r.decode(fd, raw[i])
		if err != nil {
			return fmt.Errorf("decoding column %s: %w", fd.Name, err)
		}
		dest[i] = v
	}
	return nil
}

func (r *rows) decode(fd pgconn.FieldDescription, src []byte) (driver.Value, error) {
	if src == nil {
		return nil, nil
	}
	scan := func(dst any) error { return r.m.Scan(fd.DataTypeOID, fd.Format, src, dst) }
	switch fd.DataTypeOID {
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID:
		var v int64
		return v, scan(&v)
	case pgtype.Float4OID, pgtype.Float8OID:
		var v float64
		return v, scan(&v)
	case pgtype.BoolOID:
		var v bool
		return v, scan(&v)
	case pgtype.ByteaOID:
		var v []byte
		err := scan(&v)
		return bytes.Clone(v), err // src is only valid until the next row
	case pgtype.TimestamptzOID, pgtype.TimestampOID, pgtype.DateOID:
		var v time.Time
		return v, scan(&v)
	default:
		var v string
		return v, scan(&v)
	}
}
