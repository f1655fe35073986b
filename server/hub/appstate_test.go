package hub_test

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/idsync/idsync/internal/eventually"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/store"
)

// crmAccounts seeds app crm (no assignment and no secret: nothing is
// pushed) with an account for each of corp's users ann, bob and cid.
func crmAccounts(t *testing.T) func(store.Store) {
	return func(st store.Store) {
		ctx := t.Context()
		a := &store.App{Name: "crm", SCIMURL: "https://crm.example.org/scim/v2", AuthKind: "bearer",
			AllowCreate: true, AllowUpdate: true, AllowDeactivate: true}
		if err := st.CreateApp(ctx, a); err != nil {
			t.Fatal(err)
		}
		corp, err := st.GetDirectory(ctx, "corp")
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range []string{"ann", "bob", "cid"} {
			us, err := st.FindUsers(ctx, corp.ID, name)
			if err != nil || len(us) != 1 {
				t.Fatalf("user %s: %v (%v)", name, us, err)
			}
			state := store.AccountActive
			if name == "bob" {
				state = store.AccountDeactivated
			}
			if err := st.PutAccount(ctx, &store.Account{AppID: a.ID, UserID: us[0].ID, RemoteID: fmt.Sprint("r-", i),
				State: state}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestPauseResumeAndAccounts: an app-admin pauses an app (its status
// says who and why, audited) and resumes it; a group-admin may do
// neither; an app's accounts are listed by pages with their state, by
// state, and a group-admin sees those of its groups' users only.
func TestPauseResumeAndAccounts(t *testing.T) {
	h := startHub(t, crmAccounts(t))
	ctx := t.Context()
	apps := idsyncv1.NewAppServiceClient(h.conn)
	boot := as(ctx, h.boot)
	if _, err := apps.CreateApp(boot, &idsyncv1.CreateAppRequest{App: &idsyncv1.App{Name: "erp", ScimUrl: "https://erp.example.org/scim/v2",
		Auth: idsyncv1.AppAuthKind_APP_AUTH_KIND_BEARER}, Secret: "s3cret"}); err != nil {
		t.Fatalf("CreateApp erp: %v", err)
	}
	erp := as(ctx, h.token("erp-team", auth.RoleAppAdmin, nil, []string{"erp"}))
	grp := as(ctx, h.token("helpdesk", auth.RoleGroupAdmin, []string{h.groupIDs()["corp/sales"]}, nil))

	p, err := apps.PauseApp(erp, &idsyncv1.PauseAppRequest{Name: "erp", Reason: "maintenance window"})
	if err != nil {
		t.Fatalf("PauseApp: %v", err)
	}
	if a := p.GetApp(); a.GetStatus() != "paused" || a.GetStatusMessage() != "paused by admin:erp-team: maintenance window" {
		t.Errorf("erp after pause: %s %q, want paused by admin:erp-team: maintenance window", a.GetStatus(), a.GetStatusMessage())
	}
	_, err = apps.ResumeApp(grp, &idsyncv1.ResumeAppRequest{Name: "erp"})
	wantCode(t, "a group-admin resumes an app", err, codes.PermissionDenied)
	_, err = apps.PauseApp(erp, &idsyncv1.PauseAppRequest{Name: "erp", Reason: "bad\x1b[2J"})
	wantCode(t, "a reason with an escape sequence", err, codes.InvalidArgument)
	r, err := apps.ResumeApp(erp, &idsyncv1.ResumeAppRequest{Name: "erp"})
	if err != nil || r.GetApp().GetStatus() != "active" || r.GetApp().GetStatusMessage() != "" {
		t.Errorf("ResumeApp: %v (%v), want active", r.GetApp(), err)
	}
	_, err = apps.PauseApp(erp, &idsyncv1.PauseAppRequest{Name: "crm"})
	wantCode(t, "an app-admin pauses an app that is not its", err, codes.PermissionDenied)
	eventually.That(t, "pause and resume in the audit trail", func() (bool, string) {
		ev, err := idsyncv1.NewAdminServiceClient(h.conn).ListAuditEvents(boot, &idsyncv1.ListAuditEventsRequest{Target: "app:erp"})
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, e := range ev.GetEvents() {
			got = append(got, e.GetActor()+" "+e.GetAction()+" "+e.GetDetail())
		}
		all := strings.Join(got, "; ")
		return strings.Contains(all, "admin:erp-team app.pause ") && strings.Contains(all, "; maintenance window") &&
			strings.Contains(all, "admin:erp-team app.resume "), all
	})

	var users []string
	req := &idsyncv1.ListAccountsRequest{App: "crm", PageSize: 2}
	for page := 0; ; page++ {
		resp, err := apps.ListAccounts(boot, req)
		if err != nil {
			t.Fatalf("ListAccounts page %d: %v", page, err)
		}
		if len(resp.GetAccounts()) > 2 {
			t.Errorf("page %d holds %d accounts, want at most 2", page, len(resp.GetAccounts()))
		}
		for _, a := range resp.GetAccounts() {
			users = append(users, a.GetUser()+"="+a.GetState())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if all := strings.Join(users, " "); len(users) != 3 || !strings.Contains(all, "corp/ann=active") || !strings.Contains(all, "corp/bob=deactivated") {
		t.Errorf("the accounts of crm by pages: %v, want ann, bob (deactivated) and cid", users)
	}
	if resp, err := apps.ListAccounts(boot, &idsyncv1.ListAccountsRequest{App: "crm", State: "deactivated"}); err != nil ||
		len(resp.GetAccounts()) != 1 || resp.GetAccounts()[0].GetUser() != "corp/bob" {
		t.Errorf("deactivated accounts of crm: %v (%v), want bob's", resp.GetAccounts(), err)
	}
	_, err = apps.ListAccounts(boot, &idsyncv1.ListAccountsRequest{App: "crm", State: "gone"})
	wantCode(t, "an unknown state", err, codes.InvalidArgument)
	if resp, err := apps.ListAccounts(grp, &idsyncv1.ListAccountsRequest{App: "crm"}); err != nil ||
		len(resp.GetAccounts()) != 1 || resp.GetAccounts()[0].GetUser() != "corp/ann" {
		t.Errorf("crm's accounts seen by the group-admin of sales: %v (%v), want ann's alone", resp.GetAccounts(), err)
	}
}

// TestMappingFieldsAreKnown: a mapping an admin writes, on create or
// update, is refused when an expression reads a field the hub does not
// have, naming the rule, the field and the nearest name.
func TestMappingFieldsAreKnown(t *testing.T) {
	h := startHub(t)
	apps := idsyncv1.NewAppServiceClient(h.conn)
	boot := as(t.Context(), h.boot)
	typo := []*idsyncv1.AppMappingRule{{Target: "userName", Expr: "email"}, {Target: "title", Expr: "titel"}}
	const want = `mapping rule 2 (title): expression "titel": unknown field "titel" (did you mean title?)`
	_, err := apps.CreateApp(boot, &idsyncv1.CreateAppRequest{App: &idsyncv1.App{Name: "wiki", ScimUrl: "https://wiki.example.org/scim/v2",
		Auth: idsyncv1.AppAuthKind_APP_AUTH_KIND_BEARER, Mapping: typo}, Secret: "s3cret"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), want) {
		t.Errorf("CreateApp with a misspelt field: %v, want InvalidArgument: %s", err, want)
	}
	if _, err := apps.CreateApp(boot, &idsyncv1.CreateAppRequest{App: &idsyncv1.App{Name: "wiki", ScimUrl: "https://wiki.example.org/scim/v2",
		Auth: idsyncv1.AppAuthKind_APP_AUTH_KIND_BEARER}, Secret: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	_, err = apps.UpdateApp(boot, &idsyncv1.UpdateAppRequest{App: &idsyncv1.App{Name: "wiki", Mapping: typo},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"mapping"}}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), want) {
		t.Errorf("UpdateApp of the mapping with a misspelt field: %v, want InvalidArgument: %s", err, want)
	}
	typo[1].Expr = "title"
	if _, err := apps.UpdateApp(boot, &idsyncv1.UpdateAppRequest{App: &idsyncv1.App{Name: "wiki", Mapping: typo},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"mapping"}}}); err != nil {
		t.Errorf("UpdateApp of the mapping, mended: %v", err)
	}
}
