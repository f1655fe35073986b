package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/idsync/idsync/internal/pki"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/audit"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/authn"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/people"
	"github.com/idsync/idsync/server/provision"
	"github.com/idsync/idsync/server/rules"
	"github.com/idsync/idsync/server/secrets"
	"github.com/idsync/idsync/server/sessions"
	"github.com/idsync/idsync/server/store"
)

// AdminServer serves AdminService.
type AdminServer struct {
	idsyncv1.UnimplementedAdminServiceServer
	store     store.Store
	engine    *ingest.Engine
	ca        *pki.CA
	sessions  *sessions.Registry
	log       *slog.Logger
	audit     *audit.Log
	heartbeat time.Duration
	authn     *authn.Service
	box       *secrets.Box
	people    *people.Service
	retention time.Duration
	rules     *rules.Engine
}

// AdminConfig is what the admin service is built with.
type AdminConfig struct {
	Store    store.Store
	Engine   *ingest.Engine
	CA       *pki.CA
	Sessions *sessions.Registry
	// Box seals a directory's initial password expression.
	Box   *secrets.Box
	Log   *slog.Logger
	Audit *audit.Log
	// Heartbeat is the agents' heartbeat interval (an agent silent for
	// three is offline; default 10 s).
	Heartbeat time.Duration
	// Authn answers Authenticate (nil: delegated authentication is off).
	Authn *authn.Service
	// People acts on users and local groups (deactivate, restore, create…).
	People *people.Service
	// UserRetention is how long a deprovisioned user is kept before it is
	// purged, where its directory does not say (for the purge dates shown).
	UserRetention time.Duration
	// Rules serves the group rules (nil: not served).
	Rules *rules.Engine
}

// NewAdminServer returns the admin service.
func NewAdminServer(c AdminConfig) *AdminServer {
	if c.Heartbeat <= 0 {
		c.Heartbeat = 10 * time.Second
	}
	return &AdminServer{store: c.Store, engine: c.Engine, ca: c.CA, sessions: c.Sessions, box: c.Box,
		log: c.Log.With("component", "admin"), audit: c.Audit, heartbeat: c.Heartbeat, authn: c.Authn,
		people: c.People, retention: c.UserRetention, rules: c.Rules}
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
	ingest.ApplyPreset(d)
	if wb := req.GetDirectory().GetWriteBack(); wb != nil {
		if err := s.applyWriteBack(d, wb, writeBackFields); err != nil {
			return nil, err
		}
	}
	if err := ingest.ValidateDirectory(d); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "directory: %v", err)
	}
	if err := provision.ValidateWriteBack(d); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "directory %s: %v", d.Name, err)
	}
	if err := s.store.CreateDirectory(ctx, d); errors.Is(err, store.ErrConflict) {
		return nil, status.Errorf(codes.AlreadyExists, "directory %q already exists", d.Name)
	} else if err != nil {
		return nil, statusErr(err, "creating directory %q", d.Name)
	}
	s.log.Info("directory created", "directory", d.Name, "kind", d.Kind, "by", auth.Actor(ctx))
	s.audit.Event(ctx, "directory.create", "directory:"+d.Name, "kind %s, base %s", d.Kind, d.BaseDN)
	pd, err := s.describe(ctx, d)
	if err != nil {
		return nil, err
	}
	return &idsyncv1.CreateDirectoryResponse{Directory: pd}, nil
}

// directoryFixed are the Directory fields an update cannot set: name and
// kind identify the directory, the others are what the hub reports.
var directoryFixed = []string{"name", "kind", "created_at", "active_users", "groups", "agents", "last_run",
	"capture", "capture_status"}

// UpdateDirectory changes the settings of a directory that update_mask
// names; the write-back's are applyWriteBack's.
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
		if p == "write_back" || strings.HasPrefix(p, "write_back.") {
			wbPaths = append(wbPaths, p)
		} else {
			settings = append(settings, p)
		}
	}
	p := directoryToProto(stored)
	applyMask(p, in, &fieldmaskpb.FieldMask{Paths: settings})
	d := directoryFromProto(p, stored)
	if len(wbPaths) > 0 {
		if err := s.applyWriteBack(d, in.GetWriteBack(), wbPaths); err != nil {
			return nil, err
		}
	}
	if err := ingest.ValidateDirectory(d); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "directory: %v", err)
	}
	if err := provision.ValidateWriteBack(d); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "directory %s: %v", d.Name, err)
	}
	if err := s.store.UpdateDirectory(ctx, d); err != nil {
		return nil, statusErr(err, "updating directory %q", d.Name)
	}
	s.log.Info("directory updated", "directory", d.Name, "fields", paths, "by", auth.Actor(ctx))
	s.audit.Event(ctx, "directory.update", "directory:"+d.Name, "fields %s", strings.Join(paths, ","))
	pd, err := s.describe(ctx, d)
	if err != nil {
		return nil, err
	}
	return &idsyncv1.UpdateDirectoryResponse{Directory: pd}, nil
}

// writeBackFields are the write-back fields of a Directory, by name.
var writeBackFields = []string{"write_back.ous", "write_back.groups", "write_back.initial_password",
	"write_back.must_change_password"}

// applyWriteBack sets the write-back fields of d that paths name from in:
// "write_back" alone replaces the whole (unset: off); the initial password
// expression is checked and sealed for the directory. Write-back that is
// turned on makes created accounts change their password unless in says
// otherwise.
func (s *AdminServer) applyWriteBack(d *store.Directory, in *idsyncv1.WriteBack, fields []string) error {
	if slices.Contains(fields, "write_back") {
		if len(fields) > 1 {
			return status.Error(codes.InvalidArgument, "update_mask: write_back replaces the whole; name it alone")
		}
		d.WriteBack = nil
		if in == nil {
			return nil
		}
		fields = writeBackFields
	}
	if d.WriteBack == nil {
		d.WriteBack = &store.WriteBack{MustChangePassword: true}
	}
	wb := d.WriteBack
	for _, f := range fields {
		switch f {
		case "write_back.ous":
			wb.OUs = trimAll(in.GetOus())
		case "write_back.groups":
			wb.Groups = trimAll(in.GetGroups())
		case "write_back.initial_password":
			src := in.GetInitialPassword()
			if src == PasswordSet {
				continue // shown back as it was: kept
			}
			wb.InitialPassword = nil
			if src != "" {
				if err := provision.CheckPasswordExpression(src); err != nil {
					return status.Errorf(codes.InvalidArgument, "directory %s: %v", d.Name, err)
				}
				wb.InitialPassword = s.box.Seal([]byte(src), provision.WriteBackSecretContext(d.Name))
			}
		case "write_back.must_change_password":
			if in.MustChangePassword != nil {
				wb.MustChangePassword = in.GetMustChangePassword()
			}
		default:
			return status.Errorf(codes.InvalidArgument, "update_mask: %q cannot be changed", f)
		}
	}
	return nil
}

// trimAll returns l with each value trimmed and empty ones left out.
func trimAll(l []string) []string {
	var out []string
	for _, v := range l {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
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
	runs, err := s.store.ListRuns(ctx, store.RunFilter{DirectoryID: d.ID, Limit: 1})
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
	if err := notSource(d); err != nil {
		return nil, err
	}
	ttl := time.Duration(req.GetTtlSeconds()) * time.Second
	if ttl == 0 {
		ttl = 24 * time.Hour
	}
	token, hash := pki.NewEnrollToken(s.ca.Fingerprint())
	now := time.Now()
	t := &store.EnrollToken{Hash: hash, Directory: d.Name, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.store.CreateEnrollToken(ctx, t); err != nil {
		return nil, statusErr(err, "storing enrolment token")
	}
	s.log.Info("enrolment token created", "directory", d.Name, "expires", t.ExpiresAt, "by", auth.Actor(ctx))
	s.audit.Event(ctx, "agent.enrollment-token.create", "directory:"+d.Name, "expires %s", t.ExpiresAt.UTC().Format(time.RFC3339))
	return &idsyncv1.CreateEnrollmentTokenResponse{Token: token, ExpiresAt: ts(t.ExpiresAt)}, nil
}

// online says whether an agent has a live stream.
func (s *AdminServer) online(a *store.Agent, now time.Time) bool {
	return a.RevokedAt.IsZero() && a.SessionID != "" && now.Sub(a.LastSeen) < 3*s.heartbeat
}

// agentToProto describes an agent: active when it holds the change capture
// of a directory (capturing lists them), standby when online otherwise.
func (s *AdminServer) agentToProto(a *store.Agent, now time.Time, capturing []string) *idsyncv1.Agent {
	state := idsyncv1.AgentState_AGENT_STATE_OFFLINE
	switch {
	case !a.RevokedAt.IsZero():
		state = idsyncv1.AgentState_AGENT_STATE_REVOKED
	case s.online(a, now) && len(capturing) > 0:
		state = idsyncv1.AgentState_AGENT_STATE_ACTIVE
	case s.online(a, now):
		state = idsyncv1.AgentState_AGENT_STATE_STANDBY
	}
	return &idsyncv1.Agent{
		Id: a.ID, Name: a.Name, Directories: a.Directories, State: state, Version: a.Version,
		EnrolledAt: ts(a.EnrolledAt), LastSeen: ts(a.LastSeen), CertExpiresAt: ts(a.CertExpiresAt),
		LagMs: uint64(max(a.Lag, 0).Milliseconds()), Capturing: capturing, Capabilities: a.Capabilities,
	}
}

// capturing maps agent sessions to the directories whose capture they
// hold (running incremental runs).
func (s *AdminServer) capturing(ctx context.Context) (map[string][]string, error) {
	runs, err := s.store.ListRuns(ctx, store.RunFilter{States: []store.RunState{store.RunRunning}, Limit: 10000})
	if err != nil {
		return nil, statusErr(err, "listing runs")
	}
	m := map[string][]string{}
	for _, r := range runs {
		if r.Kind == store.RunIncremental && r.SessionID != "" {
			m[r.SessionID] = append(m[r.SessionID], r.Directory)
		}
	}
	return m, nil
}

// ListAgents lists enrolled agents.
func (s *AdminServer) ListAgents(ctx context.Context, _ *idsyncv1.ListAgentsRequest) (*idsyncv1.ListAgentsResponse, error) {
	agents, err := s.store.ListAgents(ctx)
	if err != nil {
		return nil, statusErr(err, "listing agents")
	}
	capturing, err := s.capturing(ctx)
	if err != nil {
		return nil, err
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
	a, err := s.store.RevokeAgent(ctx, req.GetId(), time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "agent %q is not enrolled (see `idsyncctl agent list`)", req.GetId())
	}
	if err != nil {
		return nil, statusErr(err, "revoking agent %q", req.GetId())
	}
	s.sessions.Revoke(a.ID)
	s.log.Warn("agent revoked", "agent", a.ID, "name", a.Name, "by", auth.Actor(ctx))
	s.audit.Event(ctx, "agent.revoke", "agent:"+a.ID, "name %s", a.Name)
	return &idsyncv1.RevokeAgentResponse{Agent: s.agentToProto(a, time.Now(), nil)}, nil
}

// StartImport creates a run for an online agent of the directory to pick up.
func (s *AdminServer) StartImport(ctx context.Context, req *idsyncv1.StartImportRequest) (*idsyncv1.StartImportResponse, error) {
	d, err := s.directory(ctx, req.GetDirectory())
	if err != nil {
		return nil, err
	}
	if err := notSource(d); err != nil {
		return nil, err
	}
	kind := store.RunFull
	if req.GetKind() == idsyncv1.ImportKind_IMPORT_KIND_INCREMENTAL {
		kind = store.RunIncremental
	}
	open, err := s.store.ListRuns(ctx, store.RunFilter{DirectoryID: d.ID,
		States: []store.RunState{store.RunRunning, store.RunPausedBySafeguard}})
	if err != nil {
		return nil, statusErr(err, "listing runs")
	}
	for _, r := range open {
		if r.Kind != kind {
			continue // change capture runs beside full imports
		}
		if r.State == store.RunPausedBySafeguard {
			return nil, status.Errorf(codes.FailedPrecondition,
				"run %d of %s is paused by the safeguard: confirm or cancel it first", r.ID, d.Name)
		}
		return &idsyncv1.StartImportResponse{Run: runToProto(r), AlreadyRunning: true}, nil
	}
	agents, err := s.store.ListAgents(ctx)
	if err != nil {
		return nil, statusErr(err, "listing agents")
	}
	now, online := time.Now(), false
	for _, a := range agents {
		if contains(a.Directories, d.Name) && s.online(a, now) {
			online = true
		}
	}
	if !online {
		return nil, status.Errorf(codes.FailedPrecondition,
			"no agent of directory %s is connected (see `idsyncctl agent list`)", d.Name)
	}
	r := &store.Run{DirectoryID: d.ID, Kind: kind, State: store.RunRunning, Trigger: auth.Actor(ctx)}
	if err := s.store.CreateRun(ctx, r); errors.Is(err, store.ErrConflict) {
		return nil, status.Errorf(codes.FailedPrecondition, "a %s run of %s started meanwhile (see `idsyncctl import list`)", kind, d.Name)
	} else if err != nil {
		return nil, statusErr(err, "creating run")
	}
	r.Directory = d.Name
	s.sessions.Wake(d.Name)
	s.log.Info("import started", "run", r.ID, "directory", d.Name, "kind", kind, "by", auth.Actor(ctx))
	s.audit.Event(ctx, "import.start", fmt.Sprintf("run:%d", r.ID), "directory %s, %s", d.Name, kind)
	return &idsyncv1.StartImportResponse{Run: runToProto(r)}, nil
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
	if r.State != store.RunPausedBySafeguard {
		return nil, status.Errorf(codes.FailedPrecondition, "run %d is %s, not paused by the safeguard", r.ID, r.State)
	}
	done, err := s.engine.Confirm(ctx, r.ID)
	if err != nil {
		return nil, statusErr(err, "")
	}
	s.log.Warn("safeguard confirmed", "run", r.ID, "deprovisioned", done.Deprovisioned, "by", auth.Actor(ctx))
	s.audit.Event(ctx, "safeguard.confirm", fmt.Sprintf("run:%d", r.ID), "directory %s, %d deprovisioned", done.Directory, done.Deprovisioned)
	return &idsyncv1.ConfirmImportResponse{Run: runToProto(done)}, nil
}

// CancelImport cancels a running or paused run.
func (s *AdminServer) CancelImport(ctx context.Context, req *idsyncv1.CancelImportRequest) (*idsyncv1.CancelImportResponse, error) {
	r, err := s.runByID(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	done, err := s.engine.Cancel(ctx, r.ID, "cancelled by "+auth.Actor(ctx)+"; nothing was swept")
	if err != nil {
		return nil, statusErr(err, "")
	}
	if r.State == store.RunRunning && r.SessionID != "" {
		s.sessions.CancelRun(ctx, r.ID, r.SessionID, "cancelled by an admin")
	}
	s.log.Info("import cancelled", "run", r.ID, "by", auth.Actor(ctx))
	s.audit.Event(ctx, "import.cancel", fmt.Sprintf("run:%d", r.ID), "directory %s", r.Directory)
	return &idsyncv1.CancelImportResponse{Run: runToProto(done)}, nil
}

// ListUsers lists users.
func (s *AdminServer) ListUsers(ctx context.Context, req *idsyncv1.ListUsersRequest) (*idsyncv1.ListUsersResponse, error) {
	scope, dirID, err := scopeIn(ctx, s.store, req.GetDirectory())
	if err != nil {
		return nil, err
	}
	f := store.UserFilter{DirectoryID: dirID, Limit: int(req.GetLimit()), AfterID: req.GetAfterId(), WithGroups: true}
	if req.GetStatus() != idsyncv1.UserStatus_USER_STATUS_UNSPECIFIED {
		f.Status = statusFromProto(req.GetStatus())
	}
	users, err := s.store.ListUsers(ctx, f)
	if err != nil {
		return nil, statusErr(err, "listing users")
	}
	purge, err := s.purgeDates(ctx)
	if err != nil {
		return nil, err
	}
	resp := &idsyncv1.ListUsersResponse{Users: make([]*idsyncv1.User, 0, len(users))}
	for _, u := range users {
		if scope.user(u.ID) {
			p := userToProto(u)
			p.PurgeAt = ts(purge(u))
			resp.Users = append(resp.Users, p)
		}
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
	users, err := findUsers(ctx, s.store, scope, dirID, req.GetUser())
	if err != nil {
		return nil, err
	}
	switch len(users) {
	case 0:
		return nil, status.Errorf(codes.NotFound, "no user with id or username %q", req.GetUser())
	case 1:
	default:
		return nil, status.Errorf(codes.FailedPrecondition,
			"username %q exists in %d directories: name one with --directory", req.GetUser(), len(users))
	}
	u := users[0]
	groups, err := s.store.UserGroups(ctx, u.ID)
	if err != nil {
		return nil, statusErr(err, "loading groups of %q", u.Username)
	}
	u.Groups = u.Groups[:0]
	for _, g := range groups {
		u.Groups = append(u.Groups, g.Name)
	}
	nested, err := s.store.UserGroupsTransitive(ctx, u.ID)
	if err != nil {
		return nil, statusErr(err, "loading nested groups of %q", u.Username)
	}
	pu, err := s.userOut(ctx, u)
	if err != nil {
		return nil, err
	}
	for _, m := range nested {
		pu.TransitiveGroups = append(pu.TransitiveGroups, &idsyncv1.TransitiveGroup{
			Name: m.Group.Name, Depth: uint32(m.Depth), Via: m.Via})
	}
	return &idsyncv1.GetUserResponse{User: pu}, nil
}

// ListGroups lists groups.
func (s *AdminServer) ListGroups(ctx context.Context, req *idsyncv1.ListGroupsRequest) (*idsyncv1.ListGroupsResponse, error) {
	scope, dirID, err := scopeIn(ctx, s.store, req.GetDirectory())
	if err != nil {
		return nil, err
	}
	groups, err := s.store.ListGroups(ctx, store.GroupFilter{DirectoryID: dirID})
	if err != nil {
		return nil, statusErr(err, "listing groups")
	}
	resp := &idsyncv1.ListGroupsResponse{}
	for _, g := range groups {
		if scope.group(g.ID) {
			resp.Groups = append(resp.Groups, groupToProto(g))
		}
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
	members, err := s.store.GroupMembers(ctx, g.ID)
	if err != nil {
		return nil, statusErr(err, "loading members of %q", g.Name)
	}
	resp := &idsyncv1.GetGroupResponse{Group: groupToProto(g)}
	for _, m := range members {
		resp.Members = append(resp.Members, &idsyncv1.GroupMember{Value: m.Value, Id: m.ID, Kind: idsyncv1.ObjectKindNamed(string(m.Kind)), Name: m.Name})
	}
	return resp, nil
}
