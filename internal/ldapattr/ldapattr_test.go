package ldapattr

import (
	"strings"
	"testing"
)

func TestWritable(t *testing.T) {
	for _, c := range []struct {
		name, kind, attr string
		want             string // "" allowed, else a part of the error
	}{
		{"AD profile field", KindAD, "givenName", ""},
		{"AD any case", KindAD, "DEPARTMENT", ""},
		{"AD login name", KindAD, "sAMAccountName", ""},
		{"OpenLDAP uid", KindOpenLDAP, "uid", ""},
		{"denylisted", KindAD, "userAccountControl", "account's enabled state"},
		{"denylisted with options", KindAD, "member;range=0-10", "rights of the account"},
		{"not in the list", KindAD, "homeDirectory", "not among the attributes"},
		{"script path", KindAD, "scriptPath", "rights of the account"},
		{"OpenLDAP-only on AD", KindAD, "departmentNumber", "not among"},
		{"AD-only on OpenLDAP", KindOpenLDAP, "sAMAccountName", "not among"},
		{"OpenLDAP posix", KindOpenLDAP, "uidNumber", "not among"},
		{"OpenLDAP login shell", KindOpenLDAP, "loginShell", "not among"},
		{"options", KindOpenLDAP, "description;lang-fr", "without options"},
		{"OID", KindOpenLDAP, "2.5.4.3", "by OID"},
		{"unknown kind", "scim", "cn", "not written"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Writable(c.kind, c.attr)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("Writable(%s, %s) = %v, want allowed", c.kind, c.attr, err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("Writable(%s, %s) = %v, want an error with %q", c.kind, c.attr, err, c.want)
			case err != nil && !strings.Contains(err.Error(), c.attr):
				t.Errorf("Writable(%s, %s) = %v: does not name the attribute", c.kind, c.attr, err)
			}
		})
	}
}

func TestDisableAttribute(t *testing.T) {
	if err := DisableAttribute(KindOpenLDAP, "pwdAccountLockedTime"); err != nil {
		t.Errorf("pwdAccountLockedTime on OpenLDAP: %v", err)
	}
	if err := DisableAttribute(KindOpenLDAP, "employeeType"); err != nil {
		t.Errorf("employeeType on OpenLDAP: %v", err)
	}
	if err := DisableAttribute(KindAD, "pwdAccountLockedTime"); err == nil {
		t.Errorf("pwdAccountLockedTime on AD: allowed, want refused")
	}
	if err := DisableAttribute(KindOpenLDAP, "userPassword"); err == nil {
		t.Errorf("userPassword: allowed, want refused")
	}
}
