package storetest

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/idsync/idsync/server/store"
)

var auditTests = []test{
	{"AdminTokenScopes", testAdminTokenScopes},
	{"AppendList", testAuditAppendList},
	{"Prune", testAuditPrune},
	{"UserStatusCounts", testUserStatusCounts},
	{"UserLifecycle", testAuditUserLifecycle},
	{"Bounds", testAuditBounds},
}

// testAdminTokenScopes: scopes round-trip; a token is revoked by id or by
// the name of the live one; a revoked token frees its name.
func testAdminTokenScopes(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok := &store.AdminToken{Name: "helpdesk", Role: "group-admin", Hash: []byte{7}, Groups: []string{"sales", "ops"}}
	must(t, "CreateAdminToken", s.CreateAdminToken(ctx, tok))
	apps := &store.AdminToken{Name: "crm-team", Role: "app-admin", Hash: []byte{8}, Apps: []string{"crm"}}
	must(t, "CreateAdminToken", s.CreateAdminToken(ctx, apps))
	wantErr(t, "CreateAdminToken(live name taken)",
		s.CreateAdminToken(ctx, &store.AdminToken{Name: "helpdesk", Role: "read-only", Hash: []byte{9}}), store.ErrConflict)

	got, err := s.AdminTokenByHash(ctx, []byte{7})
	must(t, "AdminTokenByHash", err)
	if !reflect.DeepEqual(got.Groups, tok.Groups) || got.Apps != nil {
		t.Errorf("groups %q apps %q, want %q and none", got.Groups, got.Apps, tok.Groups)
	}
	now := time.Now().UTC().Truncate(time.Second)
	must(t, "AdminTokenUsed", s.AdminTokenUsed(ctx, tok.ID, now))
	must(t, "AdminTokenUsed(again, within the minute)", s.AdminTokenUsed(ctx, tok.ID, now.Add(time.Second)))
	if got, _ = s.AdminTokenByHash(ctx, []byte{7}); !sameTime(got.LastUsedAt, now) {
		t.Errorf("LastUsedAt = %v, want %v", got.LastUsedAt, now)
	}

	rev, err := s.RevokeAdminToken(ctx, "helpdesk", now)
	must(t, "RevokeAdminToken(by name)", err)
	if rev.ID != tok.ID || !sameTime(rev.RevokedAt, now) {
		t.Errorf("revoked %s at %v, want %s at %v", rev.ID, rev.RevokedAt, tok.ID, now)
	}
	again, err := s.RevokeAdminToken(ctx, tok.ID, now.Add(time.Hour))
	must(t, "RevokeAdminToken(by id, again)", err)
	if !sameTime(again.RevokedAt, now) {
		t.Errorf("second revocation moved the time to %v, want %v", again.RevokedAt, now)
	}
	_, err = s.RevokeAdminToken(ctx, "nobody", now)
	wantErr(t, "RevokeAdminToken(unknown)", err, store.ErrNotFound)
	must(t, "CreateAdminToken(name of a revoked token)",
		s.CreateAdminToken(ctx, &store.AdminToken{Name: "helpdesk", Role: "read-only", Hash: []byte{10}}))

	list, err := s.ListAdminTokens(ctx)
	must(t, "ListAdminTokens", err)
	var names []string
	for _, l := range list {
		names = append(names, fmt.Sprintf("%s/%s/%v", l.Name, l.Role, !l.RevokedAt.IsZero()))
	}
	want := []string{"helpdesk/group-admin/true", "crm-team/app-admin/false", "helpdesk/read-only/false"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("ListAdminTokens = %q, want %q", names, want)
	}
}

func testAuditAppendList(t *testing.T, s store.Store) {
	ctx := t.Context()
	base := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	events := []*store.AuditEvent{
		{At: base, Actor: "admin:alice", Action: "app.create", Target: "app:crm"},
		{At: base.Add(time.Minute), Actor: "agent:a1", Action: "agent.connect", Target: "agent:a1"},
		{At: base.Add(2 * time.Minute), Actor: "admin:bob", Action: "app.assign", Target: "app:crm", Outcome: store.AuditRefused,
			Detail: "missing permission apps.write"},
		{At: base.Add(3 * time.Minute), Actor: "run:7", Action: "user.created", Target: "user:uid=ann,dc=example,dc=org"},
		{At: base.Add(4 * time.Minute), Actor: "admin:alice_x", Action: "app_create", Target: "app:100%"},
	}
	must(t, "AppendAudit", s.AppendAudit(ctx, events...))
	for i, e := range events {
		if e.ID == 0 || (i > 0 && e.ID <= events[i-1].ID) {
			t.Fatalf("event %d has id %d after %d; want increasing ids", i, e.ID, events[max(i-1, 0)].ID)
		}
	}
	if events[0].Outcome != store.AuditOK {
		t.Errorf("default outcome %q, want %q", events[0].Outcome, store.AuditOK)
	}
	cases := []struct {
		name string
		f    store.AuditFilter
		want []int
	}{
		{"all", store.AuditFilter{}, []int{0, 1, 2, 3, 4}},
		{"actor exact", store.AuditFilter{Actor: "admin:alice"}, []int{0}},
		{"actor prefix", store.AuditFilter{Actor: "admin:"}, []int{0, 2, 4}},
		{"action prefix", store.AuditFilter{Action: "app."}, []int{0, 2}},
		{"underscore is no wildcard", store.AuditFilter{Action: "app_"}, []int{4}},
		{"percent is no wildcard", store.AuditFilter{Target: "app:1"}, []int{4}},
		{"target", store.AuditFilter{Target: "app:crm"}, []int{0, 2}},
		{"since", store.AuditFilter{Since: base.Add(3 * time.Minute)}, []int{3, 4}},
		{"until", store.AuditFilter{Until: base.Add(time.Minute)}, []int{0}},
		{"after id, limit", store.AuditFilter{AfterID: events[0].ID, Limit: 2}, []int{1, 2}},
	}
	for _, c := range cases {
		got, err := s.ListAudit(ctx, c.f)
		must(t, "ListAudit "+c.name, err)
		var ids, want []int64
		for _, e := range got {
			ids = append(ids, e.ID)
		}
		for _, i := range c.want {
			want = append(want, events[i].ID)
		}
		if !reflect.DeepEqual(ids, want) {
			t.Errorf("%s: ids %v, want %v", c.name, ids, want)
		}
	}
	got, err := s.ListAudit(ctx, store.AuditFilter{Outcome: store.AuditRefused})
	must(t, "ListAudit refused", err)
	if len(got) != 1 || got[0].ID != events[2].ID || got[0].Detail != events[2].Detail || !sameTime(got[0].At, events[2].At) {
		t.Errorf("refused events %+v, want %+v", got, events[2])
	}
}

func testAuditPrune(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now().UTC()
	old := &store.AuditEvent{At: now.Add(-200 * 24 * time.Hour), Actor: "hub", Action: "audit.test"}
	recent := &store.AuditEvent{At: now.Add(-time.Hour), Actor: "hub", Action: "audit.test"}
	must(t, "AppendAudit", s.AppendAudit(ctx, old, recent))
	n, err := s.PruneAudit(ctx, now.Add(-180*24*time.Hour))
	must(t, "PruneAudit", err)
	got, err := s.ListAudit(ctx, store.AuditFilter{})
	must(t, "ListAudit", err)
	if n != 1 || len(got) != 1 || got[0].ID != recent.ID {
		t.Errorf("pruned %d, left %d events; want 1 pruned and the recent one left", n, len(got))
	}
}

func testUserStatusCounts(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunIncremental)
	off := newUser("u3", "cid")
	off.Status = store.StatusSuspended
	f.upsert(run, newUser("u1", "ann"), newUser("u2", "bob"), off, newGroup("g1", "staff"))
	got, err := s.UserStatusCounts(t.Context())
	must(t, "UserStatusCounts", err)
	want := []store.StatusCount{{Directory: "corp", Status: store.StatusActive, Count: 2}, {Directory: "corp", Status: store.StatusSuspended, Count: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UserStatusCounts = %+v, want %+v", got, want)
	}
}

// testAuditUserLifecycle: every change of a user's state is in the audit
// trail, committed with the batch or sweep that made it.
func testAuditUserLifecycle(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	ctx := t.Context()
	run := f.run(store.RunIncremental)
	ann := newUser("u1", "ann")
	f.upsert(run, ann, newUser("u2", "bob"), newGroup("g1", "staff"))
	ann.Profile.Title = "Boss"
	f.upsert(run, rehash(ann))
	ann.Status = store.StatusSuspended
	f.upsert(run, rehash(ann))
	ann.Status = store.StatusActive
	f.upsert(run, rehash(ann))
	f.apply(run, store.Batch{Deletes: []string{"u1"}})
	f.upsert(run, rehash(ann)) // back from deprovisioned
	_, err := s.TransitionRun(ctx, run.ID, []store.RunState{store.RunRunning}, store.RunUpdate{State: store.RunCompleted, Finished: true})
	must(t, "finish capture", err)

	full := f.run(store.RunFull)
	f.apply(full, store.Batch{Present: []string{"u1", "g1"}})
	_, err = s.Sweep(ctx, full.ID, []store.RunState{store.RunRunning}, "")
	must(t, "Sweep", err)

	events, err := s.ListAudit(ctx, store.AuditFilter{Action: "user."})
	must(t, "ListAudit", err)
	var got []string
	for _, e := range events {
		got = append(got, e.Actor+" "+e.Action+" "+e.Target)
	}
	r, fr := fmt.Sprintf("run:%d", run.ID), fmt.Sprintf("run:%d", full.ID)
	want := []string{
		r + " user.created user:ann", r + " user.created user:bob",
		r + " user.updated user:ann", r + " user.suspended user:ann", r + " user.activated user:ann",
		r + " user.deprovisioned user:ann", r + " user.restored user:ann",
		fr + " user.deprovisioned user:bob",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lifecycle events\n%q\nwant\n%q", got, want)
	}
}

// testAuditBounds: every event is stored cut to the bounds of its fields,
// as valid UTF-8 without NULs — one appended on its own, and a user's
// lifecycle event committed with the batch that created a user with a
// long name.
func testAuditBounds(t *testing.T, s store.Store) {
	ctx := t.Context()
	huge := strings.Repeat("é", 1<<19) // 1 MiB
	must(t, "AppendAudit", s.AppendAudit(ctx, &store.AuditEvent{Actor: "admin:" + huge, Action: "audit." + huge,
		Target: "app:" + huge, Outcome: store.AuditRefused, Detail: "bad \xff\x00 bytes " + huge}))
	f := newFixture(t, s, "corp")
	f.upsert(f.run(store.RunIncremental), newUser("u1", "long"+strings.Repeat("x", 1000)))

	events, err := s.ListAudit(ctx, store.AuditFilter{})
	must(t, "ListAudit", err)
	if len(events) != 2 {
		t.Fatalf("ListAudit = %d events, want 2", len(events))
	}
	for i, e := range events {
		for _, f := range []struct {
			name, value string
			max         int
		}{
			{"actor", e.Actor, store.AuditFieldMax},
			{"action", e.Action, store.AuditFieldMax},
			{"target", e.Target, store.AuditFieldMax},
			{"detail", e.Detail, store.AuditDetailMax},
		} {
			if len(f.value) > f.max || !utf8.ValidString(f.value) || strings.Contains(f.value, "\x00") {
				t.Errorf("event %d: %s of %d bytes (valid UTF-8: %t), want at most %d of valid UTF-8 without NUL",
					i, f.name, len(f.value), utf8.ValidString(f.value), f.max)
			}
		}
	}
	if e := events[0]; !strings.HasPrefix(e.Detail, "bad \uFFFD\uFFFD bytes éé") || !strings.HasSuffix(e.Detail, store.TruncatedMarker) ||
		!strings.HasPrefix(e.Actor, "admin:éé") || !strings.HasSuffix(e.Actor, store.TruncatedMarker) {
		t.Errorf("appended event stored as actor %.20q…, detail %.20q…; want the beginning kept, bad bytes replaced, the end marked",
			e.Actor, e.Detail)
	}
	if e := events[1]; e.Action != "user.created" || !strings.HasPrefix(e.Target, "user:longxxx") || !strings.HasSuffix(e.Target, store.TruncatedMarker) {
		t.Errorf("lifecycle event %s on %.20q…, want user.created on user:long… cut to %d bytes", e.Action, e.Target, store.AuditFieldMax)
	}
}
