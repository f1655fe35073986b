//go:build linux

package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/gendir"
)

// TestCaptureFailover: two agents serve one directory; the hub leases the
// capture to one (active) and keeps the other standing by. When the active
// one dies, the standby resumes from the stored checkpoint within 15 s, and
// a change made in between is not lost.
func TestCaptureFailover(t *testing.T) {
	t.Run("killed", func(t *testing.T) { testFailover(t, false) })
	// A frozen agent keeps its TCP connection open: only the missing
	// heartbeats tell the hub it is gone.
	t.Run("frozen", func(t *testing.T) { testFailover(t, true) })
}

func testFailover(t *testing.T, freeze bool) {
	srv, gen := slapdWith(t, gendir.Options{Flavor: gendir.OpenLDAP, Seed: 23, Users: 100, Groups: 5})
	s := newStack(t)
	s.mustCtl("directory", "add", "corp", "--kind", "openldap", "--base-dn", srv.BaseDN, "--full-import-interval", "off")
	a1 := s.startAgent(ldapDirectory("corp", srv))
	a2 := s.startAgent(ldapDirectory("corp", srv))
	s.mustImportFull("corp")

	states := func() map[string]string {
		var agents []agentJSON
		s.ctlJSON(&agents, "agent", "list")
		m := map[string]string{}
		for _, a := range agents {
			m[a.ID] = a.State
		}
		return m
	}
	var active, standby *agent
	eventually.That(t, "one agent active, the other standing by", func() (bool, string) {
		st := states()
		switch {
		case st[a1.id] == "active" && st[a2.id] == "standby":
			active, standby = a1, a2
		case st[a2.id] == "active" && st[a1.id] == "standby":
			active, standby = a2, a1
		default:
			return false, st[a1.id] + "/" + st[a2.id]
		}
		return true, ""
	})

	if freeze {
		if err := active.proc.Cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = active.proc.Cmd.Process.Signal(syscall.SIGCONT) })
	} else {
		active.proc.Kill()
	}
	killed := time.Now()
	// A change while nobody captures: the standby must pick it up from the
	// checkpoint.
	if err := srv.Modify(t.Context(), replace(gen.UserDN(7), "title", "Changed During Failover")); err != nil {
		t.Fatal(err)
	}
	eventually.That(t, "the standby to take over", func() (bool, string) {
		var d directoryJSON
		s.ctlJSON(&d, "directory", "show", "corp")
		return d.CaptureStatus != nil && d.CaptureStatus.AgentID == standby.id, fmt.Sprintf("%+v", d.CaptureStatus)
	})
	took := time.Since(killed)
	t.Logf("standby took over %v after the active agent was killed", took.Round(100*time.Millisecond))
	if took > 15*time.Second {
		t.Errorf("failover took %v, want within 15s (3 missed heartbeats of 3s, then the next 2s look)", took)
	}
	eventually.That(t, "the change made during failover", func() (bool, string) {
		u := s.users("corp")[gen.UserUID(7)]
		return u.Title == "Changed During Failover", u.Title
	})
	if st := states(); st[standby.id] != "active" || (!freeze && st[active.id] != "offline") {
		t.Fatalf("after failover: standby %s, killed agent %s; want active, offline", st[standby.id], st[active.id])
	}
}
