package notify_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/devstack"
	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/pki"
	"github.com/idsync/idsync/internal/smtptest"
	"github.com/idsync/idsync/server/notify"
	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/secrets"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// harness is a store, a service over it running its loop, and the CA the
// tests' servers are signed by.
type harness struct {
	st  store.Store
	svc *notify.Service
	ca  *pki.CA
	dir string
	// logs and audit are what the service logged and audited.
	logs  *devstack.SyncBuffer
	audit *auditRecorder
}

// auditRecorder keeps the audit events the service writes, formatted.
type auditRecorder struct {
	mu     sync.Mutex
	events []string
}

func (r *auditRecorder) Event(_ context.Context, action, target, detail string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, action+" "+target+" "+fmt.Sprintf(detail, args...))
}

func (r *auditRecorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.events, "\n")
}

func newHarness(t *testing.T, opts notify.Options) *harness {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	box, err := secrets.LoadOrCreate(filepath.Join(dir, "secrets.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 20 * time.Millisecond
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
	}
	opts.Owner = "test-hub"
	logs, audit := &devstack.SyncBuffer{}, &auditRecorder{}
	svc := notify.New(notify.Config{Store: st, Box: box, Options: opts, Audit: audit,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return &harness{st: st, svc: svc, ca: ca, dir: dir, logs: logs, audit: audit}
}

// run runs the service's loop until the test ends.
func (h *harness) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// serverTLS is a TLS config for 127.0.0.1 signed by the harness's CA.
func (h *harness) serverTLS(t *testing.T) *tls.Config {
	t.Helper()
	cert, err := h.ca.ServerCertificate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}

func (h *harness) record(t *testing.T, n ...store.Notice) {
	t.Helper()
	for i := range n {
		if _, err := h.st.RecordNotice(t.Context(), &n[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// deliveries returns a channel's deliveries.
func (h *harness) deliveries(t *testing.T, name string) []*store.Delivery {
	t.Helper()
	_, ds, err := h.svc.Get(t.Context(), name, notify.Full)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func dur(d time.Duration) *time.Duration { return &d }

// webhookReceiver verifies every request's signature and answers 503 to
// the first fail of them.
type webhookReceiver struct {
	secret string
	mu     sync.Mutex
	fail   int
	tries  int
	bad    []string
	got    []notify.Payload
	ids    []string
}

func (r *webhookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries++
	ts, sig := req.Header.Get(notify.HeaderTimestamp), req.Header.Get(notify.HeaderSignature)
	if !notify.Verify(r.secret, ts, body, sig) {
		r.bad = append(r.bad, fmt.Sprintf("signature %q of timestamp %q does not verify", sig, ts))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.fail > 0 {
		r.fail--
		http.Error(w, "not now", http.StatusServiceUnavailable)
		return
	}
	var p notify.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		r.bad = append(r.bad, err.Error())
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	r.got = append(r.got, p)
	r.ids = append(r.ids, req.Header.Get(notify.HeaderDelivery))
	w.WriteHeader(http.StatusNoContent)
}

func (r *webhookReceiver) payloads() ([]notify.Payload, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Payload(nil), r.got...), append([]string(nil), r.bad...)
}

// startWebhook serves r over TLS on loopback.
func (h *harness) startWebhook(t *testing.T, r *webhookReceiver) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(r)
	srv.TLS = h.serverTLS(t)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestWebhook: notices gathered in the digest window reach a receiver
// that verifies the signature in one signed request, after the receiver
// failed the first attempts; the delivery shows sent.
func TestWebhook(t *testing.T) {
	h := newHarness(t, notify.Options{})
	const secret = "a-webhook-signing-secret-0123456789"
	rcv := &webhookReceiver{secret: secret, fail: 2}
	url := h.startWebhook(t, rcv)
	if _, drawn, err := h.svc.Add(t.Context(), notify.Channel{Name: "hook", Webhook: &store.WebhookConfig{URL: url},
		Secret: secret, Digest: dur(300 * time.Millisecond), CAPEM: string(h.ca.CertPEM()), AllowLocalAddresses: true}, "test"); err != nil || drawn != "" {
		t.Fatalf("Add = drawn %q, %v; want a channel with the secret given", drawn, err)
	}
	h.record(t,
		store.Notice{Kind: store.NoticeTaskOpened, Subject: "ada", Ref: "task:1", Detail: "remove ada from crm by hand"},
		store.Notice{Kind: store.NoticeAppPaused, Subject: "crm", Ref: "app:1", Detail: "401 from the app"},
		store.Notice{Kind: store.NoticeImportPaused, Subject: "corp", Ref: "run:4", Detail: "would deprovision 40 of 100; idsyncctl import confirm 4"})
	h.run(t)
	eventually.That(t, "one delivery received", func() (bool, string) {
		got, bad := rcv.payloads()
		return len(got) == 1 || len(bad) > 0, fmt.Sprint(got, bad)
	})
	got, bad := rcv.payloads()
	if len(bad) != 0 {
		t.Fatalf("the receiver refused: %v", bad)
	}
	p := got[0]
	if p.Total != 3 || len(p.Events) != 3 || p.Events[0].Subject != "ada" || p.Events[2].Detail != "would deprovision 40 of 100; idsyncctl import confirm 4" {
		t.Errorf("payload = %+v; want the 3 events in order", p)
	}
	eventually.That(t, "the delivery sent", func() (bool, string) {
		ds := h.deliveries(t, "hook")
		return len(ds) == 1 && ds[0].State == store.DeliverySent, fmt.Sprint(ds)
	})
	if d := h.deliveries(t, "hook")[0]; d.Attempts != 3 || d.Events != 3 {
		t.Errorf("delivery = %+v; want 3 events sent at the 3rd attempt (2 refused)", d)
	}
	rcv.mu.Lock()
	tries := rcv.tries
	rcv.mu.Unlock()
	if tries != 3 {
		t.Errorf("the receiver saw %d requests, want 3", tries)
	}
}

// TestWebhookDeadLetter: a receiver that always fails dead-letters the
// delivery after MaxAttempts, with its last error, and no secret in it;
// an admin's retry sends it once the receiver answers.
func TestWebhookDeadLetter(t *testing.T) {
	h := newHarness(t, notify.Options{MaxAttempts: 3})
	const secret = "another-signing-secret-0123456789"
	rcv := &webhookReceiver{secret: secret, fail: 1000}
	url := h.startWebhook(t, rcv)
	if _, _, err := h.svc.Add(t.Context(), notify.Channel{Name: "hook", Webhook: &store.WebhookConfig{URL: url},
		Secret: secret, Digest: dur(0), CAPEM: string(h.ca.CertPEM()), AllowLocalAddresses: true}, "test"); err != nil {
		t.Fatal(err)
	}
	h.record(t, store.Notice{Kind: store.NoticePushDead, Subject: "ada", Ref: "job:3", Detail: "user push dead-lettered"})
	h.run(t)
	eventually.That(t, "the delivery dead", func() (bool, string) {
		ds := h.deliveries(t, "hook")
		return len(ds) == 1 && ds[0].State == store.DeliveryDead, fmt.Sprint(ds)
	})
	d := h.deliveries(t, "hook")[0]
	if d.Attempts != 3 || !strings.Contains(d.LastError, "503") || strings.Contains(d.LastError, secret) {
		t.Errorf("dead delivery = %+v; want 3 attempts, the 503 as its error, no secret", d)
	}
	// The receiver mended, an admin retries: the delivery goes.
	rcv.mu.Lock()
	rcv.fail = 0
	rcv.mu.Unlock()
	if n, err := h.svc.Retry(t.Context(), "hook", "admin:ops"); err != nil || n != 1 {
		t.Fatalf("Retry = %d, %v; want 1", n, err)
	}
	eventually.That(t, "the retried delivery sent", func() (bool, string) {
		ds := h.deliveries(t, "hook")
		return len(ds) == 1 && ds[0].State == store.DeliverySent, fmt.Sprint(ds)
	})
	if got, _ := rcv.payloads(); len(got) != 1 || got[0].Total != 1 {
		t.Errorf("received %+v; want the one notice once", got)
	}
}

// TestWebhookURLRedacted: a webhook URL may carry the receiver's token in
// its path or query: the full URL is shown to the view of those who manage
// channels alone; the other view, the errors of a test and of failed
// deliveries, the logs and the audit trail name it scheme://host/….
func TestWebhookURLRedacted(t *testing.T) {
	h := newHarness(t, notify.Options{MaxAttempts: 2})
	const secret = "a-signing-secret-0123456789abcdef"
	rcv := &webhookReceiver{secret: secret, fail: 1000}
	base := h.startWebhook(t, rcv)
	full := base + "/hooks/T0KEN-IN-PATH?token=T0KEN-IN-QUERY"
	redacted := base + "/…"
	if _, _, err := h.svc.Add(t.Context(), notify.Channel{Name: "pager", Webhook: &store.WebhookConfig{URL: full},
		Secret: secret, Digest: dur(0), CAPEM: string(h.ca.CertPEM()), AllowLocalAddresses: true}, "admin:root"); err != nil {
		t.Fatal(err)
	}
	_, testErr := h.svc.Test(t.Context(), "pager", "admin:root")
	if testErr == nil || !strings.Contains(testErr.Error(), "503") {
		t.Fatalf("Test against a 503 = %v, want the 503", testErr)
	}
	h.record(t, store.Notice{Kind: store.NoticePushDead, Subject: "ada", Ref: "job:3", Detail: "user push dead-lettered"})
	h.run(t)
	eventually.That(t, "the delivery dead", func() (bool, string) {
		ds := h.deliveries(t, "pager")
		return len(ds) == 1 && ds[0].State == store.DeliveryDead, fmt.Sprint(ds)
	})

	for _, c := range []struct {
		view notify.View
		want string
	}{{notify.Full, full}, {notify.Redacted, redacted}} {
		list, err := h.svc.List(t.Context(), c.view)
		if err != nil || len(list) != 1 || list[0].Webhook.URL != c.want {
			var urls []string
			for _, l := range list {
				urls = append(urls, l.Webhook.URL)
			}
			t.Errorf("List(view %d): URLs %q (%v), want %s", c.view, urls, err, c.want)
		}
		ch, ds, err := h.svc.Get(t.Context(), "pager", c.view)
		if err != nil || len(ds) != 1 {
			t.Fatalf("Get(view %d): %d deliveries (%v), want the dead one", c.view, len(ds), err)
		}
		if ch.Webhook.URL != c.want {
			t.Errorf("Get(view %d): URL %s, want %s", c.view, ch.Webhook.URL, c.want)
		}
		if !strings.Contains(ds[0].LastError, redacted) || strings.Contains(ds[0].LastError, "T0KEN") {
			t.Errorf("the dead delivery's error (view %d): %q, want the URL named %s", c.view, ds[0].LastError, redacted)
		}
	}
	if again, _, _ := h.svc.Get(t.Context(), "pager", notify.Full); again.Webhook.URL != full {
		t.Errorf("the stored URL after a redacted view: %s, want it whole", again.Webhook.URL)
	}
	for what, text := range map[string]string{"the test's error": testErr.Error(), "the logs": h.logs.String(), "the audit events": h.audit.all()} {
		if strings.Contains(text, "T0KEN") || !strings.Contains(text, redacted) {
			t.Errorf("%s hold the webhook's token, or do not name it %s:\n%s", what, redacted, text)
		}
	}
	if got := notify.RedactURL("https://hooks.example.org"); got != "https://hooks.example.org" {
		t.Errorf("RedactURL of a bare host = %q, want it as it is", got)
	}
}

// startSMTP serves a real SMTP server on loopback (internal/smtptest),
// with STARTTLS or implicit TLS signed by the harness's CA.
func (h *harness) startSMTP(t *testing.T, user, pass string, implicit bool) *smtptest.Server {
	t.Helper()
	return smtptest.Start(t, smtptest.Options{TLS: h.serverTLS(t), Implicit: implicit, User: user, Password: pass})
}

// body splits a message into its headers and decoded body.
func body(t *testing.T, m smtptest.Mail) (headers, text string) {
	t.Helper()
	headers, text, err := m.Split()
	if err != nil {
		t.Fatal(err)
	}
	return headers, text
}

// TestSMTP: a burst of 5,000 task notices is one e-mail per digest, sent
// over STARTTLS or implicit TLS with PLAIN authentication, that counts
// them all, lists the first MessageNotices and holds no password.
func TestSMTP(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tls      string
		implicit bool
	}{{"starttls", notify.TLSStartTLS, false}, {"implicit-tls", notify.TLSImplicit, true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, notify.Options{})
			pass := "the-smtp-password-" + tc.name
			srv := h.startSMTP(t, "idsync", pass, tc.implicit)
			addr := srv.Addr
			if _, _, err := h.svc.Add(t.Context(), notify.Channel{Name: "ops", SMTP: &store.SMTPConfig{Addr: addr, TLS: tc.tls,
				From: "idsync@example.org", To: []string{"it@example.org", "Oncall <oncall@example.org>"}, Username: "idsync"},
				Secret: pass, Digest: dur(time.Second), CAPEM: string(h.ca.CertPEM()), AllowLocalAddresses: true}, "test"); err != nil {
				t.Fatal(err)
			}
			const burst = 5000
			for i := range burst {
				h.record(t, store.Notice{Kind: store.NoticeTaskOpened, Subject: fmt.Sprintf("user%04d", i),
					Ref: fmt.Sprintf("task:%d", i+1), Detail: "remove the account by hand"})
			}
			h.run(t)
			eventually.That(t, "the digest sent", func() (bool, string) {
				ds := h.deliveries(t, "ops")
				return len(ds) == 1 && ds[0].State == store.DeliverySent, fmt.Sprint(ds)
			})
			ms := srv.Mails()
			if len(ms) != 1 {
				t.Fatalf("%d e-mails, want 1 digest", len(ms))
			}
			m := ms[0]
			if m.From != "idsync@example.org" || strings.Join(m.To, ",") != "it@example.org,oncall@example.org" || !m.Authenticated {
				t.Errorf("envelope = %q → %v (auth %v); want idsync@example.org → both recipients, authenticated", m.From, m.To, m.Authenticated)
			}
			headers, text := body(t, m)
			if !strings.Contains(headers, "Subject: [idsync] 5000 manual deprovision tasks opened") {
				t.Errorf("headers:\n%s\nwant the subject to count 5000 tasks", headers)
			}
			if !strings.Contains(text, "user0000") || !strings.Contains(text, "user0099") || strings.Contains(text, "user0100") ||
				!strings.Contains(text, "and 4900 more") || !strings.Contains(text, "idsyncctl task list") {
				t.Errorf("body lists the wrong notices or no remainder:\n%.2000s", text)
			}
			if strings.Contains(m.Data, pass) {
				t.Error("the e-mail holds the SMTP password")
			}
		})
	}
}

// TestChannelTest: notify test sends at once and says what the server
// answered; a server that refuses the password fails it with a clear
// error that holds no password.
func TestChannelTest(t *testing.T) {
	h := newHarness(t, notify.Options{})
	srv := h.startSMTP(t, "idsync", "right-password", false)
	addr := srv.Addr
	for name, pass := range map[string]string{"good": "right-password", "bad": "wrong-password"} {
		if _, _, err := h.svc.Add(t.Context(), notify.Channel{Name: name, SMTP: &store.SMTPConfig{Addr: addr,
			From: "idsync@example.org", To: []string{"it@example.org"}, Username: "idsync"}, Secret: pass,
			CAPEM: string(h.ca.CertPEM()), AllowLocalAddresses: true}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	res, err := h.svc.Test(t.Context(), "good", "admin:ops")
	if err != nil || !strings.Contains(res, "accepted by "+addr) {
		t.Errorf("Test(good) = %q, %v; want accepted", res, err)
	}
	if ms := srv.Mails(); len(ms) != 1 || !strings.Contains(ms[0].Data, "[idsync] 1 test message") {
		t.Errorf("mails = %+v; want the test message", ms)
	}
	_, err = h.svc.Test(t.Context(), "bad", "admin:ops")
	if r, ok := refusal.As(err); !ok || r.Kind != refusal.Unmet || !strings.Contains(err.Error(), "authenticating as idsync") ||
		strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("Test(bad) = %v; want an unmet refusal naming the authentication, without the password", err)
	}
}

// TestAddRefuses: what a channel may not be, each refused naming the
// field.
func TestAddRefuses(t *testing.T) {
	h := newHarness(t, notify.Options{Listeners: []string{"192.0.2.7:7443"}})
	for _, tc := range []struct {
		name string
		c    notify.Channel
		want string
	}{
		{"plain http", notify.Channel{Name: "a", Webhook: &store.WebhookConfig{URL: "http://hooks.example.org/x"}}, "must be https://"},
		{"loopback", notify.Channel{Name: "a", Webhook: &store.WebhookConfig{URL: "https://127.0.0.1:8443/x"}}, "--allow-local-addresses"},
		{"localhost", notify.Channel{Name: "a", SMTP: &store.SMTPConfig{Addr: "localhost:25", From: "a@b.c", To: []string{"d@e.f"}}}, "loopback"},
		{"link-local", notify.Channel{Name: "a", Webhook: &store.WebhookConfig{URL: "https://169.254.169.254/latest"}}, "link-local"},
		{"hub listener", notify.Channel{Name: "a", Webhook: &store.WebhookConfig{URL: "https://192.0.2.7:7443/"}}, "hub's own listeners"},
		{"credentials in URL", notify.Channel{Name: "a", Webhook: &store.WebhookConfig{URL: "https://u:p@hooks.example.org/"}}, "no credentials"},
		{"both kinds", notify.Channel{Name: "a", Webhook: &store.WebhookConfig{URL: "https://hooks.example.org/"},
			SMTP: &store.SMTPConfig{Addr: "mail.example.org:587"}}, "either"},
		{"unknown event", notify.Channel{Name: "a", Webhook: &store.WebhookConfig{URL: "https://hooks.example.org/"},
			Events: []string{"task.opened", "user.created"}}, `"user.created" is not an event`},
		{"password in the clear", notify.Channel{Name: "a", SMTP: &store.SMTPConfig{Addr: "mail.example.org:25", TLS: "none",
			From: "a@b.c", To: []string{"d@e.f"}, Username: "u"}, Secret: "pw"}, "never sent in the clear"},
		{"no recipient", notify.Channel{Name: "a", SMTP: &store.SMTPConfig{Addr: "mail.example.org:587", From: "a@b.c"}}, "to: at least one"},
		{"bad sender", notify.Channel{Name: "a", SMTP: &store.SMTPConfig{Addr: "mail.example.org:587", From: "nobody", To: []string{"d@e.f"}}}, "from \"nobody\""},
		{"long digest", notify.Channel{Name: "a", Webhook: &store.WebhookConfig{URL: "https://hooks.example.org/"}, Digest: dur(48 * time.Hour)}, "digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := h.svc.Add(t.Context(), tc.c, "test")
			if _, ok := refusal.As(err); !ok || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Add = %v; want a refusal saying %q", err, tc.want)
			}
		})
	}
	if l, err := h.svc.List(t.Context(), notify.Full); err != nil || len(l) != 0 {
		t.Errorf("List = %v, %v; want no channel added", l, err)
	}
}

// TestWatch: an agent silent for longer than AgentOfflineAfter and one
// whose certificate expires within 14 days are each recorded once,
// however often the hub looks.
func TestWatch(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	h := newHarness(t, notify.Options{AgentOfflineAfter: 10 * time.Minute, Now: func() time.Time { return now }})
	ctx := t.Context()
	for _, a := range []*store.Agent{
		{ID: "ag-quiet", Name: "dc1", CertSerial: "1", CertExpiresAt: now.Add(200 * 24 * time.Hour)},
		{ID: "ag-expiring", Name: "dc2", CertSerial: "2", CertExpiresAt: now.Add(3 * 24 * time.Hour)},
		{ID: "ag-fine", Name: "dc3", CertSerial: "3", CertExpiresAt: now.Add(200 * 24 * time.Hour)},
	} {
		if err := h.st.CreateAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(h.st.AgentConnected(ctx, "ag-quiet", "s1", "1.0", nil, now.Add(-time.Hour)))
	must(h.st.AgentDisconnected(ctx, "ag-quiet", "s1", now.Add(-time.Hour)))
	must(h.st.AgentConnected(ctx, "ag-expiring", "s2", "1.0", nil, now.Add(-time.Minute)))
	must(h.st.AgentConnected(ctx, "ag-fine", "s3", "1.0", nil, now.Add(-time.Minute)))
	srv := h.startSMTP(t, "", "", false)
	addr := srv.Addr
	if _, _, err := h.svc.Add(ctx, notify.Channel{Name: "ops", SMTP: &store.SMTPConfig{Addr: addr, From: "idsync@example.org",
		To: []string{"it@example.org"}}, Digest: dur(0), CAPEM: string(h.ca.CertPEM()), AllowLocalAddresses: true,
		Events: []string{store.NoticeAgentOffline, store.NoticeCertExpiring}}, "test"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		must(h.svc.Watch(ctx))
	}
	must(h.svc.Step(ctx))
	ms := srv.Mails()
	if len(ms) != 1 {
		t.Fatalf("%d e-mails, want 1", len(ms))
	}
	headers, text := body(t, ms[0])
	if !strings.Contains(headers, "1 agent offline, 1 agent certificate expiring") || !strings.Contains(text, "dc1") ||
		!strings.Contains(text, "dc2") || strings.Contains(text, "dc3") {
		t.Errorf("e-mail:\n%s\n%s\nwant dc1 offline and dc2's certificate, once each, and nothing of dc3", headers, text)
	}
}
