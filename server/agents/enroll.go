package agents

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/idsync/idsync/internal/pki"
	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/store"
)

// Enrolment is what an agent sends to enrol.
type Enrolment struct {
	// Token is the single-use enrolment token an admin created.
	Token string
	// CSRPEM is the agent's certificate request, in PEM.
	CSRPEM []byte
	// Name names the agent (default: its id); Version is its version.
	Name, Version string
	// From is the agent's address, for the audit trail ("": unknown).
	From string
}

// Enroll trades a single-use token and a CSR for a client certificate of
// a new agent of the token's directory.
func (s *Service) Enroll(ctx context.Context, e Enrolment) (a *store.Agent, certPEM []byte, err error) {
	secret, fingerprint, err := pki.ParseEnrollToken(e.Token)
	if err != nil {
		return nil, nil, refusal.Invalidf("enrolment token: %v", err)
	}
	if fingerprint != s.ca.Fingerprint() {
		return nil, nil, refusal.Unauthenticatedf("enrolment token was issued by another hub (its CA fingerprint differs)")
	}
	block, _ := pem.Decode(e.CSRPEM)
	if block == nil {
		return nil, nil, refusal.Invalidf("csr_pem: not a PEM block")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, nil, refusal.Invalidf("csr_pem: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, nil, refusal.Invalidf("csr_pem: signature: %v", err)
	}
	agentID := uuid.NewString()
	now := time.Now()
	tok, err := s.st.ConsumeEnrollToken(ctx, pki.HashSecret(secret), agentID, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.log.Warn("enrolment refused: unknown token")
		return nil, nil, refusal.Unauthenticatedf("enrolment token is not known to this hub")
	case errors.Is(err, store.ErrTokenUsed):
		s.log.Warn("enrolment refused: token reused")
		return nil, nil, refusal.Unauthenticatedf("enrolment token was already used: create a new one with `idsyncctl agent token`")
	case errors.Is(err, store.ErrTokenExpired):
		s.log.Warn("enrolment refused: token expired")
		return nil, nil, refusal.Unauthenticatedf("enrolment token has expired: create a new one with `idsyncctl agent token`")
	case err != nil:
		return nil, nil, fmt.Errorf("enrolment: %w", err)
	}
	certPEM, serial, notAfter, err := s.ca.SignClientCSR(e.CSRPEM, agentID, s.certTTL)
	if err != nil {
		return nil, nil, refusal.Invalidf("signing the agent certificate: %v", err)
	}
	name := cmp.Or(e.Name, agentID)
	a = &store.Agent{
		ID: agentID, Name: name, Directories: []string{tok.Directory}, CertSerial: serial,
		CertExpiresAt: notAfter, Version: e.Version, EnrolledAt: now,
	}
	if err := s.st.CreateAgent(ctx, a); err != nil {
		return nil, nil, fmt.Errorf("recording agent: %w", err)
	}
	s.log.Info("agent enrolled", "agent", agentID, "name", name, "directory", tok.Directory)
	s.audit.Record(ctx, store.AuditEvent{Actor: "agent:" + agentID, Action: "agent.enroll", Target: "agent:" + agentID,
		Detail: fmt.Sprintf("name %s, directory %s, version %s, from %s", name, tok.Directory, e.Version, cmp.Or(e.From, "unknown"))})
	return a, certPEM, nil
}
