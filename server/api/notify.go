package api

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/notify"
	"github.com/idsync/idsync/server/store"
)

// The doors of notification channels (server/notify): each decodes, calls
// the service with the admin as actor (the service writes the audit
// events) and encodes. Writes need notify.write (super-admin); reads
// notify.read (read-only too): a channel shows its recipients, its URL
// redacted to scheme://host/… unless the caller may manage channels
// (a webhook's path or query may hold a token), never its secret.

func (s *AdminServer) notifier() (*notify.Service, error) {
	if s.notify == nil {
		return nil, status.Error(codes.Unimplemented, "notifications are not served by this hub")
	}
	return s.notify, nil
}

// CreateNotifyChannel adds a channel.
func (s *AdminServer) CreateNotifyChannel(ctx context.Context, req *idsyncv1.CreateNotifyChannelRequest) (*idsyncv1.CreateNotifyChannelResponse, error) {
	n, err := s.notifier()
	if err != nil {
		return nil, err
	}
	pc := req.GetChannel()
	c := notify.Channel{Name: pc.GetName(), Secret: req.GetSecret(), Events: pc.GetEvents(), CAPEM: pc.GetCaPem(),
		AllowLocalAddresses: pc.GetAllowLocalAddresses()}
	if req.GetDigestSet() {
		d := time.Duration(pc.GetDigestMs()) * time.Millisecond
		c.Digest = &d
	}
	switch pc.GetKind() {
	case idsyncv1.NotifyChannelKind_NOTIFY_CHANNEL_KIND_SMTP:
		c.SMTP = &store.SMTPConfig{Addr: pc.GetSmtpAddr(), TLS: pc.GetSmtpTls(), From: pc.GetFrom(), To: pc.GetTo(),
			Username: pc.GetSmtpUsername()}
	case idsyncv1.NotifyChannelKind_NOTIFY_CHANNEL_KIND_WEBHOOK:
		c.Webhook = &store.WebhookConfig{URL: pc.GetWebhookUrl()}
	}
	ch, drawn, err := n.Add(ctx, c, auth.Actor(ctx))
	if err != nil {
		return nil, statusErr(err, "channel %s", pc.GetName())
	}
	return &idsyncv1.CreateNotifyChannelResponse{Channel: channelToProto(ch), WebhookSecret: drawn}, nil
}

// ListNotifyChannels lists the channels.
func (s *AdminServer) ListNotifyChannels(ctx context.Context, _ *idsyncv1.ListNotifyChannelsRequest) (*idsyncv1.ListNotifyChannelsResponse, error) {
	n, err := s.notifier()
	if err != nil {
		return nil, err
	}
	list, err := n.List(ctx, channelView(ctx))
	if err != nil {
		return nil, statusErr(err, "listing notification channels")
	}
	resp := &idsyncv1.ListNotifyChannelsResponse{Channels: []*idsyncv1.NotifyChannel{}}
	for _, c := range list {
		resp.Channels = append(resp.Channels, channelToProto(c))
	}
	return resp, nil
}

// GetNotifyChannel shows a channel and its deliveries.
func (s *AdminServer) GetNotifyChannel(ctx context.Context, req *idsyncv1.GetNotifyChannelRequest) (*idsyncv1.GetNotifyChannelResponse, error) {
	n, err := s.notifier()
	if err != nil {
		return nil, err
	}
	c, ds, err := n.Get(ctx, req.GetName(), channelView(ctx))
	if err != nil {
		return nil, statusErr(err, "")
	}
	resp := &idsyncv1.GetNotifyChannelResponse{Channel: channelToProto(c), Deliveries: []*idsyncv1.NotifyDelivery{}}
	for _, d := range ds {
		resp.Deliveries = append(resp.Deliveries, &idsyncv1.NotifyDelivery{Id: d.ID, State: string(d.State), Events: d.Events,
			Attempts: int32(d.Attempts), LastError: d.LastError, DueAt: ts(d.DueAt), NextAt: ts(d.NextAt), SentAt: ts(d.SentAt)})
	}
	return resp, nil
}

// DeleteNotifyChannel removes a channel.
func (s *AdminServer) DeleteNotifyChannel(ctx context.Context, req *idsyncv1.DeleteNotifyChannelRequest) (*idsyncv1.DeleteNotifyChannelResponse, error) {
	n, err := s.notifier()
	if err != nil {
		return nil, err
	}
	if err := n.Remove(ctx, req.GetName(), auth.Actor(ctx)); err != nil {
		return nil, statusErr(err, "")
	}
	return &idsyncv1.DeleteNotifyChannelResponse{}, nil
}

// TestNotifyChannel sends a test message now.
func (s *AdminServer) TestNotifyChannel(ctx context.Context, req *idsyncv1.TestNotifyChannelRequest) (*idsyncv1.TestNotifyChannelResponse, error) {
	n, err := s.notifier()
	if err != nil {
		return nil, err
	}
	res, err := n.Test(ctx, req.GetName(), auth.Actor(ctx))
	if err != nil {
		return nil, statusErr(err, "")
	}
	return &idsyncv1.TestNotifyChannelResponse{Result: res}, nil
}

// RetryNotifyDeliveries queues a channel's dead deliveries again.
func (s *AdminServer) RetryNotifyDeliveries(ctx context.Context, req *idsyncv1.RetryNotifyDeliveriesRequest) (*idsyncv1.RetryNotifyDeliveriesResponse, error) {
	n, err := s.notifier()
	if err != nil {
		return nil, err
	}
	count, err := n.Retry(ctx, req.GetName(), auth.Actor(ctx))
	if err != nil {
		return nil, statusErr(err, "")
	}
	return &idsyncv1.RetryNotifyDeliveriesResponse{Retried: int64(count)}, nil
}

// channelView is how much of a channel the caller sees: the URL whole to
// the roles that may manage channels (notify.write) alone.
func channelView(ctx context.Context) notify.View {
	if auth.ScopeOf(ctx).Has(auth.PermNotifyWrite) {
		return notify.Full
	}
	return notify.Redacted
}

func channelToProto(c *store.NotifyChannel) *idsyncv1.NotifyChannel {
	p := &idsyncv1.NotifyChannel{Name: c.Name, Events: c.Events, DigestMs: c.Digest.Milliseconds(), CaPem: c.CAPEM,
		AllowLocalAddresses: c.AllowLocal, CreatedAt: ts(c.CreatedAt), HasSecret: len(c.Secret) > 0}
	switch {
	case c.SMTP != nil:
		p.Kind = idsyncv1.NotifyChannelKind_NOTIFY_CHANNEL_KIND_SMTP
		p.SmtpAddr, p.SmtpTls, p.From, p.To, p.SmtpUsername = c.SMTP.Addr, c.SMTP.TLS, c.SMTP.From, c.SMTP.To, c.SMTP.Username
	case c.Webhook != nil:
		p.Kind = idsyncv1.NotifyChannelKind_NOTIFY_CHANNEL_KIND_WEBHOOK
		p.WebhookUrl = c.Webhook.URL
	}
	return p
}
