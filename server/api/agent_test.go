package api_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/idsync/idsync/agent"
	"github.com/idsync/idsync/internal/adminconf"
	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/pki"
	"github.com/idsync/idsync/internal/testserver"
	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/api"
	"github.com/idsync/idsync/server/hub"
	"github.com/idsync/idsync/server/store/postgres"
)

func TestMain(m *testing.M) { testserver.Main(m) }

// testHub is a hub running in this process on loopback.
type testHub struct {
	t       *testing.T
	addr    string
	dataDir string
	admin   idsyncv1.AdminServiceClient
	token   string
	logs    *lockedBuffer
}

// startHub runs a real hub (gRPC with mutual TLS, store, engine) until the
// test ends. storeDSN selects PostgreSQL; empty is SQLite. A replica of
// another hub (sharing its store) shares its CA: give that hub as peer.
func startHub(t *testing.T, opts api.AgentOptions, storeDSN string, peer ...*testHub) *testHub {
	t.Helper()
	h := &testHub{t: t, dataDir: t.TempDir(), logs: &lockedBuffer{}}
	for _, p := range peer {
		for _, f := range []string{"ca.key", "ca.crt"} {
			b, err := os.ReadFile(filepath.Join(p.dataDir, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(h.dataDir, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := hub.Config{
		DataDir: h.dataDir, GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0",
		Log:    slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Agents: opts, Version: opts.Version,
	}
	if storeDSN != "" {
		cfg.Store, cfg.StoreDSN = "postgres", storeDSN
	}
	ready := make(chan string, 1)
	cfg.Ready = func(grpcAddr, _ string) { ready <- grpcAddr }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub: %v", err)
		}
		if t.Failed() {
			t.Logf("hub log:\n%s", tail(h.logs.String(), 60))
		}
	})
	select {
	case h.addr = <-ready:
	case err := <-done:
		t.Fatalf("hub did not start: %v", err)
	}
	conf, err := adminconf.Read(filepath.Join(h.dataDir, "admin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(conf.CA))
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(credentials.NewTLS(
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h.admin, h.token = idsyncv1.NewAdminServiceClient(conn), conf.Token
	return h
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// ctx returns a context carrying the hub's admin token.
func (h *testHub) ctx() context.Context {
	return metadata.AppendToOutgoingContext(h.t.Context(), "authorization", "Bearer "+h.token)
}

// addDirectory creates an OpenLDAP directory; capture is "off" or "" (auto).
func (h *testHub) addDirectory(name, capture string) {
	h.t.Helper()
	_, err := h.admin.CreateDirectory(h.ctx(), &idsyncv1.CreateDirectoryRequest{Directory: &idsyncv1.Directory{
		Name: name, Kind: idsyncv1.DirectoryKind_DIRECTORY_KIND_OPENLDAP, BaseDn: "dc=example,dc=org",
		CaptureStrategy: capture, FullImportIntervalSeconds: api.IntervalOff,
	}})
	if err != nil {
		h.t.Fatalf("CreateDirectory %s: %v", name, err)
	}
}

// enroll enrols an agent for directory through the real enrolment path and
// returns its config (identity files beside it) and id.
func (h *testHub) enroll(directory string) (*agent.Config, string) {
	h.t.Helper()
	tok, err := h.admin.CreateEnrollmentToken(h.ctx(), &idsyncv1.CreateEnrollmentTokenRequest{Directory: directory})
	if err != nil {
		h.t.Fatalf("CreateEnrollmentToken: %v", err)
	}
	dir := h.t.TempDir()
	path := filepath.Join(dir, "agent.yaml")
	conf := fmt.Sprintf("version: 1\nhub: %s\ndirectories:\n  - name: %s\n    url: ldap://127.0.0.1:9\n", h.addr, directory)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		h.t.Fatal(err)
	}
	cfg, err := agent.LoadConfig(path)
	if err != nil {
		h.t.Fatal(err)
	}
	id, err := agent.Enroll(h.t.Context(), cfg, agent.EnrollOptions{Token: tok.GetToken(), Name: "dc-" + directory, Version: "dev"})
	if err != nil {
		h.t.Fatalf("Enroll: %v", err)
	}
	return cfg, id
}

// agentState returns the hub's view of an agent.
func (h *testHub) agentState(id string) *idsyncv1.Agent {
	h.t.Helper()
	resp, err := h.admin.ListAgents(h.ctx(), &idsyncv1.ListAgentsRequest{})
	if err != nil {
		h.t.Fatalf("ListAgents: %v", err)
	}
	for _, a := range resp.GetAgents() {
		if a.GetId() == id {
			return a
		}
	}
	h.t.Fatalf("agent %s is not listed", id)
	return nil
}

// agentRun is a real agent running in this process.
type agentRun struct {
	done chan struct{} // closed when Run returns
	err  error         // what Run returned, once done is closed
	logs *lockedBuffer
}

// stopped reports whether Run returned, and its error.
func (r *agentRun) stopped() (bool, error) {
	select {
	case <-r.done:
		return true, r.err
	default:
		return false, nil
	}
}

// runAgent runs a real agent until the test ends.
func runAgent(t *testing.T, cfg *agent.Config, tune func(*agent.Agent)) *agentRun {
	t.Helper()
	logs := &lockedBuffer{}
	a := agent.New(cfg, "dev", slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	a.MinBackoff, a.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
	if tune != nil {
		tune(a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &agentRun{done: make(chan struct{}), logs: logs}
	go func() {
		r.err = a.Run(ctx)
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
		if t.Failed() {
			t.Logf("agent log:\n%s", tail(logs.String(), 40))
		}
	})
	return r
}

// readCert returns the agent's certificate once it pairs with its key (a
// renewal writes the two files one after the other).
func readCert(t *testing.T, cfg *agent.Config) *x509.Certificate {
	t.Helper()
	_, certPath, _ := cfg.IdentityPaths()
	var leaf *x509.Certificate
	eventually.That(t, "agent.crt and agent.key to pair", func() (bool, string) {
		b, err := os.ReadFile(certPath)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.X509KeyPair(b, mustRead(t, cfg))
		leaf = c.Leaf
		return err == nil, fmt.Sprint(err)
	})
	return leaf
}

func mustRead(t *testing.T, cfg *agent.Config) []byte {
	t.Helper()
	keyPath, _, _ := cfg.IdentityPaths()
	b, err := pki.ReadPrivateFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCertificateRenewal: an agent whose certificate is short-lived renews
// it over its stream before it expires, writes the new key and certificate,
// and is still connected — through new streams with the new certificate —
// once the first certificate has expired.
func TestCertificateRenewal(t *testing.T) {
	h := startHub(t, api.AgentOptions{Heartbeat: time.Second, Poll: 200 * time.Millisecond, CertTTL: 8 * time.Second}, "")
	h.addDirectory("corp", "off")
	cfg, id := h.enroll("corp")
	first := readCert(t, cfg)
	run := runAgent(t, cfg, nil)

	eventually.That(t, "the agent to renew its certificate", func() (bool, string) {
		serial := readCert(t, cfg).SerialNumber
		return serial.Cmp(first.SerialNumber) != 0, "serial " + serial.String()
	})
	// Past the first certificate's expiry, the hub ends any stream that
	// still uses it and the TLS handshake refuses it: an agent online now,
	// seen after that moment, connects with a renewed certificate.
	eventually.That(t, "the agent to be online after its first certificate expired", func() (bool, string) {
		if stopped, err := run.stopped(); stopped {
			t.Fatalf("agent stopped: %v", err)
		}
		a := h.agentState(id)
		online := a.GetState() == idsyncv1.AgentState_AGENT_STATE_STANDBY || a.GetState() == idsyncv1.AgentState_AGENT_STATE_ACTIVE
		return online && a.GetLastSeen().AsTime().After(first.NotAfter.Add(time.Second)),
			fmt.Sprintf("%v, last seen %v", a.GetState(), a.GetLastSeen().AsTime())
	})
	cur := readCert(t, cfg)
	if !cur.NotAfter.After(first.NotAfter) {
		t.Errorf("current certificate expires %v, not after the first (%v)", cur.NotAfter, first.NotAfter)
	}
	if cur.Subject.CommonName != id {
		t.Errorf("renewed certificate names %q, want the agent id %q", cur.Subject.CommonName, id)
	}
	if got := h.agentState(id).GetCertExpiresAt().AsTime(); got.Before(first.NotAfter) {
		t.Errorf("hub records certificate expiry %v, before the first certificate's %v", got, first.NotAfter)
	}
	for _, want := range []string{"client certificate renewed", "reconnecting with the renewed certificate"} {
		if !strings.Contains(run.logs.String(), want) {
			t.Errorf("agent log lacks %q", want)
		}
	}
	keyPath, _, _ := cfg.IdentityPaths()
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("agent.key after renewal: %v, mode %v; want mode 0600", err, fi.Mode().Perm())
	}
}

// rawAgent is a hand-driven agent stream: it speaks the protocol as an
// agent of any version would, with an enrolled agent's certificate.
type rawAgent struct {
	t      *testing.T
	stream idsyncv1.AgentService_ConnectClient
}

// dialRaw opens a Connect stream with cfg's identity and sends hello.
func dialRaw(t *testing.T, addr string, cfg *agent.Config, hello *idsyncv1.Hello) *rawAgent {
	t.Helper()
	certPEM, keyPEM, caPEM := identityPEM(t, cfg)
	return dialPEM(t, addr, certPEM, keyPEM, caPEM, hello)
}

// identityPEM returns the agent's certificate, key and hub CA as its files
// hold them now.
func identityPEM(t *testing.T, cfg *agent.Config) (certPEM, keyPEM, caPEM []byte) {
	t.Helper()
	_, certPath, caPath := cfg.IdentityPaths()
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err = os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, mustRead(t, cfg), caPEM
}

// dialPEM opens a Connect stream, on a connection of its own, with the
// client certificate and key given, and sends hello.
func dialPEM(t *testing.T, addr string, certPEM, keyPEM, caPEM []byte, hello *idsyncv1.Hello) *rawAgent {
	t.Helper()
	tc, err := pki.ClientTLSConfig(certPEM, keyPEM, caPEM, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	stream, err := idsyncv1.NewAgentServiceClient(conn).Connect(ctx)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	r := &rawAgent{t: t, stream: stream}
	r.send(&idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_Hello{Hello: hello}})
	return r
}

func (r *rawAgent) send(m *idsyncv1.ConnectRequest) {
	r.t.Helper()
	// io.EOF: the hub ended the stream already (a refused agent is cut off
	// before its Hello is read); the status is what next returns.
	if err := r.stream.Send(m); err != nil && !errors.Is(err, io.EOF) {
		r.t.Fatalf("Send: %v", err)
	}
}

// next returns the next message that is not a heartbeat.
func (r *rawAgent) next() (*idsyncv1.ConnectResponse, error) {
	for {
		m, err := r.stream.Recv()
		if err != nil || m.GetHeartbeat() == nil {
			return m, err
		}
	}
}

// TestOlderAgentHello: the hub serves an agent one minor version older, and
// sends it only what its capabilities cover; an agent two minors older is
// refused with FailedPrecondition naming both versions.
func TestOlderAgentHello(t *testing.T) {
	const hubVersion = "v1.4.0"
	h := startHub(t, api.AgentOptions{Heartbeat: time.Second, Poll: 200 * time.Millisecond, Version: hubVersion}, "")
	// Capture is on: a current agent would be asked to take a checkpoint
	// and then to capture; this older one cannot.
	h.addDirectory("corp", "")
	cfg, id := h.enroll("corp")
	older := []string{idsyncv1.CapabilityFullImport, idsyncv1.CapabilityRangeRetrieval}

	t.Run("two minors older is refused", func(t *testing.T) {
		r := dialRaw(t, h.addr, cfg, &idsyncv1.Hello{AgentId: id, Version: "v1.2.9", Capabilities: older, Directories: []string{"corp"}})
		_, err := r.next()
		if status.Code(err) != codes.FailedPrecondition {
			t.Fatalf("Hello from v1.2.9: %v; want FailedPrecondition", err)
		}
		for _, v := range []string{"v1.2.9", hubVersion} {
			if !strings.Contains(status.Convert(err).Message(), v) {
				t.Errorf("refusal %q does not name %s", status.Convert(err).Message(), v)
			}
		}
	})

	t.Run("one minor older is served", func(t *testing.T) {
		r := dialRaw(t, h.addr, cfg, &idsyncv1.Hello{AgentId: id, Version: "v1.3.2", Capabilities: older, Directories: []string{"corp"}})
		m, err := r.next()
		if err != nil || m.GetWelcome() == nil {
			t.Fatalf("Hello from v1.3.2: %v, %v; want Welcome", m, err)
		}
		if got := m.GetWelcome().GetHubVersion(); got != hubVersion {
			t.Errorf("Welcome hub_version = %q, want %q", got, hubVersion)
		}
		if _, err := h.admin.StartImport(h.ctx(), &idsyncv1.StartImportRequest{Directory: "corp", Kind: idsyncv1.ImportKind_IMPORT_KIND_FULL}); err != nil {
			t.Fatalf("StartImport: %v", err)
		}
		m, err = r.next()
		si, cmdID := m.GetCommand().GetStartImport(), m.GetCommand().GetCommandId()
		if err != nil || si == nil {
			t.Fatalf("after StartImport the agent got %v, %v; want a StartImport command", m, err)
		}
		if si.GetKind() != idsyncv1.ImportKind_IMPORT_KIND_FULL || si.GetTakeCheckpoint() {
			t.Fatalf("StartImport kind %v, take_checkpoint %v; want a full import without a checkpoint (the agent cannot capture)",
				si.GetKind(), si.GetTakeCheckpoint())
		}
		r.send(&idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_ChangeBatch{ChangeBatch: &idsyncv1.ChangeBatch{
			RunId: si.GetRunId(), Sequence: 1, Last: true,
			Changes: []*idsyncv1.Change{{
				Type: idsyncv1.ChangeType_CHANGE_TYPE_UPSERT, Kind: idsyncv1.ObjectKind_OBJECT_KIND_USER,
				ExternalId: "6f1c0a52-0000-4000-8000-000000000001", Dn: "uid=ann,dc=example,dc=org",
				Attributes: []*idsyncv1.Attribute{{Name: "uid", Values: []string{"ann"}}, {Name: "mail", Values: []string{"ann@example.org"}}},
			}},
		}}})
		m, err = r.next()
		if err != nil || m.GetAck().GetSequence() != 1 {
			t.Fatalf("after the batch the agent got %v, %v; want Ack of sequence 1", m, err)
		}
		r.send(&idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_CommandResult{CommandResult: &idsyncv1.CommandResult{
			CommandId: cmdID, RunId: si.GetRunId()}}})
		eventually.That(t, "the full import to complete", func() (bool, string) {
			run, err := h.admin.GetImport(h.ctx(), &idsyncv1.GetImportRequest{Id: si.GetRunId()})
			return err == nil && run.GetRun().GetState() == idsyncv1.RunState_RUN_STATE_COMPLETED, fmt.Sprint(run.GetRun().GetState(), err)
		})
		users, err := h.admin.ListUsers(h.ctx(), &idsyncv1.ListUsersRequest{Directory: "corp"})
		if err != nil || len(users.GetUsers()) != 1 || users.GetUsers()[0].GetUsername() != "ann" {
			t.Fatalf("ListUsers = %v, %v; want ann alone", users, err)
		}
		// Through several of the session's polls for work, the hub sends
		// this agent nothing more (no capture: it cannot). Heartbeats pace
		// the wait.
		for beats := 0; beats < 3; {
			m, err := r.stream.Recv()
			if err != nil {
				t.Fatalf("stream ended: %v", err)
			}
			if m.GetHeartbeat() != nil {
				beats++
				continue
			}
			t.Fatalf("the hub sent %v to an agent without the capture capability", m)
		}
		if st := h.agentState(id); st.GetVersion() != "v1.3.2" {
			t.Errorf("hub lists agent version %q, want v1.3.2", st.GetVersion())
		}
		if !strings.Contains(h.logs.String(), "capabilities=\"[full-import range-retrieval]\"") {
			t.Errorf("hub log does not record the agent's capabilities [full-import range-retrieval]")
		}
	})
}

// TestRevokedAgentCutOff: two hub replicas share PostgreSQL. An agent
// streams to replica A; an admin revokes it through replica B. A's stream
// ends with PermissionDenied (A learns it from the store), the agent stops
// for good, and its reconnects to either replica are refused; a revoked
// agent's certificate renewal is refused too.
func TestRevokedAgentCutOff(t *testing.T) {
	dsn := testserver.Postgres(t)
	opts := api.AgentOptions{Heartbeat: time.Second, Poll: 200 * time.Millisecond}
	a := startHub(t, opts, dsn)
	b := startHub(t, opts, dsn, a)
	a.addDirectory("corp", "off")
	cfg, id := a.enroll("corp")
	run := runAgent(t, cfg, nil)
	eventually.That(t, "the agent to be online", func() (bool, string) {
		st := b.agentState(id).GetState()
		return st == idsyncv1.AgentState_AGENT_STATE_STANDBY, st.String()
	})

	if _, err := b.admin.RevokeAgent(b.ctx(), &idsyncv1.RevokeAgentRequest{Id: id}); err != nil {
		t.Fatalf("RevokeAgent through replica B: %v", err)
	}
	var runErr error
	eventually.That(t, "the agent's stream on replica A to end", func() (bool, string) {
		var stopped bool
		stopped, runErr = run.stopped()
		return stopped, "the agent still runs"
	})
	if !errors.Is(runErr, agent.ErrRefused) || !strings.Contains(runErr.Error(), "revoked") {
		t.Errorf("agent stopped with %v; want ErrRefused saying it was revoked", runErr)
	}
	if !strings.Contains(a.logs.String(), "agent revoked: closing its stream") {
		t.Errorf("replica A's log does not say it found the revocation in the store and closed the stream")
	}

	for _, h := range []*testHub{a, b} {
		r := dialRaw(t, h.addr, cfg, &idsyncv1.Hello{AgentId: id, Version: "dev", Directories: []string{"corp"}})
		if m, err := r.next(); status.Code(err) != codes.PermissionDenied {
			t.Errorf("reconnect of the revoked agent: %v, %v; want PermissionDenied", m, err)
		}
	}

	t.Run("no command after revocation", func(t *testing.T) {
		// A replica that polls the store rarely sends a revoked agent no
		// command: it asks the store before each.
		slow := startHub(t, api.AgentOptions{Heartbeat: time.Second, Poll: time.Hour}, dsn, a)
		cfg3, id3 := slow.enroll("corp")
		r := dialRaw(t, slow.addr, cfg3, &idsyncv1.Hello{AgentId: id3, Version: "dev", Directories: []string{"corp"},
			Capabilities: agent.Capabilities})
		if m, err := r.next(); err != nil || m.GetWelcome() == nil {
			t.Fatalf("Hello: %v, %v; want Welcome", m, err)
		}
		st, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.RevokeAgent(t.Context(), id3, time.Now()); err != nil {
			t.Fatal(err)
		}
		// A sign-in through the replica would send the agent a command.
		go slow.admin.Authenticate(slow.ctx(), &idsyncv1.AuthenticateRequest{Directory: "corp", Username: "ann", Password: "pw"})
		for {
			m, err := r.next()
			if err != nil {
				if status.Code(err) != codes.PermissionDenied {
					t.Errorf("the revoked agent's stream ended with %v, want PermissionDenied", err)
				}
				break
			}
			if m.GetCommand() != nil {
				t.Fatalf("the revoked agent received a command: %v", m)
			}
		}
		if !strings.Contains(slow.logs.String(), "agent revoked: closing its stream instead of sending a command") {
			t.Errorf("the replica's log does not say it closed the stream instead of sending the command")
		}
	})

	t.Run("renewal", func(t *testing.T) {
		// A replica that polls the store rarely still refuses: renewal
		// checks revocation in the store itself.
		slow := startHub(t, api.AgentOptions{Heartbeat: time.Second, Poll: time.Hour}, dsn, a)
		cfg2, id2 := slow.enroll("corp")
		r := dialRaw(t, slow.addr, cfg2, &idsyncv1.Hello{AgentId: id2, Version: "dev", Directories: []string{"corp"},
			Capabilities: agent.Capabilities})
		if m, err := r.next(); err != nil || m.GetWelcome() == nil {
			t.Fatalf("Hello: %v, %v; want Welcome", m, err)
		}
		// Revoked behind the replica's back: straight in the shared store.
		st, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.RevokeAgent(t.Context(), id2, time.Now()); err != nil {
			t.Fatal(err)
		}
		key, err := pki.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		csr, err := pki.CreateCSR(key, "x")
		if err != nil {
			t.Fatal(err)
		}
		r.send(&idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_RenewCertificate{RenewCertificate: &idsyncv1.RenewCertificate{CsrPem: csr}}})
		m, err := r.next()
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("renewal by a revoked agent: %v, %v; want the stream to end with PermissionDenied", m, err)
		}
		if !strings.Contains(slow.logs.String(), "certificate renewal refused: the agent is revoked") {
			t.Errorf("the replica's log does not say it refused the renewal")
		}
		got, err := st.GetAgent(t.Context(), id2)
		if err != nil {
			t.Fatal(err)
		}
		if got.CertSerial != pki.Serial(readCert(t, cfg2)) {
			t.Errorf("revoked agent's serial changed to %s", got.CertSerial)
		}
	})
}
