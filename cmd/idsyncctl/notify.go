package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// The notification commands (server/notify): channels that tell admins, by
// e-mail or webhook, what needs them.
func init() {
	commands = append(commands,
		command{"notify add", "add a notification channel: NAME (--smtp HOST:PORT --from ADDR --to ADDR… | --webhook URL) [--events E,…] [--digest 5m] (notify add -h)", notifyAdd},
		command{"notify list", "list notification channels", notifyList},
		command{"notify show", "show a channel and its recent deliveries (sent, queued, dead): NAME", notifyShow},
		command{"notify remove", "remove a channel (what it has not sent is dropped): NAME", notifyRemove},
		command{"notify test", "send a test message through a channel now: NAME", notifyTest},
		command{"notify retry", "queue a channel's dead-lettered deliveries again: NAME", notifyRetry},
	)
}

func notifyAdd(c *cli, args []string) error {
	fs := c.flags("notify add")
	smtpAddr := fs.String("smtp", "", "e-mail through the SMTP server `HOST:PORT` (587 with starttls, 465 with tls)")
	tlsMode := fs.String("tls", "starttls", "SMTP transport `MODE`: starttls, tls (implicit, port 465) or none (no password then)")
	from := fs.String("from", "", "SMTP: the sender's `ADDRESS`")
	var to multiFlag
	fs.Var(&to, "to", "SMTP: a recipient's `ADDRESS` (repeat, or comma-separated)")
	user := fs.String("username", "", "SMTP: authenticate as `USER` (PLAIN, over TLS only), with --password-file")
	passFile := fs.String("password-file", "", "SMTP: the `FILE` holding the password (sealed on the hub, never shown)")
	webhook := fs.String("webhook", "", "POST signed JSON to this https:// `URL`")
	secretFile := fs.String("secret-file", "", "webhook: the `FILE` holding the signing secret (default: the hub draws one and prints it once)")
	events := fs.String("events", "", "the comma-separated `EVENTS` sent (default all: task.opened, import.paused, import.failed, push.dead, agent.offline, agent.certificate-expiring, app.paused)")
	digest := fs.String("digest", "5m", "gather events for `DURATION` into one message (0: each at once)")
	caFile := fs.String("ca", "", "check the server's certificate against the CA in this PEM `FILE` instead of the system's")
	local := fs.Bool("allow-local-addresses", false, "let the channel reach a loopback, link-local or otherwise local address (a super-admin's exception)")
	pos, err := c.parse(fs, args, "NAME")
	if err != nil {
		return err
	}
	ch := &idsyncv1.NotifyChannel{Name: pos[0], Events: splitList(*events), AllowLocalAddresses: *local}
	d, err := parseDuration(*digest)
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("--digest %q: %v", *digest, err)}
	}
	ch.DigestMs = d.Milliseconds()
	if *caFile != "" {
		b, err := os.ReadFile(*caFile)
		if err != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("--ca: %w", err)}
		}
		ch.CaPem = string(b)
	}
	var secret string
	switch {
	case (*smtpAddr == "") == (*webhook == ""):
		return &exitError{code: exitUsage, err: fmt.Errorf("give --smtp HOST:PORT or --webhook URL, one of the two")}
	case *smtpAddr != "":
		ch.Kind, ch.SmtpAddr, ch.SmtpTls, ch.From, ch.SmtpUsername = idsyncv1.NotifyChannelKind_NOTIFY_CHANNEL_KIND_SMTP,
			*smtpAddr, *tlsMode, *from, *user
		for _, t := range to {
			ch.To = append(ch.To, splitList(t)...)
		}
		if *from == "" || len(ch.To) == 0 {
			return &exitError{code: exitUsage, err: fmt.Errorf("--smtp: --from and --to are required")}
		}
		if *passFile != "" {
			if secret, err = readSecretFile("password-file", *passFile); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
		}
	default:
		ch.Kind, ch.WebhookUrl = idsyncv1.NotifyChannelKind_NOTIFY_CHANNEL_KIND_WEBHOOK, *webhook
		if *secretFile != "" {
			if secret, err = readSecretFile("secret-file", *secretFile); err != nil {
				return &exitError{code: exitUsage, err: err}
			}
		}
	}
	ctx, cancel, h, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	resp, err := h.admin.CreateNotifyChannel(ctx, &idsyncv1.CreateNotifyChannelRequest{Channel: ch, Secret: secret, DigestSet: true})
	if err != nil {
		return err
	}
	if s := resp.GetWebhookSecret(); s != "" {
		// The secret alone on standard output, shown this once: the hub
		// keeps it sealed and never shows it again.
		fmt.Fprintln(c.out, s)
		fmt.Fprintf(c.errOut, "notification channel %s added; its signing secret is shown once: give it to the receiver now\n", ch.GetName())
		return nil
	}
	return show(c, &idsyncv1.GetNotifyChannelResponse{Channel: resp.GetChannel()}, notifyView())
}

func notifyList(c *cli, args []string) error {
	return query(c, c.flags("notify list"), args, "",
		func(ctx context.Context, h hub, _ string) ([]*idsyncv1.NotifyChannel, error) {
			r, err := h.admin.ListNotifyChannels(ctx, &idsyncv1.ListNotifyChannelsRequest{})
			return r.GetChannels(), err
		},
		listView(toChannelJSON, []string{"NAME", "KIND", "TO", "EVENTS", "DIGEST"},
			func(ch *idsyncv1.NotifyChannel) []string {
				return []string{ch.GetName(), channelKind(ch), channelDest(ch), strings.Join(ch.GetEvents(), ","),
					(time.Duration(ch.GetDigestMs()) * time.Millisecond).String()}
			}))
}

func notifyShow(c *cli, args []string) error {
	return query(c, c.flags("notify show"), args, "NAME",
		func(ctx context.Context, h hub, name string) (*idsyncv1.GetNotifyChannelResponse, error) {
			return h.admin.GetNotifyChannel(ctx, &idsyncv1.GetNotifyChannelRequest{Name: name})
		}, notifyView())
}

func notifyRemove(c *cli, args []string) error {
	return notifyDo(c, "notify remove", args, func(ctx context.Context, h hub, name string) (string, error) {
		_, err := h.admin.DeleteNotifyChannel(ctx, &idsyncv1.DeleteNotifyChannelRequest{Name: name})
		return "notification channel " + name + " removed", err
	})
}

func notifyTest(c *cli, args []string) error {
	return notifyDo(c, "notify test", args, func(ctx context.Context, h hub, name string) (string, error) {
		r, err := h.admin.TestNotifyChannel(ctx, &idsyncv1.TestNotifyChannelRequest{Name: name})
		return "test message sent through " + name + ": " + r.GetResult(), err
	})
}

func notifyRetry(c *cli, args []string) error {
	return notifyDo(c, "notify retry", args, func(ctx context.Context, h hub, name string) (string, error) {
		r, err := h.admin.RetryNotifyDeliveries(ctx, &idsyncv1.RetryNotifyDeliveriesRequest{Name: name})
		return fmt.Sprintf("%d dead deliveries of %s queued again", r.GetRetried(), name), err
	})
}

// notifyDo runs a command that acts on one channel and says what it did.
func notifyDo(c *cli, name string, args []string, call func(ctx context.Context, h hub, name string) (string, error)) error {
	return query(c, c.flags(name), args, "NAME", call, view[string]{
		json: func(s string) any { return map[string]string{"result": s} },
		text: func(w io.Writer, s string) error { _, err := fmt.Fprintln(w, s); return err },
	})
}

func channelKind(ch *idsyncv1.NotifyChannel) string {
	return enumName(ch.GetKind().String(), "NOTIFY_CHANNEL_KIND_")
}

func channelDest(ch *idsyncv1.NotifyChannel) string {
	if ch.GetWebhookUrl() != "" {
		return ch.GetWebhookUrl()
	}
	return strings.Join(ch.GetTo(), ",")
}

// channelJSON is a channel as `-o json` prints it.
type channelJSON struct {
	Name       string         `json:"name"`
	Kind       string         `json:"kind"`
	SMTP       string         `json:"smtp,omitempty"`
	TLS        string         `json:"tls,omitempty"`
	From       string         `json:"from,omitempty"`
	To         []string       `json:"to,omitempty"`
	Username   string         `json:"username,omitempty"`
	Webhook    string         `json:"webhook,omitempty"`
	Events     []string       `json:"events"`
	Digest     string         `json:"digest"`
	CA         bool           `json:"custom_ca"`
	Local      bool           `json:"allow_local_addresses"`
	HasSecret  bool           `json:"has_secret"`
	CreatedAt  *time.Time     `json:"created_at,omitempty"`
	Deliveries []deliveryJSON `json:"deliveries,omitempty"`
}

type deliveryJSON struct {
	ID        int64      `json:"id"`
	State     string     `json:"state"`
	Events    int64      `json:"events"`
	Attempts  int32      `json:"attempts"`
	LastError string     `json:"last_error,omitempty"`
	DueAt     *time.Time `json:"due_at,omitempty"`
	NextAt    *time.Time `json:"next_at,omitempty"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
}

func toChannelJSON(ch *idsyncv1.NotifyChannel) channelJSON {
	return channelJSON{Name: ch.GetName(), Kind: channelKind(ch), SMTP: ch.GetSmtpAddr(), TLS: ch.GetSmtpTls(), From: ch.GetFrom(),
		To: ch.GetTo(), Username: ch.GetSmtpUsername(), Webhook: ch.GetWebhookUrl(), Events: ch.GetEvents(),
		Digest: (time.Duration(ch.GetDigestMs()) * time.Millisecond).String(), CA: ch.GetCaPem() != "",
		Local: ch.GetAllowLocalAddresses(), HasSecret: ch.GetHasSecret(), CreatedAt: timeJSON(ch.GetCreatedAt())}
}

func notifyView() view[*idsyncv1.GetNotifyChannelResponse] {
	return itemView(func(r *idsyncv1.GetNotifyChannelResponse) channelJSON {
		j := toChannelJSON(r.GetChannel())
		j.Deliveries = []deliveryJSON{}
		for _, d := range r.GetDeliveries() {
			j.Deliveries = append(j.Deliveries, deliveryJSON{ID: d.GetId(), State: d.GetState(), Events: d.GetEvents(),
				Attempts: d.GetAttempts(), LastError: d.GetLastError(), DueAt: timeJSON(d.GetDueAt()), NextAt: timeJSON(d.GetNextAt()),
				SentAt: timeJSON(d.GetSentAt())})
		}
		return j
	}, func(w io.Writer, r *idsyncv1.GetNotifyChannelResponse) error {
		ch := r.GetChannel()
		kv := [][2]string{{"name", ch.GetName()}, {"kind", channelKind(ch)}}
		if ch.GetSmtpAddr() != "" {
			kv = append(kv, [2]string{"smtp", ch.GetSmtpAddr() + " (" + ch.GetSmtpTls() + ")"}, [2]string{"from", ch.GetFrom()},
				[2]string{"to", strings.Join(ch.GetTo(), ", ")}, [2]string{"username", dash(ch.GetSmtpUsername())})
		} else {
			kv = append(kv, [2]string{"webhook", ch.GetWebhookUrl()})
		}
		secret := "none"
		if ch.GetHasSecret() {
			secret = "sealed on the hub"
		}
		kv = append(kv, [2]string{"secret", secret}, [2]string{"events", strings.Join(ch.GetEvents(), ", ")},
			[2]string{"digest", (time.Duration(ch.GetDigestMs()) * time.Millisecond).String()})
		if ch.GetAllowLocalAddresses() {
			kv = append(kv, [2]string{"allow local addresses", "yes"})
		}
		if err := fields(w, kv); err != nil {
			return err
		}
		if len(r.GetDeliveries()) == 0 {
			_, err := fmt.Fprintln(w, "\nno deliveries yet")
			return err
		}
		fmt.Fprintln(w, "\ndeliveries:")
		var rows [][]string
		for _, d := range r.GetDeliveries() {
			when := timeStr(d.GetSentAt())
			switch d.GetState() {
			case "collecting":
				when = "due " + timeStr(d.GetDueAt())
			case "queued":
				when = "next " + timeStr(d.GetNextAt())
			}
			rows = append(rows, []string{fmt.Sprint(d.GetId()), d.GetState(), fmt.Sprint(d.GetEvents()), fmt.Sprint(d.GetAttempts()),
				when, dash(d.GetLastError())})
		}
		return table(w, []string{"ID", "STATE", "EVENTS", "ATTEMPTS", "WHEN", "LAST ERROR"}, rows)
	})
}
