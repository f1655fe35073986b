//go:build linux

package ldapsync_test

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
	"github.com/idsync/idsync/ldapsync"
)

var (
	openLDAPUserAttrs  = []string{"objectClass", "uid", "cn", "sn", "givenName", "displayName", "mail", "employeeNumber", "departmentNumber", "title", "manager"}
	openLDAPGroupAttrs = []string{"objectClass", "cn", "description", "member", "uniqueMember", "memberUid", "gidNumber"}
)

// preloaded returns a slapd (or the outside server's test OU) holding
// what opts generate, and the generator.
func preloaded(t *testing.T, opts gendir.Options, extra ...testserver.SlapdOptions) (*testserver.SlapdServer, *gendir.Generator) {
	t.Helper()
	var gen *gendir.Generator
	var so testserver.SlapdOptions
	if len(extra) > 0 {
		so = extra[0]
	}
	more := so.Preload
	so.Preload = func(base string, emit func(gendir.Entry) error) error {
		opts.BaseDN = base
		var err error
		if gen, err = gendir.New(opts); err != nil {
			return err
		}
		if err := gen.Each(emit); err != nil {
			return err
		}
		if more != nil {
			return more(base, emit)
		}
		return nil
	}
	return testserver.Slapd(t, so), gen
}

// entryUUIDs reads DN → entryUUID with a plain paged search.
func entryUUIDs(t *testing.T, srv *testserver.SlapdServer) map[string]string {
	t.Helper()
	c, err := srv.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.SearchWithPaging(ldap.NewSearchRequest(srv.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"entryUUID"}, nil), 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range res.Entries {
		out[strings.ToLower(e.DN)] = e.GetAttributeValue("entryUUID")
	}
	return out
}

func TestFullImportOpenLDAP(t *testing.T) {
	const users, groups = 10_000, 300
	start := time.Now()
	srv, gen := preloaded(t, gendir.Options{Seed: 42, Users: users, Groups: groups})
	t.Logf("slapd with %d users and %d groups ready in %v", users, groups, time.Since(start))
	conn := dial(t, srv.Endpoint)
	spec := ldapsync.Spec{Kind: ldapsync.KindOpenLDAP, BaseDN: srv.BaseDN,
		UserAttributes: openLDAPUserAttrs, GroupAttributes: openLDAPGroupAttrs, PageSize: 500}

	first := &recorder{}
	start = time.Now()
	stats, err := ldapsync.FullImport(t.Context(), conn, spec, first)
	if err != nil {
		t.Fatalf("FullImport: %v", err)
	}
	t.Logf("imported %+v in %v", stats, time.Since(start))
	if want := (ldapsync.Stats{Users: users, Groups: groups}); stats != want {
		t.Errorf("stats = %+v, want %+v", stats, want)
	}
	if len(first.errors) != 0 {
		t.Errorf("entry errors: %+v", first.errors)
	}
	// Users come first, then groups.
	if k := slices.IndexFunc(first.changes, func(c ldapsync.Change) bool { return c.Kind == ldapsync.ObjectGroup }); k != users {
		t.Errorf("first group at position %d, want %d (after all users)", k, users)
	}

	got := first.byDN(t)
	uuids := entryUUIDs(t, srv)
	nonASCII := 0
	check := func(dn string, kind ldapsync.ObjectKind, wantAttrs []ldapsync.Attribute) {
		t.Helper()
		c, ok := got[strings.ToLower(dn)]
		switch {
		case !ok:
			t.Errorf("%s not imported", dn)
		case c.Type != ldapsync.ChangeUpsert || c.Kind != kind:
			t.Errorf("%s: type %v kind %v, want upsert %v", dn, c.Type, c.Kind, kind)
		case c.ExternalID != uuids[strings.ToLower(dn)] || len(c.ExternalID) != 36:
			t.Errorf("%s: external id %q, want the entryUUID %q", dn, c.ExternalID, uuids[strings.ToLower(dn)])
		case !reflect.DeepEqual(c.Attributes, wantAttrs):
			t.Errorf("%s attributes:\n got %q\nwant %q", dn, c.Attributes, wantAttrs)
		}
	}
	for i := range users {
		u := gen.User(i)
		check(u.DN, ldapsync.ObjectUser, want(u, openLDAPUserAttrs))
		if !isASCII(u.Get("displayName")[0]) {
			nonASCII++
		}
	}
	for j := range groups {
		g := gen.Group(j)
		check(g.DN, ldapsync.ObjectGroup, want(g, openLDAPGroupAttrs))
	}
	if nonASCII < users/4 {
		t.Errorf("only %d users with non-ASCII names were checked, want at least %d", nonASCII, users/4)
	}

	second := &recorder{}
	if _, err := ldapsync.FullImport(t.Context(), conn, spec, second); err != nil {
		t.Fatalf("second FullImport: %v", err)
	}
	if !reflect.DeepEqual(first.changes, second.changes) {
		t.Errorf("the second import differs from the first")
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// person is a minimal inetOrgPerson with extra attributes.
func person(dn, uid string, extra []gendir.Attr) gendir.Entry {
	return gendir.Entry{DN: dn, Attrs: append([]gendir.Attr{
		{Name: "objectClass", Values: []string{"inetOrgPerson"}},
		{Name: "uid", Values: []string{uid}}, {Name: "cn", Values: []string{uid}}, {Name: "sn", Values: []string{uid}},
	}, extra...)}
}

// TestFullImportReportsBadEntries checks that entries that cannot be sent
// are reported, naming the DN and the attribute, and that the rest of the
// import goes on.
func TestFullImportReportsBadEntries(t *testing.T) {
	const users = 50
	type badEntry struct {
		name, dn string
		wantMsg  []string
		wantID   bool
	}
	var bad []badEntry

	// Locally an access rule hides one entry's entryUUID from a reader
	// account; an outside server's rules are not ours to change.
	local := os.Getenv("IDSYNC_TEST_LDAP_URL") == ""
	var opts testserver.SlapdOptions
	readerDN, readerPassword := "cn=reader,"+testserver.SlapdSuffix, "reader-secret"
	if local {
		noIDDN := "uid=noid,ou=people," + testserver.SlapdSuffix
		bad = append(bad, badEntry{"id not readable", noIDDN, []string{"no entryuuid"}, false})
		opts.Access = []string{fmt.Sprintf("access to dn.exact=%q attrs=entryUUID by dn.exact=%q none by * read", noIDDN, readerDN)}
		opts.Preload = func(base string, emit func(gendir.Entry) error) error {
			return errors.Join(
				emit(gendir.Entry{DN: readerDN, Attrs: []gendir.Attr{
					{Name: "objectClass", Values: []string{"organizationalRole", "simpleSecurityObject"}},
					{Name: "cn", Values: []string{"reader"}}, {Name: "userPassword", Values: []string{readerPassword}}}}),
				emit(person(noIDDN, "noid", nil)))
		}
	}
	srv, gen := preloaded(t, gendir.Options{Seed: 7, Users: users}, opts)

	binaryDN, hugeDN := "uid=binary,"+gen.PeopleDN(), "uid=huge,"+gen.PeopleDN()
	bad = append(bad,
		badEntry{"value that is not UTF-8", binaryDN, []string{"attribute audio", "not valid UTF-8"}, true},
		badEntry{"10 MB value", hugeDN, []string{"attribute description", "10485760 bytes exceeds the limit of 1048576 bytes"}, true})
	for _, e := range []gendir.Entry{
		// audio is an octet string: slapd stores any bytes.
		person(binaryDN, "binary", []gendir.Attr{{Name: "audio", Values: []string{"RIFF\xff\xfe\x00\x01WAVE"}}}),
		person(hugeDN, "huge", []gendir.Attr{{Name: "description", Values: []string{strings.Repeat("x", 10<<20)}}}),
	} {
		if err := srv.Add(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}

	cfg := ldapsync.Config{URL: srv.URL, BindDN: srv.BindDN, BindPassword: srv.BindPassword}
	if local {
		cfg.BindDN, cfg.BindPassword = readerDN, readerPassword // access rules do not apply to the root DN
	}
	conn, err := ldapsync.Dial(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rec := &recorder{}
	stats, err := ldapsync.FullImport(t.Context(), conn, ldapsync.Spec{Kind: ldapsync.KindOpenLDAP, BaseDN: srv.BaseDN,
		UserAttributes: []string{"uid", "cn", "audio", "description"}}, rec)
	if err != nil {
		t.Fatalf("FullImport: %v", err)
	}
	if stats.Users != users || stats.Errors != len(bad) {
		t.Errorf("stats = %+v, want the %d good users and %d errors", stats, users, len(bad))
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			k := slices.IndexFunc(rec.errors, func(e ldapsync.EntryError) bool { return e.DN == tt.dn })
			if k < 0 {
				t.Fatalf("no EntryError for %s; got %+v", tt.dn, rec.errors)
			}
			e := rec.errors[k]
			for _, w := range tt.wantMsg {
				if !strings.Contains(e.Message, w) {
					t.Errorf("message %q does not contain %q", e.Message, w)
				}
			}
			if (e.ExternalID != "") != tt.wantID || e.Kind != ldapsync.ObjectUser {
				t.Errorf("EntryError = %+v, want kind user, external id set: %v", e, tt.wantID)
			}
			if !strings.Contains(e.Error(), tt.dn) {
				t.Errorf("Error() = %q does not name the DN", e.Error())
			}
		})
	}
}
