//go:build linux

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
	"github.com/idsync/idsync/ldapsync"
)

// TestCaptureSambaADMemberRenamed: on AD a group's member values are links
// to objects: renaming or moving a member changes the DN the group lists
// without any change to the group, and DirSync reports only the member.
// The hub must still list the member under its new DN (the user keeps its
// groups), and drop it when it leaves the group later — DirSync then names
// it by its new DN. The exactly-once stream on Samba AD found the hub
// keeping the old DN instead; this is the smallest case of it. A member
// that leaves a group and is then renamed is named by its new DN in the
// group's delta, which DirSync returns before the member's own change.
func TestCaptureSambaADMemberRenamed(t *testing.T) {
	srv := testserver.SambaAD(t)
	c, err := newChurn(churnOptions{flavor: gendir.AD, seed: 5, users: 4, groups: 1, workers: 1}, srv.BaseDN)
	if err != nil {
		t.Fatal(err)
	}
	fixture := c.fixture()
	if err := addFixture(t.Context(), &srv.Endpoint, fixture, 1); err != nil {
		t.Fatal(err)
	}
	e := &faultEnv{s: newStack(t), name: "ad", kind: ldapsync.KindAD, ep: &srv.Endpoint, base: srv.BaseDN}
	e.s.mustCtl("directory", "add", e.name, "--kind", "ad", "--base-dn", srv.BaseDN, "--full-import-interval", "off")
	e.a = e.s.startAgent(devstack.AgentDirectory{Name: e.name, URL: srv.URL, BindDN: srv.BindDN, BindPassword: srv.BindPassword})
	e.startCapture("dirsync")

	group := fixture[len(fixture)-1]
	members := group.Get("member")
	if len(members) < 3 {
		t.Fatalf("the fixture's group has %d members, want 3 or more", len(members))
	}
	renamed := "CN=renamed member," + c.userOUs()[0]
	rdn, _, _ := strings.Cut(members[1], ",")
	moved := rdn + "," + c.userOUs()[1]
	steps := []struct {
		name string
		do   func(*ldap.Conn) error
	}{
		{"a member renamed", func(conn *ldap.Conn) error {
			return conn.ModifyDN(ldap.NewModifyDNRequest(members[0], "CN=renamed member", true, ""))
		}},
		{"a member moved", func(conn *ldap.Conn) error {
			return conn.ModifyDN(ldap.NewModifyDNRequest(members[1], rdn, true, c.userOUs()[1]))
		}},
		{"the renamed member leaves", func(conn *ldap.Conn) error {
			req := ldap.NewModifyRequest(group.DN, nil)
			req.Delete("member", []string{renamed})
			return conn.Modify(req)
		}},
		{"the moved member leaves", func(conn *ldap.Conn) error {
			req := ldap.NewModifyRequest(group.DN, nil)
			req.Delete("member", []string{moved})
			return conn.Modify(req)
		}},
		// One DirSync round then returns the group first, its removal
		// naming the member by its new DN, and the member after it.
		{"a member leaves, then is renamed", func(conn *ldap.Conn) error {
			req := ldap.NewModifyRequest(group.DN, nil)
			req.Delete("member", []string{members[2]})
			if err := conn.Modify(req); err != nil {
				return err
			}
			return conn.ModifyDN(ldap.NewModifyDNRequest(members[2], "CN=left then renamed", true, ""))
		}},
	}
	conn, err := srv.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, step := range steps {
		e.s.run(step.name, func(t *testing.T) {
			if err := step.do(conn); err != nil {
				t.Fatal(err)
			}
			want, err := readDirectory(t.Context(), e.ep, e.kind, e.base)
			if err != nil {
				t.Fatal(err)
			}
			// Samba notifies within 5 s; DirSync polls every 5 s.
			start := time.Now()
			e.s.converge(e.name, want, 12*time.Second)
			t.Logf("the hub equals the directory after %v", time.Since(start).Round(time.Millisecond))
		})
	}
}
