//go:build linux

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/scimtest"
	"github.com/idsync/idsync/ldapsync"
)

// The provisioning tests (issue 4) drive the real binaries: a slapd
// directory captured by an agent (syncrepl) into a hub, which pushes the
// members of an assigned group to a SCIM 2.0 app (internal/scimtest) as
// idsyncctl tells it. Every test ends by checking that no log and no
// idsyncctl output holds a secret, and that the hub stores none in clear
// (checkNoSecrets, a cleanup of newProvEnv).

// pushArgs make the hub's push queue retry quickly, so tests stay short.
var pushArgs = []string{"--push-poll-interval", "200ms", "--push-min-backoff", "200ms", "--push-max-backoff", "2s"}

// provEnv is a captured directory, a hub and a SCIM app.
type provEnv struct {
	*faultEnv
	gen  *gendir.Generator
	scim *scimtest.Server
	// token is the bearer token the app is added with.
	token string
	// secrets are what no log or output may hold, by what they are.
	secrets map[string]string
	// hubLogs are the logs of hub processes that were killed.
	hubLogs []string
}

// newProvEnv starts a slapd of users, members of whom are in one group
// (gen's group 0), a hub capturing it (with pushArgs and hubArgs), and a
// SCIM app server.
func newProvEnv(t *testing.T, users, members int, hubArgs ...string) *provEnv {
	t.Helper()
	srv, gen := slapdWith(t, gendir.Options{Flavor: gendir.OpenLDAP, Seed: 43, Users: users, Groups: 1,
		GroupSize: func(int) int { return members }})
	token := "scim-" + rand.Text()
	e := &faultEnv{s: newStack(t, append(slices.Clone(pushArgs), hubArgs...)...), name: "corp", kind: ldapsync.KindOpenLDAP, ep: &srv.Endpoint,
		base: srv.BaseDN, slapd: srv}
	e.s.mustCtl("directory", "add", e.name, "--kind", "openldap", "--base-dn", srv.BaseDN, "--full-import-interval", "off")
	e.a = e.s.startAgent(ldapDirectory(e.name, srv))
	e.startCapture("syncrepl")
	p := &provEnv{faultEnv: e, gen: gen, scim: scimtest.Start(t, scimtest.Options{Token: token}), token: token,
		secrets: map[string]string{"the SCIM token": token, "the LDAP bind password": srv.BindPassword}}
	// Cleanups run last first: these before the hub and agent stop.
	t.Cleanup(p.checkNoSecrets)
	t.Cleanup(func() {
		if t.Failed() { // the test's context is done by now
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r := p.s.hub.Ctl(ctx, "push", "list")
			t.Logf("push list:\n%s%s", r.Stdout, r.Stderr)
		}
	})
	return p
}

// secretFile writes a secret to a 0600 file and returns its path.
func (p *provEnv) secretFile(name, secret string) string {
	p.s.t.Helper()
	path := filepath.Join(p.s.dir, name)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		p.s.t.Fatal(err)
	}
	return path
}

// addApp adds the SCIM app as name, with extra flags.
func (p *provEnv) addApp(name string, extra ...string) {
	p.s.t.Helper()
	p.s.mustCtl(append([]string{"app", "add", name, "--scim-url", p.scim.URL, "--auth", "bearer",
		"--token-file", p.secretFile(name+".token", p.token), localApp[0], localApp[1]}, extra...)...)
}

// member is a member of group 0 as the directory, the hub and the app
// know it.
type member struct {
	uid, dn, mail   string
	hubID, hubTitle string
}

// members returns group 0's members, with their hub ids.
func (p *provEnv) members() []member {
	p.s.t.Helper()
	hub := p.s.users(p.name)
	var out []member
	for _, i := range p.gen.GroupMembers(0) {
		u, ok := hub[p.gen.UserUID(i)]
		if !ok {
			p.s.t.Fatalf("the hub has no user %s", p.gen.UserUID(i))
		}
		out = append(out, member{uid: u.Username, dn: p.gen.UserDN(i), mail: p.gen.User(i).Get("mail")[0],
			hubID: u.ID, hubTitle: u.Title})
	}
	return out
}

// assignGroup assigns group 0 to app and waits until the app holds every
// member, active.
func (p *provEnv) assignGroup(app string) []member {
	p.s.t.Helper()
	return p.assignGroupAs(app, "")
}

// assignGroupAs is assignGroup with an admin token ("": admin.conf's).
func (p *provEnv) assignGroupAs(app, token string) []member {
	p.s.t.Helper()
	args := []string{"app", "assign", app, "--group", p.gen.GroupCN(0)}
	if token != "" {
		args = append(args, p.s.as(token)...)
	}
	p.s.mustCtl(args...)
	ms := p.members()
	for _, m := range ms {
		p.waitRemote(m.mail, "created and active", func(r map[string]any) bool { return r["active"] == true })
	}
	return ms
}

// assignSlowly makes the app answer every request after latency, assigns
// group 0 to crm and waits until the app holds created accounts: pushes
// are then queued and in flight. ClearFaults ends the latency.
func (p *provEnv) assignSlowly(latency time.Duration, created int) {
	p.s.t.Helper()
	p.scim.Inject(scimtest.Fault{Latency: latency, Times: -1})
	p.s.mustCtl("app", "assign", "crm", "--group", p.gen.GroupCN(0))
	eventually.That(p.s.t, "the first accounts created", func() (bool, string) {
		c := p.scim.UserCount()
		return c >= created, fmt.Sprint(c)
	})
}

// waitRemote waits until the app holds userName and cond holds for it, and
// returns it.
func (p *provEnv) waitRemote(userName, what string, cond func(map[string]any) bool) map[string]any {
	p.s.t.Helper()
	var r map[string]any
	eventually.That(p.s.t, userName+" "+what+" in the app", func() (bool, string) {
		var ok bool
		r, ok = p.scim.UserByName(userName)
		return ok && cond(r), fmt.Sprint(r)
	})
	return r
}

// app returns `app show -o json`.
func (p *provEnv) app(name string) appJSON {
	p.s.t.Helper()
	var a appJSON
	p.s.ctlJSON(&a, "app", "show", name)
	return a
}

// killHub kills the hub with SIGKILL, keeping its log.
func (p *provEnv) killHub() {
	p.s.hub.Kill()
	p.hubLogs = append(p.hubLogs, p.s.hub.Out.String())
}

// checkNoSecrets checks every log, every idsyncctl output and the hub's data
// dir (credentials are encrypted at rest) for each secret.
func (p *provEnv) checkNoSecrets() {
	p.s.t.Helper()
	texts := map[string]string{
		"the hub's log":       strings.Join(append(p.hubLogs, p.s.hub.Out.String()), ""),
		"the agent's log":     p.a.logs(),
		"idsyncctl's outputs": p.s.transcript.String(),
	}
	for what, text := range texts {
		if text == "" {
			p.s.t.Errorf("%s is empty: nothing to check", what)
		}
	}
	err := filepath.WalkDir(p.s.hub.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		texts["the hub's file "+path] = string(b)
		return err
	})
	if err != nil {
		p.s.t.Errorf("reading the hub's data dir: %v", err)
	}
	for what, text := range texts {
		for name, secret := range p.secrets {
			if strings.Contains(text, secret) {
				p.s.t.Errorf("%s holds %s", what, name)
			}
		}
	}
}

// appJSON is `idsyncctl app show -o json`, the fields these tests read.
type appJSON struct {
	Status        string            `json:"status"`
	StatusMessage string            `json:"status_message"`
	Accounts      map[string]uint64 `json:"accounts"`
	Queue         map[string]uint64 `json:"queue"`
}

// idle says whether an app has no job queued or running.
func (a appJSON) idle() bool { return a.Queue["queued"]+a.Queue["running"] == 0 }

type pushJSON struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Target    string `json:"target"`
	State     string `json:"state"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error"`
}

type taskJSON struct {
	ID         string `json:"id"`
	App        string `json:"app"`
	User       string `json:"user"`
	Kind       string `json:"kind"`
	State      string `json:"state"`
	Detail     string `json:"detail"`
	ResolvedBy string `json:"resolved_by"`
	Note       string `json:"note"`
}

// attr reads a nested attribute of a SCIM resource as a string.
func attr(r map[string]any, path ...string) string {
	var v any = r
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	s, _ := v.(string)
	return s
}

// workEmail is the value of a SCIM user's work email.
func workEmail(r map[string]any) string {
	list, _ := r["emails"].([]any)
	for _, e := range list {
		if m, ok := e.(map[string]any); ok && m["type"] == "work" {
			s, _ := m["value"].(string)
			return s
		}
	}
	return ""
}

// TestProvisionJustInTime: a group assigned to an app is created in it with
// the mapped attributes; an LDAP change reaches the app at once through
// syncrepl and the push queue; leaving the group deactivates the account;
// preview prints the exact body of a pending push.
func TestProvisionJustInTime(t *testing.T) {
	p := newProvEnv(t, 6, 4)
	p.addApp("crm")
	var ms []member // group 0's members

	p.s.step("app test reads the app", func(t *testing.T) {
		out := p.s.mustCtl("app", "test", "crm")
		for _, want := range []string{`(?m)^patch:\s+yes$`, `(?m)^filter:\s+yes\b`, `(?m)^problems:\s+none$`} {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("app test crm does not match %s:\n%s", want, out)
			}
		}
	})
	p.s.step("the group's accounts are created, mapped", func(t *testing.T) {
		// app test records the app's PATCH support, a settings change: the
		// hub restarts the app's workers, which delays no push in flight
		// (TestProvisionSettingsChangeInFlight).
		ms = p.assignGroup("crm")
		hub := p.s.users(p.name)
		for _, m := range ms {
			r, _ := p.scim.UserByName(m.mail)
			u := hub[m.uid]
			checks := []struct{ field, got, want string }{
				{"userName", attr(r, "userName"), m.mail},
				{"externalId", attr(r, "externalId"), m.hubID},
				{"active", fmt.Sprint(r["active"]), "true"},
				{"name.givenName", attr(r, "name", "givenName"), u.GivenName},
				{"name.familyName", attr(r, "name", "familyName"), u.FamilyName},
				{"displayName", attr(r, "displayName"), u.DisplayName},
				{"emails[work]", workEmail(r), m.mail},
				{"title", attr(r, "title"), u.Title},
				{"employeeNumber", attr(r, scimtest.EnterpriseSchema, "employeeNumber"), u.EmployeeNumber},
			}
			for _, c := range checks {
				if c.got != c.want || c.want == "" {
					t.Errorf("%s in the app: %s = %q, want %q", m.uid, c.field, c.got, c.want)
				}
			}
		}
		if n := p.scim.UserCount(); n != len(ms) {
			t.Errorf("the app holds %d users, want the group's %d", n, len(ms))
		}
	})
	p.s.step("an LDAP modify reaches the app at once", func(t *testing.T) {
		// Just in time: an LDAP modify reaches the app.
		start := time.Now()
		if err := p.ep.Modify(t.Context(), replace(ms[0].dn, "title", "Chief Sync Officer")); err != nil {
			t.Fatal(err)
		}
		p.waitRemote(ms[0].mail, "with the new title", func(r map[string]any) bool { return attr(r, "title") == "Chief Sync Officer" })
		t.Logf("an LDAP modify reached the SCIM app in %v", time.Since(start).Round(time.Millisecond))
	})
	p.s.step("leaving the group deactivates the account", func(t *testing.T) {
		// Leaving the group deactivates the account.
		leave := ldap.NewModifyRequest(p.gen.GroupDN(0), nil)
		leave.Delete(p.gen.MemberAttr(0), []string{ms[1].dn})
		start := time.Now()
		if err := p.ep.Modify(t.Context(), leave); err != nil {
			t.Fatal(err)
		}
		p.waitRemote(ms[1].mail, "deactivated", func(r map[string]any) bool { return r["active"] == false })
		t.Logf("leaving the group deactivated the account in %v", time.Since(start).Round(time.Millisecond))
	})
	p.s.step("preview prints the request a change waits with", func(t *testing.T) {
		// With the app down, a change waits; preview prints its exact request.
		p.scim.Down()
		if err := p.ep.Modify(t.Context(), replace(ms[2].dn, "title", "Preview Officer")); err != nil {
			t.Fatal(err)
		}
		eventually.That(t, "the new title in the hub", func() (bool, string) {
			u := p.s.users(p.name)[ms[2].uid]
			return u.Title == "Preview Officer", u.Title
		})
		remote, _ := p.scim.UserByName(ms[2].mail)
		out := p.s.mustCtl("app", "preview", "crm", "--user", ms[2].uid)
		t.Logf("app preview crm --user %s:\n%s", ms[2].uid, out)
		head, body, _ := strings.Cut(out, "\n\n")
		for _, want := range []string{`(?m)^action:\s+update$`, `(?m)^request:\s+PATCH /Users/` + regexp.QuoteMeta(attr(remote, "id")) + `$`} {
			if !regexp.MustCompile(want).MatchString(head) {
				t.Errorf("app preview does not match %s:\n%s", want, out)
			}
		}
		var got, want any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Errorf("app preview body: %v:\n%s", err, out)
		}
		_ = json.Unmarshal([]byte(`{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations": [{"op": "replace", "path": "title", "value": "Preview Officer"}]}`), &want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("app preview body = %v, want %v", got, want)
		}
		if err := p.scim.Up(); err != nil {
			t.Fatal(err)
		}
		p.waitRemote(ms[2].mail, "with the title previewed", func(r map[string]any) bool { return attr(r, "title") == "Preview Officer" })
	})
	p.s.step("the accounts counted", func(t *testing.T) {
		eventually.That(t, "the queue idle", func() (bool, string) { a := p.app("crm"); return a.idle(), fmt.Sprint(a.Queue) })
		out := p.s.mustCtl("app", "show", "crm")
		wantAccounts := fmt.Sprintf(`(?m)^accounts:\s+active %d, deactivated 1$`, len(ms)-1)
		if !regexp.MustCompile(wantAccounts).MatchString(out) {
			t.Errorf("app show crm does not match %s:\n%s", wantAccounts, out)
		}
	})
}

// TestProvisionHubRestart: a hub killed with SIGKILL while a group's pushes
// are queued and in flight delivers them all after a restart, none twice,
// and a change to a user whose push was in flight at the kill is pushed at
// once, not when the dead process's claim on the job runs out.
func TestProvisionHubRestart(t *testing.T) {
	const n = 50
	p := newProvEnv(t, n, n)
	p.addApp("crm")
	var atKill int  // accounts created at the kill
	var ms []member // group 0's members

	p.s.step("the hub killed with pushes in flight", func(t *testing.T) {
		p.assignSlowly(150*time.Millisecond, 5)
		p.killHub()
		atKill = p.scim.UserCount()
		if atKill >= n {
			t.Fatalf("all %d accounts were created before the kill: nothing was queued", atKill)
		}
		p.scim.ClearFaults()
	})
	p.s.step("every account created after a restart, once", func(t *testing.T) {
		start := time.Now()
		if err := p.s.hub.Restart(p.s.root.Context()); err != nil {
			t.Fatalf("restarting the hub: %v", err)
		}
		eventually.Within(t, 20*time.Second, "every account created", func() (bool, string) {
			c := p.scim.UserCount()
			if c == n {
				return true, ""
			}
			return false, fmt.Sprintf("%d accounts; jobs not done: %v", c, p.pendingJobs())
		})
		t.Logf("%d of %d accounts created at the kill; all %v after the restart", atKill, n, time.Since(start).Round(time.Millisecond))
		ms = p.members()
		p.checkOnePerUser(ms)
	})
	p.s.step("a change to a push in flight at the kill goes at once", func(t *testing.T) {
		// The pushes the killed hub had in flight are still claimed by it.
		var jobs []pushJSON
		p.s.ctlJSON(&jobs, "push", "list")
		changed := ms[len(ms)-1]
		for _, j := range jobs {
			if j.State == "running" && j.Kind == "user" {
				for _, m := range ms {
					if m.uid == j.Target {
						changed = m
					}
				}
				break
			}
		}
		t.Logf("changing %s, whose push was in flight at the kill: %v", changed.uid, changed.uid != ms[len(ms)-1].uid)
		if err := p.ep.Modify(t.Context(), replace(changed.dn, "title", "After The Restart")); err != nil {
			t.Fatal(err)
		}
		took := eventually.Within(t, 20*time.Second, "a change to "+changed.uid+" pushed after the restart", func() (bool, string) {
			r, _ := p.scim.UserByName(changed.mail)
			if attr(r, "title") == "After The Restart" {
				return true, ""
			}
			return false, fmt.Sprintf("title %q in the app; jobs not done: %v", attr(r, "title"), p.pendingJobs())
		})
		t.Logf("the change reached the app in %v", took.Round(time.Millisecond))
		eventually.Within(t, 20*time.Second, "the queue idle", func() (bool, string) { a := p.app("crm"); return a.idle(), fmt.Sprint(a.Queue) })
		p.checkOnePerUser(ms)
		if a := p.app("crm"); a.Accounts["active"] != n || a.Queue["dead"] != 0 {
			t.Errorf("app show: accounts %v, queue %v; want %d active, none dead", a.Accounts, a.Queue, n)
		}
	})
}

// pendingJobs describes the push jobs that are not done.
func (p *provEnv) pendingJobs() []string {
	var jobs []pushJSON
	p.s.ctlJSON(&jobs, "push", "list")
	var out []string
	for _, j := range jobs {
		if j.State != "done" {
			out = append(out, fmt.Sprintf("job %s %s %s: %s, %d attempts", j.ID, j.Kind, j.Target, j.State, j.Attempts))
		}
	}
	return out
}

// checkOnePerUser checks that the app holds exactly one active account per
// member, by userName and by externalId (the member's hub id).
func (p *provEnv) checkOnePerUser(ms []member) {
	p.s.t.Helper()
	want := map[string]string{} // userName → externalId
	for _, m := range ms {
		want[strings.ToLower(m.mail)] = m.hubID
	}
	byName, byExternal := map[string]int{}, map[string]int{}
	for _, r := range p.scim.Users() {
		name, ext := strings.ToLower(attr(r, "userName")), attr(r, "externalId")
		byName[name]++
		byExternal[ext]++
		if want[name] != ext || r["active"] != true {
			p.s.t.Errorf("the app holds %s (externalId %s, active %v), want externalId %q, active", name, ext, r["active"], want[name])
		}
	}
	for what, counts := range map[string]map[string]int{"userName": byName, "externalId": byExternal} {
		for k, c := range counts {
			if c != 1 {
				p.s.t.Errorf("the app holds %d users with %s %s, want 1", c, what, k)
			}
		}
	}
	if len(byName) != len(ms) {
		p.s.t.Errorf("the app holds %d userNames, want the %d members", len(byName), len(ms))
	}
}

// TestProvisionUnauthorizedPauses: a 401 pauses the app with a status
// naming it and how to resume; new credentials resume it and what was
// queued meanwhile is delivered.
func TestProvisionUnauthorizedPauses(t *testing.T) {
	p := newProvEnv(t, 4, 3)
	p.addApp("crm")
	ms := p.assignGroup("crm")

	newToken := "scim-" + rand.Text()
	p.secrets["the new SCIM token"] = newToken

	p.s.step("a 401 pauses the app", func(t *testing.T) {
		// A server without tokens is open: accept the new one before revoking.
		p.scim.AddToken(newToken)
		p.scim.RevokeToken(p.token)
		if err := p.ep.Modify(t.Context(), replace(ms[0].dn, "title", "Paused Title A")); err != nil {
			t.Fatal(err)
		}
		var a appJSON
		eventually.That(t, "the app paused", func() (bool, string) { a = p.app("crm"); return a.Status == "paused", a.Status })
		if !strings.Contains(a.StatusMessage, "401") || !strings.Contains(a.StatusMessage, "app update") {
			t.Errorf("status message %q: want it to name 401 and `app update`", a.StatusMessage)
		}
		if out := p.s.mustCtl("app", "show", "crm"); !regexp.MustCompile(`(?m)^status:\s+paused: .*401`).MatchString(out) {
			t.Errorf("app show crm does not say paused with 401:\n%s", out)
		}
	})
	p.s.step("a change made while paused waits", func(t *testing.T) {
		// A change while paused waits, sending nothing.
		if err := p.ep.Modify(t.Context(), replace(ms[1].dn, "title", "Paused Title B")); err != nil {
			t.Fatal(err)
		}
		eventually.That(t, "the second title in the hub", func() (bool, string) {
			u := p.s.users(p.name)[ms[1].uid]
			return u.Title == "Paused Title B", u.Title
		})
		sent := p.scim.Requests("", "/")
		// Its push is queued and never attempted, and nothing reaches the app.
		var queued pushJSON
		eventually.That(t, "the second title's push queued", func() (bool, string) {
			var jobs []pushJSON
			p.s.ctlJSON(&jobs, "push", "list")
			i := slices.IndexFunc(jobs, func(j pushJSON) bool { return j.Target == ms[1].uid && j.State != "done" })
			if i < 0 {
				return false, fmt.Sprintf("%+v", jobs)
			}
			queued = jobs[i]
			return true, ""
		})
		if queued.State != "queued" || queued.Attempts != 0 {
			t.Errorf("push %+v of a change made while paused: want it queued, never attempted", queued)
		}
		if n := p.scim.Requests("", "/") - sent; n != 0 {
			t.Errorf("%d requests to a paused app, want 0", n)
		}
	})
	p.s.step("new credentials resume it", func(t *testing.T) {
		out := p.s.mustCtl("app", "update", "crm", "--token-file", p.secretFile("crm-new.token", newToken))
		if !regexp.MustCompile(`(?m)^status:\s+active$`).MatchString(out) {
			t.Errorf("app update with a new token: want status active:\n%s", out)
		}
		p.waitRemote(ms[0].mail, "with title A", func(r map[string]any) bool { return attr(r, "title") == "Paused Title A" })
		p.waitRemote(ms[1].mail, "with title B", func(r map[string]any) bool { return attr(r, "title") == "Paused Title B" })
		eventually.That(t, "the queue idle", func() (bool, string) { a := p.app("crm"); return a.idle(), fmt.Sprint(a.Queue) })
		if a := p.app("crm"); a.Status != "active" || a.StatusMessage != "" || a.Queue["dead"] != 0 {
			t.Errorf("app after resuming: status %q (%q), queue %v; want active, no message, nothing dead", a.Status, a.StatusMessage, a.Queue)
		}
	})
}

// TestProvisionDeadLetter: a create the app answers 400 is dead-lettered at
// once and listed with its error, the rest of the group is delivered, and
// a retry delivers it.
func TestProvisionDeadLetter(t *testing.T) {
	p := newProvEnv(t, 5, 5)
	p.addApp("crm")
	var dead []pushJSON
	var j pushJSON // the dead job
	var bad member // its user

	p.s.step("a 400 is dead-lettered at once", func(t *testing.T) {
		p.scim.Inject(scimtest.Fault{Method: "POST", PathPrefix: "/Users", Status: 400})
		p.s.mustCtl("app", "assign", "crm", "--group", p.gen.GroupCN(0))
		ms := p.members()

		eventually.That(t, "one dead job, the others delivered", func() (bool, string) {
			p.s.ctlJSON(&dead, "push", "list", "--failed")
			return len(dead) == 1 && p.scim.UserCount() == len(ms)-1, fmt.Sprintf("dead %+v, %d in the app", dead, p.scim.UserCount())
		})
		j = dead[0]
		for _, m := range ms {
			if m.uid == j.Target {
				bad = m
			}
			if _, ok := p.scim.UserByName(m.mail); ok == (m.uid == j.Target) {
				t.Errorf("%s in the app: %v; want only the dead job's user %s missing", m.uid, ok, j.Target)
			}
		}
		if bad.uid == "" || j.Kind != "user" || j.State != "dead" || !strings.Contains(j.LastError, "400") {
			t.Errorf("dead job = %+v; want a dead user job of a group member, its error naming 400", j)
		}
		if n := p.scim.Requests("POST", "/Users"); n != len(ms) {
			t.Errorf("%d POST /Users, want %d: a 400 is not retried", n, len(ms))
		}
	})
	p.s.step("a retry delivers it", func(t *testing.T) {
		if out := p.s.mustCtl("push", "retry", j.ID); !strings.Contains(out, "1 job(s) requeued") {
			t.Errorf("push retry %s: %s", j.ID, out)
		}
		p.waitRemote(bad.mail, "created on retry", func(r map[string]any) bool { return r["active"] == true })
		p.s.ctlJSON(&dead, "push", "list", "--failed")
		if len(dead) != 0 {
			t.Errorf("push list --failed after the retry: %+v, want none", dead)
		}
	})
}

// TestProvisionManualTask: an app that may not deactivate gets a manual
// deprovision task for a member deleted in LDAP; resolving it closes it.
func TestProvisionManualTask(t *testing.T) {
	p := newProvEnv(t, 4, 3)
	p.addApp("crm", "--allow", "create,update")
	ms := p.assignGroup("crm")
	var tasks []taskJSON
	var task taskJSON // the one task

	p.s.step("a member deleted in LDAP makes a task", func(t *testing.T) {
		gone := ms[0]
		if err := p.ep.Delete(t.Context(), gone.dn); err != nil {
			t.Fatal(err)
		}
		eventually.That(t, "a task for the deleted user", func() (bool, string) {
			p.s.ctlJSON(&tasks, "task", "list")
			return len(tasks) > 0, "no task"
		})
		eventually.That(t, "the queue idle", func() (bool, string) { a := p.app("crm"); return a.idle(), fmt.Sprint(a.Queue) })
		p.s.ctlJSON(&tasks, "task", "list")
		if len(tasks) != 1 {
			t.Fatalf("task list: %+v, want one task", tasks)
		}
		task = tasks[0]
		if task.App != "crm" || task.User != gone.uid || task.Kind != "deprovision" || task.State != "open" ||
			!strings.Contains(task.Detail, gone.mail) {
			t.Errorf("task = %+v; want an open deprovision task of %s in crm naming %s", task, gone.uid, gone.mail)
		}
		if r, _ := p.scim.UserByName(gone.mail); r["active"] != true {
			t.Errorf("%s in the app: %v; want it left active by an app that may not deactivate", gone.uid, r)
		}
	})
	p.s.step("resolving closes the task", func(t *testing.T) {
		if out := p.s.mustCtl("task", "resolve", task.ID, "--note", "done"); !strings.Contains(out, "resolved") {
			t.Errorf("task resolve: %s", out)
		}
		p.s.ctlJSON(&tasks, "task", "list")
		if len(tasks) != 0 {
			t.Errorf("task list after resolving: %+v, want none", tasks)
		}
		p.s.ctlJSON(&tasks, "task", "list", "--all")
		if len(tasks) != 1 || tasks[0].ID != task.ID || tasks[0].State != "resolved" || tasks[0].Note != "done" || tasks[0].ResolvedBy == "" {
			t.Errorf("task list --all: %+v; want task %s resolved, note done, by someone", tasks, task.ID)
		}
	})
}

// TestProvisionImportFromApp: accounts the app already holds are matched
// with the assigned users by userName (case-insensitively) and linked, the
// rest listed; the push that follows updates the linked account instead of
// creating one. The app may not create, so that nothing is pushed before
// the import.
func TestProvisionImportFromApp(t *testing.T) {
	p := newProvEnv(t, 4, 3)
	ms := p.members()
	matched := ms[0]
	linkedID, err := p.scim.SeedUser(map[string]any{"userName": strings.ToUpper(matched.mail), "title": "from the app", "active": true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.scim.SeedUser(map[string]any{"userName": "stranger@example.org", "active": true}); err != nil {
		t.Fatal(err)
	}
	p.addApp("crm", "--allow", "update,deactivate")
	p.s.mustCtl("app", "assign", "crm", "--group", p.gen.GroupCN(0))

	var res struct {
		Read, Linked uint64
		Unmatched    []struct {
			RemoteID string `json:"remote_id"`
			UserName string `json:"user_name"`
		}
	}
	p.s.ctlJSON(&res, "app", "import", "crm")
	if res.Read != 2 || res.Linked != 1 || len(res.Unmatched) != 1 || res.Unmatched[0].UserName != "stranger@example.org" {
		t.Errorf("app import = %+v; want 2 read, 1 linked, stranger@example.org unmatched", res)
	}
	linked := p.waitRemote(matched.mail, "updated", func(r map[string]any) bool {
		return attr(r, "title") == matched.hubTitle && attr(r, "userName") == matched.mail
	})
	if attr(linked, "id") != linkedID {
		t.Errorf("%s in the app has id %s, want the account imported, %s", matched.uid, attr(linked, "id"), linkedID)
	}
	eventually.That(t, "the queue idle", func() (bool, string) { a := p.app("crm"); return a.idle(), fmt.Sprint(a.Queue) })
	if n := p.scim.Requests("POST", "/Users"); n != 0 {
		t.Errorf("%d POST /Users, want none: the linked account is not created again", n)
	}
	if n := p.scim.UserCount(); n != 2 {
		t.Errorf("the app holds %d users, want 2 (the linked one and the stranger)", n)
	}
	if a := p.app("crm"); a.Accounts["active"] != 1 {
		t.Errorf("app show: accounts %v, want 1 active (the linked one)", a.Accounts)
	}
}

// TestProvisionSettingsChangeInFlight: a change of an app's settings made
// while its pushes are in flight takes effect on the pushes after it (a
// new mapping of title), while those in flight end as they began; none is
// lost or doubled, and none waits for its lease to run out (20 s).
func TestProvisionSettingsChangeInFlight(t *testing.T) {
	const n, concurrency = 16, 2
	const mapped = "Mapped After The Change"
	p := newProvEnv(t, n, n)
	p.addApp("crm", "--concurrency", strconv.Itoa(concurrency))
	mapping := filepath.Join(p.s.dir, "mapping.yaml")
	if err := os.WriteFile(mapping, []byte("- target: userName\n  expr: coalesce(email, username)\n"+
		"- target: title\n  expr: '\""+mapped+"\"'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.assignSlowly(300*time.Millisecond, 1)
	p.s.mustCtl("app", "update", "crm", "--mapping-file", mapping)
	atChange := p.scim.UserCount()
	p.scim.ClearFaults()
	took := eventually.Within(t, 15*time.Second, "every push done", func() (bool, string) {
		a := p.app("crm")
		return a.idle() && a.Accounts["active"] == n, fmt.Sprint(a)
	})
	t.Logf("%d of %d accounts created at the settings change; all %v later", atChange, n, took.Round(time.Millisecond))
	ms := p.members()
	p.checkOnePerUser(ms)
	// Those created at the change, and at most what the workers held then
	// (twice their number), were pushed with the old mapping; every push
	// after is the new one's.
	var old []string
	for _, m := range ms {
		r, _ := p.scim.UserByName(m.mail)
		switch got := attr(r, "title"); got {
		case mapped:
		case m.hubTitle:
			old = append(old, m.uid)
		default:
			t.Errorf("%s has title %q in the app, want %q (new mapping) or %q (old)", m.uid, got, mapped, m.hubTitle)
		}
	}
	if len(old) > atChange+2*concurrency {
		t.Errorf("%d accounts have the old mapping's title (%v), %d created at the change: the new mapping was not used for the pushes after it",
			len(old), old, atChange)
	}
}

// TestProvisionPreviewMatchesPush: on an app whose PATCH support was never
// read by app test, preview shows the request the push then sends.
func TestProvisionPreviewMatchesPush(t *testing.T) {
	p := newProvEnv(t, 2, 1)
	p.addApp("crm")
	ms := p.assignGroup("crm")
	p.scim.Down()
	if err := p.ep.Modify(t.Context(), replace(ms[0].dn, "title", "Preview Officer")); err != nil {
		t.Fatal(err)
	}
	eventually.That(t, "the new title in the hub", func() (bool, string) {
		u := p.s.users(p.name)[ms[0].uid]
		return u.Title == "Preview Officer", u.Title
	})
	var preview struct{ Action, Request string }
	p.s.ctlJSON(&preview, "app", "preview", "crm", "--user", ms[0].uid)
	method, _, _ := strings.Cut(preview.Request, " ")
	before := map[string]int{"PATCH": p.scim.Requests("PATCH", "/Users"), "PUT": p.scim.Requests("PUT", "/Users")}
	if err := p.scim.Up(); err != nil {
		t.Fatal(err)
	}
	p.waitRemote(ms[0].mail, "with the new title", func(r map[string]any) bool { return attr(r, "title") == "Preview Officer" })
	sent := map[string]int{"PATCH": p.scim.Requests("PATCH", "/Users") - before["PATCH"], "PUT": p.scim.Requests("PUT", "/Users") - before["PUT"]}
	if preview.Action != "update" || sent[method] != 1 || sent["PATCH"]+sent["PUT"] != 1 {
		t.Errorf("preview said %s %s; the push then sent %v", preview.Action, preview.Request, sent)
	}
}
