package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"strconv"
	"strings"

	"github.com/idsync/idsync/server/store"
)

// send sends one message through channel c and returns what the server
// answered. Errors never hold the channel's secret.
func (s *Service) send(ctx context.Context, c *store.NotifyChannel, m *message) (string, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var secret string
	if len(c.Secret) > 0 {
		b, err := s.box.Open(c.Secret, secretContext(c.Name))
		if err != nil {
			return "", fmt.Errorf("opening the channel's secret: %w", err)
		}
		secret = string(b)
	}
	switch c.Kind {
	case store.ChannelSMTP:
		return s.sendMail(ctx, c, secret, m)
	case store.ChannelWebhook:
		return s.post(ctx, c, secret, m)
	}
	return "", fmt.Errorf("channel %s: unknown kind %q", c.Name, c.Kind)
}

// sendMail sends m over SMTP: implicit TLS, or STARTTLS (refusing a
// server that does not offer it), or in the clear when the channel says
// none; PLAIN authentication only over TLS.
func (s *Service) sendMail(ctx context.Context, c *store.NotifyChannel, password string, m *message) (string, error) {
	cfg := c.SMTP
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return "", fmt.Errorf("smtp %s: %w", cfg.Addr, err)
	}
	tc, err := tlsConfig(c, host)
	if err != nil {
		return "", err
	}
	d := s.dialer(c)
	var conn net.Conn
	if cfg.TLS == TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: d, Config: tc}).DialContext(ctx, "tcp", cfg.Addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", cfg.Addr)
	}
	if err != nil {
		return "", fmt.Errorf("connecting to %s: %w", cfg.Addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	cl, err := smtp.NewClient(conn, host)
	if err != nil {
		return "", fmt.Errorf("smtp %s: greeting: %w", cfg.Addr, err)
	}
	defer cl.Close()
	if err := cl.Hello("idsync-hub"); err != nil {
		return "", fmt.Errorf("smtp %s: EHLO: %w", cfg.Addr, err)
	}
	if cfg.TLS == TLSStartTLS {
		if ok, _ := cl.Extension("STARTTLS"); !ok {
			return "", fmt.Errorf("smtp %s: the server does not offer STARTTLS; the channel asks for it (use --tls none only on a trusted network)", cfg.Addr)
		}
		if err := cl.StartTLS(tc); err != nil {
			return "", fmt.Errorf("smtp %s: STARTTLS: %w", cfg.Addr, err)
		}
	}
	if cfg.Username != "" {
		if err := cl.Auth(smtp.PlainAuth("", cfg.Username, password, host)); err != nil {
			return "", fmt.Errorf("smtp %s: authenticating as %s: %w", cfg.Addr, cfg.Username, err)
		}
	}
	body, err := m.Mail(cfg.From, cfg.To, "idsync")
	if err != nil {
		return "", err
	}
	if err := cl.Mail(cfg.From); err != nil {
		return "", fmt.Errorf("smtp %s: MAIL FROM %s: %w", cfg.Addr, cfg.From, err)
	}
	for _, to := range cfg.To {
		if err := cl.Rcpt(to); err != nil {
			return "", fmt.Errorf("smtp %s: RCPT TO %s: %w", cfg.Addr, to, err)
		}
	}
	w, err := cl.Data()
	if err != nil {
		return "", fmt.Errorf("smtp %s: DATA: %w", cfg.Addr, err)
	}
	if _, err := w.Write(body); err != nil {
		return "", fmt.Errorf("smtp %s: writing the message: %w", cfg.Addr, err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("smtp %s: the message was refused: %w", cfg.Addr, err)
	}
	_ = cl.Quit()
	return fmt.Sprintf("accepted by %s for %d recipients", cfg.Addr, len(cfg.To)), nil
}

// The headers of a webhook request.
const (
	// HeaderSignature is "v1=" and the hex HMAC-SHA256, keyed with the
	// channel's secret, of the timestamp header's value, ".", and the
	// body.
	HeaderSignature = "X-Idsync-Signature"
	// HeaderTimestamp is the Unix time of the request, in seconds: a
	// receiver refuses one too old (a replay).
	HeaderTimestamp = "X-Idsync-Timestamp"
	// HeaderDelivery is the delivery's id: a repeat has the same.
	HeaderDelivery = "X-Idsync-Delivery"
)

// Sign returns the X-Idsync-Signature of a request.
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a request's signature in constant time.
func Verify(secret, timestamp string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature))
}

// post sends m to a webhook: a signed POST of its JSON; any 2xx is
// delivered, anything else is an error.
func (s *Service) post(ctx context.Context, c *store.NotifyChannel, secret string, m *message) (string, error) {
	body, err := m.JSON()
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Webhook.URL, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("webhook: %w", err)
	}
	ts := strconv.FormatInt(s.opts.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "idsync-hub")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderDelivery, strconv.FormatInt(m.Delivery, 10))
	req.Header.Set(HeaderSignature, Sign(secret, ts, body))
	resp, err := s.webhookClient(c).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is said once, redacted, below
		}
		return "", fmt.Errorf("POST %s: %w", Destination(c), err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("POST %s: %s %s", Destination(c), resp.Status, strings.TrimSpace(strings.ToValidUTF8(string(snippet), "?")))
	}
	return fmt.Sprintf("%s answered %s", Destination(c), resp.Status), nil
}

// webhookClient checks every address it connects to, uses no proxy and
// follows no redirect.
func (s *Service) webhookClient(c *store.NotifyChannel) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = s.dialer(c).DialContext
	t.Proxy = nil
	t.DisableKeepAlives = true
	if u, err := urlHost(c.Webhook.URL); err == nil {
		if tc, err := tlsConfig(c, u); err == nil {
			t.TLSClientConfig = tc
		}
	}
	return &http.Client{Transport: t, Timeout: s.opts.SendTimeout,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			return fmt.Errorf("the webhook redirected to %s; idsync follows no redirect", RedactURL(req.URL.String()))
		}}
}
