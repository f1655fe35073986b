package api_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/idsync/idsync/agent"
	"github.com/idsync/idsync/internal/eventually"
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

// command reads until the hub sends a command that want accepts, and
// returns it; other messages are passed over.
func (r *rawAgent) command(what string, want func(*idsyncv1.Command) bool) *idsyncv1.Command {
	r.t.Helper()
	for {
		m, err := r.next()
		if err != nil {
			r.t.Fatalf("waiting for %s: the stream ended: %v", what, err)
		}
		if c := m.GetCommand(); c != nil && want(c) {
			return c
		}
	}
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

// hangUp ends the stream from the agent's side and waits for the hub to
// close it.
func (r *rawAgent) hangUp() {
	r.t.Helper()
	if err := r.stream.CloseSend(); err != nil {
		r.t.Fatal(err)
	}
	r.ended()
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

// run returns an import run as the admin API shows it.
func (h *testHub) run(id string) *idsyncv1.ImportRun {
	h.t.Helper()
	resp, err := h.admin.GetImport(h.ctx(), &idsyncv1.GetImportRequest{Id: id})
	if err != nil {
		h.t.Fatalf("GetImport %s: %v", id, err)
	}
	return resp.GetRun()
}

// startFull starts a full import of directory and returns its run id.
func (h *testHub) startFull(directory string) string {
	h.t.Helper()
	resp, err := h.admin.StartImport(h.ctx(), &idsyncv1.StartImportRequest{Directory: directory, Kind: idsyncv1.ImportKind_IMPORT_KIND_FULL})
	if err != nil {
		h.t.Fatalf("StartImport %s: %v", directory, err)
	}
	return resp.GetRun().GetId()
}

func isStart(c *idsyncv1.Command) bool { return c.GetStartImport() != nil }

func userBatch(runID string, seq uint64, last bool, uid string) *idsyncv1.ConnectRequest {
	return &idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_ChangeBatch{ChangeBatch: &idsyncv1.ChangeBatch{
		RunId: runID, Sequence: seq, Last: last,
		Changes: []*idsyncv1.Change{{
			Type: idsyncv1.ChangeType_CHANGE_TYPE_UPSERT, Kind: idsyncv1.ObjectKind_OBJECT_KIND_USER,
			ExternalId: uuid.NewSHA1(uuid.NameSpaceOID, []byte(uid)).String(),
			Dn:         "uid=" + uid + ",dc=example,dc=org",
			Attributes: []*idsyncv1.Attribute{{Name: "uid", Values: []string{uid}}},
		}},
	}}}
}

func result(r *idsyncv1.CommandResult) *idsyncv1.ConnectRequest {
	return &idsyncv1.ConnectRequest{Msg: &idsyncv1.ConnectRequest_CommandResult{CommandResult: r}}
}

// TestRogueAgent: an enrolled agent of directory corp, with its own valid
// certificate, sends what names runs and commands the hub did not send to
// its stream: a reconciliation of a run of corp from an earlier stream, the
// failure of a run of directory lab, of a guessed run, the answer to a
// command never sent, batches for lab's run and for the old run. Each is
// refused, audited naming the agent, the run or command and why, and
// changes nothing: the runs are as they were, no reconciliation starts, lab
// has no user. The first on a stream is ignored and the stream goes on; the
// second ends it with PermissionDenied, audited too.
func TestRogueAgent(t *testing.T) {
	h := startHub(t, api.AgentOptions{Heartbeat: time.Second, Poll: 200 * time.Millisecond}, "")
	h.addDirectory("corp", "off")
	h.addDirectory("lab", "off")
	cfg, id := h.enroll("corp")
	hello := &idsyncv1.Hello{AgentId: id, Version: "dev", Directories: []string{"corp"}, Capabilities: agent.Capabilities}

	// A run of corp that an earlier stream of the agent completed.
	first := dialRaw(t, h.addr, cfg, hello).welcomed()
	stale := h.startFull("corp")
	cmd := first.command("StartImport of corp", isStart)
	if got := cmd.GetStartImport().GetRunId(); got != stale {
		t.Fatalf("StartImport of run %s, want %s", got, stale)
	}
	first.send(userBatch(stale, 1, true, "ann"))
	first.send(result(&idsyncv1.CommandResult{CommandId: cmd.GetCommandId(), RunId: stale}))
	eventually.That(t, "the import of corp to complete", func() (bool, string) {
		st := h.run(stale).GetState()
		return st == idsyncv1.RunState_RUN_STATE_COMPLETED, st.String()
	})
	first.hangUp()
	// A run of lab, held by an agent of lab.
	labCfg, labID := h.enroll("lab")
	labAgent := dialRaw(t, h.addr, labCfg, &idsyncv1.Hello{AgentId: labID, Version: "dev", Directories: []string{"lab"},
		Capabilities: agent.Capabilities}).welcomed()
	lab := h.startFull("lab")
	labAgent.command("StartImport of lab", isStart)
	before := map[string]*idsyncv1.ImportRun{stale: h.run(stale), lab: h.run(lab)}

	forged := []struct {
		name   string
		msg    *idsyncv1.ConnectRequest
		target string
		says   []string // in the audit detail
	}{
		{"a reconciliation of corp's run of an earlier stream",
			result(&idsyncv1.CommandResult{CommandId: cmd.GetCommandId(), RunId: stale, Error: "e-syncRefreshRequired", Reconcile: true}),
			"run:" + stale, []string{"reconciliation", "directory corp", "another session"}},
		{"a failure of lab's run",
			result(&idsyncv1.CommandResult{CommandId: "c1", RunId: lab, Error: "forged"}),
			"run:" + lab, []string{"failure", "directory lab", "not enrolled"}},
		{"a failure of a guessed run",
			result(&idsyncv1.CommandResult{CommandId: "c2", RunId: "987654321", Error: "forged"}),
			"run:987654321", []string{"does not exist"}},
		{"an answer to a command never sent",
			result(&idsyncv1.CommandResult{CommandId: "never-sent", AuthFailure: "invalid-credentials"}),
			"command:never-sent", []string{`"never-sent"`, "did not send"}},
		{"a batch for lab's run", userBatch(lab, 1, true, "mallory"),
			"run:" + lab, []string{"batch", "directory lab"}},
		{"a batch for corp's run of an earlier stream", userBatch(stale, 2, true, "eve"),
			"run:" + stale, []string{"batch", "directory corp", "another session"}},
	}
	counted := map[string]int{}
	audited := func(name, target string, says []string) {
		t.Helper()
		counted[target]++
		ev := h.events("request.refused", "refused", target)
		if len(ev) != counted[target] {
			t.Errorf("%s: %d refusals audited for %s, want %d", name, len(ev), target, counted[target])
			return
		}
		e := ev[len(ev)-1]
		if e.GetActor() != "agent:"+id {
			t.Errorf("%s: refusal by %q, want agent:%s", name, e.GetActor(), id)
		}
		for _, s := range says {
			if !strings.Contains(e.GetDetail(), s) {
				t.Errorf("%s: refusal %q does not say %q", name, e.GetDetail(), s)
			}
		}
	}
	for i := 0; i < len(forged); i += 2 {
		r := dialRaw(t, h.addr, cfg, hello).welcomed()
		one, two := forged[i], forged[i+1]
		r.send(one.msg)
		if err := r.probe(); err != nil {
			t.Fatalf("after %s, the first offence, the stream ended: %v; want it kept", one.name, err)
		}
		audited(one.name, one.target, one.says)
		r.send(two.msg)
		if err := r.ended(); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), id) {
			t.Errorf("after %s, the second offence, the stream ended with %v; want PermissionDenied naming agent %s", two.name, err, id)
		}
		audited(two.name, two.target, two.says)
	}

	ends := 0
	for _, e := range h.events("request.refused", "refused", "/idsync.v1.AgentService/Connect") {
		if e.GetActor() == "agent:"+id && strings.Contains(e.GetDetail(), "stream ends") {
			ends++
		}
	}
	if want := len(forged) / 2; ends != want {
		t.Errorf("%d streams ended on a second offence in the audit trail, want %d", ends, want)
	}
	for runID, was := range before {
		if now := h.run(runID); !proto.Equal(now, was) {
			t.Errorf("run %s changed: %v, was %v", runID, now, was)
		}
	}
	runs, err := h.admin.ListImports(h.ctx(), &idsyncv1.ListImportsRequest{Directory: "corp"})
	if err != nil || len(runs.GetRuns()) != 1 {
		t.Errorf("corp has runs %v (%v), want the first import alone: no reconciliation", runs.GetRuns(), err)
	}
	for dir, want := range map[string][]string{"corp": {"ann"}, "lab": nil} {
		users, err := h.admin.ListUsers(h.ctx(), &idsyncv1.ListUsersRequest{Directory: dir})
		var got []string
		for _, u := range users.GetUsers() {
			got = append(got, u.GetUsername())
		}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("users of %s = %v (%v), want %v", dir, got, err, want)
		}
	}
}

// TestAgentLateAnswers: what an honest agent sends about its stream's own
// commands after the hub moved on is no offence: batches and the failure of
// a run an admin cancelled, and the answer to a sign-in whose caller gave
// up. None is refused, and the stream survives them and one offence more.
func TestAgentLateAnswers(t *testing.T) {
	h := startHub(t, api.AgentOptions{Heartbeat: time.Second, Poll: 200 * time.Millisecond}, "")
	h.addDirectory("corp", "off")
	cfg, id := h.enroll("corp")
	r := dialRaw(t, h.addr, cfg, &idsyncv1.Hello{AgentId: id, Version: "dev", Directories: []string{"corp"},
		Capabilities: agent.Capabilities}).welcomed()

	runID := h.startFull("corp")
	start := r.command("StartImport of corp", isStart)
	r.send(userBatch(runID, 1, false, "ann"))
	if _, err := h.admin.CancelImport(h.ctx(), &idsyncv1.CancelImportRequest{Id: runID}); err != nil {
		t.Fatalf("CancelImport: %v", err)
	}
	r.command("CancelImport of run "+runID, func(c *idsyncv1.Command) bool { return c.GetCancelImport().GetRunId() == runID })
	// Sent before the agent heard of the cancel.
	r.send(userBatch(runID, 2, false, "bob"))
	r.send(result(&idsyncv1.CommandResult{CommandId: start.GetCommandId(), RunId: runID, Error: "context canceled"}))
	if err := r.probe(); err != nil {
		t.Fatalf("after a batch and the failure of a cancelled run, the stream ended: %v", err)
	}

	// A sign-in whose caller gives up before the agent answers.
	ctx, cancel := context.WithCancel(h.ctx())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := h.admin.Authenticate(ctx, &idsyncv1.AuthenticateRequest{Directory: "corp", Username: "ann", Password: "pw"})
		gaveUp <- err
	}()
	signIn := r.command("Authenticate", func(c *idsyncv1.Command) bool { return c.GetAuthenticate() != nil })
	cancel()
	<-gaveUp
	eventually.That(t, "the hub to stop waiting for the sign-in", func() (bool, string) {
		return len(h.events("authn.error", "", "user:ann@corp")) > 0, "no authn.error of user:ann@corp"
	})
	r.send(result(&idsyncv1.CommandResult{CommandId: signIn.GetCommandId(), AuthFailure: "invalid-credentials"}))
	if err := r.probe(); err != nil {
		t.Fatalf("after the late answer to a sign-in, the stream ended: %v", err)
	}

	resp, err := h.admin.ListAuditEvents(h.ctx(), &idsyncv1.ListAuditEventsRequest{Actor: "agent:" + id, Outcome: "refused"})
	if err != nil || len(resp.GetEvents()) != 0 {
		t.Errorf("refusals of the agent: %v (%v); want none", resp.GetEvents(), err)
	}
	if got := h.run(runID); got.GetState() != idsyncv1.RunState_RUN_STATE_CANCELLED || !strings.Contains(got.GetMessage(), "admin") {
		t.Errorf("run %s is %v (%q), want cancelled by an admin", runID, got.GetState(), got.GetMessage())
	}
	// None of the above counted: an offence now is refused, and is the
	// first.
	r.send(result(&idsyncv1.CommandResult{RunId: "987654321", Error: "forged"}))
	if err := r.probe(); err != nil {
		t.Errorf("after one offence the stream ended: %v; want it kept", err)
	}
	if ev := h.events("request.refused", "refused", "run:987654321"); len(ev) != 1 || !strings.Contains(ev[0].GetDetail(), "offence 1 ") {
		t.Errorf("refusals of the forged failure: %v; want one, the first offence on the stream", ev)
	}
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
		eventually.That(t, "the old stream's end in the audit trail", func() (bool, string) {
			replaced = slices.DeleteFunc(oldHub.events("agent.disconnect", "", "agent:"+id), func(e *idsyncv1.AuditEvent) bool {
				return !strings.Contains(e.GetDetail(), "replaced")
			})
			return len(replaced) > 0, "no agent.disconnect saying replaced"
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

// TestRenewedCertificateRetired: a renewed certificate is pending until
// the agent first connects with it (the old one still connects, should the
// renewal have been lost on the way); from then on the old one opens no
// stream (Unauthenticated, audited naming its serial); the stream that
// renewed goes on until the agent reconnects.
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

	// Until the renewed certificate is used, the one before still
	// connects: an agent whose stream broke before the renewal reached it
	// is not locked out. Its new stream replaces the renewing one.
	again := dialPEM(t, h.addr, oldCert, oldKey, caPEM, hello).welcomed()
	if err := renewing.ended(); status.Code(err) != codes.Aborted {
		t.Errorf("the renewing stream ended with %v once the agent connected again; want Aborted (replaced)", err)
	}

	// The renewed certificate's first use makes it the agent's, and
	// retires the one before.
	keyPEM, err := pki.MarshalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dialPEM(t, h.addr, newCert, keyPEM, caPEM, hello).welcomed()
	if err := again.ended(); status.Code(err) != codes.Aborted {
		t.Errorf("the stream with the old certificate ended with %v once the new one connected; want Aborted (replaced)", err)
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
}
