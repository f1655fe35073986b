package hub_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/idsync/idsync/internal/adminconf"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/hub"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// testHub is a hub serving on loopback from a temporary data directory,
// its store seeded before it started.
type testHub struct {
	t    *testing.T
	conn *grpc.ClientConn
	boot string // the bootstrap super-admin token
	dir  string // the data directory
	// labRun is a running full run of directory lab that no agent holds.
	labRun int64
	http   string // the HTTP listener's address
	// stop stops the hub and returns what it returned; again, the same.
	stop func() error
}

// startHub seeds a store with a directory "corp" (users ann, bob, cid;
// groups sales = {ann}, ops = {bob}) and serves it.
func startHub(t *testing.T) *testHub { return startHubWith(t, nil) }

// startHubWith is startHub with tune changing the hub's config first.
func startHubWith(t *testing.T, tune func(*hub.Config)) *testHub {
	t.Helper()
	dir := t.TempDir()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	labRun := seed(t, st)
	st.Close()

	ready := make(chan string, 1)
	httpAddr := make(chan string, 1)
	hctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := hub.Config{DataDir: dir, GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready: func(g, h string) { ready <- g; httpAddr <- h }}
	if tune != nil {
		tune(&cfg)
	}
	go func() { done <- hub.Run(hctx, cfg) }()
	stop := sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("hub: %v", err)
		}
	})
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		done <- err // for stop
		t.Fatalf("hub did not start: %v", err)
	}
	conf, err := adminconf.Read(filepath.Join(dir, "admin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(conf.CA))
	host, _, _ := net.SplitHostPort(addr)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: host})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &testHub{t: t, conn: conn, boot: conf.Token, dir: dir, labRun: labRun, http: <-httpAddr, stop: stop}
}

// seed fills st and returns the id of a running full run of directory
// lab, which no agent holds.
func seed(t *testing.T, st store.Store) int64 {
	ctx := t.Context()
	d := &store.Directory{Name: "corp", Kind: store.KindOpenLDAP, BaseDN: "dc=example,dc=org", SafeguardPercent: 20, SafeguardMax: 500}
	if err := st.CreateDirectory(ctx, d); err != nil {
		t.Fatal(err)
	}
	r := &store.Run{DirectoryID: d.ID, Kind: store.RunIncremental, Trigger: "test"}
	if err := st.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	user := func(name string) *store.Object {
		dn := "uid=" + name + ",dc=example,dc=org"
		return &store.Object{Kind: store.ObjectUser, ExternalID: "ext-" + name, DN: dn, DNKey: strings.ToLower(dn),
			Status: store.StatusActive, Hash: name, Profile: store.Profile{Username: name, Email: name + "@example.org"}}
	}
	group := func(name string, members ...string) *store.Object {
		dn := "cn=" + name + ",dc=example,dc=org"
		g := &store.Object{Kind: store.ObjectGroup, ExternalID: "ext-" + name, DN: dn, DNKey: strings.ToLower(dn),
			Status: store.StatusActive, Hash: name, Name: name, MembersComplete: true}
		for _, m := range members {
			mdn := "uid=" + m + ",dc=example,dc=org"
			g.Members = append(g.Members, store.MemberRef{Value: mdn, Key: "dn:" + strings.ToLower(mdn)})
		}
		return g
	}
	b := &store.Batch{RunID: r.ID, DirectoryID: d.ID, Sequence: 1, Upserts: []*store.Object{
		user("ann"), user("bob"), user("cid"), group("sales", "ann"), group("ops", "bob")}}
	if _, err := st.ApplyBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	lab := &store.Directory{Name: "lab", Kind: store.KindOpenLDAP, BaseDN: "dc=lab,dc=org", SafeguardPercent: 20, SafeguardMax: 500}
	if err := st.CreateDirectory(ctx, lab); err != nil {
		t.Fatal(err)
	}
	labRun := &store.Run{DirectoryID: lab.ID, Kind: store.RunFull, Trigger: "test"}
	if err := st.CreateRun(ctx, labRun); err != nil {
		t.Fatal(err)
	}
	return labRun.ID
}

// as returns a context calling with token.
func as(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// token issues a token through the API with the bootstrap one.
func (h *testHub) token(name, role string, groups, apps []string) string {
	h.t.Helper()
	resp, err := idsyncv1.NewAdminServiceClient(h.conn).CreateAdminToken(as(h.t.Context(), h.boot),
		&idsyncv1.CreateAdminTokenRequest{Name: name, Role: role, Groups: groups, Apps: apps})
	if err != nil {
		h.t.Fatalf("CreateAdminToken %s: %v", name, err)
	}
	return resp.GetSecret()
}

// methods lists every method of the admin-facing services.
func methods(t *testing.T) []protoreflect.MethodDescriptor {
	var out []protoreflect.MethodDescriptor
	for _, f := range []protoreflect.FileDescriptor{idsyncv1.File_idsync_v1_admin_proto, idsyncv1.File_idsync_v1_apps_proto} {
		for i := range f.Services().Len() {
			s := f.Services().Get(i)
			for j := range s.Methods().Len() {
				out = append(out, s.Methods().Get(j))
			}
		}
	}
	if len(out) < 30 {
		t.Fatalf("found %d admin methods; the descriptors are not what this test expects", len(out))
	}
	return out
}

func fullName(m protoreflect.MethodDescriptor) string {
	return "/" + string(m.Parent().FullName()) + "/" + string(m.Name())
}

// call invokes m with an empty request.
func (h *testHub) call(ctx context.Context, m protoreflect.MethodDescriptor) error {
	in, err := protoregistry.GlobalTypes.FindMessageByName(m.Input().FullName())
	if err != nil {
		h.t.Fatal(err)
	}
	out, err := protoregistry.GlobalTypes.FindMessageByName(m.Output().FullName())
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return h.conn.Invoke(ctx, fullName(m), in.New().Interface(), out.New().Interface().(proto.Message))
}

// TestEveryMethodChecksTheRole calls every AdminService and AppService
// method with every role: a role without the method's permission gets
// PermissionDenied naming it; a role with it gets past the check (the
// empty request may then be invalid, which is another code).
func TestEveryMethodChecksTheRole(t *testing.T) {
	h := startHub(t)
	tokens := map[string]string{auth.RoleSuperAdmin: h.boot}
	for _, r := range auth.Roles[1:] {
		var groups []string
		if r == auth.RoleGroupAdmin {
			groups = []string{"sales"}
		}
		tokens[r] = h.token("t-"+r, r, groups, nil)
	}
	for _, m := range methods(t) {
		perm, ok := auth.MethodPermissions[fullName(m)]
		if !ok {
			t.Errorf("%s: no permission in auth.MethodPermissions", fullName(m))
			continue
		}
		for _, role := range auth.Roles {
			t.Run(string(m.Name())+"/"+role, func(t *testing.T) {
				err := h.call(as(t.Context(), tokens[role]), m)
				allowed := auth.Has(&store.AdminToken{Role: role}, perm)
				denied := status.Code(err) == codes.PermissionDenied
				switch {
				case allowed && denied:
					t.Errorf("%s may %s, but the call was refused: %v", role, perm, err)
				case !allowed && !denied:
					t.Errorf("%s lacks %s, but the call got %v, want PermissionDenied", role, perm, err)
				case !allowed && !strings.Contains(status.Convert(err).Message(), string(perm)):
					t.Errorf("refusal %q does not name the permission %s", status.Convert(err).Message(), perm)
				}
			})
		}
	}
	// Roles as the issue defines them, spelled out.
	for _, c := range []struct {
		role  string
		perms []auth.Permission
		not   []auth.Permission
	}{
		{auth.RoleReadOnly, []auth.Permission{auth.PermAuditRead, auth.PermReportsRead, auth.PermUsersRead, auth.PermAppsRead},
			[]auth.Permission{auth.PermAppsWrite, auth.PermAssignmentsWrite, auth.PermAdminsWrite, auth.PermImportsWrite}},
		{auth.RoleAppAdmin, []auth.Permission{auth.PermAppsWrite, auth.PermAssignmentsWrite, auth.PermPushesWrite},
			[]auth.Permission{auth.PermAdminsWrite, auth.PermAgentsWrite, auth.PermDirectoriesWrite}},
		{auth.RoleGroupAdmin, []auth.Permission{auth.PermAssignmentsWrite, auth.PermUsersRead},
			[]auth.Permission{auth.PermAppsWrite, auth.PermAuditRead, auth.PermAgentsRead}},
	} {
		for _, p := range c.perms {
			if !auth.Has(&store.AdminToken{Role: c.role}, p) {
				t.Errorf("%s lacks %s", c.role, p)
			}
		}
		for _, p := range c.not {
			if auth.Has(&store.AdminToken{Role: c.role}, p) {
				t.Errorf("%s has %s", c.role, p)
			}
		}
	}
}

// TestScopes: a group-admin sees and assigns for its groups only; an
// app-admin limited to apps manages those only; refusals are audited; a
// revoked token is refused at its next call.
func TestScopes(t *testing.T) {
	h := startHub(t)
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	apps := idsyncv1.NewAppServiceClient(h.conn)
	boot := as(ctx, h.boot)
	for _, name := range []string{"crm", "wiki"} {
		if _, err := apps.CreateApp(boot, &idsyncv1.CreateAppRequest{
			App:    &idsyncv1.App{Name: name, ScimUrl: "https://" + name + ".example.com/scim/v2", Auth: idsyncv1.AppAuthKind_APP_AUTH_KIND_BEARER},
			Secret: "s3cret-" + name}); err != nil {
			t.Fatalf("CreateApp %s: %v", name, err)
		}
	}
	grp := as(ctx, h.token("helpdesk", auth.RoleGroupAdmin, []string{"sales"}, nil))
	crm := as(ctx, h.token("crm-team", auth.RoleAppAdmin, nil, []string{"crm"}))

	users, err := admin.ListUsers(grp, &idsyncv1.ListUsersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users.GetUsers() {
		names = append(names, u.GetUsername())
	}
	if !slices.Equal(names, []string{"ann"}) {
		t.Errorf("group-admin of sales lists users %q, want [ann]", names)
	}
	groups, err := admin.ListGroups(grp, &idsyncv1.ListGroupsRequest{})
	if err != nil || len(groups.GetGroups()) != 1 || groups.GetGroups()[0].GetName() != "sales" {
		t.Errorf("group-admin lists groups %v (%v), want [sales]", groups.GetGroups(), err)
	}

	cases := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"group-admin sees a user of its group", func() error {
			_, err := admin.GetUser(grp, &idsyncv1.GetUserRequest{User: "ann"})
			return err
		}, codes.OK},
		{"group-admin does not see another user", func() error {
			_, err := admin.GetUser(grp, &idsyncv1.GetUserRequest{User: "bob"})
			return err
		}, codes.PermissionDenied},
		{"group-admin does not see another group", func() error {
			_, err := admin.GetGroup(grp, &idsyncv1.GetGroupRequest{Group: "ops"})
			return err
		}, codes.PermissionDenied},
		{"group-admin assigns its group", func() error {
			_, err := apps.AssignApp(grp, &idsyncv1.AssignAppRequest{Name: "wiki", Group: "sales"})
			return err
		}, codes.OK},
		{"group-admin unassigns its group", func() error {
			_, err := apps.UnassignApp(grp, &idsyncv1.UnassignAppRequest{Name: "wiki", Group: "sales"})
			return err
		}, codes.OK},
		{"group-admin may not assign another group", func() error {
			_, err := apps.AssignApp(grp, &idsyncv1.AssignAppRequest{Name: "wiki", Group: "ops"})
			return err
		}, codes.PermissionDenied},
		{"group-admin may not assign a user", func() error {
			_, err := apps.AssignApp(grp, &idsyncv1.AssignAppRequest{Name: "wiki", User: "ann"})
			return err
		}, codes.PermissionDenied},
		{"group-admin may not change an app", func() error {
			_, err := apps.UpdateApp(grp, &idsyncv1.UpdateAppRequest{App: &idsyncv1.App{Name: "wiki"}, Fields: []string{"scim_url"}})
			return err
		}, codes.PermissionDenied},
		{"app-admin assigns in its app", func() error {
			_, err := apps.AssignApp(crm, &idsyncv1.AssignAppRequest{Name: "crm", Group: "ops"})
			return err
		}, codes.OK},
		{"app-admin may not touch another app", func() error {
			_, err := apps.AssignApp(crm, &idsyncv1.AssignAppRequest{Name: "wiki", Group: "ops"})
			return err
		}, codes.PermissionDenied},
		{"app-admin may not read another app", func() error {
			_, err := apps.GetApp(crm, &idsyncv1.GetAppRequest{Name: "wiki"})
			return err
		}, codes.PermissionDenied},
		{"app-admin limited to apps may not add one", func() error {
			_, err := apps.CreateApp(crm, &idsyncv1.CreateAppRequest{
				App: &idsyncv1.App{Name: "new", ScimUrl: "https://new.example.com/scim/v2", Auth: idsyncv1.AppAuthKind_APP_AUTH_KIND_BEARER}, Secret: "x"})
			return err
		}, codes.PermissionDenied},
	}
	for _, c := range cases {
		if got := status.Code(c.call()); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	list, err := apps.ListApps(crm, &idsyncv1.ListAppsRequest{})
	if err != nil || len(list.GetApps()) != 1 || list.GetApps()[0].GetName() != "crm" {
		t.Errorf("app-admin of crm lists %v (%v), want [crm]", list.GetApps(), err)
	}

	// Refusals and actions are in the audit trail, with the token's name.
	refused, err := admin.ListAuditEvents(boot, &idsyncv1.ListAuditEventsRequest{Outcome: store.AuditRefused})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(refused.GetEvents(), func(e *idsyncv1.AuditEvent) bool {
		return e.GetActor() == "admin:helpdesk" && e.GetTarget() == "/idsync.v1.AppService/UpdateApp"
	}) {
		t.Errorf("no refused UpdateApp by admin:helpdesk in the audit trail: %v", refused.GetEvents())
	}
	assigned, err := admin.ListAuditEvents(boot, &idsyncv1.ListAuditEventsRequest{Action: "app.assign", Actor: "admin:crm-team"})
	if err != nil || len(assigned.GetEvents()) != 1 || assigned.GetEvents()[0].GetTarget() != "app:crm" {
		t.Errorf("app.assign events by crm-team: %v (%v), want one on app:crm", assigned.GetEvents(), err)
	}

	// Revoked: the next call is refused.
	if _, err := admin.RevokeAdminToken(boot, &idsyncv1.RevokeAdminTokenRequest{Token: "helpdesk"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.ListUsers(grp, &idsyncv1.ListUsersRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("revoked token: %v, want Unauthenticated", err)
	}
}
