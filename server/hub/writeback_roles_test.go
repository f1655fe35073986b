package hub_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/idsync/idsync/internal/pki"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/provision"
	"github.com/idsync/idsync/server/store"
)

// TestAppAdminCannotReachTheDirectory: through the hub's own API, an app
// admin tries each way into the directory a directory target offered
// before write-back was a super-admin's decision, and each is refused:
// turning write-back on or widening it, setting the initial password,
// writing outside the writable OUs, adding members to any group, mapping
// an attribute that grants rights, granting itself local addresses,
// storing a secret a target would carry. Within what a super-admin
// allowed, it configures the target; it never sees the password
// expression.
func TestAppAdminCannotReachTheDirectory(t *testing.T) {
	h := startHub(t)
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	apps := idsyncv1.NewAppServiceClient(h.conn)
	boot := as(ctx, h.boot)
	appAdmin := as(ctx, h.token("apps", auth.RoleAppAdmin, nil, nil))
	const people, admins = "ou=people,dc=example,dc=org", "ou=admins,dc=example,dc=org"
	target := func(edit func(*idsyncv1.App)) *idsyncv1.CreateAppRequest {
		a := &idsyncv1.App{Name: "hq-accounts", DirectoryTarget: &idsyncv1.DirectoryTarget{Directory: "hq", ParentDn: people,
			DisableAttribute: "employeeType=disabled"}}
		if edit != nil {
			edit(a)
		}
		return &idsyncv1.CreateAppRequest{App: a}
	}
	writeBack := func(wb *idsyncv1.WriteBack, fields ...string) *idsyncv1.UpdateDirectoryRequest {
		return &idsyncv1.UpdateDirectoryRequest{Directory: &idsyncv1.Directory{Name: "hq", WriteBack: wb},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: fields}}
	}
	want := func(what string, err error, code codes.Code, text string) {
		t.Helper()
		if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), text) {
			t.Errorf("%s: %v, want %v naming %q", what, err, code, text)
		}
	}

	if _, err := admin.CreateDirectory(boot, &idsyncv1.CreateDirectoryRequest{Directory: &idsyncv1.Directory{Name: "hq",
		Kind: idsyncv1.DirectoryKind_DIRECTORY_KIND_OPENLDAP, BaseDn: "dc=example,dc=org"}}); err != nil {
		t.Fatal(err)
	}
	_, err := apps.CreateApp(appAdmin, target(nil))
	want("a target before write-back", err, codes.InvalidArgument, "not writable")
	_, err = admin.UpdateDirectory(appAdmin, writeBack(&idsyncv1.WriteBack{Ous: []string{"dc=example,dc=org"}}, "write_back.ous"))
	want("an app admin turning write-back on", err, codes.PermissionDenied, "directories.write")
	_, err = admin.UpdateDirectory(appAdmin, writeBack(&idsyncv1.WriteBack{InitialPassword: `"Known-1"`}, "write_back.initial_password"))
	want("an app admin setting the initial password", err, codes.PermissionDenied, "directories.write")

	// The super-admin's decision: people, and a disable group; a
	// password expression; must-change on by default.
	_, err = admin.UpdateDirectory(boot, writeBack(&idsyncv1.WriteBack{Ous: []string{"dc=other"}}, "write_back.ous"))
	want("write-back outside the base DN", err, codes.InvalidArgument, "write_back.ous")
	_, err = admin.UpdateDirectory(boot, writeBack(&idsyncv1.WriteBack{InitialPassword: "lower("}, "write_back.ous", "write_back.initial_password"))
	want("a password expression that does not compile", err, codes.InvalidArgument, "initial_password")
	resp, err := admin.UpdateDirectory(boot, writeBack(&idsyncv1.WriteBack{Ous: []string{people},
		Groups: []string{"cn=disabled,dc=example,dc=org"}, InitialPassword: `"Welcome-" + employee_number`},
		"write_back.ous", "write_back.groups", "write_back.initial_password"))
	if err != nil {
		t.Fatalf("UpdateDirectory(write-back): %v", err)
	}
	if wb := resp.GetDirectory().GetWriteBack(); wb.GetInitialPassword() != "(set)" || !wb.GetMustChangePassword() {
		t.Errorf("write-back shown as %v; want the password as (set) and must-change on", wb)
	}

	for _, c := range []struct {
		name string
		edit func(*idsyncv1.App)
		code codes.Code
		text string
	}{
		{"a parent outside the writable OUs", func(a *idsyncv1.App) { a.DirectoryTarget.ParentDn = admins }, codes.InvalidArgument, "parent_dn"},
		{"the base itself", func(a *idsyncv1.App) { a.DirectoryTarget.ParentDn = "dc=example,dc=org" }, codes.InvalidArgument, "parent_dn"},
		{"a disabled parent outside", func(a *idsyncv1.App) { a.DirectoryTarget.DisabledParentDn = admins }, codes.InvalidArgument, "disabled_parent_dn"},
		{"an admins group as the disable group", func(a *idsyncv1.App) { a.DirectoryTarget.DisableGroupDn = "cn=admins,dc=example,dc=org" },
			codes.InvalidArgument, "disable_group_dn"},
		{"a rights-granting attribute", func(a *idsyncv1.App) {
			a.Mapping = []*idsyncv1.AppMappingRule{{Target: "userName", Expr: "username"},
				{Target: provision.LDAPSchema + ":memberOf", Expr: `"cn=admins,dc=example,dc=org"`}}
		}, codes.InvalidArgument, "mapping rule 2"},
		{"a password attribute", func(a *idsyncv1.App) {
			a.Mapping = []*idsyncv1.AppMappingRule{{Target: "userName", Expr: "username"},
				{Target: provision.LDAPSchema + ":userPassword", Expr: `"Known-1"`}}
		}, codes.InvalidArgument, "mapping rule 2"},
		{"a lock attribute as the disable one", func(a *idsyncv1.App) { a.DirectoryTarget.DisableAttribute = "userPassword=x" },
			codes.InvalidArgument, "disable_attribute"},
		{"local addresses for itself", func(a *idsyncv1.App) { a.AllowLocalAddresses = true }, codes.PermissionDenied, "super-admin"},
	} {
		_, err := apps.CreateApp(appAdmin, target(c.edit))
		want(c.name, err, c.code, c.text)
	}
	req := target(nil)
	req.Secret = "Known-1"
	_, err = apps.CreateApp(appAdmin, req)
	want("a secret on a target", err, codes.InvalidArgument, "secret")

	created, err := apps.CreateApp(appAdmin, target(nil))
	if err != nil {
		t.Fatalf("the app admin's target within the write-back: %v", err)
	}
	if created.GetApp().GetHasSecret() {
		t.Error("a directory target holds a secret")
	}
	// The app admin reads the directory, never the expression.
	got, err := admin.GetDirectory(appAdmin, &idsyncv1.GetDirectoryRequest{Name: "hq"})
	if err != nil || got.GetDirectory().GetWriteBack().GetInitialPassword() != "(set)" {
		t.Errorf("GetDirectory as the app admin: %v, %v; want the password shown as (set)", got.GetDirectory().GetWriteBack(), err)
	}
	// Nor can it move the target out, or turn it into a SCIM app that
	// would send something to a URL of its choosing.
	moved := created.GetApp()
	moved.DirectoryTarget.ParentDn = admins
	_, err = apps.UpdateApp(appAdmin, &idsyncv1.UpdateAppRequest{App: moved, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"directory_target"}}})
	want("moving the target outside", err, codes.InvalidArgument, "parent_dn")
	scim := &idsyncv1.App{Name: "hq-accounts", ScimUrl: "https://evil.example.net/scim", Auth: idsyncv1.AppAuthKind_APP_AUTH_KIND_BEARER}
	_, err = apps.UpdateApp(appAdmin, &idsyncv1.UpdateAppRequest{App: scim,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"directory_target", "scim_url", "auth"}}})
	want("turning the target into a SCIM app without a secret", err, codes.InvalidArgument, "secret")
}

// TestAppAdminGrantsByID: an app-admin limited to apps holds them by id:
// an app removed and added again under its name is another app, which the
// token does not manage (and cannot tell from one that does not exist); a
// token from before, holding app names, is refused at every call.
func TestAppAdminGrantsByID(t *testing.T) {
	const legacy = "idsa_a-token-of-app-names-4c2b1a"
	h := startHub(t, func(st store.Store) {
		if err := st.CreateAdminToken(t.Context(), &store.AdminToken{Name: "old-crm-team", Role: auth.RoleAppAdmin,
			Hash: pki.HashSecret(legacy), Apps: []string{"crm"}}); err != nil {
			t.Fatal(err)
		}
	})
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	apps := idsyncv1.NewAppServiceClient(h.conn)
	boot := as(ctx, h.boot)
	create := func(name string) {
		t.Helper()
		if _, err := apps.CreateApp(boot, &idsyncv1.CreateAppRequest{App: &idsyncv1.App{Name: name,
			ScimUrl: "https://" + name + ".example.com/scim/v2", Auth: idsyncv1.AppAuthKind_APP_AUTH_KIND_BEARER}, Secret: "s"}); err != nil {
			t.Fatalf("CreateApp %s: %v", name, err)
		}
	}
	create("crm")
	crm := as(ctx, h.token("crm-team", auth.RoleAppAdmin, nil, []string{"crm"}))
	if _, err := apps.GetApp(crm, &idsyncv1.GetAppRequest{Name: "crm"}); err != nil {
		t.Fatalf("the granted app: %v", err)
	}
	if _, err := apps.DeleteApp(boot, &idsyncv1.DeleteAppRequest{Name: "crm"}); err != nil {
		t.Fatal(err)
	}
	create("crm")
	_, errNew := apps.GetApp(crm, &idsyncv1.GetAppRequest{Name: "crm"})
	_, errNone := apps.GetApp(crm, &idsyncv1.GetAppRequest{Name: "nosuch"})
	if status.Code(errNew) != codes.PermissionDenied || status.Code(errNone) != codes.PermissionDenied ||
		strings.Replace(status.Convert(errNew).Message(), `"crm"`, `"nosuch"`, 1) != status.Convert(errNone).Message() {
		t.Errorf("a new app under the granted name: %v; one that does not exist: %v; want the same PermissionDenied", errNew, errNone)
	}
	if list, err := apps.ListApps(crm, &idsyncv1.ListAppsRequest{}); err != nil || len(list.GetApps()) != 0 {
		t.Errorf("ListApps as the token of the removed app: %v, %v; want none", list.GetApps(), err)
	}
	tokens, err := admin.ListAdminTokens(boot, &idsyncv1.ListAdminTokensRequest{})
	if err != nil {
		t.Fatal(err)
	}
	shown := map[string][]string{}
	for _, tok := range tokens.GetTokens() {
		shown[tok.GetName()] = tok.GetApps()
	}
	if got := shown["crm-team"]; len(got) != 1 || !strings.Contains(got[0], "(removed)") {
		t.Errorf("crm-team listed with apps %q, want its one app shown as removed", got)
	}
	if got := shown["old-crm-team"]; len(got) != 1 || !strings.Contains(got[0], "grants nothing") {
		t.Errorf("old-crm-team listed with apps %q, want the name marked as granting nothing", got)
	}
	_, err = apps.GetApp(as(ctx, legacy), &idsyncv1.GetAppRequest{Name: "crm"})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "by name") {
		t.Errorf("a token of app names: %v, want PermissionDenied saying it names apps by name", err)
	}
}
