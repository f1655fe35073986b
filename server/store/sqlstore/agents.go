package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/idsync/idsync/server/store"
)

// CreateEnrollToken stores an enrolment token by the hash of its secret
// (CreatedAt now when zero; a zero ExpiresAt never expires). A hash taken
// already is store.ErrConflict.
func (s *Store) CreateEnrollToken(ctx context.Context, t *store.EnrollToken) error {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	_, err := s.wr.exec(ctx, `INSERT INTO enroll_tokens (hash, directory, created_at, expires_at, used_at, agent_id)
		VALUES (?, ?, ?, ?, ?, ?)`,
		t.Hash, t.Directory, s.wr.t(t.CreatedAt), s.wr.t(t.ExpiresAt), s.wr.t(t.UsedAt), t.AgentID)
	if err != nil {
		return s.uniqueConflict(err, "creating an enrolment token for directory %q", t.Directory)
	}
	return nil
}

// ConsumeEnrollToken marks the token with this hash used by agentID at now
// and returns it. Unknown: store.ErrNotFound; used: store.ErrTokenUsed;
// now at or past its expiry: store.ErrTokenExpired. The token row is
// locked, so of two concurrent callers exactly one wins.
func (s *Store) ConsumeEnrollToken(ctx context.Context, hash []byte, agentID string, now time.Time) (*store.EnrollToken, error) {
	t := &store.EnrollToken{Hash: hash}
	err := s.inTx(ctx, func(tx runner) error {
		err := tx.row(ctx, `SELECT directory, created_at, expires_at, used_at, agent_id FROM enroll_tokens
			WHERE hash = ?`+s.d.LockRow, hash).
			Scan(&t.Directory, scanTime{&t.CreatedAt}, scanTime{&t.ExpiresAt}, scanTime{&t.UsedAt}, &t.AgentID)
		switch {
		case err != nil:
			return noRows(err, "enrolment token")
		case !t.UsedAt.IsZero():
			return fmt.Errorf("enrolment token for directory %q: %w", t.Directory, store.ErrTokenUsed)
		case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
			return fmt.Errorf("enrolment token for directory %q: %w", t.Directory, store.ErrTokenExpired)
		}
		t.UsedAt, t.AgentID = now.UTC().Truncate(time.Microsecond), agentID
		n, err := tx.execN(ctx, `UPDATE enroll_tokens SET used_at = ?, agent_id = ? WHERE hash = ? AND used_at IS NULL`,
			tx.t(t.UsedAt), agentID, hash)
		switch {
		case err != nil:
			return fmt.Errorf("consuming an enrolment token: %w", err)
		case n == 0:
			return fmt.Errorf("enrolment token for directory %q: %w", t.Directory, store.ErrTokenUsed)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

const agentCols = `id, name, directories, cert_serial, cert_expires_at, version, capabilities, session_id, lag_ms,
	enrolled_at, last_seen, revoked_at, pending_cert_serial, pending_cert_expires_at`

func scanAgent(sc scanner) (*store.Agent, error) {
	a := &store.Agent{}
	err := sc.Scan(&a.ID, &a.Name, scanJSON{&a.Directories, "directories"}, &a.CertSerial,
		scanTime{&a.CertExpiresAt}, &a.Version, scanJSON{&a.Capabilities, "capabilities"}, &a.SessionID, scanMillis{&a.Lag}, scanTime{&a.EnrolledAt},
		scanTime{&a.LastSeen}, scanTime{&a.RevokedAt}, &a.PendingCertSerial, scanTime{&a.PendingCertExpiresAt})
	return a, err
}

// CreateAgent inserts an enrolled agent (EnrolledAt now when zero). A taken
// id is store.ErrConflict.
func (s *Store) CreateAgent(ctx context.Context, a *store.Agent) error {
	if a.EnrolledAt.IsZero() {
		a.EnrolledAt = now()
	}
	dirs, err := jsonArg(a.Directories, len(a.Directories) == 0)
	if err != nil {
		return fmt.Errorf("encoding the directories of agent %s: %w", a.ID, err)
	}
	caps, err := jsonArg(a.Capabilities, len(a.Capabilities) == 0)
	if err != nil {
		return fmt.Errorf("encoding the capabilities of agent %s: %w", a.ID, err)
	}
	_, err = s.wr.exec(ctx, `INSERT INTO agents (`+agentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Name, dirs, a.CertSerial, s.wr.t(a.CertExpiresAt), a.Version, caps, a.SessionID, a.Lag.Milliseconds(),
		s.wr.t(a.EnrolledAt), s.wr.t(a.LastSeen), s.wr.t(a.RevokedAt), a.PendingCertSerial, s.wr.t(a.PendingCertExpiresAt))
	if err != nil {
		return s.uniqueConflict(err, "creating agent %s", a.ID)
	}
	return nil
}

// GetAgent returns an agent, or store.ErrNotFound.
func (s *Store) GetAgent(ctx context.Context, id string) (*store.Agent, error) {
	return getAgent(ctx, s.rd, id)
}

func getAgent(ctx context.Context, q runner, id string) (*store.Agent, error) {
	a, err := scanAgent(q.row(ctx, `SELECT `+agentCols+` FROM agents WHERE id = ?`, id))
	if err != nil {
		return nil, noRows(err, "agent %s", id)
	}
	return a, nil
}

// ListAgents returns agents ordered by name then id.
func (s *Store) ListAgents(ctx context.Context) ([]*store.Agent, error) {
	rows, err := s.rd.query(ctx, `SELECT `+agentCols+` FROM agents ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("listing agents: %w", err)
	}
	return collect(rows, scanAgent, "listing agents")
}

// AgentConnected records a new stream of an agent: its session id (which
// replaces any other), version, capabilities and last-seen time. Unknown
// agent: store.ErrNotFound.
func (s *Store) AgentConnected(ctx context.Context, id, sessionID, version string, capabilities []string, now time.Time) error {
	caps, err := jsonArg(capabilities, len(capabilities) == 0)
	if err != nil {
		return fmt.Errorf("encoding the capabilities of agent %s: %w", id, err)
	}
	n, err := s.wr.execN(ctx, `UPDATE agents SET session_id = ?, version = ?, capabilities = ?, last_seen = ? WHERE id = ?`,
		sessionID, version, caps, s.wr.t(now), id)
	if err != nil {
		return fmt.Errorf("recording the connection of agent %s: %w", id, err)
	}
	if n == 0 {
		return notFound("agent %s", id)
	}
	return nil
}

// AgentSeen updates an agent's last-seen time while sessionID is its
// current session. A session that another one replaced is
// store.ErrConflict, so that its stream can end; an unknown agent is
// store.ErrNotFound.
func (s *Store) AgentSeen(ctx context.Context, id, sessionID string, now time.Time) error {
	n, err := s.wr.execN(ctx, `UPDATE agents SET last_seen = ? WHERE id = ? AND session_id = ?`,
		s.wr.t(now), id, sessionID)
	if err != nil {
		return fmt.Errorf("recording agent %s seen: %w", id, err)
	}
	if n == 0 {
		return s.agentMissing(ctx, id, conflict("agent %s: session %s is not the current one", id, sessionID))
	}
	return nil
}

// AgentLag records an agent's newest capture lag, kept to the millisecond.
// Unknown agent: store.ErrNotFound.
func (s *Store) AgentLag(ctx context.Context, id string, lag time.Duration) error {
	n, err := s.wr.execN(ctx, `UPDATE agents SET lag_ms = ? WHERE id = ?`, lag.Milliseconds(), id)
	if err != nil {
		return fmt.Errorf("recording the lag of agent %s: %w", id, err)
	}
	if n == 0 {
		return notFound("agent %s", id)
	}
	return nil
}

// AgentDisconnected clears the session id and sets the last-seen time when
// sessionID is still the current session; otherwise it does nothing.
// Unknown agent: store.ErrNotFound.
func (s *Store) AgentDisconnected(ctx context.Context, id, sessionID string, now time.Time) error {
	n, err := s.wr.execN(ctx, `UPDATE agents SET session_id = '', last_seen = ? WHERE id = ? AND session_id = ?`,
		s.wr.t(now), id, sessionID)
	if err != nil {
		return fmt.Errorf("recording the disconnection of agent %s: %w", id, err)
	}
	if n == 0 {
		return s.agentMissing(ctx, id, nil)
	}
	return nil
}

// agentMissing returns store.ErrNotFound when agent id does not exist, and
// otherwise.
func (s *Store) agentMissing(ctx context.Context, id string, otherwise error) error {
	ok, err := s.wr.exists(ctx, `SELECT 1 FROM agents WHERE id = ?`, id)
	switch {
	case err != nil:
		return fmt.Errorf("reading agent %s: %w", id, err)
	case !ok:
		return notFound("agent %s", id)
	}
	return otherwise
}

// RevokeAgent marks an agent revoked at now (a second revocation keeps the
// first time) and returns it. Unknown agent: store.ErrNotFound.
func (s *Store) RevokeAgent(ctx context.Context, id string, now time.Time) (*store.Agent, error) {
	var a *store.Agent
	err := s.inTx(ctx, func(tx runner) error {
		n, err := tx.execN(ctx, `UPDATE agents SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, tx.t(now), id)
		if err != nil {
			return fmt.Errorf("revoking agent %s: %w", id, err)
		}
		if n == 0 {
			return notFound("agent %s", id)
		}
		a, err = getAgent(ctx, tx, id)
		return err
	})
	return a, err
}

// RenewAgentCertificate records the serial and expiry of an agent's renewed
// certificate as pending unless the agent is revoked (store.ErrConflict),
// in one statement, so that a revocation racing the renewal wins. Unknown
// agent: store.ErrNotFound.
func (s *Store) RenewAgentCertificate(ctx context.Context, id, serial string, expiresAt time.Time) (*store.Agent, error) {
	var a *store.Agent
	err := s.inTx(ctx, func(tx runner) error {
		n, err := tx.execN(ctx, `UPDATE agents SET pending_cert_serial = ?, pending_cert_expires_at = ? WHERE id = ? AND revoked_at IS NULL`,
			serial, tx.t(expiresAt), id)
		if err != nil {
			return fmt.Errorf("renewing the certificate of agent %s: %w", id, err)
		}
		a, err = getAgent(ctx, tx, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return conflict("agent %s is revoked: it gets no certificate", id)
		}
		return nil
	})
	return a, err
}

// UseAgentCertificate makes the pending certificate with serial the agent's
// current one (its first use), unless the agent is revoked or that serial
// is not pending (store.ErrConflict). Unknown agent: store.ErrNotFound.
func (s *Store) UseAgentCertificate(ctx context.Context, id, serial string) (*store.Agent, error) {
	var a *store.Agent
	err := s.inTx(ctx, func(tx runner) error {
		n, err := tx.execN(ctx, `UPDATE agents SET cert_serial = pending_cert_serial, cert_expires_at = pending_cert_expires_at,
			pending_cert_serial = '', pending_cert_expires_at = NULL
			WHERE id = ? AND revoked_at IS NULL AND pending_cert_serial = ? AND pending_cert_serial <> ''`, id, serial)
		if err != nil {
			return fmt.Errorf("making the renewed certificate of agent %s current: %w", id, err)
		}
		a, err = getAgent(ctx, tx, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return conflict("agent %s: certificate %s is not its pending one, or the agent is revoked", id, serial)
		}
		return nil
	})
	return a, err
}
