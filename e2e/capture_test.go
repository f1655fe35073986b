//go:build linux

package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/gendir"
)

type directoryJSON struct {
	CaptureStatus *struct {
		RunID    string `json:"run_id"`
		Strategy string `json:"strategy"`
		AgentID  string `json:"agent_id"`
		Changes  uint64 `json:"changes"`
	} `json:"capture_status"`
}

// TestCaptureOpenLDAP: after the first full import, every change in slapd
// reaches the hub by syncrepl within seconds, identity kept across renames
// and moves.
func TestCaptureOpenLDAP(t *testing.T) {
	srv, gen := slapdWith(t, gendir.Options{Flavor: gendir.OpenLDAP, Seed: 21, Users: 200, Groups: 10})
	s := newStack(t)
	s.mustCtl("directory", "add", "corp", "--kind", "openldap", "--base-dn", srv.BaseDN, "--full-import-interval", "off")
	a := s.startAgent(ldapDirectory("corp", srv))
	s.mustImportFull("corp")
	user := func(name string) (userJSON, bool) {
		u, ok := s.users("corp")[name]
		return u, ok
	}
	uid := gen.UserUID(3) // modified, then renamed
	var before userJSON
	e := gen.User(0) // a newcomer, added then made a member
	e.DN = "uid=newcomer," + gen.PeopleDN()
	for i := range e.Attrs {
		if strings.EqualFold(e.Attrs[i].Name, "uid") {
			e.Attrs[i].Values = []string{"newcomer"}
		}
	}

	s.step("capture runs with syncrepl", func(t *testing.T) {
		eventually.That(t, "capture running with syncrepl", func() (bool, string) {
			var d directoryJSON
			s.ctlJSON(&d, "directory", "show", "corp")
			if d.CaptureStatus == nil {
				return false, "no capture"
			}
			return d.CaptureStatus.Strategy == "syncrepl" && d.CaptureStatus.AgentID == a.id, fmt.Sprintf("%+v", *d.CaptureStatus)
		})
		s.waitAgentState(a.id, "active")
	})
	s.step("a modify", func(t *testing.T) {
		// A modify.
		before, _ = user(uid)
		if err := srv.Modify(t.Context(), replace(gen.UserDN(3), "title", "Chief Sync Officer")); err != nil {
			t.Fatal(err)
		}
		took := eventually.That(t, "title change", func() (bool, string) {
			u, _ := user(uid)
			return u.Title == "Chief Sync Officer", u.Title
		})
		t.Logf("modify reached the hub in %v", took)
	})
	s.step("a rename keeps the identity", func(t *testing.T) {
		// A rename keeps the identity.
		if err := srv.ModifyDN(t.Context(), ldap.NewModifyDNRequest(gen.UserDN(3), "uid="+uid+"-renamed", true, "")); err != nil {
			t.Fatal(err)
		}
		eventually.That(t, "rename", func() (bool, string) {
			u, ok := user(uid + "-renamed")
			return ok && u.ID == before.ID && u.ExternalID == before.ExternalID && strings.HasPrefix(u.DN, "uid="+uid+"-renamed,"), u.DN
		})
	})
	s.step("a move keeps the identity", func(t *testing.T) {
		// A move to another OU keeps the identity.
		ou := "ou=movers," + srv.BaseDN
		if err := srv.Add(t.Context(), gendir.Entry{DN: ou, Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"top", "organizationalUnit"}}, {Name: "ou", Values: []string{"movers"}}}}); err != nil {
			t.Fatal(err)
		}
		moved := gen.UserUID(4)
		was, _ := user(moved)
		if err := srv.ModifyDN(t.Context(), ldap.NewModifyDNRequest(gen.UserDN(4), "uid="+moved, true, ou)); err != nil {
			t.Fatal(err)
		}
		eventually.That(t, "move", func() (bool, string) {
			u, _ := user(moved)
			return u.ID == was.ID && strings.EqualFold(u.DN, "uid="+moved+","+ou), u.DN
		})
	})
	s.step("an add and a delete", func(t *testing.T) {
		// An add and a delete.
		if err := srv.Add(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		eventually.That(t, "add", func() (bool, string) { u, ok := user("newcomer"); return ok && u.Status == "active", u.Status })
		if err := srv.Delete(t.Context(), gen.UserDN(5)); err != nil {
			t.Fatal(err)
		}
		eventually.That(t, "delete", func() (bool, string) {
			u, _ := user(gen.UserUID(5))
			return u.Status == "deprovisioned", u.Status
		})
	})
	s.step("a new member", func(t *testing.T) {
		// Membership: the newcomer joins a group.
		group := gen.GroupDN(0)
		m := ldap.NewModifyRequest(group, nil)
		m.Add(gen.MemberAttr(0), []string{memberValue(gen, 0, "newcomer", e.DN)})
		if err := srv.Modify(t.Context(), m); err != nil {
			t.Fatal(err)
		}
		eventually.That(t, "membership", func() (bool, string) {
			var u userJSON
			s.ctlJSON(&u, "user", "show", "newcomer")
			for _, g := range u.Groups {
				if g == gen.GroupCN(0) {
					return true, ""
				}
			}
			return false, fmt.Sprint(u.Groups)
		})
	})
}

// memberValue is what group j's member attribute holds for a user.
func memberValue(gen *gendir.Generator, j int, uid, dn string) string {
	if gen.MemberAttr(j) == "memberUid" {
		return uid
	}
	return dn
}
