//go:build linux

package e2e

import (
	"crypto/rand"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

// The people tests (issue 13) act on people from the hub as an admin
// would, through idsyncctl, with the real binaries: a hold on an AD user
// that a change in AD does not lift, and its entry disabled and enabled in
// AD; restore within retention; a purge after a retention shortened for
// the test; a user made in the hub, pushed to a SCIM app and written into
// slapd. Each test is one stack and a sequence of named steps: a failed
// step names itself, and the steps after it do not run.

// await polls cond until it returns "" (internal/eventually's bound): the
// reason it gives otherwise is what a failure shows.
func await(t *testing.T, what string, cond func() string) {
	t.Helper()
	eventually.That(t, what, func() (bool, string) {
		why := cond()
		return why == "", why
	})
}

// personJSON is `user show -o json` with what issue 13 adds: the hold,
// what the directory says under it, and the purge date.
type personJSON struct {
	userJSON
	SourceStatus string `json:"source_status"`
	Hold         *struct {
		Status, By, Role, Reason string
	} `json:"hold"`
	DeprovisionedAt *time.Time `json:"deprovisioned_at"`
	PurgeAt         *time.Time `json:"purge_at"`
}

// person reads a user as `user show -o json` prints it.
func (s *stack) person(user, directory string) personJSON {
	s.t.Helper()
	var p personJSON
	s.ctlJSON(&p, "user", "show", user, "--directory", directory)
	return p
}

// addSCIMApp starts a SCIM test app and adds it to the hub as name, with
// extra flags (--allow…).
func (s *stack) addSCIMApp(name string, extra ...string) *scimtest.Server {
	s.t.Helper()
	token := "scim-" + rand.Text()
	app := scimtest.Start(s.t, scimtest.Options{Token: token})
	tokFile := filepath.Join(s.dir, name+".token")
	if err := os.WriteFile(tokFile, []byte(token), 0o600); err != nil {
		s.t.Fatal(err)
	}
	s.mustCtl(append([]string{"app", "add", name, "--scim-url", app.URL, "--auth", "bearer", "--token-file", tokFile,
		localApp[0], localApp[1]}, extra...)...)
	return app
}

// account describes a user's account in app, for a failure message.
func account(app *scimtest.Server, userID string) string {
	r, ok := byExternalID(app, userID)
	if !ok {
		return "no account"
	}
	return fmt.Sprintf("account %v active=%v title=%v", r["id"], r["active"], r["title"])
}

// accountIs checks that the app holds an account of userID with the SCIM
// id remoteID ("": any) in the active state wanted; "" when it does.
func accountIs(app *scimtest.Server, userID, remoteID string, active bool) string {
	r, ok := byExternalID(app, userID)
	if !ok || r["active"] != active || remoteID != "" && r["id"] != remoteID {
		return fmt.Sprintf("%s; want active=%v, id %q", account(app, userID), active, remoteID)
	}
	return ""
}

// auditHas says whether the audit trail holds an event of action by
// actor whose target and detail hold each of words.
func (s *stack) auditHas(action, actor string, words ...string) (bool, string) {
	s.t.Helper()
	var events []auditJSON
	s.ctlJSON(&events, "audit", "list", "--action", action)
	for _, e := range events {
		text := e.Target + " " + e.Detail
		if (actor == "" || e.Actor == actor) && !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(text, w) }) {
			return true, ""
		}
	}
	return false, fmt.Sprintf("%s events: %+v", action, events)
}

type auditJSON struct {
	Actor, Action, Target, Outcome, Detail string
}

// TestPeopleHeldInAD: an admin deactivates an AD user from the hub. The
// hold stands in the hub and in the app whatever AD says (a change of the
// user in AD arrives and does not lift it), and a group-admin of the
// user's group neither lifts nor replaces it; --in-directory disables the
// AD account itself (ACCOUNTDISABLE), once a super-admin made its OU
// writable, and reactivate --in-directory enables it and brings the app
// account back. A held user is restored with its app account, the same
// one in the app; a user deleted in AD cannot be restored, and the answer
// says why.
func TestPeopleHeldInAD(t *testing.T) {
	ctx := t.Context()
	ad := testserver.SambaAD(t)
	// The DC is shared by the process: logon names are unique in it.
	sfx := strings.ToLower(rand.Text()[:5])
	held, witness, gone, crew := "ph"+sfx, "pw"+sfx, "pg"+sfx, "crew-"+sfx
	staff := "OU=Staff," + ad.BaseDN
	dn := func(name string) string { return "CN=" + name + "," + staff }
	entries := []gendir.Entry{{DN: staff, Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"top", "organizationalUnit"}}, {Name: "ou", Values: []string{"Staff"}}}}}
	for _, name := range []string{held, witness, gone} {
		entries = append(entries, gendir.Entry{DN: dn(name), Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
			{Name: "sAMAccountName", Values: []string{name}}, {Name: "mail", Values: []string{name + "@people.test"}},
			{Name: "title", Values: []string{"Engineer"}},
			// Enabled, without a password (PASSWD_NOTREQD), as gendir makes them.
			{Name: "userAccountControl", Values: []string{"544"}}}})
	}
	entries = append(entries, gendir.Entry{DN: "CN=" + crew + "," + ad.BaseDN, Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"top", "group"}}, {Name: "sAMAccountName", Values: []string{crew}},
		{Name: "member", Values: []string{dn(held), dn(witness), dn(gone)}}}})
	for _, e := range entries {
		if err := ad.Add(ctx, e); err != nil {
			t.Fatalf("adding %s: %v", e.DN, err)
		}
	}
	uac := func(name string) (int, string) {
		t.Helper()
		e := findEntry(t, &ad.Endpoint, staff, "(sAMAccountName="+name+")")
		if e == nil {
			return 0, "no entry"
		}
		n, err := strconv.Atoi(e.GetAttributeValue("userAccountControl"))
		if err != nil {
			t.Fatalf("userAccountControl of %s: %v", e.DN, err)
		}
		return n, fmt.Sprint(n)
	}

	s := newStack(t, pushArgs...)
	s.mustCtl("directory", "add", "ad", "--kind", "ad", "--base-dn", ad.BaseDN, "--full-import-interval", "off", "--poll-interval", "1s")
	a := s.startAgent(devstack.AgentDirectory{Name: "ad", URL: ad.LDAPSURL, CAFile: ad.CAFile, BindDN: ad.BindDN, BindPassword: ad.BindPassword})
	(&faultEnv{s: s, name: "ad", a: a}).startCapture("dirsync")
	app := s.addSCIMApp("crm", "--allow", "create,update,deactivate")
	s.mustCtl("app", "assign", "crm", "--group", crew)
	ops := s.as(strings.TrimSpace(s.mustCtl("admin", "token", "create", "--name", "ops", "--role", "super-admin")))
	asOps := func(args ...string) devstack.CtlResult { return s.ctl(append(args, ops...)...) }

	ids, remote := map[string]string{}, map[string]string{}
	s.step("accounts in the app", func(t *testing.T) {
		for _, name := range []string{held, witness, gone} {
			ids[name] = s.person(name, "ad").ID
		}
		await(t, "the crew's accounts active in the app", func() string {
			for name, id := range ids {
				if why := accountIs(app, id, "", true); why != "" {
					return name + ": " + why
				}
			}
			return ""
		})
		for name, id := range ids {
			r, _ := byExternalID(app, id)
			remote[name] = r["id"].(string)
		}
	})

	s.step("deactivate holds the user", func(t *testing.T) {
		r := asOps("user", "deactivate", held, "--directory", "ad", "--reason", "laptop stolen")
		if r.Code != 0 || !strings.Contains(r.Stdout, "deprovisioned, held by admin:ops (super-admin) since ") {
			t.Fatalf("user deactivate: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		show := s.mustCtl("user", "show", held, "--directory", "ad")
		for _, want := range []string{"held by admin:ops (super-admin) since ", "(laptop stolen)", "its directory says active", "not while held and its directory has it"} {
			if !strings.Contains(show, want) {
				t.Errorf("user show does not say %q:\n%s", want, show)
			}
		}
		if p := s.person(held, "ad"); p.Status != "deprovisioned" || p.SourceStatus != "active" || p.Hold == nil ||
			p.Hold.By != "admin:ops" || p.Hold.Reason != "laptop stolen" || p.PurgeAt != nil {
			t.Errorf("the held user: status %s, source %s, hold %+v, purge %v; want deprovisioned, active in AD, held by admin:ops (laptop stolen), no purge while AD has it",
				p.Status, p.SourceStatus, p.Hold, p.PurgeAt)
		}
		await(t, "the account deactivated in the app", func() string { return accountIs(app, ids[held], remote[held], false) })
		eventually.That(t, "user.deactivated by admin:ops in the audit trail", func() (bool, string) {
			return s.auditHas("user.deactivated", "admin:ops", held, "laptop stolen")
		})
	})

	s.step("a group-admin of the crew does not lift the super-admin's hold", func(t *testing.T) {
		desk := s.as(strings.TrimSpace(s.mustCtl("admin", "token", "create", "--name", "desk", "--role", "group-admin", "--groups", "ad/"+crew)))
		for _, verb := range []string{"reactivate", "suspend"} {
			r := s.ctl(append([]string{"user", verb, held, "--directory", "ad"}, desk...)...)
			if r.Code == 0 || !strings.Contains(r.Stderr, "admin:ops (role super-admin)") || !strings.Contains(r.Stderr, "group-admin") {
				t.Errorf("user %s as a group-admin of the crew: exit %d\n%s%s; want refused, naming admin:ops, its role and the caller's",
					verb, r.Code, r.Stdout, r.Stderr)
			}
		}
		if p := s.person(held, "ad"); p.Status != "deprovisioned" || p.Hold == nil || p.Hold.By != "admin:ops" || p.Hold.Role != "super-admin" {
			t.Errorf("the held user after the refusals: %s, hold %+v; want deprovisioned, held by admin:ops (super-admin)", p.Status, p.Hold)
		}
		eventually.That(t, "the refusal in the audit trail", func() (bool, string) {
			return s.auditHas("request.refused", "admin:desk", "admin:ops")
		})
	})

	s.step("a change in AD leaves the hold", func(t *testing.T) {
		// The witness's change comes after the held user's: once the app
		// has it and the queue is idle, whatever the held user's change
		// called for has been pushed.
		if err := ad.Modify(ctx, replace(dn(held), "title", "Staff Engineer")); err != nil {
			t.Fatal(err)
		}
		if err := ad.Modify(ctx, replace(dn(witness), "title", "Witness")); err != nil {
			t.Fatal(err)
		}
		await(t, "the held user's new title in the hub", func() string {
			if p := s.person(held, "ad"); p.Title != "Staff Engineer" {
				return "title " + p.Title
			}
			return ""
		})
		await(t, "the witness's new title in the app, the queue idle", func() string {
			r, _ := byExternalID(app, ids[witness])
			var a appJSON
			s.ctlJSON(&a, "app", "show", "crm")
			if r["title"] != "Witness" || !a.idle() {
				return fmt.Sprintf("%s, queue %v", account(app, ids[witness]), a.Queue)
			}
			return ""
		})
		if p := s.person(held, "ad"); p.Status != "deprovisioned" || p.Hold == nil || p.SourceStatus != "active" {
			t.Errorf("after a change in AD the held user is %s (source %s, hold %+v); want still deprovisioned, held", p.Status, p.SourceStatus, p.Hold)
		}
		if why := accountIs(app, ids[held], remote[held], false); why != "" {
			t.Errorf("after a change in AD, in the app: %s", why)
		}
	})

	s.step("in the directory, before write-back", func(t *testing.T) {
		r := asOps("user", "deactivate", held, "--directory", "ad", "--reason", "laptop stolen", "--in-directory")
		if r.Code != 1 || !strings.Contains(r.Stderr, "held in the hub, but not in the directory") || !strings.Contains(r.Stderr, "not writable") {
			t.Errorf("deactivate --in-directory where the hub may not write: exit %d\n%s%s; want 1, held in the hub, the directory not writable",
				r.Code, r.Stdout, r.Stderr)
		}
		if n, _ := uac(held); n&2 != 0 {
			t.Errorf("userAccountControl %d: the account was disabled in AD", n)
		}
		if p := s.person(held, "ad"); p.Status != "deprovisioned" || p.Hold == nil {
			t.Errorf("the user is %s (hold %+v), want still held", p.Status, p.Hold)
		}
	})

	s.step("deactivate in the directory", func(t *testing.T) {
		s.mustCtl("directory", "update", "ad", "--writable-ou", staff)
		r := asOps("user", "deactivate", held, "--directory", "ad", "--reason", "laptop stolen", "--in-directory")
		if r.Code != 0 || !strings.Contains(r.Stderr, "in the directory: entry ") {
			t.Fatalf("deactivate --in-directory: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		if n, state := uac(held); n&2 == 0 {
			t.Errorf("userAccountControl %s: ACCOUNTDISABLE not set", state)
		}
		await(t, "AD's disabled account back in the hub, the hold kept", func() string {
			if p := s.person(held, "ad"); p.SourceStatus != "suspended" || p.Status != "deprovisioned" || p.Hold == nil {
				return fmt.Sprintf("status %s, source %s, hold %+v", p.Status, p.SourceStatus, p.Hold)
			}
			return ""
		})
		eventually.That(t, "user.disabled_in_directory in the audit trail", func() (bool, string) {
			return s.auditHas("user.disabled_in_directory", "admin:ops", held)
		})
	})

	s.step("reactivate in the directory", func(t *testing.T) {
		r := asOps("user", "reactivate", held, "--directory", "ad", "--in-directory")
		if r.Code != 0 || !strings.Contains(r.Stderr, "in the directory: entry ") {
			t.Fatalf("reactivate --in-directory: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		if n, state := uac(held); n&2 != 0 {
			t.Errorf("userAccountControl %s: ACCOUNTDISABLE still set", state)
		}
		await(t, "the user active in the hub and in the app, the same account", func() string {
			if p := s.person(held, "ad"); p.Status != "active" || p.SourceStatus != "active" || p.Hold != nil {
				return fmt.Sprintf("status %s, source %s, hold %+v", p.Status, p.SourceStatus, p.Hold)
			}
			return accountIs(app, ids[held], remote[held], true)
		})
	})

	s.step("restore a held user", func(t *testing.T) {
		if r := asOps("user", "deactivate", witness, "--directory", "ad", "--reason", "left the project"); r.Code != 0 {
			t.Fatalf("user deactivate: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		await(t, "the account deactivated in the app", func() string { return accountIs(app, ids[witness], remote[witness], false) })
		r := asOps("user", "restore", witness, "--directory", "ad")
		if r.Code != 0 {
			t.Fatalf("user restore: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		await(t, "the user active, its account back in the app with the same id", func() string {
			if p := s.person(witness, "ad"); p.Status != "active" || p.Hold != nil || p.ID != ids[witness] {
				return fmt.Sprintf("user %s %s, hold %+v", p.ID, p.Status, p.Hold)
			}
			return accountIs(app, ids[witness], remote[witness], true)
		})
		eventually.That(t, "user.restored in the audit trail", func() (bool, string) {
			return s.auditHas("user.restored", "admin:ops", witness)
		})
	})

	s.step("restore refused: gone from AD", func(t *testing.T) {
		if err := ad.Delete(ctx, dn(gone)); err != nil {
			t.Fatal(err)
		}
		await(t, "the deleted user deprovisioned, its account deactivated", func() string {
			if p := s.person(gone, "ad"); p.Status != "deprovisioned" || p.SourceStatus != "deprovisioned" {
				return fmt.Sprintf("status %s, source %s", p.Status, p.SourceStatus)
			}
			return accountIs(app, ids[gone], remote[gone], false)
		})
		r := asOps("user", "restore", gone, "--directory", "ad")
		if r.Code == 0 || !strings.Contains(r.Stderr, "directory ad no longer has it") {
			t.Errorf("restoring a user deleted in AD: exit %d\n%s%s; want refused, saying the directory no longer has it", r.Code, r.Stdout, r.Stderr)
		}
		if p := s.person(gone, "ad"); p.Status != "deprovisioned" {
			t.Errorf("after the refused restore the user is %s", p.Status)
		}
	})
}

// TestPeoplePurge: a user deleted in slapd is deprovisioned, its app
// accounts deactivated; it cannot be restored (slapd no longer has it).
// report upcoming-purges and user list --status deprovisioned show when it
// goes, after the hub's retention; once its directory's retention is
// shortened to seconds, the purge loop takes it: user show finds nothing,
// user.purged is audited, the account is deleted in the app that allows
// delete and a manual task opened for the one that does not. The same
// username again in slapd is a new user.
func TestPeoplePurge(t *testing.T) {
	ctx := t.Context()
	sl := testserver.Slapd(t, testserver.SlapdOptions{})
	people := "ou=people," + sl.BaseDN
	dn := func(uid string) string { return "uid=" + uid + "," + people }
	user := func(uid string) gendir.Entry {
		return gendir.Entry{DN: dn(uid), Attrs: []gendir.Attr{{Name: "objectClass", Values: []string{"inetOrgPerson"}},
			{Name: "uid", Values: []string{uid}}, {Name: "cn", Values: []string{uid}}, {Name: "sn", Values: []string{uid}},
			{Name: "mail", Values: []string{uid + "@people.test"}}}}
	}
	crewDN := "cn=crew," + sl.BaseDN
	for _, e := range []gendir.Entry{
		{DN: people, Attrs: []gendir.Attr{{Name: "objectClass", Values: []string{"organizationalUnit"}}, {Name: "ou", Values: []string{"people"}}}},
		user("dana"), user("evan"),
		{DN: crewDN, Attrs: []gendir.Attr{{Name: "objectClass", Values: []string{"groupOfNames"}}, {Name: "cn", Values: []string{"crew"}},
			{Name: "member", Values: []string{dn("dana"), dn("evan")}}}},
	} {
		if err := sl.Add(ctx, e); err != nil {
			t.Fatalf("adding %s: %v", e.DN, err)
		}
	}

	s := newStack(t, append(slices.Clone(pushArgs), "--user-retention", "7d", "--purge-interval", "200ms")...)
	s.mustCtl("directory", "add", "ldap", "--kind", "openldap", "--base-dn", sl.BaseDN, "--full-import-interval", "off")
	a := s.startAgent(ldapDirectory("ldap", sl))
	(&faultEnv{s: s, name: "ldap", a: a}).startCapture("syncrepl")
	// crm deletes accounts, a month after their user went (so that the
	// purge is what deletes it here); wiki may not delete.
	crm := s.addSCIMApp("crm", "--allow", "create,update,deactivate,delete", "--delete-after", "30d")
	wiki := s.addSCIMApp("wiki", "--allow", "create,update,deactivate")
	for _, app := range []string{"crm", "wiki"} {
		s.mustCtl("app", "assign", app, "--group", "crew")
	}

	var dana personJSON
	var evanID, crmID string
	s.step("accounts in both apps", func(t *testing.T) {
		dana, evanID = s.person("dana", "ldap"), s.person("evan", "ldap").ID
		await(t, "dana and evan active in crm and wiki", func() string {
			for _, id := range []string{dana.ID, evanID} {
				for name, app := range map[string]*scimtest.Server{"crm": crm, "wiki": wiki} {
					if why := accountIs(app, id, "", true); why != "" {
						return name + ": " + why
					}
				}
			}
			return ""
		})
		r, _ := byExternalID(crm, dana.ID)
		crmID = r["id"].(string)
	})

	s.step("deleted in slapd", func(t *testing.T) {
		if err := sl.Delete(ctx, dn("dana")); err != nil {
			t.Fatal(err)
		}
		await(t, "dana deprovisioned, her accounts deactivated", func() string {
			if p := s.person("dana", "ldap"); p.Status != "deprovisioned" {
				return "status " + p.Status
			}
			if why := accountIs(crm, dana.ID, crmID, false); why != "" {
				return "crm: " + why
			}
			if why := accountIs(wiki, dana.ID, "", false); why != "" {
				return "wiki: " + why
			}
			return ""
		})
	})

	s.step("restore refused: gone from slapd", func(t *testing.T) {
		r := s.ctl("user", "restore", "dana", "--directory", "ldap")
		if r.Code == 0 || !strings.Contains(r.Stderr, "directory ldap no longer has it") {
			t.Errorf("restoring a user deleted in slapd: exit %d\n%s%s; want refused, saying the directory no longer has it", r.Code, r.Stdout, r.Stderr)
		}
	})

	s.step("upcoming purges", func(t *testing.T) {
		p := s.person("dana", "ldap")
		if p.PurgeAt == nil || p.DeprovisionedAt == nil || p.PurgeAt.Sub(*p.DeprovisionedAt) != 7*24*time.Hour {
			t.Errorf("dana: deprovisioned %v, purged %v; want purged the hub's 7 days after", p.DeprovisionedAt, p.PurgeAt)
		}
		table := s.mustCtl("user", "list", "--status", "deprovisioned")
		header, rows, _ := strings.Cut(table, "\n")
		if !strings.Contains(header, "PURGED") || !strings.Contains(rows, "dana") ||
			!strings.Contains(rows, p.PurgeAt.Local().Format(time.DateTime)) {
			t.Errorf("user list --status deprovisioned, want dana with her purge date (%v):\n%s", p.PurgeAt, table)
		}
		var report []map[string]string
		s.ctlJSON(&report, "report", "upcoming-purges")
		if !slices.ContainsFunc(report, func(row map[string]string) bool { return slices.Contains(slices.Collect(maps.Values(row)), "dana") }) {
			t.Errorf("report upcoming-purges: %v, want dana", report)
		}
	})

	s.step("purged after a shortened retention", func(t *testing.T) {
		s.mustCtl("directory", "update", "ldap", "--retention", "2s")
		await(t, "dana purged", func() string {
			r := s.ctl("user", "show", dana.ID)
			if r.Code == 0 || !strings.Contains(strings.ToLower(r.Stderr), "no user") {
				return fmt.Sprintf("user show: exit %d %s", r.Code, r.Stderr)
			}
			return ""
		})
		eventually.That(t, "user.purged in the audit trail", func() (bool, string) {
			return s.auditHas("user.purged", "", dana.ID, "dana", "ldap")
		})
		await(t, "dana's crm account deleted", func() string {
			if _, ok := crm.User(crmID); ok {
				return account(crm, dana.ID)
			}
			return ""
		})
		await(t, "a manual task for dana's wiki account", func() string {
			var tasks []taskJSON
			s.ctlJSON(&tasks, "task", "list", "--app", "wiki")
			if len(tasks) != 1 || !strings.Contains(tasks[0].Detail, "purged") || tasks[0].State != "open" {
				return fmt.Sprintf("tasks %+v", tasks)
			}
			return ""
		})
		if why := accountIs(wiki, dana.ID, "", false); why != "" {
			t.Errorf("wiki, which may not delete: %s; want dana's account left deactivated", why)
		}
		if p := s.person("evan", "ldap"); p.Status != "active" || accountIs(crm, evanID, "", true) != "" {
			t.Errorf("evan: %s, crm %s; want active, untouched", p.Status, account(crm, evanID))
		}
	})

	s.step("the same username again is a new user", func(t *testing.T) {
		if err := sl.Add(ctx, user("dana")); err != nil {
			t.Fatal(err)
		}
		var again userJSON
		await(t, "a new dana in the hub", func() string {
			again = s.users("ldap")["dana"]
			if again.Status != "active" || again.ID == dana.ID {
				return fmt.Sprintf("hub: %+v (the purged one was %s)", again, dana.ID)
			}
			return ""
		})
		// slapd (no refint) kept her DN in crew all along: once the hub
		// reads the group again, the new dana is in it, and gets a new
		// account.
		s.mustImportFull("ldap")
		await(t, "the new dana in crew, with a new crm account", func() string {
			if u := s.person("dana", "ldap"); !slices.Contains(u.Groups, "crew") {
				return fmt.Sprintf("groups %q", u.Groups)
			}
			if r, ok := byExternalID(crm, again.ID); !ok || r["active"] != true || r["id"] == crmID {
				return account(crm, again.ID)
			}
			return ""
		})
	})
}

// TestPeopleLocalUser: a user made in the hub, in a directory of kind
// local, is put in a local group assigned to a SCIM app and to a slapd
// directory target: the app gets the account and slapd an entry under the
// target OU. A change made in the hub reaches both; deleted in the hub it
// is disabled in both, and restored it is back in both, the same account
// in the app.
func TestPeopleLocalUser(t *testing.T) {
	ctx := t.Context()
	sl := testserver.Slapd(t, testserver.SlapdOptions{})
	people := "ou=people," + sl.BaseDN
	if err := sl.Add(ctx, gendir.Entry{DN: people, Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"organizationalUnit"}}, {Name: "ou", Values: []string{"people"}}}}); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, pushArgs...)
	s.mustCtl("directory", "add", "ldap", "--kind", "openldap", "--base-dn", sl.BaseDN, "--full-import-interval", "off")
	s.startAgent(ldapDirectory("ldap", sl))
	s.mustImportFull("ldap")
	s.mustCtl("directory", "update", "ldap", "--writable-ou", people)
	s.mustCtl("app", "add", "ldap-accounts", "--directory", "ldap", "--ou", people, "--rdn-attribute", "uid",
		"--disable-attribute", "employeeType=disabled")
	crm := s.addSCIMApp("crm", "--allow", "create,update,deactivate")
	entry := func() *ldap.Entry { return findEntry(t, &sl.Endpoint, people, "(uid=lee)") }

	var lee personJSON
	s.step("a local user in a local group", func(t *testing.T) {
		s.mustCtl("directory", "add", "staff", "--kind", "local")
		s.mustCtl("user", "create", "--directory", "staff", "--username", "lee", "--email", "lee@staff.test",
			"--given-name", "Lee", "--family-name", "Contractor", "--field", "title=Contractor")
		s.mustCtl("group", "create", "crew", "--directory", "staff")
		s.mustCtl("group", "add-member", "crew", "--directory", "staff", "--user", "lee")
		lee = s.person("lee", "staff")
		if lee.Status != "active" || lee.Title != "Contractor" || lee.Email != "lee@staff.test" || !slices.Contains(lee.Groups, "crew") {
			t.Fatalf("lee: %+v; want active, a Contractor, lee@staff.test, in crew", lee)
		}
	})

	var remoteID string
	s.step("pushed to the app and written into slapd", func(t *testing.T) {
		for _, app := range []string{"crm", "ldap-accounts"} {
			s.mustCtl("app", "assign", app, "--group", "crew", "--directory", "staff")
		}
		await(t, "lee in the app and in slapd", func() string {
			r, ok := byExternalID(crm, lee.ID)
			e := entry()
			switch {
			case !ok || r["active"] != true || r["title"] != "Contractor" || workEmail(r) != "lee@staff.test":
				return "app " + account(crm, lee.ID)
			case e == nil || e.DN != "uid=lee,"+people || e.GetAttributeValue("sn") != "Contractor" ||
				e.GetAttributeValue("title") != "Contractor" || e.GetAttributeValue("mail") != "lee@staff.test" ||
				e.GetAttributeValue("employeeType") != "":
				return "slapd entry " + describeEntry(e)
			}
			remoteID = r["id"].(string)
			return ""
		})
	})

	s.step("a change made in the hub", func(t *testing.T) {
		s.mustCtl("user", "update", "lee", "--directory", "staff", "--field", "title=Lead Contractor")
		await(t, "the new title in the app and in slapd", func() string {
			r, _ := byExternalID(crm, lee.ID)
			if e := entry(); r["title"] != "Lead Contractor" || e.GetAttributeValue("title") != "Lead Contractor" {
				return fmt.Sprintf("app %v, slapd %s", r["title"], describeEntry(e))
			}
			return ""
		})
	})

	s.step("suspended and unsuspended", func(t *testing.T) {
		s.mustCtl("user", "suspend", "lee", "--directory", "staff", "--reason", "on leave")
		await(t, "lee suspended in the hub, inactive in the app", func() string {
			if p := s.person("lee", "staff"); p.Status != "suspended" || p.Hold == nil || p.Hold.Reason != "on leave" {
				return fmt.Sprintf("hub: %s, hold %+v", p.Status, p.Hold)
			}
			return accountIs(crm, lee.ID, remoteID, false)
		})
		s.mustCtl("user", "unsuspend", "lee", "--directory", "staff")
		await(t, "lee active again in the app, the same account", func() string {
			if p := s.person("lee", "staff"); p.Status != "active" || p.Hold != nil {
				return fmt.Sprintf("hub: %s, hold %+v", p.Status, p.Hold)
			}
			return accountIs(crm, lee.ID, remoteID, true)
		})
	})

	s.step("out of the group and back", func(t *testing.T) {
		s.mustCtl("group", "remove-member", "crew", "--directory", "staff", "--user", "lee")
		await(t, "lee out of scope: inactive in the app", func() string { return accountIs(crm, lee.ID, remoteID, false) })
		s.mustCtl("group", "add-member", "crew", "--directory", "staff", "--user", "lee")
		await(t, "lee in scope again: active, the same account", func() string { return accountIs(crm, lee.ID, remoteID, true) })
	})

	s.step("deleted in the hub", func(t *testing.T) {
		s.mustCtl("user", "delete", "lee", "--directory", "staff")
		await(t, "lee disabled in the app and in slapd", func() string {
			if e := entry(); e.GetAttributeValue("employeeType") != "disabled" {
				return "slapd entry " + describeEntry(e)
			}
			return accountIs(crm, lee.ID, remoteID, false)
		})
	})

	s.step("restored", func(t *testing.T) {
		s.mustCtl("user", "restore", "lee", "--directory", "staff")
		await(t, "lee active again in the hub, the app and slapd", func() string {
			if p := s.person("lee", "staff"); p.Status != "active" || p.ID != lee.ID {
				return fmt.Sprintf("hub: %s %s", p.ID, p.Status)
			}
			if e := entry(); e.GetAttributeValue("employeeType") != "" {
				return "slapd entry " + describeEntry(e)
			}
			return accountIs(crm, lee.ID, remoteID, true)
		})
	})
}
