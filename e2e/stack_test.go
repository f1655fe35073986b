//go:build linux

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/testserver"
)

var bins devstack.Binaries

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Every test here runs the built binaries against real servers.
		const what = "the built binaries, slapd and Samba AD"
		if testserver.RequireIntegration() {
			fmt.Fprintf(os.Stderr, "e2e needs %s, which -short skips while IDSYNC_REQUIRE_INTEGRATION=1 requires them: drop one of the two\n", what)
			os.Exit(1)
		}
		fmt.Printf("e2e skipped: needs %s: runs without -short (make test); install the servers with scripts/install-test-deps.sh\n", what)
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "idsync-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	bins, err = devstack.Build(ctx, dir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testserver.AtExit(func() { os.RemoveAll(dir) })
	testserver.Main(m)
}

// stack is one hub with its admin CLI, for one test.
type stack struct {
	// t is what the helpers fail into: the test that made the stack, or
	// the step of it that runs (step).
	t *testing.T
	// root is the test that made the stack: what lives as long as the
	// stack (an agent's process) is bound to it, not to a step.
	root *testing.T
	hub  *devstack.Hub
	dir  string
	// transcript is everything idsyncctl printed (stdout and stderr), for
	// tests that check what reached an admin's terminal.
	transcript devstack.SyncBuffer
}

// newStack starts a hub; hubArgs are extra flags for `idsync-hub serve`.
func newStack(t *testing.T, hubArgs ...string) *stack {
	t.Helper()
	dir := t.TempDir()
	hub, err := devstack.StartHub(t.Context(), bins, devstack.HubOptions{
		DataDir: filepath.Join(dir, "hub"),
		Args:    append([]string{"--agent-heartbeat", "1s", "--log-level", "debug"}, hubArgs...),
	})
	if err != nil {
		t.Fatalf("starting hub: %v", err)
	}
	s := &stack{t: t, root: t, hub: hub, dir: dir}
	t.Cleanup(func() {
		_ = hub.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("hub log:\n%s", tailLines(hub.Out.String(), 60))
		}
	})
	return s
}

// run runs fn as the subtest name of the test or step that runs now, with
// the stack's helpers failing into it, and reports whether it passed.
func (s *stack) run(name string, fn func(t *testing.T)) bool {
	s.t.Helper()
	parent := s.t
	return parent.Run(name, func(t *testing.T) {
		s.t = t
		defer func() { s.t = parent }()
		fn(t)
	})
}

// step runs one step of a sequential scenario as a subtest (run), so that a
// failure names the step; a step that fails ends the test, as the steps
// after it build on its state.
func (s *stack) step(name string, fn func(t *testing.T)) {
	s.t.Helper()
	if !s.run(name, fn) {
		s.t.FailNow()
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ctl runs idsyncctl.
func (s *stack) ctl(args ...string) devstack.CtlResult {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 5*time.Minute)
	defer cancel()
	r := s.hub.Ctl(ctx, args...)
	_, _ = s.transcript.Write([]byte(r.Stdout + r.Stderr))
	return r
}

// mustCtl runs idsyncctl and fails the test unless it exits 0.
func (s *stack) mustCtl(args ...string) string {
	s.t.Helper()
	r := s.ctl(args...)
	if r.Code != 0 {
		s.t.Fatalf("idsyncctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// localApp are the flags a SCIM test app (plain http on loopback) needs:
// a super-admin's exceptions, which the tests' admin.conf token may grant.
var localApp = [2]string{"--allow-insecure-http", "--allow-local-addresses"}

// as returns the flags that make idsyncctl call with an admin token: a
// 0600 file of it (a token is never a flag's value).
func (s *stack) as(token string) []string {
	s.t.Helper()
	sum := sha256.Sum256([]byte(token))
	path := filepath.Join(s.dir, "admin-"+hex.EncodeToString(sum[:6])+".token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return []string{"--admin-token-file", path}
}

// ctlJSON runs idsyncctl with -o json and decodes its output into v.
func (s *stack) ctlJSON(v any, args ...string) {
	s.t.Helper()
	out := s.mustCtl(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		s.t.Fatalf("idsyncctl %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// agent is one enrolled, running idsync-agent.
type agent struct {
	proc   *devstack.Proc
	config string
	id     string
	past   []string // logs of earlier processes of this agent
}

// logs returns everything this agent's processes logged.
func (a *agent) logs() string { return strings.Join(append(a.past, a.proc.Out.String()), "") }

// startAgent enrols an agent for directory with a fresh token and runs it
// until the hub lists it online.
func (s *stack) startAgent(d devstack.AgentDirectory) *agent {
	s.t.Helper()
	dir := filepath.Join(s.dir, "agent-"+d.Name+fmt.Sprint(time.Now().UnixNano()))
	config, err := devstack.WriteAgentConfig(dir, s.hub.GRPCAddr, []devstack.AgentDirectory{d})
	if err != nil {
		s.t.Fatal(err)
	}
	token := strings.TrimSpace(s.mustCtl("agent", "token", "--directory", d.Name))
	out, err := devstack.Enroll(s.t.Context(), bins, config, s.hub.GRPCAddr, token)
	if err != nil {
		s.t.Fatal(err)
	}
	id := strings.TrimSuffix(strings.Fields(strings.TrimPrefix(out, "enrolled as agent "))[0], ";")
	p, err := devstack.StartAgent(s.root.Context(), bins, config, nil, "--log-level", "debug")
	if err != nil {
		s.t.Fatal(err)
	}
	a := &agent{proc: p, config: config, id: id}
	root := s.root
	root.Cleanup(func() {
		_ = p.Stop(10 * time.Second)
		if root.Failed() {
			root.Logf("agent %s log:\n%s", id, tailLines(p.Out.String(), 40))
		}
	})
	s.waitAgentState(id, "online")
	return a
}

func (s *stack) waitAgentState(id, state string) {
	s.t.Helper()
	eventually.That(s.t, fmt.Sprintf("agent %s %s", id, state), func() (bool, string) {
		var agents []agentJSON
		s.ctlJSON(&agents, "agent", "list")
		for _, a := range agents {
			if a.ID == id {
				return a.State == state || (state == "online" && (a.State == "standby" || a.State == "active")), a.State
			}
		}
		return false, "not listed"
	})
}

// importFull runs a full import and waits for it; it returns the run and
// idsyncctl's exit code.
func (s *stack) importFull(directory string) (runJSON, int) {
	s.t.Helper()
	r := s.ctl("import", "start", "--directory", directory, "--full", "--wait", "-o", "json")
	var run runJSON
	if err := json.Unmarshal([]byte(r.Stdout), &run); err != nil {
		s.t.Fatalf("import start --wait: exit %d, %v\nstdout: %s\nstderr: %s", r.Code, err, r.Stdout, r.Stderr)
	}
	return run, r.Code
}

// mustImportFull runs a full import that must complete.
func (s *stack) mustImportFull(directory string) runJSON {
	s.t.Helper()
	run, code := s.importFull(directory)
	if code != 0 || run.State != "completed" {
		s.t.Fatalf("full import of %s: exit %d, state %s: %s", directory, code, run.State, run.Message)
	}
	return run
}

// users lists a directory's users by username.
func (s *stack) users(directory string) map[string]userJSON {
	s.t.Helper()
	var list []userJSON
	s.ctlJSON(&list, "user", "list", "--directory", directory)
	m := make(map[string]userJSON, len(list))
	for _, u := range list {
		m[u.Username] = u
	}
	return m
}

func statusCounts(users map[string]userJSON) map[string]int {
	c := map[string]int{}
	for _, u := range users {
		c[u.Status]++
	}
	return c
}

// JSON shapes of idsyncctl's output.
type userJSON struct {
	ID             string   `json:"id"`
	Directory      string   `json:"directory"`
	ExternalID     string   `json:"external_id"`
	DN             string   `json:"dn"`
	Username       string   `json:"username"`
	Email          string   `json:"email"`
	GivenName      string   `json:"given_name"`
	FamilyName     string   `json:"family_name"`
	DisplayName    string   `json:"display_name"`
	Status         string   `json:"status"`
	Groups         []string `json:"groups"`
	EmployeeNumber string   `json:"employee_number"`
	Department     string   `json:"department"`
	Title          string   `json:"title"`
	Manager        string   `json:"manager"`
}

type runJSON struct {
	ID                 string `json:"id"`
	Directory          string `json:"directory"`
	Kind               string `json:"kind"`
	State              string `json:"state"`
	Seen               uint64 `json:"seen"`
	Created            uint64 `json:"created"`
	Updated            uint64 `json:"updated"`
	Unchanged          uint64 `json:"unchanged"`
	Deprovisioned      uint64 `json:"deprovisioned"`
	Errors             uint64 `json:"errors"`
	PendingDeprovision uint64 `json:"pending_deprovision"`
	Message            string `json:"message"`
	ErrorSamples       []struct {
		DN      string `json:"dn"`
		Message string `json:"message"`
	} `json:"error_samples"`
}

type agentJSON struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State string `json:"state"`
}

type groupJSON struct {
	ID                string `json:"id"`
	Name              string `json:"name"`
	Status            string `json:"status"`
	MemberCount       uint64 `json:"member_count"`
	UnresolvedMembers uint64 `json:"unresolved_members"`
	Members           []struct {
		Value string `json:"value"`
		ID    string `json:"id"`
		Kind  string `json:"kind"`
		Name  string `json:"name"`
	} `json:"members"`
}
