//go:build linux

package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/gendir"
)

// TestEnrollment: tokens are single use and expire; certificates the hub did
// not issue, and revoked ones, are refused — each with a clear error.
func TestEnrollment(t *testing.T) {
	srv, _ := slapdWith(t, gendir.Options{Flavor: gendir.OpenLDAP, Seed: 5, Users: 10, Groups: 1})
	s := newStack(t)
	s.mustCtl("directory", "add", "corp", "--kind", "openldap", "--base-dn", srv.BaseDN, "--capture", "off", "--full-import-interval", "off")
	d := ldapDirectory("corp", srv)

	newConfig := func(t *testing.T, hub string) string {
		t.Helper()
		config, err := devstack.WriteAgentConfig(t.TempDir(), hub, []devstack.AgentDirectory{d})
		if err != nil {
			t.Fatal(err)
		}
		return config
	}
	token := func() string { return strings.TrimSpace(s.mustCtl("agent", "token", "--directory", "corp")) }

	s.run("token is printed alone", func(t *testing.T) {
		tok := token()
		if strings.ContainsAny(tok, " \n") || !strings.HasPrefix(tok, "idse1.") {
			t.Fatalf("agent token printed %q, want one token alone", tok)
		}
	})

	s.run("reused token", func(t *testing.T) {
		tok := token()
		if _, err := devstack.Enroll(t.Context(), bins, newConfig(t, s.hub.GRPCAddr), s.hub.GRPCAddr, tok); err != nil {
			t.Fatalf("first use: %v", err)
		}
		_, err := devstack.Enroll(t.Context(), bins, newConfig(t, s.hub.GRPCAddr), s.hub.GRPCAddr, tok)
		if err == nil || !strings.Contains(err.Error(), "already used") {
			t.Fatalf("second use: %v; want an error saying the token was already used", err)
		}
	})

	s.run("expired token", func(t *testing.T) {
		tok := strings.TrimSpace(s.mustCtl("agent", "token", "--directory", "corp", "--ttl", "1s"))
		// The hub logs the token's expiry (to the millisecond): wait until
		// this machine's clock, the hub's, has passed it.
		m := regexp.MustCompile(`msg="enrolment token created" .*expires=(\S+)`).FindAllStringSubmatch(s.hub.Out.String(), -1)
		if len(m) == 0 {
			t.Fatal("the hub's log does not say when the token expires")
		}
		expires, err := time.Parse(time.RFC3339, m[len(m)-1][1])
		if err != nil {
			t.Fatal(err)
		}
		eventually.That(t, "the token's expiry", func() (bool, string) {
			return time.Now().After(expires.Add(time.Millisecond)), "expires at " + expires.String()
		})
		_, err = devstack.Enroll(t.Context(), bins, newConfig(t, s.hub.GRPCAddr), s.hub.GRPCAddr, tok)
		if err == nil || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("expired token: %v; want an error saying it expired", err)
		}
	})

	s.run("token of another hub", func(t *testing.T) {
		other := newStack(t)
		other.mustCtl("directory", "add", "corp", "--kind", "openldap", "--base-dn", srv.BaseDN, "--capture", "off", "--full-import-interval", "off")
		tok := strings.TrimSpace(other.mustCtl("agent", "token", "--directory", "corp"))
		// The token pins the other hub's CA: enrolling with this hub must fail
		// before anything is sent.
		_, err := devstack.Enroll(t.Context(), bins, newConfig(t, s.hub.GRPCAddr), s.hub.GRPCAddr, tok)
		if err == nil || !strings.Contains(err.Error(), "fingerprint") {
			t.Fatalf("enrolling with a hub whose CA the token does not pin: %v; want a fingerprint mismatch", err)
		}
	})

	s.run("unknown certificate", func(t *testing.T) {
		// An agent enrolled with another hub presents a certificate this hub
		// never issued, while trusting this hub's CA.
		other := newStack(t)
		other.mustCtl("directory", "add", "corp", "--kind", "openldap", "--base-dn", srv.BaseDN, "--capture", "off", "--full-import-interval", "off")
		config := newConfig(t, other.hub.GRPCAddr)
		tok := strings.TrimSpace(other.mustCtl("agent", "token", "--directory", "corp"))
		if _, err := devstack.Enroll(t.Context(), bins, config, other.hub.GRPCAddr, tok); err != nil {
			t.Fatal(err)
		}
		config = retarget(t, config, s.hub.GRPCAddr)
		ca, err := os.ReadFile(filepath.Join(s.hub.DataDir, "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(filepath.Dir(config), "hub-ca.crt"), ca, 0o600); err != nil {
			t.Fatal(err)
		}
		out := runAgentUntilExit(t, config)
		if !strings.Contains(out, "certificate") {
			t.Fatalf("agent with a foreign certificate: output %q; want a clear certificate refusal", out)
		}
	})

	s.run("revoked agent", func(t *testing.T) {
		a := s.startAgent(d)
		s.mustCtl("agent", "revoke", a.id)
		// The stream ends at once on this hub; the bound is a wait, not a
		// measure (speed belongs in benchmarks).
		select {
		case <-a.proc.Done():
		case <-time.After(30 * time.Second):
			t.Fatal("revoked agent still running 30s after revoke")
		}
		if !strings.Contains(a.proc.Out.String(), "revoked") {
			t.Errorf("agent output does not say it was revoked:\n%s", tailLines(a.proc.Out.String(), 10))
		}
		s.waitAgentState(a.id, "revoked")
		// Starting it again is refused at once.
		out := runAgentUntilExit(t, a.config)
		if !strings.Contains(out, "revoked") {
			t.Fatalf("restarted revoked agent: %q; want a refusal saying it was revoked", out)
		}
	})
}

// retarget rewrites the hub address of an agent config.
func retarget(t *testing.T, config, hub string) string {
	t.Helper()
	b, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "hub: ") {
			lines[i] = "hub: " + hub
		}
	}
	if err := os.WriteFile(config, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return config
}

// runAgentUntilExit runs an agent that must stop on its own within 30s and
// returns its output.
func runAgentUntilExit(t *testing.T, config string) string {
	t.Helper()
	p, err := devstack.StartAgent(t.Context(), bins, config, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		p.Kill()
		t.Fatalf("agent did not exit; output:\n%s", p.Out.String())
	}
	if p.Err() == nil {
		t.Fatalf("agent exited 0; want a failure. Output:\n%s", p.Out.String())
	}
	return p.Out.String()
}
