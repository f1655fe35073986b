package hub_test

import (
	"context"
	"strings"
	"testing"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
)

// TestNotifyURLFollowsRole: a webhook's URL, which may carry the
// receiver's token in its path or query, is shown whole by notify list
// and show to a role that manages channels (super-admin) alone; read-only
// sees scheme://host/…, and the audit trail it reads holds no token.
func TestNotifyURLFollowsRole(t *testing.T) {
	h := startHub(t)
	ctx := t.Context()
	admin := idsyncv1.NewAdminServiceClient(h.conn)
	boot := as(ctx, h.boot)
	const full = "https://hooks.example.org/services/T0KEN-IN-PATH?token=T0KEN-IN-QUERY"
	const redacted = "https://hooks.example.org/…"
	if _, err := admin.CreateNotifyChannel(boot, &idsyncv1.CreateNotifyChannelRequest{Channel: &idsyncv1.NotifyChannel{
		Name: "pager", Kind: idsyncv1.NotifyChannelKind_NOTIFY_CHANNEL_KIND_WEBHOOK, WebhookUrl: full}}); err != nil {
		t.Fatalf("CreateNotifyChannel: %v", err)
	}
	reader := as(ctx, h.token("auditor", auth.RoleReadOnly, nil, nil))
	cases := []struct {
		who  string
		ctx  context.Context
		want string
	}{{"super-admin", boot, full}, {"read-only", reader, redacted}}
	for _, c := range cases {
		list, err := admin.ListNotifyChannels(c.ctx, &idsyncv1.ListNotifyChannelsRequest{})
		if err != nil || len(list.GetChannels()) != 1 || list.GetChannels()[0].GetWebhookUrl() != c.want {
			t.Errorf("notify list as %s: %v (%v), want the URL %s", c.who, list.GetChannels(), err, c.want)
		}
		show, err := admin.GetNotifyChannel(c.ctx, &idsyncv1.GetNotifyChannelRequest{Name: "pager"})
		if err != nil || show.GetChannel().GetWebhookUrl() != c.want {
			t.Errorf("notify show as %s: %v (%v), want the URL %s", c.who, show.GetChannel(), err, c.want)
		}
	}
	ev, err := admin.ListAuditEvents(reader, &idsyncv1.ListAuditEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var created bool
	for _, e := range ev.GetEvents() {
		if strings.Contains(e.String(), "T0KEN") {
			t.Errorf("audit event %v holds the webhook's token", e)
		}
		created = created || (e.GetAction() == "notify.channel.create" && strings.Contains(e.GetDetail(), redacted))
	}
	if !created {
		t.Errorf("audit trail: %v, want notify.channel.create naming %s", ev.GetEvents(), redacted)
	}
}
