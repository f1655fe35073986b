package installer_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/installer"
	"github.com/idsync/idsync/installer/installertest"
)

func TestControl(t *testing.T) {
	type state struct{ installed, running bool }
	tests := []struct {
		name      string
		before    state
		action    string
		fail      map[string]error
		want      string
		wantErr   string // substring; "" means no error
		wantIs    error
		wantCalls []string
		after     state
	}{
		{name: "install", action: "install",
			want: "installed service idsync-agent (fake)", wantCalls: []string{"install"}, after: state{installed: true}},
		{name: "install twice", before: state{installed: true}, action: "install",
			wantErr: "install service idsync-agent: service idsync-agent already exists", wantCalls: []string{"install"}, after: state{installed: true}},
		{name: "status not installed", action: "status",
			want: "not installed", wantCalls: []string{"status"}},
		{name: "status stopped", before: state{installed: true}, action: "status",
			want: "stopped", wantCalls: []string{"status"}, after: state{installed: true}},
		{name: "status running", before: state{true, true}, action: "status",
			want: "running", wantCalls: []string{"status"}, after: state{true, true}},
		{name: "status fails", before: state{installed: true}, action: "status", fail: map[string]error{"status": errBoom},
			wantErr: "status service idsync-agent: boom", wantIs: errBoom, wantCalls: []string{"status"}, after: state{installed: true}},
		{name: "start", before: state{installed: true}, action: "start",
			want: "started service idsync-agent", wantCalls: []string{"status", "start"}, after: state{true, true}},
		{name: "start not installed", action: "start",
			wantErr: "start service idsync-agent: the service is not installed", wantIs: installer.ErrNotInstalled, wantCalls: []string{"status"}},
		{name: "start fails", before: state{installed: true}, action: "start", fail: map[string]error{"start": errBoom},
			wantErr: "start service idsync-agent: boom", wantIs: errBoom, wantCalls: []string{"status", "start"}, after: state{installed: true}},
		{name: "stop", before: state{true, true}, action: "stop",
			want: "stopped service idsync-agent", wantCalls: []string{"status", "stop"}, after: state{installed: true}},
		{name: "uninstall stopped", before: state{installed: true}, action: "uninstall",
			want: "uninstalled service idsync-agent", wantCalls: []string{"status", "uninstall"}},
		{name: "uninstall stops a running service first", before: state{true, true}, action: "uninstall",
			want: "uninstalled service idsync-agent", wantCalls: []string{"status", "stop", "uninstall"}},
		{name: "uninstall when the stop fails", before: state{true, true}, action: "uninstall", fail: map[string]error{"stop": errBoom},
			wantErr: "uninstall service idsync-agent: stopping it first: boom", wantIs: errBoom, wantCalls: []string{"status", "stop"}, after: state{true, true}},
		{name: "uninstall not installed", action: "uninstall",
			wantErr: "uninstall service idsync-agent: the service is not installed", wantIs: installer.ErrNotInstalled, wantCalls: []string{"status"}},
		{name: "unknown action", action: "restart",
			wantErr: `service idsync-agent: unknown action "restart"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := installertest.Use(t)
			f.Set(tt.before.installed, tt.before.running)
			f.Fail = tt.fail
			c, err := installer.Config(installer.Options{ConfigPath: "/etc/idsync/agent.yaml"})
			if err != nil {
				t.Fatalf("Config: %v", err)
			}

			got, err := installer.Control(c, tt.action)
			if tt.wantErr == "" && err != nil {
				t.Errorf("Control(%q) error = %v, want none", tt.action, err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Control(%q) error = %v, want one containing %q", tt.action, err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Control(%q) error = %v, want errors.Is %v", tt.action, err, tt.wantIs)
			}
			if got != tt.want {
				t.Errorf("Control(%q) = %q, want %q", tt.action, got, tt.want)
			}
			if calls := f.Calls(); !slices.Equal(calls, tt.wantCalls) {
				t.Errorf("service manager calls = %q, want %q", calls, tt.wantCalls)
			}
			if installed, running := f.State(); (state{installed, running}) != tt.after {
				t.Errorf("after: installed, running = %v, %v; want %v, %v", installed, running, tt.after.installed, tt.after.running)
			}
		})
	}
}

func TestControlPassesTheConfig(t *testing.T) {
	f := installertest.Use(t)
	c, err := installer.Config(installer.Options{ConfigPath: "/etc/idsync/agent.yaml", Executable: "/usr/bin/idsync-agent"})
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	if _, err := installer.Control(c, "install"); err != nil {
		t.Fatalf("install: %v", err)
	}
	got := f.Config()
	if got == nil || got.Name != "idsync-agent" || got.Executable != "/usr/bin/idsync-agent" ||
		!slices.Equal(got.Arguments, []string{"run", "--config", "/etc/idsync/agent.yaml"}) {
		t.Errorf("the service manager got %+v, want idsync-agent running /usr/bin/idsync-agent run --config /etc/idsync/agent.yaml", got)
	}
}
