package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestVersionFlag: a binary built the way `make dist` builds it reports the
// version and commit given to the linker, and the Go version.
func TestVersionFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a go build of idsync-agent: runs without -short (make test)")
	}
	const (
		wantVersion = "v9.8.7-test"
		wantCommit  = "0123456789ab"
	)
	bin := filepath.Join(t.TempDir(), "idsync-agent")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	ldflags := "-X github.com/idsync/idsync/internal/version.Version=" + wantVersion +
		" -X github.com/idsync/idsync/internal/version.Commit=" + wantCommit
	build := exec.Command(goBin, "build", "-trimpath", "-ldflags", ldflags, "-o", bin, ".")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, arg := range []string{"--version", "version"} {
		out, err := exec.Command(bin, arg).Output()
		if err != nil {
			t.Fatalf("idsync-agent %s: %v", arg, err)
		}
		got := strings.TrimSpace(string(out))
		want := "idsync-agent " + wantVersion + " (commit " + wantCommit + ") " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
		if got != want {
			t.Errorf("idsync-agent %s printed %q, want %q", arg, got, want)
		}
	}
}
