package hub_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
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
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/idsync/idsync/internal/adminconf"
	"github.com/idsync/idsync/internal/pki"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/hub"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// testHub is a hub serving on loopback from a temporary data directory,
// its store seeded before it started.
type testHub struct {
	t    testing.TB
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
// groups sales = {ann}, ops = {bob}) and an empty directory "lab", lets
// more seed it, and serves it.
func startHub(t testing.TB, more ...func(store.Store)) *testHub { return startHubWith(t, nil, more...) }

// startHubWith is startHub with tune changing the hub's config first.
func startHubWith(t testing.TB, tune func(*hub.Config), more ...func(store.Store)) *testHub {
	t.Helper()
	dir := t.TempDir()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	labRun := seed(t, st)
	for _, m := range more {
		m(st)
	}
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
	conf, err := adminconf.Read(filepath.Join(cfg.DataDir, "admin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(conf.CA))
	// At the address it listens on; on a wildcard, at admin.conf's, as
	// idsyncctl reaches it.
	host, _, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		addr = conf.Hub
		host, _, _ = net.SplitHostPort(addr)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: host})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &testHub{t: t, conn: conn, boot: conf.Token, dir: cfg.DataDir, labRun: labRun, http: <-httpAddr, stop: stop}
}

// seed fills st and returns the id of a running full run of directory
// lab, which no agent holds.
func seed(t testing.TB, st store.Store) int64 {
	ctx := t.Context()
	d := &store.Directory{Name: "corp", Kind: store.KindOpenLDAP, BaseDN: "dc=example,dc=org", SafeguardPercent: 20, SafeguardMax: 500}
	if err := st.CreateDirectory(ctx, d); err != nil {
		t.Fatal(err)
	}
	r := &store.Run{DirectoryID: d.ID, Kind: store.RunIncremental, Trigger: "test"}
	if err := st.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	b := &store.Batch{RunID: r.ID, DirectoryID: d.ID, Sequence: 1, Upserts: []*store.Object{
		seedUser("ann", "dc=example,dc=org"), seedUser("bob", "dc=example,dc=org"), seedUser("cid", "dc=example,dc=org"),
		seedGroup("sales", "dc=example,dc=org", "ann"), seedGroup("ops", "dc=example,dc=org", "bob")}}
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

// seedUser is user uid=name under parent, for a batch.
func seedUser(name, parent string) *store.Object {
	dn := "uid=" + name + "," + parent
	return &store.Object{Kind: store.ObjectUser, ExternalID: "ext-" + name, DN: dn, DNKey: strings.ToLower(dn),
		Status: store.StatusActive, Hash: name, Profile: store.Profile{Username: name, Email: name + "@example.org"}}
}

// seedGroup is group cn=name under parent whose members are users of
// parent, for a batch.
func seedGroup(name, parent string, members ...string) *store.Object {
	dn := "cn=" + name + "," + parent
	g := &store.Object{Kind: store.ObjectGroup, ExternalID: "ext-" + dn, DN: dn, DNKey: strings.ToLower(dn),
		Status: store.StatusActive, Hash: dn, Name: name, MembersComplete: true}
	for _, m := range members {
		mdn := "uid=" + m + "," + parent
		g.Members = append(g.Members, store.MemberRef{Value: mdn, Key: "dn:" + strings.ToLower(mdn)})
	}
	return g
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
			groups = []string{"corp/sales"}
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
		{auth.RoleReadOnly, []auth.Permission{auth.PermAuditRead, auth.PermReportsRead, auth.PermUsersRead, auth.PermAppsRead, auth.PermGroupsRead},
			[]auth.Permission{auth.PermAppsWrite, auth.PermAssignmentsWrite, auth.PermAdminsWrite, auth.PermImportsWrite, auth.PermRulesWrite}},
		{auth.RoleAppAdmin, []auth.Permission{auth.PermAppsWrite, auth.PermAssignmentsWrite, auth.PermPushesWrite},
			[]auth.Permission{auth.PermAdminsWrite, auth.PermAgentsWrite, auth.PermDirectoriesWrite, auth.PermRulesWrite}},
		{auth.RoleGroupAdmin, []auth.Permission{auth.PermAssignmentsWrite, auth.PermUsersRead, auth.PermUsersLifecycle, auth.PermGroupsRead},
			[]auth.Permission{auth.PermAppsWrite, auth.PermAuditRead, auth.PermAgentsRead, auth.PermUsersWrite, auth.PermRulesWrite}},
		{auth.RoleReadOnly, nil, []auth.Permission{auth.PermUsersLifecycle, auth.PermUsersWrite}},
		{auth.RoleAppAdmin, nil, []auth.Permission{auth.PermUsersLifecycle, auth.PermUsersWrite}},
		{auth.RoleAuthn, []auth.Permission{auth.PermAuthenticate}, []auth.Permission{auth.PermRulesWrite, auth.PermGroupsRead}},
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

// lookalikes adds to the seeded store what a group-admin of corp/sales
// must not reach though it looks like its group: a group "sales" in
// directory east (user eve), a group "SALES" in corp (user cy), and two
// groups "staff" in east.
func lookalikes(t *testing.T) func(store.Store) {
	return func(st store.Store) {
		ctx := t.Context()
		corp, corpRun := seededCorp(t, st)
		east := &store.Directory{Name: "east", Kind: store.KindOpenLDAP, BaseDN: "dc=east,dc=org", SafeguardPercent: 20, SafeguardMax: 500}
		if err := st.CreateDirectory(ctx, east); err != nil {
			t.Fatal(err)
		}
		eastRun := &store.Run{DirectoryID: east.ID, Kind: store.RunIncremental, Trigger: "test"}
		if err := st.CreateRun(ctx, eastRun); err != nil {
			t.Fatal(err)
		}
		for _, b := range []*store.Batch{
			{RunID: corpRun, DirectoryID: corp.ID, Sequence: 2, Upserts: []*store.Object{
				seedUser("cy", "ou=west,dc=example,dc=org"), seedGroup("SALES", "ou=west,dc=example,dc=org", "cy")}},
			{RunID: eastRun.ID, DirectoryID: east.ID, Sequence: 1, Upserts: []*store.Object{
				seedUser("eve", "dc=east,dc=org"), seedGroup("sales", "dc=east,dc=org", "eve"),
				seedGroup("staff", "ou=a,dc=east,dc=org"), seedGroup("staff", "ou=b,dc=east,dc=org")}},
		} {
			if _, err := st.ApplyBatch(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// seededCorp returns directory corp and the id of the run seed made it
// with, for more of its objects (the next sequence is 2).
func seededCorp(t *testing.T, st store.Store) (*store.Directory, int64) {
	t.Helper()
	corp, err := st.GetDirectory(t.Context(), "corp")
	if err != nil {
		t.Fatal(err)
	}
	runs, err := st.ListRuns(t.Context(), store.RunFilter{DirectoryID: corp.ID})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs of corp: %v (%v), want the seeded one", runs, err)
	}
	return corp, runs[0].ID
}

// groupIDs maps DIRECTORY/NAME to the group's id, as a super-admin lists
// them (the names are unique in the seeded store but for east/staff).
func (h *testHub) groupIDs() map[string]string {
	h.t.Helper()
	resp, err := idsyncv1.NewAdminServiceClient(h.conn).ListGroups(as(h.t.Context(), h.boot), &idsyncv1.ListGroupsRequest{})
	if err != nil {
		h.t.Fatal(err)
	}
	ids := map[string]string{}
	for _, g := range resp.GetGroups() {
		ids[g.GetDirectory()+"/"+g.GetName()] = g.GetId()
	}
	return ids
}

// TestScopes: a group-admin sees and assigns for its group only — by id:
// a group of the same name in another directory, or in another case,
// grants nothing — and cannot tell an object outside its group from one
// that does not exist; an app-admin limited to apps manages those only;
// refusals are audited; a revoked token is refused at its next call.
func TestScopes(t *testing.T) {
	h := startHub(t, lookalikes(t))
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
	ids := h.groupIDs()
	// The lookalikes are in the wiki app, so that app show could name them.
	for _, g := range []string{"corp/SALES", "east/sales", "corp/ops"} {
		if _, err := apps.AssignApp(boot, &idsyncv1.AssignAppRequest{Name: "wiki", Group: ids[g]}); err != nil {
			t.Fatalf("assigning %s: %v", g, err)
		}
	}
	grp := as(ctx, h.token("helpdesk", auth.RoleGroupAdmin, []string{"corp/sales"}, nil))
	crm := as(ctx, h.token("crm-team", auth.RoleAppAdmin, nil, []string{"crm"}))

	users, err := admin.ListUsers(grp, &idsyncv1.ListUsersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users.GetUsers() {
		names = append(names, u.GetDirectory()+"/"+u.GetUsername())
	}
	if !slices.Equal(names, []string{"corp/ann"}) {
		t.Errorf("group-admin of corp/sales lists users %q, want [corp/ann] (not cy of corp/SALES, not eve of east/sales)", names)
	}
	groups, err := admin.ListGroups(grp, &idsyncv1.ListGroupsRequest{})
	if err != nil || len(groups.GetGroups()) != 1 || groups.GetGroups()[0].GetId() != ids["corp/sales"] {
		t.Errorf("group-admin lists groups %v (%v), want corp/sales (%s) alone", groups.GetGroups(), err, ids["corp/sales"])
	}
	wiki, err := apps.GetApp(grp, &idsyncv1.GetAppRequest{Name: "wiki"})
	if err != nil || len(wiki.GetApp().GetAssignments()) != 0 {
		t.Errorf("group-admin's app show wiki: assignments %v (%v), want none of the groups it does not act for", wiki.GetApp().GetAssignments(), err)
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
		{"group-admin sees its group, by id", func() error {
			_, err := admin.GetGroup(grp, &idsyncv1.GetGroupRequest{Group: ids["corp/sales"]})
			return err
		}, codes.OK},
		{"group-admin does not see another user", func() error {
			_, err := admin.GetUser(grp, &idsyncv1.GetUserRequest{User: "bob"})
			return err
		}, codes.NotFound},
		{"group-admin does not see another group", func() error {
			_, err := admin.GetGroup(grp, &idsyncv1.GetGroupRequest{Group: "ops"})
			return err
		}, codes.NotFound},
		{"group-admin does not see the group of its group's name in another directory", func() error {
			_, err := admin.GetGroup(grp, &idsyncv1.GetGroupRequest{Group: ids["east/sales"]})
			return err
		}, codes.NotFound},
		{"group-admin does not see the group of its group's name in another case", func() error {
			_, err := admin.GetGroup(grp, &idsyncv1.GetGroupRequest{Group: ids["corp/SALES"]})
			return err
		}, codes.NotFound},
		{"group-admin does not see a user of the same-named group in another directory", func() error {
			_, err := admin.GetUser(grp, &idsyncv1.GetUserRequest{User: "eve"})
			return err
		}, codes.NotFound},
		{"group-admin does not see a user of the group named in another case", func() error {
			_, err := admin.GetUser(grp, &idsyncv1.GetUserRequest{User: "cy"})
			return err
		}, codes.NotFound},
		{"group-admin assigns its group", func() error {
			_, err := apps.AssignApp(grp, &idsyncv1.AssignAppRequest{Name: "crm", Group: "sales", Directory: "corp"})
			return err
		}, codes.OK},
		{"group-admin unassigns its group", func() error {
			_, err := apps.UnassignApp(grp, &idsyncv1.UnassignAppRequest{Name: "crm", Group: ids["corp/sales"]})
			return err
		}, codes.OK},
		{"group-admin may not assign another group", func() error {
			_, err := apps.AssignApp(grp, &idsyncv1.AssignAppRequest{Name: "crm", Group: "ops"})
			return err
		}, codes.NotFound},
		{"group-admin may not assign the group of its group's name in another directory", func() error {
			_, err := apps.AssignApp(grp, &idsyncv1.AssignAppRequest{Name: "crm", Group: ids["east/sales"]})
			return err
		}, codes.NotFound},
		{"group-admin may not assign it by name either", func() error {
			_, err := apps.AssignApp(grp, &idsyncv1.AssignAppRequest{Name: "crm", Group: "sales", Directory: "east"})
			return err
		}, codes.NotFound},
		{"group-admin may not assign the group named in another case", func() error {
			_, err := apps.AssignApp(grp, &idsyncv1.AssignAppRequest{Name: "crm", Group: ids["corp/SALES"]})
			return err
		}, codes.NotFound},
		{"group-admin may not unassign the group named in another case", func() error {
			_, err := apps.UnassignApp(grp, &idsyncv1.UnassignAppRequest{Name: "wiki", Group: ids["corp/SALES"]})
			return err
		}, codes.NotFound},
		{"group-admin may not assign a user", func() error {
			_, err := apps.AssignApp(grp, &idsyncv1.AssignAppRequest{Name: "wiki", User: "ann"})
			return err
		}, codes.PermissionDenied},
		{"group-admin may not change an app", func() error {
			_, err := apps.UpdateApp(grp, &idsyncv1.UpdateAppRequest{App: &idsyncv1.App{Name: "wiki"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"scim_url"}}})
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
		if err := c.call(); status.Code(err) != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}

	// Outside its group is as absent as what does not exist: every method
	// a group-admin may call answers the one as the other, code and
	// message alike but for the name asked.
	bob, err := admin.GetUser(boot, &idsyncv1.GetUserRequest{User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	const noID = "01890000-0000-7000-8000-000000000000"
	for _, c := range []struct {
		name            string
		call            func(ref string) error
		outside, absent string
	}{
		{"user show, by name", func(ref string) error {
			_, err := admin.GetUser(grp, &idsyncv1.GetUserRequest{User: ref})
			return err
		}, "bob", "nobody"},
		{"user show, by id", func(ref string) error {
			_, err := admin.GetUser(grp, &idsyncv1.GetUserRequest{User: ref})
			return err
		}, bob.GetUser().GetId(), noID},
		{"user show, a user of the same-named group of another directory", func(ref string) error {
			_, err := admin.GetUser(grp, &idsyncv1.GetUserRequest{User: ref})
			return err
		}, "eve", "nobody"},
		{"user show in a directory", func(ref string) error {
			_, err := admin.GetUser(grp, &idsyncv1.GetUserRequest{User: "eve", Directory: ref})
			return err
		}, "east", "west"},
		{"user list of a directory", func(ref string) error {
			_, err := admin.ListUsers(grp, &idsyncv1.ListUsersRequest{Directory: ref})
			return err
		}, "east", "west"},
		{"group list of a directory", func(ref string) error {
			_, err := admin.ListGroups(grp, &idsyncv1.ListGroupsRequest{Directory: ref})
			return err
		}, "east", "west"},
		{"group show, by name", func(ref string) error {
			_, err := admin.GetGroup(grp, &idsyncv1.GetGroupRequest{Group: ref})
			return err
		}, "ops", "nogroup"},
		{"group show, by id", func(ref string) error {
			_, err := admin.GetGroup(grp, &idsyncv1.GetGroupRequest{Group: ref})
			return err
		}, ids["east/sales"], noID},
		{"group show, a name in several groups of a directory", func(ref string) error {
			_, err := admin.GetGroup(grp, &idsyncv1.GetGroupRequest{Group: ref})
			return err
		}, "staff", "nogroup"},
		{"app preview", func(ref string) error {
			_, err := apps.PreviewApp(grp, &idsyncv1.PreviewAppRequest{Name: "wiki", User: ref})
			return err
		}, "bob", "nobody"},
		{"app assign, a group", func(ref string) error {
			_, err := apps.AssignApp(grp, &idsyncv1.AssignAppRequest{Name: "wiki", Group: ref})
			return err
		}, "ops", "nogroup"},
		{"app assign, a group of a directory", func(ref string) error {
			_, err := apps.AssignApp(grp, &idsyncv1.AssignAppRequest{Name: "wiki", Group: "sales", Directory: ref})
			return err
		}, "east", "west"},
		{"app unassign, a group", func(ref string) error {
			_, err := apps.UnassignApp(grp, &idsyncv1.UnassignAppRequest{Name: "wiki", Group: ref})
			return err
		}, ids["corp/ops"], noID},
		{"app assign, a user", func(ref string) error {
			_, err := apps.AssignApp(grp, &idsyncv1.AssignAppRequest{Name: "wiki", User: ref})
			return err
		}, "bob", "nobody"},
	} {
		t.Run(c.name, func(t *testing.T) {
			outside, absent := status.Convert(c.call(c.outside)), status.Convert(c.call(c.absent))
			if outside.Code() == codes.OK || outside.Code() != absent.Code() ||
				strings.ReplaceAll(outside.Message(), c.outside, "REF") != strings.ReplaceAll(absent.Message(), c.absent, "REF") {
				t.Errorf("outside its group %q: %v %q; absent %q: %v %q; want the same answer", c.outside, outside.Code(), outside.Message(),
					c.absent, absent.Code(), absent.Message())
			}
		})
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

// TestGroupAdminGrant: a group-admin token names each group as
// DIRECTORY/GROUP or by id, and each must find exactly one group; the
// token keeps the ids and is listed with DIRECTORY/NAME. A token from
// before grants were by id, which holds group names, is refused at every
// call with what to do instead.
func TestGroupAdminGrant(t *testing.T) {
	const legacy = "idsa_a-token-of-names-0f3b9c1d2e"
	h := startHub(t, lookalikes(t), func(st store.Store) {
		if err := st.CreateAdminToken(t.Context(), &store.AdminToken{Name: "old-helpdesk", Role: auth.RoleGroupAdmin,
			Hash: pki.HashSecret(legacy), Groups: []string{"sales"}}); err != nil {
			t.Fatal(err)
		}
	})
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	boot := as(ctx, h.boot)
	ids := h.groupIDs()
	const noID = "01890000-0000-7000-8000-000000000000"
	for i, c := range []struct {
		name    string
		groups  []string
		want    codes.Code
		wantIDs []string // on success
		labels  []string // on success
		naming  []string // in the refusal
	}{
		{"directory and name", []string{"corp/sales"}, codes.OK, []string{ids["corp/sales"]}, []string{"corp/sales"}, nil},
		{"the name as written, where another differs in case only", []string{"corp/SALES"}, codes.OK,
			[]string{ids["corp/SALES"]}, []string{"corp/SALES"}, nil},
		{"a name in another case, where no other differs in case only", []string{"corp/OPS"}, codes.OK,
			[]string{ids["corp/ops"]}, []string{"corp/ops"}, nil},
		{"an id", []string{ids["east/sales"]}, codes.OK, []string{ids["east/sales"]}, []string{"east/sales"}, nil},
		{"two groups, one twice", []string{"corp/sales", " east/sales", ids["corp/sales"]}, codes.OK,
			[]string{ids["corp/sales"], ids["east/sales"]}, []string{"corp/sales", "east/sales"}, nil},
		{"a name alone", []string{"sales"}, codes.InvalidArgument, nil, nil, []string{`"sales"`, "DIRECTORY/GROUP"}},
		{"an unknown group", []string{"corp/nosuch"}, codes.NotFound, nil, nil, []string{"corp/nosuch"}},
		{"an unknown directory", []string{"west/sales"}, codes.NotFound, nil, nil, []string{"west/sales", `directory "west"`}},
		{"an unknown id", []string{noID}, codes.NotFound, nil, nil, []string{noID}},
		{"two groups of the name in one directory", []string{"east/staff"}, codes.InvalidArgument, nil, nil,
			[]string{"east/staff", "cn=staff,ou=a,dc=east,dc=org", "cn=staff,ou=b,dc=east,dc=org"}},
		{"one unknown among known", []string{"corp/sales", "corp/nosuch"}, codes.NotFound, nil, nil, []string{"corp/nosuch"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := admin.CreateAdminToken(boot, &idsyncv1.CreateAdminTokenRequest{
				Name: fmt.Sprintf("grant-%d", i), Role: auth.RoleGroupAdmin, Groups: c.groups})
			if status.Code(err) != c.want {
				t.Fatalf("CreateAdminToken --groups %q: %v, want %v", c.groups, err, c.want)
			}
			if err != nil {
				for _, n := range c.naming {
					if !strings.Contains(status.Convert(err).Message(), n) {
						t.Errorf("refusal %q does not name %s", status.Convert(err).Message(), n)
					}
				}
				return
			}
			if got := resp.GetToken(); !slices.Equal(got.GetGroupIds(), c.wantIDs) || !slices.Equal(got.GetGroups(), c.labels) {
				t.Errorf("token grants %q %q, want %q %q", got.GetGroupIds(), got.GetGroups(), c.wantIDs, c.labels)
			}
		})
	}

	// The token of names: listed as such, refused at every call (and the
	// refusal audited), never read as the groups now called so.
	list, err := admin.ListAdminTokens(boot, &idsyncv1.ListAdminTokensRequest{})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list.GetTokens(), func(tok *idsyncv1.AdminToken) bool { return tok.GetName() == "old-helpdesk" })
	if i < 0 || len(list.GetTokens()[i].GetGroupIds()) != 0 || len(list.GetTokens()[i].GetGroups()) != 1 ||
		!strings.HasPrefix(list.GetTokens()[i].GetGroups()[0], "sales (a name: grants nothing") {
		t.Errorf("admin token list: %v, want old-helpdesk with its group marked as a name that grants nothing", list.GetTokens())
	}
	old := as(ctx, legacy)
	for what, call := range map[string]func() error{
		"user list": func() error { _, err := admin.ListUsers(old, &idsyncv1.ListUsersRequest{}); return err },
		"group show": func() error {
			_, err := admin.GetGroup(old, &idsyncv1.GetGroupRequest{Group: "sales", Directory: "corp"})
			return err
		},
		"app assign": func() error {
			_, err := idsyncv1.NewAppServiceClient(h.conn).AssignApp(old, &idsyncv1.AssignAppRequest{Name: "crm", Group: "sales"})
			return err
		},
	} {
		err := call()
		if msg := status.Convert(err).Message(); status.Code(err) != codes.PermissionDenied ||
			!strings.Contains(msg, `"old-helpdesk"`) || !strings.Contains(msg, "--groups DIRECTORY/GROUP") {
			t.Errorf("%s with a token of group names: %v, want PermissionDenied naming the token and --groups DIRECTORY/GROUP", what, err)
		}
	}
	refused, err := admin.ListAuditEvents(boot, &idsyncv1.ListAuditEventsRequest{Outcome: store.AuditRefused, Actor: "admin:old-helpdesk"})
	if err != nil || len(refused.GetEvents()) != 3 {
		t.Errorf("refusals of old-helpdesk in the audit trail: %v (%v), want 3", refused.GetEvents(), err)
	}
}

// TestReportsFollowPermissions: a report shows what a permission guards,
// so reading it needs that permission besides reports.read: an app-admin,
// which reads neither imports nor agents, is refused those reports (and
// the refusal audited) and reads the others; read-only reads them all.
func TestReportsFollowPermissions(t *testing.T) {
	h := startHub(t)
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	appAdmin := as(ctx, h.token("apps-team", auth.RoleAppAdmin, nil, nil))
	reader := as(ctx, h.token("auditor", auth.RoleReadOnly, nil, nil))
	refused := map[string]auth.Permission{"imports": auth.PermImportsRead, "agents": auth.PermAgentsRead}
	for _, name := range []string{"users", "app-usage", "pending-deprovisions", "failed-pushes", "imports", "agents", "upcoming-purges"} {
		_, err := admin.GetReport(appAdmin, &idsyncv1.GetReportRequest{Name: name})
		if p, ok := refused[name]; ok {
			if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), string(p)) {
				t.Errorf("report %s as an app-admin: %v, want PermissionDenied naming %s", name, err, p)
			}
		} else if err != nil {
			t.Errorf("report %s as an app-admin: %v", name, err)
		}
		if _, err := admin.GetReport(reader, &idsyncv1.GetReportRequest{Name: name}); err != nil {
			t.Errorf("report %s as read-only: %v", name, err)
		}
	}
	ev, err := admin.ListAuditEvents(as(ctx, h.boot), &idsyncv1.ListAuditEventsRequest{Outcome: store.AuditRefused, Actor: "admin:apps-team"})
	if err != nil || len(ev.GetEvents()) != 2 {
		t.Errorf("refusals of apps-team in the audit trail: %v (%v), want 2", ev.GetEvents(), err)
	}
}
