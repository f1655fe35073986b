package hub_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/pki"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// enrolled is an agent enrolled through the API.
type enrolled struct {
	id              string
	cert, key, caPE []byte
}

// enroll enrols an agent for directory corp with a fresh token.
func (h *testHub) enroll(t *testing.T) (enrolled, string) {
	t.Helper()
	ctx := t.Context()
	tok, err := idsyncv1.NewAdminServiceClient(h.conn).CreateEnrollmentToken(as(ctx, h.boot),
		&idsyncv1.CreateEnrollmentTokenRequest{Directory: "corp", TtlSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.CreateCSR(key, "vm")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := idsyncv1.NewAgentServiceClient(h.conn).Enroll(ctx, &idsyncv1.EnrollRequest{Token: tok.GetToken(), CsrPem: csr, Name: "vm"})
	if err != nil {
		t.Fatalf("Enroll: %v", err)
	}
	keyPEM, err := pki.MarshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return enrolled{id: resp.GetAgentId(), cert: resp.GetCertificatePem(), key: keyPEM, caPE: resp.GetCaPem()}, tok.GetToken()
}

// dial connects with cfg to the hub h serves.
func (h *testHub) dial(t *testing.T, cfg *tls.Config) *grpc.ClientConn {
	t.Helper()
	host, _, _ := net.SplitHostPort(h.conn.Target())
	cfg.ServerName = host
	conn, err := grpc.NewClient(h.conn.Target(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// hello opens a stream and says Hello; it returns the first answer's
// error, nil when the hub welcomed the agent.
func hello(ctx context.Context, conn *grpc.ClientConn, agentID string) (idsyncv1.AgentService_ConnectClient, error) {
	stream, err := idsyncv1.NewAgentServiceClient(conn).Connect(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_Hello{Hello: &idsyncv1.Hello{
		AgentId: agentID, Version: "dev", Directories: []string{"corp"}}}}); err != nil {
		_, err = stream.Recv()
		return nil, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	if resp.GetWelcome() == nil {
		return nil, status.Errorf(codes.Internal, "first answer %v, want Welcome", resp)
	}
	return stream, nil
}

// refused returns the refused requests in the audit trail whose target
// starts with target.
func (h *testHub) refused(t *testing.T, target string) []*idsyncv1.AuditEvent {
	t.Helper()
	resp, err := idsyncv1.NewAdminServiceClient(h.conn).ListAuditEvents(as(t.Context(), h.boot),
		&idsyncv1.ListAuditEventsRequest{Outcome: store.AuditRefused, Target: target})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetEvents()
}

// TestHostileClients: a stream without a certificate, with one of another
// CA, with a revoked one, and a replayed enrolment token are each refused
// and recorded; an oversized message is refused.
func TestHostileClients(t *testing.T) {
	h := startHub(t)
	ctx := t.Context()
	agent, token := h.enroll(t)

	// A replayed enrolment token.
	key, _ := pki.NewKey()
	csr, _ := pki.CreateCSR(key, "thief")
	_, err := idsyncv1.NewAgentServiceClient(h.conn).Enroll(ctx, &idsyncv1.EnrollRequest{Token: token, CsrPem: csr, Name: "thief"})
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "already used") {
		t.Errorf("replayed token: %v, want Unauthenticated (already used)", err)
	}
	if ev := h.refused(t, "/idsync.v1.AgentService/Enroll"); len(ev) != 1 || !strings.Contains(ev[0].GetDetail(), "already used") {
		t.Errorf("audit of the replayed token: %v, want one refusal saying it was used", ev)
	}

	// No certificate.
	if _, err := hello(ctx, h.conn, agent.id); status.Code(err) != codes.Unauthenticated {
		t.Errorf("stream without a certificate: %v, want Unauthenticated", err)
	}
	if ev := h.refused(t, "/idsync.v1.AgentService/Connect"); len(ev) != 1 || !strings.HasPrefix(ev[0].GetActor(), "unauthenticated@127.0.0.1") {
		t.Errorf("audit of the stream without a certificate: %v, want one refusal by unauthenticated@127.0.0.1", ev)
	}

	// Another CA's certificate, with the right agent id in it.
	other, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := pki.NewKey()
	otherCSR, _ := pki.CreateCSR(otherKey, agent.id)
	otherCert, _, _, err := other.SignClientCSR(otherCSR, agent.id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherKeyPEM, _ := pki.MarshalKey(otherKey)
	cfg, err := pki.ClientTLSConfig(otherCert, otherKeyPEM, agent.caPE, "")
	if err != nil {
		t.Fatal(err)
	}
	// Go's client would not send a certificate the hub's CA list does not
	// name; a hostile one does.
	foreign := cfg.Certificates[0]
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &foreign, nil }
	if _, err := hello(ctx, h.dial(t, cfg), agent.id); err == nil {
		t.Errorf("a certificate of another CA was welcomed")
	}
	if ev := h.refused(t, "tls.handshake"); len(ev) == 0 || !strings.Contains(ev[0].GetDetail(), agent.id) {
		t.Errorf("audit of the foreign certificate: %v, want a refused handshake naming %s", ev, agent.id)
	}

	// The real certificate works, until the agent is revoked: the open
	// stream ends and the next is refused.
	cfg, err = pki.ClientTLSConfig(agent.cert, agent.key, agent.caPE, "")
	if err != nil {
		t.Fatal(err)
	}
	good := h.dial(t, cfg)
	stream, err := hello(ctx, good, agent.id)
	if err != nil {
		t.Fatalf("enrolled agent refused: %v", err)
	}
	// A batch for a run of a directory the agent was not enrolled for is
	// refused, recorded, and writes nothing.
	if err := stream.Send(&idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_ChangeBatch{ChangeBatch: &idsyncv1.ChangeBatch{
		RunId: strconv.FormatInt(h.labRun, 10), Sequence: 1, Changes: []*idsyncv1.Change{{
			Type: idsyncv1.ChangeType_CHANGE_TYPE_UPSERT, Kind: idsyncv1.ObjectKind_OBJECT_KIND_USER, ExternalId: "forged",
			Dn: "uid=forged,dc=lab,dc=org", Attributes: []*idsyncv1.Attribute{{Name: "uid", Values: []string{"forged"}}}}}}}}); err != nil {
		t.Fatal(err)
	}
	target := fmt.Sprintf("run:%d", h.labRun)
	eventually.That(t, "the forged batch's refusal in the audit trail", func() (bool, string) {
		return len(h.refused(t, target)) > 0, "no refusal of " + target
	})
	if ev := h.refused(t, target); len(ev) != 1 || ev[0].GetActor() != "agent:"+agent.id || !strings.Contains(ev[0].GetDetail(), "lab") {
		t.Errorf("audit of the forged batch: %v, want one refusal by agent:%s naming lab", ev, agent.id)
	}
	users, err := idsyncv1.NewAdminServiceClient(h.conn).ListUsers(as(ctx, h.boot), &idsyncv1.ListUsersRequest{Directory: "lab"})
	if err != nil || len(users.GetUsers()) != 0 {
		t.Errorf("directory lab holds %v (%v) after a forged batch, want nobody", users.GetUsers(), err)
	}

	if _, err := idsyncv1.NewAdminServiceClient(h.conn).RevokeAgent(as(ctx, h.boot), &idsyncv1.RevokeAgentRequest{Id: agent.id}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := stream.Recv()
		if err != nil {
			if status.Code(err) != codes.PermissionDenied {
				t.Errorf("open stream of a revoked agent ended with %v, want PermissionDenied", err)
			}
			break
		}
	}
	if _, err := hello(ctx, good, agent.id); status.Code(err) != codes.PermissionDenied {
		t.Errorf("revoked agent's new stream: %v, want PermissionDenied", err)
	}
	ev := h.refused(t, "/idsync.v1.AgentService/Connect")
	if !slices.ContainsFunc(ev, func(e *idsyncv1.AuditEvent) bool {
		return e.GetActor() == "agent:"+agent.id && strings.Contains(e.GetDetail(), "revoked")
	}) {
		t.Errorf("audit: no refusal of the revoked agent %s in %v", agent.id, ev)
	}

	// A message over the size limit.
	_, err = idsyncv1.NewAgentServiceClient(h.conn).Enroll(ctx, &idsyncv1.EnrollRequest{Token: "x", CsrPem: make([]byte, 65<<20)},
		grpc.MaxCallSendMsgSize(80<<20))
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("oversized message: %v, want ResourceExhausted", err)
	}
}

// TestStopWithAnAgentConnected: a hub stopped while an agent's stream is
// open ends the stream and records the disconnect before its store
// closes.
func TestStopWithAnAgentConnected(t *testing.T) {
	h := startHub(t)
	agent, _ := h.enroll(t)
	cfg, err := pki.ClientTLSConfig(agent.cert, agent.key, agent.caPE, "")
	if err != nil {
		t.Fatal(err)
	}
	stream, err := hello(t.Context(), h.dial(t, cfg), agent.id)
	if err != nil {
		t.Fatalf("enrolled agent refused: %v", err)
	}
	if err := h.stop(); err != nil {
		t.Fatalf("stopping the hub: %v", err)
	}
	// What the hub sent before it stopped may still be read; then the
	// stream ends.
	for {
		if _, err := stream.Recv(); err != nil {
			break
		}
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(h.dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.ListAudit(t.Context(), store.AuditFilter{Action: "agent.disconnect"})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || !strings.Contains(events[0].Target, agent.id) {
		t.Errorf("agent.disconnect events after the stop: %+v, want one of agent %s", events, agent.id)
	}
}
