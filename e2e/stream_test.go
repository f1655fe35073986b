//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/gendir"
)

// TestStreamBreaksMidRun: an agent killed in the middle of a full import
// fails the run cleanly — nothing swept, nobody deprovisioned — and the next
// run, on a restarted agent, starts afresh and completes.
func TestStreamBreaksMidRun(t *testing.T) {
	const n = 30000
	srv, _ := slapdWith(t, gendir.Options{Flavor: gendir.OpenLDAP, Seed: 17, Users: n, Groups: 50})
	s := newStack(t)
	s.mustCtl("directory", "add", "corp", "--kind", "openldap", "--base-dn", srv.BaseDN, "--capture", "off", "--full-import-interval", "off")
	a := s.startAgent(ldapDirectory("corp", srv))
	s.mustImportFull("corp") // everyone active

	var started runJSON
	s.ctlJSON(&started, "import", "start", "--directory", "corp", "--full")
	eventually.That(t, "the run to see its first entries", func() (bool, string) {
		var r runJSON
		s.ctlJSON(&r, "import", "show", started.ID)
		if r.State != "running" {
			t.Fatalf("run %s ended (%s) before the agent could be killed mid-run; make the directory larger", r.ID, r.State)
		}
		return r.Seen > 0, fmt.Sprintf("%s, %d seen", r.State, r.Seen)
	})
	a.proc.Kill() // kill -9 in the middle of the stream

	var failed runJSON
	eventually.That(t, "the run to end after its agent died", func() (bool, string) {
		s.ctlJSON(&failed, "import", "show", started.ID)
		return failed.State != "running", failed.State
	})
	if failed.State != "failed" || failed.Deprovisioned != 0 || failed.Seen >= n {
		t.Fatalf("run after the agent died: state %s, seen %d, deprovisioned %d; want failed mid-read, nothing deprovisioned",
			failed.State, failed.Seen, failed.Deprovisioned)
	}
	if !strings.Contains(failed.Message, "nothing was swept") {
		t.Errorf("failed run message %q does not say nothing was swept", failed.Message)
	}
	if c := statusCounts(s.users("corp")); c["active"] != n {
		t.Fatalf("after the broken run: %v, want all %d users active", c, n)
	}

	// The agent comes back; the next run starts afresh and completes.
	p, err := devstack.StartAgent(t.Context(), bins, a.config, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(10 * time.Second) })
	s.waitAgentState(a.id, "online")
	r := s.ctl("import", "start", "--directory", "corp", "--full", "--wait", "-o", "json")
	var next runJSON
	if err := json.Unmarshal([]byte(r.Stdout), &next); err != nil || r.Code != 0 {
		t.Fatalf("next run: exit %d, %v: %s %s", r.Code, err, r.Stdout, r.Stderr)
	}
	if next.State != "completed" || next.Seen != n+50 || next.Deprovisioned != 0 {
		t.Fatalf("next run: state %s, seen %d, deprovisioned %d; want completed, %d, 0", next.State, next.Seen, next.Deprovisioned, n+50)
	}
}
