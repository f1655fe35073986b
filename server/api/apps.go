package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/provision"
	"github.com/idsync/idsync/server/scim"
	"github.com/idsync/idsync/server/store"
)

// AppServer serves AppService: downstream apps, their assignments, the push
// queue and manual tasks.
type AppServer struct {
	idsyncv1.UnimplementedAppServiceServer
	store AppStore
	apps  *provision.Apps
}

// AppStore is what the app service reads of the store: the apps as they
// are, and their figures; every change goes through provision.Apps.
type AppStore interface {
	scopeStore
	GetApp(ctx context.Context, name string) (*store.App, error)
	ListAssignments(ctx context.Context, appID int64) ([]store.Assignment, error)
	ListPushedGroups(ctx context.Context, appID int64) ([]*store.PushedGroup, error)
	ListAppGroups(ctx context.Context, appID int64) ([]*store.AppGroup, error)
	CountAccounts(ctx context.Context) ([]store.AccountCount, error)
	ListAccounts(ctx context.Context, f store.AccountFilter) ([]*store.Account, error)
	QueueStats(ctx context.Context) ([]store.QueueCount, error)
	ListJobs(ctx context.Context, f store.JobFilter) ([]*store.Job, error)
	ListTasks(ctx context.Context, f store.TaskFilter) ([]*store.Task, error)
}

var _ AppStore = store.Store(nil)

var _ idsyncv1.AppServiceServer = (*AppServer)(nil)

// AppConfig is what the app service is built with.
type AppConfig struct {
	Store AppStore
	// Apps changes apps, their assignments, pushes and tasks.
	Apps *provision.Apps
}

// NewAppServer returns the app service.
func NewAppServer(c AppConfig) *AppServer {
	return &AppServer{store: c.Store, apps: c.Apps}
}

// Settings limits and defaults.
const (
	maxJobsListed = 10000
	// neverSeconds is the proto's "never" for reconcile_interval_seconds.
	neverSeconds = math.MaxUint64
	// maxSeconds keeps a duration in seconds from overflowing time.Duration.
	maxSeconds = uint64(100 * 365 * 24 * 3600)
)

// authKinds maps the proto's auth kinds to the store's.
var authKinds = map[idsyncv1.AppAuthKind]string{
	idsyncv1.AppAuthKind_APP_AUTH_KIND_BEARER: string(scim.AuthBearer),
	idsyncv1.AppAuthKind_APP_AUTH_KIND_BASIC:  string(scim.AuthBasic),
	idsyncv1.AppAuthKind_APP_AUTH_KIND_OAUTH2: string(scim.AuthOAuth2),
}

func authKindToProto(k string) idsyncv1.AppAuthKind {
	for p, s := range authKinds {
		if s == k {
			return p
		}
	}
	return idsyncv1.AppAuthKind_APP_AUTH_KIND_UNSPECIFIED
}

// seconds converts a proto duration in seconds, naming the field when it
// is too large.
func seconds(field string, s uint64) (time.Duration, error) {
	if s > maxSeconds {
		return 0, fmt.Errorf("%s %d: too large (at most %d)", field, s, maxSeconds)
	}
	return time.Duration(s) * time.Second, nil
}

// appFromProto returns base (nil: a new app) with the settings of p; what
// the hub keeps beside them (id, secret, status, what the app said of
// PATCH, times) stays base's.
func appFromProto(p *idsyncv1.App, base *store.App) (*store.App, error) {
	a := &store.App{}
	if base != nil {
		*a = *base
	}
	a.Name, a.SCIMURL, a.AuthKind = p.GetName(), strings.TrimSpace(p.GetScimUrl()), authKinds[p.GetAuth()]
	a.Username, a.TokenURL, a.Scopes = p.GetUsername(), strings.TrimSpace(p.GetTokenUrl()), p.GetScopes()
	a.AllowCreate, a.AllowUpdate, a.AllowDeactivate = p.GetAllowCreate(), p.GetAllowUpdate(), p.GetAllowDeactivate()
	a.AllowDelete, a.PushGroups, a.UpdateMode = p.GetAllowDelete(), p.GetPushGroups(), p.GetUpdateMode()
	a.RateLimit, a.Concurrency, a.MatchBy = p.GetRateLimit(), int(min(p.GetConcurrency(), math.MaxInt32)), p.GetMatchBy()
	a.AllowInsecureHTTP, a.AllowLocalAddresses = p.GetAllowInsecureHttp(), p.GetAllowLocalAddresses()
	a.Mapping = nil
	for _, r := range p.GetMapping() {
		a.Mapping = append(a.Mapping, store.MappingRule{Target: r.GetTarget(), Expr: r.GetExpr()})
	}
	a.Target = nil
	if t := p.GetDirectoryTarget(); t != nil {
		a.Target = &store.DirectoryTarget{Directory: strings.TrimSpace(t.GetDirectory()), ParentDN: strings.TrimSpace(t.GetParentDn()),
			DisabledParentDN: strings.TrimSpace(t.GetDisabledParentDn()), RDNAttribute: t.GetRdnAttribute(),
			DisableAttribute: t.GetDisableAttribute(), DisableGroupDN: strings.TrimSpace(t.GetDisableGroupDn())}
	}
	var err error
	if a.DeleteAfter, err = seconds("delete_after_seconds", p.GetDeleteAfterSeconds()); err != nil {
		return nil, err
	}
	if s := p.GetReconcileIntervalSeconds(); s == neverSeconds {
		a.ReconcileInterval = -1
	} else if a.ReconcileInterval, err = seconds("reconcile_interval_seconds", s); err != nil {
		return nil, err
	}
	return a, nil
}

// appToProto describes a's settings and status (never its secret).
func appToProto(a *store.App) *idsyncv1.App {
	p := &idsyncv1.App{
		Name: a.Name, ScimUrl: a.SCIMURL, Auth: authKindToProto(a.AuthKind), Username: a.Username,
		TokenUrl: a.TokenURL, Scopes: a.Scopes, HasSecret: len(a.Secret) > 0,
		AllowCreate: a.AllowCreate, AllowUpdate: a.AllowUpdate, AllowDeactivate: a.AllowDeactivate,
		AllowDelete: a.AllowDelete, PushGroups: a.PushGroups, UpdateMode: a.UpdateMode,
		RateLimit: a.RateLimit, Concurrency: uint32(max(a.Concurrency, 0)), MatchBy: a.MatchBy,
		DeleteAfterSeconds: uint64(a.DeleteAfter / time.Second), Status: string(a.Status),
		StatusMessage: a.StatusMessage, PatchSupported: a.PatchSupported, CreatedAt: ts(a.CreatedAt),
		ReconcileIntervalSeconds: uint64(a.ReconcileInterval / time.Second),
		Accounts:                 map[string]uint64{}, Queue: map[string]uint64{},
		AllowInsecureHttp: a.AllowInsecureHTTP, AllowLocalAddresses: a.AllowLocalAddresses,
	}
	switch {
	case a.ReconcileInterval < 0:
		p.ReconcileIntervalSeconds = neverSeconds
	case a.ReconcileInterval == 0:
		p.ReconcileIntervalSeconds = uint64(24 * time.Hour / time.Second)
	}
	for _, r := range a.Mapping {
		p.Mapping = append(p.Mapping, &idsyncv1.AppMappingRule{Target: r.Target, Expr: r.Expr})
	}
	if t := a.Target; t != nil {
		p.DirectoryTarget = &idsyncv1.DirectoryTarget{Directory: t.Directory, ParentDn: t.ParentDN,
			DisabledParentDn: t.DisabledParentDN, RdnAttribute: t.RDNAttribute, DisableAttribute: t.DisableAttribute,
			DisableGroupDn: t.DisableGroupDN}
	}
	return p
}

// app loads an app by name.
func (s *AppServer) app(ctx context.Context, name string) (*store.App, error) {
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "app: name required")
	}
	a, err := s.store.GetApp(ctx, name)
	var id int64
	switch {
	case err == nil:
		id = a.ID
	case !errors.Is(err, store.ErrNotFound):
		return nil, statusErr(err, "loading app %q", name)
	}
	// An admin limited to apps gets the same refusal for an app it may
	// not manage and for one that does not exist.
	if err := auth.ScopeOf(ctx).CheckApp(name, id); err != nil {
		return nil, err
	}
	if id == 0 {
		return nil, status.Errorf(codes.NotFound, "app %q does not exist (see `idsyncctl app list`)", name)
	}
	return a, nil
}

// CreateApp adds an app. With none of the user operations allowed, it
// allows create, update and deactivate.
func (s *AppServer) CreateApp(ctx context.Context, req *idsyncv1.CreateAppRequest) (*idsyncv1.CreateAppResponse, error) {
	scope := auth.ScopeOf(ctx)
	if !scope.AllApps() {
		t, _ := auth.Admin(ctx)
		return nil, status.Errorf(codes.PermissionDenied, "permission %s missing for new apps: admin token %q manages named apps only",
			auth.PermAppsWrite, t.Name)
	}
	a, err := appFromProto(req.GetApp(), nil)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "app: %v", err)
	}
	if err := s.apps.Create(ctx, a, req.GetSecret(), scope, auth.Actor(ctx)); err != nil {
		return nil, statusErr(err, "")
	}
	pa, err := s.describe(ctx, a)
	if err != nil {
		return nil, err
	}
	return &idsyncv1.CreateAppResponse{App: pa}, nil
}

// appFixed are the App fields an update cannot set: the name identifies
// the app, the others are what the hub reports.
var appFixed = []string{"name", "has_secret", "status", "status_message", "assignments", "pushed_groups",
	"accounts", "queue", "patch_supported", "created_at", "pushed_group_states", "app_groups"}

// UpdateApp changes the settings of an app that update_mask names, and its
// secret when one is given. A new secret, URL or credential setting, or
// resume, sets a paused app active again.
func (s *AppServer) UpdateApp(ctx context.Context, req *idsyncv1.UpdateAppRequest) (*idsyncv1.UpdateAppResponse, error) {
	if err := checkKnown(req); err != nil {
		return nil, err
	}
	mask := req.GetUpdateMask()
	if len(mask.GetPaths()) == 0 && req.GetSecret() == "" && !req.GetResume() {
		return nil, status.Error(codes.InvalidArgument, "update_mask: name at least one setting to change (or give a secret, or resume)")
	}
	stored, err := s.app(ctx, req.GetApp().GetName())
	if err != nil {
		return nil, err
	}
	if err := checkMask(req.GetApp(), mask, appFixed); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "app %s: %v", stored.Name, err)
	}
	p := appToProto(stored)
	applyMask(p, req.GetApp(), mask)
	a, err := appFromProto(p, stored)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "app %s: %v", stored.Name, err)
	}
	u := provision.AppUpdate{Fields: mask.GetPaths(), Secret: req.GetSecret(), Resume: req.GetResume()}
	if err := s.apps.Update(ctx, stored, a, u, auth.ScopeOf(ctx), auth.Actor(ctx)); err != nil {
		return nil, statusErr(err, "")
	}
	pa, err := s.describe(ctx, a)
	if err != nil {
		return nil, err
	}
	return &idsyncv1.UpdateAppResponse{App: pa}, nil
}

// figures are the per-app counts that ListApps reads once for all apps.
type figures struct {
	accounts []store.AccountCount
	queue    []store.QueueCount
}

func (s *AppServer) figures(ctx context.Context) (*figures, error) {
	acc, err := s.store.CountAccounts(ctx)
	if err != nil {
		return nil, statusErr(err, "counting accounts")
	}
	q, err := s.store.QueueStats(ctx)
	if err != nil {
		return nil, statusErr(err, "counting jobs")
	}
	return &figures{accounts: acc, queue: q}, nil
}

// describe adds the assignments, pushed groups and figures to an app.
func (s *AppServer) describe(ctx context.Context, a *store.App) (*idsyncv1.App, error) {
	f, err := s.figures(ctx)
	if err != nil {
		return nil, err
	}
	scope, err := groupScopeOf(ctx, s.store)
	if err != nil {
		return nil, err
	}
	return s.describeWith(ctx, a, f, newNamer(s.store), scope)
}

// describeWith is describe with the figures, names and scope of a call
// that describes several apps. A group-admin sees the assignments and
// pushed groups of its own groups and their users only.
func (s *AppServer) describeWith(ctx context.Context, a *store.App, f *figures, n *namer, scope *groupScope) (*idsyncv1.App, error) {
	p := appToProto(a)
	for _, c := range f.accounts {
		if c.AppID == a.ID {
			p.Accounts[string(c.State)] += uint64(c.Count)
		}
	}
	for _, c := range f.queue {
		if c.AppID == a.ID {
			p.Queue[string(c.State)] += uint64(c.Count)
		}
	}
	as, err := s.store.ListAssignments(ctx, a.ID)
	if err != nil {
		return nil, statusErr(err, "listing the assignments of %q", a.Name)
	}
	for _, as := range as {
		if (as.Kind == store.AssignUser && !scope.user(as.TargetID)) || (as.Kind == store.AssignGroup && !scope.group(as.TargetID)) {
			continue
		}
		name, err := n.name(ctx, as.Kind, as.TargetID)
		if err != nil {
			return nil, err
		}
		p.Assignments = append(p.Assignments, &idsyncv1.AppAssignment{Kind: string(as.Kind), TargetId: as.TargetID, Name: name})
	}
	pgs, err := s.store.ListPushedGroups(ctx, a.ID)
	if err != nil {
		return nil, statusErr(err, "listing the pushed groups of %q", a.Name)
	}
	for _, g := range pgs {
		if !scope.group(g.GroupID) {
			continue
		}
		name, err := n.name(ctx, store.AssignGroup, g.GroupID)
		if err != nil {
			return nil, err
		}
		p.PushedGroups = append(p.PushedGroups, cmp.Or(name, g.GroupID))
		if len(g.Missing) == 0 && g.Drift == "" && g.Found == "" {
			continue
		}
		ps := &idsyncv1.PushedGroupState{Name: cmp.Or(name, g.GroupID), Drift: scope.change(g.Drift), DriftAt: ts(g.DriftAt),
			CheckedAt: ts(g.CheckedAt), Found: scope.change(g.Found), FoundAt: ts(g.FoundAt)}
		for _, id := range g.Missing {
			user, err := n.name(ctx, store.AssignUser, id)
			if err != nil {
				return nil, err
			}
			ps.Missing = append(ps.Missing, cmp.Or(user, id))
		}
		p.PushedGroupStates = append(p.PushedGroupStates, ps)
	}
	if p.AppGroups, err = s.appGroups(ctx, a, n, scope); err != nil {
		return nil, err
	}
	return p, nil
}

// maxGroupMembersShown bounds the usernames an app's group lists.
const maxGroupMembersShown = 50

// appGroups describes the groups app a holds of its own. A group-admin
// sees their members among its users only, and the groups that hold one.
func (s *AppServer) appGroups(ctx context.Context, a *store.App, n *namer, scope *groupScope) ([]*idsyncv1.AppGroup, error) {
	ags, err := s.store.ListAppGroups(ctx, a.ID)
	if err != nil {
		return nil, statusErr(err, "listing the groups of %q", a.Name)
	}
	var out []*idsyncv1.AppGroup
	for _, g := range ags {
		members := slices.DeleteFunc(slices.Clone(g.Members), func(id string) bool { return !scope.user(id) })
		if scope.limited && len(members) == 0 {
			continue
		}
		pg := &idsyncv1.AppGroup{RemoteId: g.RemoteID, Name: g.DisplayName, ExternalId: g.ExternalID,
			MemberCount: uint64(len(members)), ImportedAt: ts(g.ImportedAt)}
		if !scope.limited {
			pg.Unlinked = uint64(g.Unlinked)
		}
		names := make([]string, 0, len(members))
		for _, id := range members {
			name, err := n.name(ctx, store.AssignUser, id)
			if err != nil {
				return nil, err
			}
			names = append(names, cmp.Or(name, id))
		}
		slices.Sort(names)
		pg.Members = names[:min(len(names), maxGroupMembersShown)]
		out = append(out, pg)
	}
	return out, nil
}

// namer resolves user ids to usernames and group ids to group names, once
// each per call; an object gone from the hub has no name ("").
type namer struct {
	st    scopeStore
	names map[string]string
}

func newNamer(st scopeStore) *namer { return &namer{st: st, names: map[string]string{}} }

func (n *namer) name(ctx context.Context, kind store.AssignmentKind, id string) (string, error) {
	key := string(kind) + ":" + id
	if v, ok := n.names[key]; ok {
		return v, nil
	}
	var name string
	var err error
	switch kind {
	case store.AssignUser:
		var u *store.User
		if u, err = n.st.GetUser(ctx, id); err == nil {
			name = u.Username
		}
	case store.AssignGroup:
		var g *store.Group
		if g, err = n.st.GetGroup(ctx, id); err == nil {
			name = g.Name
		}
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", statusErr(err, "loading %s %s", kind, id)
	}
	n.names[key] = name
	return name, nil
}

// ListApps lists apps.
func (s *AppServer) ListApps(ctx context.Context, _ *idsyncv1.ListAppsRequest) (*idsyncv1.ListAppsResponse, error) {
	apps, err := s.store.ListApps(ctx)
	if err != nil {
		return nil, statusErr(err, "listing apps")
	}
	f, err := s.figures(ctx)
	if err != nil {
		return nil, err
	}
	groups, err := groupScopeOf(ctx, s.store)
	if err != nil {
		return nil, err
	}
	n := newNamer(s.store)
	resp := &idsyncv1.ListAppsResponse{}
	scope := auth.ScopeOf(ctx)
	for _, a := range apps {
		if !scope.App(a.ID) {
			continue
		}
		pa, err := s.describeWith(ctx, a, f, n, groups)
		if err != nil {
			return nil, err
		}
		resp.Apps = append(resp.Apps, pa)
	}
	return resp, nil
}

// GetApp shows an app.
func (s *AppServer) GetApp(ctx context.Context, req *idsyncv1.GetAppRequest) (*idsyncv1.GetAppResponse, error) {
	a, err := s.app(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	pa, err := s.describe(ctx, a)
	if err != nil {
		return nil, err
	}
	return &idsyncv1.GetAppResponse{App: pa}, nil
}

// DeleteApp removes an app and what the hub knows of it; the accounts in
// the app stay as they are.
func (s *AppServer) DeleteApp(ctx context.Context, req *idsyncv1.DeleteAppRequest) (*idsyncv1.DeleteAppResponse, error) {
	a, err := s.app(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	if err := s.apps.Delete(ctx, a, auth.Actor(ctx)); err != nil {
		return nil, statusErr(err, "")
	}
	return &idsyncv1.DeleteAppResponse{}, nil
}

// provErr maps an error of the provisioning engine (the target's answer,
// the store's) to a status.
func provErr(err error, format string, args ...any) error {
	var (
		ar *provision.AuthRefused
		ua *provision.Unavailable
		ra *provision.RetryAfter
		nf *provision.NotFound
		cf *provision.Conflict
		rf *provision.Refused
	)
	msg := fmt.Sprintf(format, args...) + ": " + err.Error()
	switch {
	case errors.As(err, &ar):
		return status.Error(codes.FailedPrecondition, msg+" (fix it with `idsyncctl app update`)")
	case errors.As(err, &ua), errors.As(err, &ra):
		return status.Error(codes.Unavailable, msg)
	case errors.As(err, &nf), errors.As(err, &cf), errors.As(err, &rf):
		return status.Error(codes.FailedPrecondition, msg)
	}
	return statusErr(err, format, args...)
}

// TestApp reads what the app supports.
func (s *AppServer) TestApp(ctx context.Context, req *idsyncv1.TestAppRequest) (*idsyncv1.TestAppResponse, error) {
	a, err := s.app(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	rep, err := s.apps.Test(ctx, a, auth.Actor(ctx))
	if err != nil {
		return nil, provErr(err, "testing app %q", a.Name)
	}
	resp := &idsyncv1.TestAppResponse{Schemas: rep.Schemas, UsersFound: uint64(max(rep.UsersFound, 0)),
		FilterUsed: rep.FilterUsed, Problems: rep.Problems}
	if c := rep.Config; c != nil {
		resp.Patch, resp.Filter, resp.Bulk = c.Patch.Supported, c.Filter.Supported, c.Bulk.Supported
		resp.Etag, resp.Sort, resp.ChangePassword = c.ETag.Supported, c.Sort.Supported, c.ChangePassword.Supported
		resp.MaxResults = uint64(max(c.Filter.MaxResults, 0))
		for _, sc := range c.AuthenticationSchemes {
			resp.AuthSchemes = append(resp.AuthSchemes, cmp.Or(sc.Type, sc.Name))
		}
	}
	return resp, nil
}

// resolve finds a user or group by id, else by name (in one directory when
// directory is set). A name in several directories is InvalidArgument. For
// a group-admin, what lies outside its groups is not found, as what does
// not exist.
func (s *AppServer) resolve(ctx context.Context, kind store.AssignmentKind, ref, directory string) (id, name string, err error) {
	if ref == "" {
		return "", "", status.Errorf(codes.InvalidArgument, "%s: required", kind)
	}
	scope, dirID, err := scopeIn(ctx, s.store, directory)
	if err != nil {
		return "", "", err
	}
	type found struct{ id, name, dir string }
	var hits []found
	if kind == store.AssignUser {
		users, err := findUsers(ctx, s.store, scope, dirID, ref)
		if err != nil {
			return "", "", err
		}
		for _, u := range users {
			hits = append(hits, found{u.ID, u.Username, u.Directory})
		}
	} else {
		groups, err := findGroups(ctx, s.store, scope, dirID, ref)
		if err != nil {
			return "", "", err
		}
		for _, g := range groups {
			hits = append(hits, found{g.ID, g.Name, g.Directory})
		}
	}
	switch len(hits) {
	case 0:
		where := ""
		if directory != "" {
			where = " in directory " + directory
		}
		return "", "", status.Errorf(codes.NotFound, "no %s with id or name %q%s", kind, ref, where)
	case 1:
		return hits[0].id, hits[0].name, nil
	}
	dirs := make([]string, 0, len(hits))
	for _, h := range hits {
		dirs = append(dirs, h.dir)
	}
	return "", "", status.Errorf(codes.InvalidArgument, "%s %q exists in several directories (%s): name one with --directory, or give the id",
		kind, ref, strings.Join(dirs, ", "))
}

// PreviewApp shows the request the next push of a user would make.
func (s *AppServer) PreviewApp(ctx context.Context, req *idsyncv1.PreviewAppRequest) (*idsyncv1.PreviewAppResponse, error) {
	a, err := s.app(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	id, name, err := s.resolve(ctx, store.AssignUser, req.GetUser(), req.GetDirectory())
	if err != nil {
		return nil, err
	}
	p, err := s.apps.Preview(ctx, a, id)
	if err != nil {
		return nil, provErr(err, "previewing user %s in app %q", name, a.Name)
	}
	return &idsyncv1.PreviewAppResponse{Action: p.Action, Request: p.Request, Body: p.Body, Reason: p.Reason}, nil
}

// assignRequest is what AssignAppRequest and UnassignAppRequest share.
type assignRequest interface {
	GetName() string
	GetUser() string
	GetGroup() string
	GetDirectory() string
}

// changeAssignment assigns (or unassigns) the user or group of req, tells
// the engine, and describes the app with the users in scope now.
func (s *AppServer) changeAssignment(ctx context.Context, req assignRequest, assign bool) (*idsyncv1.App, uint64, error) {
	a, err := s.app(ctx, req.GetName())
	if err != nil {
		return nil, 0, err
	}
	if (req.GetUser() == "") == (req.GetGroup() == "") {
		return nil, 0, status.Error(codes.InvalidArgument, "user, group: name exactly one")
	}
	kind, ref := store.AssignUser, req.GetUser()
	if req.GetGroup() != "" {
		kind, ref = store.AssignGroup, req.GetGroup()
	}
	if _, limited := auth.ScopeOf(ctx).GroupIDs(); limited && kind == store.AssignUser {
		// Refused before the user is looked up: the answer is the same
		// whether the user exists or not.
		return nil, 0, status.Errorf(codes.PermissionDenied, "permission %s missing for single users: a group-admin assigns its groups",
			auth.PermAssignmentsWrite)
	}
	// resolve finds, for a group-admin, only its own groups.
	id, name, err := s.resolve(ctx, kind, ref, req.GetDirectory())
	if err != nil {
		return nil, 0, err
	}
	change := s.apps.Unassign
	if assign {
		change = s.apps.Assign
	}
	n, err := change(ctx, a, provision.Assignee{Kind: kind, ID: id, Name: name}, auth.Actor(ctx))
	if err != nil {
		return nil, 0, statusErr(err, "")
	}
	pa, err := s.describe(ctx, a)
	if err != nil {
		return nil, 0, err
	}
	return pa, uint64(n), nil
}

// AssignApp puts a user, or a group's members, in scope of an app.
func (s *AppServer) AssignApp(ctx context.Context, req *idsyncv1.AssignAppRequest) (*idsyncv1.AssignAppResponse, error) {
	pa, n, err := s.changeAssignment(ctx, req, true)
	if err != nil {
		return nil, err
	}
	return &idsyncv1.AssignAppResponse{App: pa, UsersInScope: n}, nil
}

// UnassignApp removes an assignment.
func (s *AppServer) UnassignApp(ctx context.Context, req *idsyncv1.UnassignAppRequest) (*idsyncv1.UnassignAppResponse, error) {
	pa, n, err := s.changeAssignment(ctx, req, false)
	if err != nil {
		return nil, err
	}
	return &idsyncv1.UnassignAppResponse{App: pa, UsersInScope: n}, nil
}

// ImportFromApp reads the app's accounts and links those matching users in
// scope.
func (s *AppServer) ImportFromApp(ctx context.Context, req *idsyncv1.ImportFromAppRequest) (*idsyncv1.ImportFromAppResponse, error) {
	a, err := s.app(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	res, err := s.apps.Import(ctx, a, req.GetGroups(), auth.Actor(ctx))
	if err != nil {
		return nil, provErr(err, "importing from app %q", a.Name)
	}
	resp := &idsyncv1.ImportFromAppResponse{Read: uint64(res.Read), Linked: uint64(res.Linked),
		AlreadyLinked: uint64(res.AlreadyLinked)}
	for _, r := range res.Unmatched {
		resp.Unmatched = append(resp.Unmatched, &idsyncv1.RemoteAccount{RemoteId: r.RemoteID, UserName: r.UserName, Email: r.Email})
	}
	if g := res.Groups; g != nil {
		resp.Groups = &idsyncv1.AppGroupImport{Read: uint64(g.Read), AlreadyLinked: uint64(g.AlreadyLinked), Own: uint64(g.Own)}
		for _, l := range g.Linked {
			resp.Groups.Linked = append(resp.Groups.Linked, &idsyncv1.LinkedAppGroup{Group: l.Group, RemoteName: l.RemoteName, By: l.By})
		}
		for _, d := range g.Drift {
			resp.Groups.Drift = append(resp.Groups.Drift, &idsyncv1.AppGroupDrift{Group: d.Group, Found: d.Found})
		}
	}
	return resp, nil
}

// appNames maps app ids to names, the apps the caller may see only.
func (s *AppServer) appNames(ctx context.Context) (map[int64]string, error) {
	return scopedAppNames(ctx, s.store)
}

// appFilter resolves an optional app name to its id (0: every app) and
// returns the names of all apps.
func (s *AppServer) appFilter(ctx context.Context, name string) (int64, map[int64]string, error) {
	names, err := s.appNames(ctx)
	if err != nil {
		return 0, nil, err
	}
	if name == "" {
		return 0, names, nil
	}
	for id, n := range names {
		if n == name {
			return id, names, nil
		}
	}
	// Not among the apps the admin may see: absent, or another's.
	if err := auth.ScopeOf(ctx).CheckApp(name, 0); err != nil {
		return 0, nil, err
	}
	return 0, nil, status.Errorf(codes.NotFound, "app %q does not exist (see `idsyncctl app list`)", name)
}

// ListPushes lists jobs of the push queue.
func (s *AppServer) ListPushes(ctx context.Context, req *idsyncv1.ListPushesRequest) (*idsyncv1.ListPushesResponse, error) {
	appID, names, err := s.appFilter(ctx, req.GetApp())
	if err != nil {
		return nil, err
	}
	f := store.JobFilter{AppID: appID, Limit: int(min(req.GetLimit(), maxJobsListed))}
	if req.GetFailed() {
		f.States = []store.JobState{store.JobDead}
	}
	jobs, err := s.store.ListJobs(ctx, f)
	if err != nil {
		return nil, statusErr(err, "listing jobs")
	}
	n := newNamer(s.store)
	resp := &idsyncv1.ListPushesResponse{}
	for _, j := range jobs {
		if _, ok := names[j.AppID]; !ok {
			continue // an app outside the admin's
		}
		target := j.Target
		if j.Kind == store.JobUser || j.Kind == store.JobGroup {
			kind := store.AssignUser
			if j.Kind == store.JobGroup {
				kind = store.AssignGroup
			}
			name, err := n.name(ctx, kind, j.Target)
			if err != nil {
				return nil, err
			}
			target = cmp.Or(name, j.Target)
		}
		resp.Jobs = append(resp.Jobs, &idsyncv1.PushJob{
			Id: strconv.FormatInt(j.ID, 10), App: names[j.AppID], Kind: string(j.Kind), Target: target,
			State: string(j.State), Attempts: uint32(max(j.Attempts, 0)), NextAt: ts(j.NextAt),
			LastError: j.LastError, UpdatedAt: ts(j.UpdatedAt),
		})
	}
	return resp, nil
}

// parseID parses a job or task id.
func parseID(what, id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return 0, status.Errorf(codes.InvalidArgument, "%s id %q: want a positive number", what, id)
	}
	return n, nil
}

// RetryPushes puts dead jobs back in the queue: one by id, or all of an
// app's.
func (s *AppServer) RetryPushes(ctx context.Context, req *idsyncv1.RetryPushesRequest) (*idsyncv1.RetryPushesResponse, error) {
	if (req.GetId() == "") == (req.GetApp() == "") {
		return nil, status.Error(codes.InvalidArgument, "id, app: name exactly one")
	}
	var appID, id int64
	var err error
	if req.GetId() != "" {
		if id, err = parseID("job", req.GetId()); err != nil {
			return nil, err
		}
		if err := s.checkJobApp(ctx, id); err != nil {
			return nil, err
		}
	} else if appID, _, err = s.appFilter(ctx, req.GetApp()); err != nil {
		return nil, err
	}
	n, err := s.apps.RetryPushes(ctx, provision.Retry{AppID: appID, JobID: id, App: req.GetApp(), Job: req.GetId()}, auth.Actor(ctx))
	if err != nil {
		return nil, statusErr(err, "")
	}
	return &idsyncv1.RetryPushesResponse{Requeued: uint64(n)}, nil
}

func (s *AppServer) taskToProto(ctx context.Context, t *store.Task, names map[int64]string, n *namer) (*idsyncv1.ManualTask, error) {
	user, err := n.name(ctx, store.AssignUser, t.UserID)
	if err != nil {
		return nil, err
	}
	return &idsyncv1.ManualTask{
		Id: strconv.FormatInt(t.ID, 10), App: names[t.AppID], User: cmp.Or(user, t.UserID), Kind: t.Kind,
		State: string(t.State), Detail: t.Detail, CreatedAt: ts(t.CreatedAt), ResolvedBy: t.ResolvedBy,
		ResolvedAt: ts(t.ResolvedAt), Note: t.Note,
	}, nil
}

// ListTasks lists manual tasks, open ones unless all.
func (s *AppServer) ListTasks(ctx context.Context, req *idsyncv1.ListTasksRequest) (*idsyncv1.ListTasksResponse, error) {
	appID, names, err := s.appFilter(ctx, req.GetApp())
	if err != nil {
		return nil, err
	}
	f := store.TaskFilter{AppID: appID, State: store.TaskOpen}
	if req.GetAll() {
		f.State = ""
	}
	tasks, err := s.store.ListTasks(ctx, f)
	if err != nil {
		return nil, statusErr(err, "listing tasks")
	}
	n := newNamer(s.store)
	resp := &idsyncv1.ListTasksResponse{}
	for _, t := range tasks {
		if _, ok := names[t.AppID]; !ok {
			continue // an app outside the admin's
		}
		pt, err := s.taskToProto(ctx, t, names, n)
		if err != nil {
			return nil, err
		}
		resp.Tasks = append(resp.Tasks, pt)
	}
	return resp, nil
}

// ResolveTask marks a manual task done by the calling admin.
func (s *AppServer) ResolveTask(ctx context.Context, req *idsyncv1.ResolveTaskRequest) (*idsyncv1.ResolveTaskResponse, error) {
	id, err := parseID("task", req.GetId())
	if err != nil {
		return nil, err
	}
	if err := s.checkTaskApp(ctx, id); err != nil {
		return nil, err
	}
	t, err := s.apps.ResolveTask(ctx, id, req.GetNote(), auth.Actor(ctx))
	if err != nil {
		return nil, statusErr(err, "")
	}
	names, err := s.appNames(ctx)
	if err != nil {
		return nil, err
	}
	pt, err := s.taskToProto(ctx, t, names, newNamer(s.store))
	if err != nil {
		return nil, err
	}
	return &idsyncv1.ResolveTaskResponse{Task: pt}, nil
}

// checkJobApp refuses a job of an app outside a scoped app-admin's apps.
func (s *AppServer) checkJobApp(ctx context.Context, id int64) error {
	if auth.ScopeOf(ctx).AllApps() {
		return nil
	}
	names, err := s.appNames(ctx)
	if err != nil {
		return err
	}
	for appID := range names {
		jobs, err := s.store.ListJobs(ctx, store.JobFilter{AppID: appID, States: []store.JobState{store.JobDead}, Limit: maxJobsListed})
		if err != nil {
			return statusErr(err, "listing jobs")
		}
		if slices.ContainsFunc(jobs, func(j *store.Job) bool { return j.ID == id }) {
			return nil
		}
	}
	return status.Errorf(codes.PermissionDenied, "permission %s missing for job %d: not a failed push of the apps this token manages",
		auth.PermPushesWrite, id)
}

// checkTaskApp refuses a task of an app outside a scoped app-admin's apps.
func (s *AppServer) checkTaskApp(ctx context.Context, id int64) error {
	if auth.ScopeOf(ctx).AllApps() {
		return nil
	}
	names, err := s.appNames(ctx)
	if err != nil {
		return err
	}
	tasks, err := s.store.ListTasks(ctx, store.TaskFilter{})
	if err != nil {
		return statusErr(err, "listing tasks")
	}
	for _, t := range tasks {
		if _, ok := names[t.AppID]; ok && t.ID == id {
			return nil
		}
	}
	return status.Errorf(codes.PermissionDenied, "permission %s missing for task %d: not a task of the apps this token manages",
		auth.PermPushesWrite, id)
}
