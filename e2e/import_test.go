//go:build linux

package e2e

import (
	"fmt"
	"slices"
	"sort"
	"testing"
	"unicode"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
)

// slapdWith starts a slapd preloaded with what gen generates under its base.
func slapdWith(t *testing.T, opts gendir.Options) (*testserver.SlapdServer, *gendir.Generator) {
	t.Helper()
	var gen *gendir.Generator
	srv := testserver.Slapd(t, testserver.SlapdOptions{Preload: func(base string, emit func(gendir.Entry) error) error {
		opts.BaseDN = base
		g, err := gendir.New(opts)
		if err != nil {
			return err
		}
		gen = g
		return g.Each(emit)
	}})
	return srv, gen
}

func ldapDirectory(name string, srv *testserver.SlapdServer) devstack.AgentDirectory {
	return devstack.AgentDirectory{Name: name, URL: srv.URL, BindDN: srv.BindDN, BindPassword: srv.BindPassword}
}

func nonASCII(s string) bool {
	for _, r := range s {
		if r > unicode.MaxASCII {
			return true
		}
	}
	return false
}

// groupNames returns the sorted names of the groups user i is in.
func groupNames(gen *gendir.Generator, i int) []string {
	var names []string
	for _, j := range gen.UserGroups(i) {
		names = append(names, gen.GroupCN(j))
	}
	sort.Strings(names)
	return names
}

// checkUser compares a hub user with generated user i, field by field.
func checkUser(t *testing.T, gen *gendir.Generator, i int, u userJSON, department string) {
	t.Helper()
	e := gen.User(i)
	first := func(attr string) string {
		if v := e.Get(attr); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	groups := slices.Clone(u.Groups)
	sort.Strings(groups)
	checks := []struct{ field, got, want string }{
		{"dn", u.DN, e.DN},
		{"email", u.Email, first("mail")},
		{"given_name", u.GivenName, first("givenName")},
		{"family_name", u.FamilyName, first("sn")},
		{"display_name", u.DisplayName, first("displayName")},
		{"employee_number", u.EmployeeNumber, first("employeeNumber")},
		{"department", u.Department, first(department)},
		{"title", u.Title, first("title")},
		{"manager", u.Manager, first("manager")},
		{"status", u.Status, "active"},
		{"groups", fmt.Sprint(groups), fmt.Sprint(groupNames(gen, i))},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("user %d (%s) %s = %q, want %q", i, u.Username, c.field, c.got, c.want)
		}
	}
	if u.ExternalID == "" || u.ID == "" {
		t.Errorf("user %d (%s): id %q, external_id %q: want both set", i, u.Username, u.ID, u.ExternalID)
	}
}

// samples picks user indexes to check exactly: the first and last, a spread,
// and the first few with non-ASCII names.
func samples(gen *gendir.Generator, n int) []int {
	idx := []int{0, 1, n / 3, n / 2, n - 1}
	found := 0
	for i := 0; i < n && found < 5; i++ {
		if nonASCII(gen.User(i).Get("displayName")[0]) {
			idx = append(idx, i)
			found++
		}
	}
	return idx
}

func TestFullImportOpenLDAP(t *testing.T) {
	const nUsers, nGroups = 10000, 300
	srv, gen := slapdWith(t, gendir.Options{Flavor: gendir.OpenLDAP, Seed: 7, Users: nUsers, Groups: nGroups})
	s := newStack(t)
	s.mustCtl("directory", "add", "corp", "--kind", "openldap", "--base-dn", srv.BaseDN, "--capture", "off", "--full-import-interval", "off")
	s.startAgent(ldapDirectory("corp", srv))

	run := s.mustImportFull("corp")
	if run.Seen != nUsers+nGroups || run.Created != nUsers+nGroups || run.Errors != 0 || run.Deprovisioned != 0 {
		t.Fatalf("first import: seen %d created %d errors %d deprovisioned %d; want seen = created = %d, no errors, nothing deprovisioned",
			run.Seen, run.Created, run.Errors, run.Deprovisioned, nUsers+nGroups)
	}

	users := s.users("corp")
	if len(users) != nUsers {
		t.Fatalf("hub holds %d users, want %d", len(users), nUsers)
	}
	sampled := samples(gen, nUsers)
	nonASCIISeen := 0
	for _, i := range sampled {
		u, ok := users[gen.UserUID(i)]
		if !ok {
			t.Errorf("user %d (%s) missing from the hub", i, gen.UserUID(i))
			continue
		}
		checkUser(t, gen, i, u, "departmentNumber")
		if nonASCII(u.DisplayName) {
			nonASCIISeen++
		}
	}
	if nonASCIISeen == 0 {
		t.Error("no non-ASCII display name among the sampled users: the sample does not cover what it should")
	}

	// Every group with its exact membership, for each member attribute kind.
	var groups []groupJSON
	s.ctlJSON(&groups, "group", "list", "--directory", "corp")
	if len(groups) != nGroups {
		t.Fatalf("hub holds %d groups, want %d", len(groups), nGroups)
	}
	for j := 0; j < 3; j++ { // groupOfNames, groupOfUniqueNames, posixGroup
		var g groupJSON
		s.ctlJSON(&g, "group", "show", gen.GroupCN(j), "--directory", "corp")
		if g.MemberCount != uint64(gen.GroupSize(j)) || g.UnresolvedMembers != 0 {
			t.Errorf("group %s (%s): %d members, %d unresolved; want %d, 0",
				gen.GroupCN(j), gen.MemberAttr(j), g.MemberCount, g.UnresolvedMembers, gen.GroupSize(j))
		}
		var want []string
		for _, i := range gen.GroupMembers(j) {
			want = append(want, gen.UserUID(i))
		}
		var got []string
		for _, m := range g.Members {
			got = append(got, m.Name)
		}
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("group %s members differ: got %d, want %d", gen.GroupCN(j), len(got), len(want))
		}
	}

	// Importing again changes nothing.
	again := s.mustImportFull("corp")
	if again.Created != 0 || again.Updated != 0 || again.Deprovisioned != 0 || again.Unchanged != nUsers+nGroups {
		t.Fatalf("second import: created %d updated %d deprovisioned %d unchanged %d; want 0, 0, 0, %d",
			again.Created, again.Updated, again.Deprovisioned, again.Unchanged, nUsers+nGroups)
	}
	after := s.users("corp")
	for name, u := range users {
		if a := after[name]; a.ID != u.ID || a.ExternalID != u.ExternalID {
			t.Fatalf("user %s changed identity on re-import: %s/%s -> %s/%s", name, u.ID, u.ExternalID, a.ID, a.ExternalID)
		}
	}
}
