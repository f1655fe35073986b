package installer_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kardianos/service"

	"github.com/idsync/idsync/installer"
	"github.com/idsync/idsync/installer/installertest"
)

func TestConfigLinuxOptions(t *testing.T) {
	c, err := installer.Config(installer.Options{ConfigPath: "/etc/idsync/agent.yaml"})
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	if got := c.Option["Restart"]; got != "always" {
		t.Errorf(`Option["Restart"] = %v, want "always"`, got)
	}
	if len(c.Dependencies) != 0 {
		t.Errorf("Dependencies = %q, want none (OpenRC would read them too)", c.Dependencies)
	}
	unit, _ := c.Option["SystemdScript"].(string)
	for _, want := range []string{"After=network-online.target", "Wants=network-online.target", "RestartSec=5"} {
		if !slices.Contains(strings.Split(unit, "\n"), want) {
			t.Errorf(`Option["SystemdScript"] has no line %q:\n%s`, want, unit)
		}
	}
}

// detected makes a system available whatever its Detect says: the systemd
// backend detects systemd as PID 1, which a build machine or container may
// lack.
type detected struct{ service.System }

func (detected) Detect() bool { return true }

// TestSystemdUnit renders the unit through the library's own systemd backend,
// as `install` does. The "user service" option points it at $HOME instead of
// /etc/systemd/system, and PATH at a stand-in systemctl that records its
// arguments.
func TestSystemdUnit(t *testing.T) {
	var systemd service.System
	for _, s := range service.AvailableSystems() {
		if s.String() == "linux-systemd" {
			systemd = s
		}
	}
	if systemd == nil {
		t.Fatalf("no linux-systemd among the library's systems %v", service.AvailableSystems())
	}
	installertest.Choose(t, detected{systemd})
	home, bin := t.TempDir(), t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("PATH", bin)
	calls := filepath.Join(bin, "systemctl.calls")
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte("#!/bin/sh\necho \"$*\" >> "+calls+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	c, err := installer.Config(installer.Options{ConfigPath: "/etc/idsync/agent.yaml", Executable: "/usr/local/bin/idsync-agent"})
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	c.Option["UserService"] = true
	if _, err := installer.Control(c, "install"); err != nil {
		t.Fatalf("install: %v", err)
	}

	got, err := os.ReadFile(filepath.Join(home, ".config/systemd/user/idsync-agent.service"))
	if err != nil {
		t.Fatalf("reading the installed unit: %v", err)
	}
	want := `[Unit]
Description=` + installer.Description + `
ConditionFileIsExecutable=/usr/local/bin/idsync-agent
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=/usr/local/bin/idsync-agent "run" "--config" "/etc/idsync/agent.yaml"
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
`
	if string(got) != want {
		t.Errorf("unit:\n%s\nwant:\n%s", got, want)
	}
	ran, err := os.ReadFile(calls)
	if err != nil {
		t.Fatalf("systemctl was not run: %v", err)
	}
	if got, want := string(ran), "enable --user idsync-agent.service\ndaemon-reload --user\n"; got != want {
		t.Errorf("systemctl calls:\n%s\nwant:\n%s", got, want)
	}
}

func TestLoggerOnLinuxIsStderr(t *testing.T) {
	installertest.Use(t) // not interactive: as under systemd
	stderr := slog.New(slog.DiscardHandler)
	c, err := installer.Config(installer.Options{ConfigPath: "/etc/idsync/agent.yaml"})
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	if got := installer.Logger(c, stderr, slog.LevelInfo); got != stderr {
		t.Errorf("Logger under the service manager = %p, want the stderr logger %p (systemd sends stderr to the journal)", got, stderr)
	}
}
