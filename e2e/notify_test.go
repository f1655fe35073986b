//go:build linux

package e2e

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/pki"
	"github.com/idsync/idsync/internal/smtptest"
)

// The notification tests (issue 16) drive the real binaries: manual
// deprovision tasks opened by the hub reach a webhook as one signed digest,
// even when the hub is killed with SIGKILL between the events and the
// delivery.

// notifyArgs make the hub's notification queue poll and retry quickly.
var notifyArgs = []string{"--notify-poll-interval", "200ms", "--notify-min-backoff", "200ms", "--notify-max-backoff", "1s"}

// hookReceiver is a webhook endpoint that checks every request's
// X-Idsync-Signature itself (HMAC-SHA256 of timestamp "." body, as
// docs/notifications.md tells a receiver to) and answers 503 to the first
// fail requests.
type hookReceiver struct {
	secret string
	mu     sync.Mutex
	fail   int
	tries  int
	bad    []string
	got    []hookPayload
}

type hookPayload struct {
	Delivery int64  `json:"delivery"`
	Channel  string `json:"channel"`
	Subject  string `json:"subject"`
	Total    int64  `json:"total"`
	Events   []struct {
		Kind    string `json:"kind"`
		App     string `json:"app"`
		Subject string `json:"subject"`
		Ref     string `json:"ref"`
		Detail  string `json:"detail"`
	} `json:"events"`
}

func (r *hookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries++
	ts := req.Header.Get("X-Idsync-Timestamp")
	mac := hmac.New(sha256.New, []byte(r.secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(req.Header.Get("X-Idsync-Signature"))) {
		r.bad = append(r.bad, "a request whose signature does not verify")
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.fail > 0 {
		r.fail--
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	var p hookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		r.bad = append(r.bad, err.Error())
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	if fmt.Sprint(p.Delivery) != req.Header.Get("X-Idsync-Delivery") {
		r.bad = append(r.bad, fmt.Sprintf("delivery %d in the body, %q in X-Idsync-Delivery", p.Delivery, req.Header.Get("X-Idsync-Delivery")))
	}
	r.got = append(r.got, p)
	w.WriteHeader(http.StatusNoContent)
}

func (r *hookReceiver) state() (tries int, got []hookPayload, bad []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tries, slices.Clone(r.got), slices.Clone(r.bad)
}

// startHook serves a hookReceiver over TLS on loopback that fails its
// first fail requests, and returns it with its URL and the file of its CA.
// The secret is one no log or output may hold.
func (p *provEnv) startHook(secret string, fail int) (*hookReceiver, string, string) {
	p.s.t.Helper()
	p.secrets["the webhook signing secret"] = secret
	rcv := &hookReceiver{secret: secret, fail: fail}
	srv := httptest.NewTLSServer(rcv)
	p.s.root.Cleanup(srv.Close)
	caFile := filepath.Join(p.s.dir, "hook-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		p.s.t.Fatal(err)
	}
	return rcv, srv.URL + "/idsync", caFile
}

type channelJSON struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Webhook    string `json:"webhook"`
	HasSecret  bool   `json:"has_secret"`
	Deliveries []struct {
		ID        int64  `json:"id"`
		State     string `json:"state"`
		Events    int64  `json:"events"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
	} `json:"deliveries"`
}

// TestNotifyHubKilled: three members deleted in LDAP open three manual
// deprovision tasks; the hub is killed with SIGKILL while the channel's
// digest gathers them, before anything was sent; after a restart the
// webhook receives them all in one signed request (after refusing the
// first), and nothing is sent twice.
func TestNotifyHubKilled(t *testing.T) {
	p := newProvEnv(t, 6, 5, notifyArgs...)
	p.addApp("crm", "--allow", "create,update")
	ms := p.assignGroup("crm")
	secret := "whsec-" + strings.Repeat("k", 8) + fmt.Sprint(time.Now().UnixNano())
	rcv, hookURL, caFile := p.startHook(secret, 1)
	gone := ms[:3]
	var ch channelJSON

	p.s.step("a webhook channel is added", func(t *testing.T) {
		p.s.mustCtl("notify", "add", "ops", "--webhook", hookURL, "--secret-file", p.secretFile("hook.secret", secret),
			"--events", "task.opened", "--digest", "15s", "--ca", caFile, "--allow-local-addresses")
		out := p.s.mustCtl("notify", "list")
		if !strings.Contains(out, "ops") || !strings.Contains(out, hookURL) || strings.Contains(out, secret) {
			t.Errorf("notify list:\n%s\nwant ops and its URL, never its secret", out)
		}
	})
	p.s.step("notify test reaches the receiver at once", func(t *testing.T) {
		// The receiver refuses the first request (503): the test says so.
		if r := p.s.ctl("notify", "test", "ops"); r.Code == 0 || !strings.Contains(r.Stderr, "503") {
			t.Errorf("notify test against a 503: exit %d, %s; want it to fail naming the 503", r.Code, r.Stderr)
		}
		if out := p.s.mustCtl("notify", "test", "ops"); !strings.Contains(out, "test message sent through ops") || !strings.Contains(out, "answered 204") {
			t.Errorf("notify test: %s", out)
		}
		rcv.mu.Lock()
		rcv.fail = 1 // and the digest's first attempt
		rcv.mu.Unlock()
	})
	p.s.step("the hub killed while the digest gathers three tasks", func(t *testing.T) {
		for _, m := range gone {
			if err := p.ep.Delete(t.Context(), m.dn); err != nil {
				t.Fatal(err)
			}
		}
		eventually.That(t, "three tasks gathered in the digest", func() (bool, string) {
			p.s.ctlJSON(&ch, "notify", "show", "ops")
			return len(ch.Deliveries) == 1 && ch.Deliveries[0].State == "collecting" && ch.Deliveries[0].Events == 3, fmt.Sprint(ch.Deliveries)
		})
		p.killHub()
		if tries, got, _ := rcv.state(); tries != 2 || len(got) != 1 {
			t.Fatalf("the receiver had %d requests (%d accepted) at the kill; want only the two tests: the digest went before the kill", tries, len(got))
		}
	})
	p.s.step("after a restart one digest holds the three tasks", func(t *testing.T) {
		if err := p.s.hub.Restart(p.s.root.Context()); err != nil {
			t.Fatalf("restarting the hub: %v", err)
		}
		eventually.Within(t, 40*time.Second, "the digest sent", func() (bool, string) {
			p.s.ctlJSON(&ch, "notify", "show", "ops")
			return len(ch.Deliveries) == 1 && ch.Deliveries[0].State == "sent", fmt.Sprint(ch.Deliveries)
		})
		_, got, bad := rcv.state()
		if len(bad) != 0 {
			t.Errorf("the receiver refused: %v", bad)
		}
		var digests []hookPayload
		for _, g := range got {
			if g.Delivery != 0 {
				digests = append(digests, g)
			}
		}
		if len(digests) != 1 || digests[0].Total != 3 || len(digests[0].Events) != 3 || digests[0].Delivery != ch.Deliveries[0].ID {
			t.Fatalf("digests received = %+v; want one, delivery %d, with the three tasks", digests, ch.Deliveries[0].ID)
		}
		var users []string
		for _, e := range digests[0].Events {
			if e.Kind != "task.opened" || e.App != "crm" || !strings.HasPrefix(e.Ref, "task:") {
				t.Errorf("event %+v: want a task.opened of crm", e)
			}
			users = append(users, e.Subject)
		}
		slices.Sort(users)
		want := []string{gone[0].uid, gone[1].uid, gone[2].uid}
		slices.Sort(want)
		if !slices.Equal(users, want) {
			t.Errorf("the digest names %v, want the deleted members %v", users, want)
		}
		if !strings.Contains(digests[0].Subject, "3 manual deprovision tasks opened") {
			t.Errorf("subject %q", digests[0].Subject)
		}
	})
	p.s.step("nothing is sent twice", func(t *testing.T) {
		// A test message after the digest is the next request: no repeat
		// of the digest came between.
		p.s.mustCtl("notify", "test", "ops")
		tries, got, _ := rcv.state()
		var ids []int64
		for _, g := range got {
			ids = append(ids, g.Delivery)
		}
		if want := []int64{0, ch.Deliveries[0].ID, 0}; !slices.Equal(ids, want) || tries != 5 {
			t.Errorf("the receiver got deliveries %v in %d requests; want %v in 5 (two 503s, the digest once)", ids, tries, want)
		}
		if ch.Deliveries[0].Attempts != 2 {
			t.Errorf("the digest took %d attempts, want 2 (the first refused)", ch.Deliveries[0].Attempts)
		}
	})
	p.s.step("the channel removed", func(t *testing.T) {
		p.s.mustCtl("notify", "remove", "ops")
		if r := p.s.ctl("notify", "show", "ops"); r.Code == 0 || !strings.Contains(r.Stderr, "no notification channel") {
			t.Errorf("notify show after remove: exit %d, %s", r.Code, r.Stderr)
		}
	})
}

// TestNotifyAgentOffline: an agent stopped for longer than
// --agent-offline-after is told to the channel that wants it; the
// receiver refusing every attempt dead-letters the delivery, visible in
// notify show, and notify retry sends it once the receiver answers. A
// read-only admin lists and shows the channels, their URL redacted, but
// may not change one.
func TestNotifyAgentOffline(t *testing.T) {
	p := newProvEnv(t, 2, 1, append(slices.Clone(notifyArgs), "--agent-offline-after", "6s", "--notify-watch-interval", "500ms",
		"--notify-max-attempts", "2")...)
	secret := "whsec-offline-" + fmt.Sprint(time.Now().UnixNano())
	rcv, hookURL, caFile := p.startHook(secret, 2)
	p.s.step("a channel for agents", func(t *testing.T) {
		p.s.mustCtl("notify", "add", "oncall", "--webhook", hookURL, "--secret-file", p.secretFile("oncall.secret", secret),
			"--events", "agent.offline", "--digest", "0", "--ca", caFile, "--allow-local-addresses")
	})
	p.s.step("a read-only admin reads, never changes", func(t *testing.T) {
		reader := p.s.as(strings.TrimSpace(p.s.mustCtl("admin", "token", "create", "--name", "auditor", "--role", "read-only")))
		// The URL's path or query may hold the receiver's token: a role
		// that does not manage channels sees scheme://host/….
		redacted := strings.TrimSuffix(hookURL, "/idsync") + "/…"
		for _, cmd := range [][]string{{"notify", "show", "oncall"}, {"notify", "list"}} {
			if out := p.s.mustCtl(append(cmd, reader...)...); !strings.Contains(out, redacted) || strings.Contains(out, "/idsync") ||
				(cmd[1] == "show" && !strings.Contains(out, "sealed on the hub")) || strings.Contains(out, secret) {
				t.Errorf("%s as read-only:\n%s\nwant the URL as %s (and a sealed secret), never its path nor the secret", strings.Join(cmd, " "), out, redacted)
			}
		}
		if out := p.s.mustCtl("notify", "show", "oncall"); !strings.Contains(out, hookURL) {
			t.Errorf("notify show as super-admin:\n%s\nwant the URL whole, %s", out, hookURL)
		}
		r := p.s.ctl(append([]string{"notify", "add", "mine", "--webhook", hookURL, "--allow-local-addresses"}, reader...)...)
		if r.Code == 0 || !strings.Contains(r.Stderr, "notify.write") {
			t.Errorf("notify add as read-only: exit %d, %s; want refused for lack of notify.write", r.Code, r.Stderr)
		}
		if r := p.s.ctl(append([]string{"notify", "remove", "oncall"}, reader...)...); r.Code == 0 {
			t.Errorf("notify remove as read-only: exit 0, want refused")
		}
	})
	var ch channelJSON
	p.s.step("the agent stopped: told, refused, dead-lettered", func(t *testing.T) {
		if tries, _, _ := rcv.state(); tries != 0 {
			t.Fatalf("the receiver had %d requests while the agent ran: want none", tries)
		}
		if err := p.a.proc.Stop(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		eventually.Within(t, 30*time.Second, "the delivery dead after 2 attempts", func() (bool, string) {
			p.s.ctlJSON(&ch, "notify", "show", "oncall")
			return len(ch.Deliveries) == 1 && ch.Deliveries[0].State == "dead", fmt.Sprint(ch.Deliveries)
		})
		if d := ch.Deliveries[0]; d.Attempts != 2 || !strings.Contains(d.LastError, "503") {
			t.Errorf("dead delivery %+v; want 2 attempts ending in the 503", d)
		}
		if tries, got, _ := rcv.state(); tries != 2 || len(got) != 0 {
			t.Errorf("the receiver had %d requests, %d accepted; want 2 refused", tries, len(got))
		}
	})
	p.s.step("notify retry sends it", func(t *testing.T) {
		if out := p.s.mustCtl("notify", "retry", "oncall"); !strings.Contains(out, "1 dead deliveries of oncall queued again") {
			t.Errorf("notify retry: %s", out)
		}
		eventually.That(t, "the retried delivery sent", func() (bool, string) {
			p.s.ctlJSON(&ch, "notify", "show", "oncall")
			return len(ch.Deliveries) == 1 && ch.Deliveries[0].State == "sent", fmt.Sprint(ch.Deliveries)
		})
		_, got, bad := rcv.state()
		if len(bad) != 0 || len(got) != 1 || got[0].Total != 1 || got[0].Events[0].Kind != "agent.offline" ||
			got[0].Events[0].Ref != "agent:"+p.a.id || !strings.Contains(got[0].Events[0].Detail, "has not been heard from") {
			t.Fatalf("received %+v (refused %v); want one agent.offline of agent %s", got, bad, p.a.id)
		}
	})
}

// TestNotifyAppPausedMail: an app that answers 401 is paused, and the
// e-mail channel's SMTP server (a real one, over STARTTLS with PLAIN
// authentication) receives one message saying so, naming the app and the
// 401, and holding neither the SMTP password nor the app's token.
func TestNotifyAppPausedMail(t *testing.T) {
	p := newProvEnv(t, 4, 3, notifyArgs...)
	p.addApp("crm")
	ms := p.assignGroup("crm")
	ca, err := pki.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(p.s.dir, "smtp-ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	password := "smtp-" + rand.Text()
	p.secrets["the SMTP password"] = password
	mail := smtptest.Start(t, smtptest.Options{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, User: "idsync", Password: password})

	p.s.step("an e-mail channel", func(t *testing.T) {
		p.s.mustCtl("notify", "add", "ops-mail", "--smtp", mail.Addr, "--from", "idsync@example.org",
			"--to", "it-ops@example.org", "--to", "oncall@example.org", "--username", "idsync",
			"--password-file", p.secretFile("smtp.password", password), "--events", "app.paused,push.dead", "--digest", "2s",
			"--ca", caFile, "--allow-local-addresses")
		out := p.s.mustCtl("notify", "show", "ops-mail")
		if !strings.Contains(out, mail.Addr+" (starttls)") || !strings.Contains(out, "sealed on the hub") {
			t.Errorf("notify show:\n%s\nwant the server over starttls and a sealed password", out)
		}
	})
	p.s.step("a 401 pauses the app, and the channel is told", func(t *testing.T) {
		p.scim.AddToken("scim-other-" + rand.Text())
		p.scim.RevokeToken(p.token)
		if err := p.ep.Modify(t.Context(), replace(ms[0].dn, "title", "Paused Title")); err != nil {
			t.Fatal(err)
		}
		eventually.That(t, "an e-mail", func() (bool, string) { return len(mail.Mails()) > 0, "none" })
		got := mail.Mails()
		if len(got) != 1 {
			t.Fatalf("%d e-mails, want 1", len(got))
		}
		m := got[0]
		headers, body, err := m.Split()
		if err != nil {
			t.Fatal(err)
		}
		if !m.Authenticated || m.From != "idsync@example.org" || strings.Join(m.To, ",") != "it-ops@example.org,oncall@example.org" {
			t.Errorf("envelope %q → %v (authenticated %v)", m.From, m.To, m.Authenticated)
		}
		if !strings.Contains(headers, "Subject: [idsync] 1 app paused") || !strings.Contains(body, "app paused, app crm") ||
			!strings.Contains(body, "401") || !strings.Contains(body, "idsyncctl app update") {
			t.Errorf("e-mail:\n%s\n\n%s\nwant crm paused with the 401 and what to do", headers, body)
		}
		for what, secret := range map[string]string{"the SMTP password": password, "the SCIM token": p.token} {
			if strings.Contains(m.Data, secret) {
				t.Errorf("the e-mail holds %s", what)
			}
		}
	})
}
