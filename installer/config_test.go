package installer_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/idsync/idsync/installer"
)

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "bin", "idsync-agent")
	tests := []struct {
		name     string
		opts     installer.Options
		wantExe  string
		wantArgs []string
	}{
		{
			name:     "relative config path made absolute, this program by default",
			opts:     installer.Options{ConfigPath: "agent.yaml"},
			wantExe:  self,
			wantArgs: []string{"run", "--config", filepath.Join(dir, "agent.yaml")},
		},
		{
			name:     "executable and extra arguments",
			opts:     installer.Options{ConfigPath: filepath.Join(dir, "etc", "agent.yaml"), Executable: "bin/idsync-agent", Args: []string{"--log-level", "debug"}},
			wantExe:  exe,
			wantArgs: []string{"run", "--config", filepath.Join(dir, "etc", "agent.yaml"), "--log-level", "debug"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := installer.Config(tt.opts)
			if err != nil {
				t.Fatalf("Config: %v", err)
			}
			if c.Name != "idsync-agent" || c.DisplayName != installer.DisplayName || c.Description != installer.Description {
				t.Errorf("name, display name, description = %q, %q, %q; want idsync-agent, %q, %q",
					c.Name, c.DisplayName, c.Description, installer.DisplayName, installer.Description)
			}
			if c.Executable != tt.wantExe {
				t.Errorf("Executable = %q, want %q", c.Executable, tt.wantExe)
			}
			if !slices.Equal(c.Arguments, tt.wantArgs) {
				t.Errorf("Arguments = %q, want %q", c.Arguments, tt.wantArgs)
			}
		})
	}
}

func TestConfigRefusesControlCharacters(t *testing.T) {
	for _, o := range []installer.Options{
		{ConfigPath: "agent.yaml\nExecStartPre=/bin/sh -c evil"},
		{ConfigPath: "agent.yaml", Executable: "/usr/bin/idsync-agent\r"},
		{ConfigPath: "agent.yaml", Args: []string{"--log-level", "debug\n[Service]"}},
	} {
		if _, err := installer.Config(o); err == nil || !strings.Contains(err.Error(), "control character") {
			t.Errorf("Config(%q) = %v, want a refusal naming the control character", o, err)
		}
	}
}

func TestConfigRequiresConfigPath(t *testing.T) {
	if _, err := installer.Config(installer.Options{}); err == nil {
		t.Error("Config without a config path = nil error, want one")
	}
}

// FuzzConfig checks Config on any paths and argument: no panic, an error
// exactly when the config path is missing, and otherwise a service that
// runs an absolute executable with `run --config ABSOLUTE_PATH ARGS...`.
// Seeds: testdata/fuzz/FuzzConfig and the f.Add calls.
func FuzzConfig(f *testing.F) {
	f.Add("/etc/idsync/agent.yaml", "/usr/local/bin/idsync-agent", "--log-level")
	f.Add("agent.yaml", "", "")
	f.Add(`C:\ProgramData\idsync\agent.yaml`, `C:\Program Files\idsync\idsync-agent.exe`, "debug")
	f.Add("", "x", "y")
	f.Fuzz(func(t *testing.T, configPath, exe, arg string) {
		opts := installer.Options{ConfigPath: configPath, Executable: exe, Args: []string{arg}}
		c, err := installer.Config(opts)
		control := slices.ContainsFunc([]string{configPath, exe, arg}, func(v string) bool {
			return strings.ContainsFunc(v, unicode.IsControl)
		})
		if (err != nil) != (configPath == "" || control) {
			t.Fatalf("Config(%+v) = %v; want an error only without a config path or with a control character", opts, err)
		}
		if err != nil {
			return
		}
		want, _ := filepath.Abs(configPath)
		if !filepath.IsAbs(c.Executable) || !slices.Equal(c.Arguments, []string{"run", "--config", want, arg}) {
			t.Fatalf("Config(%+v) runs %q %q; want an absolute executable and run --config %s %s", opts, c.Executable, c.Arguments, want, arg)
		}
		if c.Name != installer.Name || len(c.Option) == 0 {
			t.Fatalf("Config(%+v) = %+v: not the agent's service with this OS's options", opts, c)
		}
	})
}
