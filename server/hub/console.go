package hub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/test/bufconn"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/console"
)

// consoleServer is the gRPC server the console calls, in process: the
// same services as the hub's own gRPC server, behind the same
// authenticator (which here also takes console sessions), so that every
// console action is the gRPC method with its role check and its audit
// event. It listens on memory only.
type consoleServer struct {
	srv  *grpc.Server
	lis  *bufconn.Listener
	conn *grpc.ClientConn
}

func newConsoleServer(authn *auth.Authenticator, register func(grpc.ServiceRegistrar)) (*consoleServer, error) {
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(browserPeer, authn.UnaryInterceptor),
		grpc.ChainStreamInterceptor(browserPeerStream, authn.StreamInterceptor),
		grpc.MaxRecvMsgSize(idsyncv1.MaxRequestBytes), grpc.MaxSendMsgSize(maxAnswerBytes))
	register(srv)
	lis := bufconn.Listen(1 << 20)
	conn, err := grpc.NewClient("passthrough:///console",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxAnswerBytes)))
	if err != nil {
		return nil, fmt.Errorf("the console's connection: %w", err)
	}
	return &consoleServer{srv: srv, lis: lis, conn: conn}, nil
}

// serve serves until stop.
func (c *consoleServer) serve() error {
	if err := c.srv.Serve(c.lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

func (c *consoleServer) stop() {
	c.conn.Close()
	c.srv.Stop()
}

// browserPeer makes the browser's address, which the console sends along,
// the call's peer, so that a refusal names it. Only the console dials this
// server, so the address is the console's word.
func browserPeer(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	return h(withBrowserPeer(ctx), req)
}

// browserPeerStream is browserPeer for streams (the console's file
// upload streams ImportFile).
func browserPeerStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, &peerStream{ServerStream: ss, ctx: withBrowserPeer(ss.Context())})
}

type peerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *peerStream) Context() context.Context { return s.ctx }

func withBrowserPeer(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(console.PeerHeader); len(v) > 0 {
		if ap, err := netip.ParseAddrPort(v[0]); err == nil {
			ctx = peer.NewContext(ctx, &peer.Peer{Addr: net.TCPAddrFromAddrPort(ap)})
		}
	}
	return ctx
}

// httpTLS is the TLS of the HTTP listener: the hub's own certificate
// (for loopback, the machine's name and --tls-hosts) or the files given;
// nil without TLS.
func httpTLS(cfg Config, own func() (tls.Certificate, error)) (*tls.Config, error) {
	switch {
	case cfg.HTTPCert != "" || cfg.HTTPKey != "":
		if cfg.HTTPCert == "" || cfg.HTTPKey == "" {
			return nil, errors.New("--http-cert and --http-key: give both")
		}
		cert, err := tls.LoadX509KeyPair(cfg.HTTPCert, cfg.HTTPKey)
		if err != nil {
			return nil, fmt.Errorf("--http-cert %s, --http-key %s: %w", cfg.HTTPCert, cfg.HTTPKey, err)
		}
		return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
	case cfg.HTTPTLS:
		cert, err := own()
		if err != nil {
			return nil, fmt.Errorf("--http-tls: %w", err)
		}
		return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
	}
	return nil, nil
}
