//go:build linux

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/gendir"
)

// restartAgent rewrites an agent's config and restarts it; its identity
// (key and certificate) stays.
func (s *stack) restartAgent(a *agent, d devstack.AgentDirectory) {
	s.t.Helper()
	_ = a.proc.Stop(10 * time.Second)
	a.past = append(a.past, a.proc.Out.String())
	if _, err := devstack.WriteAgentConfig(filepath.Dir(a.config), s.hub.GRPCAddr, []devstack.AgentDirectory{d}); err != nil {
		s.t.Fatal(err)
	}
	p, err := devstack.StartAgent(s.root.Context(), bins, a.config, nil, "--log-level", "debug")
	if err != nil {
		s.t.Fatal(err)
	}
	a.proc = p
	s.root.Cleanup(func() { _ = p.Stop(10 * time.Second) })
	s.waitAgentState(a.id, "online")
}

// TestBadInput: each kind of bad input gives one clear error naming what is
// wrong, the rest continues where that is safe, and nobody is deprovisioned.
func TestBadInput(t *testing.T) {
	const n = 50
	srv, gen := slapdWith(t, gendir.Options{Flavor: gendir.OpenLDAP, Seed: 11, Users: n, Groups: 3})
	s := newStack(t)
	s.mustCtl("directory", "add", "corp", "--kind", "openldap", "--base-dn", srv.BaseDN, "--extra", "audio", "--capture", "off", "--full-import-interval", "off")
	good := ldapDirectory("corp", srv)
	a := s.startAgent(good)
	s.mustImportFull("corp")
	baseline := s.users("corp")

	nobodyChanged := func(t *testing.T) {
		t.Helper()
		now := s.users("corp")
		if len(now) != n {
			t.Fatalf("hub holds %d users, want %d", len(now), n)
		}
		for name, u := range baseline {
			if v := now[name]; v.Status != "active" || v.Email != u.Email || v.DN != u.DN {
				t.Fatalf("user %s changed: %+v -> %+v", name, u, v)
			}
		}
	}
	failedRun := func(t *testing.T, wantMsg ...string) runJSON {
		t.Helper()
		run, code := s.importFull("corp")
		if code != 1 || run.State != "failed" {
			t.Fatalf("import: exit %d, state %s (%s); want exit 1, failed", code, run.State, run.Message)
		}
		for _, w := range wantMsg {
			if !strings.Contains(run.Message, w) {
				t.Errorf("run message %q does not contain %q", run.Message, w)
			}
		}
		if run.Deprovisioned != 0 {
			t.Errorf("failed run deprovisioned %d", run.Deprovisioned)
		}
		nobodyChanged(t)
		return run
	}

	t.Run("wrong bind password", func(t *testing.T) {
		pwFile := filepath.Join(filepath.Dir(a.config), "corp.pw")
		if err := os.WriteFile(pwFile, []byte("not-the-password-42\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(pwFile, []byte(srv.BindPassword+"\n"), 0o600)
		run := failedRun(t, srv.BindDN, srv.URL)
		if !strings.Contains(strings.ToLower(run.Message), "credentials") {
			t.Errorf("message %q does not say the credentials were rejected", run.Message)
		}
		if strings.Contains(run.Message, "not-the-password-42") {
			t.Fatal("the run message contains the bind password")
		}
	})

	t.Run("base DN that does not exist", func(t *testing.T) {
		missing := "ou=nowhere," + srv.BaseDN
		s.mustCtl("directory", "update", "corp", "--base-dn", missing)
		defer s.mustCtl("directory", "update", "corp", "--base-dn", srv.BaseDN)
		failedRun(t, missing, "does not exist")
	})

	t.Run("unreachable server", func(t *testing.T) {
		bad := good
		bad.URL = "ldap://127.0.0.1:1"
		s.restartAgent(a, bad)
		defer s.restartAgent(a, good)
		failedRun(t, "ldap://127.0.0.1:1")
	})

	t.Run("bad entries", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		badUTF8 := ldap.NewModifyRequest(gen.UserDN(1), nil)
		badUTF8.Add("audio", []string{"\xff\xfe not text"})
		huge := ldap.NewModifyRequest(gen.UserDN(2), nil)
		huge.Add("audio", []string{strings.Repeat("x", 10<<20)})
		for _, m := range []*ldap.ModifyRequest{badUTF8, huge} {
			if err := srv.Modify(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		noUID := gendir.Entry{DN: "cn=No Uid," + gen.PeopleDN(), Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "inetOrgPerson"}},
			{Name: "cn", Values: []string{"No Uid"}}, {Name: "sn", Values: []string{"Uid"}},
		}}
		if err := srv.Add(ctx, noUID); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = srv.Delete(context.Background(), noUID.DN)
			for _, i := range []int{1, 2} {
				m := ldap.NewModifyRequest(gen.UserDN(i), nil)
				m.Delete("audio", nil)
				_ = srv.Modify(context.Background(), m)
			}
		}()

		run, code := s.importFull("corp")
		if code != 0 || run.State != "completed" {
			t.Fatalf("import with bad entries: exit %d, state %s (%s); want completed", code, run.State, run.Message)
		}
		if run.Errors != 3 || run.Deprovisioned != 0 {
			t.Fatalf("errors %d, deprovisioned %d; want 3 errors, 0 deprovisioned", run.Errors, run.Deprovisioned)
		}
		var shown runJSON
		s.ctlJSON(&shown, "import", "show", run.ID)
		want := map[string]string{gen.UserDN(1): "UTF-8", gen.UserDN(2): "audio", noUID.DN: "username"}
		for _, e := range shown.ErrorSamples {
			w, ok := want[e.DN]
			if !ok {
				t.Errorf("unexpected entry error %s: %s", e.DN, e.Message)
				continue
			}
			if !strings.Contains(e.Message, w) {
				t.Errorf("error for %s = %q, want it to mention %q", e.DN, e.Message, w)
			}
			delete(want, e.DN)
		}
		for dn := range want {
			t.Errorf("no entry error names %s", dn)
		}
		nobodyChanged(t)
	})

	t.Run("malformed agent config", func(t *testing.T) {
		dir := t.TempDir()
		cases := []struct{ name, yaml, want string }{
			{"unknown field", "version: 1\nhub: 127.0.0.1:7443\nhubb: x\ndirectories:\n  - name: corp\n    url: ldap://x\n", "hubb"},
			{"wrong scheme", "version: 1\nhub: 127.0.0.1:7443\ndirectories:\n  - name: corp\n    url: http://x\n", "directories[0].url"},
			{"no hub", "version: 1\ndirectories:\n  - name: corp\n    url: ldap://x\n", "hub"},
			{"wrong version", "version: 2\nhub: 127.0.0.1:7443\ndirectories:\n  - name: corp\n    url: ldap://x\n", "version"},
		}
		for _, c := range cases {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".yaml")
			if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			p, err := devstack.StartAgent(t.Context(), bins, path, nil)
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-p.Done():
			case <-time.After(30 * time.Second):
				p.Kill()
				t.Fatalf("%s: agent did not exit on a malformed config", c.name)
			}
			out := p.Out.String()
			if p.Err() == nil || !strings.Contains(out, path) || !strings.Contains(out, c.want) {
				t.Errorf("%s: exit %v, output %q; want a failure naming %s and %q", c.name, p.Err(), out, path, c.want)
			}
		}
	})

	t.Run("config names a directory the agent was not enrolled for", func(t *testing.T) {
		other := good
		other.Name = "elsewhere"
		s.restartAgent(a, other)
		eventually.That(t, "the agent to say it serves none of its config's directories", func() (bool, string) {
			out := a.proc.Out.String()
			return strings.Contains(out, "the hub gives this agent none of these directories of its config") &&
				strings.Contains(out, "not_served=[elsewhere]"), out
		})
		s.restartAgent(a, good)
	})

	// No secret in any log line.
	for name, log := range map[string]string{"hub": s.hub.Out.String(), "agent": a.logs()} {
		for _, secret := range []string{srv.BindPassword, "not-the-password-42"} {
			if strings.Contains(log, secret) {
				t.Errorf("the %s log contains a bind password", name)
			}
		}
	}
}

func replace(dn, attr string, values ...string) *ldap.ModifyRequest {
	m := ldap.NewModifyRequest(dn, nil)
	m.Replace(attr, values)
	return m
}
