package rules_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/scimtest"
	"github.com/idsync/idsync/server/audit"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/people"
	"github.com/idsync/idsync/server/provision"
	"github.com/idsync/idsync/server/rules"
	"github.com/idsync/idsync/server/secrets"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// world is a SQLite store with a directory corp (OpenLDAP, its users
// written as an agent's batches are) and a local directory staff, the
// ingest engine, the people service and a rule engine over them — all
// real parts. The rule engine runs only when the test starts it; Step
// runs one round by hand.
type world struct {
	t      testing.TB
	st     store.Store
	ingest *ingest.Engine
	people *people.Service
	rules  *rules.Engine
	corp   *store.Directory
	staff  *store.Directory
	run    *store.Run
	seq    uint64
	now    time.Time
	logs   *syncBuffer
	// wake is the rule engine's Config.Wake; notified counts the commits
	// the ingest engine announced.
	wake     chan struct{}
	mu       sync.Mutex
	notified int
	// onChange is called after every commit as well (provisioning).
	onChange func()
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// options tune the world's rule engine.
type options struct {
	interval, settle, poll time.Duration
	onChange               func()
	// percent and most are staff's safeguard (0: the defaults).
	percent, most int
}

func newWorld(t testing.TB, o options) *world {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &world{t: t, st: st, logs: &syncBuffer{}, wake: make(chan struct{}, 1), now: time.Now(), onChange: o.onChange}
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.corp = &store.Directory{Name: "corp", Kind: store.KindOpenLDAP, BaseDN: "dc=corp"}
	w.staff = &store.Directory{Name: "staff", Kind: store.KindLocal, SafeguardPercent: o.percent, SafeguardMax: o.most}
	for _, d := range []*store.Directory{w.corp, w.staff} {
		ingest.ApplyPreset(d)
		if err := st.CreateDirectory(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	trail := audit.New(st, log)
	w.ingest = ingest.New(ingest.Config{Store: st, Log: log, Audit: trail, OnChange: w.changed})
	w.people = people.New(people.Config{Store: st, Apply: w.ingest, Log: log})
	w.rules = rules.New(rules.Config{Store: st, Apply: w.ingest, Audit: trail, Log: log, Wake: w.wake,
		Interval: o.interval, Settle: o.settle, PollInterval: o.poll, Now: w.clock})
	w.run = &store.Run{DirectoryID: w.corp.ID, Kind: store.RunIncremental, Trigger: "test"}
	if err := st.CreateRun(ctx, w.run); err != nil {
		t.Fatal(err)
	}
	return w
}

// changed is the ingest engine's OnChange: it wakes the rule engine as the
// hub does.
func (w *world) changed() {
	w.mu.Lock()
	w.notified++
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	if w.onChange != nil {
		w.onChange()
	}
}

func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

// advance moves the rule engine's clock.
func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	w.now = w.now.Add(d)
	w.mu.Unlock()
}

// start runs the rule engine until the test ends.
func (w *world) start() {
	ctx, cancel := context.WithCancel(context.WithoutCancel(w.t.Context()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.rules.Run(ctx)
	}()
	w.t.Cleanup(func() { cancel(); <-done })
}

// step runs one round of the rule engine: the feed, then what is due.
func (w *world) step() {
	w.t.Helper()
	if err := w.rules.Step(w.t.Context()); err != nil {
		w.t.Fatalf("Step: %v\nlog:\n%s", err, tail(w.logs.String(), 30))
	}
}

// person is a corp user's profile.
type person struct {
	name, department, title string
	extra                   map[string][]string
}

func userObject(p person) *store.Object {
	dn := "uid=" + p.name + ",dc=corp"
	o := &store.Object{Kind: store.ObjectUser, ExternalID: "ext-" + p.name, DN: dn, DNKey: dn, Status: store.StatusActive,
		Profile: store.Profile{Username: p.name, Email: p.name + "@corp.example", Department: p.department, Title: p.title,
			Extra: p.extra}}
	o.Hash = ingest.Hash(o)
	return o
}

// apply writes corp objects as an agent's batch, and announces the commit
// as the agent's stream does.
func (w *world) apply(objs ...*store.Object) {
	w.t.Helper()
	w.seq++
	if _, err := w.st.ApplyBatch(w.t.Context(), &store.Batch{RunID: w.run.ID, DirectoryID: w.corp.ID,
		Sequence: w.seq, Upserts: objs}); err != nil {
		w.t.Fatal(err)
	}
	w.changed()
}

// addPeople writes corp users, a batch of 1,000 at a time.
func (w *world) addPeople(ps ...person) {
	w.t.Helper()
	for part := range slices.Chunk(ps, 1000) {
		objs := make([]*store.Object, len(part))
		for i, p := range part {
			objs[i] = userObject(p)
		}
		w.apply(objs...)
	}
}

// corpGroup writes a corp group whose members are users and groups by DN.
func (w *world) corpGroup(name string, users []string, groups ...string) {
	w.t.Helper()
	dn := "cn=" + name + ",dc=corp"
	o := &store.Object{Kind: store.ObjectGroup, ExternalID: "ext-g-" + name, DN: dn, DNKey: dn, Status: store.StatusActive,
		Name: name, MembersComplete: true}
	for _, u := range users {
		m := "uid=" + u + ",dc=corp"
		o.Members = append(o.Members, store.MemberRef{Value: m, Key: "dn:" + m})
	}
	for _, g := range groups {
		m := "cn=" + g + ",dc=corp"
		o.Members = append(o.Members, store.MemberRef{Value: m, Key: "dn:" + m})
	}
	o.Hash = ingest.Hash(o)
	w.apply(o)
}

// group makes a local group of staff.
func (w *world) group(name string) *store.Group {
	w.t.Helper()
	g, err := w.people.CreateGroup(w.t.Context(), "staff", name, "admin:test")
	if err != nil {
		w.t.Fatal(err)
	}
	return g
}

// user returns the hub user named name of corp (or staff).
func (w *world) user(name string) *store.User {
	w.t.Helper()
	us, err := w.st.FindUsers(w.t.Context(), 0, name)
	if err != nil || len(us) != 1 {
		w.t.Fatalf("FindUsers(%s) = %d, %v", name, len(us), err)
	}
	return us[0]
}

// members returns the usernames the group named name holds, sorted.
func (w *world) members(name string) []string {
	w.t.Helper()
	gs, err := w.st.FindGroups(w.t.Context(), w.staff.ID, name)
	if err != nil || len(gs) != 1 {
		w.t.Fatalf("FindGroups(%s) = %d, %v", name, len(gs), err)
	}
	ms, err := w.st.GroupMembers(w.t.Context(), gs[0].ID)
	if err != nil {
		w.t.Fatal(err)
	}
	out := []string{}
	for _, m := range ms {
		out = append(out, m.Name)
	}
	slices.Sort(out)
	return out
}

// add adds a rule by admin:test and fails on an error.
func (w *world) add(name, group, src string, dirs ...string) *rules.Outcome {
	w.t.Helper()
	o, err := w.rules.Add(w.t.Context(), rules.Spec{Name: name, Group: group, Expr: src, Directories: dirs}, "admin:test")
	if err != nil {
		w.t.Fatalf("Add(%s): %v", name, err)
	}
	return o
}

// audit returns the audit events of action.
func (w *world) audit(action string) []*store.AuditEvent {
	w.t.Helper()
	evs, err := w.st.ListAudit(w.t.Context(), store.AuditFilter{Action: action})
	if err != nil {
		w.t.Fatal(err)
	}
	return evs
}

// rule reads a rule's status.
func (w *world) rule(name string) *rules.Status {
	w.t.Helper()
	s, err := w.rules.Get(w.t.Context(), name)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// app is a SCIM app on the SCIM test server, pushing groups, and a
// provisioning engine over the world's store, running until the test
// ends.
type app struct {
	srv *scimtest.Server
	a   *store.App
	eng *provision.Engine
}

const scimToken = "scim-token-5c1e0a9d"

// newApp starts the app's SCIM server and provisioning; the world's
// commits wake it (the world must be made with onChange calling notify).
func newApp(t testing.TB, st store.Store, poll time.Duration) *app {
	t.Helper()
	ctx := t.Context()
	box := boxFor(t)
	srv := scimtest.Start(t, scimtest.Options{Token: scimToken})
	a := &store.App{Name: "app", SCIMURL: srv.URL, AuthKind: "bearer", AllowInsecureHTTP: true, AllowLocalAddresses: true,
		AllowCreate: true, AllowUpdate: true, AllowDeactivate: true, UpdateMode: "patch", Concurrency: 4,
		MatchBy: "userName", Status: store.AppActive, PushGroups: true}
	a.Secret = box.Seal([]byte(scimToken), provision.SecretContext(a.Name))
	if err := st.CreateApp(ctx, a); err != nil {
		t.Fatal(err)
	}
	eng := provision.New(st, box, slog.New(slog.DiscardHandler), provision.Options{PollInterval: poll,
		Lease: 5 * time.Second, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	return &app{srv: srv, a: a, eng: eng}
}

func (p *app) run(t testing.TB) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.eng.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// assign assigns a hub group to the app.
func (p *app) assign(t testing.TB, st store.Store, groupID string) {
	t.Helper()
	if err := st.Assign(t.Context(), store.Assignment{AppID: p.a.ID, Kind: store.AssignGroup, TargetID: groupID}); err != nil {
		t.Fatal(err)
	}
	if err := p.eng.AppChanged(t.Context(), p.a.ID); err != nil {
		t.Fatal(err)
	}
}

// groupMembers returns the userNames the app's group displayName holds,
// sorted, and whether the app has the group.
func (p *app) groupMembers(displayName string) ([]string, bool) {
	for _, g := range p.srv.Groups() {
		if g["displayName"] != displayName {
			continue
		}
		names := []string{}
		ms, _ := g["members"].([]any)
		for _, m := range ms {
			mm, _ := m.(map[string]any)
			id, _ := mm["value"].(string)
			if u, ok := p.srv.User(id); ok {
				names = append(names, fmt.Sprint(u["userName"]))
			}
		}
		slices.Sort(names)
		return names, true
	}
	return nil, false
}

// moved reports whether the app's group to lists its user id and from
// does not.
func (p *app) moved(id, to, from string) bool { return p.holds(to, id) && !p.holds(from, id) }

// holds reports whether the app's group displayName lists the app's user
// with this id (a cheap look: no user is read).
func (p *app) holds(displayName, id string) bool {
	for _, g := range p.srv.Groups() {
		if g["displayName"] != displayName {
			continue
		}
		ms, _ := g["members"].([]any)
		for _, m := range ms {
			if mm, _ := m.(map[string]any); mm["value"] == id {
				return true
			}
		}
	}
	return false
}

// boxFor is the secrets box of a test's app.
func boxFor(t testing.TB) *secrets.Box {
	key := sha256.Sum256([]byte(t.Name()))
	box, err := secrets.New(key[:])
	if err != nil {
		t.Fatal(err)
	}
	return box
}

// movesWorld is a world whose users ps are in one of two rule groups by
// department — eng-auto (department eng) and sales-auto (sales) — both
// assigned to an app that pushes groups; the rule engine (polling once an
// hour: only the commits wake it) and provisioning run, and every commit
// wakes both, as in the hub. It returns once the app holds both groups.
func movesWorld(tb testing.TB, ps []person) (*world, *app, *store.Group, *store.Group) {
	tb.Helper()
	var p *app
	w := newWorld(tb, options{poll: time.Hour, onChange: func() {
		if p != nil {
			p.eng.Notify()
		}
	}})
	w.addPeople(ps...)
	eng, sales := w.group("eng-auto"), w.group("sales-auto")
	w.add("eng", "eng-auto", `department == "eng"`)
	w.add("sales", "sales-auto", `department == "sales"`)
	p = newApp(tb, w.st, 200*time.Millisecond)
	p.run(tb)
	w.start()
	p.assign(tb, w.st, eng.ID)
	p.assign(tb, w.st, sales.ID)
	want := map[string]int{}
	for _, u := range ps {
		want[u.department+"-auto"]++
	}
	eventually.That(tb, "the rule groups pushed", func() (bool, string) {
		e, _ := p.groupMembers("eng-auto")
		s, _ := p.groupMembers("sales-auto")
		return len(e) == want["eng-auto"] && len(s) == want["sales-auto"],
			fmt.Sprintf("the app holds %d and %d; rule log:\n%s", len(e), len(s), tail(w.logs.String(), 20))
	})
	return w, p, eng, sales
}
