package agents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/idsync/idsync/internal/pki"
	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/store"
)

// Store is what the service reads and writes of the hub's store.
type Store interface {
	CreateEnrollToken(ctx context.Context, t *store.EnrollToken) error
	ConsumeEnrollToken(ctx context.Context, hash []byte, agentID string, now time.Time) (*store.EnrollToken, error)
	CreateAgent(ctx context.Context, a *store.Agent) error
	RevokeAgent(ctx context.Context, id string, at time.Time) (*store.Agent, error)
	ListRuns(ctx context.Context, f store.RunFilter) ([]*store.Run, error)
}

// Revoker closes the stream of a revoked agent on this replica
// (server/sessions.Registry).
type Revoker interface {
	Revoke(agentID string)
}

// Recorder writes audit events (server/audit.Log).
type Recorder interface {
	Record(ctx context.Context, e store.AuditEvent)
}

// Config is what the service is built from.
type Config struct {
	Store Store
	// CA signs the agents' certificates; its fingerprint goes into every
	// enrolment token, so that an agent checks the hub it enrols with.
	CA       *pki.CA
	Sessions Revoker
	Audit    Recorder
	Log      *slog.Logger
	// Heartbeat is the agents' heartbeat interval: an agent silent for
	// three is offline (default 10 s).
	Heartbeat time.Duration
	// CertTTL is the lifetime of the certificate an agent enrols with
	// (default a year).
	CertTTL time.Duration
}

// Service manages agents.
type Service struct {
	st        Store
	ca        *pki.CA
	sessions  Revoker
	audit     Recorder
	log       *slog.Logger
	heartbeat time.Duration
	certTTL   time.Duration
}

// New returns the service.
func New(c Config) *Service {
	if c.Heartbeat <= 0 {
		c.Heartbeat = 10 * time.Second
	}
	if c.CertTTL <= 0 {
		c.CertTTL = 365 * 24 * time.Hour
	}
	if c.Audit == nil {
		c.Audit = noRecorder{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: c.Store, ca: c.CA, sessions: c.Sessions, audit: c.Audit, log: c.Log, heartbeat: c.Heartbeat,
		certTTL: c.CertTTL}
}

type noRecorder struct{}

func (noRecorder) Record(context.Context, store.AuditEvent) {}

// event records an audit event of ctx's admin.
func (s *Service) event(ctx context.Context, action, target, detail string, args ...any) {
	s.audit.Record(ctx, store.AuditEvent{Action: action, Target: target, Detail: fmt.Sprintf(detail, args...)})
}

// CheckServed refuses what only a directory agents serve has (enrolment,
// import runs) for a SCIM source, which writes to the hub instead.
func CheckServed(d *store.Directory) error {
	if d.Kind == store.KindSCIM {
		return refusal.Unmetf("directory %q is a scim source: it writes to the hub's /scim/v2/ endpoint; no agent serves it", d.Name)
	}
	return nil
}

// DefaultTokenTTL is how long an enrolment token lasts unless told.
const DefaultTokenTTL = 24 * time.Hour

// CreateEnrollToken issues a single-use enrolment token for an agent of
// directory d, valid for ttl (0: DefaultTokenTTL). Only its hash is
// stored: the token is returned this once.
func (s *Service) CreateEnrollToken(ctx context.Context, d *store.Directory, ttl time.Duration, by string) (string, *store.EnrollToken, error) {
	if err := CheckServed(d); err != nil {
		return "", nil, err
	}
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	token, hash := pki.NewEnrollToken(s.ca.Fingerprint())
	now := time.Now()
	t := &store.EnrollToken{Hash: hash, Directory: d.Name, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.st.CreateEnrollToken(ctx, t); err != nil {
		return "", nil, fmt.Errorf("storing enrolment token: %w", err)
	}
	s.log.Info("enrolment token created", "directory", d.Name, "expires", t.ExpiresAt, "by", by)
	s.event(ctx, "agent.enrollment-token.create", "directory:"+d.Name, "expires %s", t.ExpiresAt.UTC().Format(time.RFC3339))
	return token, t, nil
}

// Revoke revokes an agent; its open stream closes at once.
func (s *Service) Revoke(ctx context.Context, id, by string) (*store.Agent, error) {
	a, err := s.st.RevokeAgent(ctx, id, time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, refusal.NotFoundf("agent %q is not enrolled (see `idsyncctl agent list`)", id)
	}
	if err != nil {
		return nil, fmt.Errorf("revoking agent %q: %w", id, err)
	}
	s.sessions.Revoke(a.ID)
	s.log.Warn("agent revoked", "agent", a.ID, "name", a.Name, "by", by)
	s.event(ctx, "agent.revoke", "agent:"+a.ID, "name %s", a.Name)
	return a, nil
}
