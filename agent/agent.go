package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
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
var Capabilities = []string{
	idsyncv1.CapabilityFullImport, idsyncv1.CapabilityRangeRetrieval,
	idsyncv1.CapabilityCapture, idsyncv1.CapabilityCertRenewal,
	idsyncv1.CapabilityAuthenticate, idsyncv1.CapabilityWrite,
}

// MaxMessageBytes bounds the stream's messages, either way, as on the hub.
const MaxMessageBytes = idsyncv1.MaxStreamMessageBytes

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
	// calls holds a token per sign-in or write running (maxCalls).
	calls chan struct{}
	// RenewWhenLeft is the fraction of its lifetime the client certificate
	// has left when the agent asks the hub for a new one.
	RenewWhenLeft float64
	// RenewRetry is the wait before asking again after a renewal failed or
	// went unanswered.
	RenewRetry time.Duration
	// folders is what the watched folders sent (files.go).
	folders folders
}

// New returns an agent for cfg.
func New(cfg *Config, version string, log *slog.Logger) *Agent {
	return &Agent{cfg: cfg, version: version, log: log.With("component", "agent"),
		MinBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second, metrics: newMetrics(),
		RenewWhenLeft: 1.0 / 3, RenewRetry: time.Minute, calls: make(chan struct{}, maxCalls)}
}

// maxCalls bounds the sign-ins and writes an agent runs at once; more wait.
const maxCalls = 8

// Run keeps one stream to the hub open until ctx is cancelled, reconnecting
// with jittered backoff, and renews the client certificate before it
// expires. It returns ErrRefused when the hub refuses the agent's
// certificate (or it expired), and nil when ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	id, err := loadIdentity(a.cfg)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(a.cfg.Hub)
	if err != nil {
		return fmt.Errorf("hub %q: %w", a.cfg.Hub, err)
	}
	if a.cfg.MetricsListen != "" {
		if _, err := a.serveMetrics(ctx, a.cfg.MetricsListen); err != nil {
			return err
		}
	}
	tc, err := id.tlsConfig(host)
	if err != nil {
		return err
	}
	creds := credentials.NewTLS(tc)
	bo := backoff.New(a.MinBackoff, a.MaxBackoff)
	a.log.Info("agent starting", "agent", id.agentID(), "hub", a.cfg.Hub, "version", a.version,
		"cert_expires", id.current().Leaf.NotAfter)
	for {
		if exp := id.current().Leaf.NotAfter; !time.Now().Before(exp) {
			return fmt.Errorf("%w: its certificate expired at %s before it could be renewed; enrol again with `idsync-agent enroll`",
				ErrRefused, exp.UTC().Format(time.RFC3339))
		}
		established, err := a.dial(ctx, creds, id)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errRenewed) {
			a.log.Info("reconnecting with the renewed certificate")
			bo.Reset()
			continue
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

// errRenewed ends a session so that the agent reconnects with its renewed
// certificate: a new connection, since an open one keeps the certificate
// of its handshake.
var errRenewed = errors.New("client certificate renewed")

// dial opens a new connection to the hub, which presents the current
// certificate, and runs one session on it.
func (a *Agent) dial(ctx context.Context, creds credentials.TransportCredentials, id *identity) (established bool, err error) {
	conn, err := grpc.NewClient(a.cfg.Hub,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	)
	if err != nil {
		return false, fmt.Errorf("hub %s: %w", a.cfg.Hub, err)
	}
	defer conn.Close()
	return a.session(ctx, idsyncv1.NewAgentServiceClient(conn), id)
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
	case strings.Contains(msg, "tls: expired certificate"):
		return "the hub rejected this agent's certificate in the TLS handshake: it expired"
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
	mu sync.Mutex
	s  idsyncv1.AgentService_ConnectClient
}

func (s *stream) send(m *idsyncv1.ConnectRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.s.Send(m)
}

// session runs one stream. established reports whether the hub welcomed
// the agent (the backoff then resets). Once the certificate has been renewed
// it ends with errRenewed as soon as no full import runs here.
func (a *Agent) session(ctx context.Context, client idsyncv1.AgentServiceClient, id *identity) (established bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := client.Connect(ctx)
	if err != nil {
		return false, err
	}
	st := &stream{s: cs}
	names := a.cfg.DirectoryNames()
	if err := st.send(&idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_Hello{Hello: &idsyncv1.Hello{
		AgentId: id.agentID(), Version: a.version, Capabilities: Capabilities, Directories: names}}}); err != nil {
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
	a.log.Info("connected to hub", "agent", w.GetAgentId(), "hub_version", w.GetHubVersion(),
		"directories", served, "ack_window", w.GetAckWindow())
	// A directory the config reads that the hub does not give this agent
	// is read by nobody here: say so at every connect, not only in the
	// list above. (The hub gives no source for a directory of files: the
	// agent only sends those.)
	var unserved []string
	for _, d := range a.cfg.Directories {
		if !slices.Contains(served, d.Name) {
			unserved = append(unserved, d.Name)
		}
	}
	if len(unserved) > 0 {
		a.log.Error("the hub gives this agent none of these directories of its config: it was enrolled for others, "+
			"or they do not exist on the hub (see `idsyncctl agent list` and `idsyncctl directory list`); "+
			"name the directory the enrolment token was for", "not_served", unserved, "served", served)
	}
	a.metrics.setConnected(true)
	defer a.metrics.setConnected(false)

	runs := newRuns()
	defer runs.cancelAll()
	window := int(max(1, w.GetAckWindow()))
	hb := time.Duration(max(1, w.GetHeartbeatSeconds())) * time.Second
	go a.heartbeats(ctx, st, hb)
	replies := make(chan *idsyncv1.CertificateRenewal, 1)
	renewed := make(chan struct{})
	go a.renew(ctx, st, id, replies, renewed)
	for _, f := range a.cfg.Files {
		go a.watch(ctx, st, f)
	}

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
		case *idsyncv1.ConnectResponse_CertificateRenewal:
			select {
			case replies <- msg.CertificateRenewal:
			default: // unasked for
			}
		case *idsyncv1.ConnectResponse_FileImported:
			a.fileImported(msg.FileImported)
		case *idsyncv1.ConnectResponse_Heartbeat, *idsyncv1.ConnectResponse_Welcome:
		}
		select {
		case <-renewed:
			// A full import would fail if the stream ended now; capture
			// resumes from its checkpoint on the next stream.
			if !runs.fullRunning() {
				return true, errRenewed
			}
		default:
		}
	}
}

// renew asks the hub for a new certificate once the current one has only
// RenewWhenLeft of its lifetime left, installs it, and closes renewed. The
// hub answers on the stream; a refusal or no answer is retried after
// RenewRetry.
func (a *Agent) renew(ctx context.Context, st *stream, id *identity, replies <-chan *idsyncv1.CertificateRenewal, renewed chan<- struct{}) {
	wait := time.Until(id.renewAt(a.RenewWhenLeft))
	for {
		if !backoff.Sleep(ctx, wait) {
			return
		}
		wait = a.RenewRetry
		err := a.renewOnce(ctx, st, id, replies)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			a.log.Warn("certificate renewal failed; retrying", "err", err, "retry_in", a.RenewRetry,
				"expires", id.current().Leaf.NotAfter)
			continue
		}
		a.log.Info("client certificate renewed", "serial", id.serial(), "expires", id.current().Leaf.NotAfter)
		close(renewed)
		return
	}
}

func (a *Agent) renewOnce(ctx context.Context, st *stream, id *identity, replies <-chan *idsyncv1.CertificateRenewal) error {
	key, err := pki.NewKey()
	if err != nil {
		return err
	}
	csr, err := pki.CreateCSR(key, id.agentID())
	if err != nil {
		return err
	}
	if err := st.send(&idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_RenewCertificate{
		RenewCertificate: &idsyncv1.RenewCertificate{CsrPem: csr}}}); err != nil {
		return fmt.Errorf("asking for a certificate: %w", err)
	}
	t := time.NewTimer(a.RenewRetry)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New("the hub did not answer the certificate renewal")
	case r := <-replies:
		if r.GetError() != "" {
			return fmt.Errorf("the hub refused the certificate renewal: %s", r.GetError())
		}
		return id.install(key, r.GetCertificatePem())
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
		r, ok := runs.start(ctx, si.GetRunId(), si.GetSource().GetDirectory(), window, si.GetKind() == idsyncv1.ImportKind_IMPORT_KIND_FULL)
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
	case *idsyncv1.Command_Authenticate, *idsyncv1.Command_WriteEntry:
		// Short calls, each on a connection of its own, answered as they
		// end: a slow directory write never holds up a sign-in. At most
		// maxCalls at once, so a burst of sign-ins cannot flood the DC.
		go func() {
			select {
			case a.calls <- struct{}{}:
				defer func() { <-a.calls }()
			case <-ctx.Done():
				return
			}
			res := a.call(ctx, c)
			res.CommandId = c.GetCommandId()
			if err := st.send(&idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_CommandResult{CommandResult: res}}); err != nil {
				a.log.Warn("answering a command", "command", c.GetCommandId(), "err", err)
			}
		}()
	}
}

// runs tracks this stream's imports: their cancel functions and ack windows.
type runs struct {
	mu   sync.Mutex
	byID map[string]*run
}

type run struct {
	ctx       context.Context
	cancel    context.CancelFunc
	directory string
	full      bool // a full import, not change capture
	// slots holds one token per unacknowledged batch; its capacity is the
	// ack window, so a full window blocks the reader: backpressure.
	slots chan struct{}

	mu sync.Mutex
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

func (rs *runs) start(ctx context.Context, id, directory string, window int, full bool) (*run, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if _, ok := rs.byID[id]; ok {
		return nil, false
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &run{ctx: rctx, cancel: cancel, directory: directory, full: full, slots: make(chan struct{}, window),
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

// fullRunning reports whether a full import runs on this stream.
func (rs *runs) fullRunning() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, r := range rs.byID {
		if r.full {
			return true
		}
	}
	return false
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
