package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/internal/pki"
	"github.com/idsync/idsync/server/store"
)

// Method prefixes and names that the interceptors tell apart.
const (
	adminPrefix   = "/idsync.v1.AdminService/"
	appPrefix     = "/idsync.v1.AppService/"
	connectMethod = "/idsync.v1.AgentService/Connect"
	enrollMethod  = "/idsync.v1.AgentService/Enroll"
)

type adminKey struct{}
type agentKey struct{}

// Admin returns the admin token that authenticated the call.
func Admin(ctx context.Context) (*store.AdminToken, bool) {
	t, ok := ctx.Value(adminKey{}).(*store.AdminToken)
	return t, ok
}

// AgentID returns the id of the agent whose certificate authenticated the
// call.
func AgentID(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(agentKey{}).(string)
	return id, ok
}

// adminOf is Admin of a context that may be nil.
func adminOf(ctx context.Context) (*store.AdminToken, bool) {
	if ctx == nil {
		return nil, false
	}
	return Admin(ctx)
}

// WithAdmin returns ctx carrying an authenticated admin; for tests and for
// in-process callers.
func WithAdmin(ctx context.Context, t *store.AdminToken) context.Context {
	return context.WithValue(ctx, adminKey{}, t)
}

// Authenticator checks every call before it reaches a service: who calls
// (an agent's certificate, an admin token) and, for admins, that the
// token's role grants the method's permission. It records every refusal.
type Authenticator struct {
	store tokenStore
	audit Recorder

	mu   sync.Mutex
	used map[string]time.Time // token id → last use written
}

// tokenStore is the part of the store the authenticator reads.
type tokenStore interface {
	AdminTokenByHash(ctx context.Context, hash []byte) (*store.AdminToken, error)
	AdminTokenUsed(ctx context.Context, id string, now time.Time) error
}

// Recorder writes audit events (server/audit.Log).
type Recorder interface {
	Record(ctx context.Context, e store.AuditEvent)
}

// New returns an authenticator over st that records refusals with rec.
func New(st tokenStore, rec Recorder) *Authenticator {
	return &Authenticator{store: st, audit: rec, used: map[string]time.Time{}}
}

// check authenticates and authorizes a call, recording a refusal.
func (a *Authenticator) check(ctx context.Context, method string) (context.Context, error) {
	out, err := a.authenticate(ctx, method)
	if err != nil && a.audit != nil {
		actor := "unauthenticated"
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			actor += "@" + p.Addr.String()
		}
		if t, ok := adminOf(out); ok {
			actor = "admin:" + t.Name
		}
		a.audit.Record(ctx, store.AuditEvent{Actor: actor, Action: "request.refused", Target: method,
			Outcome: store.AuditRefused, Detail: status.Convert(err).Message()})
	}
	return out, err
}

func (a *Authenticator) authenticate(ctx context.Context, method string) (context.Context, error) {
	switch {
	case method == enrollMethod:
		return ctx, nil // the enrolment token in the request is the credential
	case method == connectMethod:
		id, err := peerAgentID(ctx)
		if err != nil {
			return nil, err
		}
		return context.WithValue(ctx, agentKey{}, id), nil
	case strings.HasPrefix(method, adminPrefix), strings.HasPrefix(method, appPrefix):
		t, err := a.adminToken(ctx)
		if err != nil {
			return nil, err
		}
		ctx = WithAdmin(ctx, t)
		if err := authorize(t, method); err != nil {
			return ctx, err
		}
		a.markUsed(ctx, t)
		return ctx, nil
	}
	return nil, status.Errorf(codes.PermissionDenied, "method %s is not served", method)
}

func (a *Authenticator) adminToken(ctx context.Context) (*store.AdminToken, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return nil, status.Error(codes.Unauthenticated, "missing admin token: send \"authorization: Bearer TOKEN\"")
	}
	token, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok || token == "" {
		return nil, status.Error(codes.Unauthenticated, "malformed authorization header: want \"Bearer TOKEN\"")
	}
	t, err := a.store.AdminTokenByHash(ctx, pki.HashSecret(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Error(codes.Unauthenticated, "admin token not recognised")
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "checking admin token: %v", err)
	}
	if !t.RevokedAt.IsZero() {
		return nil, status.Errorf(codes.Unauthenticated, "admin token %q was revoked", t.Name)
	}
	return t, nil
}

// markUsed records a token's use, at most once a minute per token and
// process.
func (a *Authenticator) markUsed(ctx context.Context, t *store.AdminToken) {
	now := time.Now()
	a.mu.Lock()
	due := now.Sub(a.used[t.ID]) >= time.Minute
	if due {
		a.used[t.ID] = now
	}
	a.mu.Unlock()
	if due {
		_ = a.store.AdminTokenUsed(ctx, t.ID, now) // best effort: a last-use time is a hint
	}
}

// peerAgentID returns the common name of the verified client certificate.
// The TLS layer has already verified the chain against the hub's CA (client
// certificates are optional on the port, because enrolment and admin calls
// come without one, so presence is checked here).
func peerAgentID(ctx context.Context) (string, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "no peer information")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "agent streams need TLS with a client certificate")
	}
	chains := ti.State.VerifiedChains
	if len(chains) == 0 || len(chains[0]) == 0 {
		return "", status.Error(codes.Unauthenticated,
			"no client certificate issued by this hub: enrol the agent with `idsync-agent enroll`")
	}
	leaf := chains[0][0]
	if !hasClientAuth(leaf) || leaf.Subject.CommonName == "" {
		return "", status.Error(codes.Unauthenticated, "client certificate is not an agent certificate")
	}
	return leaf.Subject.CommonName, nil
}

func hasClientAuth(c *x509.Certificate) bool {
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageClientAuth {
			return true
		}
	}
	return false
}

// UnaryInterceptor authenticates unary calls.
func (a *Authenticator) UnaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ctx, err := a.check(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return h(ctx, req)
}

// StreamInterceptor authenticates streams.
func (a *Authenticator) StreamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := a.check(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return h(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }
