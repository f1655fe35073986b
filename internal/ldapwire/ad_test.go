//go:build linux

package ldapwire_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/ldapwire"
	"github.com/idsync/idsync/internal/testserver"
)

// TestSambaAD reads an Active Directory: binary values (objectGUID,
// objectSid), ranged attribute descriptions, continuation references and
// AD's bind errors.
func TestSambaAD(t *testing.T) {
	t.Parallel() // Samba's time, not ours
	srv := testserver.SambaAD(t)
	const users = 12
	gen, err := gendir.New(gendir.Options{Flavor: gendir.AD, BaseDN: srv.BaseDN, Seed: 5, Users: users, Groups: 2,
		MailDomain: "idsync.test", GroupSize: func(j int) int { return []int{users, 3}[j] }})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := srv.AddGenerated(t.Context(), gen, 2); err != nil {
		t.Fatalf("loading AD: %v", err)
	}
	t.Logf("loaded in %v", time.Since(start))
	c := bound(t, srv.URL, srv.Endpoint, ldapwire.Options{})
	sub := ldapwire.ScopeWholeSubtree

	t.Run("same entries as go-ldap", func(t *testing.T) {
		tests := []struct {
			query
			wantEntries int
			wantRefs    bool // the server also sends continuation references
		}{
			{query{"the test's OU, all attributes, pages of 5", srv.BaseDN, sub, "", []string{"*"}, 5}, users + 2 + 3, false},
			{query{"the domain, skipping continuation references", srv.DomainDN, sub, "(objectClass=domain)", []string{"objectGUID", "objectSid", "dc"}, 10}, 1, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				same(t, c, srv.Endpoint, tt.query, tt.wantEntries)
				if refs := goLDAP(t, srv.Endpoint, tt.query).Referrals; (len(refs) > 0) != tt.wantRefs {
					t.Errorf("the server sent references %q, want some: %v", refs, tt.wantRefs)
				}
			})
		}
	})

	t.Run("ranged attributes come back verbatim", func(t *testing.T) {
		group := gen.GroupDN(0)
		tests := []struct {
			requested, wantName string
			wantValues          int
		}{
			{"member;range=0-4", "member;range=0-4", 5},
			{"member;range=5-9", "member;range=5-9", 5},
			{"member;range=10-14", "member;range=10-*", users - 10},
			{"member;range=0-*", "member;range=0-*", users},
		}
		for _, tt := range tests {
			t.Run(tt.requested, func(t *testing.T) {
				q := query{tt.requested, group, ldapwire.ScopeBaseObject, "", []string{tt.requested}, 0}
				compare(t, c, srv.Endpoint, q)
				var names []string
				values := 0
				pages(t, c, q, func(e *ldapwire.Entry) error {
					for _, a := range e.Attrs {
						names = append(names, string(a.Name))
						values += len(a.Values)
					}
					return nil
				})
				if len(names) != 1 || names[0] != tt.wantName || values != tt.wantValues {
					t.Errorf("attributes %q with %d values, want %q with %d", names, values, tt.wantName, tt.wantValues)
				}
			})
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		const wrong = "Not-The-Adm1n-Password"
		c, err := ldapwire.Dial(t.Context(), srv.URL, ldapwire.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = c.Bind(t.Context(), srv.BindDN, wrong)
		var re *ldapwire.ResultError
		if !errors.As(err, &re) || re.Code != ldap.LDAPResultInvalidCredentials || !strings.Contains(re.Message, "52e") {
			t.Fatalf("Bind = %v, want a ResultError with code 49 and AD's data 52e", err)
		}
		if strings.Contains(err.Error(), wrong) {
			t.Errorf("the error %q contains the password", err)
		}
	})
}
