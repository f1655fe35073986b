package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/authn"
	"github.com/idsync/idsync/server/sessions"
)

// authnStatus is err as the gRPC status a caller sees.
func authnStatus(err error) error {
	var de *authn.DirectoryError
	switch {
	case errors.Is(err, authn.ErrAuthFailed):
		return status.Error(codes.Unauthenticated, authn.ErrAuthFailed.Error())
	case errors.Is(err, authn.ErrTooManyAttempts):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, sessions.ErrNoAgent), errors.Is(err, sessions.ErrAgentGone):
		return status.Errorf(codes.Unavailable, "%v: sign-in needs an online agent of the directory", err)
	case errors.As(err, &de):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, authn.ErrBadUsername):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.Unavailable, "the directory's agent did not answer in time")
	}
	// The detail is in the log and the audit trail; the caller learns
	// nothing of the entry or the store.
	return status.Error(codes.Unavailable, authn.ErrNotChecked.Error())
}

// Authenticate serves AdminService.Authenticate.
func (s *AdminServer) Authenticate(ctx context.Context, req *idsyncv1.AuthenticateRequest) (*idsyncv1.AuthenticateResponse, error) {
	if s.authn == nil {
		return nil, status.Error(codes.Unimplemented, "delegated authentication is not enabled on this hub")
	}
	u, err := s.authn.Authenticate(ctx, req.GetDirectory(), req.GetUsername(), req.GetPassword(), auth.PeerAddr(ctx))
	if err != nil {
		return nil, authnStatus(err)
	}
	return &idsyncv1.AuthenticateResponse{User: userToProto(u)}, nil
}

// authnRequest is the body of POST /v1/authn.
type authnRequest struct {
	Directory string `json:"directory"`
	Username  string `json:"username"`
	Password  string `json:"password"`
}

// AuthnHandler serves POST /v1/authn: a JSON {"directory", "username",
// "password"} with the bearer token of an admin or of a token of role
// authn. 200 with the user; 401 for every refused sign-in, with one body;
// 429 past the limits; 503 when no agent of the directory is online.
type AuthnHandler struct {
	Service *authn.Service
	Auth    *auth.Authenticator
}

func (a AuthnHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	ctx := r.Context()
	t, err := a.Auth.Bearer(ctx, r.Header.Get("Authorization"), "POST /v1/authn", auth.PermAuthenticate)
	if err != nil {
		// The body of a caller without credentials is not read: the
		// answer goes at once, and the connection closes.
		w.Header().Set("Connection", "close")
		code := http.StatusUnauthorized
		if status.Code(err) == codes.PermissionDenied {
			code = http.StatusForbidden
		}
		httpError(w, code, status.Convert(err).Message())
		return
	}
	ctx = auth.WithAdmin(ctx, t)
	var req authnRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	if err := dec.Decode(&req); err != nil {
		httpError(w, http.StatusBadRequest, "the body must be JSON {\"directory\", \"username\", \"password\"}")
		return
	}
	if req.Directory == "" {
		httpError(w, http.StatusBadRequest, "directory is required")
		return
	}
	u, err := a.Service.Authenticate(ctx, req.Directory, req.Username, req.Password, r.RemoteAddr)
	if err != nil {
		st := status.Convert(authnStatus(err))
		code := map[codes.Code]int{codes.Unauthenticated: http.StatusUnauthorized, codes.ResourceExhausted: http.StatusTooManyRequests,
			codes.NotFound: http.StatusNotFound, codes.InvalidArgument: http.StatusBadRequest}[st.Code()]
		if code == 0 {
			code = http.StatusServiceUnavailable
		}
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "60")
		}
		httpError(w, code, st.Message())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]authnUser{"user": {ID: u.ID, Directory: u.Directory, ExternalID: u.ExternalID,
		DN: u.DN, Username: u.Profile.Username, Email: u.Profile.Email, GivenName: u.Profile.GivenName,
		FamilyName: u.Profile.FamilyName, DisplayName: u.Profile.DisplayName, Status: string(u.Status)}})
}

// authnUser is the user a successful POST /v1/authn answers with.
type authnUser struct {
	ID          string `json:"id"`
	Directory   string `json:"directory"`
	ExternalID  string `json:"external_id"`
	DN          string `json:"dn"`
	Username    string `json:"username"`
	Email       string `json:"email,omitempty"`
	GivenName   string `json:"given_name,omitempty"`
	FamilyName  string `json:"family_name,omitempty"`
	DisplayName string `json:"display_name,omitempty"`
	Status      string `json:"status"`
}

// httpError writes {"error": msg} with code.
// HTTPError answers {"error": msg} with code, as /v1/authn answers its
// errors, for the routes in front of it (server/hub).
func HTTPError(w http.ResponseWriter, code int, msg string) { httpError(w, code, msg) }

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
