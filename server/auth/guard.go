package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/server/store"
)

// Limits bound what one agent, or one address without a certificate, may
// ask of the hub. The zero value takes the defaults.
type Limits struct {
	// StreamsPerMinute is how many streams an agent may open a minute
	// (default 30, burst 10): a reconnect loop cannot flood the hub.
	StreamsPerMinute float64
	// MessagesPerSecond is how many messages an agent's stream may send
	// a second (default 500, burst 1,000); beyond it the hub reads more
	// slowly, which pushes back on the agent through the stream.
	MessagesPerSecond float64
	// EnrollsPerMinute is how many enrolment attempts an address may make
	// a minute (default 10, burst 20).
	EnrollsPerMinute float64
}

func (l Limits) withDefaults() Limits {
	if l.StreamsPerMinute <= 0 {
		l.StreamsPerMinute = 30
	}
	if l.MessagesPerSecond <= 0 {
		l.MessagesPerSecond = 500
	}
	if l.EnrollsPerMinute <= 0 {
		l.EnrollsPerMinute = 10
	}
	return l
}

// Limiters keeps one token bucket per key (an agent, an address, a
// user), forgetting idle ones.
type Limiters struct {
	mu    sync.Mutex
	every rate.Limit
	burst int
	m     map[string]*limiterEntry
	// Now is the clock buckets refill by (nil: time.Now); tests set it.
	Now func() time.Time
}

type limiterEntry struct {
	lim  *rate.Limiter
	used time.Time
}

// NewLimiters returns buckets that refill every a second, holding burst.
func NewLimiters(every rate.Limit, burst int) *Limiters {
	return &Limiters{every: every, burst: burst, m: map[string]*limiterEntry{}}
}

// Allow takes a token from key's bucket, reporting whether there was one.
func (l *Limiters) Allow(key string) bool {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	return l.get(key, now).AllowN(now, 1)
}

// Limiter returns key's bucket itself, for a caller that waits on it.
func (l *Limiters) Limiter(key string) *rate.Limiter { return l.get(key, time.Now()) }

func (l *Limiters) get(key string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) > 10000 {
		for k, e := range l.m {
			if now.Sub(e.used) > time.Hour {
				delete(l.m, k)
			}
		}
	}
	e, ok := l.m[key]
	if !ok {
		e = &limiterEntry{lim: rate.NewLimiter(l.every, l.burst)}
		l.m[key] = e
	}
	e.used = now
	return e.lim
}

// Guard returns cfg with client certificates verified by the hub itself
// rather than by the TLS stack, so that a certificate the hub did not
// issue is recorded before the handshake fails. A connection without a
// certificate passes (enrolment and admin calls come without one; agent
// streams are refused later, and recorded).
func (a *Authenticator) Guard(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	a.agentCAs = c.ClientCAs
	c.ClientAuth = tls.RequestClientCert
	// A configuration per handshake, so that a refusal names the client's
	// address.
	c.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		cc := c.Clone()
		cc.GetConfigForClient = nil
		p := &peer.Peer{}
		if hello.Conn != nil {
			p.Addr = hello.Conn.RemoteAddr()
		}
		cc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil
			}
			if _, err := a.verifyAgentCert(cs.PeerCertificates); err != nil {
				a.refuse(peer.NewContext(context.Background(), p), "", "tls.handshake", err.Error())
				return err
			}
			return nil
		}
		return cc, nil
	}
	return c
}

// verifyAgentCert verifies a client certificate chain against the hub's CA
// and returns its leaf.
func (a *Authenticator) verifyAgentCert(certs []*x509.Certificate) (*x509.Certificate, error) {
	if a.agentCAs == nil {
		return nil, errors.New("the hub has no agent CA configured")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	leaf := certs[0]
	_, err := leaf.Verify(x509.VerifyOptions{Roots: a.agentCAs, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return nil, fmt.Errorf("client certificate %q (serial %x) refused: not a valid certificate of this hub's CA: %v",
			leaf.Subject.CommonName, leaf.SerialNumber, err)
	}
	return leaf, nil
}

// refuse records a refused request of actor, the caller that
// authenticated, or "" for one that did not: that one is named by its
// address, and its refusals are summarised per address, so that nobody
// floods the trail without credentials.
func (a *Authenticator) refuse(ctx context.Context, actor, target, detail string) {
	if a.audit == nil {
		return
	}
	e := store.AuditEvent{Actor: actor, Action: "request.refused", Target: target, Outcome: store.AuditRefused, Detail: detail}
	if actor != "" {
		a.audit.RecordRefused(ctx, e)
		return
	}
	addr := PeerAddr(ctx)
	e.Actor = "unauthenticated"
	if addr != "" {
		e.Actor += "@" + addr
	}
	a.audit.RecordUnauthenticated(ctx, addr, e)
}

// refusal reports whether a handler's error refuses the caller (as
// opposed to failing its request), so that it is recorded.
func refusal(err error) bool {
	switch status.Code(err) {
	case codes.PermissionDenied, codes.Unauthenticated, codes.ResourceExhausted:
		return true
	}
	return false
}

// peerKey is the address of ctx's peer without its port.
func peerKey(ctx context.Context) string {
	addr := PeerAddr(ctx)
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// limitedStream slows the messages an agent's stream receives to its
// limit.
type limitedStream struct {
	grpc.ServerStream
	lim *rate.Limiter
}

func (s *limitedStream) RecvMsg(m any) error {
	if err := s.lim.Wait(s.Context()); err != nil {
		return status.FromContextError(err).Err()
	}
	return s.ServerStream.RecvMsg(m)
}
