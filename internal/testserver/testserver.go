//go:build linux

package testserver

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
)

// RequireIntegration reports whether a missing server must fail the run
// (IDSYNC_REQUIRE_INTEGRATION=1, as CI sets it).
func RequireIntegration() bool {
	return os.Getenv("IDSYNC_REQUIRE_INTEGRATION") == "1"
}

// Unavailable reports that a server the test needs is missing: it fails the
// test under IDSYNC_REQUIRE_INTEGRATION=1 and skips it otherwise.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if RequireIntegration() {
		t.Fatalf("integration server unavailable (IDSYNC_REQUIRE_INTEGRATION=1): %s", msg)
	}
	t.Skipf("integration server unavailable: %s (set IDSYNC_REQUIRE_INTEGRATION=1 to fail instead)", msg)
}

// Integration skips t under -short, which runs the unit tests alone: t needs
// what (a server, the built binaries, root), and the skip says so and how to
// run it. IDSYNC_REQUIRE_INTEGRATION=1 asks for every integration test, so
// with -short as well it fails t instead: CI never passes -short.
func Integration(t testing.TB, what string) {
	t.Helper()
	skipShort(t, what, "")
}

// skipShort is Integration with a hint on how to get what.
func skipShort(t testing.TB, what, hint string) {
	t.Helper()
	if !testing.Short() {
		return
	}
	if RequireIntegration() {
		t.Fatalf("needs %s, which -short skips while IDSYNC_REQUIRE_INTEGRATION=1 requires it: drop one of the two", what)
	}
	t.Skipf("needs %s: runs without -short (make test)%s", what, hint)
}

// server is one the helpers start: its name in a skip, the argument of
// scripts/install-test-deps.sh that installs it, and the variable that
// names an outside one instead (none for slapd: tests that need TLS, access
// rules or overlays want a local one).
type server struct{ name, deps, outside string }

var (
	slapdServer    = server{"slapd", "slapd", ""}
	sambaServer    = server{"Samba AD", "samba", "IDSYNC_TEST_AD_URL"}
	postgresServer = server{"PostgreSQL", "postgres", "IDSYNC_TEST_POSTGRES_DSN"}
)

// skipShort skips t under -short (see Integration), saying how to get the
// server for a run without it.
func (s server) skipShort(t testing.TB) {
	t.Helper()
	skipShort(t, s.name, "; install with scripts/install-test-deps.sh "+s.deps)
}

// missing makes t Unavailable for want of the server: which, why, and how to
// get one.
func (s server) missing(t testing.TB, err error) {
	t.Helper()
	how := "install with scripts/install-test-deps.sh " + s.deps + " (make test-deps)"
	if s.outside != "" {
		how += ", or name one with " + s.outside
	}
	Unavailable(t, "needs %s: %v; %s", s.name, err, how)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Command returns a command that dies with the test process (parent-death
// signal) and runs in its own process group, so that stopping it stops its
// children too.
func Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	return cmd
}

// KillGroup sends sig to the process group of cmd.
func KillGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
}

var (
	exitMu    sync.Mutex
	exitFuncs []func()
)

// AtExit registers fn to run when Main returns, for process-wide servers.
func AtExit(fn func()) {
	exitMu.Lock()
	defer exitMu.Unlock()
	exitFuncs = append(exitFuncs, fn)
}

// Main runs the tests and then stops the process-wide servers. Packages that
// use shared servers call it from TestMain:
//
//	func TestMain(m *testing.M) { testserver.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	exitMu.Lock()
	fns := exitFuncs
	exitFuncs = nil
	exitMu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
	os.Exit(code)
}
