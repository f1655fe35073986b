package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
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
type agentCertKey struct{}

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

// AgentCert returns the verified client certificate of the agent that
// opened the stream.
func AgentCert(ctx context.Context) (*x509.Certificate, bool) {
	c, ok := ctx.Value(agentCertKey{}).(*x509.Certificate)
	return c, ok
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
	// agentCAs verify agent certificates (see Guard).
	agentCAs *x509.CertPool

	streams, messages, enrolls *Limiters

	mu   sync.Mutex
	used map[string]time.Time // token id → last use written

	// sessions, set on the console's in-process server alone, resolves
	// console sessions (see Console).
	sessions *sessionResolver
}

// tokenStore is the part of the store the authenticator reads.
type tokenStore interface {
	AdminTokenByHash(ctx context.Context, hash []byte) (*store.AdminToken, error)
	AdminTokenUsed(ctx context.Context, id string, now time.Time) error
}

// Recorder writes audit events (server/audit.Log), summarising floods of
// refusals.
type Recorder interface {
	// RecordRefused records a refusal of the authenticated caller e names.
	RecordRefused(ctx context.Context, e store.AuditEvent)
	// RecordUnauthenticated records a refusal of a caller that has not
	// authenticated, from client address addr.
	RecordUnauthenticated(ctx context.Context, addr string, e store.AuditEvent)
}

// New returns an authenticator over st that records refusals with rec
// and holds agents and enrolments to l.
func New(st tokenStore, rec Recorder, l Limits) *Authenticator {
	l = l.withDefaults()
	return &Authenticator{store: st, audit: rec, used: map[string]time.Time{},
		streams:  NewLimiters(rate.Limit(l.StreamsPerMinute/60), 10),
		messages: NewLimiters(rate.Limit(l.MessagesPerSecond), int(2*l.MessagesPerSecond)),
		enrolls:  NewLimiters(rate.Limit(l.EnrollsPerMinute/60), int(max(2*l.EnrollsPerMinute, 1))),
	}
}

// PeerAddr is the address of ctx's peer, or "".
func PeerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// HTTPPeer gives an HTTP request's context its client address as its peer,
// as gRPC does for a call, so that a refusal by Bearer names the address.
func HTTPPeer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			r = r.WithContext(peer.NewContext(r.Context(), &peer.Peer{Addr: net.TCPAddrFromAddrPort(ap)}))
		}
		next.ServeHTTP(w, r)
	})
}

// check authenticates and authorizes a call, recording a refusal.
func (a *Authenticator) check(ctx context.Context, method string) (context.Context, error) {
	ctx, err := a.authenticate(ctx, method)
	if err != nil {
		a.refuse(ctx, callerOf(ctx), method, status.Convert(err).Message())
	}
	return ctx, err
}

// callerOf names the admin or agent ctx authenticated; "" when none.
func callerOf(ctx context.Context) string {
	if actor := Actor(ctx); actor != "hub" {
		return actor
	}
	return ""
}

func (a *Authenticator) authenticate(ctx context.Context, method string) (context.Context, error) {
	switch {
	case method == enrollMethod:
		// The enrolment token in the request is the credential; guessing
		// is held to a few tries a minute per address.
		if !a.enrolls.Allow(peerKey(ctx)) {
			return ctx, status.Error(codes.ResourceExhausted, "too many enrolment attempts from this address: wait a minute")
		}
		return ctx, nil
	case method == connectMethod:
		leaf, err := a.peerAgentCert(ctx)
		if err != nil {
			return ctx, err
		}
		id := leaf.Subject.CommonName
		ctx = context.WithValue(context.WithValue(ctx, agentKey{}, id), agentCertKey{}, leaf)
		if !a.streams.Allow(id) {
			return ctx, status.Errorf(codes.ResourceExhausted, "agent %s opens streams too often: wait before reconnecting", id)
		}
		return ctx, nil
	case strings.HasPrefix(method, adminPrefix), strings.HasPrefix(method, appPrefix):
		t, err := a.adminToken(ctx)
		if err != nil {
			return ctx, err
		}
		ctx = WithAdmin(ctx, t)
		if err := authorize(t, method); err != nil {
			return ctx, err
		}
		a.markUsed(ctx, t)
		return ctx, nil
	}
	return ctx, status.Errorf(codes.PermissionDenied, "method %s is not served", method)
}

func (a *Authenticator) adminToken(ctx context.Context) (*store.AdminToken, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return nil, status.Error(codes.Unauthenticated, "missing admin token: send \"authorization: Bearer TOKEN\"")
	}
	if secret, ok := strings.CutPrefix(vals[0], SessionScheme); ok && a.sessions != nil {
		return a.session(ctx, secret)
	}
	return a.bearer(ctx, vals[0])
}

// Bearer authenticates an HTTP request's Authorization header as an admin
// token that grants perm, recording a refusal: the errors are gRPC
// statuses (Unauthenticated, PermissionDenied).
func (a *Authenticator) Bearer(ctx context.Context, header, what string, perm Permission) (*store.AdminToken, error) {
	t, err := a.bearer(ctx, header)
	if err == nil && !Has(t, perm) {
		err = status.Errorf(codes.PermissionDenied, "permission %s missing: admin token %q has role %s", perm, t.Name, t.Role)
	}
	if err != nil {
		actor := callerOf(ctx)
		if t != nil {
			actor = "admin:" + t.Name
		}
		a.refuse(ctx, actor, what, status.Convert(err).Message())
		return nil, err
	}
	a.markUsed(ctx, t)
	return t, nil
}

func (a *Authenticator) bearer(ctx context.Context, header string) (*store.AdminToken, error) {
	if header == "" {
		return nil, status.Error(codes.Unauthenticated, "missing admin token: send \"Authorization: Bearer TOKEN\"")
	}
	token, ok := strings.CutPrefix(header, "Bearer ")
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
	if strings.HasPrefix(t.ID, "grant:") {
		return // a directory user's session: no token to mark
	}
	now := time.Now()
	if a.due(t.ID, now, time.Minute) {
		_ = a.store.AdminTokenUsed(ctx, t.ID, now) // best effort: a last-use time is a hint
	}
}

// peerAgentID returns the common name of the verified client certificate.
// The TLS layer has already verified the chain against the hub's CA (client
// certificates are optional on the port, because enrolment and admin calls
// come without one, so presence is checked here).
func (a *Authenticator) peerAgentCert(ctx context.Context) (*x509.Certificate, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no peer information")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "agent streams need TLS with a client certificate")
	}
	var leaf *x509.Certificate
	switch chains := ti.State.VerifiedChains; {
	case len(chains) > 0 && len(chains[0]) > 0:
		leaf = chains[0][0]
	case len(ti.State.PeerCertificates) > 0 && a.agentCAs != nil:
		// Guard verifies during the handshake; verify again here, so that
		// nothing depends on the handshake having been guarded.
		var err error
		if leaf, err = a.verifyAgentCert(ti.State.PeerCertificates); err != nil {
			return nil, status.Error(codes.Unauthenticated, err.Error())
		}
	default:
		return nil, status.Error(codes.Unauthenticated,
			"no client certificate issued by this hub: enrol the agent with `idsync-agent enroll`")
	}
	if !hasClientAuth(leaf) || leaf.Subject.CommonName == "" {
		return nil, status.Error(codes.Unauthenticated, "client certificate is not an agent certificate")
	}
	return leaf, nil
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
	resp, err := h(ctx, req)
	if refusal(err) {
		a.refuse(ctx, callerOf(ctx), info.FullMethod, status.Convert(err).Message())
	}
	return resp, err
}

// StreamInterceptor authenticates streams.
func (a *Authenticator) StreamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx, err := a.check(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	var stream grpc.ServerStream = &wrappedStream{ServerStream: ss, ctx: ctx}
	if id, ok := AgentID(ctx); ok {
		stream = &limitedStream{ServerStream: stream, lim: a.messages.Limiter(id)}
	}
	err = h(srv, stream)
	if refusal(err) {
		a.refuse(ctx, callerOf(ctx), info.FullMethod, status.Convert(err).Message())
	}
	return err
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }
