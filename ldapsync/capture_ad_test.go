//go:build linux

package ldapsync_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
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

// testLogger sends a logger's lines to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// ou returns an organizational unit entry for AD.
func ou(dn string) gendir.Entry {
	name, _, _ := strings.Cut(strings.TrimPrefix(dn, "OU="), ",")
	return gendir.Entry{DN: dn, Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"top", "organizationalUnit"}}, {Name: "ou", Values: []string{name}}}}
}

// adFixture names a test's AD objects. Account names carry a random tag:
// sAMAccountName is unique in the whole domain, which the package's tests
// share (and -count=2 runs a test again on the same DC).
type adFixture struct{ base, tag string }

func (f adFixture) PeopleDN() string { return "OU=People," + f.base }
func (f adFixture) GroupsDN() string { return "OU=Groups," + f.base }

// UserDN returns the DN of user i.
func (f adFixture) UserDN(i int) string {
	return fmt.Sprintf("CN=Capture User %02d,%s", i, f.PeopleDN())
}

// account returns a sAMAccountName of 20 characters at most.
func (f adFixture) account(name string) string { return "c" + f.tag + name }

// User returns the entry of user i, enabled, without password.
func (f adFixture) User(i int) gendir.Entry {
	id := fmt.Sprintf("u%02d", i)
	return gendir.Entry{DN: f.UserDN(i), Attrs: []gendir.Attr{
		{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
		{Name: "sAMAccountName", Values: []string{f.account(id)}}, {Name: "userAccountControl", Values: []string{"544"}},
		{Name: "givenName", Values: []string{"Capture"}}, {Name: "sn", Values: []string{id}},
		{Name: "mail", Values: []string{f.account(id) + "@idsync.test"}}, {Name: "title", Values: []string{"Title " + id}}}}
}

// addContacts makes an OU of n contacts and returns their DNs.
func addContacts(t *testing.T, srv *testserver.SambaServer, parent string, n int) []string {
	t.Helper()
	entries := []gendir.Entry{ou(parent)}
	dns := make([]string, n)
	for i := range dns {
		dns[i] = fmt.Sprintf("CN=Contact %04d,%s", i, parent)
		entries = append(entries, gendir.Entry{DN: dns[i], Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "contact"}}}})
	}
	if err := addEntries(t, srv, entries[:1]); err != nil {
		t.Fatal(err)
	}
	if err := addEntries(t, srv, entries[1:]); err != nil {
		t.Fatal(err)
	}
	return dns
}

// addEntries adds entries that do not refer to each other from 4
// connections.
func addEntries(t *testing.T, srv *testserver.SambaServer, entries []gendir.Entry) error {
	const workers = 4
	errs := make(chan error, workers)
	for k := range workers {
		go func() {
			errs <- func() error {
				c, err := srv.Conn(t.Context())
				if err != nil {
					return err
				}
				defer c.Close()
				for i := k; i < len(entries); i += workers {
					req := ldap.NewAddRequest(entries[i].DN, nil)
					for _, a := range entries[i].Attrs {
						req.Attribute(a.Name, a.Values)
					}
					if err := c.Add(req); err != nil {
						return fmt.Errorf("adding %s: %w", entries[i].DN, err)
					}
				}
				return nil
			}()
		}()
	}
	var errsOut []error
	for range workers {
		errsOut = append(errsOut, <-errs)
	}
	return errors.Join(errsOut...)
}

// adPhase is a batch of directory operations whose events a DirSync
// capture must deliver, each checked by its own subtest.
type adPhase struct {
	name string
	ops  []func() error
	want []adWant
}

type adWant struct {
	name  string
	match func(ldapsync.Event) bool
	check func(t *testing.T, c ldapsync.Change)
}

// TestDirSyncCapture follows an AD OU through a snapshot and phases of
// changes woken by change notification: adds, modifies, a disabled
// account, membership deltas on a group of 1,500 members, renames and moves
// that keep identity, moves out of and into the base, and deletions.
func TestDirSyncCapture(t *testing.T) {
	t.Parallel() // loading AD takes seconds of Samba's time
	// The big group's 1,500 members are contacts, which AD makes twice as
	// fast as users, and the users.
	const users, contacts = 20, 1500
	const big = users + contacts
	srv := testserver.SambaAD(t)
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	gen := adFixture{base: srv.BaseDN, tag: hex.EncodeToString(tag[:])}
	outside := "OU=Outside-" + gen.tag + "," + srv.DomainDN
	start := time.Now()
	entries := []gendir.Entry{ou(gen.PeopleDN()), ou(gen.GroupsDN())}
	if err := addEntries(t, srv, entries); err != nil {
		t.Fatal(err)
	}
	entries = entries[:0]
	for i := range users {
		entries = append(entries, gen.User(i))
	}
	if err := addEntries(t, srv, entries); err != nil {
		t.Fatalf("loading AD: %v", err)
	}
	members := addContacts(t, srv, "OU=Contacts,"+srv.BaseDN, contacts)
	for i := range users {
		members = append(members, gen.UserDN(i))
	}
	bigDN, smallDN := "CN=Capture Big,"+gen.GroupsDN(), "CN=Capture Small,"+gen.GroupsDN()
	for _, g := range []struct {
		dn, name string
		members  []string
	}{{bigDN, "big", members}, {smallDN, "small", members[contacts : contacts+3]}} {
		if err := srv.Add(t.Context(), gendir.Entry{DN: g.dn, Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"top", "group"}}, {Name: "sAMAccountName", Values: []string{gen.account(g.name)}},
			{Name: "description", Values: []string{"captured"}}, {Name: "member", Values: g.members}}}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("loaded %d users, %d contacts and 2 groups into AD in %v", users, contacts, time.Since(start))
	sub := "OU=Sub," + srv.BaseDN
	for _, dn := range []string{sub, outside} {
		if err := srv.Add(t.Context(), ou(dn)); err != nil {
			t.Fatal(err)
		}
	}

	spec := ldapsync.CaptureSpec{Spec: ldapsync.Spec{Kind: ldapsync.KindAD, BaseDN: srv.BaseDN,
		UserAttributes: adUserAttrs, GroupAttributes: adGroupAttrs},
		// Only change notification wakes a round within the test's waits.
		PollInterval: time.Minute, Logger: testLogger(t)}
	conn := dial(t, srv.Endpoint)
	if s, err := ldapsync.Detect(t.Context(), conn, ldapsync.KindAD); s != ldapsync.StrategyDirSync || err != nil {
		t.Fatalf("Detect = %v, %v; want dirsync", s, err)
	}
	cap := startCapture(t, conn, spec, nil)
	evs := cap.events

	// Without a checkpoint: a snapshot (full import) that may be swept,
	// then a first DirSync round.
	snap, _ := evs.waitFor(t, cap, 0, 60*time.Second, "end of the snapshot", isType(ldapsync.EventRefreshDone))
	if ev := evs.since(snap)[0]; !ev.PresentPhase {
		t.Errorf("the snapshot's refresh-done has PresentPhase false, want true")
	}
	snapshot := upsertsByID(t, evs.since(0)[:snap])
	if len(snapshot) != users+2 {
		t.Errorf("the snapshot sent %d objects, want %d", len(snapshot), users+2)
	}
	guids := extendedGUIDs(t, srv)
	guid := func(dn string) string { return guids[strings.ToLower(dn)] }
	if n := len(attr(snapshot[guid(bigDN)], "member")); n != big {
		t.Errorf("the snapshot's big group has %d members, want %d", n, big)
	}
	live, _ := evs.waitFor(t, cap, snap+1, 30*time.Second, "end of the first round", func(ev ldapsync.Event) bool {
		return ev.Type == ldapsync.EventRefreshDone && !ev.PresentPhase
	})
	evs.waitFor(t, cap, live+1, time.Second, "checkpoint after the first round", isType(ldapsync.EventCheckpoint))

	newDN := "CN=Capture Newcomer," + gen.PeopleDN()
	renamedDN := "CN=Renamed One," + gen.PeopleDN()
	movedDN := strings.Replace(gen.UserDN(4), gen.PeopleDN(), sub, 1)
	outDN := strings.Replace(gen.UserDN(5), gen.PeopleDN(), outside, 1)
	groupRenamedDN := "CN=Renamed Group," + gen.GroupsDN()
	user := func(i int) string { return guid(gen.UserDN(i)) }
	modify := func(dn string, change func(*ldap.ModifyRequest)) func() error {
		return func() error {
			req := ldap.NewModifyRequest(dn, nil)
			change(req)
			return srv.Modify(t.Context(), req)
		}
	}
	move := func(dn, rdn, parent string) func() error {
		return func() error { return srv.ModifyDN(t.Context(), ldap.NewModifyDNRequest(dn, rdn, true, parent)) }
	}
	upsertOf := func(id func() string) func(ldapsync.Event) bool {
		return func(ev ldapsync.Event) bool { return changeOf(ldapsync.ChangeUpsert, id())(ev) }
	}
	wantDN := func(dn string) func(*testing.T, ldapsync.Change) {
		return func(t *testing.T, c ldapsync.Change) {
			if !strings.EqualFold(c.DN, dn) || c.Kind != ldapsync.ObjectUser {
				t.Errorf("%s %q, want user %q", c.Kind, c.DN, dn)
			}
			if len(attr(c, "samaccountname")) != 1 || len(attr(c, "useraccountcontrol")) != 1 {
				t.Errorf("attributes %q: a rename must send the whole object", c.Attributes)
			}
		}
	}
	wantDelete := func(t *testing.T, c ldapsync.Change) {
		if c.Type != ldapsync.ChangeDelete {
			t.Errorf("%s, want delete", c.Type)
		}
	}
	var newID, newGroupID string
	newGroupDN := "CN=Capture New Group," + gen.GroupsDN()
	movedGroupDN := "CN=Capture New Group," + sub
	phases := []adPhase{
		{
			name: "add, modify, disable, member added",
			ops: []func() error{
				func() error {
					return srv.Add(t.Context(), gendir.Entry{DN: newDN, Attrs: []gendir.Attr{
						{Name: "objectClass", Values: []string{"top", "person", "organizationalPerson", "user"}},
						{Name: "sAMAccountName", Values: []string{gen.account("new")}}, {Name: "title", Values: []string{"Newcomer"}}}})
				},
				modify(gen.UserDN(1), func(r *ldap.ModifyRequest) { r.Replace("title", []string{"Captured Title"}) }),
				modify(gen.UserDN(2), func(r *ldap.ModifyRequest) { r.Replace("userAccountControl", []string{"546"}) }),
				modify(bigDN, func(r *ldap.ModifyRequest) { r.Add("member", []string{newDN}) }),
				func() error {
					return srv.Add(t.Context(), gendir.Entry{DN: newGroupDN, Attrs: []gendir.Attr{
						{Name: "objectClass", Values: []string{"top", "group"}}, {Name: "sAMAccountName", Values: []string{gen.account("newgroup")}},
						{Name: "member", Values: []string{gen.UserDN(0)}}}})
				},
				modify(smallDN, func(r *ldap.ModifyRequest) { r.Replace("description", []string{"Changed"}) }),
			},
			want: []adWant{
				{"add", func(ev ldapsync.Event) bool {
					return ev.Type == ldapsync.EventChange && strings.EqualFold(ev.Change.DN, newDN)
				}, func(t *testing.T, c ldapsync.Change) {
					newID = c.ExternalID
					if c.Type != ldapsync.ChangeUpsert || c.Kind != ldapsync.ObjectUser || newID != extendedGUIDs(t, srv)[strings.ToLower(newDN)] ||
						!reflect.DeepEqual(attr(c, "title"), []string{"Newcomer"}) {
						t.Errorf("got %s %s %s title %q, want upsert user with the server's GUID, title Newcomer", c.Type, c.Kind, c.ExternalID, attr(c, "title"))
					}
				}},
				{"modify", upsertOf(func() string { return user(1) }), func(t *testing.T, c ldapsync.Change) {
					if !reflect.DeepEqual(attr(c, "title"), []string{"Captured Title"}) || len(attr(c, "mail")) != 1 || len(attr(c, "samaccountname")) != 1 {
						t.Errorf("attributes %q: want the new title and the whole object re-read", c.Attributes)
					}
				}},
				{"disable", upsertOf(func() string { return user(2) }), func(t *testing.T, c ldapsync.Change) {
					if got := attr(c, "useraccountcontrol"); !reflect.DeepEqual(got, []string{"546"}) {
						t.Errorf("userAccountControl = %q, want 546 (bit 2: disabled)", got)
					}
				}},
				{"member added to the big group", upsertOf(func() string { return guid(bigDN) }), func(t *testing.T, c ldapsync.Change) {
					// Delta values carry the member's GUID: "<GUID=…>;DN".
					added := len(c.MemberAdds) == 1 && len(c.MemberAdds[0].Values) == 1 &&
						strings.HasPrefix(c.MemberAdds[0].Values[0], "<GUID=") && strings.HasSuffix(c.MemberAdds[0].Values[0], ">;"+newDN)
					if !c.MembersIncremental || !added || c.MemberRemoves != nil || attr(c, "member") != nil {
						t.Errorf("incremental %v, adds %q, removes %q, member attribute of %d values; want one added value and no member list",
							c.MembersIncremental, c.MemberAdds, c.MemberRemoves, len(attr(c, "member")))
					}
					if len(attr(c, "samaccountname")) != 1 || len(attr(c, "description")) != 1 {
						t.Errorf("attributes %q: want the group's other attributes", c.Attributes)
					}
				}},
				{"group added", func(ev ldapsync.Event) bool {
					return ev.Type == ldapsync.EventChange && strings.EqualFold(ev.Change.DN, newGroupDN)
				}, func(t *testing.T, c ldapsync.Change) {
					newGroupID = c.ExternalID
					// A whole membership re-read names each member with its GUID.
					if c.Type != ldapsync.ChangeUpsert || c.Kind != ldapsync.ObjectGroup || c.MembersIncremental ||
						!reflect.DeepEqual(attr(c, "member"), []string{"<GUID=" + user(0) + ">;" + gen.UserDN(0)}) {
						t.Errorf("got %s %s incremental %v members %q, want an upsert of the group with its whole membership",
							c.Type, c.Kind, c.MembersIncremental, attr(c, "member"))
					}
				}},
				{"group attribute modified", upsertOf(func() string { return guid(smallDN) }), func(t *testing.T, c ldapsync.Change) {
					if !reflect.DeepEqual(attr(c, "description"), []string{"Changed"}) || !c.MembersIncremental ||
						c.MemberAdds != nil || c.MemberRemoves != nil || attr(c, "member") != nil {
						t.Errorf("description %q, incremental %v, adds %q, removes %q, member %q; want the new description and the membership untouched",
							attr(c, "description"), c.MembersIncremental, c.MemberAdds, c.MemberRemoves, attr(c, "member"))
					}
				}},
			},
		},
		{
			name: "member removed, rename, move, group rename",
			ops: []func() error{
				modify(bigDN, func(r *ldap.ModifyRequest) { r.Delete("member", []string{gen.UserDN(3)}) }),
				move(gen.UserDN(1), "CN=Renamed One", ""),
				move(gen.UserDN(4), strings.SplitN(gen.UserDN(4), ",", 2)[0], sub),
				move(smallDN, "CN=Renamed Group", ""),
				move(newGroupDN, "CN=Capture New Group", sub),
			},
			want: []adWant{
				{"member removed from the big group", upsertOf(func() string { return guid(bigDN) }), func(t *testing.T, c ldapsync.Change) {
					want := []ldapsync.Attribute{{Name: "member", Values: []string{"<GUID=" + user(3) + ">;" + gen.UserDN(3)}}}
					if !c.MembersIncremental || !reflect.DeepEqual(c.MemberRemoves, want) || c.MemberAdds != nil {
						t.Errorf("incremental %v, adds %q, removes %q; want one removed value", c.MembersIncremental, c.MemberAdds, c.MemberRemoves)
					}
				}},
				{"rename", upsertOf(func() string { return user(1) }), wantDN(renamedDN)},
				{"move to a sub-OU", upsertOf(func() string { return user(4) }), wantDN(movedDN)},
				{"group rename", upsertOf(func() string { return guid(smallDN) }), func(t *testing.T, c ldapsync.Change) {
					if !strings.EqualFold(c.DN, groupRenamedDN) || c.MembersIncremental || len(attr(c, "member")) != 3 {
						t.Errorf("DN %q, incremental %v, %d members; want %q with its whole membership of 3",
							c.DN, c.MembersIncremental, len(attr(c, "member")), groupRenamedDN)
					}
				}},
				{"group move to a sub-OU", upsertOf(func() string { return newGroupID }), func(t *testing.T, c ldapsync.Change) {
					if !strings.EqualFold(c.DN, movedGroupDN) || len(attr(c, "member")) != 1 {
						t.Errorf("DN %q, %d members; want %q with its member", c.DN, len(attr(c, "member")), movedGroupDN)
					}
				}},
			},
		},
		{
			name: "move out, deletions",
			ops: []func() error{
				move(gen.UserDN(5), strings.SplitN(gen.UserDN(5), ",", 2)[0], outside),
				func() error { return srv.Delete(t.Context(), gen.UserDN(6)) },
				func() error { return srv.Delete(t.Context(), groupRenamedDN) },
			},
			want: []adWant{
				{"move out of the base", func(ev ldapsync.Event) bool { return changeOf(ldapsync.ChangeDelete, user(5))(ev) }, wantDelete},
				{"user deleted", func(ev ldapsync.Event) bool { return changeOf(ldapsync.ChangeDelete, user(6))(ev) }, wantDelete},
				{"group deleted", func(ev ldapsync.Event) bool { return changeOf(ldapsync.ChangeDelete, guid(smallDN))(ev) }, wantDelete},
			},
		},
		{
			name: "move back in",
			ops:  []func() error{move(outDN, strings.SplitN(outDN, ",", 2)[0], gen.PeopleDN())},
			want: []adWant{{"move into the base", upsertOf(func() string { return user(5) }), wantDN(gen.UserDN(5))}},
		},
	}
	var latencies []time.Duration
	for _, ph := range phases {
		t.Run(ph.name, func(t *testing.T) {
			if len(ph.ops) != len(ph.want) {
				t.Fatalf("%d operations, %d expectations: want one for each", len(ph.ops), len(ph.want))
			}
			from := evs.len()
			done := make([]time.Time, len(ph.ops))
			for k, op := range ph.ops {
				if err := op(); err != nil {
					t.Fatal(err)
				}
				done[k] = time.Now()
			}
			for k, w := range ph.want {
				t.Run(w.name, func(t *testing.T) {
					i, at := evs.waitFor(t, cap, from, 30*time.Second, w.name, w.match)
					latencies = append(latencies, at.Sub(done[k]))
					t.Logf("%s: event %v after the operation", w.name, at.Sub(done[k]).Round(time.Millisecond))
					w.check(t, evs.since(i)[0].Change)
				})
			}
			last := evs.len()
			evs.waitFor(t, cap, last-1, 5*time.Second, "checkpoint after the round", isType(ldapsync.EventCheckpoint))
		})
	}
	if newID == "" {
		t.Fatal("the newcomer was never seen")
	}
	slices.Sort(latencies)
	t.Logf("DirSync woken by change notification: latency from an operation to its event p50 %v, max %v over %d changes (Samba notifies within 5 s)",
		percentile(latencies, 50).Round(time.Millisecond), latencies[len(latencies)-1].Round(time.Millisecond), len(latencies))

	t.Run("resume from a checkpoint taken now", func(t *testing.T) {
		checkpoint, err := ldapsync.CheckpointNow(t.Context(), conn, spec)
		if err != nil {
			t.Fatalf("CheckpointNow: %v", err)
		}
		if err := modify(gen.UserDN(8), func(r *ldap.ModifyRequest) { r.Replace("title", []string{"After The Snapshot"}) })(); err != nil {
			t.Fatal(err)
		}
		c := startCapture(t, dial(t, srv.Endpoint), spec, checkpoint)
		done, _ := c.events.waitFor(t, c, 0, 20*time.Second, "end of the refresh", isType(ldapsync.EventRefreshDone))
		got := upsertsByID(t, c.events.since(0)[:done])
		if len(got) != 1 || !reflect.DeepEqual(attr(got[user(8)], "title"), []string{"After The Snapshot"}) {
			t.Errorf("the refresh from the checkpoint sent %s, want only user 8 with its new title", describe(c.events.since(0)[:done]))
		}
	})

	t.Run("a user that stops matching the filter", func(t *testing.T) {
		enabledOnly := spec
		enabledOnly.UserFilter = "(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"
		checkpoint, err := ldapsync.CheckpointNow(t.Context(), conn, enabledOnly)
		if err != nil {
			t.Fatalf("CheckpointNow: %v", err)
		}
		c := startCapture(t, dial(t, srv.Endpoint), enabledOnly, checkpoint)
		c.events.waitFor(t, c, 0, 20*time.Second, "end of the refresh", isType(ldapsync.EventRefreshDone))
		if err := modify(gen.UserDN(9), func(r *ldap.ModifyRequest) { r.Replace("userAccountControl", []string{"546"}) })(); err != nil {
			t.Fatal(err)
		}
		c.events.waitFor(t, c, 0, 30*time.Second, "delete of the disabled user", changeOf(ldapsync.ChangeDelete, user(9)))
	})

	checkpoint := evs.lastCheckpoint()
	tests := []struct {
		name       string
		checkpoint []byte
		why        string
	}{
		{"invalid cookie", rewriteCheckpoint(t, checkpoint, map[string]any{"cookie": []byte("not a DirSync cookie")}), "refused the checkpoint's cookie"},
		{"another DC's invocationID", rewriteCheckpoint(t, checkpoint, map[string]any{"invocationId": "0badc0de-0000-4000-8000-000000000000"}), "invocationID"},
		{"older than the tombstones", rewriteCheckpoint(t, checkpoint, map[string]any{"taken": time.Now().AddDate(-1, 0, 0)}), "tombstone lifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startCapture(t, dial(t, srv.Endpoint), spec, tt.checkpoint)
			wantReconcile(t, c.wait(t, 20*time.Second), tt.why)
		})
	}
}

// TestDetect checks the strategy each test server gets.
func TestDetect(t *testing.T) {
	slapd := testserver.Slapd(t)
	ad := testserver.SambaAD(t)
	tests := []struct {
		name     string
		endpoint testserver.Endpoint
		kind     ldapsync.Kind
		want     ldapsync.Strategy
	}{
		{"slapd with syncprov", slapd.Endpoint, ldapsync.KindOpenLDAP, ldapsync.StrategySyncrepl},
		{"Samba AD", ad.Endpoint, ldapsync.KindAD, ldapsync.StrategyDirSync},
		{"Samba AD read as a plain LDAP server", ad.Endpoint, ldapsync.KindOpenLDAP, ldapsync.StrategyPoll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ldapsync.Detect(t.Context(), dial(t, tt.endpoint), tt.kind)
			if err != nil || got != tt.want {
				t.Errorf("Detect = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
