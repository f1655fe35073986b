//go:build linux

package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/scimtest"
	"github.com/idsync/idsync/internal/testserver"
)

// Delegated authentication (issue 6) with the real binaries: users who
// exist only in slapd or only in Samba AD — created after the directories
// were imported, and not captured — sign in through POST /v1/authn; each
// is created in the hub just in time, found in the group the hub already
// holds, and pushed to the SCIM app within the test's wait. Every refusal
// looks the same; a burst is limited; no agent is a 503; the password is
// nowhere.

// pendingFilter keeps users marked pending out of a directory's reads:
// the tests import a directory while their sign-in users are pending, and
// clear the mark without the hub seeing it (capture is off).
const (
	ldapPendingFilter = "(&(objectClass=inetOrgPerson)(!(description=pending)))"
	adPendingFilter   = "(&(objectCategory=person)(objectClass=user)(!(description=pending)))"
)

// authnEnv is a hub with the slapd and Samba directories, their agents, a
// SCIM app assigned to each directory's group app-users, and an authn
// token.
type authnEnv struct {
	s     *stack // its t is the test (or step) the env fails into
	scim  *scimtest.Server
	token string // role authn
	// secrets no output may hold; tokens only in logs (idsyncctl shows
	// a new token once).
	secrets, tokens []string
	slapd           *testserver.SlapdServer
	ad              *testserver.SambaServer
	agents          map[string]*agent
}

// authnUser is a directory account the tests sign in as.
type authnUser struct {
	dir, name, password, mail string
}

func newAuthnEnv(t *testing.T) (*authnEnv, map[string]authnUser) {
	t.Helper()
	e := &authnEnv{agents: map[string]*agent{}}
	e.slapd = testserver.Slapd(t, testserver.SlapdOptions{PasswordPolicy: true})
	e.ad = testserver.SambaAD(t)
	pw := func() string { return "Pw-" + rand.Text()[:12] + "-9x" }
	users := map[string]authnUser{
		"ann":   {dir: "ldap", name: "ann", password: pw(), mail: "ann@example.org"},
		"bob":   {dir: "ldap", name: "bob", password: pw(), mail: "bob@example.org"}, // locked
		"cat":   {dir: "ldap", name: "cat", password: pw(), mail: "cat@example.org"},
		"jdoe":  {dir: "ad", name: "jdoe", password: pw(), mail: "jdoe@idsync.test"},
		"jlock": {dir: "ad", name: "jlock", password: pw(), mail: "jlock@idsync.test"}, // disabled
	}
	for _, u := range users {
		e.secrets = append(e.secrets, u.password)
	}
	ctx := t.Context()
	base := e.slapd.BaseDN
	ldapDN := func(uid string) string { return "uid=" + uid + ",ou=people," + base }
	entries := []gendir.Entry{{DN: "ou=people," + base, Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"organizationalUnit"}}, {Name: "ou", Values: []string{"people"}}}}}
	for _, name := range []string{"ann", "bob", "cat"} {
		u := users[name]
		attrs := []gendir.Attr{
			{Name: "objectClass", Values: []string{"inetOrgPerson"}}, {Name: "uid", Values: []string{name}},
			{Name: "cn", Values: []string{strings.ToUpper(name[:1]) + name[1:] + " Example"}}, {Name: "sn", Values: []string{"Example"}},
			{Name: "mail", Values: []string{u.mail}}, {Name: "userPassword", Values: []string{u.password}},
			{Name: "description", Values: []string{"pending"}},
		}
		entries = append(entries, gendir.Entry{DN: ldapDN(name), Attrs: attrs})
	}
	entries = append(entries, gendir.Entry{DN: "cn=app-users," + base, Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"groupOfNames"}}, {Name: "cn", Values: []string{"app-users"}},
		{Name: "member", Values: []string{ldapDN("ann"), ldapDN("bob"), ldapDN("cat")}}}})
	for _, en := range entries {
		if err := e.slapd.Add(ctx, en); err != nil {
			t.Fatal(err)
		}
	}
	lock := ldap.NewModifyRequest(ldapDN("bob"), nil)
	lock.Add("pwdAccountLockedTime", []string{"20260101000000Z"})
	if err := e.slapd.Modify(ctx, lock); err != nil {
		t.Fatalf("locking bob: %v", err)
	}

	adDN := func(name string) string { return "CN=" + name + "," + e.ad.BaseDN }
	for _, name := range []string{"jdoe", "jlock"} {
		u := users[name]
		err := e.ad.Add(ctx, gendir.Entry{DN: adDN(name), Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
			{Name: "sAMAccountName", Values: []string{name}}, {Name: "userPrincipalName", Values: []string{u.mail}},
			{Name: "givenName", Values: []string{name}}, {Name: "sn", Values: []string{"Doe"}}, {Name: "mail", Values: []string{u.mail}},
			{Name: "description", Values: []string{"pending"}}, {Name: "userAccountControl", Values: []string{"514"}}}})
		if err != nil {
			t.Fatalf("adding %s: %v", name, err)
		}
		if err := e.ad.SetPassword(ctx, adDN(name), u.password); err != nil {
			t.Fatal(err)
		}
	}
	enable := ldap.NewModifyRequest(adDN("jdoe"), nil)
	enable.Replace("userAccountControl", []string{"512"})
	if err := e.ad.Modify(ctx, enable); err != nil {
		t.Fatalf("enabling jdoe: %v", err)
	}
	if err := e.ad.Add(ctx, gendir.Entry{DN: "CN=app-users," + e.ad.BaseDN, Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"top", "group"}}, {Name: "sAMAccountName", Values: []string{"app-users-" + rand.Text()[:6]}},
		{Name: "member", Values: []string{adDN("jdoe"), adDN("jlock")}}}}); err != nil {
		t.Fatalf("adding the AD group: %v", err)
	}

	e.s = newStack(t, pushArgs...)
	e.s.mustCtl("directory", "add", "ldap", "--kind", "openldap", "--base-dn", base, "--user-filter", ldapPendingFilter,
		"--capture", "off", "--full-import-interval", "off")
	e.s.mustCtl("directory", "add", "ad", "--kind", "ad", "--base-dn", e.ad.BaseDN, "--user-filter", adPendingFilter,
		"--capture", "off", "--full-import-interval", "off")
	e.agents["ldap"] = e.s.startAgent(ldapDirectory("ldap", e.slapd))
	e.agents["ad"] = e.s.startAgent(devstack.AgentDirectory{Name: "ad", URL: e.ad.URL, BindDN: e.ad.BindDN, BindPassword: e.ad.BindPassword})
	for _, d := range []string{"ldap", "ad"} {
		if run := e.s.mustImportFull(d); run.Created != 1 {
			t.Fatalf("import of %s created %d objects, want the group alone", d, run.Created)
		}
	}
	// The sign-in users leave pending where the hub does not look.
	for _, dn := range []string{ldapDN("ann"), ldapDN("bob"), ldapDN("cat")} {
		m := ldap.NewModifyRequest(dn, nil)
		m.Delete("description", nil)
		if err := e.slapd.Modify(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"jdoe", "jlock"} {
		m := ldap.NewModifyRequest(adDN(name), nil)
		m.Delete("description", nil)
		if err := e.ad.Modify(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.s.users("ldap")) + len(e.s.users("ad")); n != 0 {
		t.Fatalf("the hub holds %d users before any sign-in, want none", n)
	}

	scimToken := "scim-" + rand.Text()
	e.secrets = append(e.secrets, scimToken)
	e.scim = scimtest.Start(t, scimtest.Options{Token: scimToken})
	tokFile := filepath.Join(e.s.dir, "crm.token")
	if err := os.WriteFile(tokFile, []byte(scimToken), 0o600); err != nil {
		t.Fatal(err)
	}
	e.s.mustCtl("app", "add", "crm", "--scim-url", e.scim.URL, "--auth", "bearer", "--token-file", tokFile, localApp[0], localApp[1])
	e.s.mustCtl("app", "assign", "crm", "--group", "app-users", "--directory", "ldap")
	e.s.mustCtl("app", "assign", "crm", "--group", "app-users", "--directory", "ad")
	e.token = strings.TrimSpace(e.s.mustCtl("admin", "token", "create", "--name", "login-page", "--role", "authn"))
	e.tokens = append(e.tokens, e.token)
	t.Cleanup(e.checkNoSecrets)
	return e, users
}

// authnAnswer is what POST /v1/authn answered.
type authnAnswer struct {
	code int
	body []byte
}

// signIn posts a sign-in with the authn token.
func (e *authnEnv) signIn(dir, user, password string) authnAnswer {
	e.s.t.Helper()
	return e.post(e.token, map[string]string{"directory": dir, "username": user, "password": password})
}

func (e *authnEnv) post(token string, body any) authnAnswer {
	e.s.t.Helper()
	raw, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(e.s.t.Context(), http.MethodPost, "http://"+e.s.hub.HTTPAddr+"/v1/authn", bytes.NewReader(raw))
	if err != nil {
		e.s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return authnAnswer{code: resp.StatusCode, body: b}
}

// signedInUser decodes a 200 answer's user.
func (e *authnEnv) signedInUser(a authnAnswer) userJSON {
	e.s.t.Helper()
	if a.code != http.StatusOK {
		e.s.t.Fatalf("sign-in: %d %s, want 200", a.code, a.body)
	}
	var out struct{ User userJSON }
	if err := json.Unmarshal(a.body, &out); err != nil {
		e.s.t.Fatalf("sign-in answer %s: %v", a.body, err)
	}
	return out.User
}

// waitApp waits until the SCIM app holds an active account of userName.
func (e *authnEnv) waitApp(userName string) map[string]any {
	e.s.t.Helper()
	var r map[string]any
	eventually.That(e.s.t, userName+" active in the SCIM app", func() (bool, string) {
		var ok bool
		r, ok = e.scim.UserByName(userName)
		return ok && r["active"] == true, fmt.Sprintf("%v; the app holds %d users", r, e.scim.UserCount())
	})
	return r
}

// checkNoSecrets scans every idsyncctl output, the hub's and the agents'
// logs for the passwords and tokens.
func (e *authnEnv) checkNoSecrets() {
	texts := map[string]string{"idsyncctl output": e.s.transcript.String(), "hub log": e.s.hub.Out.String()}
	for name, a := range e.agents {
		texts["agent "+name+" log"] = a.logs()
	}
	for where, text := range texts {
		secrets := e.secrets
		if where != "idsyncctl output" {
			secrets = append(secrets, e.tokens...)
		}
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				e.s.t.Errorf("the %s holds a secret (%d bytes)", where, len(secret))
			}
		}
	}
}

func TestAuthnJustInTime(t *testing.T) {
	e, users := newAuthnEnv(t)
	ann, jdoe := users["ann"], users["jdoe"]

	e.s.step("only in slapd, by uid and by mail", func(t *testing.T) {
		// Only in slapd: signs in, by uid and then by mail.
		u := e.signedInUser(e.signIn("ldap", "ann", ann.password))
		if u.Username != "ann" || u.Directory != "ldap" || u.Email != ann.mail || u.Status != "active" || len(u.ExternalID) != 36 {
			t.Fatalf("ann signed in as %+v", u)
		}
		hub := e.s.users("ldap")
		if got, ok := hub["ann"]; !ok || got.ID != u.ID {
			t.Fatalf("the hub's ann is %+v, want the signed-in user %s", got, u.ID)
		}
		r := e.waitApp(ann.mail)
		if r["externalId"] != u.ID {
			t.Errorf("the app's ann has externalId %v, want the hub id %s", r["externalId"], u.ID)
		}
		if again := e.signedInUser(e.signIn("ldap", ann.mail, ann.password)); again.ID != u.ID {
			t.Errorf("ann by mail is user %s, want the same user %s", again.ID, u.ID)
		}
	})
	e.s.step("only in Samba AD, and over gRPC", func(t *testing.T) {
		// Only in Samba AD: by sAMAccountName; the gRPC method signs in too.
		ju := e.signedInUser(e.signIn("ad", "jdoe", jdoe.password))
		if ju.Username != "jdoe" || ju.Directory != "ad" || ju.Status != "active" {
			t.Fatalf("jdoe signed in as %+v", ju)
		}
		e.waitApp(jdoe.mail)
		pwFile := filepath.Join(e.s.dir, "jdoe.pw")
		if err := os.WriteFile(pwFile, []byte(jdoe.password), 0o600); err != nil {
			t.Fatal(err)
		}
		var viaGRPC userJSON
		e.s.ctlJSON(&viaGRPC, "user", "authenticate", jdoe.mail, "--directory", "ad", "--password-file", pwFile)
		if viaGRPC.ID != ju.ID {
			t.Errorf("jdoe by userPrincipalName over gRPC is user %s, want %s", viaGRPC.ID, ju.ID)
		}
	})
	e.s.step("every refusal is the same answer", func(t *testing.T) {
		// Every refusal is the same answer: wrong password, unknown user,
		// locked (slapd) and disabled (AD) accounts, an empty password.
		refusals := map[string]authnAnswer{
			"wrong password":         e.signIn("ldap", "cat", ann.password),
			"unknown user":           e.signIn("ldap", "nobody", ann.password),
			"locked account":         e.signIn("ldap", "bob", users["bob"].password),
			"AD wrong password":      e.signIn("ad", "jdoe", "not-"+jdoe.password),
			"AD unknown user":        e.signIn("ad", "nobody", jdoe.password),
			"AD disabled account":    e.signIn("ad", "jlock", users["jlock"].password),
			"empty password":         e.signIn("ldap", "cat", ""),
			"filter injection (uid)": e.signIn("ldap", "*", ann.password),
		}
		first := refusals["wrong password"]
		if first.code != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d %s, want 401", first.code, first.body)
		}
		for what, a := range refusals {
			if a.code != first.code || !bytes.Equal(a.body, first.body) {
				t.Errorf("%s: %d %s; want the same answer as a wrong password: %d %s", what, a.code, a.body, first.code, first.body)
			}
		}
		for _, name := range []string{"bob", "cat", "jlock"} {
			if _, ok := e.s.users(users[name].dir)[name]; ok {
				t.Errorf("%s was refused but is in the hub", name)
			}
		}
	})
	e.s.step("a burst is limited", func(t *testing.T) {
		// A burst of wrong passwords for one user is limited (5 a minute);
		// another user of the same address is not held by it.
		var limited int
		for range 10 {
			if a := e.signIn("ldap", "cat", "guess-"+rand.Text()[:6]); a.code == http.StatusTooManyRequests {
				limited++
			} else if a.code != http.StatusUnauthorized {
				t.Fatalf("a guess: %d %s, want 401 or 429", a.code, a.body)
			}
		}
		if limited < 5 {
			t.Errorf("%d of 10 quick guesses were limited, want at least 5 (5 attempts a minute per user)", limited)
		}
		if a := e.signIn("ldap", "cat", users["cat"].password); a.code != http.StatusTooManyRequests {
			t.Errorf("cat's right password right after the burst: %d, want 429 until the limit refills", a.code)
		}
		e.signedInUser(e.signIn("ldap", "ann", ann.password))
	})
	e.s.step("a token needs the authn permission", func(t *testing.T) {
		// A token without the authn permission is refused; so is no token.
		reader := strings.TrimSpace(e.s.mustCtl("admin", "token", "create", "--name", "auditor", "--role", "read-only"))
		e.tokens = append(e.tokens, reader)
		if a := e.post(reader, map[string]string{"directory": "ldap", "username": "ann", "password": ann.password}); a.code != http.StatusForbidden {
			t.Errorf("a read-only token: %d %s, want 403", a.code, a.body)
		}
		if a := e.post("", map[string]string{"directory": "ldap", "username": "ann", "password": ann.password}); a.code != http.StatusUnauthorized {
			t.Errorf("no token: %d %s, want 401", a.code, a.body)
		}
	})
	e.s.step("no agent online is a 503", func(t *testing.T) {
		// No agent of the directory online: a clear 503.
		if err := e.agents["ldap"].proc.Stop(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		e.s.waitAgentState(e.agents["ldap"].id, "offline")
		if a := e.signIn("ldap", "ann", ann.password); a.code != http.StatusServiceUnavailable || !strings.Contains(string(a.body), "agent") {
			t.Errorf("no agent online: %d %s, want 503 naming the agent", a.code, a.body)
		}
	})
	e.s.step("the audit trail gives the reasons", func(t *testing.T) {
		// Every attempt is in the audit trail, the reason with it.
		var events []struct{ Action, Target, Detail, Outcome string }
		e.s.ctlJSON(&events, "audit", "list", "--action", "authn.failed")
		reasons := map[string]bool{}
		for _, ev := range events {
			for _, reason := range []string{"wrong password", "unknown user", "account locked", "account disabled", "empty username or password"} {
				if strings.Contains(ev.Detail, reason) {
					reasons[reason] = true
				}
			}
		}
		if len(reasons) != 5 {
			t.Errorf("the trail's refusals give the reasons %v, want all five", reasons)
		}
		var ok []struct{ Action, Target string }
		e.s.ctlJSON(&ok, "audit", "list", "--action", "authn.succeeded")
		if len(ok) < 4 {
			t.Errorf("%d successful sign-ins in the trail, want at least 4", len(ok))
		}
	})
}
