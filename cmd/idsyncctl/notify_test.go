package main

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// The fake hub's notification channels, for the golden outputs.

var fakeChannels = []*idsyncv1.NotifyChannel{
	{Name: "ops-mail", Kind: idsyncv1.NotifyChannelKind_NOTIFY_CHANNEL_KIND_SMTP, SmtpAddr: "mail.example.org:587", SmtpTls: "starttls",
		From: "idsync@example.org", To: []string{"it-ops@example.org", "oncall@example.org"}, SmtpUsername: "idsync",
		Events:   []string{"task.opened", "import.paused", "push.dead", "agent.offline", "agent.certificate-expiring", "app.paused"},
		DigestMs: 300000, CreatedAt: at(1), HasSecret: true},
	{Name: "pager", Kind: idsyncv1.NotifyChannelKind_NOTIFY_CHANNEL_KIND_WEBHOOK, WebhookUrl: "https://hooks.example.org/idsync",
		Events: []string{"agent.offline", "app.paused"}, DigestMs: 0, CreatedAt: at(2), HasSecret: true},
}

func (h *fakeHub) ListNotifyChannels(context.Context, *idsyncv1.ListNotifyChannelsRequest) (*idsyncv1.ListNotifyChannelsResponse, error) {
	return &idsyncv1.ListNotifyChannelsResponse{Channels: fakeChannels}, nil
}

func (h *fakeHub) GetNotifyChannel(_ context.Context, req *idsyncv1.GetNotifyChannelRequest) (*idsyncv1.GetNotifyChannelResponse, error) {
	for _, c := range fakeChannels {
		if c.GetName() == req.GetName() {
			return &idsyncv1.GetNotifyChannelResponse{Channel: c, Deliveries: []*idsyncv1.NotifyDelivery{
				{Id: 9, State: "collecting", Events: 5000, DueAt: at(65)},
				{Id: 8, State: "dead", Events: 2, Attempts: 8, LastError: "smtp mail.example.org:587: RCPT TO oncall@example.org: 550 no such user", DueAt: at(30), NextAt: at(40)},
				{Id: 7, State: "sent", Events: 1, Attempts: 2, DueAt: at(10), SentAt: at(11)},
			}}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "no notification channel %q (see `idsyncctl notify list`)", req.GetName())
}

func (h *fakeHub) TestNotifyChannel(_ context.Context, req *idsyncv1.TestNotifyChannelRequest) (*idsyncv1.TestNotifyChannelResponse, error) {
	return &idsyncv1.TestNotifyChannelResponse{Result: "accepted by mail.example.org:587 for 2 recipients"}, nil
}

func (h *fakeHub) RetryNotifyDeliveries(context.Context, *idsyncv1.RetryNotifyDeliveriesRequest) (*idsyncv1.RetryNotifyDeliveriesResponse, error) {
	return &idsyncv1.RetryNotifyDeliveriesResponse{Retried: 1}, nil
}
