//go:build linux

package ldapsync_test

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
	"github.com/idsync/idsync/ldapsync"
)

var (
	adUserAttrs = []string{"objectClass", "cn", "sAMAccountName", "userPrincipalName", "userAccountControl", "givenName", "sn",
		"displayName", "mail", "employeeNumber", "departmentNumber", "title", "manager"}
	adGroupAttrs = []string{"objectClass", "cn", "sAMAccountName", "description", "member"}
)

// extendedGUIDs reads DN → GUID as the server itself formats it, through
// the extended-DN control (<GUID=…>;<SID=…>;dn).
func extendedGUIDs(t *testing.T, srv *testserver.SambaServer) map[string]string {
	t.Helper()
	c, err := srv.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The control's value BER SEQUENCE { INTEGER 1 } asks for text GUIDs.
	extended := ldap.NewControlString(ldap.ControlTypeMicrosoftExtendedDN, false, "\x30\x03\x02\x01\x01")
	res, err := c.SearchWithPaging(ldap.NewSearchRequest(srv.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"1.1"}, []ldap.Control{extended}), 500)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^<GUID=([0-9a-f-]{36})>;(?:<SID=[^>]*>;)?(.*)$`)
	out := map[string]string{}
	for _, e := range res.Entries {
		m := re.FindStringSubmatch(e.DN)
		if m == nil {
			t.Fatalf("extended DN %q not understood", e.DN)
		}
		out[strings.ToLower(m[2])] = m[1]
	}
	return out
}

func TestFullImportAD(t *testing.T) {
	t.Parallel() // loading AD takes seconds of Samba's time, not ours
	// Two groups of more than AD's 1,500 values per search exercise range
	// retrieval; with two, one at least is not on the last page when the
	// groups are read one per page (the server's order follows GUIDs).
	const users, groups, bigGroup = 1600, 5, 1600
	srv := testserver.SambaAD(t)
	gen, err := gendir.New(gendir.Options{Flavor: gendir.AD, BaseDN: srv.BaseDN, Seed: 11, Users: users, Groups: groups,
		MailDomain: "idsync.test",
		GroupSize: func(j int) int {
			return []int{bigGroup, bigGroup, 3, 40, 250}[j]
		}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := srv.AddGenerated(t.Context(), gen, 4); err != nil {
		t.Fatalf("loading AD: %v", err)
	}
	t.Logf("loaded %d users and %d groups into AD in %v", users, groups, time.Since(start))

	conn := dial(t, srv.Endpoint)
	spec := ldapsync.Spec{Kind: ldapsync.KindAD, BaseDN: srv.BaseDN,
		UserAttributes: append(slices.Clone(adUserAttrs), "objectSid"), GroupAttributes: adGroupAttrs}
	first := &recorder{}
	start = time.Now()
	stats, err := ldapsync.FullImport(t.Context(), conn, spec, first)
	if err != nil {
		t.Fatalf("FullImport: %v", err)
	}
	t.Logf("imported %+v in %v", stats, time.Since(start))
	if want := (ldapsync.Stats{Users: users, Groups: groups, RangeFetches: 2}); stats != want {
		t.Errorf("stats = %+v, want %+v (one range fetch for each big group)", stats, want)
	}
	if len(first.errors) != 0 {
		t.Errorf("entry errors: %+v", first.errors)
	}

	got := first.byDN(t)
	guids := extendedGUIDs(t, srv)
	sids := map[string]bool{}
	sidPattern := regexp.MustCompile(`^S-1-5-21-\d+-\d+-\d+-\d+$`)
	for i := range users {
		u := gen.User(i)
		c, ok := got[strings.ToLower(u.DN)]
		if !ok {
			t.Errorf("user %s not imported", u.DN)
			continue
		}
		if c.ExternalID != guids[strings.ToLower(u.DN)] {
			t.Errorf("%s: external id %q, want the server's GUID %q", u.DN, c.ExternalID, guids[strings.ToLower(u.DN)])
		}
		sid := attr(c, "objectsid")
		if len(sid) != 1 || !sidPattern.MatchString(sid[0]) || sids[sid[0]] {
			t.Errorf("%s: objectsid %q, want one unique S-1-5-21-… value", u.DN, sid)
		} else {
			sids[sid[0]] = true
		}
		gotAttrs := slices.DeleteFunc(slices.Clone(c.Attributes), func(a ldapsync.Attribute) bool { return a.Name == "objectsid" })
		if wantAttrs := want(u, adUserAttrs); !reflect.DeepEqual(gotAttrs, wantAttrs) {
			t.Errorf("%s attributes:\n got %q\nwant %q", u.DN, gotAttrs, wantAttrs)
		}
	}
	for j := range groups {
		g := gen.Group(j)
		c, ok := got[strings.ToLower(g.DN)]
		if !ok {
			t.Errorf("group %s not imported", g.DN)
			continue
		}
		if c.ExternalID != guids[strings.ToLower(g.DN)] {
			t.Errorf("%s: external id %q, want the server's GUID %q", g.DN, c.ExternalID, guids[strings.ToLower(g.DN)])
		}
		// AD keeps linked values in its own order: compare members as sets.
		sortMembers := func(attrs []ldapsync.Attribute) []ldapsync.Attribute {
			out := slices.Clone(attrs)
			for k := range out {
				if out[k].Name == "member" {
					out[k].Values = slices.Sorted(slices.Values(out[k].Values))
				}
			}
			return out
		}
		wantAttrs := want(g, adGroupAttrs)
		if gotAttrs := sortMembers(c.Attributes); !reflect.DeepEqual(gotAttrs, sortMembers(wantAttrs)) {
			t.Errorf("%s: %d members, want %d; attributes differ:\n got %.300q\nwant %.300q",
				g.DN, len(attr(c, "member")), gen.GroupSize(j), gotAttrs, wantAttrs)
		}
	}
	for j := range 2 {
		if n := len(attr(got[strings.ToLower(gen.GroupDN(j))], "member")); n != bigGroup {
			t.Errorf("big group %d has %d members after range retrieval, want exactly %d", j, n, bigGroup)
		}
	}

	second := &recorder{}
	if _, err := ldapsync.FullImport(t.Context(), conn, spec, second); err != nil {
		t.Fatalf("second FullImport: %v", err)
	}
	if !reflect.DeepEqual(first.changes, second.changes) {
		t.Errorf("the second import differs from the first")
	}

	// One group per page: a range fetch runs between two pages of the paged
	// search, whose cookie must survive it. Within a page the big groups
	// come last (their ranges are read after the page), so compare by DN.
	onePerPage := spec
	onePerPage.PageSize = 1
	onePerPage.UserFilter = "(sAMAccountName=nobody-has-this-name)"
	third := &recorder{}
	stats, err = ldapsync.FullImport(t.Context(), conn, onePerPage, third)
	if want := (ldapsync.Stats{Groups: groups, RangeFetches: 2}); err != nil || stats != want {
		t.Errorf("one group per page: %+v, %v; want %+v", stats, err, want)
	}
	thirdByDN := third.byDN(t)
	for _, c := range first.changes {
		if c.Kind == ldapsync.ObjectGroup && !reflect.DeepEqual(thirdByDN[strings.ToLower(c.DN)], c) {
			t.Errorf("one group per page: %s differs from the first import's", c.DN)
		}
	}
}
