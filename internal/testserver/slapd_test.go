//go:build linux

package testserver_test

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
)

func countEntries(t *testing.T, c *ldap.Conn, base, filter string) int {
	t.Helper()
	res, err := c.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, []string{"1.1"}, nil), 1000)
	if err != nil {
		t.Fatalf("searching %s for %s: %v", base, filter, err)
	}
	return len(res.Entries)
}

func TestSlapdPreloadKillRestart(t *testing.T) {
	var gen *gendir.Generator
	start := time.Now()
	srv := testserver.Slapd(t, testserver.SlapdOptions{
		Preload: func(base string, emit func(gendir.Entry) error) error {
			var err error
			gen, err = gendir.New(gendir.Options{BaseDN: base, Seed: 1, Users: 2000, Groups: 50})
			if err != nil {
				return err
			}
			return gen.Each(emit)
		},
	})
	t.Logf("slapd with 2,000 users up in %v", time.Since(start))

	check := func(when string) {
		t.Helper()
		c, err := srv.Conn(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		defer c.Close()
		if got := countEntries(t, c, srv.BaseDN, "(objectClass=inetOrgPerson)"); got != 2000 {
			t.Errorf("%s: %d users, want 2000", when, got)
		}
		if got := countEntries(t, c, srv.BaseDN, "(cn=added)"); got != 1 {
			t.Errorf("%s: %d entries cn=added, want 1", when, got)
		}
	}
	added := gendir.Entry{DN: "cn=added," + gen.PeopleDN(), Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"person"}}, {Name: "cn", Values: []string{"added"}}, {Name: "sn", Values: []string{"Ødegård"}},
	}}
	if err := srv.Add(t.Context(), added); err != nil {
		t.Fatal(err)
	}
	check("after a live add")
	if srv.Outside {
		return
	}
	if err := srv.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if _, err := srv.Conn(t.Context()); err == nil {
		t.Fatalf("Conn after Kill succeeded, want an error")
	}
	if err := srv.Restart(t.Context()); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	check("after Kill and Restart")
}

func TestSlapdTLS(t *testing.T) {
	srv := testserver.Slapd(t, testserver.SlapdOptions{TLS: true})
	pemBytes, err := os.ReadFile(srv.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}

	c, err := ldap.DialURL(srv.LDAPSURL, ldap.DialWithTLSConfig(cfg))
	if err != nil {
		t.Fatalf("dialling %s: %v", srv.LDAPSURL, err)
	}
	defer c.Close()
	if err := c.Bind(srv.BindDN, srv.BindPassword); err != nil {
		t.Errorf("bind over ldaps: %v", err)
	}

	c2, err := ldap.DialURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.StartTLS(cfg); err != nil {
		t.Errorf("StartTLS: %v", err)
	}
	if err := c2.Bind(srv.BindDN, srv.BindPassword); err != nil {
		t.Errorf("bind after StartTLS: %v", err)
	}
}
