package agent

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	stdsync "sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/idsync/idsync/internal/backoff"
	"github.com/idsync/idsync/internal/pki"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// Capabilities this agent announces in Hello.
var Capabilities = []string{"full-import", "range-retrieval", "capture"}

// MaxMessageBytes bounds gRPC messages, as on the hub.
const MaxMessageBytes = 64 << 20

// ErrRefused wraps a hub's refusal of this agent's identity (unknown or
// revoked certificate): retrying cannot help, the agent must enrol again.
var ErrRefused = errors.New("the hub refused this agent's certificate")

// Agent is the daemon.
type Agent struct {
	cfg     *Config
	log     *slog.Logger
	version string
	// MinBackoff and MaxBackoff bound reconnect waits.
	MinBackoff, MaxBackoff time.Duration
	// metrics are served on the config's metrics_listen, when set.
	metrics *metrics
}

// New returns an agent for cfg.
func New(cfg *Config, version string, log *slog.Logger) *Agent {
	return &Agent{cfg: cfg, version: version, log: log.With("component", "agent"),
		MinBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second, metrics: newMetrics()}
}

// Run keeps one stream to the hub open until ctx is cancelled, reconnecting
// with jittered backoff. It returns ErrRefused when the hub refuses the
// agent's certificate, and nil when ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	id, creds, err := a.identity()
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(a.cfg.Hub,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	)
	if err != nil {
		return fmt.Errorf("hub %s: %w", a.cfg.Hub, err)
	}
	defer conn.Close()
	if a.cfg.MetricsListen != "" {
		if _, err := a.serveMetrics(ctx, a.cfg.MetricsListen); err != nil {
			return err
		}
	}
	client := idsyncv1.NewAgentServiceClient(conn)
	bo := backoff.New(a.MinBackoff, a.MaxBackoff)
	a.log.Info("agent starting", "agent", id, "hub", a.cfg.Hub, "version", a.version)
	for {
		established, err := a.session(ctx, client, id)
		if ctx.Err() != nil {
			return nil
		}
		if why := refusal(err); why != "" {
			return fmt.Errorf("%w: %s; enrol again with `idsync-agent enroll`", ErrRefused, why)
		}
		if established {
			bo.Reset()
		}
		a.log.Warn("stream to hub ended; reconnecting", "err", describe(err))
		a.metrics.reconnects.Inc()
		if !bo.Wait(ctx) {
			return nil
		}
	}
}

// identity loads the key, certificate and hub CA written at enrolment.
func (a *Agent) identity() (string, credentials.TransportCredentials, error) {
	keyPath, certPath, caPath := a.cfg.IdentityPaths()
	read := func(p string) ([]byte, error) {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is missing: enrol this agent first with `idsync-agent enroll`", p)
		}
		return b, err
	}
	keyPEM, err := read(keyPath)
	if err != nil {
		return "", nil, err
	}
	certPEM, err := read(certPath)
	if err != nil {
		return "", nil, err
	}
	caPEM, err := read(caPath)
	if err != nil {
		return "", nil, err
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return "", nil, fmt.Errorf("%s: not a PEM certificate", certPath)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", certPath, err)
	}
	host, _, err := net.SplitHostPort(a.cfg.Hub)
	if err != nil {
		return "", nil, fmt.Errorf("hub %q: %w", a.cfg.Hub, err)
	}
	tc, err := pki.ClientTLSConfig(certPEM, keyPEM, caPEM, host)
	if err != nil {
		return "", nil, fmt.Errorf("agent identity in %s: %w", certPath, err)
	}
	return cert.Subject.CommonName, credentials.NewTLS(tc), nil
}

// refusal explains an error that retrying cannot fix: the hub refused the
// agent's identity, or the two do not trust each other's certificates.
func refusal(err error) string {
	if err == nil {
		return ""
	}
	if c := status.Code(err); c == codes.Unauthenticated || c == codes.PermissionDenied {
		return describe(err).Error()
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "tls: bad certificate"), strings.Contains(msg, "tls: unknown certificate authority"),
		strings.Contains(msg, "tls: certificate required"):
		return "the hub rejected this agent's certificate in the TLS handshake (it was not issued by this hub's CA)"
	case strings.Contains(msg, "x509: certificate signed by unknown authority"):
		return "the hub's certificate is not signed by the CA this agent enrolled with (hub-ca.crt)"
	}
	return ""
}

// describe turns a gRPC error into its message, without the "rpc error:"
// noise.
func describe(err error) error {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok {
		return fmt.Errorf("%s (%s)", s.Message(), s.Code())
	}
	return err
}

// stream is one open Connect stream; Send is serialised.
type stream struct {
	mu stdsync.Mutex
	s  idsyncv1.AgentService_ConnectClient
}

func (s *stream) send(m *idsyncv1.ConnectRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.s.Send(m)
}

// session runs one stream. established reports whether the hub welcomed
// the agent (the backoff then resets).
func (a *Agent) session(ctx context.Context, client idsyncv1.AgentServiceClient, id string) (established bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := client.Connect(ctx)
	if err != nil {
		return false, err
	}
	st := &stream{s: cs}
	var names []string
	for _, d := range a.cfg.Directories {
		names = append(names, d.Name)
	}
	if err := st.send(&idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_Hello{Hello: &idsyncv1.Hello{
		AgentId: id, Version: a.version, Capabilities: Capabilities, Directories: names}}}); err != nil {
		return false, err
	}
	first, err := cs.Recv()
	if err != nil {
		return false, err
	}
	w := first.GetWelcome()
	if w == nil {
		return false, errors.New("hub did not answer Hello with Welcome")
	}
	var served []string
	for _, s := range w.GetSources() {
		served = append(served, s.GetDirectory())
	}
	a.log.Info("connected to hub", "agent", w.GetAgentId(), "directories", served, "ack_window", w.GetAckWindow())
	a.metrics.setConnected(true)
	defer a.metrics.setConnected(false)

	runs := newRuns()
	defer runs.cancelAll()
	window := int(max(1, w.GetAckWindow()))
	hb := time.Duration(max(1, w.GetHeartbeatSeconds())) * time.Second
	go a.heartbeats(ctx, st, hb)

	for {
		m, err := cs.Recv()
		if err != nil {
			return true, err
		}
		switch msg := m.Msg.(type) {
		case *idsyncv1.ConnectResponse_Ack:
			a.metrics.acks.Inc()
			if dir, readAt, ok := runs.ack(msg.Ack); ok {
				a.metrics.lag.WithLabelValues(dir).Set(time.Since(readAt).Seconds())
			}
		case *idsyncv1.ConnectResponse_Command:
			a.command(ctx, st, runs, window, msg.Command)
		case *idsyncv1.ConnectResponse_Heartbeat, *idsyncv1.ConnectResponse_Welcome:
		}
	}
}

func (a *Agent) heartbeats(ctx context.Context, st *stream, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := st.send(&idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_Heartbeat{
				Heartbeat: &idsyncv1.Heartbeat{SentAt: timestamppb.Now()}}}); err != nil {
				return
			}
		}
	}
}

func (a *Agent) command(ctx context.Context, st *stream, runs *runs, window int, c *idsyncv1.Command) {
	switch cmd := c.Cmd.(type) {
	case *idsyncv1.Command_StartImport:
		si := cmd.StartImport
		r, ok := runs.start(ctx, si.GetRunId(), si.GetSource().GetDirectory(), window)
		if !ok {
			a.log.Warn("hub asked for a run that is already running here", "run", si.GetRunId())
			return
		}
		go func() {
			defer runs.done(si.GetRunId())
			err := a.runImport(r.ctx, st, r, si)
			res := &idsyncv1.CommandResult{CommandId: c.GetCommandId(), RunId: si.GetRunId()}
			var rec *errReconcile
			if errors.As(err, &rec) {
				res.Reconcile = true
			}
			if err != nil {
				res.Error = err.Error()
				a.log.Error("import failed", "run", si.GetRunId(), "directory", si.GetSource().GetDirectory(), "err", err)
			}
			if r.ctx.Err() != nil && err != nil {
				return // cancelled by the hub or the stream ended: nothing to report
			}
			if serr := st.send(&idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_CommandResult{CommandResult: res}}); serr != nil {
				a.log.Warn("reporting run result", "run", si.GetRunId(), "err", serr)
			}
		}()
	case *idsyncv1.Command_CancelImport:
		a.log.Warn("hub cancelled a run", "run", cmd.CancelImport.GetRunId(), "reason", cmd.CancelImport.GetReason())
		runs.cancel(cmd.CancelImport.GetRunId())
	}
}

// runs tracks this stream's imports: their cancel functions and ack windows.
type runs struct {
	mu   stdsync.Mutex
	byID map[string]*run
}

type run struct {
	ctx       context.Context
	cancel    context.CancelFunc
	directory string
	// slots holds one token per unacknowledged batch; its capacity is the
	// ack window, so a full window blocks the reader: backpressure.
	slots chan struct{}

	mu stdsync.Mutex
	// readAt is when the newest change of each unacknowledged capture
	// batch was read, by sequence: its ack measures the capture lag.
	readAt map[uint64]time.Time
}

// sent records when the newest change of capture batch seq was read.
func (r *run) sent(seq uint64, readAt time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.readAt[seq] = readAt
}

func newRuns() *runs { return &runs{byID: map[string]*run{}} }

func (rs *runs) start(ctx context.Context, id, directory string, window int) (*run, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if _, ok := rs.byID[id]; ok {
		return nil, false
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &run{ctx: rctx, cancel: cancel, directory: directory, slots: make(chan struct{}, window),
		readAt: map[uint64]time.Time{}}
	rs.byID[id] = r
	return r, true
}

func (rs *runs) done(id string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r, ok := rs.byID[id]; ok {
		r.cancel()
		delete(rs.byID, id)
	}
}

func (rs *runs) cancel(id string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r, ok := rs.byID[id]; ok {
		r.cancel()
	}
}

func (rs *runs) cancelAll() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, r := range rs.byID {
		r.cancel()
	}
}

// ack frees a slot of the run's window. For a capture batch that carried
// changes it returns the run's directory and when the batch's newest change
// was read.
func (rs *runs) ack(a *idsyncv1.Ack) (directory string, readAt time.Time, ok bool) {
	rs.mu.Lock()
	r := rs.byID[a.GetRunId()]
	rs.mu.Unlock()
	if r == nil {
		return "", time.Time{}, false
	}
	select {
	case <-r.slots:
	default:
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	readAt, ok = r.readAt[a.GetSequence()]
	delete(r.readAt, a.GetSequence())
	return r.directory, readAt, ok
}
