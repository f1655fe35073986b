package installer_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

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

func TestConfigRequiresConfigPath(t *testing.T) {
	if _, err := installer.Config(installer.Options{}); err == nil {
		t.Error("Config without a config path = nil error, want one")
	}
}
