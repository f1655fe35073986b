//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/devstack"
)

// TestSecretsNeverLeak runs a whole scenario — a captured directory bound
// with a password, a second agent enrolled with a token, admin tokens of
// several roles, a SCIM app with its token, pushes, reports, the audit
// trail, /metrics — and scans every log line, every idsyncctl output, the
// audit trail and every hub file for every secret used (checkNoSecrets).
// It also checks the trail holds the admin actions and the agents' stream
// events, and that a read-only token changes nothing.
func TestSecretsNeverLeak(t *testing.T) {
	p := newProvEnv(t, 8, 4)
	ctx := t.Context()
	// Outputs meant to show a secret once are run outside the transcript.
	secretOut := func(args ...string) string {
		t := p.s.t
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		r := p.s.hub.Ctl(cctx, args...)
		if r.Code != 0 {
			t.Fatalf("idsyncctl %s: exit %d: %s", strings.Join(args, " "), r.Code, r.Stderr)
		}
		p.s.transcript.Write([]byte(r.Stderr))
		return strings.TrimSpace(r.Stdout)
	}
	p.addApp("crm")
	appAdmin := secretOut("admin", "token", "create", "--name", "crm-team", "--role", "app-admin", "--apps", "crm")
	reader := secretOut("admin", "token", "create", "--name", "auditor", "--role", "read-only")
	enroll := secretOut("agent", "token", "--directory", p.name)
	p.secrets["the app-admin token"] = appAdmin
	p.secrets["the read-only token"] = reader
	p.secrets["the enrolment token"] = enroll
	var standby *devstack.Proc // the second agent
	defer func() {
		if standby != nil {
			standby.Stop(10 * time.Second)
		}
	}()
	var events []struct{ Actor, Action, Target, Outcome, Detail string } // the audit trail

	p.s.step("an enrolment token enrols one agent", func(t *testing.T) {
		// A second agent for the directory, enrolled with that token.
		dir := filepath.Join(p.s.dir, "agent-standby")
		config, err := devstack.WriteAgentConfig(dir, p.s.hub.GRPCAddr, []devstack.AgentDirectory{ldapDirectory(p.name, p.slapd)})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := devstack.Enroll(ctx, bins, config, p.s.hub.GRPCAddr, enroll); err != nil {
			t.Fatalf("enrolling: %v: %s", err, out)
		} else {
			p.s.transcript.Write([]byte(out))
		}
		// The token is spent: a second use is refused, and audited.
		thief, err := devstack.WriteAgentConfig(filepath.Join(p.s.dir, "agent-thief"), p.s.hub.GRPCAddr,
			[]devstack.AgentDirectory{ldapDirectory(p.name, p.slapd)})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := devstack.Enroll(ctx, bins, thief, p.s.hub.GRPCAddr, enroll); err == nil {
			t.Errorf("a replayed enrolment token enrolled an agent: %s", out)
		} else {
			p.s.transcript.Write([]byte(out))
		}
		standby, err = devstack.StartAgent(ctx, bins, config, nil, "--log-level", "debug")
		if err != nil {
			t.Fatal(err)
		}
	})
	p.s.step("the app-admin's pushes reach the app", func(t *testing.T) {
		// The app-admin changes and assigns the app; pushes reach it.
		p.s.mustCtl(append([]string{"app", "update", "crm", "--token-file", p.secretFile("crm-again.token", p.token)}, p.s.as(appAdmin)...)...)
		ms := p.assignGroupAs("crm", appAdmin)
		if len(ms) == 0 {
			t.Fatal("nobody pushed")
		}
	})
	p.s.step("the read-only token changes nothing", func(t *testing.T) {
		// The read-only token reads everything and changes nothing.
		for _, args := range [][]string{{"report", "users"}, {"report", "app-usage"}, {"report", "failed-pushes"},
			{"report", "pending-deprovisions"}, {"report", "imports"}, {"report", "agents"},
			{"audit", "list", "-o", "csv"}, {"admin", "token", "list"}, {"user", "list"}, {"app", "show", "crm"}} {
			p.s.mustCtl(append(args, p.s.as(reader)...)...)
		}
		if r := p.s.ctl(append([]string{"app", "remove", "crm"}, p.s.as(reader)...)...); r.Code == 0 || !strings.Contains(r.Stderr, "permission apps.write missing") {
			t.Errorf("read-only app remove: exit %d, %q; want a refusal naming apps.write", r.Code, r.Stderr)
		}
		var users []map[string]any
		p.s.ctlJSON(&users, append([]string{"report", "users"}, p.s.as(reader)...)...)
		if len(users) != 1 || users[0]["directory"] != p.name || users[0]["active"] != "8" {
			t.Errorf("report users = %v, want %s with 8 active", users, p.name)
		}
	})
	p.s.step("the audit trail", func(t *testing.T) {
		// The trail: admin actions by name, both agents' streams, the refusals.
		p.s.ctlJSON(&events, "audit", "list", "--limit", "100000")
		has := func(actor, action, target string) bool {
			return slices.ContainsFunc(events, func(e struct{ Actor, Action, Target, Outcome, Detail string }) bool {
				return strings.HasPrefix(e.Actor, actor) && e.Action == action && strings.HasPrefix(e.Target, target)
			})
		}
		for _, c := range []struct{ actor, action, target string }{
			{"admin:bootstrap", "admin.token.create", "admin:crm-team"},
			{"admin:bootstrap", "app.create", "app:crm"},
			{"admin:crm-team", "app.update", "app:crm"},
			{"admin:crm-team", "app.assign", "app:crm"},
			{"admin:bootstrap", "directory.create", "directory:" + p.name},
			{"", "agent.enroll", "agent:"},
			{"agent:" + p.a.id, "agent.connect", "agent:" + p.a.id},
			{"run:", "user.created", "user:"},
			{"hub", "push.succeeded", "app:crm"},
			{"admin:auditor", "request.refused", "/idsync.v1.AppService/DeleteApp"},
			{"unauthenticated", "request.refused", "/idsync.v1.AgentService/Enroll"},
		} {
			if !has(c.actor, c.action, c.target) {
				t.Errorf("audit trail has no %s by %s on %s", c.action, c.actor, c.target)
			}
		}
	})
	p.s.step("metrics", func(t *testing.T) {
		// Metrics carry no secret either.
		resp, err := http.Get("http://" + p.s.hub.HTTPAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		p.s.transcript.Write(body)
		p.hubLogs = append(p.hubLogs, standby.Out.String())
		b, _ := json.Marshal(events)
		p.s.transcript.Write(b)
	})
}
