//go:build linux

package e2e

import (
	"testing"
	"time"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/gendir"
)

// TestScheduledFirstImport: with the defaults (capture on, a full
// reconciliation every 24 h), a directory that was never imported gets its
// first full import as soon as an agent is online — no admin step — and
// capture follows from the checkpoint it took.
func TestScheduledFirstImport(t *testing.T) {
	srv, gen := slapdWith(t, gendir.Options{Flavor: gendir.OpenLDAP, Seed: 31, Users: 50, Groups: 2})
	s := newStack(t)
	s.mustCtl("directory", "add", "corp", "--kind", "openldap", "--base-dn", srv.BaseDN)
	s.startAgent(ldapDirectory("corp", srv))
	eventually.Within(t, 60*time.Second, "a scheduled full import completed", func() (bool, string) {
		for _, r := range s.runList("corp") {
			if r.Kind == "full" && r.Trigger == "schedule" && r.State == "completed" {
				return true, ""
			}
		}
		return false, "none yet"
	})
	if n := len(s.users("corp")); n != 50 {
		t.Fatalf("after the scheduled import the hub holds %d users, want 50", n)
	}
	if err := srv.Modify(t.Context(), replace(gen.UserDN(1), "title", "Scheduled")); err != nil {
		t.Fatal(err)
	}
	eventually.Within(t, 30*time.Second, "capture after the scheduled import", func() (bool, string) {
		u := s.users("corp")[gen.UserUID(1)]
		return u.Title == "Scheduled", u.Title
	})
	// Only one scheduled run: the next is a day away.
	full := 0
	for _, r := range s.runList("corp") {
		if r.Kind == "full" {
			full++
		}
	}
	if full != 1 {
		t.Fatalf("%d full runs, want exactly 1", full)
	}
}
