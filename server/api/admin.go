package api

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/admins"
	"github.com/idsync/idsync/server/agents"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/authn"
	"github.com/idsync/idsync/server/csvimport"
	"github.com/idsync/idsync/server/directories"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/notify"
	"github.com/idsync/idsync/server/people"
	"github.com/idsync/idsync/server/reports"
	"github.com/idsync/idsync/server/rules"
	"github.com/idsync/idsync/server/runs"
	"github.com/idsync/idsync/server/store"
)

// AdminServer serves AdminService.
type AdminServer struct {
	idsyncv1.UnimplementedAdminServiceServer
	store       AdminStore
	runs        *runs.Coordinator
	agents      *agents.Service
	reports     *reports.Service
	directories *directories.Service
	admins      *admins.Service
	authn       *authn.Service
	people      *people.Service
	rules       *rules.Engine
	files       *csvimport.Service
	notify      *notify.Service
}

// AdminStore is what the admin service reads of the store: directories,
// agents, runs, users, groups and the audit trail as they are; every
// change goes through a service.
type AdminStore interface {
	scopeStore
	ListDirectories(ctx context.Context) ([]*store.Directory, error)
	DirectoryStats(ctx context.Context, directoryID int64) (store.DirectoryStats, error)
	ListAgents(ctx context.Context) ([]*store.Agent, error)
	ListRuns(ctx context.Context, f store.RunFilter) ([]*store.Run, error)
	GetRun(ctx context.Context, id int64) (*store.Run, error)
	RunErrors(ctx context.Context, runID int64, limit int) ([]store.EntryError, error)
	ListUsers(ctx context.Context, f store.UserFilter) ([]*store.User, error)
	UserGroups(ctx context.Context, userID string) ([]*store.Group, error)
	UserGroupsTransitive(ctx context.Context, userID string) ([]store.GroupMembership, error)
	ListGroups(ctx context.Context, f store.GroupFilter) ([]*store.Group, error)
	GroupMembersPage(ctx context.Context, groupID, afterKey string, limit int) ([]store.Member, error)
	PushesOfGroup(ctx context.Context, groupID string) ([]*store.PushedGroup, error)
	ListAudit(ctx context.Context, f store.AuditFilter) ([]*store.AuditEvent, error)
	// The console's reads: a page of users, a user's accounts and the
	// hourly activity.
	SearchUsers(ctx context.Context, f store.UserSearch) ([]*store.User, error)
	GetDirectoryByID(ctx context.Context, id int64) (*store.Directory, error)
	AppsOfUser(ctx context.Context, userID string) ([]int64, error)
	GetAccount(ctx context.Context, appID int64, userID string) (*store.Account, error)
	Activity(ctx context.Context, since time.Time, f store.ActivityFilter) ([]store.ActivityCount, error)
}

var _ AdminStore = store.Store(nil)

// AdminConfig is what the admin service is built with.
type AdminConfig struct {
	Store AdminStore
	// Runs starts, confirms and cancels import runs.
	Runs *runs.Coordinator
	// Agents issues enrolment tokens, revokes agents and tells their
	// states.
	Agents *agents.Service
	// Reports computes the reports.
	Reports *reports.Service
	// Directories creates and changes directories.
	Directories *directories.Service
	// Admins issues and revokes admin tokens.
	Admins *admins.Service
	// Authn answers Authenticate (nil: delegated authentication is off).
	Authn *authn.Service
	// People acts on users and local groups (deactivate, restore, create…)
	// and tells when users are purged.
	People *people.Service
	// Rules serves the group rules (nil: not served).
	Rules *rules.Engine
	// Files imports files into csv directories (nil: not served).
	Files *csvimport.Service
	// Notify manages the notification channels (nil: not served).
	Notify *notify.Service
}

// NewAdminServer returns the admin service.
func NewAdminServer(c AdminConfig) *AdminServer {
	return &AdminServer{store: c.Store, runs: c.Runs, agents: c.Agents, reports: c.Reports, directories: c.Directories,
		admins: c.Admins, authn: c.Authn, people: c.People, rules: c.Rules, files: c.Files,
		notify: c.Notify}
}

func (s *AdminServer) directory(ctx context.Context, name string) (*store.Directory, error) {
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "directory: name required")
	}
	d, err := s.store.GetDirectory(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, noDirectory(name)
	}
	if err != nil {
		return nil, statusErr(err, "loading directory %q", name)
	}
	return d, nil
}

// CreateDirectory adds a directory, filling empty settings from its kind's preset.
func (s *AdminServer) CreateDirectory(ctx context.Context, req *idsyncv1.CreateDirectoryRequest) (*idsyncv1.CreateDirectoryResponse, error) {
	d := directoryFromProto(req.GetDirectory(), nil)
	if err := s.directories.Create(ctx, d, writeBackFromProto(req.GetDirectory().GetWriteBack()), auth.Actor(ctx)); err != nil {
		return nil, statusErr(err, "")
	}
	pd, err := s.describe(ctx, d)
	if err != nil {
		return nil, err
	}
	return &idsyncv1.CreateDirectoryResponse{Directory: pd}, nil
}

// directoryFixed are the Directory fields an update cannot set: name and
// kind identify the directory, the others are what the hub reports.
var directoryFixed = []string{"name", "kind", "created_at", "active_users", "groups", "agents", "last_run",
	"capture", "capture_status", "capture_error"}

// UpdateDirectory changes the settings of a directory that update_mask
// names; the write-back's are server/directories'.
func (s *AdminServer) UpdateDirectory(ctx context.Context, req *idsyncv1.UpdateDirectoryRequest) (*idsyncv1.UpdateDirectoryResponse, error) {
	if err := checkKnown(req); err != nil {
		return nil, err
	}
	in := req.GetDirectory()
	stored, err := s.directory(ctx, in.GetName())
	if err != nil {
		return nil, err
	}
	paths := req.GetUpdateMask().GetPaths()
	if err := checkMask(in, req.GetUpdateMask(), directoryFixed); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "directory %s: %v", stored.Name, err)
	}
	var settings, wbPaths []string
	for _, p := range paths {
		if directories.IsWriteBack(p) {
			wbPaths = append(wbPaths, p)
		} else {
			settings = append(settings, p)
		}
	}
	p := directoryToProto(stored)
	applyMask(p, in, &fieldmaskpb.FieldMask{Paths: settings})
	d := directoryFromProto(p, stored)
	if err := s.directories.Update(ctx, d, writeBackFromProto(in.GetWriteBack()), wbPaths, paths, auth.Actor(ctx)); err != nil {
		return nil, statusErr(err, "")
	}
	pd, err := s.describe(ctx, d)
	if err != nil {
		return nil, err
	}
	return &idsyncv1.UpdateDirectoryResponse{Directory: pd}, nil
}

// describe adds the live figures to a directory.
func (s *AdminServer) describe(ctx context.Context, d *store.Directory) (*idsyncv1.Directory, error) {
	pd := directoryToProto(d)
	st, err := s.store.DirectoryStats(ctx, d.ID)
	if err != nil {
		return nil, statusErr(err, "counting directory %q", d.Name)
	}
	pd.ActiveUsers, pd.Groups = uint64(st.Active+st.Suspended), uint64(st.Groups)
	agents, err := s.store.ListAgents(ctx)
	if err != nil {
		return nil, statusErr(err, "listing agents")
	}
	for _, a := range agents {
		if contains(a.Directories, d.Name) && a.RevokedAt.IsZero() {
			pd.Agents = append(pd.Agents, a.ID)
		}
	}
	// The last import: not an admin's action on a user, nor a write.
	runs, err := s.store.ListRuns(ctx, store.RunFilter{DirectoryID: d.ID, Limit: 1,
		Kinds: []store.RunKind{store.RunFull, store.RunIncremental}})
	if err != nil {
		return nil, statusErr(err, "listing runs")
	}
	if len(runs) > 0 {
		pd.LastRun = runToProto(runs[0])
	}
	open, err := s.store.ListRuns(ctx, store.RunFilter{DirectoryID: d.ID,
		States: []store.RunState{store.RunRunning, store.RunPausedBySafeguard}})
	if err != nil {
		return nil, statusErr(err, "listing runs")
	}
	for _, r := range open {
		if r.Kind != store.RunIncremental {
			continue
		}
		cs := &idsyncv1.CaptureStatus{RunId: fmt.Sprint(r.ID), Strategy: r.Strategy, AgentId: r.AgentID,
			StartedAt: ts(r.StartedAt), Changes: uint64(r.Seen)}
		for _, a := range agents {
			if a.ID == r.AgentID {
				cs.LagMs = uint64(max(a.Lag, 0).Milliseconds())
			}
		}
		pd.CaptureStatus = cs
	}
	if pd.CaptureStatus == nil && ingest.CaptureEnabled(d) && ingest.ReadByAgents(d.Kind) {
		// Nothing captures: say why the last capture ended, when it failed.
		last, err := s.store.ListRuns(ctx, store.RunFilter{DirectoryID: d.ID, Limit: 1,
			Kinds: []store.RunKind{store.RunIncremental}})
		if err != nil {
			return nil, statusErr(err, "listing runs")
		}
		if len(last) > 0 && last[0].State == store.RunFailed {
			pd.CaptureError = fmt.Sprintf("%s (run %d, ended %s)", last[0].Message, last[0].ID,
				last[0].FinishedAt.UTC().Format(time.RFC3339))
		}
	}
	return pd, nil
}

// ListDirectories lists directories.
func (s *AdminServer) ListDirectories(ctx context.Context, _ *idsyncv1.ListDirectoriesRequest) (*idsyncv1.ListDirectoriesResponse, error) {
	ds, err := s.store.ListDirectories(ctx)
	if err != nil {
		return nil, statusErr(err, "listing directories")
	}
	resp := &idsyncv1.ListDirectoriesResponse{}
	for _, d := range ds {
		pd, err := s.describe(ctx, d)
		if err != nil {
			return nil, err
		}
		resp.Directories = append(resp.Directories, pd)
	}
	return resp, nil
}

// GetDirectory shows a directory.
func (s *AdminServer) GetDirectory(ctx context.Context, req *idsyncv1.GetDirectoryRequest) (*idsyncv1.GetDirectoryResponse, error) {
	d, err := s.directory(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	pd, err := s.describe(ctx, d)
	if err != nil {
		return nil, err
	}
	return &idsyncv1.GetDirectoryResponse{Directory: pd}, nil
}

// CreateEnrollmentToken issues a single-use enrolment token for a directory.
func (s *AdminServer) CreateEnrollmentToken(ctx context.Context, req *idsyncv1.CreateEnrollmentTokenRequest) (*idsyncv1.CreateEnrollmentTokenResponse, error) {
	d, err := s.directory(ctx, req.GetDirectory())
	if err != nil {
		return nil, err
	}
	token, t, err := s.agents.CreateEnrollToken(ctx, d, time.Duration(req.GetTtlSeconds())*time.Second, auth.Actor(ctx))
	if err != nil {
		return nil, statusErr(err, "")
	}
	return &idsyncv1.CreateEnrollmentTokenResponse{Token: token, ExpiresAt: ts(t.ExpiresAt)}, nil
}

// agentStates are the wire's agent states.
var agentStates = map[agents.State]idsyncv1.AgentState{
	agents.Offline: idsyncv1.AgentState_AGENT_STATE_OFFLINE,
	agents.Revoked: idsyncv1.AgentState_AGENT_STATE_REVOKED,
	agents.Active:  idsyncv1.AgentState_AGENT_STATE_ACTIVE,
	agents.Standby: idsyncv1.AgentState_AGENT_STATE_STANDBY,
}

// agentToProto describes an agent: active when it holds the change capture
// of a directory (capturing lists them), standby when online otherwise.
func (s *AdminServer) agentToProto(a *store.Agent, now time.Time, capturing []string) *idsyncv1.Agent {
	return &idsyncv1.Agent{
		Id: a.ID, Name: a.Name, Directories: a.Directories, State: agentStates[s.agents.State(a, now, capturing)], Version: a.Version,
		EnrolledAt: ts(a.EnrolledAt), LastSeen: ts(a.LastSeen), CertExpiresAt: ts(a.CertExpiresAt),
		LagMs: uint64(max(a.Lag, 0).Milliseconds()), Capturing: capturing, Capabilities: a.Capabilities,
	}
}

// ListAgents lists enrolled agents.
func (s *AdminServer) ListAgents(ctx context.Context, _ *idsyncv1.ListAgentsRequest) (*idsyncv1.ListAgentsResponse, error) {
	agents, err := s.store.ListAgents(ctx)
	if err != nil {
		return nil, statusErr(err, "listing agents")
	}
	capturing, err := s.agents.Capturing(ctx)
	if err != nil {
		return nil, statusErr(err, "")
	}
	now := time.Now()
	resp := &idsyncv1.ListAgentsResponse{}
	for _, a := range agents {
		var dirs []string
		if a.SessionID != "" {
			dirs = capturing[a.SessionID]
		}
		resp.Agents = append(resp.Agents, s.agentToProto(a, now, dirs))
	}
	return resp, nil
}

// RevokeAgent revokes an agent; its open stream closes at once.
func (s *AdminServer) RevokeAgent(ctx context.Context, req *idsyncv1.RevokeAgentRequest) (*idsyncv1.RevokeAgentResponse, error) {
	a, err := s.agents.Revoke(ctx, req.GetId(), auth.Actor(ctx))
	if err != nil {
		return nil, statusErr(err, "")
	}
	return &idsyncv1.RevokeAgentResponse{Agent: s.agentToProto(a, time.Now(), nil)}, nil
}

// StartImport creates a run for an online agent of the directory to pick up.
func (s *AdminServer) StartImport(ctx context.Context, req *idsyncv1.StartImportRequest) (*idsyncv1.StartImportResponse, error) {
	d, err := s.directory(ctx, req.GetDirectory())
	if err != nil {
		return nil, err
	}
	kind := store.RunFull
	if req.GetKind() == idsyncv1.ImportKind_IMPORT_KIND_INCREMENTAL {
		kind = store.RunIncremental
	}
	r, already, err := s.runs.Start(ctx, d, kind, auth.Actor(ctx))
	if err != nil {
		return nil, statusErr(err, "")
	}
	return &idsyncv1.StartImportResponse{Run: runToProto(r), AlreadyRunning: already}, nil
}

// ListImports lists runs, newest first.
func (s *AdminServer) ListImports(ctx context.Context, req *idsyncv1.ListImportsRequest) (*idsyncv1.ListImportsResponse, error) {
	f := store.RunFilter{Limit: int(req.GetLimit())}
	if req.GetDirectory() != "" {
		d, err := s.directory(ctx, req.GetDirectory())
		if err != nil {
			return nil, err
		}
		f.DirectoryID = d.ID
	}
	runs, err := s.store.ListRuns(ctx, f)
	if err != nil {
		return nil, statusErr(err, "listing runs")
	}
	resp := &idsyncv1.ListImportsResponse{}
	for _, r := range runs {
		resp.Runs = append(resp.Runs, runToProto(r))
	}
	return resp, nil
}

func (s *AdminServer) runByID(ctx context.Context, id string) (*store.Run, error) {
	n, err := ingest.ParseRunID(id)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	r, err := s.store.GetRun(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "run %s does not exist (see `idsyncctl import list`)", id)
	}
	if err != nil {
		return nil, statusErr(err, "loading run %s", id)
	}
	return r, nil
}

// GetImport shows a run with a sample of its entry errors.
func (s *AdminServer) GetImport(ctx context.Context, req *idsyncv1.GetImportRequest) (*idsyncv1.GetImportResponse, error) {
	r, err := s.runByID(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	errs, err := s.store.RunErrors(ctx, r.ID, 100)
	if err != nil {
		return nil, statusErr(err, "loading errors of run %d", r.ID)
	}
	pr := runToProto(r)
	for _, e := range errs {
		pr.ErrorSamples = append(pr.ErrorSamples, entryErrorToProto(e))
	}
	return &idsyncv1.GetImportResponse{Run: pr}, nil
}

// ConfirmImport lets a paused run sweep.
func (s *AdminServer) ConfirmImport(ctx context.Context, req *idsyncv1.ConfirmImportRequest) (*idsyncv1.ConfirmImportResponse, error) {
	r, err := s.runByID(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	done, err := s.runs.Confirm(ctx, r, auth.Actor(ctx))
	if err != nil {
		return nil, statusErr(err, "")
	}
	return &idsyncv1.ConfirmImportResponse{Run: runToProto(done)}, nil
}

// CancelImport cancels a running or paused run.
func (s *AdminServer) CancelImport(ctx context.Context, req *idsyncv1.CancelImportRequest) (*idsyncv1.CancelImportResponse, error) {
	r, err := s.runByID(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	done, err := s.runs.Cancel(ctx, r, auth.Actor(ctx))
	if err != nil {
		return nil, statusErr(err, "")
	}
	return &idsyncv1.CancelImportResponse{Run: runToProto(done)}, nil
}

// maxUserPage bounds a page of ListUsers: a call never reads a whole
// directory.
const maxUserPage = 1000

// ListUsers lists a page of users in id order. A group-admin's page holds
// its groups' users only, read by their ids, with the names of its groups
// only.
func (s *AdminServer) ListUsers(ctx context.Context, req *idsyncv1.ListUsersRequest) (*idsyncv1.ListUsersResponse, error) {
	scope, dirID, err := scopeIn(ctx, s.store, req.GetDirectory())
	if err != nil {
		return nil, err
	}
	limit := int(req.GetLimit())
	if limit <= 0 || limit > maxUserPage {
		limit = maxUserPage
	}
	f := store.UserFilter{DirectoryID: dirID, WithGroups: true, OnlyGroups: scope.groupIDs()}
	if req.GetStatus() != idsyncv1.UserStatus_USER_STATUS_UNSPECIFIED {
		f.Status = statusFromProto(req.GetStatus())
	}
	users, err := pageInScope(scope, req.GetAfterId(), limit, func(ids []string, after string, limit int) ([]*store.User, error) {
		f.IDs, f.AfterID, f.Limit = ids, after, limit
		return s.store.ListUsers(ctx, f)
	})
	if err != nil {
		return nil, statusErr(err, "listing users")
	}
	purge, err := s.people.PurgeDates(ctx)
	if err != nil {
		return nil, statusErr(err, "")
	}
	resp := &idsyncv1.ListUsersResponse{Users: make([]*idsyncv1.User, 0, len(users))}
	for _, u := range users {
		p := userToProto(u)
		p.PurgeAt = ts(purge(u))
		resp.Users = append(resp.Users, p)
	}
	return resp, nil
}

// GetUser shows a user by id or username. For a group-admin, a user
// outside its groups is not found, as one that does not exist.
func (s *AdminServer) GetUser(ctx context.Context, req *idsyncv1.GetUserRequest) (*idsyncv1.GetUserResponse, error) {
	scope, dirID, err := scopeIn(ctx, s.store, req.GetDirectory())
	if err != nil {
		return nil, err
	}
	u, err := oneUserIn(ctx, s.store, scope, dirID, req.GetUser())
	if err != nil {
		return nil, err
	}
	pu, err := s.userOutIn(ctx, scope, u)
	if err != nil {
		return nil, err
	}
	return &idsyncv1.GetUserResponse{User: pu}, nil
}

// ListGroups lists groups.
func (s *AdminServer) ListGroups(ctx context.Context, req *idsyncv1.ListGroupsRequest) (*idsyncv1.ListGroupsResponse, error) {
	scope, dirID, err := scopeIn(ctx, s.store, req.GetDirectory())
	if err != nil {
		return nil, err
	}
	// A group-admin's own groups, by id: the page and its token never
	// reach past them.
	f := store.GroupFilter{DirectoryID: dirID, Prefix: req.GetQuery(), IDs: scope.groupIDs()}
	if f.AfterName, f.AfterID, err = parsePageToken(req.GetPageToken()); err != nil {
		return nil, err
	}
	want := int(req.GetPageSize())
	if want <= 0 || want > maxSearchPage {
		want = maxSearchPage
	}
	f.Limit = want + 1 // one more tells whether there is a next page
	groups, err := s.store.ListGroups(ctx, f)
	if err != nil {
		return nil, statusErr(err, "listing groups")
	}
	resp := &idsyncv1.ListGroupsResponse{}
	if len(groups) > want {
		groups = groups[:want]
		last := groups[want-1]
		resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(last.Name + "\x00" + last.ID))
	}
	for _, g := range groups {
		resp.Groups = append(resp.Groups, groupToProto(g))
	}
	return resp, nil
}

// GetGroup shows a group by id or name, with its direct members. For a
// group-admin, a group outside its groups is not found, as one that does
// not exist.
func (s *AdminServer) GetGroup(ctx context.Context, req *idsyncv1.GetGroupRequest) (*idsyncv1.GetGroupResponse, error) {
	g, err := oneGroup(ctx, s.store, req.GetGroup(), req.GetDirectory())
	if err != nil {
		return nil, err
	}
	resp := &idsyncv1.GetGroupResponse{Group: groupToProto(g)}
	// A page of members at a time, however large the group.
	size := int(req.GetPageSize())
	if size <= 0 || size > maxSearchPage {
		size = maxSearchPage
	}
	after, err := base64.RawURLEncoding.DecodeString(req.GetPageToken())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "page_token: not one this hub gave")
	}
	members, err := s.store.GroupMembersPage(ctx, g.ID, string(after), size+1)
	if err != nil {
		return nil, statusErr(err, "loading members of %q", g.Name)
	}
	if len(members) > size {
		members = members[:size]
		resp.NextPageToken = base64.RawURLEncoding.EncodeToString([]byte(members[size-1].Key))
	}
	for _, m := range members {
		resp.Members = append(resp.Members, &idsyncv1.GroupMember{Value: m.Value, Id: m.ID, Kind: idsyncv1.ObjectKindNamed(string(m.Kind)), Name: m.Name})
	}
	pushes, err := s.store.PushesOfGroup(ctx, g.ID)
	if err != nil {
		return nil, statusErr(err, "listing the apps that hold %q", g.Name)
	}
	if len(pushes) == 0 {
		return resp, nil
	}
	// The apps an app-admin manages only.
	apps, err := scopedAppNames(ctx, s.store)
	if err != nil {
		return nil, err
	}
	scope, err := groupScopeOf(ctx, s.store)
	if err != nil {
		return nil, err
	}
	for _, pg := range pushes {
		if name, ok := apps[pg.AppID]; ok {
			resp.Apps = append(resp.Apps, &idsyncv1.GroupInApp{App: name, RemoteId: pg.RemoteID,
				Name: cmp.Or(pg.DisplayName, g.Name), Drift: scope.change(pg.Drift), Found: scope.change(pg.Found)})
		}
	}
	slices.SortFunc(resp.Apps, func(a, b *idsyncv1.GroupInApp) int { return strings.Compare(a.App, b.App) })
	return resp, nil
}
