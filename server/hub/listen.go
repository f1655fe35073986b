package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
)

// Bounds are what clients may hold of the hub before they prove who they
// are. The zero value takes the defaults. With them, calls being received
// hold at most 64 × 1 MiB, and open connections a few tens of kilobytes
// each.
type Bounds struct {
	// ConnsPerAddr bounds the open connections of one client address, on
	// each listener (default 64); a connection past it is closed at once.
	ConnsPerAddr int
	// Conns bounds the open connections of each listener (default 1,024).
	Conns int
	// CallsPerAddr bounds the calls of one address whose request is being
	// received, on gRPC connections without an agent certificate (default
	// 8); a call past it is refused with ResourceExhausted before its
	// request is read.
	CallsPerAddr int
	// Calls bounds them for all addresses (default 64).
	Calls int
	// ReceiveTimeout bounds the receiving of such a call's request
	// (default 30 s): a client that sends it slowly is cut off.
	ReceiveTimeout time.Duration
	// HandshakeTimeout bounds a gRPC connection's TLS handshake (default
	// 10 s).
	HandshakeTimeout time.Duration
}

func (b Bounds) withDefaults() Bounds {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&b.ConnsPerAddr, 64)
	def(&b.Conns, 1024)
	def(&b.CallsPerAddr, 8)
	def(&b.Calls, 64)
	if b.ReceiveTimeout <= 0 {
		b.ReceiveTimeout = 30 * time.Second
	}
	if b.HandshakeTimeout <= 0 {
		b.HandshakeTimeout = 10 * time.Second
	}
	return b
}

// quota counts what each client address holds, and all of them.
type quota struct {
	perAddr, total int
	mu             sync.Mutex
	held           map[string]int
	n              int
}

func newQuota(perAddr, total int) *quota {
	return &quota{perAddr: perAddr, total: total, held: map[string]int{}}
}

// take takes one for addr, reporting whether it was within the bounds.
func (q *quota) take(addr string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n >= q.total || q.held[addr] >= q.perAddr {
		return false
	}
	q.n++
	q.held[addr]++
	return true
}

// give gives back one that take took for addr.
func (q *quota) give(addr string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.n--
	if q.held[addr]--; q.held[addr] <= 0 {
		delete(q.held, addr)
	}
}

// host is an address without its port.
func host(a net.Addr) string {
	if a == nil {
		return ""
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

// limitListener closes at once a connection past its quota, and counts
// it refused.
type limitListener struct {
	net.Listener
	q       *quota
	refused func()
}

func limit(l net.Listener, b Bounds, refused func()) net.Listener {
	return &limitListener{Listener: l, q: newQuota(b.ConnsPerAddr, b.Conns), refused: refused}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := host(c.RemoteAddr())
		if !l.q.take(addr) {
			c.Close()
			l.refused()
			continue
		}
		return &countedConn{Conn: c, release: sync.OnceFunc(func() { l.q.give(addr) })}, nil
	}
}

// countedConn gives its place back when it is closed.
type countedConn struct {
	net.Conn
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// tlsRouter completes the TLS handshake of each connection of l and hands
// the connection to the gRPC server for agents when the client presented a
// certificate (which the handshake verified against the hub's CA), to the
// server for everyone else otherwise: grpc-go bounds messages per server,
// and an agent's stream needs more than any request without a certificate.
type tlsRouter struct {
	l              net.Listener
	cfg            *tls.Config
	timeout        time.Duration
	agents, others *chanListener
}

func newTLSRouter(l net.Listener, cfg *tls.Config, timeout time.Duration) *tlsRouter {
	cfg = withH2(cfg)
	// A configuration chosen per handshake (auth.Guard's, which names the
	// client in a refusal) must offer h2 too.
	if get := cfg.GetConfigForClient; get != nil {
		cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			cc, err := get(hello)
			if cc == nil || err != nil {
				return cc, err
			}
			return withH2(cc), nil
		}
	}
	return &tlsRouter{l: l, cfg: cfg, timeout: timeout, agents: newChanListener(l.Addr()), others: newChanListener(l.Addr())}
}

// withH2 is a copy of cfg offering h2, which gRPC clients require.
func withH2(cfg *tls.Config) *tls.Config {
	cfg = cfg.Clone()
	if !slices.Contains(cfg.NextProtos, "h2") {
		cfg.NextProtos = append(cfg.NextProtos, "h2")
	}
	return cfg
}

// run routes connections until the listener is closed.
func (r *tlsRouter) run() error {
	defer r.agents.Close()
	defer r.others.Close()
	for {
		c, err := r.l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("gRPC listener: %w", err)
		}
		go r.route(c)
	}
}

func (r *tlsRouter) route(c net.Conn) {
	tc := tls.Server(c, r.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		tc.Close()
		return
	}
	to := r.others
	if len(tc.ConnectionState().PeerCertificates) > 0 {
		to = r.agents
	}
	if !to.deliver(tc) {
		tc.Close()
	}
}

// chanListener is a listener fed connections by a tlsRouter.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// handshaken are the transport credentials of connections whose TLS
// handshake a tlsRouter completed: what the interceptors read of the peer
// (its certificates) is what grpc-go's own TLS credentials give.
type handshaken struct{}

var _ credentials.TransportCredentials = handshaken{}

func (handshaken) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return nil, nil, errors.New("not a TLS connection")
	}
	return c, credentials.TLSInfo{State: tc.ConnectionState(),
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
}

func (handshaken) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("server credentials only")
}

func (handshaken) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "tls"}
}

func (h handshaken) Clone() credentials.TransportCredentials { return h }

func (handshaken) OverrideServerName(string) error { return nil }

// callGate bounds the unary calls being received on the gRPC server
// without agent certificates, per address and in all: grpc-go reads a
// unary request whole before any interceptor sees who sent it, so the bound
// applies as a call starts (a tap), and ends once its request is read (the
// first interceptor) or the call ends. A stream is authenticated before
// its first message is read, and passes.
type callGate struct {
	q       *quota
	timeout time.Duration
	refused func()
	unary   map[string]bool // full method names
}

func newCallGate(b Bounds, refused func()) *callGate {
	return &callGate{q: newQuota(b.CallsPerAddr, b.Calls), timeout: b.ReceiveTimeout, refused: refused, unary: map[string]bool{}}
}

// register returns a registrar that registers services with s and their
// unary methods with the gate.
func (g *callGate) register(s grpc.ServiceRegistrar) grpc.ServiceRegistrar {
	return registrar(func(sd *grpc.ServiceDesc, impl any) {
		for _, m := range sd.Methods {
			g.unary["/"+sd.ServiceName+"/"+m.MethodName] = true
		}
		s.RegisterService(sd, impl)
	})
}

type registrar func(*grpc.ServiceDesc, any)

func (r registrar) RegisterService(sd *grpc.ServiceDesc, impl any) { r(sd, impl) }

type receivedKey struct{}

func (g *callGate) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if !g.unary[info.FullMethodName] {
		// A stream, or no method: answered before a message is read.
		return ctx, nil
	}
	var addr string
	if p, ok := peer.FromContext(ctx); ok {
		addr = host(p.Addr)
	}
	if !g.q.take(addr) {
		g.refused()
		return nil, status.Errorf(codes.ResourceExhausted,
			"the hub is receiving too many calls (at most %d from one address, %d in all): try again", g.q.perAddr, g.q.total)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(g.timeout, func() {
		cancel(fmt.Errorf("the request was not received within %v", g.timeout))
	})
	received := sync.OnceFunc(func() {
		timer.Stop()
		g.q.give(addr)
	})
	context.AfterFunc(ctx, received)
	return context.WithValue(ctx, receivedKey{}, received), nil
}

// received is the first unary interceptor: the request is read.
func (g *callGate) received(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if f, ok := ctx.Value(receivedKey{}).(func()); ok {
		f()
	}
	return h(ctx, req)
}

// agentsOnly is the tap of the gRPC server for agent certificates: it
// serves Connect alone, so that nothing else reads messages of its bound.
func agentsOnly(ctx context.Context, info *tap.Info) (context.Context, error) {
	if info.FullMethodName != idsyncv1.AgentService_Connect_FullMethodName {
		return nil, status.Errorf(codes.PermissionDenied,
			"%s: a connection with an agent certificate serves only Connect; enrol and administer without one", info.FullMethodName)
	}
	return ctx, nil
}

// maxAnswerBytes bounds the answers to admins: theirs to ask for.
const maxAnswerBytes = 64 << 20

// grpcServers returns the gRPC server for connections without an agent
// certificate (admins, enrolment) and the one for connections with one
// (agents' streams), each with the services register registers. refused
// counts a call refused past the bounds.
func grpcServers(authn *auth.Authenticator, b Bounds, refused func(), register func(grpc.ServiceRegistrar)) (others, agents *grpc.Server) {
	common := []grpc.ServerOption{
		grpc.Creds(handshaken{}),
		grpc.ChainStreamInterceptor(authn.StreamInterceptor),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	}
	// Requests are read before their caller is known: small ones, a few at
	// a time, flow-control windows that do not grow past a request, and a
	// read buffer to match (a third of what a connection holds otherwise).
	gate := newCallGate(b, refused)
	others = grpc.NewServer(slices.Concat(common, []grpc.ServerOption{
		grpc.InTapHandle(gate.tap),
		grpc.ChainUnaryInterceptor(gate.received, authn.UnaryInterceptor),
		grpc.MaxRecvMsgSize(idsyncv1.MaxRequestBytes),
		grpc.MaxSendMsgSize(maxAnswerBytes),
		grpc.InitialWindowSize(64 << 10),
		grpc.InitialConnWindowSize(1 << 20),
		grpc.MaxConcurrentStreams(100),
		grpc.ReadBufferSize(8 << 10),
	})...)
	// A stream is authenticated before its first message is read.
	// Its Stop returns once every stream's handler has (recorded the
	// agent's disconnect in the store, which closes after).
	agents = grpc.NewServer(slices.Concat(common, []grpc.ServerOption{
		grpc.WaitForHandlers(true),
		grpc.InTapHandle(agentsOnly),
		grpc.ChainUnaryInterceptor(authn.UnaryInterceptor),
		grpc.MaxRecvMsgSize(idsyncv1.MaxStreamMessageBytes),
		grpc.MaxSendMsgSize(idsyncv1.MaxStreamMessageBytes),
	})...)
	register(gate.register(others))
	register(agents)
	return others, agents
}

// stopGRPC stops servers gracefully, then at once past a bound.
func stopGRPC(bound time.Duration, servers ...*grpc.Server) {
	stopped := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for _, s := range servers {
			wg.Go(s.GracefulStop)
		}
		wg.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(bound):
		for _, s := range servers {
			s.Stop()
		}
	}
}
