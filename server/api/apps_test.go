package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/idsync/idsync/internal/scimtest"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/api"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/provision"
	"github.com/idsync/idsync/server/secrets"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

const appToken = "scim-token-7c1e94b2aa05"

// mask is an update mask of paths.
func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// appWorld is a SQLite store with two directories (alice is in both, bob
// and the group staff in corp only), a real SCIM server, an engine that is
// not running (admin calls work without it) and the AppServer over them.
type appWorld struct {
	t    *testing.T
	st   store.Store
	box  *secrets.Box
	srv  *scimtest.Server
	s    *api.AppServer
	logs *lockedBuffer
	dirs map[string]*store.Directory
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// openStore opens a hub store of the test's own, with a box to seal its
// secrets.
func openStore(t *testing.T) (*sqlite.Store, *secrets.Box) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := sha256.Sum256([]byte(t.Name()))
	box, err := secrets.New(key[:])
	if err != nil {
		t.Fatal(err)
	}
	return st, box
}

func newAppWorld(t *testing.T) *appWorld {
	t.Helper()
	st, box := openStore(t)
	w := &appWorld{t: t, st: st, box: box, logs: &lockedBuffer{}, dirs: map[string]*store.Directory{}}
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	eng := provision.New(st, box, log, provision.Options{})
	w.s = api.NewAppServer(api.AppConfig{Store: st, Apps: provision.NewApps(provision.AppsConfig{Store: st, Engine: eng, Box: box,
		Log: log.With("component", "apps")})})
	w.srv = scimtest.Start(t, scimtest.Options{Token: appToken})
	w.seed("corp", user("u1", "alice"), user("u2", "bob"), group("g1", "staff", "alice", "bob"))
	w.seed("lab", user("u1", "alice"))
	t.Cleanup(func() {
		if strings.Contains(w.logs.String(), appToken) {
			t.Errorf("the app's token appears in the log")
		}
	})
	return w
}

func user(ext, name string) *store.Object {
	dn := "uid=" + name + ",ou=People,dc=example,dc=org"
	return &store.Object{Kind: store.ObjectUser, ExternalID: ext, DN: dn, DNKey: strings.ToLower(dn),
		Status: store.StatusActive, Profile: store.Profile{Username: name, Email: name + "@example.org",
			GivenName: "Given " + name, FamilyName: "Family " + name}}
}

func group(ext, name string, members ...string) *store.Object {
	dn := "cn=" + name + ",ou=Groups,dc=example,dc=org"
	o := &store.Object{Kind: store.ObjectGroup, ExternalID: ext, DN: dn, DNKey: strings.ToLower(dn),
		Status: store.StatusActive, Name: name, MembersComplete: true}
	for _, m := range members {
		mdn := "uid=" + m + ",ou=People,dc=example,dc=org"
		o.Members = append(o.Members, store.MemberRef{Value: mdn, Key: "dn:" + strings.ToLower(mdn)})
	}
	return o
}

// seed creates a directory holding objs.
func (w *appWorld) seed(dir string, objs ...*store.Object) {
	w.t.Helper()
	ctx := w.t.Context()
	d := &store.Directory{Name: dir, Kind: store.KindOpenLDAP, BaseDN: "dc=example,dc=org", SafeguardPercent: 20, SafeguardMax: 500}
	if err := w.st.CreateDirectory(ctx, d); err != nil {
		w.t.Fatal(err)
	}
	run := &store.Run{DirectoryID: d.ID, Kind: store.RunIncremental, Trigger: "test"}
	if err := w.st.CreateRun(ctx, run); err != nil {
		w.t.Fatal(err)
	}
	for _, o := range objs {
		sum := sha256.Sum256(fmt.Appendf(nil, "%+v", *o))
		o.Hash = hex.EncodeToString(sum[:])
	}
	if _, err := w.st.ApplyBatch(ctx, &store.Batch{RunID: run.ID, DirectoryID: d.ID, Sequence: 1, Upserts: objs}); err != nil {
		w.t.Fatal(err)
	}
	w.dirs[dir] = d
}

// create adds an app pointed at the SCIM server.
func (w *appWorld) create(name string, edit func(*idsyncv1.App)) *idsyncv1.App {
	w.t.Helper()
	// The test app is plain http on loopback: a super-admin's exception
	// (the calls here are in-process, as a super-admin's).
	a := &idsyncv1.App{Name: name, ScimUrl: w.srv.URL, Auth: idsyncv1.AppAuthKind_APP_AUTH_KIND_BEARER,
		AllowInsecureHttp: true, AllowLocalAddresses: true}
	if edit != nil {
		edit(a)
	}
	resp, err := w.s.CreateApp(w.t.Context(), &idsyncv1.CreateAppRequest{App: a, Secret: appToken})
	if err != nil {
		w.t.Fatalf("CreateApp(%s): %v", name, err)
	}
	return resp.GetApp()
}

// wantCode checks a call's status code and that its message names what
// it should.
func wantCode(t *testing.T, call string, err error, code codes.Code, names string) {
	t.Helper()
	s, _ := status.FromError(err)
	if s.Code() != code || !strings.Contains(s.Message(), names) {
		t.Errorf("%s: error %v (%s); want %s naming %q", call, err, s.Code(), code, names)
	}
	if err != nil && strings.Contains(err.Error(), appToken) {
		t.Errorf("%s: the error carries the secret", call)
	}
}

func TestCreateAppValidation(t *testing.T) {
	w := newAppWorld(t)
	tests := []struct {
		name   string
		edit   func(a *idsyncv1.App)
		secret string
		want   string
	}{
		{"bad name", func(a *idsyncv1.App) { a.Name = "Bad Name" }, "t", "name"},
		{"no url", func(a *idsyncv1.App) { a.ScimUrl = "" }, "t", "scim_url: required"},
		{"ftp url", func(a *idsyncv1.App) { a.ScimUrl = "ftp://x.example/scim" }, "t", "scim_url"},
		{"url with credentials", func(a *idsyncv1.App) { a.ScimUrl = "https://u:p@x.example/scim" }, "t", "must not carry credentials"},
		{"no auth", func(a *idsyncv1.App) { a.Auth = 0 }, "t", "auth: required"},
		{"bearer without token", nil, "", "secret"},
		{"basic without username", func(a *idsyncv1.App) { a.Auth = idsyncv1.AppAuthKind_APP_AUTH_KIND_BASIC }, "p", "username"},
		{"oauth2 without token url", func(a *idsyncv1.App) {
			a.Auth, a.Username = idsyncv1.AppAuthKind_APP_AUTH_KIND_OAUTH2, "client"
		}, "s", "token_url"},
		{"update mode", func(a *idsyncv1.App) { a.UpdateMode = "post" }, "t", "update_mode"},
		{"negative rate", func(a *idsyncv1.App) { a.RateLimit = -1 }, "t", "rate_limit"},
		{"concurrency", func(a *idsyncv1.App) { a.Concurrency = 1000 }, "t", "concurrency"},
		{"match by", func(a *idsyncv1.App) { a.MatchBy = "phone" }, "t", "match_by"},
		{"short reconcile", func(a *idsyncv1.App) { a.ReconcileIntervalSeconds = 5 }, "t", "reconcile_interval_seconds"},
		{"huge delete after", func(a *idsyncv1.App) { a.DeleteAfterSeconds = math.MaxUint64 - 1 }, "t", "delete_after_seconds"},
		{"bad expression", func(a *idsyncv1.App) {
			a.Mapping = []*idsyncv1.AppMappingRule{{Target: "userName", Expr: "email"}, {Target: "title", Expr: "lower(title"}}
		}, "t", "mapping rule 2 (title)"},
		{"no userName", func(a *idsyncv1.App) {
			a.Mapping = []*idsyncv1.AppMappingRule{{Target: "title", Expr: "title"}}
		}, "t", "userName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &idsyncv1.App{Name: "app", ScimUrl: w.srv.URL, Auth: idsyncv1.AppAuthKind_APP_AUTH_KIND_BEARER}
			if tt.edit != nil {
				tt.edit(a)
			}
			_, err := w.s.CreateApp(t.Context(), &idsyncv1.CreateAppRequest{App: a, Secret: tt.secret})
			wantCode(t, "CreateApp", err, codes.InvalidArgument, tt.want)
		})
	}

	t.Run("defaults", func(t *testing.T) {
		got := w.create("crm", nil)
		if !got.GetAllowCreate() || !got.GetAllowUpdate() || !got.GetAllowDeactivate() || got.GetAllowDelete() || got.GetPushGroups() {
			t.Errorf("operations create=%v update=%v deactivate=%v delete=%v groups=%v; want create, update, deactivate",
				got.GetAllowCreate(), got.GetAllowUpdate(), got.GetAllowDeactivate(), got.GetAllowDelete(), got.GetPushGroups())
		}
		if got.GetConcurrency() != 4 || got.GetMatchBy() != "userName" || got.GetReconcileIntervalSeconds() != 86400 ||
			got.GetStatus() != "active" || !got.GetHasSecret() {
			t.Errorf("concurrency %d, match_by %q, reconcile %d, status %q, has_secret %v; want 4, userName, 86400, active, true",
				got.GetConcurrency(), got.GetMatchBy(), got.GetReconcileIntervalSeconds(), got.GetStatus(), got.GetHasSecret())
		}
		if n := len(got.GetMapping()); n != len(provision.DefaultMapping()) {
			t.Errorf("mapping has %d rules, want the %d of the default", n, len(provision.DefaultMapping()))
		}
		if q := got.GetQueue()["queued"]; q != 1 {
			t.Errorf("queue %v; want the scope job queued", got.GetQueue())
		}
		stored, err := w.st.GetApp(t.Context(), "crm")
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(stored.Secret, []byte(appToken)) {
			t.Errorf("the store holds the token in clear")
		}
		if clear, err := w.box.Open(stored.Secret, provision.SecretContext("crm")); err != nil || string(clear) != appToken {
			t.Errorf("the stored secret opens to %q, %v; want the token", clear, err)
		}
		_, err = w.s.CreateApp(t.Context(), &idsyncv1.CreateAppRequest{App: &idsyncv1.App{Name: "crm",
			ScimUrl: w.srv.URL, Auth: idsyncv1.AppAuthKind_APP_AUTH_KIND_BEARER, AllowInsecureHttp: true, AllowLocalAddresses: true}, Secret: "x"})
		wantCode(t, "CreateApp(crm) again", err, codes.AlreadyExists, "crm")
	})
	t.Run("never reconcile", func(t *testing.T) {
		got := w.create("never", func(a *idsyncv1.App) { a.ReconcileIntervalSeconds = math.MaxUint64 })
		if got.GetReconcileIntervalSeconds() != math.MaxUint64 {
			t.Errorf("reconcile_interval_seconds = %d, want max (never)", got.GetReconcileIntervalSeconds())
		}
	})
}

func TestUpdateAppResumes(t *testing.T) {
	w := newAppWorld(t)
	ctx := t.Context()
	w.create("crm", nil)
	pause := func() {
		a, err := w.st.GetApp(ctx, "crm")
		if err != nil {
			t.Fatal(err)
		}
		if err := w.st.SetAppStatus(ctx, a.ID, store.AppPaused, "401 Unauthorized"); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		app        *idsyncv1.App
		paths      []string
		secret     string
		resume     bool
		wantStatus string
		check      func(t *testing.T, a *idsyncv1.App)
	}{
		{"settings only stay paused", &idsyncv1.App{Concurrency: 9, RateLimit: 2.5, ScimUrl: "https://elsewhere.example"},
			[]string{"concurrency", "rate_limit"}, "", false, "paused",
			func(t *testing.T, a *idsyncv1.App) {
				if a.GetConcurrency() != 9 || a.GetRateLimit() != 2.5 || a.GetScimUrl() != w.srv.URL {
					t.Errorf("concurrency %d, rate %v, url %q; want 9, 2.5, unchanged", a.GetConcurrency(), a.GetRateLimit(), a.GetScimUrl())
				}
			}},
		{"new secret resumes", &idsyncv1.App{}, nil, appToken, false, "active", nil},
		{"resume resumes", &idsyncv1.App{}, nil, "", true, "active", nil},
		{"new url resumes", &idsyncv1.App{ScimUrl: w.srv.URL + "/"}, []string{"scim_url"}, "", false, "active", nil},
		{"a named setting unset is cleared, one not named is kept", &idsyncv1.App{Concurrency: 7}, []string{"rate_limit"}, "", false, "paused",
			func(t *testing.T, a *idsyncv1.App) {
				if a.GetRateLimit() != 0 || a.GetConcurrency() != 9 {
					t.Errorf("rate %v, concurrency %d; want 0, and 9 as the first case set it", a.GetRateLimit(), a.GetConcurrency())
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pause()
			tt.app.Name = "crm"
			resp, err := w.s.UpdateApp(ctx, &idsyncv1.UpdateAppRequest{App: tt.app, UpdateMask: &fieldmaskpb.FieldMask{Paths: tt.paths},
				Secret: tt.secret, Resume: tt.resume})
			if err != nil {
				t.Fatalf("UpdateApp(%v): %v", tt.paths, err)
			}
			if got := resp.GetApp().GetStatus(); got != tt.wantStatus {
				t.Errorf("status %q (%s), want %q", got, resp.GetApp().GetStatusMessage(), tt.wantStatus)
			}
			stored, _ := w.st.GetApp(ctx, "crm")
			if string(stored.Status) != tt.wantStatus {
				t.Errorf("stored status %q, want %q", stored.Status, tt.wantStatus)
			}
			if tt.check != nil {
				tt.check(t, resp.GetApp())
			}
		})
	}

	bad := []struct {
		name  string
		app   *idsyncv1.App
		paths []string
		code  codes.Code
		want  string
	}{
		{"nothing to change", &idsyncv1.App{Name: "crm"}, nil, codes.InvalidArgument, "update_mask"},
		{"unknown field", &idsyncv1.App{Name: "crm"}, []string{"concurrency", "colour"}, codes.InvalidArgument, `"colour" is not a field of App`},
		{"secret is no field", &idsyncv1.App{Name: "crm"}, []string{"secret"}, codes.InvalidArgument, `"secret" is not a field of App`},
		{"all", &idsyncv1.App{Name: "crm"}, []string{"*"}, codes.InvalidArgument, `"*"`},
		{"name", &idsyncv1.App{Name: "crm"}, []string{"name"}, codes.InvalidArgument, `"name" cannot be changed`},
		{"status", &idsyncv1.App{Name: "crm", Status: "active"}, []string{"status"}, codes.InvalidArgument, `"status" cannot be changed`},
		{"has_secret", &idsyncv1.App{Name: "crm"}, []string{"has_secret"}, codes.InvalidArgument, `"has_secret" cannot be changed`},
		{"bad mapping", &idsyncv1.App{Name: "crm", Mapping: []*idsyncv1.AppMappingRule{{Target: "userName", Expr: "nope("}}},
			[]string{"mapping"}, codes.InvalidArgument, "mapping rule 1 (userName)"},
		{"basic needs username", &idsyncv1.App{Name: "crm", Auth: idsyncv1.AppAuthKind_APP_AUTH_KIND_BASIC}, []string{"auth"},
			codes.InvalidArgument, "username"},
		{"delete after too long", &idsyncv1.App{Name: "crm", DeleteAfterSeconds: math.MaxUint64 - 1}, []string{"delete_after_seconds"},
			codes.InvalidArgument, "delete_after_seconds"},
		{"unknown app", &idsyncv1.App{Name: "nope"}, []string{"concurrency"}, codes.NotFound, "nope"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.s.UpdateApp(ctx, &idsyncv1.UpdateAppRequest{App: tt.app, UpdateMask: &fieldmaskpb.FieldMask{Paths: tt.paths}})
			wantCode(t, "UpdateApp", err, tt.code, tt.want)
		})
	}
	t.Run("the field list of an older idsyncctl", func(t *testing.T) {
		// fields = 2, now reserved: without it, the secret alone would change.
		req := &idsyncv1.UpdateAppRequest{App: &idsyncv1.App{Name: "crm", ScimUrl: "https://other.example/scim"}, Secret: "new"}
		req.ProtoReflect().SetUnknown(protowire.AppendString(protowire.AppendTag(nil, 2, protowire.BytesType), "scim_url"))
		_, err := w.s.UpdateApp(ctx, req)
		wantCode(t, "UpdateApp", err, codes.InvalidArgument, "nothing changed")
	})
}

func TestAssignments(t *testing.T) {
	w := newAppWorld(t)
	ctx := t.Context()
	w.create("crm", nil)
	tests := []struct {
		name        string
		unassign    bool
		user, group string
		directory   string
		code        codes.Code
		want        string // in the error
		inScope     uint64
	}{
		{"neither", false, "", "", "", codes.InvalidArgument, "exactly one", 0},
		{"both", false, "bob", "staff", "", codes.InvalidArgument, "exactly one", 0},
		{"unknown user", false, "zed", "", "", codes.NotFound, "zed", 0},
		{"unknown directory", false, "alice", "", "nowhere", codes.NotFound, "nowhere", 0},
		{"name in two directories", false, "alice", "", "", codes.InvalidArgument, "corp, lab", 0},
		{"user in one directory", false, "alice", "", "lab", codes.OK, "", 1},
		{"group by name", false, "", "staff", "", codes.OK, "", 3},
		{"again is no error", false, "", "staff", "", codes.OK, "", 3},
		{"unassign group", true, "", "staff", "", codes.OK, "", 1},
		{"unassign not assigned", true, "bob", "", "", codes.NotFound, "not assigned", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				app     *idsyncv1.App
				inScope uint64
				err     error
			)
			if tt.unassign {
				var r *idsyncv1.UnassignAppResponse
				r, err = w.s.UnassignApp(ctx, &idsyncv1.UnassignAppRequest{Name: "crm", User: tt.user, Group: tt.group, Directory: tt.directory})
				app, inScope = r.GetApp(), r.GetUsersInScope()
			} else {
				var r *idsyncv1.AssignAppResponse
				r, err = w.s.AssignApp(ctx, &idsyncv1.AssignAppRequest{Name: "crm", User: tt.user, Group: tt.group, Directory: tt.directory})
				app, inScope = r.GetApp(), r.GetUsersInScope()
			}
			wantCode(t, "assign", err, tt.code, tt.want)
			if err != nil {
				return
			}
			if inScope != tt.inScope {
				t.Errorf("users in scope %d, want %d", inScope, tt.inScope)
			}
			for _, as := range app.GetAssignments() {
				if as.GetName() == "" || as.GetTargetId() == "" {
					t.Errorf("assignment %v has no name or id", as)
				}
			}
		})
	}
	got, err := w.s.GetApp(ctx, &idsyncv1.GetAppRequest{Name: "crm"})
	if err != nil {
		t.Fatal(err)
	}
	if as := got.GetApp().GetAssignments(); len(as) != 1 || as[0].GetKind() != "user" || as[0].GetName() != "alice" {
		t.Errorf("assignments %v; want user alice", as)
	}
}

func TestTestPreviewImport(t *testing.T) {
	w := newAppWorld(t)
	ctx := t.Context()
	w.create("crm", nil)
	if _, err := w.s.AssignApp(ctx, &idsyncv1.AssignAppRequest{Name: "crm", Group: "staff"}); err != nil {
		t.Fatal(err)
	}

	rep, err := w.s.TestApp(ctx, &idsyncv1.TestAppRequest{Name: "crm"})
	if err != nil {
		t.Fatalf("TestApp: %v", err)
	}
	if !rep.GetPatch() || !rep.GetFilter() || len(rep.GetSchemas()) == 0 || rep.GetFilterUsed() == "" {
		t.Errorf("TestApp = %v; want patch, filter, schemas and the filter used", rep)
	}
	got, _ := w.s.GetApp(ctx, &idsyncv1.GetAppRequest{Name: "crm"})
	if p := got.GetApp().PatchSupported; p == nil || !*p {
		t.Errorf("patch_supported after a test = %v, want true", p)
	}

	p, err := w.s.PreviewApp(ctx, &idsyncv1.PreviewAppRequest{Name: "crm", User: "bob"})
	if err != nil {
		t.Fatalf("PreviewApp(bob): %v", err)
	}
	if p.GetAction() != "create" || p.GetRequest() != "POST /Users" || !strings.Contains(p.GetBody(), `"userName": "bob@example.org"`) {
		t.Errorf("preview of bob = %+v; want create, POST /Users, userName bob@example.org", p)
	}
	_, err = w.s.PreviewApp(ctx, &idsyncv1.PreviewAppRequest{Name: "crm", User: "alice"})
	wantCode(t, "PreviewApp(alice)", err, codes.InvalidArgument, "several directories")

	// bob holds an account already: an import links it.
	if _, err := w.srv.SeedUser(map[string]any{"userName": "bob@example.org", "active": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.srv.SeedUser(map[string]any{"userName": "stranger@example.org", "active": true}); err != nil {
		t.Fatal(err)
	}
	imp, err := w.s.ImportFromApp(ctx, &idsyncv1.ImportFromAppRequest{Name: "crm"})
	if err != nil {
		t.Fatalf("ImportFromApp: %v", err)
	}
	if imp.GetRead() != 2 || imp.GetLinked() != 1 || len(imp.GetUnmatched()) != 1 || imp.GetUnmatched()[0].GetUserName() != "stranger@example.org" {
		t.Errorf("import = %v; want 2 read, 1 linked, stranger unmatched", imp)
	}

	// A revoked token: the app refuses, the call says so without the token.
	w.srv.AddToken("another-token") // with no token at all the server is open
	w.srv.RevokeToken(appToken)
	_, err = w.s.TestApp(ctx, &idsyncv1.TestAppRequest{Name: "crm"})
	wantCode(t, "TestApp with a revoked token", err, codes.FailedPrecondition, "refused the credentials")
	_, err = w.s.TestApp(ctx, &idsyncv1.TestAppRequest{Name: "nope"})
	wantCode(t, "TestApp(nope)", err, codes.NotFound, "nope")
}

func TestPushesAndTasks(t *testing.T) {
	w := newAppWorld(t)
	ctx := t.Context()
	w.create("crm", nil)
	a, err := w.st.GetApp(ctx, "crm")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := w.st.FindUsers(ctx, w.dirs["corp"].ID, "bob")
	if err != nil || len(bob) != 1 {
		t.Fatalf("bob: %v, %v", bob, err)
	}
	now := time.Now()
	job, err := w.st.Enqueue(ctx, a.ID, store.JobUser, bob[0].ID, now)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := w.st.ClaimJobs(ctx, a.ID, "test", now.Add(time.Second), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if err := w.st.DeadJob(ctx, j.ID, "test", "scim: POST /Users: 400 Bad Request", now); err != nil {
			t.Fatal(err)
		}
	}

	list, err := w.s.ListPushes(ctx, &idsyncv1.ListPushesRequest{App: "crm", Failed: true})
	if err != nil {
		t.Fatal(err)
	}
	var dead *idsyncv1.PushJob
	for _, j := range list.GetJobs() {
		if j.GetId() == fmt.Sprint(job.ID) {
			dead = j
		}
		if j.GetState() != "dead" {
			t.Errorf("failed list holds job %v in state %s", j.GetId(), j.GetState())
		}
	}
	if dead == nil || dead.GetTarget() != "bob" || dead.GetApp() != "crm" || dead.GetKind() != "user" || dead.GetLastError() == "" {
		t.Fatalf("dead jobs %v; want bob's user job of crm with its error", list.GetJobs())
	}

	retries := []struct {
		name     string
		req      *idsyncv1.RetryPushesRequest
		code     codes.Code
		want     string
		requeued uint64
	}{
		{"neither", &idsyncv1.RetryPushesRequest{}, codes.InvalidArgument, "exactly one", 0},
		{"bad id", &idsyncv1.RetryPushesRequest{Id: "x1"}, codes.InvalidArgument, "x1", 0},
		{"unknown id", &idsyncv1.RetryPushesRequest{Id: "99999"}, codes.NotFound, "99999", 0},
		{"unknown app", &idsyncv1.RetryPushesRequest{App: "nope"}, codes.NotFound, "nope", 0},
		// bob's job, then the rest (the scope job of the create, claimed
		// and dead-lettered above too).
		{"by id", &idsyncv1.RetryPushesRequest{Id: fmt.Sprint(job.ID)}, codes.OK, "", 1},
		{"by app", &idsyncv1.RetryPushesRequest{App: "crm"}, codes.OK, "", uint64(len(jobs) - 1)},
	}
	for _, tt := range retries {
		t.Run("retry "+tt.name, func(t *testing.T) {
			r, err := w.s.RetryPushes(ctx, tt.req)
			wantCode(t, "RetryPushes", err, tt.code, tt.want)
			if r.GetRequeued() != tt.requeued {
				t.Errorf("requeued %d, want %d", r.GetRequeued(), tt.requeued)
			}
		})
	}
	if list, _ := w.s.ListPushes(ctx, &idsyncv1.ListPushesRequest{App: "crm", Failed: true}); len(list.GetJobs()) != 0 {
		t.Errorf("dead jobs after a retry: %v", list.GetJobs())
	}

	task, err := w.st.CreateTask(ctx, &store.Task{AppID: a.ID, UserID: bob[0].ID, Kind: "deprovision", State: store.TaskOpen,
		Detail: "deactivate bob@example.org by hand"})
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := w.s.ListTasks(ctx, &idsyncv1.ListTasksRequest{App: "crm"})
	if err != nil {
		t.Fatal(err)
	}
	if ts := tasks.GetTasks(); len(ts) != 1 || ts[0].GetUser() != "bob" || ts[0].GetState() != "open" {
		t.Fatalf("tasks %v; want bob's open task", ts)
	}
	id := fmt.Sprint(task.ID)
	res, err := w.s.ResolveTask(ctx, &idsyncv1.ResolveTaskRequest{Id: id, Note: "done in the console"})
	if err != nil {
		t.Fatal(err)
	}
	if r := res.GetTask(); r.GetState() != "resolved" || r.GetResolvedBy() == "" || r.GetNote() != "done in the console" {
		t.Errorf("resolved task %v; want resolved, by whom, with the note", r)
	}
	_, err = w.s.ResolveTask(ctx, &idsyncv1.ResolveTaskRequest{Id: id})
	wantCode(t, "ResolveTask again", err, codes.FailedPrecondition, "already resolved")
	_, err = w.s.ResolveTask(ctx, &idsyncv1.ResolveTaskRequest{Id: "424242"})
	wantCode(t, "ResolveTask(unknown)", err, codes.NotFound, "424242")
	if open, _ := w.s.ListTasks(ctx, &idsyncv1.ListTasksRequest{}); len(open.GetTasks()) != 0 {
		t.Errorf("open tasks after resolving: %v", open.GetTasks())
	}
	if all, _ := w.s.ListTasks(ctx, &idsyncv1.ListTasksRequest{All: true}); len(all.GetTasks()) != 1 {
		t.Errorf("all tasks: %v; want the resolved one", all.GetTasks())
	}

	if _, err := w.s.DeleteApp(ctx, &idsyncv1.DeleteAppRequest{Name: "crm"}); err != nil {
		t.Fatal(err)
	}
	_, err = w.s.GetApp(ctx, &idsyncv1.GetAppRequest{Name: "crm"})
	wantCode(t, "GetApp after delete", err, codes.NotFound, "crm")
}

// TestCreateDirectoryTarget: an app that is a directory is checked against
// the directory it names (exists, writable kind, a way to disable) and the
// write-back a super-admin set there: the OUs and groups it may write, the
// attributes its kind allows, the directory's initial password for AD. An
// app admin chooses among those and nothing else; a directory target holds
// no secret.
func TestCreateDirectoryTarget(t *testing.T) {
	w := newAppWorld(t) // with the OpenLDAP directories corp and lab
	ctx := t.Context()
	const staff, gone, admins = "OU=Staff,DC=corp,DC=example", "OU=Gone,DC=corp,DC=example", "OU=Admins,DC=corp,DC=example"
	sealed := w.box.Seal([]byte(`"Welcome-" + employee_number`), provision.WriteBackSecretContext("ad"))
	ad := &store.Directory{Name: "ad", Kind: store.KindAD, BaseDN: "DC=corp,DC=example"}
	if err := w.st.CreateDirectory(ctx, ad); err != nil {
		t.Fatal(err)
	}
	target := func(dir string) *idsyncv1.DirectoryTarget {
		return &idsyncv1.DirectoryTarget{Directory: dir, ParentDn: staff}
	}
	create := func(edit func(a *idsyncv1.App), secret string) error {
		a := &idsyncv1.App{Name: "ad-accounts", DirectoryTarget: target("ad")}
		edit(a)
		_, err := w.s.CreateApp(ctx, &idsyncv1.CreateAppRequest{App: a, Secret: secret})
		return err
	}
	// Not writable until a super-admin says where.
	wantCode(t, "CreateApp(write-back off)", create(func(*idsyncv1.App) {}, ""), codes.InvalidArgument, "not writable")

	ad.WriteBack = &store.WriteBack{OUs: []string{staff, gone}, Groups: []string{"CN=Disabled,DC=corp,DC=example"}}
	if err := w.st.UpdateDirectory(ctx, ad); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "CreateApp(AD without the directory's password)", create(func(*idsyncv1.App) {}, ""), codes.InvalidArgument,
		"initial-password-file")
	ad.WriteBack.InitialPassword = sealed
	if err := w.st.UpdateDirectory(ctx, ad); err != nil {
		t.Fatal(err)
	}
	lab := w.dirs["lab"]
	lab.WriteBack = &store.WriteBack{OUs: []string{"ou=People,dc=example,dc=org"}}
	if err := w.st.UpdateDirectory(ctx, lab); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		edit   func(a *idsyncv1.App)
		secret string
		want   string
	}{
		{"unknown directory", func(a *idsyncv1.App) { a.DirectoryTarget.Directory = "nope" }, "", "does not exist"},
		{"no parent", func(a *idsyncv1.App) { a.DirectoryTarget.ParentDn = "" }, "", "parent_dn"},
		{"bad disabled OU", func(a *idsyncv1.App) { a.DirectoryTarget.DisabledParentDn = "not a dn" }, "", "disabled_parent_dn"},
		{"parent outside the writable OUs", func(a *idsyncv1.App) { a.DirectoryTarget.ParentDn = admins }, "", "parent_dn"},
		{"parent above a writable OU", func(a *idsyncv1.App) { a.DirectoryTarget.ParentDn = "DC=corp,DC=example" }, "", "parent_dn"},
		{"disabled OU outside", func(a *idsyncv1.App) { a.DirectoryTarget.DisabledParentDn = "CN=Users,DC=corp,DC=example" }, "", "disabled_parent_dn"},
		{"a group not named", func(a *idsyncv1.App) {
			a.DirectoryTarget.DisableGroupDn = "CN=Domain Admins,CN=Users,DC=corp,DC=example"
		}, "", "disable_group_dn"},
		{"a secret", func(*idsyncv1.App) {}, "Welcome-1!", "secret"},
		{"OpenLDAP without a disabled state", func(a *idsyncv1.App) {
			a.DirectoryTarget = &idsyncv1.DirectoryTarget{Directory: "lab", ParentDn: "ou=People,dc=example,dc=org"}
		}, "", "disable"},
		{"push groups", func(a *idsyncv1.App) { a.PushGroups = true }, "", "push_groups"},
		{"rights-changing attribute", func(a *idsyncv1.App) {
			a.Mapping = []*idsyncv1.AppMappingRule{{Target: "userName", Expr: "username"},
				{Target: provision.LDAPSchema + ":servicePrincipalName", Expr: `"HTTP/" + username`}}
		}, "", "mapping rule 2"},
		{"attribute outside the allowlist", func(a *idsyncv1.App) {
			a.Mapping = []*idsyncv1.AppMappingRule{{Target: "userName", Expr: "username"},
				{Target: provision.LDAPSchema + ":homeDirectory", Expr: `"\\\\evil\\share"`}}
		}, "", "homeDirectory"},
		{"naming attribute outside the allowlist", func(a *idsyncv1.App) { a.DirectoryTarget.RdnAttribute = "uidNumber" }, "", "rdn_attribute"},
		{"disable attribute outside the allowlist", func(a *idsyncv1.App) {
			a.DirectoryTarget = &idsyncv1.DirectoryTarget{Directory: "lab", ParentDn: "ou=People,dc=example,dc=org",
				DisableAttribute: "userPassword=x"}
		}, "", "disable_attribute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, "CreateApp", create(tt.edit, tt.secret), codes.InvalidArgument, tt.want)
		})
	}

	resp, err := w.s.CreateApp(ctx, &idsyncv1.CreateAppRequest{App: &idsyncv1.App{Name: "ad-accounts", DirectoryTarget: target("ad")}})
	if err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	if got := resp.GetApp(); got.GetDirectoryTarget().GetDirectory() != "ad" || got.GetHasSecret() {
		t.Errorf("the app shown: %v; want directory ad and no secret", got)
	}
	stored, err := w.st.GetApp(ctx, "ad-accounts")
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.Secret) != 0 {
		t.Errorf("a directory target stored a secret of %d bytes", len(stored.Secret))
	}
	if r := stored.Mapping[0]; r.Target != "userName" || r.Expr != "username" {
		t.Errorf("default mapping's userName: %+v; want it from the username", r)
	}
	// Updates are held to the write-back too.
	up := resp.GetApp()
	up.DirectoryTarget.DisabledParentDn = gone
	if _, err := w.s.UpdateApp(ctx, &idsyncv1.UpdateAppRequest{App: up, UpdateMask: mask("directory_target")}); err != nil {
		t.Fatalf("UpdateApp: %v", err)
	}
	up.DirectoryTarget.ParentDn = admins
	_, err = w.s.UpdateApp(ctx, &idsyncv1.UpdateAppRequest{App: up, UpdateMask: mask("directory_target")})
	wantCode(t, "UpdateApp(parent outside)", err, codes.InvalidArgument, "parent_dn")
	// One field of the target changes alone.
	_, err = w.s.UpdateApp(ctx, &idsyncv1.UpdateAppRequest{App: &idsyncv1.App{Name: "ad-accounts",
		DirectoryTarget: &idsyncv1.DirectoryTarget{ParentDn: admins}}, UpdateMask: mask("directory_target.parent_dn")})
	wantCode(t, "UpdateApp(directory_target.parent_dn outside)", err, codes.InvalidArgument, "parent_dn")
	_, err = w.s.UpdateApp(ctx, &idsyncv1.UpdateAppRequest{App: resp.GetApp(), Secret: "x"})
	wantCode(t, "UpdateApp(secret)", err, codes.InvalidArgument, "secret")
	stored, _ = w.st.GetApp(ctx, "ad-accounts")
	if stored.Target.ParentDN != staff || stored.Target.DisabledParentDN != gone || len(stored.Secret) != 0 {
		t.Errorf("after the updates: target %+v, secret %d bytes; want %s, %s and none", *stored.Target, len(stored.Secret), staff, gone)
	}
}

// TestAppOutbound: an app's URLs are https and reach no local address
// unless a super-admin allowed it; only a super-admin grants those
// exceptions or moves an app that has one; a secret does not follow an
// app to another host, token URL or kind of authentication.
func TestAppOutbound(t *testing.T) {
	w := newAppWorld(t)
	ctx := t.Context()
	appAdmin := auth.WithAdmin(ctx, &store.AdminToken{ID: "t1", Name: "crm-team", Role: auth.RoleAppAdmin})
	bearer := idsyncv1.AppAuthKind_APP_AUTH_KIND_BEARER
	for _, tc := range []struct {
		name, url string
		want      string
	}{
		{"plain http", "http://crm.example.com/scim/v2", "--allow-insecure-http"},
		{"loopback", "https://127.0.0.1:8443/scim/v2", "--allow-local-addresses"},
		{"loopback v6", "https://[::1]/scim/v2", "--allow-local-addresses"},
		{"mapped loopback", "https://[::ffff:127.0.0.1]/scim/v2", "--allow-local-addresses"},
		{"metadata service", "https://169.254.169.254/latest", "--allow-local-addresses"},
		{"localhost", "https://localhost:7080/v1/authn", "--allow-local-addresses"},
		{"unspecified", "https://0.0.0.0/scim", "--allow-local-addresses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.s.CreateApp(ctx, &idsyncv1.CreateAppRequest{
				App: &idsyncv1.App{Name: "out", ScimUrl: tc.url, Auth: bearer}, Secret: "tok"})
			wantCode(t, "CreateApp", err, codes.InvalidArgument, "scim_url \""+tc.url+"\"")
			wantCode(t, "CreateApp", err, codes.InvalidArgument, tc.want)
		})
	}
	// An OAuth2 token URL is held to the same.
	_, err := w.s.CreateApp(ctx, &idsyncv1.CreateAppRequest{App: &idsyncv1.App{Name: "out", ScimUrl: "https://crm.example.com/scim/v2",
		Auth: idsyncv1.AppAuthKind_APP_AUTH_KIND_OAUTH2, Username: "client", TokenUrl: "https://169.254.169.254/token"}, Secret: "s"})
	wantCode(t, "CreateApp(token URL)", err, codes.InvalidArgument, "token_url")

	// Only a super-admin grants an exception.
	_, err = w.s.CreateApp(appAdmin, &idsyncv1.CreateAppRequest{App: &idsyncv1.App{Name: "out", ScimUrl: w.srv.URL, Auth: bearer,
		AllowInsecureHttp: true, AllowLocalAddresses: true}, Secret: appToken})
	wantCode(t, "CreateApp(app-admin granting)", err, codes.PermissionDenied, "super-admin")
	local := w.create("local", nil) // as a super-admin: allowed
	if !local.GetAllowInsecureHttp() || !local.GetAllowLocalAddresses() {
		t.Fatalf("the exceptions are not shown: %v", local)
	}
	// An app admin cannot move such an app, nor grant one afterwards.
	moved := proto.Clone(local).(*idsyncv1.App)
	moved.ScimUrl = "http://127.0.0.1:1/elsewhere"
	_, err = w.s.UpdateApp(appAdmin, &idsyncv1.UpdateAppRequest{App: moved, UpdateMask: mask("scim_url"), Secret: "t"})
	wantCode(t, "UpdateApp(app-admin moving a local app)", err, codes.PermissionDenied, "super-admin")
	plain := w.create("plain", func(a *idsyncv1.App) {
		a.ScimUrl, a.AllowInsecureHttp, a.AllowLocalAddresses = "https://crm.example.com/scim/v2", false, false
	})
	plain.AllowLocalAddresses = true
	_, err = w.s.UpdateApp(appAdmin, &idsyncv1.UpdateAppRequest{App: plain, UpdateMask: mask("allow_local_addresses")})
	wantCode(t, "UpdateApp(app-admin granting)", err, codes.PermissionDenied, "super-admin")

	// The secret stays with its endpoint.
	stored, err := w.st.GetApp(ctx, "plain")
	if err != nil {
		t.Fatal(err)
	}
	secret := stored.Secret
	for _, tc := range []struct {
		name   string
		edit   func(a *idsyncv1.App)
		fields []string
		want   string
	}{
		{"another host", func(a *idsyncv1.App) { a.ScimUrl = "https://attacker.example.net/scim/v2" }, []string{"scim_url"}, "scim_url moved"},
		{"another port", func(a *idsyncv1.App) { a.ScimUrl = "https://crm.example.com:8443/scim/v2" }, []string{"scim_url"}, "scim_url moved"},
		{"another auth", func(a *idsyncv1.App) {
			a.Auth, a.Username = idsyncv1.AppAuthKind_APP_AUTH_KIND_BASIC, "svc"
		}, []string{"auth", "username"}, "auth changed"},
		{"another token URL", func(a *idsyncv1.App) {
			a.Auth, a.Username, a.TokenUrl = idsyncv1.AppAuthKind_APP_AUTH_KIND_OAUTH2, "client", "https://login.example.net/token"
		}, []string{"auth", "username", "token_url"}, "auth changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := proto.Clone(plain).(*idsyncv1.App)
			up.AllowLocalAddresses = false
			tc.edit(up)
			_, err := w.s.UpdateApp(ctx, &idsyncv1.UpdateAppRequest{App: up, UpdateMask: mask(tc.fields...)})
			wantCode(t, "UpdateApp", err, codes.InvalidArgument, tc.want)
		})
	}
	up := proto.Clone(plain).(*idsyncv1.App)
	up.AllowLocalAddresses = false
	up.ScimUrl = "https://crm.example.com/scim/v2/tenant-2" // same host: the same secret
	if _, err := w.s.UpdateApp(ctx, &idsyncv1.UpdateAppRequest{App: up, UpdateMask: mask("scim_url")}); err != nil {
		t.Errorf("UpdateApp(same host, another path): %v", err)
	}
	up.ScimUrl = "https://other.example.com/scim/v2"
	if _, err := w.s.UpdateApp(ctx, &idsyncv1.UpdateAppRequest{App: up, UpdateMask: mask("scim_url"), Secret: "new-token"}); err != nil {
		t.Errorf("UpdateApp(another host, a new secret): %v", err)
	}
	stored, err = w.st.GetApp(ctx, "plain")
	if err != nil {
		t.Fatal(err)
	}
	if clear, err := w.box.Open(stored.Secret, provision.SecretContext("plain")); err != nil || string(clear) != "new-token" || bytes.Equal(stored.Secret, secret) {
		t.Errorf("after the move: secret %q, %v; want the new one", clear, err)
	}
}

// TestAppShowsPushedGroups: GetApp (app show) reports what the pushes know
// of each pushed group that has something to report: the members without
// an account in the app, by username, and the drift a reconcile set back.
func TestAppShowsPushedGroups(t *testing.T) {
	w := newAppWorld(t)
	ctx := t.Context()
	a := w.create("crm", func(a *idsyncv1.App) { a.PushGroups = true })
	stored, err := w.st.GetApp(ctx, a.GetName())
	if err != nil {
		t.Fatal(err)
	}
	gs, err := w.st.FindGroups(ctx, w.dirs["corp"].ID, "staff")
	if err != nil || len(gs) != 1 {
		t.Fatalf("FindGroups(staff) = %v, %v", gs, err)
	}
	us, err := w.st.FindUsers(ctx, w.dirs["corp"].ID, "bob")
	if err != nil || len(us) != 1 {
		t.Fatalf("FindUsers(bob) = %v, %v", us, err)
	}
	at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	pg := &store.PushedGroup{AppID: stored.ID, GroupID: gs[0].ID, RemoteID: "r-1", DisplayName: "staff",
		Missing: []string{us[0].ID}, Drift: "1 member(s) added in the app removed (eve)", DriftAt: at, CheckedAt: at}
	if err := w.st.PutPushedGroup(ctx, pg); err != nil {
		t.Fatal(err)
	}
	got, err := w.s.GetApp(ctx, &idsyncv1.GetAppRequest{Name: "crm"})
	if err != nil {
		t.Fatal(err)
	}
	states := got.GetApp().GetPushedGroupStates()
	if len(states) != 1 || states[0].GetName() != "staff" || fmt.Sprint(states[0].GetMissing()) != "[bob]" ||
		states[0].GetDrift() != pg.Drift || !states[0].GetDriftAt().AsTime().Equal(at) {
		t.Errorf("pushed group states = %v, want staff missing bob, with its drift at %v", states, at)
	}
}

// groupApp creates an app that pushes groups and returns it as stored.
func (w *appWorld) groupApp(t *testing.T, name string) *store.App {
	t.Helper()
	w.create(name, func(a *idsyncv1.App) { a.PushGroups = true })
	a, err := w.st.GetApp(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// staff is group corp/staff.
func (w *appWorld) staff(t *testing.T) *store.Group {
	t.Helper()
	gs, err := w.st.FindGroups(t.Context(), w.dirs["corp"].ID, "staff")
	if err != nil || len(gs) != 1 {
		t.Fatalf("FindGroups(staff) = %v, %v", gs, err)
	}
	return gs[0]
}

// TestAppGroupsShown: app show lists the groups an app holds of its own and
// what an import found pushed groups gained or lost; group show lists the
// apps that hold a hub group, under what name — an app-admin sees its own
// apps only, and imports from them only.
func TestAppGroupsShown(t *testing.T) {
	w := newAppWorld(t)
	ctx := t.Context()
	crm, wiki := w.groupApp(t, "crm"), w.groupApp(t, "wiki")
	staff := w.staff(t)
	bob, err := w.st.FindUsers(ctx, w.dirs["corp"].ID, "bob")
	if err != nil || len(bob) != 1 {
		t.Fatalf("FindUsers(bob) = %v, %v", bob, err)
	}
	for _, pg := range []*store.PushedGroup{{AppID: crm.ID, GroupID: staff.ID, RemoteID: "r-crm", DisplayName: "staff"},
		{AppID: wiki.ID, GroupID: staff.ID, RemoteID: "r-wiki", DisplayName: "Staff (wiki)"}} {
		if err := w.st.PutPushedGroup(ctx, pg); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	if err := w.st.NotePushedGroupDrift(ctx, crm.ID, staff.ID, "1 member(s) removed in the app (bob)", at); err != nil {
		t.Fatal(err)
	}
	if err := w.st.PutAppGroups(ctx, crm.ID, []*store.AppGroup{{RemoteID: "r-adm", DisplayName: "crm-admins",
		Members: []string{bob[0].ID}, Unlinked: 2}}); err != nil {
		t.Fatal(err)
	}

	got, err := w.s.GetApp(ctx, &idsyncv1.GetAppRequest{Name: "crm"})
	if err != nil {
		t.Fatal(err)
	}
	ags := got.GetApp().GetAppGroups()
	if len(ags) != 1 || ags[0].GetName() != "crm-admins" || ags[0].GetRemoteId() != "r-adm" ||
		fmt.Sprint(ags[0].GetMembers()) != "[bob]" || ags[0].GetMemberCount() != 1 || ags[0].GetUnlinked() != 2 {
		t.Errorf("app groups = %v, want crm-admins (r-adm) with bob and 2 members not linked", ags)
	}
	states := got.GetApp().GetPushedGroupStates()
	if len(states) != 1 || states[0].GetName() != "staff" || states[0].GetFound() != "1 member(s) removed in the app (bob)" ||
		!states[0].GetFoundAt().AsTime().Equal(at) {
		t.Errorf("pushed group states = %v, want staff with what the import found at %v", states, at)
	}

	admin := api.NewAdminServer(api.AdminConfig{Store: w.st})
	crmAdmin := auth.WithAdmin(ctx, &store.AdminToken{ID: "t1", Name: "crm-team", Role: auth.RoleAppAdmin,
		Apps: []string{auth.AppGrant(crm.ID)}})
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"super-admin", ctx, "[crm staff r-crm 1 member(s) removed in the app (bob) wiki Staff (wiki) r-wiki ]"},
		{"app-admin of crm", crmAdmin, "[crm staff r-crm 1 member(s) removed in the app (bob)]"},
	} {
		g, err := admin.GetGroup(tc.ctx, &idsyncv1.GetGroupRequest{Group: staff.ID})
		if err != nil {
			t.Fatalf("GetGroup as %s: %v", tc.name, err)
		}
		var have []string
		for _, a := range g.GetApps() {
			have = append(have, a.GetApp(), a.GetName(), a.GetRemoteId(), a.GetFound())
		}
		if fmt.Sprint(have) != tc.want {
			t.Errorf("group show as %s: apps %v, want %s", tc.name, have, tc.want)
		}
	}

	// A group-admin sees the app's groups that hold its users, and
	// only them: not how many members are no hub users.
	for _, tc := range []struct {
		name, group string
		want        string
	}{
		{"of staff", staff.ID, "[crm-admins [bob] 1 0]"},
		{"of a group without bob", "g-none", "[]"},
	} {
		groupAdmin := auth.WithAdmin(ctx, &store.AdminToken{ID: "t2", Name: "staff-lead", Role: auth.RoleGroupAdmin,
			Groups: []string{tc.group}})
		got, err := w.s.GetApp(groupAdmin, &idsyncv1.GetAppRequest{Name: "crm"})
		if err != nil {
			t.Fatalf("GetApp as the group-admin %s: %v", tc.name, err)
		}
		var have []any
		for _, g := range got.GetApp().GetAppGroups() {
			have = append(have, g.GetName(), g.GetMembers(), g.GetMemberCount(), g.GetUnlinked())
		}
		if fmt.Sprint(have) != tc.want {
			t.Errorf("app groups seen by the group-admin %s = %v, want %s", tc.name, have, tc.want)
		}
	}

	// The app-admin of crm imports from crm, not from wiki.
	_, err = w.s.ImportFromApp(crmAdmin, &idsyncv1.ImportFromAppRequest{Name: "wiki", Groups: true})
	wantCode(t, "ImportFromApp(another's app)", err, codes.PermissionDenied, "wiki")
	imp, err := w.s.ImportFromApp(crmAdmin, &idsyncv1.ImportFromAppRequest{Name: "crm", Groups: true})
	if err != nil {
		t.Fatalf("ImportFromApp(crm, groups) as its app-admin: %v", err)
	}
	if imp.GetGroups() == nil {
		t.Errorf("import with groups = %v, want what the groups' import found", imp)
	}
	if imp, err := w.s.ImportFromApp(ctx, &idsyncv1.ImportFromAppRequest{Name: "crm"}); err != nil || imp.GetGroups() != nil {
		t.Errorf("import without groups = %v, %v; want no groups read", imp, err)
	}
}

// TestAppGroupChangesInScope: what an import or a reconcile found changed
// by hand in an app's copy of a hub group names the users added or removed
// there, who may be outside a group-admin's groups: a group-admin of the
// group is told that it changed, not whom it names, in app show and in
// group show.
func TestAppGroupChangesInScope(t *testing.T) {
	w := newAppWorld(t)
	ctx := t.Context()
	crm, staff := w.groupApp(t, "crm"), w.staff(t)
	if err := w.st.PutPushedGroup(ctx, &store.PushedGroup{AppID: crm.ID, GroupID: staff.ID, RemoteID: "r-crm", DisplayName: "staff"}); err != nil {
		t.Fatal(err)
	}
	const found = "1 member(s) added in the app (zed-of-finance)"
	if err := w.st.NotePushedGroupDrift(ctx, crm.ID, staff.ID, found, time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	lead := auth.WithAdmin(ctx, &store.AdminToken{ID: "t2", Name: "staff-lead", Role: auth.RoleGroupAdmin, Groups: []string{staff.ID}})

	app, err := w.s.GetApp(lead, &idsyncv1.GetAppRequest{Name: "crm"})
	if err != nil {
		t.Fatal(err)
	}
	states := app.GetApp().GetPushedGroupStates()
	if len(states) != 1 || states[0].GetFound() == "" || strings.Contains(states[0].GetFound(), "zed-of-finance") {
		t.Errorf("app show as the group-admin of staff: pushed group states %v, want staff said changed, naming nobody", states)
	}
	g, err := api.NewAdminServer(api.AdminConfig{Store: w.st}).GetGroup(lead, &idsyncv1.GetGroupRequest{Group: staff.ID})
	if err != nil {
		t.Fatal(err)
	}
	if apps := g.GetApps(); len(apps) != 1 || apps[0].GetFound() == "" || strings.Contains(apps[0].GetFound(), "zed-of-finance") {
		t.Errorf("group show as the group-admin of staff: apps %v, want crm said changed, naming nobody", apps)
	}
	if app, err := w.s.GetApp(ctx, &idsyncv1.GetAppRequest{Name: "crm"}); err != nil || app.GetApp().GetPushedGroupStates()[0].GetFound() != found {
		t.Errorf("app show as a super-admin: %v (%v), want %q", app.GetApp().GetPushedGroupStates(), err, found)
	}
}
