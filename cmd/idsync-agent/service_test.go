package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/agent"
	"github.com/idsync/idsync/installer/installertest"
)

// writeAgentConfig writes a valid agent config to a new directory, with the
// enrolment's identity files when enrolled, and returns its path.
func writeAgentConfig(t *testing.T, enrolled bool) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.yaml")
	conf := "version: 1\nhub: 127.0.0.1:7443\ndirectories:\n  - name: corp\n    url: ldap://127.0.0.1:389\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if enrolled {
		for _, f := range []string{"agent.key", "agent.crt", "hub-ca.crt"} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("-"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return path
}

func TestServiceCommand(t *testing.T) {
	enrolled := writeAgentConfig(t, true)
	unenrolled := writeAgentConfig(t, false)
	invalid := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(invalid, []byte("version: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		installed  bool
		wantCode   int
		wantOut    string // substring of stdout
		wantErr    string // substring of stderr
		wantCalls  []string
		wantRunArg []string // the installed service's arguments
	}{
		{name: "missing --config", args: []string{"status"},
			wantCode: 2, wantErr: "idsync-agent status: --config: required"},
		{name: "unexpected argument", args: []string{"stop", "--config", enrolled, "now"},
			wantCode: 2, wantErr: `unexpected argument "now"`},
		{name: "install refuses an invalid config", args: []string{"install", "--config", invalid},
			wantCode: 1, wantErr: invalid + ": hub: required"},
		{name: "install refuses an agent not enrolled", args: []string{"install", "--config", unenrolled},
			wantCode: 1, wantErr: "this agent is not enrolled yet (" + filepath.Join(filepath.Dir(unenrolled), "agent.key") + " is missing): enrol it first"},
		{name: "install refuses a bad log level", args: []string{"install", "--config", enrolled, "--log-level", "loud"},
			wantCode: 2, wantErr: `--log-level "loud"`},
		{name: "install", args: []string{"install", "--config", enrolled, "--log-level", "debug"},
			wantOut: "installed service idsync-agent (fake)\nstart it with: idsync-agent start --config " + enrolled, wantCalls: []string{"install"},
			wantRunArg: []string{"run", "--config", enrolled, "--log-level", "debug"}},
		{name: "status", args: []string{"status", "--config", enrolled},
			wantOut: "not installed\n", wantCalls: []string{"status"}},
		{name: "start not installed", args: []string{"start", "--config", enrolled},
			wantCode: 1, wantErr: "idsync-agent start: start service idsync-agent: the service is not installed\ninstall it with: idsync-agent install --config " + enrolled,
			wantCalls: []string{"status"}},
		{name: "start", args: []string{"start", "--config", enrolled}, installed: true,
			wantOut: "started service idsync-agent\n", wantCalls: []string{"status", "start"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Never the machine's service manager, even by mistake.
			f := installertest.Use(t)
			f.Set(tt.installed, false)
			var stdout, stderr bytes.Buffer
			code := serviceCommand(tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit status = %d, want %d (stderr: %s)", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantOut) {
				t.Errorf("stdout = %q, want it to contain %q", stdout.String(), tt.wantOut)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), tt.wantErr)
			}
			if calls := f.Calls(); !slices.Equal(calls, tt.wantCalls) {
				t.Errorf("service manager calls = %q, want %q", calls, tt.wantCalls)
			}
			if tt.wantRunArg != nil {
				if c := f.Config(); c == nil || !slices.Equal(c.Arguments, tt.wantRunArg) {
					t.Errorf("installed service config %+v, want arguments %q", c, tt.wantRunArg)
				}
			}
		})
	}
}

// TestRunAgentEndsWhenTheAgentFails runs `run` under a (fake) service manager
// with an agent that cannot start: the service must end, non-zero, rather
// than wait for a stop request.
func TestRunAgentEndsWhenTheAgentFails(t *testing.T) {
	installertest.Use(t)
	cfg, err := agent.LoadConfig(writeAgentConfig(t, false))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	// Should the agent not fail, Run ends with the context: status 0.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if code := runAgent(ctx, cfg, log, "info"); code != 1 {
		t.Errorf("exit status = %d, want 1", code)
	}
	if want := "agent.key is missing: enrol this agent first"; !strings.Contains(logs.String(), want) {
		t.Errorf("log = %q, want it to contain %q", logs.String(), want)
	}
}
