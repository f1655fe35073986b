package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestAgentLinksNoHubCode: the agent stays small and holds no sync state, so
// it links no hub package and no SQL driver.
func TestAgentLinksNoHubCode(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, goos := range []string{"linux", "windows"} {
		cmd := exec.Command(goBin, "list", "-deps", ".")
		cmd.Env = append(cmd.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps (GOOS=%s): %v", goos, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 50 {
			t.Fatalf("GOOS=%s: only %d dependencies listed: the check would prove nothing", goos, len(deps))
		}
		for _, d := range deps {
			forbidden := strings.HasPrefix(d, "github.com/idsync/idsync/server") ||
				d == "database/sql" || strings.HasPrefix(d, "modernc.org/sqlite") ||
				strings.HasPrefix(d, "github.com/jackc/pgx")
			if forbidden {
				t.Errorf("GOOS=%s: idsync-agent links %s", goos, d)
			}
		}
	}
}
