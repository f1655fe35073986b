//go:build linux

package e2e

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestWindowsBuild: the three commands cross-compile for Windows without cgo
// (the agent runs as a Windows service next to AD).
func TestWindowsBuild(t *testing.T) {
	root := t.TempDir()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goBin, "build", "-o", root+string(filepath.Separator),
		"./cmd/idsync-agent", "./cmd/idsync-hub", "./cmd/idsyncctl")
	cmd.Dir = ".."
	cmd.Env = append(cmd.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=windows go build: %v\n%s", err, out)
	}
	for _, exe := range []string{"idsync-agent.exe", "idsync-hub.exe", "idsyncctl.exe"} {
		if _, err := exec.LookPath(filepath.Join(root, exe)); err != nil {
			// LookPath on a .exe under Linux checks only existence and mode.
			if m, serr := filepath.Glob(filepath.Join(root, exe)); serr != nil || len(m) == 0 {
				t.Errorf("%s was not built", exe)
			}
		}
	}
}
