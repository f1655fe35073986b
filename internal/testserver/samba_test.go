//go:build linux

package testserver_test

import (
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
)

// TestMain stops the process-wide servers (Samba) after the tests.
func TestMain(m *testing.M) { testserver.Main(m) }

func TestSambaADLoadsGeneratedEntries(t *testing.T) {
	srv := testserver.SambaAD(t)
	other := testserver.SambaAD(t)
	if srv.BaseDN == other.BaseDN {
		t.Fatalf("two calls gave the same OU %q, want a fresh one each", srv.BaseDN)
	}
	gen, err := gendir.New(gendir.Options{Flavor: gendir.AD, BaseDN: srv.BaseDN, Seed: 5, Users: 200, Groups: 5,
		MailDomain: "idsync.test"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := srv.AddGenerated(t.Context(), gen, 4); err != nil {
		t.Fatalf("AddGenerated: %v", err)
	}
	t.Logf("added 200 users and 5 groups in %v", time.Since(start))

	c, err := srv.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		name, base, filter string
		want               int
	}{
		{"users", srv.BaseDN, "(&(objectCategory=person)(objectClass=user))", 200},
		{"groups", srv.BaseDN, "(objectClass=group)", 5},
		{"nothing in the other OU", other.BaseDN, "(objectClass=user)", 0},
		{"user 7 enabled without password", srv.BaseDN, "(&(sAMAccountName=" + gen.UserUID(7) + ")(userAccountControl=544))", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := countEntries(t, c, tt.base, tt.filter); got != tt.want {
				t.Errorf("%d entries match %s under %s, want %d", got, tt.filter, tt.base, tt.want)
			}
		})
	}
}

func TestSambaADSetPasswordOverLDAPS(t *testing.T) {
	srv := testserver.SambaAD(t)
	gen, err := gendir.New(gendir.Options{Flavor: gendir.AD, BaseDN: srv.BaseDN, Seed: 6, Users: 3, Groups: 1, AccountPrefix: "pw",
		MailDomain: "idsync.test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddGenerated(t.Context(), gen, 1); err != nil {
		t.Fatalf("AddGenerated: %v", err)
	}
	dn := gen.UserDN(1)
	const password = "Pw-for-user-1-x9"
	if err := srv.SetPassword(t.Context(), dn, password); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	c, err := ldap.DialURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind(dn, password); err != nil {
		t.Errorf("bind with the password set: %v", err)
	}
	if err := c.Bind(dn, password+"-wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Errorf("bind with a wrong password: %v, want invalid credentials", err)
	}
}
