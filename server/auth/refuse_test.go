package auth_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/internal/pki"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/store"
)

// refusal is one refusal the authenticator recorded.
type refusal struct {
	anonymous bool   // through RecordUnauthenticated
	addr      string // its address
	e         store.AuditEvent
}

// recorder keeps the refusals recorded.
type recorder struct {
	mu  sync.Mutex
	got []refusal
}

func (r *recorder) RecordRefused(_ context.Context, e store.AuditEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, refusal{e: e})
}

func (r *recorder) RecordUnauthenticated(_ context.Context, addr string, e store.AuditEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, refusal{anonymous: true, addr: addr, e: e})
}

func (r *recorder) refusals() []refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]refusal(nil), r.got...)
}

// tokens are admin tokens by the hash of their secret.
type tokens map[string]*store.AdminToken

func (ts tokens) AdminTokenByHash(_ context.Context, hash []byte) (*store.AdminToken, error) {
	if t, ok := ts[string(hash)]; ok {
		return t, nil
	}
	return nil, store.ErrNotFound
}

func (tokens) AdminTokenUsed(context.Context, string, time.Time) error { return nil }

func newAuthenticator() (*auth.Authenticator, *recorder) {
	ts := tokens{
		string(pki.HashSecret("idsa_reader")):  {ID: "t1", Name: "reader", Role: auth.RoleReadOnly},
		string(pki.HashSecret("idsa_revoked")): {ID: "t2", Name: "gone", Role: auth.RoleSuperAdmin, RevokedAt: time.Now()},
	}
	rec := &recorder{}
	return auth.New(ts, rec, auth.Limits{}), rec
}

// TestRefusalsByCaller: a refusal of a caller that has not authenticated
// goes to the summary by address, naming it; one of an authenticated
// caller is recorded as that caller's.
func TestRefusalsByCaller(t *testing.T) {
	const listUsers, createToken, enroll = "/idsync.v1.AdminService/ListUsers", "/idsync.v1.AdminService/CreateAdminToken",
		"/idsync.v1.AgentService/Enroll"
	const addr = "192.0.2.7:40000"
	tests := []struct {
		name       string
		token      string
		method     string
		handlerErr error
		wantAnon   bool
		wantActor  string
		wantDetail string
	}{
		{"no token", "", listUsers, nil, true, "unauthenticated@" + addr, "missing admin token"},
		{"a made-up token", "idsa_made-up", listUsers, nil, true, "unauthenticated@" + addr, "admin token not recognised"},
		{"a revoked token", "idsa_revoked", listUsers, nil, true, "unauthenticated@" + addr, `admin token "gone" was revoked`},
		{"an enrolment the service refuses", "", enroll, status.Error(codes.Unauthenticated, "enrolment token already used"),
			true, "unauthenticated@" + addr, "enrolment token already used"},
		{"a token without the permission", "idsa_reader", createToken, nil, false, "admin:reader", "permission admins.write missing"},
		{"an admin the service refuses", "idsa_reader", listUsers, status.Error(codes.PermissionDenied, "out of scope"),
			false, "admin:reader", "out of scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, rec := newAuthenticator()
			md := metadata.MD{}
			if tt.token != "" {
				md.Set("authorization", "Bearer "+tt.token)
			}
			tcp, _ := net.ResolveTCPAddr("tcp", addr)
			ctx := peer.NewContext(metadata.NewIncomingContext(t.Context(), md), &peer.Peer{Addr: tcp})
			handler := func(context.Context, any) (any, error) { return nil, tt.handlerErr }
			if _, err := a.UnaryInterceptor(ctx, nil, &grpc.UnaryServerInfo{FullMethod: tt.method}, handler); err == nil {
				t.Fatal("the call was served, want it refused")
			}
			got := rec.refusals()
			if len(got) != 1 {
				t.Fatalf("%d refusals recorded %+v, want 1", len(got), got)
			}
			r := got[0]
			if r.anonymous != tt.wantAnon || r.e.Actor != tt.wantActor || r.e.Target != tt.method ||
				r.e.Action != "request.refused" || !strings.Contains(r.e.Detail, tt.wantDetail) {
				t.Errorf("recorded %+v, want unauthenticated=%t by %s on %s saying %q", r, tt.wantAnon, tt.wantActor, tt.method, tt.wantDetail)
			}
			if tt.wantAnon && r.addr != addr {
				t.Errorf("recorded from %q, want %q", r.addr, addr)
			}
		})
	}
}

// TestGuardNamesTheAddress: a handshake refused for a certificate of
// another CA is recorded with the client's address.
func TestGuardNamesTheAddress(t *testing.T) {
	a, rec := newAuthenticator()
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := ca.ServerCertificate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", a.Guard(pki.ServerTLSConfig(serverCert, ca)))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		served <- c.(*tls.Conn).Handshake()
	}()

	other, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := pki.NewKey()
	csr, _ := pki.CreateCSR(key, "agent-x")
	certPEM, _, _, err := other.SignClientCSR(csr, "agent-x", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := pki.MarshalKey(key)
	cfg, err := pki.ClientTLSConfig(certPEM, keyPEM, ca.CertPEM(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	foreign := cfg.Certificates[0]
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreign, nil }
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, cfg)
	defer c.Close()
	if err := c.Handshake(); err == nil {
		// TLS 1.3: the client learns of the refusal on its first read.
		_, _ = c.Read(make([]byte, 1))
	}
	if err := <-served; err == nil {
		t.Fatal("the server accepted a certificate of another CA")
	}
	got := rec.refusals()
	if len(got) != 1 {
		t.Fatalf("%d refusals recorded %+v, want 1", len(got), got)
	}
	r := got[0]
	from := raw.LocalAddr().String()
	if !r.anonymous || r.addr != from || r.e.Actor != "unauthenticated@"+from || r.e.Target != "tls.handshake" ||
		!strings.Contains(r.e.Detail, "agent-x") {
		t.Errorf("recorded %+v, want a refusal by unauthenticated@%s on tls.handshake naming agent-x", r, from)
	}
}

// TestHTTPPeer: a bearer refused on an HTTP route is recorded with the
// request's client address.
func TestHTTPPeer(t *testing.T) {
	a, rec := newAuthenticator()
	h := auth.HTTPPeer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := a.Bearer(r.Context(), r.Header.Get("Authorization"), "POST /v1/authn", auth.PermAuthenticate); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	req := httptest.NewRequest(http.MethodPost, "/v1/authn", nil)
	req.RemoteAddr = "198.51.100.4:5555"
	req.Header.Set("Authorization", "Bearer idsa_made-up")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("answer %d, want 401", w.Code)
	}
	got := rec.refusals()
	if len(got) != 1 || !got[0].anonymous || got[0].addr != req.RemoteAddr || got[0].e.Actor != "unauthenticated@"+req.RemoteAddr {
		t.Errorf("recorded %+v, want one refusal by unauthenticated@%s", got, req.RemoteAddr)
	}
}
