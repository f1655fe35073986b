package provision_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/scimtest"
	"github.com/idsync/idsync/server/audit"
	"github.com/idsync/idsync/server/provision"
	"github.com/idsync/idsync/server/secrets"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// world is a hub store with one directory, a SCIM app on a real SCIM
// server, and a provisioning engine that can be stopped and started again
// like a hub restart. Every log line goes to a buffer the test can search.
type world struct {
	t     testing.TB
	path  string
	st    store.Store
	box   *secrets.Box
	dir   *store.Directory
	run   *store.Run
	seq   uint64
	srv   *scimtest.Server // nil when the app is another implementation
	url   string           // the app's SCIM base URL
	app   *store.App
	token string

	logs *syncBuffer
	// claims counts the engine's looks at the queue (ClaimJobs), so that
	// a test can wait until it has looked again; scopeReads its reads of
	// an app's whole scope (AppUsers); userEnqueues and usersEnqueued its
	// commits of user jobs (EnqueueMany) and the targets they held.
	claims, scopeReads          atomic.Int64
	userEnqueues, usersEnqueued atomic.Int64
	eng                         *provision.Engine
	cancel                      context.CancelFunc
	done                        chan struct{}
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

const testToken = "scim-token-9f2d41c7e0b3"

// newWorld starts a SCIM server and a store holding an app pointed at it,
// with settings changed by edit before it is created.
func newWorld(t testing.TB, edit func(a *store.App)) *world {
	t.Helper()
	return newWorldOn(t, scimtestApp, edit)
}

// An app is a SCIM implementation a world's app runs on.
type app struct {
	name string
	// start serves it for the test with the token and returns its URL,
	// and the scimtest.Server when it is one.
	start func(t testing.TB, token string, patch bool) (string, *scimtest.Server)
}

var (
	// scimtestApp is internal/scimtest's Server.
	scimtestApp = app{"scimtest", func(t testing.TB, token string, patch bool) (string, *scimtest.Server) {
		srv := scimtest.Start(t, scimtest.Options{Token: token, DisablePatch: !patch})
		return srv.URL, srv
	}}
	// plainApp is internal/scimtest's Plain, a second implementation
	// built from elimity-com/scim; it always takes PATCH.
	plainApp = app{"elimity", func(t testing.TB, token string, _ bool) (string, *scimtest.Server) {
		return scimtest.StartPlain(t, token).URL, nil
	}}
	// bothApps are the implementations the tests of what every app must
	// take run against.
	bothApps = []app{scimtestApp, plainApp}
)

// newWorldOn is newWorld with the app on impl; an app whose UpdateMode
// edit sets to "put" runs on a server without PATCH where impl has one.
func newWorldOn(t testing.TB, impl app, edit func(a *store.App)) *world {
	t.Helper()
	ctx := t.Context()
	w := &world{t: t, path: filepath.Join(t.TempDir(), "hub.db"), logs: &syncBuffer{}, token: testToken}
	w.open()
	key := sha256.Sum256([]byte(t.Name()))
	box, err := secrets.New(key[:])
	if err != nil {
		t.Fatal(err)
	}
	w.box = box
	w.dir = &store.Directory{Name: "corp", Kind: store.KindOpenLDAP, BaseDN: "dc=example,dc=org", SafeguardPercent: 20, SafeguardMax: 500}
	if err := w.st.CreateDirectory(ctx, w.dir); err != nil {
		t.Fatal(err)
	}
	w.run = &store.Run{DirectoryID: w.dir.ID, Kind: store.RunIncremental, Trigger: "test"}
	if err := w.st.CreateRun(ctx, w.run); err != nil {
		t.Fatal(err)
	}
	a := &store.App{Name: "app", AuthKind: "bearer",
		AllowInsecureHTTP: true, AllowLocalAddresses: true, // the test app is on loopback
		AllowCreate: true, AllowUpdate: true, AllowDeactivate: true, UpdateMode: "patch",
		Concurrency: 4, MatchBy: "userName", Status: store.AppActive}
	if edit != nil {
		edit(a)
	}
	w.url, w.srv = impl.start(t, w.token, a.UpdateMode != "put")
	a.SCIMURL = w.url
	a.Secret = box.Seal([]byte(w.token), provision.SecretContext(a.Name))
	if err := w.st.CreateApp(ctx, a); err != nil {
		t.Fatal(err)
	}
	w.app = a
	w.newEngine()
	t.Cleanup(func() {
		w.stop()
		w.st.Close()
		if t.Failed() {
			t.Logf("engine log tail:\n%s", tail(w.logs.String(), 40))
		}
		if strings.Contains(w.logs.String(), w.token) {
			t.Errorf("the app's token appears in the engine's log")
		}
	})
	return w
}

func (w *world) open() {
	st, err := sqlite.Open(w.t.Context(), w.path)
	if err != nil {
		w.t.Fatal(err)
	}
	w.st = st
}

// newEngine makes an engine over the store, not running: the calls an
// admin makes (preview, import) work without it.
func (w *world) newEngine() {
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.eng = provision.New(w.counted(), w.box, log, provision.Options{
		PollInterval: 50 * time.Millisecond, Lease: 3 * time.Second, MaxAttempts: 4,
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, MaxRetryAfter: 500 * time.Millisecond,
		Audit: audit.New(w.st, log),
	})
}

// counted is the store the engine is given: it counts the engine's looks
// at the queue, its reads of an app's scope and its commits of user jobs.
func (w *world) counted() store.Store {
	return callCounter{w.st, &w.claims, &w.scopeReads, &w.userEnqueues, &w.usersEnqueued}
}

// callCounter counts the looks at the queue (the CycleJobs that claim),
// the reads of an app's scope (AppUsers) and the commits of user jobs
// (EnqueueMany) made through it.
type callCounter struct {
	store.Store
	claims, scopeReads          *atomic.Int64
	userEnqueues, usersEnqueued *atomic.Int64
}

func (c callCounter) EnqueueMany(ctx context.Context, appID int64, kind store.JobKind, targets []string, now time.Time) error {
	if kind == store.JobUser {
		c.userEnqueues.Add(1)
		c.usersEnqueued.Add(int64(len(targets)))
	}
	return c.Store.EnqueueMany(ctx, appID, kind, targets, now)
}

func (c callCounter) CycleJobs(ctx context.Context, cy store.JobCycle) (store.JobCycleResult, error) {
	if cy.Limit > 0 {
		c.claims.Add(1)
	}
	return c.Store.CycleJobs(ctx, cy)
}

func (c callCounter) AppUsers(ctx context.Context, appID int64) ([]string, error) {
	c.scopeReads.Add(1)
	return c.Store.AppUsers(ctx, appID)
}

// audit returns the audit trail's events of action.
func (w *world) audit(action string) []*store.AuditEvent {
	w.t.Helper()
	evs, err := w.st.ListAudit(w.t.Context(), store.AuditFilter{Action: action})
	if err != nil {
		w.t.Fatal(err)
	}
	return evs
}

// start runs an engine (a hub's provisioning) until stop.
func (w *world) start() {
	w.t.Helper()
	w.newEngine()
	ctx, cancel := context.WithCancel(context.WithoutCancel(w.t.Context()))
	w.cancel, w.done = cancel, make(chan struct{})
	go func() {
		defer close(w.done)
		_ = w.eng.Run(ctx)
	}()
}

// stop stops the engine, as a hub that shuts down.
func (w *world) stop() {
	if w.cancel != nil {
		w.cancel()
		<-w.done
		w.cancel = nil
	}
}

// restart stops the engine, closes and reopens the store, and starts a new
// engine: a hub restart.
func (w *world) restart() {
	w.t.Helper()
	w.stop()
	if err := w.st.Close(); err != nil {
		w.t.Fatal(err)
	}
	w.open()
	w.start()
}

// user returns a directory user object.
func user(ext, name string, edit ...func(*store.Object)) *store.Object {
	dn := "uid=" + name + ",ou=People,dc=example,dc=org"
	o := &store.Object{Kind: store.ObjectUser, ExternalID: ext, DN: dn, DNKey: strings.ToLower(dn),
		Status: store.StatusActive, Profile: store.Profile{Username: name, Email: name + "@example.org",
			GivenName: "Given " + name, FamilyName: "Family " + name, Title: "Engineer", Department: "R&D"}}
	for _, e := range edit {
		e(o)
	}
	return o
}

// group returns a directory group object with these member DNs.
func group(ext, name string, members ...string) *store.Object {
	dn := "cn=" + name + ",ou=Groups,dc=example,dc=org"
	o := &store.Object{Kind: store.ObjectGroup, ExternalID: ext, DN: dn, DNKey: strings.ToLower(dn),
		Status: store.StatusActive, Name: name, MembersComplete: true}
	for _, m := range members {
		o.Members = append(o.Members, store.MemberRef{Value: m, Key: "dn:" + strings.ToLower(m)})
	}
	return o
}

// apply writes objects (and deletes) as an agent's batch would, and tells
// the engine.
func (w *world) apply(objs []*store.Object, deletes ...string) {
	w.t.Helper()
	for _, o := range objs {
		sum := sha256.Sum256(fmt.Appendf(nil, "%+v", *o))
		o.Hash = hex.EncodeToString(sum[:])
	}
	w.seq++
	_, err := w.st.ApplyBatch(w.t.Context(), &store.Batch{RunID: w.run.ID, DirectoryID: w.dir.ID, Sequence: w.seq,
		Upserts: objs, Deletes: deletes})
	if err != nil {
		w.t.Fatal(err)
	}
	w.eng.Notify()
}

// hubUser returns the hub user with this username.
func (w *world) hubUser(name string) *store.User {
	w.t.Helper()
	us, err := w.st.FindUsers(w.t.Context(), w.dir.ID, name)
	if err != nil || len(us) != 1 {
		w.t.Fatalf("FindUsers(%s) = %d users, %v", name, len(us), err)
	}
	return us[0]
}

func (w *world) hubGroup(name string) *store.Group {
	w.t.Helper()
	gs, err := w.st.FindGroups(w.t.Context(), w.dir.ID, name)
	if err != nil || len(gs) != 1 {
		w.t.Fatalf("FindGroups(%s) = %d groups, %v", name, len(gs), err)
	}
	return gs[0]
}

// assign assigns a user or group to the app and tells the engine.
func (w *world) assign(kind store.AssignmentKind, id string) {
	w.t.Helper()
	if err := w.st.Assign(w.t.Context(), store.Assignment{AppID: w.app.ID, Kind: kind, TargetID: id}); err != nil {
		w.t.Fatal(err)
	}
	w.changed()
}

func (w *world) unassign(kind store.AssignmentKind, id string) {
	w.t.Helper()
	if err := w.st.Unassign(w.t.Context(), store.Assignment{AppID: w.app.ID, Kind: kind, TargetID: id}); err != nil {
		w.t.Fatal(err)
	}
	w.changed()
}

func (w *world) changed() {
	w.t.Helper()
	if err := w.eng.AppChanged(w.t.Context(), w.app.ID); err != nil {
		w.t.Fatal(err)
	}
}

// updateApp changes the app's settings as `app update` does.
func (w *world) updateApp(edit func(a *store.App)) {
	w.t.Helper()
	a, err := w.st.GetAppByID(w.t.Context(), w.app.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	edit(a)
	if err := w.st.UpdateApp(w.t.Context(), a); err != nil {
		w.t.Fatal(err)
	}
	w.app = a
	w.changed()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// remote returns the app's user by userName.
func (w *world) remote(name string) (map[string]any, bool) {
	return w.srv.UserByName(name)
}

// account returns the hub's record of a user's account.
func (w *world) account(userID string) *store.Account {
	a, err := w.st.GetAccount(w.t.Context(), w.app.ID, userID)
	if err != nil {
		return nil
	}
	return a
}

// jobs lists the app's jobs in these states.
func (w *world) jobs(states ...store.JobState) []*store.Job {
	js, err := w.st.ListJobs(w.t.Context(), store.JobFilter{AppID: w.app.ID, States: states, Limit: 1000})
	if err != nil {
		w.t.Fatal(err)
	}
	return js
}

func (w *world) describeJobs() string {
	var b strings.Builder
	for _, j := range w.jobs() {
		fmt.Fprintf(&b, "job %d %s %s %s attempts %d: %s\n", j.ID, j.Kind, j.Target, j.State, j.Attempts, j.LastError)
	}
	if w.srv != nil {
		fmt.Fprintf(&b, "app users: %d", w.srv.UserCount())
	}
	return b.String()
}

// feedRead waits until the engine has read the feed to its end.
func (w *world) feedRead() {
	w.t.Helper()
	eventually.That(w.t, "the feed read to its end", func() (bool, string) {
		pos, err := w.st.FeedPosition(w.t.Context())
		cur, cerr := w.st.Cursor(w.t.Context(), "provision")
		return err == nil && cerr == nil && cur == pos, fmt.Sprintf("feed at %d, the engine's cursor at %d (%v, %v)", pos, cur, err, cerr)
	})
}

// idle reports whether no job is queued or running, and the jobs.
func (w *world) idle() (bool, string) {
	return len(w.jobs(store.JobQueued, store.JobRunning)) == 0, w.describeJobs()
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

func active(m map[string]any) bool {
	b, _ := m["active"].(bool)
	return b
}

// groupMembers are the userNames of the members of the app's group name.
func (w *world) groupMembers(name string) []string {
	for _, g := range w.srv.Groups() {
		if g["displayName"] != name {
			continue
		}
		var names []string
		list, _ := g["members"].([]any)
		for _, m := range list {
			id, _ := m.(map[string]any)["value"].(string)
			if u, ok := w.srv.User(id); ok {
				names = append(names, str(u, "userName"))
			}
		}
		slices.Sort(names)
		return names
	}
	return nil
}

// wantGroup waits for the app's group name to hold the users with these
// userNames (sorted).
func (w *world) wantGroup(name string, userNames ...string) {
	w.t.Helper()
	eventually.That(w.t, fmt.Sprintf("%s holds %v", name, userNames), func() (bool, string) {
		members := w.groupMembers(name)
		return strings.Join(members, ",") == strings.Join(userNames, ","), fmt.Sprintf("%s holds %v\n%s", name, members, w.describeJobs())
	})
}
