package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/internal/pki"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
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

// GetReport computes one report as a table.
func (s *AdminServer) GetReport(ctx context.Context, req *idsyncv1.GetReportRequest) (*idsyncv1.GetReportResponse, error) {
	t, err := s.reports.Compute(ctx, req.GetName(), auth.ScopeOf(ctx).App, time.Now())
	if err != nil {
		return nil, statusErr(err, "")
	}
	resp := &idsyncv1.GetReportResponse{Name: req.GetName(), Columns: t.Columns, GeneratedAt: ts(time.Now())}
	for _, r := range t.Rows {
		resp.Rows = append(resp.Rows, &idsyncv1.ReportRow{Cells: r})
	}
	return resp, nil
}
