package hub

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	rtmetrics "runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/internal/adminconf"
	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/obs"
	"github.com/idsync/idsync/internal/obs/obstest"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// patience bounds every wait of these tests on something the hub does.
const patience = 30 * time.Second

// hubTLS is a client TLS configuration that trusts the hub of data dir dir
// and presents no certificate.
func hubTLS(t *testing.T, dir string) *tls.Config {
	t.Helper()
	conf, err := adminconf.Read(filepath.Join(dir, "admin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(conf.CA))
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}}
}

// memoryHeld is the memory the process holds: its live objects, after two
// collections (the second frees what pools let go at the first), and its
// goroutines' stacks.
func memoryHeld() int64 {
	runtime.GC()
	runtime.GC()
	s := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	rtmetrics.Read(s)
	return int64(s[0].Value.Uint64() + s[1].Value.Uint64())
}

// dialFrom opens a TCP connection to addr from the loopback address local;
// the caller closes it.
func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dialH2 opens an HTTP/2 connection to the hub's gRPC listener from local:
// a client that speaks gRPC's framing itself, as an attacker would.
func dialH2(t *testing.T, local, addr string, cfg *tls.Config) *http2.ClientConn {
	t.Helper()
	tc := tls.Client(dialFrom(t, local, addr), cfg)
	if err := tc.HandshakeContext(t.Context()); err != nil {
		tc.Close()
		t.Fatal(err)
	}
	cc, err := (&http2.Transport{}).NewClientConn(tc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// stall is the body of a gRPC request whose message declares n bytes: all
// but the last byte are sent, then nothing until the body is closed. sent is
// closed once the rest has been handed to the connection.
type stall struct {
	io.Reader
	sent, closed         chan struct{}
	sentOnce, closedOnce sync.Once
}

func newStall(n int) *stall {
	var prefix [5]byte
	binary.BigEndian.PutUint32(prefix[1:], uint32(n))
	return &stall{Reader: io.MultiReader(bytes.NewReader(prefix[:]), io.LimitReader(zeros{}, int64(n-1))),
		sent: make(chan struct{}), closed: make(chan struct{})}
}

func (s *stall) Read(p []byte) (int, error) {
	n, err := s.Reader.Read(p)
	if err != io.EOF {
		return n, err
	}
	s.sentOnce.Do(func() { close(s.sent) })
	<-s.closed
	return 0, errors.New("stalled request closed")
}

func (s *stall) Close() error {
	s.closedOnce.Do(func() { close(s.closed) })
	return nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// grpcStatus is the status of a gRPC answer that came without a message.
func grpcStatus(resp *http.Response) (codes.Code, string) {
	var c int
	fmt.Sscan(resp.Header.Get("Grpc-Status"), &c)
	return codes.Code(c), resp.Header.Get("Grpc-Message")
}

// TestUnauthenticatedLoad: clients without credentials send oversized
// requests, hold many calls and connections open at once, and post bodies
// without end; each is refused with its code, and what the hub holds for
// them stays within its bounds (its live heap and stacks).
func TestUnauthenticatedLoad(t *testing.T) {
	// Small bounds, so that what they let in can be told from the rest;
	// timeouts past patience, so that no connection ends on its own.
	bounds := Bounds{ConnsPerAddr: 12, Conns: 40, CallsPerAddr: 3, Calls: 6,
		ReceiveTimeout: 2 * patience, HandshakeTimeout: 2 * patience}
	dir := t.TempDir()
	a, _ := serve(t, Config{DataDir: dir, Bounds: bounds, HTTPTimeouts: obs.Timeouts{ReadHeader: 2 * patience, Read: 2 * patience}})
	cfg := hubTLS(t, dir)
	conn := grpcConnFrom(t, "127.0.0.1", a.grpc, cfg)
	agents := idsyncv1.NewAgentServiceClient(conn)
	ctx := t.Context()

	t.Run("oversized requests", func(t *testing.T) {
		big := strings.Repeat("x", 2<<20)
		calls := []struct {
			name string
			call func(*grpc.ClientConn) error
		}{
			{"Enroll", func(c *grpc.ClientConn) error {
				_, err := idsyncv1.NewAgentServiceClient(c).Enroll(ctx, &idsyncv1.EnrollRequest{Token: "x", CsrPem: []byte(big)})
				return err
			}},
			{"ListUsers", func(c *grpc.ClientConn) error {
				_, err := idsyncv1.NewAdminServiceClient(c).ListUsers(ctx, &idsyncv1.ListUsersRequest{Directory: big})
				return err
			}},
			{"CreateApp", func(c *grpc.ClientConn) error {
				_, err := idsyncv1.NewAppServiceClient(c).CreateApp(ctx, &idsyncv1.CreateAppRequest{Secret: big})
				return err
			}},
		}
		for _, c := range calls {
			err := c.call(conn)
			if msg := fmt.Sprint(err); status.Code(err) != codes.ResourceExhausted ||
				!strings.Contains(msg, "larger than max") || !strings.Contains(msg, fmt.Sprintf("vs. %d)", idsyncv1.MaxRequestBytes)) {
				t.Errorf("%s of 2 MiB: %v, want ResourceExhausted, larger than %d bytes", c.name, err, idsyncv1.MaxRequestBytes)
			}
		}
		// Many at once from another address: past the bound on calls,
		// some are refused before their size is read; each is refused.
		burst := grpcConnFrom(t, "127.0.0.2", a.grpc, cfg)
		var wg sync.WaitGroup
		for _, c := range calls {
			for range 4 {
				wg.Go(func() {
					if err := c.call(burst); status.Code(err) != codes.ResourceExhausted {
						t.Errorf("%s of 2 MiB, at once: %v, want ResourceExhausted", c.name, err)
					}
				})
			}
		}
		wg.Wait()
		// A stream without a certificate is refused before its first
		// message is read, whatever its size.
		stream, err := agents.Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stream.Send(&idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_Hello{Hello: &idsyncv1.Hello{AgentId: big}}})
		if _, err := stream.Recv(); status.Code(err) != codes.Unauthenticated {
			t.Errorf("a stream of 2 MiB without a certificate: %v, want Unauthenticated", err)
		}
	})

	// The connections and calls below stay open until the memory held is
	// measured, as an attacker would hold them.
	var kept []net.Conn
	defer func() {
		for _, c := range kept {
			c.Close()
		}
	}()
	keep := func(c net.Conn) net.Conn { kept = append(kept, c); return c }
	base := memoryHeld()

	// Connections past the bound per address are closed at once, on both
	// listeners; those within it are served.
	t.Run("connections", func(t *testing.T) {
		for _, l := range []struct{ name, addr, local string }{{"http", a.http, "127.0.0.21"}, {"grpc", a.grpc, "127.0.0.22"}} {
			var open []net.Conn
			for range bounds.ConnsPerAddr + 4 {
				open = append(open, keep(dialFrom(t, l.local, l.addr)))
			}
			for i, c := range open[bounds.ConnsPerAddr:] {
				c.SetReadDeadline(time.Now().Add(patience))
				if _, err := c.Read(make([]byte, 1)); !closedByPeer(err) {
					t.Errorf("%s: connection %d of %s, past the bound of %d: read %v, want it closed by the hub",
						l.name, bounds.ConnsPerAddr+i+1, l.local, bounds.ConnsPerAddr, err)
				}
			}
			if l.name == "http" {
				c := open[0]
				c.SetDeadline(time.Now().Add(patience))
				io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
				if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("http: a connection within the bound: %v, %v; want 200", resp, err)
				}
			} else {
				tc := tls.Client(open[0], cfg)
				if err := tc.HandshakeContext(ctx); err != nil {
					t.Errorf("grpc: a connection within the bound: handshake %v", err)
				}
			}
		}
		// The bound on all addresses: with the 12 of .21, 12 from each of
		// .23 and .24 and 4 of .25 make 40.
		var last []net.Conn
		for _, local := range []string{"127.0.0.23", "127.0.0.24", "127.0.0.25"} {
			for range bounds.ConnsPerAddr {
				last = append(last, keep(dialFrom(t, local, a.http)))
			}
		}
		refused := 0
		for _, c := range last[len(last)-8:] {
			c.SetReadDeadline(time.Now().Add(patience))
			if _, err := c.Read(make([]byte, 1)); closedByPeer(err) {
				refused++
			}
		}
		if refused != 8 {
			t.Errorf("http: %d of the last 8 connections closed, want all past the bound of %d in all", refused, bounds.Conns)
		}
	})
	// Held: the bound on all addresses on HTTP, the bound of one on gRPC.
	conns := bounds.Conns + bounds.ConnsPerAddr

	// Calls whose requests arrive slowly: from 4 addresses, 6 calls each,
	// each request all but its last byte of 1 MiB.
	t.Run("held calls", func(t *testing.T) {
		hold, release := context.WithCancel(ctx)
		defer release()
		type outcome struct {
			local   string
			refused bool
			err     error
		}
		outcomes := make(chan outcome, 64)
		var ccs []*http2.ClientConn
		total := 0
		locals := []string{"127.0.0.31", "127.0.0.32", "127.0.0.33", "127.0.0.34"}
		for _, local := range locals {
			for range 2 {
				cc := dialH2(t, local, a.grpc, cfg)
				ccs = append(ccs, cc)
				for range 3 {
					total++
					body := newStall(idsyncv1.MaxRequestBytes - 64)
					req, _ := http.NewRequestWithContext(hold, "POST", "https://127.0.0.1"+idsyncv1.AgentService_Enroll_FullMethodName, body)
					req.Header.Set("Content-Type", "application/grpc")
					req.Header.Set("TE", "trailers")
					go func() {
						resp, err := cc.RoundTrip(req)
						if err == nil {
							code, msg := grpcStatus(resp)
							resp.Body.Close()
							if code != codes.ResourceExhausted {
								err = fmt.Errorf("answered %v %q, want ResourceExhausted", code, msg)
							}
						}
						outcomes <- outcome{local: local, refused: err == nil, err: err}
					}()
					go func() {
						select {
						case <-body.sent:
							outcomes <- outcome{local: local}
						case <-body.closed:
						}
					}()
				}
			}
		}
		// Every call is refused or has sent all it will.
		refused, held := map[string]int{}, 0
		deadline := time.After(patience)
		for refused[""]+held < total {
			select {
			case o := <-outcomes:
				switch {
				case o.err != nil && hold.Err() == nil:
					t.Fatalf("a call from %s: %v", o.local, o.err)
				case o.refused:
					refused[o.local]++
					refused[""]++
				default:
					held++
				}
			case <-deadline:
				t.Fatalf("after %v: %d calls refused, %d held of %d; want each refused or held", patience, refused[""], held, total)
			}
		}
		if held != bounds.Calls {
			t.Errorf("%d calls held, want the bound of %d", held, bounds.Calls)
		}
		for _, local := range locals {
			if n := 6 - refused[local]; n > bounds.CallsPerAddr {
				t.Errorf("%d calls of %s held, over the bound of %d per address", n, local, bounds.CallsPerAddr)
			}
		}
		// The hub has read every frame sent before its answer to a ping.
		for _, cc := range ccs {
			if err := cc.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		}
		grown := memoryHeld() - base
		// What the bounds let in: each held call's request and the window
		// beside it, and each connection open.
		conns += len(ccs)
		bound := int64(bounds.Calls*(idsyncv1.MaxRequestBytes+64<<10) + conns*perConnBytes)
		t.Logf("held: %d calls, %d connections; the memory held grew by %.1f MiB (bound %.1f MiB)",
			held, conns, float64(grown)/(1<<20), float64(bound)/(1<<20))
		if grown > bound {
			t.Errorf("the memory held grew by %d bytes, over the bound of %d", grown, bound)
		}

		// Once the calls end, their places are free again.
		release()
		eventually.Within(t, patience, "a call read after the held calls ended", func() (bool, string) {
			_, err := agents.Enroll(ctx, &idsyncv1.EnrollRequest{Token: "x"})
			return status.Code(err) != codes.ResourceExhausted, fmt.Sprint(err)
		})
	})

	for _, c := range kept {
		c.Close()
	}
	// The HTTP listener takes connections again once it has seen those
	// close.
	deadline := time.Now().Add(patience)
	eventually.Within(t, patience, "the HTTP listener to take a connection after the others closed", func() (bool, string) {
		c := dialFrom(t, "127.0.0.25", a.http)
		c.SetDeadline(deadline)
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
		_, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		return err == nil, fmt.Sprint(err)
	})

	// Bodies without end, posted without credentials, are answered without
	// being read.
	t.Run("endless bodies", func(t *testing.T) {
		var wg sync.WaitGroup
		for i, path := range []string{"/scim/v2/Users", "/v1/authn", "/scim/v2/Users", "/v1/authn"} {
			wg.Go(func() {
				c := dialFrom(t, fmt.Sprintf("127.0.0.4%d", i), a.http)
				defer c.Close()
				c.SetDeadline(time.Now().Add(patience))
				// The body never ends: the answer comes while it is unfinished.
				// It is read before more of the body is sent: a hub that
				// closes a connection with unread bytes resets it, and the
				// reset discards an answer the client has not read yet.
				chunk := []byte(fmt.Sprintf("%x\r\n%s\r\n", 64<<10, bytes.Repeat([]byte("x"), 64<<10)))
				io.WriteString(c, "POST "+path+" HTTP/1.1\r\nHost: hub\r\nTransfer-Encoding: chunked\r\n\r\n")
				c.Write(chunk)
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil || resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("POST %s with an endless body: %v, %v; want 401", path, resp, err)
					return
				}
				// Then the hub closes the connection, however long the body.
				for {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			})
		}
		wg.Wait()
	})

	// What the bounds refused is counted: at least the connections and
	// calls refused above (some calls of the burst too).
	m := obstest.Scrape(t, "http://"+a.http)
	for what, least := range map[string]float64{"http_connection": 4 + 8, "grpc_connection": 4, "call": 18} {
		if got := m[`idsync_hub_refused_total{what="`+what+`"}`]; got < least {
			t.Errorf("idsync_hub_refused_total{what=%q} = %v, want at least %v", what, got, least)
		}
	}
}

// perConnBytes is what an open connection may hold of the hub's heap, as
// measured by TestUnauthenticatedLoad.
const perConnBytes = 64 << 10

// TestReceiveTimeout: a call whose request does not arrive within the
// bound is cut off, and its place freed.
func TestReceiveTimeout(t *testing.T) {
	dir := t.TempDir()
	a, _ := serve(t, Config{DataDir: dir, Bounds: Bounds{CallsPerAddr: 1, ReceiveTimeout: 300 * time.Millisecond}})
	cc := dialH2(t, "127.0.0.1", a.grpc, hubTLS(t, dir))
	body := newStall(1000)
	req, _ := http.NewRequestWithContext(t.Context(), "POST", "https://127.0.0.1"+idsyncv1.AgentService_Enroll_FullMethodName, body)
	req.Header.Set("Content-Type", "application/grpc")
	answered := make(chan error, 1)
	go func() {
		resp, err := cc.RoundTrip(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			if code, msg := grpcStatus(resp); code != codes.Canceled {
				err = fmt.Errorf("answered %v %q, want Canceled", code, msg)
			}
		}
		answered <- err
	}()
	select {
	case err := <-answered:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(patience):
		t.Fatalf("a request stalled for %v was not cut off", patience)
	}
	// Its place is freed: another call from the address is read.
	agents := idsyncv1.NewAgentServiceClient(grpcConnFrom(t, "127.0.0.1", a.grpc, hubTLS(t, dir)))
	var err error
	eventually.Within(t, patience, "the place of the cut call freed", func() (bool, string) {
		_, err = agents.Enroll(t.Context(), &idsyncv1.EnrollRequest{Token: "x"})
		return status.Code(err) != codes.ResourceExhausted, fmt.Sprint(err)
	})
	if status.Code(err) == codes.OK {
		t.Errorf("the next call: %v, want it read and refused for its token", err)
	}
}

// grpcConnFrom is a gRPC connection without credentials from the loopback
// address local.
func grpcConnFrom(t *testing.T, local, addr string, cfg *tls.Config) *grpc.ClientConn {
	t.Helper()
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		return d.DialContext(ctx, "tcp", addr)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)), grpc.WithContextDialer(dial))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
