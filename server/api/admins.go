package api

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/admins"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/store"
)

// adminTokenToProto describes t, granting g.
func adminTokenToProto(t *store.AdminToken, g admins.Grants) *idsyncv1.AdminToken {
	return &idsyncv1.AdminToken{Id: t.ID, Name: t.Name, Role: t.Role,
		CreatedAt: ts(t.CreatedAt), RevokedAt: ts(t.RevokedAt), LastUsedAt: ts(t.LastUsedAt),
		Apps: g.Apps, Groups: g.Groups, GroupIds: g.GroupIDs}
}

// CreateAdminToken issues an admin token. Its secret is in the response
// alone; the store keeps its hash.
func (s *AdminServer) CreateAdminToken(ctx context.Context, req *idsyncv1.CreateAdminTokenRequest) (*idsyncv1.CreateAdminTokenResponse, error) {
	secret, t, g, err := s.admins.Create(ctx, admins.NewToken{Name: req.GetName(), Role: req.GetRole(),
		Groups: req.GetGroups(), Apps: req.GetApps()}, auth.Actor(ctx))
	if err != nil {
		return nil, statusErr(err, "")
	}
	return &idsyncv1.CreateAdminTokenResponse{Token: adminTokenToProto(t, g), Secret: secret}, nil
}

// ListAdminTokens lists admin tokens, never their secrets.
func (s *AdminServer) ListAdminTokens(ctx context.Context, _ *idsyncv1.ListAdminTokensRequest) (*idsyncv1.ListAdminTokensResponse, error) {
	tokens, grants, err := s.admins.List(ctx)
	if err != nil {
		return nil, statusErr(err, "")
	}
	resp := &idsyncv1.ListAdminTokensResponse{}
	for i, t := range tokens {
		resp.Tokens = append(resp.Tokens, adminTokenToProto(t, grants[i]))
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
	t, g, err := s.admins.Revoke(ctx, req.GetToken(), auth.Actor(ctx))
	if err != nil {
		return nil, statusErr(err, "")
	}
	return &idsyncv1.RevokeAdminTokenResponse{Token: adminTokenToProto(t, g)}, nil
}

// ListAuditEvents reads the audit trail.
func (s *AdminServer) ListAuditEvents(ctx context.Context, req *idsyncv1.ListAuditEventsRequest) (*idsyncv1.ListAuditEventsResponse, error) {
	f := store.AuditFilter{Actor: req.GetActor(), Action: req.GetAction(), Target: req.GetTarget(),
		Outcome: req.GetOutcome(), AfterID: req.GetAfterId(), BeforeID: req.GetBeforeId(), Newest: req.GetNewestFirst(),
		Limit: int(min(req.GetLimit(), 100000))}
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
		resp.Events = append(resp.Events, auditToProto(e))
	}
	return resp, nil
}

// GetReport computes one report as a table.
func (s *AdminServer) GetReport(ctx context.Context, req *idsyncv1.GetReportRequest) (*idsyncv1.GetReportResponse, error) {
	t, err := s.reports.Compute(ctx, req.GetName(), auth.ScopeOf(ctx), time.Now())
	if err != nil {
		return nil, statusErr(err, "")
	}
	resp := &idsyncv1.GetReportResponse{Name: req.GetName(), Columns: t.Columns, GeneratedAt: ts(time.Now())}
	for _, r := range t.Rows {
		resp.Rows = append(resp.Rows, &idsyncv1.ReportRow{Cells: r})
	}
	return resp, nil
}
