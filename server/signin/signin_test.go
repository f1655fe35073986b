package signin_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/internal/pki"
	"github.com/idsync/idsync/server/audit"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/signin"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// world is a sign-in service over a real SQLite store holding directory
// corp (users ann and bob; group admins = {ann}), an admin token ops and
// an authn token, on a clock the test moves.
type world struct {
	t      *testing.T
	st     store.Store
	svc    *signin.Service
	ops    string // the super-admin token ops
	authnT string // an authn token
	corp   *store.Directory
	run    *store.Run
	seq    uint64
	mu     sync.Mutex
	now    time.Time
	// password is what the directory takes for ann and bob.
	password string
}

func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	w.now = w.now.Add(d)
	w.mu.Unlock()
}

// directory checks passwords as an agent would for the directory; a fake
// stands in for delegated authentication (server/authn has its own tests).
type directory struct{ w *world }

func (d directory) Authenticate(ctx context.Context, dir, username, password, _ string) (*store.User, error) {
	if dir != "corp" || password != d.w.password {
		return nil, errors.New("invalid credentials")
	}
	us, err := d.w.st.FindUsers(ctx, d.w.corp.ID, username)
	if err != nil || len(us) != 1 {
		return nil, errors.New("invalid credentials")
	}
	return us[0], nil
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &world{t: t, st: st, now: time.Now(), password: "correct horse"}
	w.corp = &store.Directory{Name: "corp", Kind: store.KindOpenLDAP, BaseDN: "dc=example,dc=org"}
	if err := st.CreateDirectory(ctx, w.corp); err != nil {
		t.Fatal(err)
	}
	w.run = &store.Run{DirectoryID: w.corp.ID, Kind: store.RunIncremental, Trigger: "test"}
	if err := st.CreateRun(ctx, w.run); err != nil {
		t.Fatal(err)
	}
	w.apply(user("ann"), user("bob"), group("admins", "ann"))
	for _, tk := range []struct {
		name, role string
		into       *string
	}{{"ops", auth.RoleSuperAdmin, &w.ops}, {"login-page", auth.RoleAuthn, &w.authnT}} {
		secret, hash := pki.NewSecret("idsync_test_")
		if err := st.CreateAdminToken(ctx, &store.AdminToken{Name: tk.name, Role: tk.role, Hash: hash}); err != nil {
			t.Fatal(err)
		}
		*tk.into = secret
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	trail := audit.New(st, log)
	policy := auth.SessionPolicy{Now: w.clock}
	resolve := auth.New(st, trail, auth.Limits{}).Console(st, policy)
	w.svc = signin.New(signin.Config{Store: st, Authn: directory{w}, Audit: trail, Log: log, Policy: policy}, resolve)
	return w
}

func user(name string) *store.Object {
	dn := "uid=" + name + ",dc=example,dc=org"
	return &store.Object{Kind: store.ObjectUser, ExternalID: "ext-" + name, DN: dn, DNKey: dn, Status: store.StatusActive,
		Hash: name, Profile: store.Profile{Username: name, Email: name + "@example.org"}}
}

func group(name string, members ...string) *store.Object {
	dn := "cn=" + name + ",dc=example,dc=org"
	g := &store.Object{Kind: store.ObjectGroup, ExternalID: "ext-" + dn, DN: dn, DNKey: dn, Status: store.StatusActive,
		Hash: dn + strings.Join(members, ","), Name: name, MembersComplete: true}
	for _, m := range members {
		mdn := "uid=" + m + ",dc=example,dc=org"
		g.Members = append(g.Members, store.MemberRef{Value: mdn, Key: "dn:" + mdn})
	}
	return g
}

// apply writes corp objects as an agent's batch.
func (w *world) apply(objs ...*store.Object) {
	w.t.Helper()
	w.seq++
	if _, err := w.st.ApplyBatch(w.t.Context(), &store.Batch{RunID: w.run.ID, DirectoryID: w.corp.ID, Sequence: w.seq, Upserts: objs}); err != nil {
		w.t.Fatal(err)
	}
}

// grant binds role to corp's group admins.
func (w *world) grant(role string) *store.AdminGrant {
	w.t.Helper()
	gs, err := w.st.FindGroups(w.t.Context(), w.corp.ID, "admins")
	if err != nil || len(gs) != 1 {
		w.t.Fatalf("group admins: %v (%v)", gs, err)
	}
	g := &store.AdminGrant{Role: role, GroupID: gs[0].ID, CreatedBy: "admin:ops"}
	if err := w.st.CreateAdminGrant(w.t.Context(), g); err != nil {
		w.t.Fatal(err)
	}
	return g
}

// events are the audit events of action, oldest first.
func (w *world) events(action string) []*store.AuditEvent {
	w.t.Helper()
	ev, err := w.st.ListAudit(w.t.Context(), store.AuditFilter{Action: action})
	if err != nil {
		w.t.Fatal(err)
	}
	return ev
}

// ended reports whether Who refuses secret as a session that ended.
func (w *world) ended(secret string) bool {
	w.t.Helper()
	_, _, err := w.svc.Who(w.t.Context(), secret)
	if err != nil && status.Code(err) != codes.Unauthenticated {
		w.t.Fatalf("Who: %v, want a session or Unauthenticated", err)
	}
	return err != nil
}

// TestWithToken: an admin token opens a session that acts as it, audited;
// an unknown, revoked or authn token is refused alike.
func TestWithToken(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	s, err := w.svc.WithToken(ctx, " "+w.ops+"\n", "127.0.0.1:5000")
	if err != nil {
		t.Fatalf("WithToken(ops): %v", err)
	}
	if s.Name != "ops" || s.Role != auth.RoleSuperAdmin || !strings.HasPrefix(s.Secret, "idsync_cs_") || strings.Contains(s.Secret, w.ops) {
		t.Errorf("session %+v: want ops, super-admin, a secret of its own", s)
	}
	if name, role, err := w.svc.Who(ctx, s.Secret); err != nil || name != "ops" || role != auth.RoleSuperAdmin {
		t.Errorf("Who: %s %s (%v), want ops super-admin", name, role, err)
	}
	if ev := w.events("console.signin"); len(ev) != 1 || ev[0].Actor != "admin:ops" || ev[0].Outcome != store.AuditOK {
		t.Errorf("sign-in events: %+v, want one of admin:ops, ok", ev)
	}
	if _, err := w.st.RevokeAdminToken(ctx, "ops", w.clock()); err != nil {
		t.Fatal(err)
	}
	if !w.ended(s.Secret) {
		t.Errorf("the session of a revoked token still acts")
	}
	for _, c := range []struct{ name, token string }{{"unknown", "idsync_nope"}, {"empty", ""}, {"revoked", w.ops}, {"authn", w.authnT}} {
		if _, err := w.svc.WithToken(ctx, c.token, "127.0.0.1:5000"); !errors.Is(err, signin.ErrRefused) {
			t.Errorf("WithToken(%s): %v, want ErrRefused", c.name, err)
		}
	}
}

// TestSessionBounds: a session ends after the idle timeout unused, and at
// its maximum age however much it is used; the sweep ends it in the store
// with its audit event.
func TestSessionBounds(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	idle, err := w.svc.WithToken(ctx, w.ops, "127.0.0.1:5000")
	if err != nil {
		t.Fatal(err)
	}
	w.advance(29 * time.Minute)
	if w.ended(idle.Secret) {
		t.Fatalf("ended after 29 minutes idle, want the 30-minute idle timeout")
	}
	w.advance(30*time.Minute + time.Second)
	if !w.ended(idle.Secret) {
		t.Errorf("still acts after 30 minutes idle")
	}
	if err := w.svc.Sweep(ctx); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if ev := w.events("console.session.expired"); len(ev) != 1 || ev[0].Actor != "hub" || ev[0].Detail != "admin:ops: idle for 30m0s" {
		t.Fatalf("expiry events: %+v, want one by the hub, idle for 30m0s", ev)
	}

	used, err := w.svc.WithToken(ctx, w.ops, "127.0.0.1:5000")
	if err != nil {
		t.Fatal(err)
	}
	var lived time.Duration
	for lived < 13*time.Hour && !w.ended(used.Secret) {
		w.advance(20 * time.Minute)
		lived += 20 * time.Minute
	}
	if lived < 12*time.Hour || lived > 12*time.Hour+20*time.Minute {
		t.Errorf("a session used every 20 minutes ended after %s, want 12h", lived)
	}

	w.advance(time.Minute) // the store's bounds are strict: past the age, not at it
	if err := w.svc.Sweep(ctx); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if ev := w.events("console.session.expired"); len(ev) != 2 || ev[1].Detail != "admin:ops: signed in more than 12h0m0s ago" {
		t.Fatalf("expiry events: %+v, want the idle one, then the old one", ev)
	}
	if err := w.svc.Sweep(ctx); err != nil || len(w.events("console.session.expired")) != 2 {
		t.Errorf("a second sweep: %v, %d events; want nothing more", err, len(w.events("console.session.expired")))
	}
}

// TestGrantCheckedOnEveryRequest: a directory user signs in through the
// grant of its group; taken out of the group, suspended, or the grant
// revoked, its session ends at its next request. A wrong password and a
// user in no grant's group are refused alike.
func TestGrantCheckedOnEveryRequest(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	g := w.grant(auth.RoleReadOnly)
	if _, err := w.svc.WithDirectory(ctx, "corp", "ann", "wrong", "127.0.0.1:5000"); !errors.Is(err, signin.ErrRefused) {
		t.Errorf("a wrong password: %v, want ErrRefused", err)
	}
	if _, err := w.svc.WithDirectory(ctx, "corp", "bob", w.password, "127.0.0.1:5000"); !errors.Is(err, signin.ErrRefused) {
		t.Errorf("a user in no admin group: %v, want ErrRefused", err)
	}
	signIn := func() *signin.Session {
		t.Helper()
		s, err := w.svc.WithDirectory(ctx, "corp", "ann", w.password, "127.0.0.1:5000")
		if err != nil {
			t.Fatalf("ann signs in: %v", err)
		}
		if s.Name != "corp/ann" || s.Role != auth.RoleReadOnly {
			t.Fatalf("ann's session: %+v, want corp/ann read-only", s)
		}
		return s
	}

	s := signIn()
	w.apply(group("admins", "bob"))
	if !w.ended(s.Secret) {
		t.Errorf("ann, taken out of the admin group, still acts")
	}
	w.apply(group("admins", "ann", "bob")) // back in: a new sign-in works
	s = signIn()
	w.grant(auth.RoleSuperAdmin)
	if _, role, err := w.svc.Who(ctx, s.Secret); err != nil || role != auth.RoleReadOnly {
		t.Errorf("a session keeps the grant it was opened with: %s (%v)", role, err)
	}
	if got, err := w.svc.WithDirectory(ctx, "corp", "ann", w.password, "127.0.0.1:5000"); err != nil || got.Role != auth.RoleSuperAdmin {
		t.Errorf("in the groups of two grants, ann signs in as %+v (%v), want the stronger, super-admin", got, err)
	}
	if _, err := w.st.RevokeAdminGrant(ctx, g.ID, w.clock()); err != nil {
		t.Fatal(err)
	}
	if !w.ended(s.Secret) {
		t.Errorf("the session of a revoked grant still acts")
	}
}

// TestSignOut ends the session, audited; signing out again is no error.
func TestSignOut(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	s, err := w.svc.WithToken(ctx, w.ops, "127.0.0.1:5000")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.svc.SignOut(ctx, s.Secret); err != nil {
		t.Fatalf("SignOut: %v", err)
	}
	if !w.ended(s.Secret) {
		t.Errorf("a signed-out session still acts")
	}
	if err := w.svc.SignOut(ctx, s.Secret); err != nil {
		t.Errorf("SignOut again: %v, want nil", err)
	}
	if ev := w.events("console.signout"); len(ev) != 1 || ev[0].Actor != "admin:ops" {
		t.Errorf("sign-out events: %+v, want one of admin:ops", ev)
	}
}
