//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/scimtest"
	"github.com/idsync/idsync/internal/testserver"
)

// Write-back (issue 6) with the real binaries: an HR system hires through
// the hub's SCIM endpoint; the hub writes the hire into Samba AD (over
// LDAPS, with an initial password) and into slapd through their agents,
// and pushes it to a SCIM app. Both directories are captured the whole
// time, so the written entries come back on their change streams: the hub
// must know them as its own (no second user, no loop). A change flows; the
// hire signs in to AD with the initial password as the HR user; the
// termination disables the AD account (moved to the disabled OU), marks
// the slapd one, and deactivates the app's.
func TestWriteBackHRToDirectories(t *testing.T) {
	ctx := t.Context()
	ad := testserver.SambaAD(t)
	// sAMAccountName and userPrincipalName are unique in the whole domain,
	// and the shared DC lives as long as the test process: the test's
	// entries go when it ends, so that -count=N can run it again.
	t.Cleanup(func() {
		if err := ad.DeleteTree(context.Background(), ad.BaseDN); err != nil {
			t.Errorf("removing the test's AD entries: %v", err)
		}
	})
	sl := testserver.Slapd(t, testserver.SlapdOptions{})
	staff, gone := "OU=Staff,"+ad.BaseDN, "OU=Disabled,"+ad.BaseDN
	for _, ou := range []string{staff, gone} {
		name := strings.TrimPrefix(strings.Split(ou, ",")[0], "OU=")
		if err := ad.Add(ctx, gendir.Entry{DN: ou, Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"top", "organizationalUnit"}}, {Name: "ou", Values: []string{name}}}}); err != nil {
			t.Fatal(err)
		}
	}
	people := "ou=people," + sl.BaseDN
	if err := sl.Add(ctx, gendir.Entry{DN: people, Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"organizationalUnit"}}, {Name: "ou", Values: []string{"people"}}}}); err != nil {
		t.Fatal(err)
	}

	s := newStack(t, pushArgs...)
	// HR owns who the person is and the job; AD owns the mail of the
	// accounts the hub writes there.
	s.mustCtl("directory", "add", "hr", "--kind", "scim", "--mastered",
		"given_name,family_name,display_name,employee_number,department,title,manager")
	hrToken := strings.TrimSpace(s.mustCtl("source", "token", "hr"))
	s.mustCtl("directory", "add", "ad", "--kind", "ad", "--base-dn", ad.BaseDN, "--full-import-interval", "off",
		"--poll-interval", "1s", "--mastered", "email")
	s.mustCtl("directory", "add", "ldap", "--kind", "openldap", "--base-dn", sl.BaseDN, "--full-import-interval", "off")
	adAgent := s.startAgent(devstack.AgentDirectory{Name: "ad", URL: ad.LDAPSURL, CAFile: ad.CAFile, BindDN: ad.BindDN, BindPassword: ad.BindPassword})
	ldapAgent := s.startAgent(ldapDirectory("ldap", sl))
	for _, d := range []string{"ad", "ldap"} {
		s.mustImportFull(d)
		eventually.That(t, "capture of "+d+" running", func() (bool, string) {
			var dj directoryJSON
			s.ctlJSON(&dj, "directory", "show", d)
			if dj.CaptureStatus == nil || dj.CaptureStatus.Strategy == "" {
				return false, "no capture"
			}
			return true, ""
		})
	}

	scimToken := "scim-" + rand.Text()
	app := scimtest.Start(t, scimtest.Options{Token: scimToken})
	tokFile := filepath.Join(s.dir, "crm.token")
	if err := os.WriteFile(tokFile, []byte(scimToken), 0o600); err != nil {
		t.Fatal(err)
	}
	s.mustCtl("app", "add", "crm", "--scim-url", app.URL, "--auth", "bearer", "--token-file", tokFile, localApp[0], localApp[1])

	// The helpers below fail into the step that calls them.
	hr := func(method, path string, body any) map[string]any {
		t := s.t
		t.Helper()
		raw, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, method, "http://"+s.hub.HTTPAddr+"/scim/v2"+path, bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+hrToken)
		req.Header.Set("Content-Type", "application/scim+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("HR %s %s: %d %s", method, path, resp.StatusCode, b)
		}
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return out
	}
	adEntry := func() *ldap.Entry { return findEntry(s.t, &ad.Endpoint, ad.BaseDN, "(sAMAccountName=jhire)") }
	ldapEntry := func() *ldap.Entry { return findEntry(s.t, &sl.Endpoint, sl.BaseDN, "(uid=jhire)") }
	var signin string // an admin token of the role authn
	signIn := func(dir, user, password string) (int, userJSON) {
		t := s.t
		t.Helper()
		raw, _ := json.Marshal(map[string]string{"directory": dir, "username": user, "password": password})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.hub.HTTPAddr+"/v1/authn", bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+signin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var who struct{ User userJSON }
		_ = json.Unmarshal(body, &who)
		return resp.StatusCode, who.User
	}
	var group map[string]any // HR's group employees
	var uid string           // the hire's hub id

	s.step("write-back is a super-admin's decision", func(t *testing.T) {
		// Writing into a directory is a super-admin's decision: until one
		// names where, no app may; an app admin cannot make it so, nor reach
		// past what was named.
		appAdmin := strings.TrimSpace(s.mustCtl("admin", "token", "create", "--name", "apps", "--role", "app-admin"))
		asAppAdmin := func(args ...string) devstack.CtlResult { return s.ctl(append(args, s.as(appAdmin)...)...) }
		adTarget := []string{"app", "add", "ad-accounts", "--directory", "ad", "--ou", staff, "--disabled-ou", gone}
		if r := asAppAdmin(adTarget...); r.Code == 0 || !strings.Contains(r.Stderr, "not writable") {
			t.Fatalf("a directory target before write-back: %d %s, want refused as not writable", r.Code, r.Stderr)
		}
		if r := asAppAdmin("directory", "update", "ad", "--writable-ou", staff); r.Code == 0 || !strings.Contains(r.Stderr, "directories.write") {
			t.Fatalf("an app admin turning write-back on: %v %s, want refused for want of directories.write", r.Code, r.Stderr)
		}
		pwFile := filepath.Join(s.dir, "initial.pw")
		if err := os.WriteFile(pwFile, []byte(`"Welcome-" + employee_number + "-Idsync!"`), 0o600); err != nil {
			t.Fatal(err)
		}
		ldapPW := filepath.Join(s.dir, "ldap-initial.pw")
		if err := os.WriteFile(ldapPW, []byte(`"Ldap-" + employee_number + "-Start"`), 0o600); err != nil {
			t.Fatal(err)
		}
		s.mustCtl("directory", "update", "ad", "--writable-ou", staff, "--writable-ou", gone, "--initial-password-file", pwFile)
		s.mustCtl("directory", "update", "ldap", "--writable-ou", people, "--initial-password-file", ldapPW, "--must-change-password=false")
		if r := asAppAdmin("app", "add", "ad-elsewhere", "--directory", "ad", "--ou", "CN=Users,"+ad.BaseDN); r.Code == 0 ||
			!strings.Contains(r.Stderr, "parent_dn") {
			t.Fatalf("an OU outside the writable ones: %v %s, want refused naming parent_dn", r.Code, r.Stderr)
		}
		if r := asAppAdmin(append(adTarget, "--initial-password", `"mine"`)...); r.Code == 0 || !strings.Contains(r.Stderr, "directory update") {
			t.Fatalf("an app admin's initial password: %v %s, want refused, pointing at directory update", r.Code, r.Stderr)
		}
		if r := asAppAdmin(adTarget...); r.Code != 0 {
			t.Fatalf("the app admin's directory target within the write-back: %v %s", r.Code, r.Stderr)
		}
		s.mustCtl("app", "add", "ldap-accounts", "--directory", "ldap", "--ou", people, "--rdn-attribute", "uid",
			"--disable-attribute", "employeeType=disabled")
	})
	s.step("the hire reaches AD, slapd and the app", func(t *testing.T) {
		group = hr("POST", "/Groups", map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"},
			"displayName": "employees", "members": []any{}})
		for _, a := range []string{"crm", "ad-accounts", "ldap-accounts"} {
			s.mustCtl("app", "assign", a, "--group", "employees", "--directory", "hr")
		}

		// The hire.
		hire := hr("POST", "/Users", map[string]any{
			"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
			"userName": "jhire@idsync.test", "externalId": "WD-4711", "active": true,
			"name": map[string]any{"givenName": "Jane", "familyName": "Hire"}, "displayName": "Jane Hire",
			"emails": []any{map[string]any{"value": "jhire@idsync.test", "type": "work", "primary": true}},
			"title":  "Analyst",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"employeeNumber": "4711", "department": "Finance"},
		})
		uid, _ = hire["id"].(string)
		hr("PATCH", "/Groups/"+group["id"].(string), map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": uid}}}}})

		eventually.That(t, "the hire in AD, in slapd and in the app", func() (bool, string) {
			a, l := adEntry(), ldapEntry()
			r, ok := byExternalID(app, uid)
			switch {
			case a == nil || l == nil || !ok:
				return false, fmt.Sprintf("AD %v, slapd %v, app %v", a != nil, l != nil, ok)
			case !strings.EqualFold(a.DN, "CN=Jane Hire,"+staff) || a.GetAttributeValue("title") != "Analyst" ||
				a.GetAttributeValue("department") != "Finance" || a.GetAttributeValue("employeeID") != "4711" ||
				a.GetAttributeValue("mail") != "jhire@idsync.test" || a.GetAttributeValue("userPrincipalName") != "jhire@idsync.test" ||
				a.GetAttributeValue("userAccountControl") != "512":
				return false, "AD entry " + describeEntry(a)
			case l.DN != "uid=jhire,"+people || l.GetAttributeValue("cn") != "Jane Hire" || l.GetAttributeValue("sn") != "Hire" ||
				l.GetAttributeValue("title") != "Analyst" || l.GetAttributeValue("employeeNumber") != "4711" ||
				l.GetAttributeValue("employeeType") != "":
				return false, "slapd entry " + describeEntry(l)
			case r["active"] != true || r["title"] != "Analyst" || r["externalId"] != uid:
				return false, fmt.Sprintf("app account %v", r)
			}
			return true, ""
		})
	})
	s.step("the written entries come back as the hub's own", func(t *testing.T) {
		// The entries came back on the change streams: capture runs (a user
		// added in AD by hand arrives), and the hub made no user of either
		// written entry — no second person, nothing pushed twice.
		if err := ad.Add(ctx, gendir.Entry{DN: "CN=Hand Made," + staff, Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
			{Name: "sAMAccountName", Values: []string{"handmade" + strconv.Itoa(os.Getpid()%1000)}}}}); err != nil {
			t.Fatal(err)
		}
		eventually.That(t, "a user added in AD by hand reaches the hub", func() (bool, string) {
			if len(s.users("ad")) != 1 {
				return false, fmt.Sprintf("hub's AD users: %v", slices.Sorted(maps.Keys(s.users("ad"))))
			}
			return true, ""
		})
		if err := sl.Add(ctx, gendir.Entry{DN: "uid=byhand," + people, Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"inetOrgPerson"}}, {Name: "uid", Values: []string{"byhand"}},
			{Name: "cn", Values: []string{"By Hand"}}, {Name: "sn", Values: []string{"Hand"}}}}); err != nil {
			t.Fatal(err)
		}
		eventually.That(t, "a user added in slapd by hand reaches the hub", func() (bool, string) {
			if _, ok := s.users("ldap")["byhand"]; !ok {
				return false, fmt.Sprintf("hub's slapd users: %v", slices.Sorted(maps.Keys(s.users("ldap"))))
			}
			return true, ""
		})
		for d, users := range map[string]map[string]userJSON{"ad": s.users("ad"), "ldap": s.users("ldap")} {
			for name := range users {
				if strings.Contains(name, "jhire") {
					t.Errorf("the hub made a user %s of directory %s from the entry it wrote", name, d)
				}
			}
		}
		if n := app.UserCount(); n != 1 {
			t.Errorf("the app holds %d accounts, want the hire's alone", n)
		}
		// The streams did bring the written entries back, and the hub knew
		// them (not merely missed them).
		hubLog := s.hub.Out.String()
		for _, dn := range []string{"CN=Jane Hire,", "uid=jhire,"} {
			if !regexp.MustCompile(`msg="skipping an entry the hub wrote" .*dn="` + dn).MatchString(hubLog) {
				t.Errorf("the hub never recognised %s… coming back on a change stream", dn)
			}
		}
	})
	s.step("the hire signs in once the initial password is changed", func(t *testing.T) {
		// Whoever knows the initial password cannot sign in through the hub as
		// the hire: AD says it must be changed first (pwdLastSet 0).
		signin = strings.TrimSpace(s.mustCtl("admin", "token", "create", "--name", "login-page", "--role", "authn"))
		if code, _ := signIn("ad", "jhire", "Welcome-4711-Idsync!"); code != http.StatusUnauthorized {
			t.Errorf("a sign-in with the initial password: %d, want 401 until it is changed", code)
		}
		if got := pwdLastSet(t, ad, adEntry().DN); got != "0" {
			t.Errorf("pwdLastSet = %q, want 0 (must change at first sign-in)", got)
		}
		// The hire changes it (here, the AD admin does, as a help desk would
		// on the phone); then the sign-in is the HR user.
		if err := ad.SetPassword(ctx, adEntry().DN, "Own-Pa55word-4711"); err != nil {
			t.Fatal(err)
		}
		done := ldap.NewModifyRequest(adEntry().DN, nil)
		done.Replace("pwdLastSet", []string{"-1"})
		if err := ad.Modify(ctx, done); err != nil {
			t.Fatal(err)
		}
		if code, who := signIn("ad", "jhire", "Own-Pa55word-4711"); code != http.StatusOK || who.ID != uid || who.Directory != "hr" {
			t.Errorf("the hire's sign-in to AD: %d %+v; want 200 with the HR user %s", code, who, uid)
		}
	})
	s.step("a written entry signs in only while an app holds it", func(t *testing.T) {
		// A written entry signs in as its hub user only while an app holds it
		// for that user: slapd's entry (no must-change there) signs in as the
		// HR user; once ldap-accounts no longer has the hire in scope (and
		// may not disable the entry, so it stays usable in slapd), it signs
		// in as nobody.
		if code, who := signIn("ldap", "jhire", "Ldap-4711-Start"); code != http.StatusOK || who.ID != uid {
			t.Errorf("the hire's sign-in to slapd: %d %+v; want 200 with the HR user %s", code, who, uid)
		}
		s.mustCtl("app", "update", "ldap-accounts", "--allow", "create,update")
		s.mustCtl("app", "unassign", "ldap-accounts", "--group", "employees", "--directory", "hr")
		eventually.That(t, "a manual task for the hire's slapd account", func() (bool, string) {
			var tasks []struct{ App, User string }
			s.ctlJSON(&tasks, "task", "list", "--app", "ldap-accounts")
			if len(tasks) != 1 {
				return false, fmt.Sprintf("tasks %+v", tasks)
			}
			return true, ""
		})
		if code, _ := signIn("ldap", "jhire", "Ldap-4711-Start"); code != http.StatusUnauthorized {
			t.Errorf("a sign-in to the written entry after its assignment went: %d, want 401", code)
		}
		var refusals []struct{ Detail string }
		s.ctlJSON(&refusals, "audit", "list", "--action", "authn.failed", "--outcome", "refused")
		if !slices.ContainsFunc(refusals, func(e struct{ Detail string }) bool { return strings.Contains(e.Detail, "assignment is gone") }) {
			t.Errorf("no authn.failed saying the assignment is gone: %+v", refusals)
		}
		s.mustCtl("app", "update", "ldap-accounts", "--allow", "create,update,deactivate")
		s.mustCtl("app", "assign", "ldap-accounts", "--group", "employees", "--directory", "hr")
		eventually.That(t, "the hire's slapd sign-in back", func() (bool, string) {
			if code, who := signIn("ldap", "jhire", "Ldap-4711-Start"); code != http.StatusOK || who.ID != uid {
				return false, fmt.Sprintf("%d %+v", code, who)
			}
			return true, ""
		})
	})
	s.step("AD owns the mail", func(t *testing.T) {
		// AD owns the mail: an admin's change there reaches the HR user and
		// the app, and is not written back over (nor looped).
		mail := ldap.NewModifyRequest(adEntry().DN, nil)
		mail.Replace("mail", []string{"jane.hire@idsync.test"})
		if err := ad.Modify(ctx, mail); err != nil {
			t.Fatal(err)
		}
		eventually.That(t, "AD's new mail in the hub and the app", func() (bool, string) {
			var u userJSON
			s.ctlJSON(&u, "user", "show", uid)
			r, _ := byExternalID(app, uid)
			if u.Email != "jane.hire@idsync.test" || workEmail(r) != "jane.hire@idsync.test" {
				return false, fmt.Sprintf("hub %q, app %v", u.Email, r)
			}
			return true, ""
		})
		// HR sends the old mail again with a job change: HR does not own it.
		hr("PUT", "/Users/"+uid, map[string]any{
			"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
			"userName": "jhire@idsync.test", "externalId": "WD-4711", "active": true,
			"name": map[string]any{"givenName": "Jane", "familyName": "Hire"}, "displayName": "Jane Hire",
			"emails": []any{map[string]any{"value": "jhire@idsync.test", "type": "work", "primary": true}},
			"title":  "Lead Analyst",
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"employeeNumber": "4711", "department": "Finance"},
		})
		eventually.That(t, "HR's title in AD, AD's mail kept", func() (bool, string) {
			a := adEntry()
			if a.GetAttributeValue("title") != "Lead Analyst" || a.GetAttributeValue("mail") != "jane.hire@idsync.test" {
				return false, "AD entry " + describeEntry(a)
			}
			return true, ""
		})
	})
	s.step("a change flows everywhere", func(t *testing.T) {
		// A change flows everywhere.
		hr("PATCH", "/Users/"+uid, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "title", "value": "Senior Analyst"}}})
		eventually.That(t, "the new title in AD, slapd and the app", func() (bool, string) {
			a, l := adEntry(), ldapEntry()
			r, _ := byExternalID(app, uid)
			if a.GetAttributeValue("title") != "Senior Analyst" || l.GetAttributeValue("title") != "Senior Analyst" || r["title"] != "Senior Analyst" {
				return false, fmt.Sprintf("AD %q, slapd %q, app %v", a.GetAttributeValue("title"), l.GetAttributeValue("title"), r["title"])
			}
			return true, ""
		})
	})
	s.step("the termination disables everywhere", func(t *testing.T) {
		// The termination: disabled everywhere.
		hr("PATCH", "/Users/"+uid, map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "active", "value": false}}})
		eventually.That(t, "the termination in AD, slapd and the app", func() (bool, string) {
			a, l := adEntry(), ldapEntry()
			r, _ := byExternalID(app, uid)
			uac, _ := strconv.Atoi(a.GetAttributeValue("userAccountControl"))
			switch {
			case uac&2 == 0 || !strings.EqualFold(a.DN, "CN=Jane Hire,"+gone):
				return false, "AD entry " + describeEntry(a)
			case l.GetAttributeValue("employeeType") != "disabled":
				return false, "slapd entry " + describeEntry(l)
			case r["active"] != false:
				return false, fmt.Sprintf("app account %v", r)
			}
			return true, ""
		})
	})
	s.step("a taken logon name is dead-lettered", func(t *testing.T) {
		// A hire whose logon name an entry the hub did not write already has
		// is never given that entry: the job is dead-lettered, the entry is
		// left alone, and the other apps go on.
		if err := ad.Add(ctx, gendir.Entry{DN: "CN=Taken Already," + staff, Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
			{Name: "sAMAccountName", Values: []string{"jtaken"}}, {Name: "title", Values: []string{"Theirs"}}}}); err != nil {
			t.Fatal(err)
		}
		taken := hr("POST", "/Users", map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"},
			"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": map[string]any{"employeeNumber": "4712"},
			"userName": "jtaken@idsync.test", "externalId": "WD-4712", "active": true,
			"name": map[string]any{"givenName": "Jo", "familyName": "Taken"}, "title": "Ours",
			"emails": []any{map[string]any{"value": "jtaken@idsync.test", "type": "work", "primary": true}},
		})
		hr("PATCH", "/Groups/"+group["id"].(string), map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "add", "path": "members", "value": []any{map[string]any{"value": taken["id"]}}}}})
		eventually.That(t, "the taken name dead-lettered, the app's account made", func() (bool, string) {
			var jobs []struct{ App, Target, State, LastError string }
			s.ctlJSON(&jobs, "push", "list", "--app", "ad-accounts", "--failed")
			dead := len(jobs) == 1 && jobs[0].State == "dead" &&
				(jobs[0].Target == taken["id"] || jobs[0].Target == "jtaken@idsync.test")
			if _, ok := byExternalID(app, taken["id"].(string)); !ok || !dead || !strings.Contains(s.hub.Out.String(), "no single account of that userName can be adopted") {
				return false, fmt.Sprintf("dead jobs %+v, in the app %v", jobs, ok)
			}
			return true, ""
		})
		if e := findEntry(t, &ad.Endpoint, ad.BaseDN, "(sAMAccountName=jtaken)"); e == nil || e.GetAttributeValue("title") != "Theirs" ||
			!strings.EqualFold(e.DN, "CN=Taken Already,"+staff) {
			t.Errorf("the entry that had the name: %s, want it untouched", describeEntry(e))
		}
	})
	s.step("still one person after the termination", func(t *testing.T) {
		// Still one person: the writes of the termination came back too. A
		// change made by hand after them fences them off: DirSync returns
		// changes in the order the DC made them, so once the hub has the
		// fence it has had everything before.
		fence := ldap.NewModifyRequest("CN=Hand Made,"+staff, nil)
		fence.Replace("title", []string{"After The Termination"})
		if err := ad.Modify(ctx, fence); err != nil {
			t.Fatal(err)
		}
		eventually.That(t, "a change made by hand after the termination in the hub", func() (bool, string) {
			users := s.users("ad")
			for _, u := range users {
				if u.Title == "After The Termination" {
					return true, ""
				}
			}
			return false, fmt.Sprintf("hub's AD users: %v", slices.Sorted(maps.Keys(users)))
		})
		if users := s.users("ad"); len(users) != 2 {
			t.Errorf("after the termination the hub holds AD users %v, want the two made by hand alone", slices.Sorted(maps.Keys(users)))
		}
	})
	s.step("no output holds the initial password", func(t *testing.T) {
		for _, a := range []*agent{adAgent, ldapAgent} {
			if strings.Contains(a.logs(), "Welcome-4711") {
				t.Error("an agent logged the initial password")
			}
		}
		if strings.Contains(s.hub.Out.String(), "Welcome-4711") || strings.Contains(s.transcript.String(), "Welcome-4711") {
			t.Error("the hub's log or idsyncctl's output holds the initial password")
		}
		if out := s.mustCtl("directory", "show", "ad", "-o", "json"); strings.Contains(out, "Welcome") || !strings.Contains(out, `"initial_password": "(set)"`) {
			t.Errorf("directory show: %s; want the initial password shown as (set), never the expression", out)
		}
	})
}

// pwdLastSet reads an AD entry's pwdLastSet as the administrator.
func pwdLastSet(t *testing.T, ad *testserver.SambaServer, dn string) string {
	t.Helper()
	e := findEntry(t, &ad.Endpoint, dn, "(objectClass=user)")
	if e == nil {
		t.Fatalf("no entry %s", dn)
	}
	return e.GetAttributeValue("pwdLastSet")
}

// byExternalID returns the app's account with this externalId (the hub
// user's id): its userName follows the email, which changes.
func byExternalID(app *scimtest.Server, id string) (map[string]any, bool) {
	for _, u := range app.Users() {
		if u["externalId"] == id {
			return u, true
		}
	}
	return nil, false
}

// findEntry returns the one entry under base matching filter, or nil.
func findEntry(t *testing.T, ep *testserver.Endpoint, base, filter string) *ldap.Entry {
	t.Helper()
	c, err := ep.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, 0, false, filter,
		[]string{"*"}, nil))
	if err != nil || len(res.Entries) != 1 {
		return nil
	}
	return res.Entries[0]
}

func describeEntry(e *ldap.Entry) string {
	if e == nil {
		return "missing"
	}
	var b strings.Builder
	b.WriteString(e.DN)
	for _, a := range e.Attributes {
		fmt.Fprintf(&b, " %s=%v", a.Name, a.Values)
	}
	return b.String()
}
