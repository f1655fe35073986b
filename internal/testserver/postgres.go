//go:build linux

package testserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Postgres returns the DSN of a fresh, empty database for the calling test.
//
// With IDSYNC_TEST_POSTGRES_DSN it creates the database on that server (or,
// where the role may not create databases, a fresh schema that the DSN puts
// first on the search_path) and drops it when the test ends. Otherwise it
// uses the process's own PostgreSQL, started on the first call (initdb
// into a temporary directory, a second or two) and stopped by Main: packages
// that use it must call Main from TestMain. Missing PostgreSQL binaries
// make the test Unavailable; -short skips it.
func Postgres(t testing.TB) string {
	t.Helper()
	postgresServer.skipShort(t)
	if dsn := os.Getenv("IDSYNC_TEST_POSTGRES_DSN"); dsn != "" {
		return outsidePostgres(t, dsn)
	}
	pg, err := sharedPostgres()
	var missing *missingError
	if errors.As(err, &missing) {
		postgresServer.missing(t, err)
	}
	if err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	name := freshDBName()
	err = pgExec(t.Context(), pg.dsn("postgres"), "CREATE DATABASE "+name)
	if err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	// The server and its databases go when the process ends: no need to
	// spend time dropping it.
	return pg.dsn(name)
}

// outsidePostgres makes a fresh database (or schema) on the server dsn names.
func outsidePostgres(t testing.TB, dsn string) string {
	t.Helper()
	name := freshDBName()
	err := pgExec(t.Context(), dsn, "CREATE DATABASE "+name)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		t.Cleanup(func() { dropAfter(t, dsn, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
		out, err := withDSNParam(dsn, "dbname", name)
		if err != nil {
			t.Fatalf("IDSYNC_TEST_POSTGRES_DSN: %v", err)
		}
		return out
	case errors.As(err, &pgErr) && pgErr.Code == "42501": // insufficient_privilege
		if err := pgExec(t.Context(), dsn, "CREATE SCHEMA "+name); err != nil {
			t.Fatalf("creating schema %s on IDSYNC_TEST_POSTGRES_DSN: %v", name, err)
		}
		t.Cleanup(func() { dropAfter(t, dsn, "DROP SCHEMA IF EXISTS "+name+" CASCADE") })
		out, err := withDSNParam(dsn, "search_path", name)
		if err != nil {
			t.Fatalf("IDSYNC_TEST_POSTGRES_DSN: %v", err)
		}
		return out
	default:
		t.Fatalf("creating database %s on IDSYNC_TEST_POSTGRES_DSN: %v", name, err)
		return ""
	}
}

// dropAfter runs a cleanup statement; the test's context is done by then.
func dropAfter(t testing.TB, dsn, sql string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pgExec(ctx, dsn, sql); err != nil {
		t.Errorf("cleaning up after the test (%s): %v", sql, err)
	}
}

// freshDBName returns a new database name, t_ and 16 hex digits.
func freshDBName() string {
	return "t_" + hex.EncodeToString(randBytes(8))
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

// pgExec runs one statement on a connection of its own.
func pgExec(ctx context.Context, dsn, sql string) error {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	_, err = c.Exec(ctx, sql)
	return err
}

// withDSNParam sets one connection parameter in a URL or keyword/value DSN.
func withDSNParam(dsn, key, value string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parsing the DSN: %w", err)
		}
		if key == "dbname" {
			u.Path = "/" + value
			return u.String(), nil
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	// In a keyword/value DSN the last setting of a keyword wins.
	return dsn + " " + key + "=" + value, nil
}

// pgServer is the process's PostgreSQL.
type pgServer struct {
	dir    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

var pgShared struct {
	once sync.Once
	pg   *pgServer
	err  error
}

func sharedPostgres() (*pgServer, error) {
	pgShared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		pgShared.pg, pgShared.err = startPostgres(ctx)
		if pgShared.err == nil {
			AtExit(pgShared.pg.stop)
		}
	})
	return pgShared.pg, pgShared.err
}

// PostgresServer is a PostgreSQL of its own for a program that is not a
// test (the bench), tuned as the tests' is (no fsync).
type PostgresServer struct{ pg *pgServer }

// StartPostgres initialises a cluster in a temporary directory and runs it
// on a free loopback port until Stop. Missing PostgreSQL binaries are an
// error that names what is missing.
func StartPostgres(ctx context.Context) (*PostgresServer, error) {
	pg, err := startPostgres(ctx)
	if err != nil {
		return nil, err
	}
	return &PostgresServer{pg}, nil
}

// CreateDatabase creates a fresh database on the server and returns its
// DSN.
func (s *PostgresServer) CreateDatabase(ctx context.Context) (string, error) {
	name := freshDBName()
	if err := pgExec(ctx, s.pg.dsn("postgres"), "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	return s.pg.dsn(name), nil
}

// Pid is the postmaster's process id.
func (s *PostgresServer) Pid() int { return s.pg.cmd.Process.Pid }

// Stop shuts the server down and deletes its directory.
func (s *PostgresServer) Stop() { s.pg.stop() }

// dsn is the DSN of database name on the server, as its superuser.
func (pg *pgServer) dsn(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, name)
}

// postgresBins returns the paths of initdb and postgres: from PATH, or the
// newest /usr/lib/postgresql/*/bin.
func postgresBins() (initdb, postgres string, err error) {
	initdb, err1 := exec.LookPath("initdb")
	postgres, err2 := exec.LookPath("postgres")
	if err1 == nil && err2 == nil {
		return initdb, postgres, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if _, err := os.Stat(i); err == nil {
			if _, err := os.Stat(p); err == nil {
				return i, p, nil
			}
		}
	}
	return "", "", &missingError{errors.New("initdb and postgres not found in PATH or /usr/lib/postgresql/*/bin")}
}

// runAs returns the credentials to run PostgreSQL with: none normally, the
// postgres system user when running as root (PostgreSQL refuses root). It
// hands dir to that user.
func runAs(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, &missingError{fmt.Errorf("running as root, PostgreSQL needs a postgres system user: %w", err)}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %w", err)
	}
	err = filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(uid), int(gid))
	})
	if err != nil {
		return nil, fmt.Errorf("handing %s to user postgres: %w", dir, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// startPostgres initialises a cluster in a temporary directory and runs it
// on a free loopback port, tuned for tests (no fsync).
func startPostgres(ctx context.Context) (_ *pgServer, err error) {
	initdb, postgres, err := postgresBins()
	if err != nil {
		return nil, err
	}
	pg := &pgServer{}
	defer func() {
		if err != nil {
			pg.stop()
		}
	}()
	if pg.dir, err = os.MkdirTemp("", "idsync-pg-"); err != nil {
		return nil, err
	}
	data, sock := filepath.Join(pg.dir, "data"), filepath.Join(pg.dir, "sock")
	if err := os.Mkdir(sock, 0o700); err != nil {
		return nil, err
	}
	cred, err := runAs(pg.dir)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	cmd := Command(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale",
		"--no-sync", "--no-instructions")
	cmd.SysProcAttr.Credential = cred
	cmd.Dir, cmd.Env = pg.dir, append(os.Environ(), "LC_ALL=C")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w: %s", err, tail(string(out)))
	}
	if pg.port, err = freePort("127.0.0.1"); err != nil {
		return nil, err
	}
	logPath := filepath.Join(pg.dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	pg.cmd = Command(postgres, "-D", data, "-p", strconv.Itoa(pg.port), "-k", sock,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=300")
	pg.cmd.SysProcAttr.Credential = cred
	pg.cmd.Dir, pg.cmd.Env = pg.dir, append(os.Environ(), "LC_ALL=C")
	pg.cmd.Stdout, pg.cmd.Stderr = logFile, logFile
	if err := pg.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	pg.exited = make(chan struct{})
	go func() { pg.cmd.Wait(); close(pg.exited) }()
	if err := pg.wait(ctx, 60*time.Second); err != nil {
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("postgres on port %d: %w; log: %s", pg.port, err, tail(string(log)))
	}
	// testing.Verbose panics outside a test binary (StartPostgres).
	if testing.Testing() && testing.Verbose() {
		fmt.Fprintf(os.Stderr, "testserver: PostgreSQL on 127.0.0.1:%d (up after %v)\n",
			pg.port, time.Since(start).Round(time.Millisecond))
	}
	return pg, nil
}

// wait waits until the server accepts connections.
func (pg *pgServer) wait(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		err := pgExec(ctx, pg.dsn("postgres"), "SELECT 1")
		if err == nil {
			return nil
		}
		select {
		case <-pg.exited:
			return fmt.Errorf("exited: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("not accepting connections after %v: %w", limit, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop shuts the server down (fast shutdown, SIGKILL after 10 s) and
// deletes its directory.
func (pg *pgServer) stop() {
	if pg.cmd != nil && pg.cmd.Process != nil {
		_ = pg.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-pg.exited:
		case <-time.After(10 * time.Second):
			KillGroup(pg.cmd, syscall.SIGKILL)
			<-pg.exited
		}
	}
	if pg.dir != "" {
		os.RemoveAll(pg.dir)
	}
}
