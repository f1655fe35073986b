package main

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/idsync/idsync/internal/adminconf"
	"github.com/idsync/idsync/internal/pki"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// fakeHub answers the admin and app services with fixed data, as a hub
// with a little of everything would, and records the update requests it
// gets.
type fakeHub struct {
	idsyncv1.UnimplementedAdminServiceServer
	idsyncv1.UnimplementedAppServiceServer

	mu      sync.Mutex
	updates []proto.Message
}

// startFakeHub serves a fakeHub over TLS on a loopback port and returns
// it with the path of an admin.conf that reaches it.
func startFakeHub(t *testing.T) (*fakeHub, string) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate(dir, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHub{}
	srv := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
	idsyncv1.RegisterAdminServiceServer(srv, h)
	idsyncv1.RegisterAppServiceServer(srv, h)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conf := filepath.Join(dir, "admin.conf")
	if err := adminconf.Write(conf, adminconf.Conf{Version: 1, Hub: lis.Addr().String(), CA: string(ca.CertPEM()), Token: "t"}); err != nil {
		t.Fatal(err)
	}
	return h, conf
}

func (h *fakeHub) record(m proto.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.updates = append(h.updates, proto.Clone(m))
}

// lastUpdate returns the last update request recorded.
func (h *fakeHub) lastUpdate() proto.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.updates) == 0 {
		return nil
	}
	return h.updates[len(h.updates)-1]
}

// at is a fixed time, minutes after the fixtures' epoch.
func at(minutes int) *timestamppb.Timestamp {
	return timestamppb.New(time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC).Add(time.Duration(minutes) * time.Minute))
}

func fixtureRun() *idsyncv1.ImportRun {
	return &idsyncv1.ImportRun{Id: "42", Directory: "corp", Kind: idsyncv1.ImportKind_IMPORT_KIND_FULL,
		State: idsyncv1.RunState_RUN_STATE_PAUSED_BY_SAFEGUARD, Seen: 12345, Created: 1200, Updated: 30, Unchanged: 11115,
		Deprovisioned: 0, Errors: 2, PendingDeprovision: 700, Message: "would deprovision 700 users (25%)",
		AgentId: "ag-1", StartedAt: at(0), FinishedAt: at(3), Trigger: "admin:root", Strategy: "dirsync",
		ErrorSamples: []*idsyncv1.EntryError{
			{Dn: "CN=Bad,OU=Staff,DC=corp", ExternalId: "x-1", Kind: idsyncv1.ObjectKind_OBJECT_KIND_USER, Message: "no username"},
			{Dn: "CN=Worse\nline,OU=Staff,DC=corp", Message: "bad\x1b[31m name"},
		}}
}

func fixtureDirectories() []*idsyncv1.Directory {
	must := true
	return []*idsyncv1.Directory{
		{Name: "corp", Kind: idsyncv1.DirectoryKind_DIRECTORY_KIND_AD, BaseDn: "DC=corp,DC=example", UserFilter: "(objectClass=user)",
			GroupFilter: "(objectClass=group)", Mapping: &idsyncv1.AttributeMapping{Username: "sAMAccountName", Email: "mail",
				GivenName: "givenName", GroupMembers: []string{"member"}, Extra: []string{"mobile", "costCenter"}},
			SafeguardPercent: 25, SafeguardMax: 500, CreatedAt: at(-60), ActiveUsers: 12000, Groups: 340,
			Agents: []string{"ag-1", "ag-2"}, LastRun: fixtureRun(), Capture: "dirsync every 5s", CaptureStrategy: "",
			CaptureStatus: &idsyncv1.CaptureStatus{RunId: "41", Strategy: "dirsync", AgentId: "ag-1", StartedAt: at(-5), Changes: 1234, LagMs: 40},
			WriteBack: &idsyncv1.WriteBack{Ous: []string{"OU=Staff,DC=corp", "OU=Gone,DC=corp"}, Groups: []string{"CN=Disabled,DC=corp"},
				InitialPassword: "(set)", MustChangePassword: &must}},
		{Name: "hr", Kind: idsyncv1.DirectoryKind_DIRECTORY_KIND_SCIM, Mapping: &idsyncv1.AttributeMapping{},
			SafeguardPercent: 20, SafeguardMax: 500, Capture: "pushed by the source", Mastered: []string{"department", "title"}},
		{Name: "ldap", Kind: idsyncv1.DirectoryKind_DIRECTORY_KIND_OPENLDAP, BaseDn: "dc=example,dc=org",
			Mapping: &idsyncv1.AttributeMapping{Username: "uid"}, SafeguardPercent: 20, SafeguardMax: 500, Capture: "change capture: syncrepl",
			CaptureError: `binding to ldap://dc1:389 as "cn=sync": invalid credentials (run 41, ended 2026-03-14T09:05:00Z)`},
		{Name: "hr-csv", Kind: idsyncv1.DirectoryKind_DIRECTORY_KIND_CSV, SafeguardPercent: 20, SafeguardMax: 500,
			Mapping: &idsyncv1.AttributeMapping{Username: "Login", Email: "Work Email", Title: "Job Title"},
			Csv:     &idsyncv1.CsvLayout{IdColumn: "Employee ID", StatusColumn: "Employment Status", ActiveValues: []string{"Active", "On Leave"}},
			Capture: "a file of users", ActiveUsers: 5},
	}
}

// ImportFile reads the upload to its end and answers a dry run with a
// fixed preview, an import with a run.
func (h *fakeHub) ImportFile(stream idsyncv1.AdminService_ImportFileServer) error {
	var fi *idsyncv1.FileImport
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if m.GetImport() != nil {
			fi = m.GetImport()
		}
	}
	if !fi.GetDryRun() {
		return stream.SendAndClose(&idsyncv1.ImportFileResponse{Run: &idsyncv1.ImportRun{Id: "43", Directory: fi.GetDirectory(),
			Kind: idsyncv1.ImportKind_IMPORT_KIND_FULL, State: idsyncv1.RunState_RUN_STATE_RUNNING, Trigger: "admin:root", StartedAt: at(0)}})
	}
	return stream.SendAndClose(&idsyncv1.ImportFileResponse{Preview: &idsyncv1.ImportPreview{
		Rows: 1204, Created: 2, Updated: 1, Unchanged: 1198, Deprovisioned: 1, ErrorCount: 2,
		CreatedUsers: []string{"fnakamura", "gokafor"}, UpdatedUsers: []string{"ajohnson"}, DeprovisionedUsers: []string{"bsmith"},
		Errors: []*idsyncv1.EntryError{{Dn: fi.GetFileName() + ":17", Message: `duplicate id "1002": first on line 4`},
			{Dn: fi.GetFileName() + ":90", Message: "no id: column \"Employee ID\" is empty"}},
	}})
}

func (h *fakeHub) ListDirectories(context.Context, *idsyncv1.ListDirectoriesRequest) (*idsyncv1.ListDirectoriesResponse, error) {
	return &idsyncv1.ListDirectoriesResponse{Directories: fixtureDirectories()}, nil
}

func (h *fakeHub) GetDirectory(_ context.Context, req *idsyncv1.GetDirectoryRequest) (*idsyncv1.GetDirectoryResponse, error) {
	for _, d := range fixtureDirectories() {
		if d.GetName() == req.GetName() {
			return &idsyncv1.GetDirectoryResponse{Directory: d}, nil
		}
	}
	return &idsyncv1.GetDirectoryResponse{}, nil
}

func (h *fakeHub) UpdateDirectory(_ context.Context, req *idsyncv1.UpdateDirectoryRequest) (*idsyncv1.UpdateDirectoryResponse, error) {
	h.record(req)
	return &idsyncv1.UpdateDirectoryResponse{Directory: fixtureDirectories()[0]}, nil
}

func fixtureAgents() []*idsyncv1.Agent {
	return []*idsyncv1.Agent{
		{Id: "ag-1", Name: "dc1", Directories: []string{"corp"}, State: idsyncv1.AgentState_AGENT_STATE_ACTIVE, Version: "1.4.0",
			EnrolledAt: at(-600), LastSeen: at(1), CertExpiresAt: at(60 * 24 * 30), LagMs: 40, Capturing: []string{"corp"},
			Capabilities: []string{"dirsync", "write"}},
		{Id: "ag-2", Name: "dc2", Directories: []string{"corp", "ldap"}, State: idsyncv1.AgentState_AGENT_STATE_OFFLINE},
	}
}

func (h *fakeHub) ListAgents(context.Context, *idsyncv1.ListAgentsRequest) (*idsyncv1.ListAgentsResponse, error) {
	return &idsyncv1.ListAgentsResponse{Agents: fixtureAgents()}, nil
}

func (h *fakeHub) RevokeAgent(_ context.Context, req *idsyncv1.RevokeAgentRequest) (*idsyncv1.RevokeAgentResponse, error) {
	a := fixtureAgents()[1]
	a.Id, a.State = req.GetId(), idsyncv1.AgentState_AGENT_STATE_REVOKED
	return &idsyncv1.RevokeAgentResponse{Agent: a}, nil
}

func (h *fakeHub) ListImports(context.Context, *idsyncv1.ListImportsRequest) (*idsyncv1.ListImportsResponse, error) {
	done := &idsyncv1.ImportRun{Id: "41", Directory: "corp", Kind: idsyncv1.ImportKind_IMPORT_KIND_INCREMENTAL,
		State: idsyncv1.RunState_RUN_STATE_RUNNING, Seen: 3, StartedAt: at(-5)}
	return &idsyncv1.ListImportsResponse{Runs: []*idsyncv1.ImportRun{fixtureRun(), done}}, nil
}

func (h *fakeHub) GetImport(_ context.Context, req *idsyncv1.GetImportRequest) (*idsyncv1.GetImportResponse, error) {
	r := fixtureRun()
	r.Id = req.GetId()
	return &idsyncv1.GetImportResponse{Run: r}, nil
}

func (h *fakeHub) ConfirmImport(_ context.Context, req *idsyncv1.ConfirmImportRequest) (*idsyncv1.ConfirmImportResponse, error) {
	r := fixtureRun()
	r.Id, r.State, r.PendingDeprovision, r.Deprovisioned = req.GetId(), idsyncv1.RunState_RUN_STATE_COMPLETED, 0, 700
	return &idsyncv1.ConfirmImportResponse{Run: r}, nil
}

func (h *fakeHub) CancelImport(_ context.Context, req *idsyncv1.CancelImportRequest) (*idsyncv1.CancelImportResponse, error) {
	r := fixtureRun()
	r.Id, r.State, r.ErrorSamples = req.GetId(), idsyncv1.RunState_RUN_STATE_CANCELLED, nil
	return &idsyncv1.CancelImportResponse{Run: r}, nil
}

func fixtureUser() *idsyncv1.User {
	return &idsyncv1.User{Id: "u-1", Directory: "corp", ExternalId: "guid-1", Dn: "CN=Ada,OU=Staff,DC=corp", Username: "ada",
		Email: "ada@example.com", GivenName: "Ada", FamilyName: "Lovelace", DisplayName: "Ada\u202eLovelace",
		Status: idsyncv1.UserStatus_USER_STATUS_ACTIVE, Groups: []string{"eng", "staff"}, Department: "R&D",
		Extra:     []*idsyncv1.Attribute{{Name: "mobile", Values: []string{"+1 555", "+1 556"}}},
		CreatedAt: at(-120), UpdatedAt: at(-1), Revision: 7,
		TransitiveGroups: []*idsyncv1.TransitiveGroup{{Name: "eng", Depth: 1}, {Name: "all", Depth: 2, Via: "eng"}}}
}

func (h *fakeHub) ListUsers(_ context.Context, req *idsyncv1.ListUsersRequest) (*idsyncv1.ListUsersResponse, error) {
	gone := &idsyncv1.User{Id: "u-2", Directory: "corp", Username: "bob", Status: idsyncv1.UserStatus_USER_STATUS_DEPROVISIONED}
	if req.GetStatus() == idsyncv1.UserStatus_USER_STATUS_DEPROVISIONED {
		gone.DeprovisionedAt, gone.PurgeAt = at(1), at(1+30*24*60)
		return &idsyncv1.ListUsersResponse{Users: []*idsyncv1.User{heldUser(), gone}}, nil
	}
	return &idsyncv1.ListUsersResponse{Users: []*idsyncv1.User{fixtureUser(), gone}}, nil
}

func (h *fakeHub) GetUser(context.Context, *idsyncv1.GetUserRequest) (*idsyncv1.GetUserResponse, error) {
	return &idsyncv1.GetUserResponse{User: fixtureUser()}, nil
}

func fixtureGroups() []*idsyncv1.Group {
	return []*idsyncv1.Group{
		{Id: "g-1", Directory: "corp", ExternalId: "guid-g", Dn: "CN=eng,DC=corp", Name: "eng", Description: "Engineering",
			Status: idsyncv1.UserStatus_USER_STATUS_ACTIVE, MemberCount: 1500, UnresolvedMembers: 1},
		{Id: "g-2", Directory: "ldap", Name: "ops", Status: idsyncv1.UserStatus_USER_STATUS_ACTIVE},
	}
}

// onePage answers page token tok ("": the first) of all, one item a page,
// with the token of the next: the CLI must follow the tokens to print
// what the golden files hold.
func onePage[T any](all []T, tok string) ([]T, string, error) {
	i := 0
	if tok != "" {
		var err error
		if i, err = strconv.Atoi(tok); err != nil || i <= 0 || i >= len(all) {
			return nil, "", status.Errorf(codes.InvalidArgument, "page token %q", tok)
		}
	}
	next := ""
	if i+1 < len(all) {
		next = strconv.Itoa(i + 1)
	}
	return all[i : i+1], next, nil
}

func (h *fakeHub) ListGroups(_ context.Context, req *idsyncv1.ListGroupsRequest) (*idsyncv1.ListGroupsResponse, error) {
	page, next, err := onePage(fixtureGroups(), req.GetPageToken())
	return &idsyncv1.ListGroupsResponse{Groups: page, NextPageToken: next}, err
}

func (h *fakeHub) GetGroup(_ context.Context, req *idsyncv1.GetGroupRequest) (*idsyncv1.GetGroupResponse, error) {
	g := fixtureGroups()[0]
	if req.GetPageToken() != "" && req.GetGroup() != g.GetId() {
		return nil, status.Errorf(codes.InvalidArgument, "a next page of group %q: ask by id (%s)", req.GetGroup(), g.GetId())
	}
	page, next, err := onePage([]*idsyncv1.GroupMember{
		{Value: "CN=Ada,OU=Staff,DC=corp", Id: "u-1", Kind: idsyncv1.ObjectKind_OBJECT_KIND_USER, Name: "ada"},
		{Value: "CN=all,DC=corp", Id: "g-3", Kind: idsyncv1.ObjectKind_OBJECT_KIND_GROUP, Name: "all"},
		{Value: "CN=Ghost,DC=corp"},
	}, req.GetPageToken())
	return &idsyncv1.GetGroupResponse{Group: g, Members: page, NextPageToken: next,
		Apps: []*idsyncv1.GroupInApp{{App: "crm", RemoteId: "r-eng", Name: "eng"},
			{App: "wiki", RemoteId: "7f3a", Name: "Engineering", Found: "1 member(s) added in the app (eve)"}}}, err
}

func fixtureTokens() []*idsyncv1.AdminToken {
	return []*idsyncv1.AdminToken{
		{Id: "1", Name: "root", Role: "super-admin", CreatedAt: at(-600), LastUsedAt: at(0)},
		{Id: "2", Name: "sales-lead", Role: "group-admin", Groups: []string{"corp/sales"}, GroupIds: []string{"g-9"}, CreatedAt: at(-60)},
		{Id: "3", Name: "crm-team", Role: "app-admin", Apps: []string{"crm"}, CreatedAt: at(-30), RevokedAt: at(-10)},
	}
}

func (h *fakeHub) ListAdminTokens(context.Context, *idsyncv1.ListAdminTokensRequest) (*idsyncv1.ListAdminTokensResponse, error) {
	return &idsyncv1.ListAdminTokensResponse{Tokens: fixtureTokens()}, nil
}

func (h *fakeHub) RevokeAdminToken(context.Context, *idsyncv1.RevokeAdminTokenRequest) (*idsyncv1.RevokeAdminTokenResponse, error) {
	return &idsyncv1.RevokeAdminTokenResponse{Token: fixtureTokens()[2]}, nil
}

func (h *fakeHub) ListAuditEvents(context.Context, *idsyncv1.ListAuditEventsRequest) (*idsyncv1.ListAuditEventsResponse, error) {
	return &idsyncv1.ListAuditEventsResponse{Events: []*idsyncv1.AuditEvent{
		{Id: 1, At: at(0), Actor: "admin:root", Action: "app.create", Target: "app:crm", Outcome: "ok", Detail: "scim https://crm.example/scim/v2"},
		{Id: 2, At: at(1), Actor: "admin:crm-team", Action: "app.update", Outcome: "refused"},
		{Id: 3, At: at(2), Actor: "agent:ag-1", Action: "=cmd|' /C calc'!A0", Target: "user:ada", Outcome: "ok", Detail: "line\nbreak"},
	}}, nil
}

func (h *fakeHub) GetReport(_ context.Context, req *idsyncv1.GetReportRequest) (*idsyncv1.GetReportResponse, error) {
	return &idsyncv1.GetReportResponse{Name: req.GetName(), Columns: []string{"directory", "status", "users"},
		Rows:        []*idsyncv1.ReportRow{{Cells: []string{"corp", "active", "12000"}}, {Cells: []string{"hr", "", "+3"}}, {Cells: []string{"ldap"}}},
		GeneratedAt: at(0)}, nil
}

func fixtureApps() []*idsyncv1.App {
	patch := false
	return []*idsyncv1.App{
		{Name: "crm", ScimUrl: "https://crm.example/scim/v2", Auth: idsyncv1.AppAuthKind_APP_AUTH_KIND_OAUTH2, Username: "client-1",
			TokenUrl: "https://login.example/token", Scopes: []string{"scim.read", "scim.write"}, HasSecret: true,
			AllowCreate: true, AllowUpdate: true, AllowDeactivate: true, AllowDelete: true, PushGroups: true,
			RateLimit: 2.5, Concurrency: 4, MatchBy: "userName", DeleteAfterSeconds: 30 * 86400, ReconcileIntervalSeconds: 86400,
			Status: "paused", StatusMessage: "401 Unauthorized: fix it with `idsyncctl app update`",
			Assignments:  []*idsyncv1.AppAssignment{{Kind: "group", TargetId: "g-1", Name: "eng"}, {Kind: "user", TargetId: "u-9"}},
			PushedGroups: []string{"eng"}, Accounts: map[string]uint64{"active": 1499, "deactivated": 3, "deleted": 0},
			PushedGroupStates: []*idsyncv1.PushedGroupState{{Name: "eng", Missing: []string{"bob", "carol"},
				Drift:   "1 member(s) added in the app removed (eve); renamed \"Engineering\" in the app, named \"eng\" again",
				DriftAt: at(-1), CheckedAt: at(-1)},
				{Name: "ops", Found: "1 member(s) removed in the app (ada)", FoundAt: at(-2)}},
			AppGroups: []*idsyncv1.AppGroup{{RemoteId: "r-adm", Name: "crm-admins", ExternalId: "x1", Members: []string{"ada", "bob"},
				MemberCount: 3, Unlinked: 1, ImportedAt: at(-2)}, {RemoteId: "r-emp", Name: "empty"}},
			Queue:          map[string]uint64{"queued": 2, "running": 1, "dead": 1},
			Mapping:        []*idsyncv1.AppMappingRule{{Target: "userName", Expr: "lower(email)"}, {Target: "active", Expr: "active"}},
			PatchSupported: &patch, CreatedAt: at(-30), AllowInsecureHttp: true},
		{Name: "ad-accounts", Auth: idsyncv1.AppAuthKind_APP_AUTH_KIND_UNSPECIFIED, AllowCreate: true, AllowUpdate: true,
			UpdateMode: "put", Concurrency: 4, MatchBy: "userName", ReconcileIntervalSeconds: ^uint64(0), Status: "active",
			DirectoryTarget: &idsyncv1.DirectoryTarget{Directory: "corp", ParentDn: "OU=Staff,DC=corp", DisableAttribute: "x=y",
				DisableGroupDn: "CN=Disabled,DC=corp"},
			Accounts: map[string]uint64{}, Queue: map[string]uint64{}},
		{Name: "wiki", ScimUrl: "https://wiki.example/scim", Auth: idsyncv1.AppAuthKind_APP_AUTH_KIND_BASIC, Username: "svc",
			HasSecret: true, AllowCreate: true, Concurrency: 1, MatchBy: "email", ReconcileIntervalSeconds: 3600 * 6,
			Status: "active", Accounts: map[string]uint64{}, Queue: map[string]uint64{}},
	}
}

func (h *fakeHub) ListApps(context.Context, *idsyncv1.ListAppsRequest) (*idsyncv1.ListAppsResponse, error) {
	return &idsyncv1.ListAppsResponse{Apps: fixtureApps()}, nil
}

func (h *fakeHub) GetApp(_ context.Context, req *idsyncv1.GetAppRequest) (*idsyncv1.GetAppResponse, error) {
	for _, a := range fixtureApps() {
		if a.GetName() == req.GetName() {
			return &idsyncv1.GetAppResponse{App: a}, nil
		}
	}
	return &idsyncv1.GetAppResponse{}, nil
}

func (h *fakeHub) UpdateApp(_ context.Context, req *idsyncv1.UpdateAppRequest) (*idsyncv1.UpdateAppResponse, error) {
	h.record(req)
	for _, a := range fixtureApps() {
		if a.GetName() == req.GetApp().GetName() {
			return &idsyncv1.UpdateAppResponse{App: a}, nil
		}
	}
	return &idsyncv1.UpdateAppResponse{App: req.GetApp()}, nil
}

func (h *fakeHub) PauseApp(_ context.Context, req *idsyncv1.PauseAppRequest) (*idsyncv1.PauseAppResponse, error) {
	h.record(req)
	a := fixtureApps()[0]
	a.Status, a.StatusMessage = "paused", "paused by admin:bootstrap: "+req.GetReason()
	return &idsyncv1.PauseAppResponse{App: a}, nil
}

func (h *fakeHub) ResumeApp(_ context.Context, req *idsyncv1.ResumeAppRequest) (*idsyncv1.ResumeAppResponse, error) {
	h.record(req)
	return &idsyncv1.ResumeAppResponse{App: fixtureApps()[0]}, nil
}

// ListAccounts answers in two pages, so that app accounts asks for both.
func (h *fakeHub) ListAccounts(_ context.Context, req *idsyncv1.ListAccountsRequest) (*idsyncv1.ListAccountsResponse, error) {
	if req.GetPageToken() == "" {
		return &idsyncv1.ListAccountsResponse{NextPageToken: "u-2", Accounts: []*idsyncv1.AppAccount{
			{UserId: "u-1", User: "corp/ada", State: "active", RemoteId: "r-1", UpdatedAt: at(0)},
			{UserId: "u-2", User: "corp/bob", State: "deactivated", RemoteId: "r-2", Linked: true, UpdatedAt: at(1)}}}, nil
	}
	return &idsyncv1.ListAccountsResponse{Accounts: []*idsyncv1.AppAccount{
		{UserId: "u-3", State: "creating", LastError: "503 Service\nUnavailable", UpdatedAt: at(2)}}}, nil
}

func (h *fakeHub) DeleteApp(context.Context, *idsyncv1.DeleteAppRequest) (*idsyncv1.DeleteAppResponse, error) {
	return &idsyncv1.DeleteAppResponse{}, nil
}

func (h *fakeHub) TestApp(_ context.Context, req *idsyncv1.TestAppRequest) (*idsyncv1.TestAppResponse, error) {
	if req.GetName() == "wiki" {
		return &idsyncv1.TestAppResponse{Filter: true, FilterUsed: `userName eq "x"`}, nil
	}
	return &idsyncv1.TestAppResponse{Patch: true, Filter: true, Etag: true, MaxResults: 200, AuthSchemes: []string{"oauthbearertoken"},
		Schemas: []string{"urn:ietf:params:scim:schemas:core:2.0:User"}, UsersFound: 1, FilterUsed: `userName eq "ada"`,
		Problems: []string{"no bulk", "sort\tunsupported"}}, nil
}

func (h *fakeHub) ImportFromApp(_ context.Context, req *idsyncv1.ImportFromAppRequest) (*idsyncv1.ImportFromAppResponse, error) {
	if req.GetName() == "wiki" {
		return &idsyncv1.ImportFromAppResponse{Read: 2, AlreadyLinked: 2}, nil
	}
	if req.GetGroups() {
		return &idsyncv1.ImportFromAppResponse{Read: 2, AlreadyLinked: 2, Groups: &idsyncv1.AppGroupImport{Read: 4, AlreadyLinked: 1,
			Own: 2, Linked: []*idsyncv1.LinkedAppGroup{{Group: "eng", RemoteName: "Engineering", By: "displayName"}},
			Drift: []*idsyncv1.AppGroupDrift{{Group: "ops", Found: "1 member(s) removed in the app (ada)"}}}}, nil
	}
	return &idsyncv1.ImportFromAppResponse{Read: 1502, Linked: 1400, AlreadyLinked: 100, Unmatched: []*idsyncv1.RemoteAccount{
		{RemoteId: "r-1", UserName: "zed"}, {RemoteId: "r-2", Email: "q@example.com"}}}, nil
}

func fixtureJobs() []*idsyncv1.PushJob {
	return []*idsyncv1.PushJob{
		{Id: "7", App: "crm", Kind: "user", Target: "ada", State: "queued", Attempts: 2, NextAt: at(5),
			LastError: "503 Service\nUnavailable", UpdatedAt: at(0)},
		{Id: "8", App: "crm", Kind: "reconcile", State: "dead", Attempts: 10, UpdatedAt: at(1), LastError: "401"},
	}
}

func (h *fakeHub) ListPushes(context.Context, *idsyncv1.ListPushesRequest) (*idsyncv1.ListPushesResponse, error) {
	return &idsyncv1.ListPushesResponse{Jobs: fixtureJobs()}, nil
}

func fixtureTasks() []*idsyncv1.ManualTask {
	return []*idsyncv1.ManualTask{
		{Id: "3", App: "wiki", User: "bob", Kind: "deprovision", State: "open", Detail: "delete bob's account by hand", CreatedAt: at(-3)},
		{Id: "4", App: "wiki", User: "eve", Kind: "deprovision", State: "resolved", Detail: "x", CreatedAt: at(-4),
			ResolvedBy: "admin:root", ResolvedAt: at(-2), Note: "done"},
	}
}

func (h *fakeHub) ListTasks(context.Context, *idsyncv1.ListTasksRequest) (*idsyncv1.ListTasksResponse, error) {
	return &idsyncv1.ListTasksResponse{Tasks: fixtureTasks()}, nil
}

func (h *fakeHub) ResolveTask(context.Context, *idsyncv1.ResolveTaskRequest) (*idsyncv1.ResolveTaskResponse, error) {
	return &idsyncv1.ResolveTaskResponse{Task: fixtureTasks()[1]}, nil
}

// heldUser is ada deactivated by an admin while her directory has her.
func heldUser() *idsyncv1.User {
	u := fixtureUser()
	u.Status, u.SourceStatus = idsyncv1.UserStatus_USER_STATUS_DEPROVISIONED, idsyncv1.UserStatus_USER_STATUS_ACTIVE
	u.Hold = &idsyncv1.Hold{Status: idsyncv1.UserStatus_USER_STATUS_DEPROVISIONED, By: "admin:root", Reason: "left\x1b[2J early", At: at(5)}
	// Its directory still has it: kept while held, no purge date.
	u.DeprovisionedAt = at(5)
	return u
}

func (h *fakeHub) DeactivateUser(_ context.Context, req *idsyncv1.DeactivateUserRequest) (*idsyncv1.DeactivateUserResponse, error) {
	h.record(req)
	resp := &idsyncv1.DeactivateUserResponse{User: heldUser()}
	if req.GetInDirectory() {
		resp.InDirectory = &idsyncv1.DirectoryWriteOutcome{Message: "directory corp is not writable"}
	}
	return resp, nil
}

func (h *fakeHub) ReactivateUser(_ context.Context, req *idsyncv1.ReactivateUserRequest) (*idsyncv1.ReactivateUserResponse, error) {
	h.record(req)
	resp := &idsyncv1.ReactivateUserResponse{User: fixtureUser()}
	if req.GetInDirectory() {
		resp.InDirectory = &idsyncv1.DirectoryWriteOutcome{Done: true, Message: "entry CN=Ada,OU=Staff,DC=corp enabled in directory corp"}
	}
	return resp, nil
}

func (h *fakeHub) RestoreUser(_ context.Context, req *idsyncv1.RestoreUserRequest) (*idsyncv1.RestoreUserResponse, error) {
	h.record(req)
	return &idsyncv1.RestoreUserResponse{User: fixtureUser()}, nil
}

func (h *fakeHub) CreateUser(_ context.Context, req *idsyncv1.CreateUserRequest) (*idsyncv1.CreateUserResponse, error) {
	h.record(req)
	return &idsyncv1.CreateUserResponse{User: &idsyncv1.User{Id: "u-9", Directory: req.GetDirectory(), ExternalId: "uuid-9",
		Username: req.GetUsername(), Email: req.GetEmail(), Title: req.GetFields()["title"],
		Status: idsyncv1.UserStatus_USER_STATUS_ACTIVE, CreatedAt: at(3), UpdatedAt: at(3), Revision: 1}}, nil
}

func (h *fakeHub) CreateGroup(_ context.Context, req *idsyncv1.CreateGroupRequest) (*idsyncv1.CreateGroupResponse, error) {
	h.record(req)
	return &idsyncv1.CreateGroupResponse{Group: &idsyncv1.Group{Id: "g-9", Directory: req.GetDirectory(), Name: req.GetName(),
		Status: idsyncv1.UserStatus_USER_STATUS_ACTIVE}}, nil
}

func (h *fakeHub) AddGroupMember(_ context.Context, req *idsyncv1.AddGroupMemberRequest) (*idsyncv1.AddGroupMemberResponse, error) {
	h.record(req)
	return &idsyncv1.AddGroupMemberResponse{Group: &idsyncv1.Group{Id: "g-9", Directory: "staff", Name: req.GetGroup(),
		Status: idsyncv1.UserStatus_USER_STATUS_ACTIVE, MemberCount: 1}}, nil
}

func (h *fakeHub) SuspendUser(_ context.Context, req *idsyncv1.SuspendUserRequest) (*idsyncv1.SuspendUserResponse, error) {
	h.record(req)
	u := fixtureUser()
	u.Status, u.SourceStatus = idsyncv1.UserStatus_USER_STATUS_SUSPENDED, idsyncv1.UserStatus_USER_STATUS_ACTIVE
	u.Hold = &idsyncv1.Hold{Status: idsyncv1.UserStatus_USER_STATUS_SUSPENDED, By: "admin:root", Reason: req.GetReason(), At: at(6),
		Role: "super-admin"}
	return &idsyncv1.SuspendUserResponse{User: u}, nil
}

func (h *fakeHub) UnsuspendUser(_ context.Context, req *idsyncv1.UnsuspendUserRequest) (*idsyncv1.UnsuspendUserResponse, error) {
	h.record(req)
	return &idsyncv1.UnsuspendUserResponse{User: fixtureUser()}, nil
}

func (h *fakeHub) UpdateUser(_ context.Context, req *idsyncv1.UpdateUserRequest) (*idsyncv1.UpdateUserResponse, error) {
	h.record(req)
	u := &idsyncv1.User{Id: "u-9", Directory: "staff", Username: "con", Email: "con@example.org", Title: req.GetFields()["title"],
		Status: idsyncv1.UserStatus_USER_STATUS_ACTIVE, CreatedAt: at(3), UpdatedAt: at(4), Revision: 2}
	return &idsyncv1.UpdateUserResponse{User: u}, nil
}

func (h *fakeHub) DeleteUser(_ context.Context, req *idsyncv1.DeleteUserRequest) (*idsyncv1.DeleteUserResponse, error) {
	h.record(req)
	u := &idsyncv1.User{Id: "u-9", Directory: "staff", Username: "con", Status: idsyncv1.UserStatus_USER_STATUS_DEPROVISIONED,
		SourceStatus: idsyncv1.UserStatus_USER_STATUS_DEPROVISIONED, CreatedAt: at(3), UpdatedAt: at(7), Revision: 3,
		DeprovisionedAt: at(7), PurgeAt: at(7 + 90*24*60)}
	return &idsyncv1.DeleteUserResponse{User: u}, nil
}

func (h *fakeHub) RemoveGroupMember(_ context.Context, req *idsyncv1.RemoveGroupMemberRequest) (*idsyncv1.RemoveGroupMemberResponse, error) {
	h.record(req)
	return &idsyncv1.RemoveGroupMemberResponse{Group: &idsyncv1.Group{Id: "g-9", Directory: "staff", Name: req.GetGroup(),
		Status: idsyncv1.UserStatus_USER_STATUS_ACTIVE}}, nil
}
