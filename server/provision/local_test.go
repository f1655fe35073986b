package provision_test

import (
	"log/slog"
	"testing"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/people"
	"github.com/idsync/idsync/server/store"
)

// TestLocalUsersPushed: a user made in the hub, in a local group that
// also holds a directory's user, is pushed to the app the group is
// assigned to, with the group; a change, a removal from the group, a
// delete and a restore reach the app as a directory's would. The writes
// go through the people service and the real engine, as an admin's do.
func TestLocalUsersPushed(t *testing.T) {
	ctx := t.Context()
	w := newWorld(t, func(a *store.App) { a.PushGroups = true })
	w.start()
	staff := &store.Directory{Name: "staff", Kind: store.KindLocal}
	ingest.ApplyPreset(staff)
	if err := w.st.CreateDirectory(ctx, staff); err != nil {
		t.Fatal(err)
	}
	engine := ingest.New(ingest.Config{Store: w.st, Log: slog.New(slog.DiscardHandler), OnChange: w.eng.Notify})
	s := people.New(people.Config{Store: w.st, Apply: engine})
	w.apply([]*store.Object{user("u1", "alice")})
	alice := w.hubUser("alice")

	con, err := s.CreateUser(ctx, "staff", store.Profile{Username: "contractor", Email: "contractor@example.org",
		GivenName: "Con", Title: "Contractor"}, "admin:ann")
	if err != nil {
		t.Fatal(err)
	}
	crew, err := s.CreateGroup(ctx, "staff", "crew", "admin:ann")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{con.ID, alice.ID} {
		if _, err := s.AddMember(ctx, crew.ID, id, "admin:ann"); err != nil {
			t.Fatal(err)
		}
	}
	w.assign(store.AssignGroup, crew.ID)

	got := w.waitActive("contractor@example.org", true)
	if str(got, "externalId") != con.ID || str(got, "name", "givenName") != "Con" || str(got, "title") != "Contractor" {
		t.Errorf("contractor in the app = %v; want externalId %s, givenName Con, title Contractor", got, con.ID)
	}
	w.waitActive("alice@example.org", true)
	want := func(names ...string) { t.Helper(); w.wantGroup("crew", names...) }
	want("alice@example.org", "contractor@example.org")

	if _, err := s.UpdateUser(ctx, con.ID, people.Changes{"title": "Lead"}, "admin:ann"); err != nil {
		t.Fatal(err)
	}
	eventually.That(w.t, "the contractor's new title", func() (bool, string) {
		r, _ := w.remote("contractor@example.org")
		return str(r, "title") == "Lead", w.describeJobs()
	})

	// alice out of crew: out of the group and of scope.
	if _, err := s.RemoveMember(ctx, crew.ID, alice.ID, "admin:ann"); err != nil {
		t.Fatal(err)
	}
	want("contractor@example.org")
	w.waitActive("alice@example.org", false)

	// Deleted in the hub: deactivated; restored: active again, the same
	// account.
	if _, err := s.DeleteUser(ctx, con.ID, "admin:ann"); err != nil {
		t.Fatal(err)
	}
	w.waitActive("contractor@example.org", false)
	if _, err := s.Restore(ctx, con.ID, "admin:ann"); err != nil {
		t.Fatal(err)
	}
	got = w.waitActive("contractor@example.org", true)
	if str(got, "externalId") != con.ID {
		t.Errorf("restored contractor in the app = %v, want the same account", got)
	}
	if n := w.srv.Requests("POST", "/Users"); n != 2 {
		t.Errorf("%d POST /Users in all, want 2 (alice and the contractor, once each)", n)
	}
}
