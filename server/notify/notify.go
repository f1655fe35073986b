package notify

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/secrets"
	"github.com/idsync/idsync/server/store"
)

// Store is what the service reads and writes of the hub's store.
type Store interface {
	CreateChannel(ctx context.Context, c *store.NotifyChannel) error
	GetChannel(ctx context.Context, name string) (*store.NotifyChannel, error)
	ListChannels(ctx context.Context) ([]*store.NotifyChannel, error)
	DeleteChannel(ctx context.Context, name string) error
	RecordNotice(ctx context.Context, n *store.Notice) (bool, error)
	DispatchNotices(ctx context.Context, now time.Time, limit int) (int, error)
	ClaimDeliveries(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*store.Delivery, error)
	ReleaseDeliveries(ctx context.Context, owner string, now time.Time) (int, error)
	DeliveryNotices(ctx context.Context, deliveryID int64, limit int) ([]*store.Notice, error)
	DeliveryCounts(ctx context.Context, deliveryID int64) ([]store.NoticeCount, error)
	FinishDelivery(ctx context.Context, id int64, owner string, now time.Time, d store.DeliveryEnd) error
	ListDeliveries(ctx context.Context, channelID int64, limit int) ([]*store.Delivery, error)
	RetryDeadDeliveries(ctx context.Context, channelID int64, now time.Time) (int, error)
	ListAgents(ctx context.Context) ([]*store.Agent, error)
}

var _ Store = store.Store(nil)

// Auditor writes audit events (server/audit.Log).
type Auditor interface {
	Event(ctx context.Context, action, target, detail string, args ...any)
}

// Options tune the service; the zero value suits production.
type Options struct {
	// Owner names this hub in delivery leases; a hub that starts again
	// under the same name takes back the deliveries it held at once.
	Owner string
	// PollInterval is how often notices are filed and due deliveries
	// sent (default 1 s).
	PollInterval time.Duration
	// WatchInterval is how often agents are checked (default 30 s).
	WatchInterval time.Duration
	// Lease is how long a claimed delivery is held (default 2 min; a send
	// is bounded by SendTimeout, below it).
	Lease time.Duration
	// SendTimeout bounds one attempt (default 30 s).
	SendTimeout time.Duration
	// MaxAttempts dead-letters a delivery after this many failed
	// attempts (default 8).
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the wait between attempts
	// (defaults 30 s and 30 min).
	MinBackoff, MaxBackoff time.Duration
	// AgentOfflineAfter is how long an agent may be silent before admins
	// are told (default 10 min).
	AgentOfflineAfter time.Duration
	// Listeners are the hub's own listen addresses: no channel sends to
	// them unless a super-admin allowed local addresses.
	Listeners []string
	// Now is the clock (tests).
	Now func() time.Time
}

// DefaultDigest is a channel's digest window when none is given.
const DefaultDigest = 5 * time.Minute

// CertExpiringWithin is how close to its end an agent's certificate is
// when admins are told.
const CertExpiringWithin = 14 * 24 * time.Hour

// MessageNotices is how many notices one message lists; it counts the
// rest.
const MessageNotices = 100

func (o Options) withDefaults() Options {
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), rand.Text()[:8])
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.PollInterval, time.Second)
	def(&o.WatchInterval, 30*time.Second)
	def(&o.SendTimeout, 30*time.Second)
	def(&o.Lease, 4*o.SendTimeout)
	def(&o.MinBackoff, 30*time.Second)
	def(&o.MaxBackoff, 30*time.Minute)
	def(&o.AgentOfflineAfter, 10*time.Minute)
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Config is what the service is built from.
type Config struct {
	Store Store
	// Box seals and opens the channels' secrets.
	Box     *secrets.Box
	Audit   Auditor
	Log     *slog.Logger
	Options Options
}

// Service manages the channels and delivers the notices.
type Service struct {
	st    Store
	box   *secrets.Box
	audit Auditor
	log   *slog.Logger
	opts  Options
}

// New returns the service.
func New(c Config) *Service {
	if c.Audit == nil {
		c.Audit = noAuditor{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{st: c.Store, box: c.Box, audit: c.Audit, log: c.Log.With("component", "notify"),
		opts: c.Options.withDefaults()}
}

type noAuditor struct{}

func (noAuditor) Event(context.Context, string, string, string, ...any) {}

// secretContext binds a channel's sealed secret to its name.
func secretContext(name string) string { return "notify-secret:" + name }

// Channel is a channel to add.
type Channel struct {
	Name string
	// SMTP or Webhook.
	SMTP    *store.SMTPConfig
	Webhook *store.WebhookConfig
	// Secret is the SMTP password or the webhook's signing secret ("" for
	// a webhook: Add draws one).
	Secret string
	// Events are the kinds sent (none: every kind).
	Events []string
	// Digest is the window notices gather in; nil: DefaultDigest.
	Digest *time.Duration
	// CAPEM replaces the system's CAs for the channel's server.
	CAPEM string
	// AllowLocalAddresses lets the channel reach local addresses.
	AllowLocalAddresses bool
}

// Add checks and stores a channel. For a webhook without a secret it
// draws one and returns it: the only time it is shown.
func (s *Service) Add(ctx context.Context, c Channel, by string) (*store.NotifyChannel, string, error) {
	name := strings.TrimSpace(c.Name)
	if name == "" || strings.ContainsAny(name, " \t\r\n/") {
		return nil, "", refusal.Invalidf("name %q: required, without spaces or slashes", c.Name)
	}
	nc := &store.NotifyChannel{Name: name, CAPEM: c.CAPEM, Digest: DefaultDigest, AllowLocal: c.AllowLocalAddresses}
	if c.Digest != nil {
		if *c.Digest < 0 || *c.Digest > 24*time.Hour {
			return nil, "", refusal.Invalidf("digest %s: must be between 0 (each event at once) and 24h", *c.Digest)
		}
		nc.Digest = *c.Digest
	}
	events, err := checkEvents(c.Events)
	if err != nil {
		return nil, "", err
	}
	nc.Events = events
	if c.CAPEM != "" {
		if !x509.NewCertPool().AppendCertsFromPEM([]byte(c.CAPEM)) {
			return nil, "", refusal.Invalidf("ca: no PEM certificate in it")
		}
	}
	drawn := ""
	switch {
	case (c.SMTP == nil) == (c.Webhook == nil):
		return nil, "", refusal.Invalidf("kind: give either an SMTP server (--smtp) or a webhook URL (--webhook)")
	case c.SMTP != nil:
		nc.Kind, nc.SMTP = store.ChannelSMTP, c.SMTP
		if err := s.checkSMTP(nc); err != nil {
			return nil, "", err
		}
		if c.Secret != "" && c.SMTP.Username == "" {
			return nil, "", refusal.Invalidf("password: given without a username (--username)")
		}
		if c.SMTP.Username != "" && c.Secret == "" {
			return nil, "", refusal.Invalidf("password: required with a username (--password-file)")
		}
		if c.SMTP.Username != "" && c.SMTP.TLS == TLSNone {
			return nil, "", refusal.Invalidf("tls none: a password is never sent in the clear; use starttls or tls")
		}
	default:
		nc.Kind, nc.Webhook = store.ChannelWebhook, c.Webhook
		if err := s.checkWebhook(nc); err != nil {
			return nil, "", err
		}
		if c.Secret == "" {
			drawn = "whsec_" + rand.Text() + rand.Text()
			c.Secret = drawn
		} else if len(c.Secret) < 16 {
			return nil, "", refusal.Invalidf("secret: at least 16 characters")
		}
	}
	if c.Secret != "" {
		nc.Secret = s.box.Seal([]byte(c.Secret), secretContext(name))
	}
	if err := s.st.CreateChannel(ctx, nc); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, "", refusal.Existsf("a notification channel is named %q: remove it first or pick another name", name)
		}
		return nil, "", fmt.Errorf("adding channel %s: %w", name, err)
	}
	s.log.Info("notification channel added", "channel", name, "kind", nc.Kind, "by", by)
	s.audit.Event(ctx, "notify.channel.create", "channel:"+name, "%s to %s, events %s, digest %s",
		nc.Kind, Destination(nc), strings.Join(nc.Events, ","), nc.Digest)
	return nc, drawn, nil
}

// checkEvents checks event kinds; none is every kind.
func checkEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return slices.Clone(store.NoticeKinds), nil
	}
	var out []string
	for _, e := range events {
		e = strings.TrimSpace(e)
		if !slices.Contains(store.NoticeKinds, e) {
			return nil, refusal.Invalidf("events: %q is not an event (one of %s)", e, strings.Join(store.NoticeKinds, ", "))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out, nil
}

// The TLS modes of an SMTP channel.
const (
	TLSStartTLS = "starttls"
	TLSImplicit = "tls"
	TLSNone     = "none"
)

func (s *Service) checkSMTP(c *store.NotifyChannel) error {
	m := c.SMTP
	if m.TLS == "" {
		m.TLS = TLSStartTLS
	}
	if !slices.Contains([]string{TLSStartTLS, TLSImplicit, TLSNone}, m.TLS) {
		return refusal.Invalidf("tls %q: must be starttls, tls or none", m.TLS)
	}
	host, port, err := net.SplitHostPort(m.Addr)
	if err != nil || host == "" {
		return refusal.Invalidf("smtp %q: want HOST:PORT (587 for starttls, 465 for tls)", m.Addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return refusal.Invalidf("smtp %q: port %q is not a port", m.Addr, port)
	}
	if err := s.checkHost(c, host, port); err != nil {
		return fmt.Errorf("smtp %q: %w", m.Addr, err)
	}
	a, err := mail.ParseAddress(m.From)
	if err != nil {
		return refusal.Invalidf("from %q: not an e-mail address", m.From)
	}
	m.From = a.Address
	if len(m.To) == 0 {
		return refusal.Invalidf("to: at least one recipient")
	}
	for i, to := range m.To {
		a, err := mail.ParseAddress(to)
		if err != nil {
			return refusal.Invalidf("to %q: not an e-mail address", to)
		}
		m.To[i] = a.Address
	}
	return nil
}

func (s *Service) checkWebhook(c *store.NotifyChannel) error {
	// The errors name the URL redacted: its path or query may hold a
	// token, and an error may reach a log.
	raw := c.Webhook.URL
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return refusal.Invalidf("webhook: not a URL (want https://HOST/PATH)")
	}
	if u.Scheme != "https" {
		return refusal.Invalidf("webhook %q: must be https://", RedactURL(raw))
	}
	if u.User != nil {
		return refusal.Invalidf("webhook %q: no credentials in the URL; the hub signs every request instead", RedactURL(raw))
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	if err := s.checkHost(c, u.Hostname(), port); err != nil {
		return fmt.Errorf("webhook %q: %w", RedactURL(raw), err)
	}
	return nil
}

// View is how much of a channel's destination an admin is shown.
type View int

const (
	// Redacted shows a webhook URL as its scheme and host alone
	// (RedactURL): a token in its path or query stays with those who
	// manage channels. The zero View.
	Redacted View = iota
	// Full shows the URL whole: to those who may manage channels
	// (notify.write).
	Full
)

// List returns the channels by name, as v shows them.
func (s *Service) List(ctx context.Context, v View) ([]*store.NotifyChannel, error) {
	cs, err := s.st.ListChannels(ctx)
	if err != nil {
		return nil, err
	}
	for i, c := range cs {
		cs[i] = v.channel(c)
	}
	return cs, nil
}

func (s *Service) channel(ctx context.Context, name string) (*store.NotifyChannel, error) {
	c, err := s.st.GetChannel(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, refusal.NotFoundf("no notification channel %q (see `idsyncctl notify list`)", name)
	}
	return c, err
}

// Get returns a channel and its newest deliveries, as v shows them.
func (s *Service) Get(ctx context.Context, name string, v View) (*store.NotifyChannel, []*store.Delivery, error) {
	c, err := s.channel(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	ds, err := s.st.ListDeliveries(ctx, c.ID, 20)
	if err != nil {
		return nil, nil, err
	}
	if v != Full && c.Webhook != nil {
		// An error recorded before errors named the URL redacted.
		for _, d := range ds {
			d.LastError = strings.ReplaceAll(d.LastError, c.Webhook.URL, RedactURL(c.Webhook.URL))
		}
	}
	return v.channel(c), ds, nil
}

// channel returns c as v shows it.
func (v View) channel(c *store.NotifyChannel) *store.NotifyChannel {
	if v == Full || c.Webhook == nil {
		return c
	}
	out, wh := *c, *c.Webhook
	wh.URL = RedactURL(wh.URL)
	out.Webhook = &wh
	return &out
}

// RedactURL is a webhook URL as logs, errors, the audit trail and the
// admins who may not manage channels see it: scheme://host, and "/…" for
// a path, query or fragment, where a receiver's token may sit.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(a URL that does not parse)"
	}
	r := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawPath != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		r += "/…"
	}
	return r
}

// Remove removes a channel; what it had not sent is dropped.
func (s *Service) Remove(ctx context.Context, name, by string) error {
	if err := s.st.DeleteChannel(ctx, name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return refusal.NotFoundf("no notification channel %q (see `idsyncctl notify list`)", name)
		}
		return err
	}
	s.log.Info("notification channel removed", "channel", name, "by", by)
	s.audit.Event(ctx, "notify.channel.delete", "channel:"+name, "")
	return nil
}

// Test sends a test message through a channel now, outside the queue,
// and returns what the server answered.
func (s *Service) Test(ctx context.Context, name, by string) (string, error) {
	c, err := s.channel(ctx, name)
	if err != nil {
		return "", err
	}
	now := s.opts.Now().UTC()
	msg := &message{Channel: c.Name, Delivery: 0, Notices: []*store.Notice{{Kind: store.NoticeChannelTest,
		Subject: c.Name, Detail: "a test message, sent by " + by + " with `idsyncctl notify test " + c.Name + "`", At: now}},
		Counts: []store.NoticeCount{{Kind: store.NoticeChannelTest, Count: 1}}, At: now}
	res, err := s.send(ctx, c, msg)
	if err != nil {
		s.audit.Event(ctx, "notify.channel.test", "channel:"+name, "failed: %v", err)
		return "", refusal.Unmetf("channel %s: the test message was not sent: %v", name, err)
	}
	s.audit.Event(ctx, "notify.channel.test", "channel:"+name, "sent: %s", res)
	return res, nil
}

// Retry puts a channel's dead deliveries back in the queue, due now with
// their attempts reset, and returns how many.
func (s *Service) Retry(ctx context.Context, name, by string) (int, error) {
	c, err := s.channel(ctx, name)
	if err != nil {
		return 0, err
	}
	n, err := s.st.RetryDeadDeliveries(ctx, c.ID, s.opts.Now())
	if err != nil {
		return 0, err
	}
	s.log.Info("dead notifications queued again", "channel", name, "deliveries", n, "by", by)
	s.audit.Event(ctx, "notify.channel.retry", "channel:"+name, "%d dead deliveries queued again", n)
	return n, nil
}

// Destination says where a channel sends, for logs, errors and the audit
// trail: its recipients, or its URL redacted (RedactURL).
func Destination(c *store.NotifyChannel) string {
	switch {
	case c.SMTP != nil:
		return strings.Join(c.SMTP.To, ",") + " via " + c.SMTP.Addr
	case c.Webhook != nil:
		return RedactURL(c.Webhook.URL)
	}
	return ""
}
