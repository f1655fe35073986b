package api

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/idsync/idsync/internal/pki"
	"github.com/idsync/idsync/internal/version"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/agents"
	"github.com/idsync/idsync/server/audit"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/csvimport"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/runs"
	"github.com/idsync/idsync/server/sessions"
	"github.com/idsync/idsync/server/store"
)

// AgentOptions tune the agent side of the hub.
type AgentOptions struct {
	// AckWindow is how many batches an agent may have unacknowledged.
	AckWindow int
	// Heartbeat is how often both sides send a heartbeat. An agent not heard
	// from for three heartbeats is offline.
	Heartbeat time.Duration
	// Poll is how often a session looks for unclaimed runs and for its own
	// revocation (a local notification makes both immediate on this replica).
	Poll time.Duration
	// CertTTL is the lifetime of agent certificates, issued at enrolment
	// and at each renewal (tests shorten it).
	CertTTL time.Duration
	// Version is the hub's version, against which agents' versions are
	// checked (checkAgentVersion); default: this build's.
	Version string
}

// WithDefaults returns o with zero fields set to their defaults.
func (o AgentOptions) WithDefaults() AgentOptions {
	o.defaults()
	return o
}

func (o *AgentOptions) defaults() {
	if o.AckWindow <= 0 {
		o.AckWindow = 8
	}
	if o.Heartbeat <= 0 {
		// Short: a capture holder silent for three heartbeats is replaced,
		// and failover must happen within 15 s.
		o.Heartbeat = 3 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.CertTTL <= 0 {
		o.CertTTL = 365 * 24 * time.Hour
	}
	if o.Version == "" {
		o.Version = version.Version
	}
}

// AgentServer serves AgentService.
type AgentServer struct {
	idsyncv1.UnimplementedAgentServiceServer
	store  AgentStore
	engine *ingest.Engine
	runs   *runs.Coordinator
	agents *agents.Service
	ca     *pki.CA
	log    *slog.Logger
	opts   AgentOptions
	hub    *sessions.Registry
	audit  *audit.Log
	files  *csvimport.Service
}

// AgentStore is what the agent service's streams read and write of the
// store: the agent, its stream and certificate, and what a Welcome holds.
// The runs and their batches are server/runs' and server/ingest's.
type AgentStore interface {
	GetAgent(ctx context.Context, id string) (*store.Agent, error)
	AgentConnected(ctx context.Context, id, sessionID, version string, capabilities []string, now time.Time) error
	AgentDisconnected(ctx context.Context, id, sessionID string, now time.Time) error
	AgentSeen(ctx context.Context, id, sessionID string, now time.Time) error
	AgentLag(ctx context.Context, id string, lag time.Duration) error
	UseAgentCertificate(ctx context.Context, id, serial string) (*store.Agent, error)
	RenewAgentCertificate(ctx context.Context, id, serial string, notAfter time.Time) (*store.Agent, error)
	GetDirectory(ctx context.Context, name string) (*store.Directory, error)
	Checkpoint(ctx context.Context, directoryID int64) ([]byte, error)
	GetRun(ctx context.Context, id int64) (*store.Run, error)
}

var _ AgentStore = store.Store(nil)

// AgentConfig is what the agent service is built from.
type AgentConfig struct {
	Store AgentStore
	// Engine applies the batches of the runs; Runs decides their life.
	Engine *ingest.Engine
	Runs   *runs.Coordinator
	// Agents enrols agents.
	Agents   *agents.Service
	CA       *pki.CA
	Sessions *sessions.Registry
	Log      *slog.Logger
	Audit    *audit.Log
	Options  AgentOptions
	// Files imports the files agents send from watched folders (nil:
	// refused).
	Files *csvimport.Service
}

// NewAgentServer returns the agent service.
func NewAgentServer(cfg AgentConfig) *AgentServer {
	cfg.Options.defaults()
	return &AgentServer{store: cfg.Store, engine: cfg.Engine, runs: cfg.Runs, agents: cfg.Agents, ca: cfg.CA, hub: cfg.Sessions,
		log: cfg.Log.With("component", "agents"), opts: cfg.Options, audit: cfg.Audit, files: cfg.Files}
}

// Enroll trades a single-use token and a CSR for a client certificate.
func (s *AgentServer) Enroll(ctx context.Context, req *idsyncv1.EnrollRequest) (*idsyncv1.EnrollResponse, error) {
	a, certPEM, err := s.agents.Enroll(ctx, agents.Enrolment{Token: req.GetToken(), CSRPEM: req.GetCsrPem(),
		Name: req.GetName(), Version: req.GetVersion(), From: auth.PeerAddr(ctx)})
	if err != nil {
		return nil, statusErr(err, "")
	}
	return &idsyncv1.EnrollResponse{
		AgentId: a.ID, CertificatePem: certPEM, CaPem: s.ca.CertPEM(), Directories: a.Directories,
	}, nil
}

// Connect serves one agent's stream until it ends, the agent is revoked, its
// certificate expires, or the hub stops. An agent of a version the hub no
// longer serves is refused with FailedPrecondition.
func (s *AgentServer) Connect(stream idsyncv1.AgentService_ConnectServer) error {
	ctx := stream.Context()
	agentID, ok := auth.AgentID(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "no agent identity")
	}
	a, err := s.store.GetAgent(ctx, agentID)
	if errors.Is(err, store.ErrNotFound) {
		s.log.Warn("stream refused: unknown agent certificate", "agent", agentID)
		return status.Errorf(codes.Unauthenticated, "agent %s is not enrolled with this hub", agentID)
	}
	if err != nil {
		return statusErr(err, "loading agent %s", agentID)
	}
	if !a.RevokedAt.IsZero() {
		s.log.Warn("stream refused: revoked agent", "agent", agentID)
		return revokedErr(a)
	}
	cert, ok := auth.AgentCert(ctx)
	if !ok {
		return status.Errorf(codes.Unauthenticated, "agent %s: no client certificate", agentID)
	}
	switch serial := pki.Serial(cert); {
	case serial == a.CertSerial:
	case serial == a.PendingCertSerial:
		// The renewed certificate's first use: it is the agent's from now
		// on, and the one before opens no stream again (one open keeps
		// going until its agent reconnects).
		if a, err = s.store.UseAgentCertificate(ctx, agentID, serial); err != nil {
			return statusErr(err, "making the renewed certificate of agent %s current", agentID)
		}
		s.log.Info("agent connected with its renewed certificate: the one before is retired", "agent", agentID, "serial", serial)
	default:
		// A renewal replaced this certificate, and the new one was used.
		s.log.Warn("stream refused: a certificate the agent renewed", "agent", agentID, "serial", serial, "current_serial", a.CertSerial)
		return status.Errorf(codes.Unauthenticated,
			"agent %s: client certificate serial %s was replaced by a renewed one: connect with the current agent.crt, or enrol again", agentID, serial)
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := first.GetHello()
	if hello == nil {
		return status.Error(codes.InvalidArgument, "the first message on the stream must be Hello")
	}
	if err := checkAgentVersion(s.opts.Version, hello.GetVersion()); err != nil {
		s.log.Warn("stream refused: agent version not served", "agent", agentID,
			"agent_version", hello.GetVersion(), "hub_version", s.opts.Version)
		return err
	}
	return newSession(s, a, hello, cert.NotAfter).serve(ctx, stream)
}

func revokedErr(a *store.Agent) error {
	return status.Errorf(codes.PermissionDenied, "agent %s (%s) was revoked: enrol it again with a new token", a.ID, a.Name)
}

// session is one open Connect stream.
type session struct {
	s       *AgentServer
	agent   *store.Agent
	id      string
	version string
	dirs    []string // enrolled and configured on the agent
	log     *slog.Logger
	out     chan *idsyncv1.ConnectResponse
	applyCh chan *preparedBatch
	wake    chan struct{} // one slot: look for work now

	// stopped is closed when the hub ends the stream (its agent was
	// revoked, or a newer stream of the agent replaced it) with stopErr.
	stopped  chan struct{}
	stopOnce sync.Once
	stopErr  error

	// caps are the capabilities the agent announced: it is sent only the
	// work they cover.
	caps capabilities
	// certExpiry is when the stream's client certificate expires: the
	// stream ends then, and the agent reconnects with its renewed one.
	certExpiry time.Time

	// done is closed when the stream ends: calls waiting on it give up.
	done chan struct{}

	// offences counts what the agent sent about runs or commands the hub
	// did not send this session (receive loop only): the second ends the
	// stream.
	offences int

	// commandKey signs the ids of the commands this session sends (see
	// newCommandID).
	commandKey []byte

	mu    sync.Mutex
	calls map[string]chan *idsyncv1.CommandResult // by command id
	// sentRuns are the runs of the imports this session sent: the agent
	// sends changes and results only for those.
	sentRuns map[int64]bool
	appliers map[int64]*ingest.RunApplier
	lagAt    time.Time // last lag recorded (apply loop only)

	// upload is the file the agent is sending from a watched folder
	// (receive loop only; one at a time).
	upload *fileUpload
	// seenAt is when the agent was last recorded seen (Unix nanoseconds),
	// by the receive loop or the apply loop.
	seenAt atomic.Int64
}

func newSession(s *AgentServer, a *store.Agent, hello *idsyncv1.Hello, certExpiry time.Time) *session {
	local := map[string]bool{}
	for _, d := range hello.GetDirectories() {
		local[d] = true
	}
	var dirs []string
	for _, d := range a.Directories {
		if local[d] {
			dirs = append(dirs, d)
		}
	}
	id := uuid.NewString()
	return &session{
		s: s, agent: a, id: id, version: hello.GetVersion(), dirs: dirs,
		caps: newCapabilities(hello.GetCapabilities()), certExpiry: certExpiry,
		log:      s.log.With("agent", a.ID, "session", id),
		out:      make(chan *idsyncv1.ConnectResponse, 16),
		applyCh:  make(chan *preparedBatch, maxGroup), // a group commit's batches
		wake:     make(chan struct{}, 1),
		stopped:  make(chan struct{}),
		done:     make(chan struct{}),
		calls:    map[string]chan *idsyncv1.CommandResult{},
		appliers: map[int64]*ingest.RunApplier{},
		sentRuns: map[int64]bool{},

		commandKey: randomKey(),
	}
}

func (ss *session) serve(ctx context.Context, stream idsyncv1.AgentService_ConnectServer) error {
	st := ss.s.store
	caps := slices.Sorted(maps.Keys(ss.caps))
	// An agent holds one stream: this one replaces any other, here at once
	// and on other replicas through the store (see replaced).
	err := ss.s.hub.Open(ss, func() error {
		return st.AgentConnected(ctx, ss.agent.ID, ss.id, ss.version, caps, time.Now())
	})
	if err != nil {
		return statusErr(err, "recording connection")
	}
	ss.log.Info("agent connected", "version", ss.version, "capabilities", caps,
		"directories", ss.dirs, "cert_expires", ss.certExpiry)
	target := "agent:" + ss.agent.ID
	detail := fmt.Sprintf("session %s, version %s, from %s", ss.id, ss.version, cmp.Or(auth.PeerAddr(ctx), "unknown"))
	if prev := ss.agent.SessionID; prev != "" {
		detail += ", replacing session " + prev
	}
	ss.s.audit.Event(ctx, "agent.connect", target, "%s", detail)
	for _, d := range ss.agent.Directories {
		if !contains(ss.dirs, d) {
			ss.log.Warn("agent is enrolled for a directory it has not configured", "directory", d)
		}
	}
	defer func() {
		ss.s.hub.Remove(ss)
		close(ss.done)
		// The stream is gone: its runs cannot finish.
		bg := context.WithoutCancel(ctx)
		ss.s.runs.Ended(bg, ss, ss.agent.Name)
		if err := st.AgentDisconnected(bg, ss.agent.ID, ss.id, time.Now()); err != nil {
			ss.log.Error("recording disconnect", "err", err)
		}
		ss.log.Info("agent disconnected")
		detail := "session " + ss.id
		if err := ss.stopCause(); err != nil {
			detail += ": " + status.Convert(err).Message()
		}
		ss.s.audit.Event(bg, "agent.disconnect", target, "%s", detail)
	}()

	welcome, err := ss.welcome(ctx)
	if err != nil {
		return err
	}
	if err := stream.Send(welcome); err != nil {
		return err
	}
	// The first loop to end ends the stream: returning from the handler is
	// what unblocks a Recv, so the handler must not wait for the receiver.
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	for _, loop := range []func(context.Context) error{
		func(c context.Context) error { return ss.sendLoop(c, stream) },
		func(c context.Context) error { return ss.recvLoop(c, stream) },
		ss.applyLoop,
		ss.workLoop,
	} {
		go func() {
			err := loop(sctx)
			if err == nil {
				err = errStreamDone
			}
			cancel(err)
		}()
	}
	<-sctx.Done()
	err = context.Cause(sctx)
	if errors.Is(err, errStreamDone) || errors.Is(err, io.EOF) || ctx.Err() != nil {
		return nil
	}
	return err
}

var errStreamDone = errors.New("stream done")

func (ss *session) welcome(ctx context.Context) (*idsyncv1.ConnectResponse, error) {
	w := &idsyncv1.Welcome{
		AgentId: ss.agent.ID, AckWindow: uint32(ss.s.opts.AckWindow),
		HeartbeatSeconds: uint32(max(1, ss.s.opts.Heartbeat/time.Second)),
		HubVersion:       ss.s.opts.Version,
	}
	for _, name := range ss.dirs {
		d, err := ss.s.store.GetDirectory(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			ss.log.Warn("agent is enrolled for a directory that no longer exists", "directory", name)
			continue
		}
		if err != nil {
			return nil, statusErr(err, "loading directory %s", name)
		}
		if !ingest.ReadByAgents(d.Kind) {
			continue // the agent sends files of it, and reads nothing
		}
		cp, err := ss.s.store.Checkpoint(ctx, d.ID)
		if err != nil {
			return nil, statusErr(err, "loading checkpoint of %s", name)
		}
		w.Sources = append(w.Sources, ingest.Source(d, cp))
	}
	return &idsyncv1.ConnectResponse{Msg: &idsyncv1.ConnectResponse_Welcome{Welcome: w}}, nil
}

func (ss *session) send(ctx context.Context, m *idsyncv1.ConnectResponse) error {
	select {
	case ss.out <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (ss *session) sendLoop(ctx context.Context, stream idsyncv1.AgentService_ConnectServer) error {
	hb := time.NewTicker(ss.s.opts.Heartbeat)
	defer hb.Stop()
	var expired <-chan time.Time
	if !ss.certExpiry.IsZero() {
		t := time.NewTimer(time.Until(ss.certExpiry))
		defer t.Stop()
		expired = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ss.stopped:
			return ss.stopErr
		case <-expired:
			// Unavailable, not Unauthenticated: an agent that renewed its
			// certificate reconnects with the new one; one that did not is
			// refused in the TLS handshake and must enrol again.
			ss.log.Warn("stream ends: the agent's client certificate expired", "expired", ss.certExpiry)
			return status.Errorf(codes.Unavailable, "the client certificate of this stream expired at %s: reconnect with the renewed certificate",
				ss.certExpiry.UTC().Format(time.RFC3339))
		case m := <-ss.out:
			if err := stream.Send(m); err != nil {
				return err
			}
		case <-hb.C:
			m := &idsyncv1.ConnectResponse{Msg: &idsyncv1.ConnectResponse_Heartbeat{
				Heartbeat: &idsyncv1.Heartbeat{SentAt: timestamppb.Now()}}}
			if err := stream.Send(m); err != nil {
				return err
			}
		}
	}
}

// seen records the agent seen now, at most once a second: a busy stream
// would otherwise write once per batch. Both loops call it — the receive
// loop for each message, the apply loop before each commit — so that the
// agent stays seen while its batches commit: on SQLite the receive loop's
// write waits for the one writer, which a commit holds. A replaced session
// gets its stop error.
func (ss *session) seen(ctx context.Context) error {
	now := time.Now()
	last := ss.seenAt.Load()
	if now.Sub(time.Unix(0, last)) < time.Second || !ss.seenAt.CompareAndSwap(last, now.UnixNano()) {
		return nil
	}
	err := ss.s.store.AgentSeen(ctx, ss.agent.ID, ss.id, now)
	switch {
	case errors.Is(err, store.ErrConflict):
		ss.replaced("")
		return ss.stopErr
	case err != nil:
		ss.log.Warn("recording heartbeat", "err", err)
	}
	return nil
}

func (ss *session) recvLoop(ctx context.Context, stream idsyncv1.AgentService_ConnectServer) error {
	defer func() {
		if ss.upload != nil { // a file the stream ended in the middle of
			ss.upload.spool.Discard()
			ss.upload = nil
		}
	}()
	for {
		m, err := stream.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := ss.seen(ctx); err != nil {
			return err
		}
		switch msg := m.Msg.(type) {
		case *idsyncv1.ConnectRequest_ChangeBatch:
			if err := ss.onBatch(ctx, msg.ChangeBatch); err != nil {
				return err
			}
		case *idsyncv1.ConnectRequest_CommandResult:
			if err := ss.onResult(ctx, msg.CommandResult); err != nil {
				return err
			}
		case *idsyncv1.ConnectRequest_RenewCertificate:
			if err := ss.renewCertificate(ctx, msg.RenewCertificate); err != nil {
				return err
			}
		case *idsyncv1.ConnectRequest_FileChunk:
			if err := ss.onFileChunk(ctx, msg.FileChunk); err != nil {
				return err
			}
		case *idsyncv1.ConnectRequest_Heartbeat, *idsyncv1.ConnectRequest_Progress:
		case *idsyncv1.ConnectRequest_Hello:
			return status.Error(codes.InvalidArgument, "Hello sent twice on one stream")
		}
	}
}

// onBatch maps a batch and queues it for the apply loop, so that mapping the
// next batch overlaps committing this one. A batch for a run this session
// does not hold is refused: an agent may send changes only for the runs, and
// so the directories, it was given.
func (ss *session) onBatch(ctx context.Context, b *idsyncv1.ChangeBatch) error {
	runID, err := ingest.ParseRunID(b.GetRunId())
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "change batch: %v", err)
	}
	if !ss.sentRun(runID) {
		return ss.offend(ctx, fmt.Sprintf("run:%d", runID), "a change batch for "+ss.notSent(ctx, b.GetRunId()))
	}
	ap, err := ss.applier(ctx, runID)
	if err != nil {
		// A run of this session that the hub ended meanwhile: the agent
		// has not heard yet.
		ss.log.Warn("refusing batch", "run", runID, "err", err)
		return ss.cancelRun(ctx, runID, err.Error())
	}
	pb := &preparedBatch{ap: ap, runID: runID, wire: b, batch: ap.Prepare(b)}
	if ap.Run().Kind == store.RunFull && pb.batch.Checkpoint != nil {
		// A full run's checkpoint counts only once the run completes.
		pb.checkpoint, pb.batch.Checkpoint = pb.batch.Checkpoint, nil
	}
	select {
	case ss.applyCh <- pb:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// preparedBatch is a mapped batch waiting for its commit.
type preparedBatch struct {
	ap    *ingest.RunApplier
	runID int64
	wire  *idsyncv1.ChangeBatch
	batch *store.Batch
	// checkpoint is a full run's capture checkpoint, held back until the
	// run completes.
	checkpoint []byte
}

// maxGroup bounds the batches of one run that one transaction commits
// together: those queued while the one before committed (the agent's ack
// window holds at most 8); maxGroupObjects bounds their objects, and so
// how long the commit holds the store's writer (SQLite has one), which
// the agent's heartbeat needs too: about a quarter of a second for 4,000
// new objects. A commit writes every index page its objects dirtied, and
// scattered names dirty nearly as many pages for 2,000 objects as for
// 4,000: twice as many objects per commit cut a first import's store CPU
// by a quarter (BenchmarkApplyBatch), and the agent, with 1,000 objects
// a batch, still has half its window in flight during the commit.
const (
	maxGroup        = 8
	maxGroupObjects = 4000
)

// objects is what a batch writes or deletes.
func (pb *preparedBatch) objects() int {
	return len(pb.batch.Upserts) + len(pb.batch.Deletes) + len(pb.batch.Departed)
}

// applyLoop commits batches in arrival order and acknowledges each after
// its commit; the last batch of a run ends the run. Batches of one run that
// queued up while the previous commit ran commit together, in one
// transaction: a busy import or a backlog pays one commit for several
// batches, and a quiet stream still commits each batch as it comes.
func (ss *session) applyLoop(ctx context.Context) error {
	var next *preparedBatch
	for {
		pb := next
		next = nil
		if pb == nil {
			select {
			case <-ctx.Done():
				return nil
			case pb = <-ss.applyCh:
			}
		}
		group, objects := []*preparedBatch{pb}, pb.objects()
	gather:
		for len(group) < maxGroup && objects < maxGroupObjects && !group[len(group)-1].wire.GetLast() {
			select {
			case q := <-ss.applyCh:
				if q.ap != pb.ap || objects+q.objects() > maxGroupObjects {
					next = q
					break gather
				}
				group, objects = append(group, q), objects+q.objects()
			default:
				break gather
			}
		}
		if err := ss.seen(ctx); err != nil {
			return err
		}
		if err := ss.commitGroup(ctx, group); err != nil {
			return err
		}
	}
}

// commitGroup commits the batches of one run in one transaction, then
// does for each what commit does after its own; when that transaction
// fails, it commits them one by one, which handles the failure.
func (ss *session) commitGroup(ctx context.Context, group []*preparedBatch) error {
	if len(group) == 1 {
		return ss.commit(ctx, group[0])
	}
	sbs := make([]*store.Batch, len(group))
	for i, pb := range group {
		sbs[i] = pb.batch
	}
	res, err := group[0].ap.CommitMany(ctx, sbs)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		for _, pb := range group {
			if err := ss.commit(ctx, pb); err != nil {
				return err
			}
		}
		return nil
	}
	for i, pb := range group {
		if err := ss.committed(ctx, pb, res[i]); err != nil {
			return err
		}
	}
	return nil
}

func (ss *session) commit(ctx context.Context, pb *preparedBatch) error {
	runID, b := pb.runID, pb.wire
	res, err := pb.ap.Commit(ctx, pb.batch)
	if errors.Is(err, ingest.ErrRunEnded) {
		ss.dropApplier(runID)
		return ss.cancelRun(ctx, runID, err.Error())
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		ss.log.Error("applying batch failed", "run", runID, "sequence", b.GetSequence(), "err", err)
		ss.dropApplier(runID)
		ss.s.runs.BatchFailed(ctx, runID, err)
		return ss.cancelRun(ctx, runID, "the hub could not store a batch")
	}
	return ss.committed(ctx, pb, res)
}

// committed does what follows a batch's commit: the run coordinator hears
// of it, the agent gets its ack, and the last batch of a run ends the run.
func (ss *session) committed(ctx context.Context, pb *preparedBatch, res store.BatchResult) error {
	runID, b := pb.runID, pb.wire
	if res.Duplicate {
		ss.log.Debug("duplicate batch acknowledged again", "run", runID, "sequence", b.GetSequence())
	} else if err := ss.afterCommit(ctx, pb); err != nil {
		ss.log.Error("after batch", "run", runID, "err", err)
	}
	if err := ss.send(ctx, &idsyncv1.ConnectResponse{Msg: &idsyncv1.ConnectResponse_Ack{
		Ack: &idsyncv1.Ack{RunId: b.GetRunId(), Sequence: b.GetSequence()}}}); err != nil {
		return err
	}
	if b.GetLast() {
		ss.dropApplier(runID)
		run, err := ss.s.runs.ReadComplete(ctx, runID, pb.checkpoint)
		if err != nil {
			ss.log.Error("finishing run", "run", runID, "err", err)
			return nil
		}
		ss.log.Info("run read completed", "run", runID, "state", run.State)
	}
	return nil
}

// afterCommit does what a committed batch asks beyond the data: the
// session records its agent's capture lag (at most once a second), and the
// run coordinator the rest (see runs.Coordinator.Committed).
func (ss *session) afterCommit(ctx context.Context, pb *preparedBatch) error {
	b, r := pb.wire, pb.ap.Run()
	if ra := b.GetReadAt(); ra != nil && r.Kind == store.RunIncremental && time.Since(ss.lagAt) >= time.Second {
		ss.lagAt = time.Now()
		if err := ss.s.store.AgentLag(ctx, ss.agent.ID, time.Since(ra.AsTime())); err != nil {
			ss.log.Warn("recording lag", "err", err)
		}
	}
	return ss.s.runs.Committed(ctx, ss, r, b)
}

func (ss *session) applier(ctx context.Context, runID int64) (*ingest.RunApplier, error) {
	ss.mu.Lock()
	ap := ss.appliers[runID]
	ss.mu.Unlock()
	if ap != nil {
		return ap, nil
	}
	ap, err := ss.s.engine.Applier(ctx, runID)
	if err != nil {
		return nil, err
	}
	if r := ap.Run(); r.SessionID != ss.id || r.State != store.RunRunning {
		return nil, fmt.Errorf("run %d is %s and not held by this agent session", runID, r.State)
	}
	ss.mu.Lock()
	ss.appliers[runID] = ap
	ss.mu.Unlock()
	return ap, nil
}

func (ss *session) dropApplier(runID int64) {
	ss.mu.Lock()
	delete(ss.appliers, runID)
	ss.mu.Unlock()
}

func (ss *session) cancelRun(ctx context.Context, runID int64, why string) error {
	return ss.command(ctx, &idsyncv1.Command{
		Cmd: &idsyncv1.Command_CancelImport{CancelImport: &idsyncv1.CancelImport{RunId: strconv.FormatInt(runID, 10), Reason: why}},
	})
}

// onResult records the end of a command on the agent. A failed import fails
// its run (no sweep). A result naming a run, or a command, that this
// session did not send is an offence (see offend).
func (ss *session) onResult(ctx context.Context, r *idsyncv1.CommandResult) error {
	ss.mu.Lock()
	ch, waited := ss.calls[r.GetCommandId()]
	delete(ss.calls, r.GetCommandId())
	ss.mu.Unlock()
	if waited {
		ch <- r // buffered, and sent once: the caller may have gone
		return nil
	}
	if r.GetRunId() == "" {
		if ss.sentCommand(r.GetCommandId()) {
			return nil // an answer its caller no longer waits for
		}
		id := clip(r.GetCommandId())
		return ss.offend(ctx, "command:"+id, fmt.Sprintf("a result for command %q, which the hub did not send to this session", id))
	}
	runID, err := ingest.ParseRunID(r.GetRunId())
	if err != nil || !ss.sentRun(runID) {
		what := "a result"
		if r.GetReconcile() {
			what = "a reconciliation request"
		} else if r.GetError() != "" {
			what = "a failure"
		}
		return ss.offend(ctx, "run:"+clip(r.GetRunId()), what+" for "+ss.notSent(ctx, r.GetRunId()))
	}
	if r.GetError() == "" {
		return nil
	}
	ss.dropApplier(runID)
	if r.GetReconcile() {
		ss.s.runs.Reconcile(ctx, runID, r.GetError())
	} else {
		ss.s.runs.Failed(ctx, ss, runID, r.GetError())
	}
	return nil
}

// offend refuses what the agent sent about a run or command the hub did not
// send this session (another directory's run, an old run, a guessed id):
// the hub ignores it, audits it as request.refused naming the agent, the
// run or command and why, and ends the stream with PermissionDenied on the
// second offence. Races of the session's own commands (a result just after
// the hub cancelled the run, a late answer to a call whose caller gave up)
// are no offence: they name what the session sent.
func (ss *session) offend(ctx context.Context, target, why string) error {
	ss.offences++
	ss.log.Warn("refused: the agent named a run or command the hub did not send it", "target", target, "why", why, "offence", ss.offences)
	ss.s.audit.Record(ctx, store.AuditEvent{Action: "request.refused", Target: target, Outcome: store.AuditRefused,
		Detail: fmt.Sprintf("agent %s, session %s: %s (offence %d on this stream)", ss.agent.ID, ss.id, why, ss.offences)})
	if ss.offences < maxOffences {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "agent %s: %s; the stream ends after %d such refusals", ss.agent.ID, why, maxOffences)
}

// maxOffences is how many offences end a stream.
const maxOffences = 2

// notSent describes a run the session did not send, for a refusal.
func (ss *session) notSent(ctx context.Context, wireID string) string {
	runID, err := ingest.ParseRunID(wireID)
	if err != nil {
		return fmt.Sprintf("run %q, which is not a run id", clip(wireID))
	}
	r, err := ss.s.store.GetRun(ctx, runID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Sprintf("run %d, which does not exist", runID)
	case err != nil:
		return fmt.Sprintf("run %d, which the hub did not send to this session", runID)
	case !slices.Contains(ss.agent.Directories, r.Directory):
		return fmt.Sprintf("run %d of directory %s, which the agent is not enrolled for", runID, r.Directory)
	case r.SessionID == "":
		return fmt.Sprintf("run %d of directory %s (%s), which the hub sent to no agent", runID, r.Directory, r.State)
	default:
		return fmt.Sprintf("run %d of directory %s (%s), which the hub sent to another session (%s)", runID, r.Directory, r.State, r.SessionID)
	}
}

// clip bounds an id the agent sent, and masks what is not printable in it,
// before it is logged or stored.
func clip(s string) string {
	const limit = 64
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "…"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s)
}

// workLoop claims unclaimed runs of this session's directories and watches
// for revocation and for a newer stream of the agent.
func (ss *session) workLoop(ctx context.Context) error {
	t := time.NewTicker(ss.s.opts.Poll)
	defer t.Stop()
	for {
		// Another replica may have revoked the agent, or opened a newer
		// stream of it: the store says so, within a poll and before this
		// stream takes work.
		a, err := ss.s.store.GetAgent(ctx, ss.agent.ID)
		switch {
		case err != nil:
		case !a.RevokedAt.IsZero():
			ss.log.Warn("agent revoked: closing its stream")
			ss.revoke()
			return ss.stopErr
		case a.SessionID != ss.id:
			ss.replaced(a.SessionID)
			return ss.stopErr
		}
		if err := ss.s.runs.Claim(ctx, ss); err != nil && ctx.Err() == nil {
			ss.log.Warn("looking for work", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ss.stopped:
			return ss.stopErr
		case <-ss.wake:
		case <-t.C:
		}
	}
}

// command sends cmd (a new id set) to the agent; an import's run is
// recorded first as sent by this session, so that the agent's batches and
// result are known as the session's own however soon they come.
func (ss *session) command(ctx context.Context, cmd *idsyncv1.Command) error {
	if err := ss.mayCommand(ctx); err != nil {
		return err
	}
	cmd.CommandId = ss.newCommandID()
	if runID, err := ingest.ParseRunID(cmd.GetStartImport().GetRunId()); err == nil {
		ss.mu.Lock()
		ss.sentRuns[runID] = true
		ss.mu.Unlock()
	}
	return ss.send(ctx, &idsyncv1.ConnectResponse{Msg: &idsyncv1.ConnectResponse_Command{Command: cmd}})
}

// mayCommand asks the store, before a command is sent, whether the agent
// is still this stream's: a revoked agent receives no command (another
// replica may have revoked it since this session last looked), nor does a
// stream a newer one replaced; the stream ends instead.
func (ss *session) mayCommand(ctx context.Context) error {
	a, err := ss.s.store.GetAgent(ctx, ss.agent.ID)
	switch {
	case err != nil:
		return fmt.Errorf("checking agent %s before a command: %w", ss.agent.ID, err)
	case !a.RevokedAt.IsZero():
		ss.log.Warn("agent revoked: closing its stream instead of sending a command")
		ss.revoke()
		return ss.stopErr
	case a.SessionID != ss.id:
		ss.replaced(a.SessionID)
		return ss.stopErr
	}
	return nil
}

// newCommandID returns a command id that only this session could have
// made: a random part and its HMAC under the session's key. An answer to
// any command the session sent — a call whose caller has given up long
// ago included — is then told from a forged one without keeping every id
// sent.
func (ss *session) newCommandID() string {
	nonce := uuid.NewString()
	return nonce + "." + ss.commandMAC(nonce)
}

// sentCommand reports whether id is one newCommandID made.
func (ss *session) sentCommand(id string) bool {
	nonce, mac, ok := strings.Cut(id, ".")
	return ok && hmac.Equal([]byte(mac), []byte(ss.commandMAC(nonce)))
}

func (ss *session) commandMAC(nonce string) string {
	m := hmac.New(sha256.New, ss.commandKey)
	m.Write([]byte(nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

func randomKey() []byte {
	k := make([]byte, 32)
	rand.Read(k) // never fails (crypto/rand)
	return k
}

// sentRun reports whether this session sent the agent run runID.
func (ss *session) sentRun(runID int64) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.sentRuns[runID]
}

// renewCertificate issues a new client certificate for the key of the
// agent's CSR, with the hub's certificate lifetime, unless the agent has been
// revoked (in the store: possibly by another replica): the stream then ends
// with PermissionDenied. A bad CSR is answered with an error and keeps the
// stream. From then on only the new certificate opens streams (Connect
// checks its serial); this stream, opened with the old one, goes on until
// the agent reconnects.
func (ss *session) renewCertificate(ctx context.Context, req *idsyncv1.RenewCertificate) error {
	certPEM, serial, notAfter, err := ss.s.ca.SignClientCSR(req.GetCsrPem(), ss.agent.ID, ss.s.opts.CertTTL)
	if err != nil {
		ss.log.Warn("certificate renewal refused", "err", err)
		return ss.send(ctx, renewal(&idsyncv1.CertificateRenewal{Error: err.Error()}))
	}
	_, err = ss.s.store.RenewAgentCertificate(ctx, ss.agent.ID, serial, notAfter)
	if errors.Is(err, store.ErrConflict) {
		ss.log.Warn("certificate renewal refused: the agent is revoked")
		ss.revoke()
		return revokedErr(ss.agent)
	}
	if err != nil {
		return statusErr(err, "recording the renewed certificate of agent %s", ss.agent.ID)
	}
	ss.log.Info("agent certificate renewed", "serial", serial, "expires", notAfter)
	return ss.send(ctx, renewal(&idsyncv1.CertificateRenewal{CertificatePem: certPEM, NotAfter: timestamppb.New(notAfter)}))
}

func renewal(r *idsyncv1.CertificateRenewal) *idsyncv1.ConnectResponse {
	return &idsyncv1.ConnectResponse{Msg: &idsyncv1.ConnectResponse_CertificateRenewal{CertificateRenewal: r}}
}

// call sends cmd to the agent and waits for its result, within ctx. It
// fails when the stream ends first (sessions.ErrAgentGone). The answer of a caller
// that gave up is still the session's own (its id says so), not an offence.
func (ss *session) call(ctx context.Context, cmd *idsyncv1.Command) (*idsyncv1.CommandResult, error) {
	if err := ss.mayCommand(ctx); err != nil {
		return nil, fmt.Errorf("agent %s: %w: %w", ss.agent.Name, sessions.ErrAgentGone, err)
	}
	cmd.CommandId = ss.newCommandID()
	ch := make(chan *idsyncv1.CommandResult, 1)
	ss.mu.Lock()
	ss.calls[cmd.CommandId] = ch
	ss.mu.Unlock()
	defer func() {
		ss.mu.Lock()
		delete(ss.calls, cmd.CommandId)
		ss.mu.Unlock()
	}()
	m := &idsyncv1.ConnectResponse{Msg: &idsyncv1.ConnectResponse_Command{Command: cmd}}
	select {
	case ss.out <- m:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-ss.done:
		return nil, fmt.Errorf("agent %s: %w", ss.agent.Name, sessions.ErrAgentGone)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-ss.done:
		return nil, fmt.Errorf("agent %s: %w", ss.agent.Name, sessions.ErrAgentGone)
	}
}

// ID, AgentID, Directories, Can, Call, Poke, Revoke, Replaced and
// CancelRun make a session a sessions.Stream; with StartImport and
// CancelImport, a runs.Session.
func (ss *session) ID() string                 { return ss.id }
func (ss *session) AgentID() string            { return ss.agent.ID }
func (ss *session) Directories() []string      { return ss.dirs }
func (ss *session) Can(capability string) bool { return ss.caps[capability] }
func (ss *session) Call(ctx context.Context, cmd *idsyncv1.Command) (*idsyncv1.CommandResult, error) {
	return ss.call(ctx, cmd)
}
func (ss *session) Poke()              { ss.poke() }
func (ss *session) Revoke()            { ss.revoke() }
func (ss *session) Replaced(by string) { ss.replaced(by) }
func (ss *session) CancelRun(ctx context.Context, runID int64, why string) {
	_ = ss.CancelImport(ctx, runID, why)
}

// StartImport sends the agent a run (recorded first as sent by this
// session: see command).
func (ss *session) StartImport(ctx context.Context, si *idsyncv1.StartImport) error {
	return ss.command(ctx, &idsyncv1.Command{Cmd: &idsyncv1.Command_StartImport{StartImport: si}})
}

// CancelImport stops a run on the agent and forgets its applier: the
// batches still in flight are refused.
func (ss *session) CancelImport(ctx context.Context, runID int64, why string) error {
	ss.dropApplier(runID)
	return ss.cancelRun(ctx, runID, why)
}

var (
	_ sessions.Stream = (*session)(nil)
	_ runs.Session    = (*session)(nil)
)

func (ss *session) poke() {
	select {
	case ss.wake <- struct{}{}:
	default:
	}
}

// revoke ends the stream: its agent was revoked.
func (ss *session) revoke() { ss.stop(revokedErr(ss.agent)) }

// replaced ends the stream: a newer stream of its agent (session by, when
// known) replaced it. The agent that opened the newer one has given this
// one up (a reconnect after a network cut must not wait for the old stream
// to time out); one that still reads it shares the identity with another
// process, and is told so.
func (ss *session) replaced(by string) {
	newer := "a newer stream"
	if by != "" {
		newer += " (session " + by + ")"
	}
	ss.log.Warn("stream replaced by a newer stream of the agent", "by", by)
	ss.stop(status.Errorf(codes.Aborted, "agent %s: %s replaced this stream: an agent holds one stream at a time "+
		"(is a second process using this agent's certificate?)", ss.agent.ID, newer))
}

// stop ends the stream with err, once.
func (ss *session) stop(err error) {
	ss.stopOnce.Do(func() {
		ss.stopErr = err
		close(ss.stopped)
	})
}

// stopCause is why the hub ended the stream, or nil.
func (ss *session) stopCause() error {
	select {
	case <-ss.stopped:
		return ss.stopErr
	default:
		return nil
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
