package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/internal/pki"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/people"
	"github.com/idsync/idsync/server/store"
)

// adminTokenToProto describes t, its groups as DIRECTORY/NAME (n names
// them, once each per call).
func adminTokenToProto(ctx context.Context, t *store.AdminToken, n *grantNamer) (*idsyncv1.AdminToken, error) {
	p := &idsyncv1.AdminToken{Id: t.ID, Name: t.Name, Role: t.Role,
		CreatedAt: ts(t.CreatedAt), RevokedAt: ts(t.RevokedAt), LastUsedAt: ts(t.LastUsedAt)}
	for _, name := range auth.AppNames(t) {
		p.Apps = append(p.Apps, name+" (a name: grants nothing; replace the token)")
	}
	for _, id := range auth.AppGrantIDs(t) {
		a, err := n.st.GetAppByID(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			p.Apps = append(p.Apps, fmt.Sprintf("app %d (removed)", id))
		case err != nil:
			return nil, statusErr(err, "loading app %d", id)
		default:
			p.Apps = append(p.Apps, a.Name)
		}
	}
	for _, g := range t.Groups {
		if !auth.IsObjectID(g) {
			// A grant by name, from before grants were by id: the token is
			// refused until it is replaced.
			p.Groups = append(p.Groups, g+" (a name: grants nothing; replace the token)")
			continue
		}
		label, err := n.label(ctx, g)
		if err != nil {
			return nil, err
		}
		p.Groups, p.GroupIds = append(p.Groups, label), append(p.GroupIds, g)
	}
	return p, nil
}

// grantNamer names granted groups as DIRECTORY/NAME; a group the hub no
// longer holds is its id.
type grantNamer struct {
	st     store.Store
	labels map[string]string
}

func newGrantNamer(st store.Store) *grantNamer {
	return &grantNamer{st: st, labels: map[string]string{}}
}

func (n *grantNamer) label(ctx context.Context, id string) (string, error) {
	if l, ok := n.labels[id]; ok {
		return l, nil
	}
	g, err := n.st.GetGroup(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		n.labels[id] = id + " (no such group)"
	case err != nil:
		return "", statusErr(err, "loading group %s", id)
	default:
		n.labels[id] = g.Directory + "/" + g.Name
	}
	return n.labels[id], nil
}

// grantGroups resolves the groups a group-admin token is to act for, each
// DIRECTORY/GROUP or a group id, to one group id each.
func (s *AdminServer) grantGroups(ctx context.Context, refs []string) ([]string, error) {
	var ids []string
	for _, ref := range refs {
		g, err := s.grantGroup(ctx, strings.TrimSpace(ref))
		if err != nil {
			return nil, err
		}
		if !slices.Contains(ids, g.ID) {
			ids = append(ids, g.ID)
		}
	}
	return ids, nil
}

// grantGroup finds the one group ref names: by id, or as DIRECTORY/GROUP
// with the group's name in any case (exactly as written when several
// differ only in case). Unknown and ambiguous refs are refused, named.
func (s *AdminServer) grantGroup(ctx context.Context, ref string) (*store.Group, error) {
	if auth.IsObjectID(ref) {
		g, err := s.store.GetGroup(ctx, ref)
		if errors.Is(err, store.ErrNotFound) {
			return nil, status.Errorf(codes.NotFound, "groups: no group with id %q (see `idsyncctl group list`)", ref)
		}
		if err != nil {
			return nil, statusErr(err, "loading group %q", ref)
		}
		return g, nil
	}
	dir, name, ok := strings.Cut(ref, "/")
	if !ok || dir == "" || name == "" {
		return nil, status.Errorf(codes.InvalidArgument,
			"groups: %q: name a group as DIRECTORY/GROUP (a name alone may be in several directories), or give its id", ref)
	}
	d, err := s.store.GetDirectory(ctx, dir)
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "groups: %q: directory %q does not exist (see `idsyncctl directory list`)", ref, dir)
	}
	if err != nil {
		return nil, statusErr(err, "loading directory %q", dir)
	}
	groups, err := s.store.FindGroups(ctx, d.ID, name)
	if err != nil {
		return nil, statusErr(err, "finding group %q", ref)
	}
	if exact := slices.DeleteFunc(slices.Clone(groups), func(g *store.Group) bool { return g.Name != name }); len(exact) > 0 {
		groups = exact
	}
	switch len(groups) {
	case 0:
		return nil, status.Errorf(codes.NotFound, "groups: %q: directory %s has no group named %q (see `idsyncctl group list --directory %s`)",
			ref, d.Name, name, d.Name)
	case 1:
		return groups[0], nil
	}
	var which []string
	for _, g := range groups {
		which = append(which, fmt.Sprintf("%s (id %s)", g.DN, g.ID))
	}
	return nil, status.Errorf(codes.InvalidArgument, "groups: %q names %d groups of directory %s: %s; give the id of one",
		ref, len(groups), d.Name, strings.Join(which, ", "))
}

// CreateAdminToken issues an admin token. Its secret is in the response
// alone; the store keeps its hash.
func (s *AdminServer) CreateAdminToken(ctx context.Context, req *idsyncv1.CreateAdminTokenRequest) (*idsyncv1.CreateAdminTokenResponse, error) {
	name, role := strings.TrimSpace(req.GetName()), req.GetRole()
	switch {
	case name == "":
		return nil, status.Error(codes.InvalidArgument, "name: required")
	case name == "bootstrap":
		return nil, status.Error(codes.InvalidArgument, "name: \"bootstrap\" is the hub's own token")
	case !auth.ValidRole(role):
		return nil, status.Errorf(codes.InvalidArgument, "role %q: must be one of %s", role, strings.Join(auth.Roles, ", "))
	case role == auth.RoleGroupAdmin && len(req.GetGroups()) == 0:
		return nil, status.Error(codes.InvalidArgument, "groups: a group-admin needs the groups it acts for")
	case role != auth.RoleGroupAdmin && len(req.GetGroups()) > 0:
		return nil, status.Errorf(codes.InvalidArgument, "groups: only a group-admin acts for groups, not a %s", role)
	case role != auth.RoleAppAdmin && len(req.GetApps()) > 0:
		return nil, status.Errorf(codes.InvalidArgument, "apps: only an app-admin is limited to apps, not a %s", role)
	}
	groups, err := s.grantGroups(ctx, req.GetGroups())
	if err != nil {
		return nil, err
	}
	// Apps are granted by id: an app removed and added again under the
	// same name is another app, which the token does not manage.
	var apps []string
	for _, name := range req.GetApps() {
		a, err := s.store.GetApp(ctx, strings.TrimSpace(name))
		if errors.Is(err, store.ErrNotFound) {
			return nil, status.Errorf(codes.NotFound, "apps: no app named %q (see `idsyncctl app list`)", name)
		} else if err != nil {
			return nil, statusErr(err, "loading app %q", name)
		}
		if g := auth.AppGrant(a.ID); !slices.Contains(apps, g) {
			apps = append(apps, g)
		}
	}
	secret, hash := pki.NewSecret(pki.AdminTokenPrefix)
	t := &store.AdminToken{Name: name, Role: role, Hash: hash, Groups: groups, Apps: apps}
	if err := s.store.CreateAdminToken(ctx, t); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, status.Errorf(codes.AlreadyExists, "a live admin token is named %q: revoke it first or pick another name", name)
		}
		return nil, statusErr(err, "creating admin token %q", name)
	}
	pt, err := adminTokenToProto(ctx, t, newGrantNamer(s.store))
	if err != nil {
		return nil, err
	}
	s.log.Info("admin token created", "token", t.ID, "name", name, "role", role, "by", auth.Actor(ctx))
	s.audit.Event(ctx, "admin.token.create", "admin:"+name, "role %s, token %s%s", role, t.ID, scopeDetail(pt))
	return &idsyncv1.CreateAdminTokenResponse{Token: pt, Secret: secret}, nil
}

// scopeDetail describes a token's groups (DIRECTORY/NAME and id) or apps
// for the audit trail.
func scopeDetail(t *idsyncv1.AdminToken) string {
	switch {
	case len(t.GetGroupIds()) > 0:
		var groups []string
		for i, id := range t.GetGroupIds() {
			groups = append(groups, t.GetGroups()[i]+" ("+id+")")
		}
		return ", groups " + strings.Join(groups, ",")
	case len(t.GetApps()) > 0:
		return ", apps " + strings.Join(t.GetApps(), ",")
	}
	return ""
}

// ListAdminTokens lists admin tokens, never their secrets.
func (s *AdminServer) ListAdminTokens(ctx context.Context, _ *idsyncv1.ListAdminTokensRequest) (*idsyncv1.ListAdminTokensResponse, error) {
	tokens, err := s.store.ListAdminTokens(ctx)
	if err != nil {
		return nil, statusErr(err, "listing admin tokens")
	}
	resp := &idsyncv1.ListAdminTokensResponse{}
	n := newGrantNamer(s.store)
	for _, t := range tokens {
		pt, err := adminTokenToProto(ctx, t, n)
		if err != nil {
			return nil, err
		}
		resp.Tokens = append(resp.Tokens, pt)
	}
	return resp, nil
}

// RevokeAdminToken revokes a token at once: its next call is refused.
func (s *AdminServer) RevokeAdminToken(ctx context.Context, req *idsyncv1.RevokeAdminTokenRequest) (*idsyncv1.RevokeAdminTokenResponse, error) {
	if req.GetToken() == "" {
		return nil, status.Error(codes.InvalidArgument, "token: id or name required")
	}
	if me, ok := auth.Admin(ctx); ok && (me.ID == req.GetToken() || me.Name == req.GetToken()) {
		return nil, status.Error(codes.FailedPrecondition, "an admin token cannot revoke itself: use another super-admin token")
	}
	t, err := s.store.RevokeAdminToken(ctx, req.GetToken(), time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "no admin token with id or live name %q (see `idsyncctl admin token list`)", req.GetToken())
	}
	if err != nil {
		return nil, statusErr(err, "revoking admin token %q", req.GetToken())
	}
	s.log.Info("admin token revoked", "token", t.ID, "name", t.Name, "by", auth.Actor(ctx))
	s.audit.Event(ctx, "admin.token.revoke", "admin:"+t.Name, "token %s", t.ID)
	pt, err := adminTokenToProto(ctx, t, newGrantNamer(s.store))
	if err != nil {
		return nil, err
	}
	return &idsyncv1.RevokeAdminTokenResponse{Token: pt}, nil
}

// ListAuditEvents reads the audit trail.
func (s *AdminServer) ListAuditEvents(ctx context.Context, req *idsyncv1.ListAuditEventsRequest) (*idsyncv1.ListAuditEventsResponse, error) {
	f := store.AuditFilter{Actor: req.GetActor(), Action: req.GetAction(), Target: req.GetTarget(),
		Outcome: req.GetOutcome(), AfterID: req.GetAfterId(), Limit: int(min(req.GetLimit(), 100000))}
	if req.GetSince() != nil {
		f.Since = req.GetSince().AsTime()
	}
	switch f.Outcome {
	case "", store.AuditOK, store.AuditRefused, store.AuditFailed:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "outcome %q: must be ok, refused or failed", f.Outcome)
	}
	events, err := s.store.ListAudit(ctx, f)
	if err != nil {
		return nil, statusErr(err, "reading the audit trail")
	}
	resp := &idsyncv1.ListAuditEventsResponse{Events: make([]*idsyncv1.AuditEvent, 0, len(events))}
	for _, e := range events {
		resp.Events = append(resp.Events, &idsyncv1.AuditEvent{Id: e.ID, At: ts(e.At), Actor: e.Actor,
			Action: e.Action, Target: e.Target, Outcome: e.Outcome, Detail: e.Detail})
	}
	return resp, nil
}

// Reports lists the reports GetReport computes.
var Reports = []string{"users", "app-usage", "pending-deprovisions", "failed-pushes", "imports", "agents", "upcoming-purges"}

// GetReport computes one report as a table.
func (s *AdminServer) GetReport(ctx context.Context, req *idsyncv1.GetReportRequest) (*idsyncv1.GetReportResponse, error) {
	var (
		cols []string
		rows [][]string
		err  error
	)
	switch req.GetName() {
	case "users":
		cols, rows, err = s.reportUsers(ctx)
	case "app-usage":
		cols, rows, err = s.reportAppUsage(ctx)
	case "pending-deprovisions":
		cols, rows, err = s.reportPendingDeprovisions(ctx)
	case "failed-pushes":
		cols, rows, err = s.reportFailedPushes(ctx)
	case "imports":
		cols, rows, err = s.reportImports(ctx)
	case "agents":
		cols, rows, err = s.reportAgents(ctx)
	case "upcoming-purges":
		cols, rows, err = s.reportUpcomingPurges(ctx, time.Now())
	default:
		return nil, status.Errorf(codes.InvalidArgument, "report %q: must be one of %s", req.GetName(), strings.Join(Reports, ", "))
	}
	if err != nil {
		return nil, statusErr(err, "computing report %s", req.GetName())
	}
	resp := &idsyncv1.GetReportResponse{Name: req.GetName(), Columns: cols, GeneratedAt: ts(time.Now())}
	for _, r := range rows {
		resp.Rows = append(resp.Rows, &idsyncv1.ReportRow{Cells: r})
	}
	return resp, nil
}

// upcomingWindow is how far ahead report upcoming-purges looks, and
// upcomingMax how many users of one directory it lists at most.
const (
	upcomingWindow = 30 * 24 * time.Hour
	upcomingMax    = 10000
)

// reportUpcomingPurges: the deprovisioned users purged in the next 30
// days (or already due: the purge loop takes them at its next round),
// soonest first.
func (s *AdminServer) reportUpcomingPurges(ctx context.Context, now time.Time) ([]string, [][]string, error) {
	dirs, err := s.store.ListDirectories(ctx)
	if err != nil {
		return nil, nil, err
	}
	type due struct {
		at  time.Time
		row []string
	}
	var all []due
	for _, d := range dirs {
		keep := cmp.Or(d.Retention, s.retention, people.DefaultRetention)
		users, err := s.store.PurgeDue(ctx, d.ID, now.Add(upcomingWindow-keep), upcomingMax)
		if err != nil {
			return nil, nil, err
		}
		for _, u := range users {
			at := u.DeprovisionedAt.Add(keep)
			held := ""
			if u.Hold.Status != "" {
				held = u.Hold.By
			}
			all = append(all, due{at, []string{when(at), u.Username, d.Name, when(u.DeprovisionedAt), held, u.ID}})
		}
	}
	slices.SortStableFunc(all, func(a, b due) int { return a.at.Compare(b.at) })
	rows := make([][]string, len(all))
	for i, d := range all {
		rows[i] = d.row
	}
	return []string{"purged at", "username", "directory", "deprovisioned at", "held by", "id"}, rows, nil
}

func num[T ~int64 | ~int | ~uint64](n T) string { return strconv.FormatInt(int64(n), 10) }

func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// reportUsers: users per status per directory, one row per directory.
func (s *AdminServer) reportUsers(ctx context.Context) ([]string, [][]string, error) {
	counts, err := s.store.UserStatusCounts(ctx)
	if err != nil {
		return nil, nil, err
	}
	statuses := []store.Status{store.StatusActive, store.StatusSuspended, store.StatusDeprovisioned}
	byDir := map[string]map[store.Status]int64{}
	var dirs []string
	for _, c := range counts {
		if byDir[c.Directory] == nil {
			byDir[c.Directory] = map[store.Status]int64{}
			dirs = append(dirs, c.Directory)
		}
		byDir[c.Directory][c.Status] += c.Count
	}
	var rows [][]string
	for _, d := range dirs {
		row, total := []string{d}, int64(0)
		for _, st := range statuses {
			row = append(row, num(byDir[d][st]))
			total += byDir[d][st]
		}
		rows = append(rows, append(row, num(total)))
	}
	return []string{"directory", "active", "suspended", "deprovisioned", "total"}, rows, nil
}

// reportAppUsage: accounts per state and queue depth per app.
func (s *AdminServer) reportAppUsage(ctx context.Context) ([]string, [][]string, error) {
	apps, err := s.store.ListApps(ctx)
	if err != nil {
		return nil, nil, err
	}
	acc, err := s.store.CountAccounts(ctx)
	if err != nil {
		return nil, nil, err
	}
	q, err := s.store.QueueStats(ctx)
	if err != nil {
		return nil, nil, err
	}
	scope := auth.ScopeOf(ctx)
	var rows [][]string
	for _, a := range apps {
		if !scope.App(a.ID) {
			continue
		}
		var active, inactive, queued, dead int64
		for _, c := range acc {
			if c.AppID == a.ID && c.State == store.AccountActive {
				active += c.Count
			} else if c.AppID == a.ID {
				inactive += c.Count
			}
		}
		for _, c := range q {
			switch {
			case c.AppID != a.ID:
			case c.State == store.JobQueued || c.State == store.JobRunning:
				queued += c.Count
			case c.State == store.JobDead:
				dead += c.Count
			}
		}
		rows = append(rows, []string{a.Name, string(a.Status), num(active), num(inactive), num(queued), num(dead)})
	}
	return []string{"app", "state", "active accounts", "inactive accounts", "queued pushes", "failed pushes"}, rows, nil
}

// appNames maps app ids to names, the apps the caller may see only.
func (s *AdminServer) appNames(ctx context.Context) (map[int64]string, error) {
	return scopedAppNames(ctx, s.store)
}

// reportPendingDeprovisions: open manual deprovision tasks.
func (s *AdminServer) reportPendingDeprovisions(ctx context.Context) ([]string, [][]string, error) {
	names, err := s.appNames(ctx)
	if err != nil {
		return nil, nil, err
	}
	tasks, err := s.store.ListTasks(ctx, store.TaskFilter{State: store.TaskOpen})
	if err != nil {
		return nil, nil, err
	}
	n := newNamer(s.store)
	var rows [][]string
	for _, t := range tasks {
		app, ok := names[t.AppID]
		if !ok || t.Kind != "deprovision" {
			continue
		}
		user, err := n.name(ctx, store.AssignUser, t.UserID)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, []string{num(t.ID), app, user, when(t.CreatedAt), t.Detail})
	}
	return []string{"task", "app", "user", "since", "detail"}, rows, nil
}

// reportFailedPushes: dead letters and jobs retrying after an error.
func (s *AdminServer) reportFailedPushes(ctx context.Context) ([]string, [][]string, error) {
	names, err := s.appNames(ctx)
	if err != nil {
		return nil, nil, err
	}
	jobs, err := s.store.ListJobs(ctx, store.JobFilter{States: []store.JobState{store.JobDead, store.JobQueued}, Limit: 10000})
	if err != nil {
		return nil, nil, err
	}
	n := newNamer(s.store)
	var rows [][]string
	for _, j := range jobs {
		app, ok := names[j.AppID]
		if !ok || (j.State == store.JobQueued && j.LastError == "") {
			continue
		}
		target := j.Target
		if j.Kind == store.JobUser {
			if target, err = n.name(ctx, store.AssignUser, j.Target); err != nil {
				return nil, nil, err
			}
		}
		state := "dead"
		if j.State == store.JobQueued {
			state = "retrying"
		}
		rows = append(rows, []string{num(j.ID), app, string(j.Kind), target, state, num(j.Attempts), when(j.UpdatedAt), j.LastError})
	}
	slices.SortStableFunc(rows, func(a, b []string) int { return strings.Compare(a[1], b[1]) })
	return []string{"job", "app", "kind", "target", "state", "attempts", "updated", "last error"}, rows, nil
}

// reportImports: the newest runs of every directory.
func (s *AdminServer) reportImports(ctx context.Context) ([]string, [][]string, error) {
	runs, err := s.store.ListRuns(ctx, store.RunFilter{Limit: 200})
	if err != nil {
		return nil, nil, err
	}
	var rows [][]string
	for _, r := range runs {
		took := ""
		if !r.FinishedAt.IsZero() {
			took = r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
		}
		rows = append(rows, []string{num(r.ID), r.Directory, string(r.Kind), string(r.State), r.Trigger, when(r.StartedAt), took,
			num(r.Seen), num(r.Created), num(r.Updated), num(r.Deprovisioned), num(r.Errors), r.Message})
	}
	return []string{"run", "directory", "kind", "state", "trigger", "started", "took", "seen", "created", "updated",
		"deprovisioned", "errors", "message"}, rows, nil
}

// reportAgents: every agent's health.
func (s *AdminServer) reportAgents(ctx context.Context) ([]string, [][]string, error) {
	agents, err := s.store.ListAgents(ctx)
	if err != nil {
		return nil, nil, err
	}
	capturing, err := s.capturing(ctx)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	var rows [][]string
	for _, a := range agents {
		p := s.agentToProto(a, now, capturing[a.SessionID])
		state := strings.ToLower(strings.TrimPrefix(p.GetState().String(), "AGENT_STATE_"))
		seen := ""
		if !a.LastSeen.IsZero() {
			seen = fmt.Sprintf("%s (%s ago)", when(a.LastSeen), now.Sub(a.LastSeen).Round(time.Second))
		}
		rows = append(rows, []string{a.ID, a.Name, strings.Join(a.Directories, ","), state, a.Version, seen,
			num(max(a.Lag, 0).Milliseconds()), when(a.CertExpiresAt)})
	}
	return []string{"agent", "name", "directories", "state", "version", "last seen", "lag ms", "cert expires"}, rows, nil
}
