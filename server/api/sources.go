package api

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/internal/pki"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/store"
)

// SourceTokenPrefix starts the bearer tokens of SCIM sources.
const SourceTokenPrefix = "idss_"

// IssueSourceToken issues a new bearer token for a SCIM source, replacing
// the one it had (which stops working at once). Only its hash is stored:
// the token is shown this once.
func (s *AdminServer) IssueSourceToken(ctx context.Context, req *idsyncv1.IssueSourceTokenRequest) (*idsyncv1.IssueSourceTokenResponse, error) {
	d, err := s.directory(ctx, req.GetDirectory())
	if err != nil {
		return nil, err
	}
	if d.Kind != store.KindSCIM {
		return nil, status.Errorf(codes.FailedPrecondition, "directory %q is a %s directory, not a scim source", d.Name, d.Kind)
	}
	secret, hash := pki.NewSecret(SourceTokenPrefix)
	if err := s.store.SetSourceToken(ctx, d.ID, hash); err != nil {
		return nil, statusErr(err, "storing the token of source %q", d.Name)
	}
	s.log.Info("source token issued", "directory", d.Name, "by", auth.Actor(ctx))
	s.audit.Event(ctx, "source.token.issue", "directory:"+d.Name, "the previous token, if any, is revoked")
	return &idsyncv1.IssueSourceTokenResponse{Token: secret}, nil
}
