//go:build linux

package ldapsync_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/testserver"
	"github.com/idsync/idsync/ldapsync"
)

func openLDAPCaptureSpec(base string) ldapsync.CaptureSpec {
	return ldapsync.CaptureSpec{Spec: ldapsync.Spec{Kind: ldapsync.KindOpenLDAP, BaseDN: base,
		UserAttributes: openLDAPUserAttrs, GroupAttributes: openLDAPGroupAttrs}}
}

// upsertsByID indexes the upserts among evs by external id, failing on a
// repeated id.
func upsertsByID(t *testing.T, evs []ldapsync.Event) map[string]ldapsync.Change {
	t.Helper()
	out := map[string]ldapsync.Change{}
	for _, ev := range evs {
		if ev.Type == ldapsync.EventChange && ev.Change.Type == ldapsync.ChangeUpsert {
			if _, dup := out[ev.Change.ExternalID]; dup {
				t.Errorf("%s (%s) sent twice", ev.Change.ExternalID, ev.Change.DN)
			}
			out[ev.Change.ExternalID] = ev.Change
		}
	}
	return out
}

// TestSyncreplCapture follows one directory through a refresh from nothing,
// changes of every kind while persisting, and a resume from a stored
// checkpoint after the connection dropped.
func TestSyncreplCapture(t *testing.T) {
	srv, gen := preloaded(t, gendir.Options{Seed: 3, Users: 30, Groups: 4})
	spec := openLDAPCaptureSpec(srv.BaseDN)
	spec.Strategy = ldapsync.StrategySyncrepl
	conn := dial(t, srv.Endpoint)
	cap := startCapture(t, conn, spec, nil)
	evs := cap.events

	// The refresh from nothing lists what a full import reads, and may be
	// swept (PresentPhase).
	done, _ := evs.waitFor(t, cap, 0, 10*time.Second, "end of the refresh", isType(ldapsync.EventRefreshDone))
	if ev := evs.since(done)[0]; !ev.PresentPhase {
		t.Errorf("the refresh from nothing has PresentPhase false, want true")
	}
	full := &recorder{}
	if _, err := ldapsync.FullImport(t.Context(), dial(t, srv.Endpoint), spec.Spec, full); err != nil {
		t.Fatal(err)
	}
	refreshed := upsertsByID(t, evs.since(0)[:done])
	if len(refreshed) != len(full.changes) {
		t.Errorf("the refresh sent %d objects, a full import reads %d", len(refreshed), len(full.changes))
	}
	for _, want := range full.changes {
		if got := refreshed[want.ExternalID]; !reflect.DeepEqual(got, want) {
			t.Errorf("refresh of %s:\n got %+v\nwant %+v", want.DN, got, want)
		}
	}
	evs.waitFor(t, cap, done+1, time.Second, "checkpoint after the refresh", isType(ldapsync.EventCheckpoint))

	elsewhere := "ou=elsewhere," + srv.BaseDN
	if err := srv.Add(t.Context(), gendir.Entry{DN: elsewhere, Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"organizationalUnit"}}, {Name: "ou", Values: []string{"elsewhere"}}}}); err != nil {
		t.Fatal(err)
	}
	uuids := entryUUIDs(t, srv)
	newDN := "uid=newcomer," + gen.PeopleDN()
	renamedDN := "uid=renamed0," + gen.PeopleDN()
	movedDN := "uid=renamed0," + elsewhere
	user0 := uuids[strings.ToLower(gen.UserDN(0))]
	var newID string
	steps := []struct {
		name  string
		do    func() error
		match func(ldapsync.Event) bool
		check func(t *testing.T, c ldapsync.Change)
	}{
		{
			name: "add",
			do:   func() error { return srv.Add(t.Context(), person(newDN, "newcomer", nil)) },
			match: func(ev ldapsync.Event) bool {
				return ev.Type == ldapsync.EventChange && strings.EqualFold(ev.Change.DN, newDN)
			},
			check: func(t *testing.T, c ldapsync.Change) {
				newID = c.ExternalID
				if want := entryUUIDs(t, srv)[strings.ToLower(newDN)]; c.ExternalID != want || c.Kind != ldapsync.ObjectUser || c.Type != ldapsync.ChangeUpsert {
					t.Errorf("got %s %s %s, want upsert user %s", c.Type, c.Kind, c.ExternalID, want)
				}
			},
		},
		{
			name: "modify",
			do: func() error {
				req := ldap.NewModifyRequest(gen.UserDN(0), nil)
				req.Replace("title", []string{"Chief Capture Officer"})
				return srv.Modify(t.Context(), req)
			},
			match: changeOf(ldapsync.ChangeUpsert, user0),
			check: func(t *testing.T, c ldapsync.Change) {
				if got := attr(c, "title"); !reflect.DeepEqual(got, []string{"Chief Capture Officer"}) {
					t.Errorf("title = %q after the modify", got)
				}
				if len(attr(c, "mail")) != 1 {
					t.Errorf("mail = %q: a modify must send the whole entry", attr(c, "mail"))
				}
			},
		},
		{
			name: "rename",
			do: func() error {
				return srv.ModifyDN(t.Context(), ldap.NewModifyDNRequest(gen.UserDN(0), "uid=renamed0", true, ""))
			},
			match: changeOf(ldapsync.ChangeUpsert, user0),
			check: func(t *testing.T, c ldapsync.Change) {
				if !strings.EqualFold(c.DN, renamedDN) || !reflect.DeepEqual(attr(c, "uid"), []string{"renamed0"}) {
					t.Errorf("after the rename: DN %q uid %q, want %q renamed0", c.DN, attr(c, "uid"), renamedDN)
				}
			},
		},
		{
			name: "move to another OU",
			do: func() error {
				return srv.ModifyDN(t.Context(), ldap.NewModifyDNRequest(renamedDN, "uid=renamed0", true, elsewhere))
			},
			match: changeOf(ldapsync.ChangeUpsert, user0),
			check: func(t *testing.T, c ldapsync.Change) {
				if !strings.EqualFold(c.DN, movedDN) {
					t.Errorf("after the move: DN %q, want %q", c.DN, movedDN)
				}
			},
		},
		{
			name: "membership",
			do: func() error {
				req := ldap.NewModifyRequest(gen.GroupDN(0), nil)
				req.Add("member", []string{newDN})
				return srv.Modify(t.Context(), req)
			},
			match: func(ev ldapsync.Event) bool {
				return ev.Type == ldapsync.EventChange && strings.EqualFold(ev.Change.DN, gen.GroupDN(0))
			},
			check: func(t *testing.T, c ldapsync.Change) {
				members := attr(c, "member")
				if c.Kind != ldapsync.ObjectGroup || len(members) != gen.GroupSize(0)+1 || !slices.Contains(members, newDN) {
					t.Errorf("group %s: kind %v, %d members (with newcomer: %v), want a group of %d with the newcomer",
						c.DN, c.Kind, len(members), slices.Contains(members, newDN), gen.GroupSize(0)+1)
				}
			},
		},
		{
			name:  "delete",
			do:    func() error { return srv.Delete(t.Context(), newDN) },
			match: func(ev ldapsync.Event) bool { return newID != "" && changeOf(ldapsync.ChangeDelete, newID)(ev) },
			check: func(t *testing.T, c ldapsync.Change) {
				if c.ExternalID != newID {
					t.Errorf("delete of %q, want %q", c.ExternalID, newID)
				}
			},
		},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			from := evs.len()
			if err := step.do(); err != nil {
				t.Fatal(err)
			}
			doneAt := time.Now()
			i, at := evs.waitFor(t, cap, from, 5*time.Second, step.name, step.match)
			t.Logf("%s: event %v after the operation returned", step.name, at.Sub(doneAt).Round(time.Microsecond))
			step.check(t, evs.since(i)[0].Change)
			evs.waitFor(t, cap, i+1, time.Second, "checkpoint after the change", isType(ldapsync.EventCheckpoint))
			if next := evs.since(i + 1)[0]; next.Type != ldapsync.EventCheckpoint {
				t.Errorf("the event after the change is %s, want its checkpoint", next.Type)
			}
		})
	}

	// The connection drops; changes happen meanwhile; a capture resumes
	// from the last stored checkpoint and sees exactly those changes.
	checkpoint := evs.lastCheckpoint()
	conn.Close()
	if err := cap.wait(t, 5*time.Second); err == nil || errors.Is(err, ldapsync.ErrReconcile) {
		t.Errorf("after the connection closed Capture returned %v, want a retryable error", err)
	}
	user1, user2 := uuids[strings.ToLower(gen.UserDN(1))], uuids[strings.ToLower(gen.UserDN(2))]
	req := ldap.NewModifyRequest(gen.UserDN(1), nil)
	req.Replace("title", []string{"Changed While Away"})
	addedDN := "uid=latecomer," + gen.PeopleDN()
	if err := errors.Join(srv.Modify(t.Context(), req), srv.Delete(t.Context(), gen.UserDN(2)),
		srv.Add(t.Context(), person(addedDN, "latecomer", nil))); err != nil {
		t.Fatal(err)
	}
	added := entryUUIDs(t, srv)[strings.ToLower(addedDN)]

	resumed := startCapture(t, dial(t, srv.Endpoint), spec, checkpoint)
	done, _ = resumed.events.waitFor(t, resumed, 0, 10*time.Second, "end of the resumed refresh", isType(ldapsync.EventRefreshDone))
	refresh := resumed.events.since(0)[:done+1]
	if refresh[done].PresentPhase {
		t.Errorf("the resumed refresh has PresentPhase true, want a delete-phase refresh served from the session log")
	}
	got := map[string]ldapsync.ChangeType{}
	for _, ev := range refresh {
		switch ev.Type {
		case ldapsync.EventChange:
			got[ev.Change.ExternalID] = ev.Change.Type
		case ldapsync.EventPresent, ldapsync.EventEntryError, ldapsync.EventCheckpoint:
			t.Errorf("unexpected %s event in the resumed refresh: %s", ev.Type, describe([]ldapsync.Event{ev}))
		}
	}
	want := map[string]ldapsync.ChangeType{user1: ldapsync.ChangeUpsert, user2: ldapsync.ChangeDelete, added: ldapsync.ChangeUpsert}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resumed refresh changes = %v, want exactly %v (%s)", got, want, describe(refresh))
	}
	resumed.events.waitFor(t, resumed, done+1, time.Second, "checkpoint after the resumed refresh", isType(ldapsync.EventCheckpoint))
}

// TestSyncreplReconcile checks each way a syncrepl checkpoint is refused.
func TestSyncreplReconcile(t *testing.T) {
	srv, gen := preloaded(t, gendir.Options{Seed: 4, Users: 5, Groups: 1}, testserver.SlapdOptions{SyncprovReloadHint: true})
	spec := openLDAPCaptureSpec(srv.BaseDN)
	conn := dial(t, srv.Endpoint)
	good, err := ldapsync.CheckpointNow(t.Context(), conn, spec)
	if err != nil {
		t.Fatalf("CheckpointNow: %v", err)
	}
	otherSpec := spec
	otherSpec.UserAttributes = append(slices.Clone(spec.UserAttributes), "telephoneNumber")
	poll, err := ldapsync.CheckpointNow(t.Context(), conn, ldapsync.CaptureSpec{Spec: spec.Spec, Strategy: ldapsync.StrategyPoll})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		spec       ldapsync.CaptureSpec
		checkpoint []byte
		why        string
	}{
		{"cookie newer than the server", spec,
			rewriteCheckpoint(t, good, map[string]any{"cookie": []byte("rid=000,csn=20991231235959.000000Z#000000#000#000000")}),
			"refused the checkpoint's cookie"},
		{"cookie older than the server's history", spec,
			rewriteCheckpoint(t, good, map[string]any{"cookie": []byte("rid=000,csn=20000101000000.000000Z#000000#000#000000")}),
			"e-syncRefreshRequired"},
		{"not a checkpoint", spec, []byte("not json"), "not one ldapsync wrote"},
		{"another version", spec, rewriteCheckpoint(t, good, map[string]any{"v": 7}), "version 7"},
		{"another spec", otherSpec, good, "another base DN, filter or attribute list"},
		{"another strategy", spec, poll, "taken by poll capture"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startCapture(t, dial(t, srv.Endpoint), tt.spec, tt.checkpoint)
			wantReconcile(t, c.wait(t, 10*time.Second), tt.why)
			if evs := c.events.since(0); len(evs) != 0 {
				t.Errorf("events before the refusal: %s", describe(evs))
			}
		})
	}

	t.Run("search base renamed while persisting", func(t *testing.T) {
		base := "ou=doomed," + srv.BaseDN
		if err := srv.Add(t.Context(), gendir.Entry{DN: base, Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"organizationalUnit"}}, {Name: "ou", Values: []string{"doomed"}}}}); err != nil {
			t.Fatal(err)
		}
		c := startCapture(t, dial(t, srv.Endpoint), openLDAPCaptureSpec(base), nil)
		done, _ := c.events.waitFor(t, c, 0, 5*time.Second, "end of the refresh", isType(ldapsync.EventRefreshDone))
		// slapd sends refreshDone before it moves the search to its persist
		// phase (syncprov_detach_op); a write that finds the base gone in
		// between answers on the operation being detached, and slapd 2.5
		// crashes or loses the answer. syncprov holds back changes until
		// the search persists: the witness's add arriving says it does.
		witness := "uid=witness," + base
		if err := srv.Add(t.Context(), person(witness, "witness", nil)); err != nil {
			t.Fatal(err)
		}
		c.events.waitFor(t, c, done+1, 5*time.Second, "the witness's add", func(ev ldapsync.Event) bool {
			return ev.Type == ldapsync.EventChange && strings.EqualFold(ev.Change.DN, witness)
		})
		// syncprov looks for a persistent search's base again on the write
		// after one that changed it.
		touch := ldap.NewModifyRequest(gen.UserDN(0), nil)
		touch.Replace("title", []string{"Touched"})
		if err := errors.Join(srv.ModifyDN(t.Context(), ldap.NewModifyDNRequest(base, "ou=spared", true, "")),
			srv.Modify(t.Context(), touch)); err != nil {
			t.Fatal(err)
		}
		wantReconcile(t, c.wait(t, 10*time.Second), "e-syncRefreshRequired")
	})
}

// TestSyncreplCheckpointNow checks that a checkpoint taken before a full
// import lets the capture resume with the changes made since, and nothing
// else.
func TestSyncreplCheckpointNow(t *testing.T) {
	srv, gen := preloaded(t, gendir.Options{Seed: 5, Users: 20, Groups: 2})
	spec := openLDAPCaptureSpec(srv.BaseDN)
	conn := dial(t, srv.Endpoint)
	checkpoint, err := ldapsync.CheckpointNow(t.Context(), conn, spec)
	if err != nil {
		t.Fatalf("CheckpointNow: %v", err)
	}
	uuids := entryUUIDs(t, srv)
	req := ldap.NewModifyRequest(gen.UserDN(3), nil)
	req.Replace("title", []string{"After The Snapshot"})
	if err := srv.Modify(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	c := startCapture(t, conn, spec, checkpoint)
	done, _ := c.events.waitFor(t, c, 0, 10*time.Second, "end of the refresh", isType(ldapsync.EventRefreshDone))
	got := upsertsByID(t, c.events.since(0)[:done])
	if len(got) != 1 || !reflect.DeepEqual(attr(got[uuids[strings.ToLower(gen.UserDN(3))]], "title"), []string{"After The Snapshot"}) {
		t.Errorf("refresh from the snapshot's checkpoint sent %s, want only user 3 with its new title", describe(c.events.since(0)[:done]))
	}
}

// TestPollCapture forces polling by modifyTimestamp on slapd (which offers
// syncrepl, not persistent search).
func TestPollCapture(t *testing.T) {
	srv, gen := preloaded(t, gendir.Options{Seed: 6, Users: 10, Groups: 1})
	spec := openLDAPCaptureSpec(srv.BaseDN)
	spec.Strategy = ldapsync.StrategyPoll
	spec.PollInterval = 200 * time.Millisecond
	spec.Overlap = 2 * time.Second
	conn := dial(t, srv.Endpoint)
	checkpoint, err := ldapsync.CheckpointNow(t.Context(), conn, spec)
	if err != nil {
		t.Fatal(err)
	}
	// slapd publishes no currentTime: the checkpoint starts DefaultClockSkew
	// back and the first round sends the preloaded entries again.
	c := startCapture(t, conn, spec, checkpoint)
	evs := c.events
	done, _ := evs.waitFor(t, c, 0, 10*time.Second, "end of the first round", isType(ldapsync.EventRefreshDone))
	if n := len(upsertsByID(t, evs.since(0)[:done])); n != 11 {
		t.Errorf("the first round sent %d objects, want the 11 loaded within DefaultClockSkew", n)
	}
	uuids := entryUUIDs(t, srv)
	user4 := uuids[strings.ToLower(gen.UserDN(4))]
	fenceID := uuids[strings.ToLower(gen.UserDN(6))]
	addedDN := "uid=polled," + gen.PeopleDN()
	renamedDN := "uid=polled4," + gen.PeopleDN()
	steps := []struct {
		name string
		do   func() error
		id   func() string
		dn   string
	}{
		{"add", func() error { return srv.Add(t.Context(), person(addedDN, "polled", nil)) },
			func() string { return entryUUIDs(t, srv)[strings.ToLower(addedDN)] }, addedDN},
		{"modify", func() error {
			req := ldap.NewModifyRequest(gen.UserDN(4), nil)
			req.Replace("title", []string{"Polled"})
			return srv.Modify(t.Context(), req)
		}, func() string { return user4 }, gen.UserDN(4)},
		{"rename", func() error {
			return srv.ModifyDN(t.Context(), ldap.NewModifyDNRequest(gen.UserDN(4), "uid=polled4", true, ""))
		}, func() string { return user4 }, renamedDN},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			from := evs.len()
			if err := step.do(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			id := step.id()
			i, at := evs.waitFor(t, c, from, 3*time.Second, step.name, changeOf(ldapsync.ChangeUpsert, id))
			t.Logf("%s seen after %v", step.name, at.Sub(start).Round(time.Millisecond))
			if ch := evs.since(i)[0].Change; !strings.EqualFold(ch.DN, step.dn) {
				t.Errorf("DN %q, want %q", ch.DN, step.dn)
			}
			// Rounds repeat every 200 ms within the 2 s overlap, each reading
			// the change again: it must not come again. Three titles given to
			// another user, each awaited, fence off whole rounds: a round
			// reads an entry once, so each title arrives in a later round
			// than the one before, and the round of the second, after the
			// round that sent the change and reading it again, has ended
			// once the third arrives.
			for k := range 3 {
				at := evs.len()
				fence := ldap.NewModifyRequest(gen.UserDN(6), nil)
				fence.Replace("title", []string{fmt.Sprintf("fence %s %d", step.name, k)})
				if err := srv.Modify(t.Context(), fence); err != nil {
					t.Fatal(err)
				}
				evs.waitFor(t, c, at, 3*time.Second, fmt.Sprintf("fence %d", k), changeOf(ldapsync.ChangeUpsert, fenceID))
			}
			n := 0
			for _, ev := range evs.since(from) {
				if changeOf(ldapsync.ChangeUpsert, id)(ev) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s sent %d times over the overlap window, want once", step.name, n)
			}
		})
	}
}
