package api

import (
	"context"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
)

// IssueSourceToken issues a new bearer token for a SCIM source, replacing
// the one it had (which stops working at once). Only its hash is stored:
// the token is shown this once.
func (s *AdminServer) IssueSourceToken(ctx context.Context, req *idsyncv1.IssueSourceTokenRequest) (*idsyncv1.IssueSourceTokenResponse, error) {
	d, err := s.directory(ctx, req.GetDirectory())
	if err != nil {
		return nil, err
	}
	token, err := s.directories.IssueSourceToken(ctx, d, auth.Actor(ctx))
	if err != nil {
		return nil, statusErr(err, "")
	}
	return &idsyncv1.IssueSourceTokenResponse{Token: token}, nil
}
