//go:build linux

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
)

// TestPasswordPolicyAD (issue 16, password rules): every initial password
// the hub sets in Samba AD follows the directory's password policy. A
// policy weaker than AD's complexity lets a password through that AD
// refuses: a dead letter at the first attempt that names the policy, no
// retry loop. A stricter policy refuses the same password before anything
// is sent, naming the rule. random() draws a password that both accept.
func TestPasswordPolicyAD(t *testing.T) {
	ctx := t.Context()
	ad := testserver.SambaAD(t)
	staff := "OU=PwStaff," + ad.BaseDN
	if err := ad.Add(ctx, gendir.Entry{DN: staff, Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"top", "organizationalUnit"}}, {Name: "ou", Values: []string{"PwStaff"}}}}); err != nil {
		t.Fatal(err)
	}
	s := newStack(t, pushArgs...)
	pwFile := filepath.Join(s.dir, "initial.pw")
	writePW := func(src string) {
		if err := os.WriteFile(pwFile, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.mustCtl("directory", "add", "ad", "--kind", "ad", "--base-dn", ad.BaseDN, "--full-import-interval", "off", "--capture", "off")
	s.startAgent(devstack.AgentDirectory{Name: "ad", URL: ad.LDAPSURL, CAFile: ad.CAFile, BindDN: ad.BindDN, BindPassword: ad.BindPassword})
	s.mustCtl("directory", "add", "staff", "--kind", "local")
	s.mustCtl("user", "create", "--directory", "staff", "--username", "pwtester", "--email", "pwtester@idsync.test",
		"--given-name", "Pat", "--family-name", "Tester")
	dead := func(t *testing.T) pushJSON {
		t.Helper()
		var job pushJSON
		eventually.That(t, "the push dead-lettered", func() (bool, string) {
			var jobs []pushJSON
			s.ctlJSON(&jobs, "push", "list", "--app", "ad-accounts")
			for _, j := range jobs {
				if j.Kind == "user" {
					job = j
					return j.State == "dead", fmt.Sprintf("%+v", j)
				}
			}
			return false, "no user job"
		})
		return job
	}

	s.step("a policy weaker than AD's: AD's refusal is a dead letter naming the policy", func(t *testing.T) {
		writePW(`"password12"`)
		s.mustCtl("directory", "update", "ad", "--writable-ou", staff, "--initial-password-file", pwFile,
			"--password-policy", "min-length=8")
		if out := s.mustCtl("directory", "show", "ad"); !strings.Contains(out, "min-length=8") {
			t.Errorf("directory show does not show the policy:\n%s", out)
		}
		s.mustCtl("app", "add", "ad-accounts", "--directory", "ad", "--ou", staff)
		s.mustCtl("app", "assign", "ad-accounts", "--user", "pwtester", "--directory", "staff")
		j := dead(t)
		if j.Attempts != 1 || !strings.Contains(j.LastError, "refused the initial password") ||
			!strings.Contains(j.LastError, "password policy min-length=8") || strings.Contains(j.LastError, "password12") {
			t.Errorf("dead letter after %d attempts: %s; want one attempt, naming AD's refusal and the policy, not the password", j.Attempts, j.LastError)
		}
		if e := findEntry(t, &ad.Endpoint, staff, "(sAMAccountName=pwtester)"); e != nil {
			t.Errorf("the entry was left in AD: %s", e.DN)
		}
	})
	s.step("a stricter policy refuses the password before sending, naming the rule", func(t *testing.T) {
		if r := s.ctl("directory", "update", "ad", "--password-policy", "min-length=14,classes=5"); r.Code == 0 ||
			!strings.Contains(r.Stderr, "classes=5") {
			t.Fatalf("a bad policy: exit %d %s, want refused naming the rule", r.Code, r.Stderr)
		}
		s.mustCtl("directory", "update", "ad", "--password-policy", "min-length=14,classes=3,not-username,not-reused")
		s.mustCtl("push", "retry", "--app", "ad-accounts")
		j := dead(t)
		if j.Attempts != 1 || !strings.Contains(j.LastError, "password policy rule min-length=14") ||
			!strings.Contains(j.LastError, "nothing was sent") {
			t.Errorf("dead letter after %d attempts: %s; want one, naming the rule min-length=14", j.Attempts, j.LastError)
		}
	})
	s.step("random() draws a password both accept", func(t *testing.T) {
		writePW(`random()`)
		s.mustCtl("directory", "update", "ad", "--initial-password-file", pwFile)
		s.mustCtl("push", "retry", "--app", "ad-accounts")
		eventually.That(t, "the account enabled in AD", func() (bool, string) {
			e := findEntry(s.t, &ad.Endpoint, staff, "(sAMAccountName=pwtester)")
			if e == nil {
				var jobs []pushJSON
				s.ctlJSON(&jobs, "push", "list", "--app", "ad-accounts")
				return false, fmt.Sprintf("no entry; jobs %+v", jobs)
			}
			return e.GetAttributeValue("userAccountControl") == "512", describeEntry(e)
		})
	})
}
