//go:build linux

package e2e

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/scimtest"
	"github.com/idsync/idsync/internal/testserver"
)

// scopeDirectory is a directory the scope test moves entries out of the
// synced base and back into: entry builders of its flavour, and where its
// agent connects.
type scopeDirectory struct {
	kind, capture string
	ep            *testserver.Endpoint
	root          string // the test's own DN: base and parked lie under it
	agent         devstack.AgentDirectory
	ou            func(dn string) gendir.Entry
	user          func(dn, name string) gendir.Entry
	group         func(dn, name string, members ...string) gendir.Entry
	rdn           func(name string) string
}

// TestLeaveScopeAndReturn (issue 11): leavers parked outside the synced
// base are common; the directory keeps their group links (AD) or lists
// them until refint or an admin says otherwise (OpenLDAP). With change
// capture alone, a user moved out is deprovisioned and its app account
// deactivated; moved back, it is in its groups again — directly and
// through nesting — and the app has the account and the group membership
// back within seconds. A group moved out stops granting what it nests,
// and grants it again when it returns. A full import afterwards changes
// nothing.
func TestLeaveScopeAndReturn(t *testing.T) {
	t.Run("samba", func(t *testing.T) {
		t.Parallel()
		srv := testserver.SambaAD(t)
		testLeaveScope(t, scopeDirectory{kind: "ad", capture: "dirsync", ep: &srv.Endpoint, root: srv.BaseDN,
			agent: devstack.AgentDirectory{URL: srv.URL, BindDN: srv.BindDN, BindPassword: srv.BindPassword},
			ou: func(dn string) gendir.Entry {
				name := strings.TrimPrefix(strings.Split(dn, ",")[0], "OU=")
				return gendir.Entry{DN: dn, Attrs: []gendir.Attr{{Name: "objectClass", Values: []string{"top", "organizationalUnit"}},
					{Name: "ou", Values: []string{name}}}}
			},
			user: func(dn, name string) gendir.Entry {
				return gendir.Entry{DN: dn, Attrs: []gendir.Attr{{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
					{Name: "sAMAccountName", Values: []string{name}}, {Name: "mail", Values: []string{name + "@scope.test"}},
					// Enabled, without a password (PASSWD_NOTREQD), as gendir makes them.
					{Name: "userAccountControl", Values: []string{"544"}}}}
			},
			group: func(dn, name string, members ...string) gendir.Entry {
				return gendir.Entry{DN: dn, Attrs: []gendir.Attr{{Name: "objectClass", Values: []string{"top", "group"}},
					{Name: "sAMAccountName", Values: []string{name}}, {Name: "member", Values: members}}}
			},
			rdn: func(name string) string { return "CN=" + name },
		})
	})
	for _, refint := range []bool{false, true} {
		name := "slapd"
		if refint {
			name = "slapd with refint"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := testserver.Slapd(t, testserver.SlapdOptions{Refint: refint})
			d := scopeDirectory{kind: "openldap", capture: "syncrepl", ep: &srv.Endpoint, root: srv.BaseDN,
				agent: ldapDirectory("", srv),
				ou: func(dn string) gendir.Entry {
					name := strings.TrimPrefix(strings.Split(dn, ",")[0], "ou=")
					return gendir.Entry{DN: dn, Attrs: []gendir.Attr{{Name: "objectClass", Values: []string{"organizationalUnit"}},
						{Name: "ou", Values: []string{name}}}}
				},
				user: func(dn, name string) gendir.Entry {
					return gendir.Entry{DN: dn, Attrs: []gendir.Attr{{Name: "objectClass", Values: []string{"inetOrgPerson"}},
						{Name: "uid", Values: []string{name}}, {Name: "cn", Values: []string{name}}, {Name: "sn", Values: []string{name}},
						{Name: "mail", Values: []string{name + "@scope.test"}}}}
				},
				group: func(dn, name string, members ...string) gendir.Entry {
					return gendir.Entry{DN: dn, Attrs: []gendir.Attr{{Name: "objectClass", Values: []string{"groupOfNames"}},
						{Name: "cn", Values: []string{name}}, {Name: "member", Values: members}}}
				},
				rdn: func(name string) string { return "uid=" + name },
			}
			testLeaveScope(t, d)
		})
	}
}

func testLeaveScope(t *testing.T, d scopeDirectory) {
	ctx := t.Context()
	ouAttr := "ou"
	if d.kind == "ad" {
		ouAttr = "OU"
	}
	// Unique names: the Samba DC is shared by the process.
	suffix := strings.ToLower(rand.Text()[:6])
	base, parked := ouAttr+"=inscope-"+suffix+","+d.root, ouAttr+"=parked-"+suffix+","+d.root
	u := func(n int) string { return fmt.Sprintf("sc%d%s", n, suffix) }
	userDN := func(n int, ou string) string { return d.rdn(u(n)) + "," + ou }
	groupRDN := func(name string) string {
		if d.kind == "ad" {
			return "CN=" + name + "-" + suffix
		}
		return "cn=" + name + "-" + suffix
	}
	sales, allHands := groupRDN("sales")+","+base, groupRDN("all-hands")+","+base
	entries := []gendir.Entry{d.ou(base), d.ou(parked)}
	for n := 1; n <= 3; n++ {
		entries = append(entries, d.user(userDN(n, base), u(n)))
	}
	entries = append(entries, d.group(sales, "sales-"+suffix, userDN(1, base), userDN(2, base)),
		d.group(allHands, "all-hands-"+suffix, sales, userDN(3, base)))
	for _, e := range entries {
		if err := d.ep.Add(ctx, e); err != nil {
			t.Fatalf("adding %s: %v", e.DN, err)
		}
	}
	s := newStack(t, pushArgs...)
	// The helpers below fail into the step that calls them.
	move := func(dn, to string) {
		s.t.Helper()
		rdn, _, _ := strings.Cut(dn, ",")
		if err := d.ep.ModifyDN(ctx, ldap.NewModifyDNRequest(dn, rdn, true, to)); err != nil {
			s.t.Fatalf("moving %s to %s: %v", dn, to, err)
		}
	}
	s.mustCtl("directory", "add", "dir", "--kind", d.kind, "--base-dn", base, "--full-import-interval", "off", "--poll-interval", "1s")
	d.agent.Name = "dir"
	a := s.startAgent(d.agent)
	e := &faultEnv{s: s, name: "dir", a: a}
	e.startCapture(d.capture)

	token := "scim-" + rand.Text()
	app := scimtest.Start(t, scimtest.Options{Token: token})
	tokFile := filepath.Join(s.dir, "crm.token")
	if err := os.WriteFile(tokFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	s.mustCtl("app", "add", "crm", "--scim-url", app.URL, "--auth", "bearer", "--token-file", tokFile, localApp[0], localApp[1],
		"--allow", "create,update,deactivate,groups")
	s.mustCtl("app", "assign", "crm", "--group", "all-hands-"+suffix)

	hubUser := func(n int) userJSON {
		s.t.Helper()
		var uj userJSON
		s.ctlJSON(&uj, "user", "show", u(n), "--directory", "dir")
		return uj
	}
	// The state every step waits for: who is active in the hub, with which
	// groups, and what the app holds.
	type want struct {
		active  []int // users active in the hub, the others deprovisioned
		salesIn bool  // sales is active, and its members' groups say so
		app     []int // users with an active account in the app, in the pushed all-hands
	}
	check := func(t *testing.T, w want) {
		t.Helper()
		eventually.That(t, "the hub and the app as they should be", func() (bool, string) {
			var problems []string
			for n := 1; n <= 3; n++ {
				uj := hubUser(n)
				isActive := slices.Contains(w.active, n)
				switch {
				case isActive && uj.Status != "active", !isActive && uj.Status != "deprovisioned":
					problems = append(problems, fmt.Sprintf("user %d is %s", n, uj.Status))
				case isActive && n < 3:
					direct := slices.Contains(uj.Groups, "sales-"+suffix)
					var nested []string
					var raw struct {
						NestedGroups []struct{ Name string } `json:"nested_groups"`
					}
					s.ctlJSON(&raw, "user", "show", u(n), "--directory", "dir")
					for _, g := range raw.NestedGroups {
						nested = append(nested, g.Name)
					}
					if direct != w.salesIn || slices.Contains(nested, "all-hands-"+suffix) != w.salesIn {
						problems = append(problems, fmt.Sprintf("user %d in %q (nested %q)", n, uj.Groups, nested))
					}
				}
			}
			members := map[string]bool{}
			for _, g := range app.Groups() {
				if g["displayName"] != "all-hands-"+suffix {
					continue
				}
				ms, _ := g["members"].([]any)
				for _, m := range ms {
					if mm, ok := m.(map[string]any); ok {
						members[fmt.Sprint(mm["value"])] = true
					}
				}
			}
			for n := 1; n <= 3; n++ {
				r, ok := byExternalID(app, hubUser(n).ID)
				inApp := ok && r["active"] == true && members[fmt.Sprint(r["id"])]
				if inApp != slices.Contains(w.app, n) {
					problems = append(problems, fmt.Sprintf("user %d in the app: account %v, in all-hands %v", n, r["active"], members[fmt.Sprint(r["id"])]))
				}
			}
			return len(problems) == 0, strings.Join(problems, "; ")
		})
	}

	s.step("before any move", func(t *testing.T) {
		check(t, want{active: []int{1, 2, 3}, salesIn: true, app: []int{1, 2, 3}})
	})
	s.step("user 1 parked outside the base", func(t *testing.T) {
		move(userDN(1, base), parked)
		check(t, want{active: []int{2, 3}, salesIn: true, app: []int{2, 3}})
	})
	s.step("user 1 back", func(t *testing.T) {
		move(userDN(1, parked), base)
		check(t, want{active: []int{1, 2, 3}, salesIn: true, app: []int{1, 2, 3}})
	})
	s.step("sales parked outside the base", func(t *testing.T) {
		move(sales, parked)
		check(t, want{active: []int{1, 2, 3}, salesIn: false, app: []int{3}})
	})
	s.step("sales back", func(t *testing.T) {
		move(groupRDN("sales")+","+parked, base)
		check(t, want{active: []int{1, 2, 3}, salesIn: true, app: []int{1, 2, 3}})
	})
	s.step("a full import after the moves changes nothing", func(t *testing.T) {
		run := s.mustImportFull("dir")
		if run.Created != 0 || run.Updated != 0 || run.Deprovisioned != 0 || run.Errors != 0 {
			t.Errorf("%d created, %d updated, %d deprovisioned, %d errors; want nothing changed",
				run.Created, run.Updated, run.Deprovisioned, run.Errors)
		}
		check(t, want{active: []int{1, 2, 3}, salesIn: true, app: []int{1, 2, 3}})
	})
}
