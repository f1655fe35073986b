package people_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/people"
	"github.com/idsync/idsync/server/store"
)

// localWorld is a SQLite store with directory corp (openldap) holding
// alice and group eng {alice}, and a local directory staff; the service
// writes through a real engine.
type localWorld struct {
	st    store.Store
	s     *people.Service
	corp  *store.Directory
	staff *store.Directory
	alice *store.User
	eng   *store.Group
	// engine is the service's engine, unwrapped.
	engine *ingest.Engine
}

func newLocalWorld(t *testing.T) *localWorld {
	return newLocalWorldWith(t, func(a people.Applier) people.Applier { return a })
}

// newLocalWorldWith is newLocalWorld with the service's applier wrapped.
func newLocalWorldWith(t *testing.T, wrap func(people.Applier) people.Applier) *localWorld {
	t.Helper()
	ctx := t.Context()
	st := openStore(t)
	w := &localWorld{st: st}
	w.corp = &store.Directory{Name: "corp", Kind: store.KindOpenLDAP, BaseDN: "dc=corp"}
	w.staff = &store.Directory{Name: "staff", Kind: store.KindLocal}
	for _, d := range []*store.Directory{w.corp, w.staff} {
		ingest.ApplyPreset(d)
		if err := ingest.ValidateDirectory(d); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateDirectory(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	engine := ingest.New(ingest.Config{Store: st, Log: slog.New(slog.DiscardHandler)})
	dn := "uid=alice,dc=corp"
	alice := &store.Object{Kind: store.ObjectUser, ExternalID: "ext-alice", DN: dn, DNKey: dn, Status: store.StatusActive,
		Profile: store.Profile{Username: "alice"}}
	eng := &store.Object{Kind: store.ObjectGroup, ExternalID: "ext-eng", DN: "cn=eng,dc=corp", DNKey: "cn=eng,dc=corp",
		Status: store.StatusActive, Name: "eng", MembersComplete: true, Members: []store.MemberRef{{Value: dn, Key: "dn:" + dn}}}
	for _, o := range []*store.Object{alice, eng} {
		o.Hash = ingest.Hash(o)
	}
	if _, err := engine.ApplyWrite(ctx, w.corp, "test", &store.Batch{Upserts: []*store.Object{alice, eng}}); err != nil {
		t.Fatal(err)
	}
	us, err := st.FindUsers(ctx, w.corp.ID, "alice")
	w.alice = only(t, us, err)
	gs, err := st.FindGroups(ctx, w.corp.ID, "eng")
	w.eng = only(t, gs, err)
	w.engine = engine
	w.s = people.New(people.Config{Store: st, Apply: wrap(engine), Now: func() time.Time { return time.Unix(1800000000, 0) }})
	return w
}

func only[T any](t *testing.T, found []T, err error) T {
	t.Helper()
	if err != nil || len(found) != 1 {
		t.Fatalf("found %d, %v; want one", len(found), err)
	}
	return found[0]
}

// events are the audit events of action by admins, as "actor target".
func (w *localWorld) events(t *testing.T, action string) []string {
	t.Helper()
	evs, err := w.st.ListAudit(t.Context(), store.AuditFilter{Action: action, Actor: "admin:"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		if e.Action == action {
			out = append(out, e.Actor+" "+e.Target)
		}
	}
	return out
}

// runs counts the runs of every directory.
func (w *localWorld) runs(t *testing.T) int {
	t.Helper()
	rs, err := w.st.ListRuns(t.Context(), store.RunFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(rs)
}

func TestCreateUser(t *testing.T) {
	ctx := t.Context()
	w := newLocalWorld(t)
	u, err := w.s.CreateUser(ctx, "staff", store.Profile{Username: " Carol ", Email: "carol@example.org", GivenName: "Carol",
		Title: "Contractor", Extra: map[string][]string{"cost-center": {"42"}}}, "admin:ann")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := uuid.Parse(u.ExternalID); err != nil || u.Directory != "staff" || u.Username != "Carol" || u.DN != "" ||
		u.Status != store.StatusActive || u.Title != "Contractor" || u.Extra["cost-center"][0] != "42" {
		t.Errorf("created: %+v; want a user of staff named Carol, active, with a UUID for external id, no DN, its fields", u)
	}
	runs, err := w.st.ListRuns(ctx, store.RunFilter{DirectoryID: w.staff.ID})
	if err != nil || len(runs) != 1 || runs[0].Kind != store.RunWrite || runs[0].State != store.RunCompleted ||
		runs[0].Trigger != "admin:ann" || runs[0].Created != 1 {
		t.Errorf("staff's runs: %+v, %v; want one completed write run by admin:ann that created one", runs, err)
	}
	if got := w.events(t, "user.created"); !slices.Equal(got, []string{"admin:ann user:Carol"}) {
		t.Errorf("user.created events: %q, want one by admin:ann", got)
	}

	tests := []struct {
		name      string
		directory string
		p         store.Profile
		field     string // of the FieldError wanted
		want      error
		wantText  string
	}{
		{"no username", "staff", store.Profile{Email: "x@example.org"}, "username", nil, "username: required"},
		{"a space in the username", "staff", store.Profile{Username: "a b"}, "username", nil, "no spaces"},
		{"a bad email", "staff", store.Profile{Username: "dave", Email: "dave at example"}, "email", nil, `"dave at example" is not an address`},
		{"a display-name email", "staff", store.Profile{Username: "dave", Email: "Dave <dave@example.org>"}, "email", nil, "not an address"},
		{"a bad extra field", "staff", store.Profile{Username: "dave", Extra: map[string][]string{"a b": {"1"}}}, "extra.a b", nil, "extra field"},
		{"a taken username, another case", "staff", store.Profile{Username: "CAROL"}, "username", store.ErrConflict, "is taken in staff"},
		{"a directory's own", "corp", store.Profile{Username: "dave"}, "", nil, "directory corp is of kind openldap"},
		{"no such directory", "nowhere", store.Profile{Username: "dave"}, "", store.ErrNotFound, `directory "nowhere"`},
	}
	before := w.runs(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.s.CreateUser(ctx, tc.directory, tc.p, "admin:ann")
			var fe *people.FieldError
			switch {
			case err == nil || !strings.Contains(err.Error(), tc.wantText):
				t.Fatalf("CreateUser: %v, want an error saying %q", err, tc.wantText)
			case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Errorf("CreateUser: %v, want a FieldError naming %s", err, tc.field)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Errorf("CreateUser: %v, want %v", err, tc.want)
			}
			var ro *people.ReadOnlyError
			if tc.directory == "corp" && (!errors.As(err, &ro) || ro.Kind != store.KindOpenLDAP) {
				t.Errorf("CreateUser in corp: %v, want a ReadOnlyError naming its kind", err)
			}
		})
	}
	if after := w.runs(t); after != before {
		t.Errorf("refused creates started %d runs", after-before)
	}
}

func TestUpdateUser(t *testing.T) {
	ctx := t.Context()
	w := newLocalWorld(t)
	carol, err := w.s.CreateUser(ctx, "staff", store.Profile{Username: "carol", Email: "carol@example.org", Title: "Contractor"}, "admin:ann")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.CreateUser(ctx, "staff", store.Profile{Username: "dave"}, "admin:ann"); err != nil {
		t.Fatal(err)
	}
	u, err := w.s.UpdateUser(ctx, carol.ID, people.Changes{"title": "Lead", "email": "", "extra.badge": "7", "given_name": "Carol"}, "admin:bo")
	if err != nil {
		t.Fatal(err)
	}
	if u.Title != "Lead" || u.Email != "" || u.GivenName != "Carol" || u.Extra["badge"][0] != "7" || u.ExternalID != carol.ExternalID || u.Revision != 2 {
		t.Errorf("updated: %+v; want title Lead, no email, given name Carol, extra badge 7, same external id, revision 2", u)
	}
	if got := w.events(t, "user.updated"); !slices.Equal(got, []string{"admin:bo user:carol"}) {
		t.Errorf("user.updated events: %q, want one by admin:bo", got)
	}
	before := w.runs(t)
	if same, err := w.s.UpdateUser(ctx, carol.ID, people.Changes{"title": "Lead"}, "admin:bo"); err != nil || same.Revision != 2 {
		t.Errorf("changing nothing: %+v, %v; want the user as it was", same, err)
	}
	if after := w.runs(t); after != before {
		t.Errorf("changing nothing started a run")
	}

	tests := []struct {
		name     string
		id       string
		c        people.Changes
		wantText string
	}{
		{"an unknown field, named", carol.ID, people.Changes{"titel": "x"}, "titel: no such field"},
		{"the username cleared", carol.ID, people.Changes{"username": ""}, "username: required"},
		{"a taken username", carol.ID, people.Changes{"username": "Dave"}, `"Dave" is taken in staff`},
		{"a bad email", carol.ID, people.Changes{"email": "nope"}, "email:"},
		{"a directory's own user", w.alice.ID, people.Changes{"title": "x"}, "user alice is of directory corp (kind openldap): a directory's own users and groups stay read-only"},
		{"nobody", "no-such-id", people.Changes{"title": "x"}, "no such user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := w.s.UpdateUser(ctx, tc.id, tc.c, "admin:bo"); err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("UpdateUser: %v, want an error saying %q", err, tc.wantText)
			}
		})
	}
	// A rename to another case of its own name is no conflict.
	if u, err := w.s.UpdateUser(ctx, carol.ID, people.Changes{"username": "Carol"}, "admin:bo"); err != nil || u.Username != "Carol" {
		t.Errorf("renamed to Carol: %+v, %v", u, err)
	}
}

// TestDeleteRestorePurge: a deleted local user is deprovisioned and
// keeps its groups; its username stays taken; restore brings it back as
// it was; after its retention it is purged, and leaves its groups.
func TestDeleteRestorePurge(t *testing.T) {
	ctx := t.Context()
	w := newLocalWorld(t)
	carol, err := w.s.CreateUser(ctx, "staff", store.Profile{Username: "carol", Title: "Contractor"}, "admin:ann")
	if err != nil {
		t.Fatal(err)
	}
	crew, err := w.s.CreateGroup(ctx, "staff", "crew", "admin:ann")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{carol.ID, w.alice.ID} {
		if _, err := w.s.AddMember(ctx, crew.ID, id, "admin:ann"); err != nil {
			t.Fatal(err)
		}
	}
	u, err := w.s.DeleteUser(ctx, carol.ID, "admin:ann")
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != store.StatusDeprovisioned || u.DeprovisionedAt.IsZero() {
		t.Errorf("deleted: %s since %v, want deprovisioned", u.Status, u.DeprovisionedAt)
	}
	if got := w.events(t, "user.deprovisioned"); !slices.Equal(got, []string{"admin:ann user:carol"}) {
		t.Errorf("user.deprovisioned events: %q, want one by admin:ann", got)
	}
	if again, err := w.s.DeleteUser(ctx, carol.ID, "admin:ann"); err != nil || again.Revision != u.Revision {
		t.Errorf("deleted again: %+v, %v; want left as it was", again, err)
	}
	if gs, err := w.st.UserGroups(ctx, carol.ID); err != nil || len(gs) != 1 || gs[0].Name != "crew" {
		t.Errorf("carol's groups while deprovisioned: %v, %v; want crew, kept", gs, err)
	}
	var se *people.StateError
	if _, err := w.s.UpdateUser(ctx, carol.ID, people.Changes{"title": "x"}, "admin:ann"); !errors.As(err, &se) {
		t.Errorf("updating a deleted user: %v, want a StateError", err)
	}
	if _, err := w.s.CreateUser(ctx, "staff", store.Profile{Username: "Carol"}, "admin:ann"); !errors.Is(err, store.ErrConflict) ||
		!strings.Contains(err.Error(), "restore it") {
		t.Errorf("a new Carol while carol is deprovisioned: %v, want a conflict that says to restore her", err)
	}

	back, err := w.s.Restore(ctx, carol.ID, "admin:bo")
	if err != nil {
		t.Fatal(err)
	}
	if back.Status != store.StatusActive || back.Title != "Contractor" || back.ExternalID != carol.ExternalID {
		t.Errorf("restored: %+v, want active, as she was", back)
	}
	if got := w.events(t, "user.restored"); !slices.Equal(got, []string{"admin:bo user:carol"}) {
		t.Errorf("user.restored events: %q, want one by admin:bo", got)
	}

	// Deleted again while held, then purged: she leaves crew.
	if _, err := w.s.Hold(ctx, carol.ID, people.Deactivate, people.Internal, "admin:ann", "left"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.DeleteUser(ctx, carol.ID, "admin:ann"); err != nil {
		t.Fatal(err)
	}
	if got := w.events(t, "user.deprovisioned"); len(got) != 2 || got[1] != "admin:ann user:carol" {
		t.Errorf("user.deprovisioned events: %q, want a second one by admin:ann for the delete of a held user", got)
	}
	held, err := w.st.GetUser(ctx, carol.ID)
	if err != nil {
		t.Fatal(err)
	}
	var gone goneApps
	n, err := people.Purge(ctx, w.st, &gone, time.Hour, held.DeprovisionedAt.Add(2*time.Hour), slog.New(slog.DiscardHandler))
	if err != nil || n != 1 || len(gone) != 1 || gone[0] != carol.ID {
		t.Fatalf("Purge: %d, %v, apps told of %v; want carol", n, err, gone)
	}
	ms, err := w.st.GroupMembers(ctx, crew.ID)
	if err != nil || len(ms) != 1 || ms[0].ID != w.alice.ID {
		t.Errorf("crew after carol's purge: %+v, %v; want alice alone", ms, err)
	}
	if _, err := w.s.CreateUser(ctx, "staff", store.Profile{Username: "carol"}, "admin:ann"); err != nil {
		t.Errorf("a new carol after the purge: %v, want made", err)
	}
}

type goneApps []string

func (g *goneApps) UserGone(_ context.Context, id string) error { *g = append(*g, id); return nil }

func TestLocalGroups(t *testing.T) {
	ctx := t.Context()
	w := newLocalWorld(t)
	carol, err := w.s.CreateUser(ctx, "staff", store.Profile{Username: "carol"}, "admin:ann")
	if err != nil {
		t.Fatal(err)
	}
	crew, err := w.s.CreateGroup(ctx, "staff", "Crew", "admin:ann")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := uuid.Parse(crew.ExternalID); err != nil || crew.Directory != "staff" || crew.MemberCount != 0 {
		t.Errorf("created: %+v; want an empty group of staff with a UUID for external id", crew)
	}
	for _, id := range []string{carol.ID, w.alice.ID} {
		if _, err := w.s.AddMember(ctx, crew.ID, id, "admin:ann"); err != nil {
			t.Fatal(err)
		}
	}
	us, err := w.st.GroupUsersTransitive(ctx, crew.ID)
	if err != nil || len(us) != 2 {
		t.Fatalf("crew's users: %v, %v; want carol and corp's alice", us, err)
	}
	gs, err := w.st.UserGroups(ctx, w.alice.ID)
	if names := []string{}; err == nil {
		for _, g := range gs {
			names = append(names, g.Directory+"/"+g.Name)
		}
		if !slices.Equal(names, []string{"staff/Crew", "corp/eng"}) {
			t.Errorf("alice's groups: %v, want staff's Crew and corp's eng", names)
		}
	}
	before := w.runs(t)
	if g, err := w.s.AddMember(ctx, crew.ID, carol.ID, "admin:ann"); err != nil || g.MemberCount != 2 {
		t.Errorf("adding a member again: %+v, %v; want the group as it is", g, err)
	}
	g, err := w.s.RemoveMember(ctx, crew.ID, w.alice.ID, "admin:bo")
	if err != nil || g.MemberCount != 1 {
		t.Fatalf("removing alice: %+v, %v; want one member left", g, err)
	}
	if _, err := w.s.RemoveMember(ctx, crew.ID, w.alice.ID, "admin:bo"); err != nil {
		t.Errorf("removing a non-member: %v, want nothing done", err)
	}
	if after := w.runs(t); after != before+1 {
		t.Errorf("%d runs for one removal and two no-ops, want 1", after-before)
	}
	if got := w.events(t, "group.created"); !slices.Equal(got, []string{"admin:ann group:Crew"}) {
		t.Errorf("group.created events: %q", got)
	}
	if got := w.events(t, "group.member_added"); !slices.Equal(got, []string{"admin:ann group:Crew", "admin:ann group:Crew"}) {
		t.Errorf("group.member_added events: %q, want two by admin:ann", got)
	}
	if got := w.events(t, "group.member_removed"); !slices.Equal(got, []string{"admin:bo group:Crew"}) {
		t.Errorf("group.member_removed events: %q, want one by admin:bo", got)
	}

	tests := []struct {
		name     string
		do       func() error
		wantText string
	}{
		{"a taken name", func() error { _, err := w.s.CreateGroup(ctx, "staff", "crew", "admin:ann"); return err }, `"crew" is taken in staff`},
		{"no name", func() error { _, err := w.s.CreateGroup(ctx, "staff", " ", "admin:ann"); return err }, "name:"},
		{"in a directory's own", func() error { _, err := w.s.CreateGroup(ctx, "corp", "x", "admin:ann"); return err },
			"directory corp is of kind openldap"},
		{"to a directory's own group", func() error { _, err := w.s.AddMember(ctx, w.eng.ID, carol.ID, "admin:ann"); return err },
			"group eng is of directory corp (kind openldap): a directory's own users and groups stay read-only in the hub"},
		{"from a directory's own group", func() error { _, err := w.s.RemoveMember(ctx, w.eng.ID, w.alice.ID, "admin:ann"); return err },
			"group eng is of directory corp (kind openldap)"},
		{"no such group", func() error { _, err := w.s.AddMember(ctx, "no-such-id", carol.ID, "admin:ann"); return err }, "no such group"},
		{"no such user", func() error { _, err := w.s.AddMember(ctx, crew.ID, "no-such-id", "admin:ann"); return err }, "no such user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("%v, want an error saying %q", err, tc.wantText)
			}
		})
	}
	var ro *people.ReadOnlyError
	if _, err := w.s.AddMember(ctx, w.eng.ID, carol.ID, "admin:ann"); !errors.As(err, &ro) || ro.Directory != "corp" {
		t.Errorf("adding to eng: %v, want a ReadOnlyError naming corp", err)
	}
	// A deprovisioned user is not added.
	if _, err := w.s.DeleteUser(ctx, carol.ID, "admin:ann"); err != nil {
		t.Fatal(err)
	}
	other, err := w.s.CreateGroup(ctx, "staff", "other", "admin:ann")
	if err != nil {
		t.Fatal(err)
	}
	var se *people.StateError
	if _, err := w.s.AddMember(ctx, other.ID, carol.ID, "admin:ann"); !errors.As(err, &se) {
		t.Errorf("adding a deprovisioned user: %v, want a StateError", err)
	}
}

// interloper is an applier that, before the first write it passes on,
// lets another writer (another hub replica, say) write first.
type interloper struct {
	people.Applier
	first func()
	done  bool
}

func (i *interloper) ApplyWrite(ctx context.Context, d *store.Directory, trigger string, b *store.Batch) (store.BatchResult, error) {
	if !i.done {
		i.done = true
		i.first()
	}
	return i.Applier.ApplyWrite(ctx, d, trigger, b)
}

// TestMemberChangeOvertaken: a member added to a group by another writer
// between this one's read and its write is not lost: the write, made from
// an older read, is refused by the store and made again from a new read.
func TestMemberChangeOvertaken(t *testing.T) {
	ctx := t.Context()
	var in *interloper
	w := newLocalWorldWith(t, func(a people.Applier) people.Applier { in = &interloper{Applier: a, done: true}; return in })
	carol, err := w.s.CreateUser(ctx, "staff", store.Profile{Username: "carol"}, "admin:ann")
	if err != nil {
		t.Fatal(err)
	}
	crew, err := w.s.CreateGroup(ctx, "staff", "crew", "admin:ann")
	if err != nil {
		t.Fatal(err)
	}
	// The other writer adds alice, as another replica's AddMember would.
	in.done, in.first = false, func() {
		o := &store.Object{Kind: store.ObjectGroup, ExternalID: crew.ExternalID, Status: store.StatusActive, Name: crew.Name,
			MembersComplete: true, Members: []store.MemberRef{store.IDMember(w.alice.ID)}}
		o.Hash = ingest.Hash(o)
		if _, err := w.engine.ApplyWrite(ctx, w.staff, "admin:bo", &store.Batch{Upserts: []*store.Object{o}}); err != nil {
			t.Fatal(err)
		}
	}
	g, err := w.s.AddMember(ctx, crew.ID, carol.ID, "admin:ann")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := w.st.GroupMembers(ctx, crew.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Name)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"alice", "carol"}) || g.MemberCount != 2 {
		t.Errorf("crew holds %v (count %d), want alice (the other writer's) and carol", got, g.MemberCount)
	}
}
