package api_test

import (
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/agent"
	"github.com/idsync/idsync/internal/pki"
	"github.com/idsync/idsync/internal/testserver"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/api"
)

// welcomed reads the hub's first answer and fails the test unless it is
// Welcome.
func (r *rawAgent) welcomed() *rawAgent {
	r.t.Helper()
	if m, err := r.next(); err != nil || m.GetWelcome() == nil {
		r.t.Fatalf("Hello answered with %v, %v; want Welcome", m, err)
	}
	return r
}

// probe asks the hub something it answers on the stream — a renewal with a
// CSR that is not one — and returns nil once the answer comes: the hub
// read everything sent before and still serves the stream. It returns how
// the stream ended otherwise.
func (r *rawAgent) probe() error {
	r.t.Helper()
	r.send(&idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_RenewCertificate{
		RenewCertificate: &idsyncv1.RenewCertificate{CsrPem: []byte("not a CSR")}}})
	for {
		m, err := r.next()
		if err != nil {
			return err
		}
		if rn := m.GetCertificateRenewal(); rn != nil {
			if rn.GetError() == "" {
				r.t.Fatalf("a CSR that is not one was signed")
			}
			return nil
		}
	}
}

// ended waits for the hub to end the stream and returns its status; the
// test fails when the stream is still open after a generous bound.
func (r *rawAgent) ended() error {
	r.t.Helper()
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := r.stream.Recv(); err != nil {
				errc <- err
				return
			}
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-time.After(60 * time.Second):
		r.t.Fatalf("the hub has not ended the stream after 60s")
		return nil
	}
}

// events returns the audit events of action (a prefix) whose target is
// target, oldest first.
func (h *testHub) events(action, outcome, target string) []*idsyncv1.AuditEvent {
	h.t.Helper()
	resp, err := h.admin.ListAuditEvents(h.ctx(), &idsyncv1.ListAuditEventsRequest{Action: action, Outcome: outcome, Target: target})
	if err != nil {
		h.t.Fatalf("ListAuditEvents: %v", err)
	}
	var out []*idsyncv1.AuditEvent
	for _, e := range resp.GetEvents() {
		if e.GetTarget() == target { // Target is a prefix filter
			out = append(out, e)
		}
	}
	return out
}

// TestAgentOneStream: an agent holds one stream. A new stream of the agent —
// say, its reconnect after a network cut, while the hub still holds the old
// stream — is welcomed and ends the old one with Aborted: on the same
// replica at once, on another replica (learnt from the store) within a
// poll. The old stream's end is audited naming the new session.
func TestAgentOneStream(t *testing.T) {
	opts := api.AgentOptions{Heartbeat: time.Second, Poll: 200 * time.Millisecond}
	check := func(t *testing.T, oldHub, newHub *testHub) {
		t.Helper()
		newHub.addDirectory("corp", "off")
		cfg, id := newHub.enroll("corp")
		hello := &idsyncv1.Hello{AgentId: id, Version: "dev", Directories: []string{"corp"}, Capabilities: agent.Capabilities}
		old := dialRaw(t, oldHub.addr, cfg, hello).welcomed()
		fresh := dialRaw(t, newHub.addr, cfg, hello).welcomed()
		if err := old.ended(); status.Code(err) != codes.Aborted || !strings.Contains(err.Error(), "replaced") {
			t.Errorf("the old stream ended with %v; want Aborted saying it was replaced", err)
		}
		if err := fresh.probe(); err != nil {
			t.Errorf("the new stream ended: %v", err)
		}
		var replaced []*idsyncv1.AuditEvent
		eventually(t, "the old stream's end in the audit trail", func() bool {
			replaced = slices.DeleteFunc(oldHub.events("agent.disconnect", "", "agent:"+id), func(e *idsyncv1.AuditEvent) bool {
				return !strings.Contains(e.GetDetail(), "replaced")
			})
			return len(replaced) > 0
		})
		if len(replaced) != 1 || !strings.Contains(replaced[0].GetDetail(), "session ") {
			t.Errorf("audit of the replaced stream: %v; want one event naming the new session", replaced)
		}
		if st := newHub.agentState(id).GetState(); st != idsyncv1.AgentState_AGENT_STATE_STANDBY {
			t.Errorf("agent is %v after the old stream ended, want standby (online)", st)
		}
	}
	t.Run("one replica", func(t *testing.T) {
		h := startHub(t, opts, "")
		check(t, h, h)
	})
	t.Run("two replicas", func(t *testing.T) {
		dsn := testserver.Postgres(t)
		a := startHub(t, opts, dsn)
		b := startHub(t, opts, dsn, a)
		check(t, a, b)
	})
}

// TestRenewedCertificateRetired: once an agent renewed its certificate, the
// old one opens no stream (Unauthenticated, audited naming its serial); the
// stream that renewed goes on until the agent reconnects with the new one.
func TestRenewedCertificateRetired(t *testing.T) {
	h := startHub(t, api.AgentOptions{Heartbeat: time.Second, Poll: 200 * time.Millisecond}, "")
	h.addDirectory("corp", "off")
	cfg, id := h.enroll("corp")
	hello := &idsyncv1.Hello{AgentId: id, Version: "dev", Directories: []string{"corp"}, Capabilities: agent.Capabilities}
	oldCert, oldKey, caPEM := identityPEM(t, cfg)
	block, _ := pem.Decode(oldCert)
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}

	renewing := dialPEM(t, h.addr, oldCert, oldKey, caPEM, hello).welcomed()
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CreateCSR(key, id)
	if err != nil {
		t.Fatal(err)
	}
	renewing.send(&idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_RenewCertificate{RenewCertificate: &idsyncv1.RenewCertificate{CsrPem: csr}}})
	var newCert []byte
	for newCert == nil {
		m, err := renewing.next()
		if err != nil {
			t.Fatalf("waiting for the renewed certificate: %v", err)
		}
		if rn := m.GetCertificateRenewal(); rn != nil {
			if rn.GetError() != "" {
				t.Fatalf("renewal refused: %s", rn.GetError())
			}
			newCert = rn.GetCertificatePem()
		}
	}
	if err := renewing.probe(); err != nil {
		t.Fatalf("the stream that renewed its certificate ended: %v; want it kept until the agent reconnects", err)
	}

	_, err = dialPEM(t, h.addr, oldCert, oldKey, caPEM, hello).next()
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "renewed") {
		t.Errorf("a stream with the certificate the agent renewed: %v; want Unauthenticated saying it was renewed", err)
	}
	serial := pki.Serial(leaf)
	if !slices.ContainsFunc(h.events("request.refused", "refused", "/idsync.v1.AgentService/Connect"), func(e *idsyncv1.AuditEvent) bool {
		return e.GetActor() == "agent:"+id && strings.Contains(e.GetDetail(), serial)
	}) {
		t.Errorf("no refusal of agent:%s naming serial %s in the audit trail", id, serial)
	}

	keyPEM, err := pki.MarshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dialPEM(t, h.addr, newCert, keyPEM, caPEM, hello).welcomed()
	if err := renewing.ended(); status.Code(err) != codes.Aborted {
		t.Errorf("the stream with the old certificate ended with %v once the new one connected; want Aborted (replaced)", err)
	}
}
