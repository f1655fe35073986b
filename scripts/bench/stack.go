//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/testserver"
)

// directoryName is the directory the bench adds to each hub.
const directoryName = "corp"

// stack is one fresh hub (SQLite) with one enrolled, running agent for one
// directory: slapd's, or Samba AD's for the capture latency.
type stack struct {
	dir   string
	hub   *devstack.Hub
	agent *devstack.Proc
	slapd int // 0 when the directory is not slapd's
	// bins, config and tee start the agent again.
	bins   devstack.Binaries
	config string
	tee    io.Writer
	id     string
	// prof takes the hub's CPU profiles (-hub-cpuprofile); nil without.
	prof *hubProfiler
	// dsn is the hub's PostgreSQL database; "" for SQLite in its data
	// directory.
	dsn string
}

// startStack starts a hub in dir, adds the directory of the kind (openldap
// or ad) that srv serves, enrols an agent and runs it until the hub lists it
// online. slapd is slapd's pid for the CPU figures, 0 for another server.
// On error it stops what it started.
func startStack(ctx context.Context, bins devstack.Binaries, dir, kind string, srv *testserver.Endpoint, slapd int, tee io.Writer) (_ *stack, err error) {
	return startStackOn(ctx, bins, dir, "", kind, srv, slapd, tee)
}

// startStackOn is startStack with the hub's store in the PostgreSQL
// database dsn ("" for SQLite).
func startStackOn(ctx context.Context, bins devstack.Binaries, dir, dsn, kind string, srv *testserver.Endpoint, slapd int, tee io.Writer) (_ *stack, err error) {
	o := devstack.HubOptions{DataDir: filepath.Join(dir, "hub"), Tee: tee}
	if dsn != "" {
		o.Store, o.DSN = "postgres", dsn
	}
	hub, err := devstack.StartHub(ctx, bins, o)
	if err != nil {
		return nil, fmt.Errorf("starting the hub: %w", err)
	}
	s := &stack{dir: dir, hub: hub, slapd: slapd, bins: bins, tee: tee, dsn: dsn}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	// No scheduled imports: the bench starts each one itself and times it.
	if _, err := s.ctl(ctx, "directory", "add", directoryName, "--kind", kind, "--base-dn", srv.BaseDN,
		"--full-import-interval", "off"); err != nil {
		return nil, err
	}
	token, err := s.ctl(ctx, "agent", "token", "--directory", directoryName)
	if err != nil {
		return nil, err
	}
	config, err := devstack.WriteAgentConfig(filepath.Join(dir, "agent"), hub.GRPCAddr, []devstack.AgentDirectory{{
		Name: directoryName, URL: srv.URL, BindDN: srv.BindDN, BindPassword: srv.BindPassword,
	}})
	if err != nil {
		return nil, fmt.Errorf("writing the agent config: %w", err)
	}
	out, err := devstack.Enroll(ctx, bins, config, hub.GRPCAddr, strings.TrimSpace(token))
	if err != nil {
		return nil, err
	}
	fields := strings.Fields(strings.TrimPrefix(out, "enrolled as agent "))
	if len(fields) == 0 {
		return nil, fmt.Errorf("idsync-agent enroll printed no agent id: %q", out)
	}
	s.id, s.config = strings.TrimSuffix(fields[0], ";"), config
	return s, s.startAgent(ctx)
}

// startAgent starts the stack's agent and waits until the hub lists it.
func (s *stack) startAgent(ctx context.Context) error {
	var err error
	if s.agent, err = devstack.StartAgent(ctx, s.bins, s.config, s.tee); err != nil {
		return err
	}
	return s.waitOnline(ctx, s.id)
}

// stop stops the agent, then the hub.
func (s *stack) stop() {
	if s.agent != nil {
		_ = s.agent.Stop(10 * time.Second)
	}
	_ = s.hub.Stop(10 * time.Second)
}

// ctl runs idsyncctl and returns its standard output, or an error with its
// standard error when it exits non-zero.
func (s *stack) ctl(ctx context.Context, args ...string) (string, error) {
	r := s.hub.Ctl(ctx, args...)
	if r.Code != 0 {
		return r.Stdout, fmt.Errorf("idsyncctl %s: exit %d: %s", strings.Join(args, " "), r.Code, strings.TrimSpace(r.Stderr))
	}
	return r.Stdout, nil
}

func (s *stack) waitOnline(ctx context.Context, id string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out, err := s.ctl(ctx, "agent", "list", "-o", "json")
		if err != nil {
			return err
		}
		var agents []struct{ ID, State string }
		if err := json.Unmarshal([]byte(out), &agents); err != nil {
			return fmt.Errorf("idsyncctl agent list -o json: %w", err)
		}
		for _, a := range agents {
			// Online: connected, whether it captures changes or not.
			if a.ID == id && (a.State == "online" || a.State == "active" || a.State == "standby") {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.agent.Done():
			return fmt.Errorf("idsync-agent exited: %v\n%s", s.agent.Err(), s.agent.Out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("agent %s is not online after 30s\n%s", id, s.agent.Out.String())
}

// pids names the stack's processes, slapd included when it is the server.
func (s *stack) pids() map[string]int {
	pids := map[string]int{"agent": s.agent.Cmd.Process.Pid, "hub": s.hub.Cmd.Process.Pid}
	if s.slapd != 0 {
		pids["slapd"] = s.slapd
	}
	return pids
}

// importRun is what `idsyncctl import start --wait -o json` prints.
type importRun struct {
	ID         string    `json:"id"`
	State      string    `json:"state"`
	Seen       uint64    `json:"seen"`
	Created    uint64    `json:"created"`
	Updated    uint64    `json:"updated"`
	Unchanged  uint64    `json:"unchanged"`
	Errors     uint64    `json:"errors"`
	Message    string    `json:"message"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// importResult is one timed full import.
type importResult struct {
	run importRun
	// command is the wall time of idsyncctl (start, polling every 300 ms,
	// output); the run's own duration is run.FinishedAt - run.StartedAt.
	command time.Duration
	// agentRead is the agent's "full import read" elapsed: dial to the
	// acknowledgement of the last batch.
	agentRead time.Duration
	cpu       map[string]time.Duration
}

// duration is the run's own duration as the hub recorded it: from the
// request to the commit of the sweep.
func (r importResult) duration() time.Duration { return r.run.FinishedAt.Sub(r.run.StartedAt) }

// importFull runs one full import and checks that it completed and saw
// want entries.
func (s *stack) importFull(ctx context.Context, want int) (importResult, error) {
	meter := newCPUMeter(s.pids())
	start := time.Now()
	out, err := s.ctl(ctx, "import", "start", "--directory", directoryName, "--full", "--wait", "-o", "json")
	res := importResult{command: time.Since(start), cpu: meter.since()}
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal([]byte(out), &res.run); err != nil {
		return res, fmt.Errorf("idsyncctl import start -o json: %w\n%s", err, out)
	}
	r := res.run
	if r.State != "completed" || r.Seen != uint64(want) || r.Errors != 0 {
		return res, fmt.Errorf("full import run %s: state %s, seen %d, errors %d (%s); want completed, seen %d, no errors",
			r.ID, r.State, r.Seen, r.Errors, r.Message, want)
	}
	if r.StartedAt.IsZero() || r.FinishedAt.IsZero() {
		return res, fmt.Errorf("full import run %s: no start or finish time in %s", r.ID, out)
	}
	res.agentRead = agentElapsed(s.agent.Out.String(), r.ID)
	return res, nil
}

// agentElapsed finds the elapsed time the agent logged for run id, or 0.
func agentElapsed(log, id string) time.Duration {
	elapsed := regexp.MustCompile(` elapsed=(\S+)`)
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `msg="full import read"`) || !strings.Contains(line, " run="+id+" ") {
			continue
		}
		if m := elapsed.FindStringSubmatch(line); m != nil {
			d, _ := time.ParseDuration(m[1])
			return d
		}
	}
	return 0
}

// memory is the processes' peak memory and the store's size, read while
// they still run.
type memory struct {
	agentPeak, hubPeak int64
	db, wal            int64
}

func (s *stack) memory() (memory, error) {
	var m memory
	var err error
	if m.agentPeak, err = peakRSS(s.agent.Cmd.Process.Pid); err != nil {
		return m, fmt.Errorf("agent: %w", err)
	}
	if m.hubPeak, err = peakRSS(s.hub.Cmd.Process.Pid); err != nil {
		return m, fmt.Errorf("hub: %w", err)
	}
	sz, err := sqliteSize(s.hub.DataDir)
	m.db, m.wal = sz.db, sz.wal
	return m, err
}

// sqliteSize is the size of the hub's hub.db and its WAL in dataDir.
func sqliteSize(dataDir string) (memory, error) {
	var m memory
	db := filepath.Join(dataDir, "hub.db")
	fi, err := os.Stat(db)
	if err != nil {
		return m, fmt.Errorf("the hub's store: %w", err)
	}
	m.db = fi.Size()
	if fi, err := os.Stat(db + "-wal"); err == nil {
		m.wal = fi.Size()
	}
	return m, nil
}
