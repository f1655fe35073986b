//go:build installtest && linux

// The real install test: it installs a service with the machine's systemd,
// starts it, checks its status, stops it and removes it. It needs root and
// systemd as PID 1, which the containers CI runs in here do not have, so it
// is behind the installtest tag and does not run in CI. Run it on a VM:
//
//	sudo go test -tags installtest -run TestInstall -v ./installer/
package installer_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kardianos/service"

	"github.com/idsync/idsync/installer"
	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/testserver"
)

// testService is installed instead of idsync-agent, so that the test never
// touches a real installation.
const testService = "idsync-agent-installtest"

// init turns the test binary into the service when systemd starts it as
// `installer.test run --config MARKER`: it writes "running" to MARKER, and
// "stopped" when systemd stops it.
func init() {
	if len(os.Args) == 4 && os.Args[1] == "run" && os.Args[2] == "--config" {
		os.Exit(serviceMain(os.Args[3]))
	}
}

func serviceMain(marker string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := testConfig(marker)
	if err == nil {
		err = installer.Run(ctx, c, slog.Default(), func(ctx context.Context) error {
			if err := os.WriteFile(marker, []byte("running"), 0o600); err != nil {
				return err
			}
			<-ctx.Done()
			return os.WriteFile(marker, []byte("stopped"), 0o600)
		})
	}
	if err != nil {
		slog.Error("install test service", "err", err)
		return 1
	}
	return 0
}

func testConfig(marker string) (*service.Config, error) {
	c, err := installer.Config(installer.Options{ConfigPath: marker})
	if err != nil {
		return nil, err
	}
	c.Name = testService
	return c, nil
}

func TestInstall(t *testing.T) {
	if os.Geteuid() != 0 {
		testserver.Unavailable(t, "installing a service needs root")
	}
	if p := service.Platform(); p != "linux-systemd" {
		testserver.Unavailable(t, "systemd is not PID 1 here (service platform %q)", p)
	}
	marker := filepath.Join(t.TempDir(), "marker")
	c, err := testConfig(marker)
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	t.Cleanup(func() { _, _ = installer.Control(c, "uninstall") })

	steps := []struct {
		action     string
		want       string // Control's line, as a prefix
		wantStatus string // status after the step
		wantMarker string // the service's marker file after the step; "" to skip
	}{
		{"status", installer.StatusNotInstalled, installer.StatusNotInstalled, ""},
		{"install", "installed service " + testService, installer.StatusStopped, ""},
		{"start", "started service " + testService, installer.StatusRunning, "running"},
		{"stop", "stopped service " + testService, installer.StatusStopped, "stopped"},
		{"uninstall", "uninstalled service " + testService, installer.StatusNotInstalled, ""},
	}
	for _, s := range steps {
		got, err := installer.Control(c, s.action)
		if err != nil {
			t.Fatalf("%s: %v", s.action, err)
		}
		if !strings.HasPrefix(got, s.want) {
			t.Fatalf("%s = %q, want %q", s.action, got, s.want)
		}
		// systemd reports a start or stop done before the process is ready
		// or gone: poll.
		eventually.That(t, fmt.Sprintf("status %q (and marker %q) after %s", s.wantStatus, s.wantMarker, s.action), func() (bool, string) {
			status, err := installer.Control(c, "status")
			b, _ := os.ReadFile(marker)
			mark := string(b)
			return err == nil && status == s.wantStatus && (s.wantMarker == "" || mark == s.wantMarker),
				fmt.Sprintf("status %q, %v; the service wrote %q", status, err, mark)
		})
	}
}
