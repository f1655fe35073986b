//go:build linux

package e2e

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
)

// TestFullImportSambaAD imports from a real Samba AD domain controller,
// including a group of more than 1,500 members (AD range retrieval).
func TestFullImportSambaAD(t *testing.T) {
	const nUsers, nGroups, big = 1600, 6, 1600
	srv := testserver.SambaAD(t)
	gen, err := gendir.New(gendir.Options{Flavor: gendir.AD, BaseDN: srv.BaseDN, Seed: 13, Users: nUsers,
		Groups: nGroups, MailDomain: "idsync.test", AccountPrefix: "fi",
		GroupSize: func(j int) int { return []int{big, 3, 40, 250, 7, 1}[j] }})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddGenerated(t.Context(), gen, 4); err != nil {
		t.Fatalf("loading AD: %v", err)
	}
	s := newStack(t)
	s.mustCtl("directory", "add", "ad", "--kind", "ad", "--base-dn", srv.BaseDN, "--capture", "off", "--full-import-interval", "off")
	s.startAgent(devstack.AgentDirectory{Name: "ad", URL: srv.URL, BindDN: srv.BindDN, BindPassword: srv.BindPassword})

	run := s.mustImportFull("ad")
	if run.Seen != nUsers+nGroups || run.Created != nUsers+nGroups || run.Errors != 0 {
		t.Fatalf("first import: seen %d created %d errors %d; want seen = created = %d, no errors (%s)",
			run.Seen, run.Created, run.Errors, nUsers+nGroups, run.Message)
	}
	users := s.users("ad")
	if len(users) != nUsers {
		t.Fatalf("hub holds %d users, want %d", len(users), nUsers)
	}
	for _, i := range samples(gen, nUsers) {
		u, ok := users[gen.UserUID(i)]
		if !ok {
			t.Errorf("user %d (%s) missing", i, gen.UserUID(i))
			continue
		}
		// AD may return DNs in its own case: compare those case-insensitively.
		e := gen.User(i)
		if !strings.EqualFold(u.DN, e.DN) || !strings.EqualFold(u.Manager, strings.Join(e.Get("manager"), "")) {
			t.Errorf("user %d: dn %q manager %q; want %q, %q", i, u.DN, u.Manager, e.DN, e.Get("manager"))
		}
		u.DN, u.Manager = e.DN, strings.Join(e.Get("manager"), "")
		checkUser(t, gen, i, u, "departmentNumber")
		if len(u.ExternalID) != 36 || strings.Count(u.ExternalID, "-") != 4 {
			t.Errorf("user %d external id %q is not a GUID", i, u.ExternalID)
		}
	}

	// The big group: every member, each resolved to its user.
	var g groupJSON
	s.ctlJSON(&g, "group", "show", gen.GroupCN(0), "--directory", "ad")
	if g.MemberCount != big || g.UnresolvedMembers != 0 {
		t.Fatalf("group of %d: %d members, %d unresolved; want %d, 0", big, g.MemberCount, g.UnresolvedMembers, big)
	}
	var got, want []string
	for _, m := range g.Members {
		got = append(got, m.Name)
	}
	for _, i := range gen.GroupMembers(0) {
		want = append(want, gen.UserUID(i))
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("big group's members differ from the directory's (%d vs %d)", len(got), len(want))
	}

	again := s.mustImportFull("ad")
	if again.Created != 0 || again.Updated != 0 || again.Deprovisioned != 0 || again.Unchanged != nUsers+nGroups {
		t.Fatalf("second import: created %d updated %d deprovisioned %d unchanged %d; want 0, 0, 0, %d",
			again.Created, again.Updated, again.Deprovisioned, again.Unchanged, nUsers+nGroups)
	}

	// A disabled account is suspended, not deprovisioned.
	disable := gen.UserDN(5)
	if err := srv.Modify(t.Context(), replace(disable, "userAccountControl", "546")); err != nil {
		t.Fatal(err)
	}
	s.mustImportFull("ad")
	if st := s.users("ad")[gen.UserUID(5)].Status; st != "suspended" {
		t.Fatalf("disabled AD account is %s, want suspended", st)
	}
}
