//go:build linux

package e2e

import (
	"strings"
	"testing"

	"github.com/idsync/idsync/internal/gendir"
)

// TestSweepAndSafeguard: a complete full run deprovisions what it did not
// see; a sweep above the safeguard pauses and changes nobody until an admin
// confirms (or cancels).
func TestSweepAndSafeguard(t *testing.T) {
	const n = 100
	srv, gen := slapdWith(t, gendir.Options{Flavor: gendir.OpenLDAP, Seed: 3, Users: n, Groups: 5})
	s := newStack(t)
	s.mustCtl("directory", "add", "corp", "--kind", "openldap", "--base-dn", srv.BaseDN, "--capture", "off", "--full-import-interval", "off")
	s.startAgent(ldapDirectory("corp", srv))
	s.mustImportFull("corp")

	deleteUsers := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := srv.Delete(t.Context(), gen.UserDN(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	wantStatuses := func(step string, deprovisioned int, gone func(i int) bool) {
		t.Helper()
		users := s.users("corp")
		if c := statusCounts(users); c["deprovisioned"] != deprovisioned || c["active"] != n-deprovisioned {
			t.Fatalf("%s: statuses %v, want %d deprovisioned and %d active", step, c, deprovisioned, n-deprovisioned)
		}
		for i := 0; i < n; i++ {
			want := "active"
			if gone(i) {
				want = "deprovisioned"
			}
			if u := users[gen.UserUID(i)]; u.Status != want {
				t.Fatalf("%s: user %d (%s) is %s, want %s", step, i, u.Username, u.Status, want)
			}
		}
	}

	// Five users leave: the next full run deprovisions exactly them.
	deleteUsers(90, 95)
	run := s.mustImportFull("corp")
	if run.Deprovisioned != 5 {
		t.Fatalf("after deleting 5 users: run deprovisioned %d, want 5", run.Deprovisioned)
	}
	wantStatuses("after deleting 5", 5, func(i int) bool { return i >= 90 && i < 95 })

	// 40 more (42% of the 95 active): the sweep pauses and changes nobody.
	deleteUsers(50, 90)
	paused, code := s.importFull("corp")
	if code != 3 || paused.State != "paused_by_safeguard" || paused.PendingDeprovision != 40 || paused.Deprovisioned != 0 {
		t.Fatalf("after deleting 40 more: exit %d, state %s, pending %d, deprovisioned %d; want exit 3, paused_by_safeguard, 40 pending, 0",
			code, paused.State, paused.PendingDeprovision, paused.Deprovisioned)
	}
	wantStatuses("while paused", 5, func(i int) bool { return i >= 90 && i < 95 })
	if r := s.ctl("import", "start", "--directory", "corp", "--full"); r.Code == 0 {
		t.Fatalf("a new run started while one is paused: %s", r.Stdout)
	}

	// Cancel: nobody changes; the next run pauses again.
	var cancelled runJSON
	s.ctlJSON(&cancelled, "import", "cancel", paused.ID)
	if cancelled.State != "cancelled" {
		t.Fatalf("cancel: state %s, want cancelled", cancelled.State)
	}
	wantStatuses("after cancel", 5, func(i int) bool { return i >= 90 && i < 95 })
	paused, code = s.importFull("corp")
	if code != 3 || paused.State != "paused_by_safeguard" {
		t.Fatalf("run after cancel: exit %d, state %s; want paused again", code, paused.State)
	}

	// Confirm: exactly the 40 are deprovisioned.
	var confirmed runJSON
	s.ctlJSON(&confirmed, "import", "confirm", paused.ID)
	if confirmed.State != "completed" || confirmed.Deprovisioned != 40 {
		t.Fatalf("confirm: state %s, deprovisioned %d; want completed, 40", confirmed.State, confirmed.Deprovisioned)
	}
	wantStatuses("after confirm", 45, func(i int) bool { return i >= 50 && i < 95 })

	// A typo in the group filter reads no group: the sweep would take all
	// five away (and what apps get through them), past the safeguard, which
	// counts groups on their own. It pauses, and changes nothing.
	s.mustCtl("directory", "update", "corp", "--group-filter", "(objectClass=groupOfName)")
	paused, code = s.importFull("corp")
	if code != 3 || paused.State != "paused_by_safeguard" || !strings.Contains(paused.Message, "5 of 5 (100.0%) groups") {
		t.Fatalf("a group filter that reads no group: exit %d, state %s (%s); want exit 3, paused_by_safeguard over 5 of 5 groups",
			code, paused.State, paused.Message)
	}
	if want := "`idsyncctl import confirm " + paused.ID + "`"; !strings.Contains(paused.Message, want) {
		t.Errorf("the paused run's message %q does not name %s", paused.Message, want)
	}
	var groups []struct{ Name, Status string }
	s.ctlJSON(&groups, "group", "list", "--directory", "corp")
	if len(groups) != 5 {
		t.Fatalf("groups while paused: %v, want 5", groups)
	}
	for _, g := range groups {
		if g.Status != "active" {
			t.Errorf("group %s is %s while the sweep is paused, want active", g.Name, g.Status)
		}
	}
	s.ctlJSON(&cancelled, "import", "cancel", paused.ID)
	wantStatuses("after the group filter's run is cancelled", 45, func(i int) bool { return i >= 50 && i < 95 })
}
