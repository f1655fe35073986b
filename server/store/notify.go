package store

import (
	"context"
	"time"
)

// Notifications is the part of the store behind e-mail and webhook
// notifications (server/notify): the channels, the notices (events admins
// are told of) and the deliveries that carry them, digest by digest. It is
// part of Store.
//
// Notices of changes the store makes are written in the transaction of
// the change: CreateTask (a new task, NoticeTaskOpened), DeadJob
// (NoticePushDead), TransitionRun into paused_by_safeguard
// (NoticeImportPaused) or of a full run into failed (NoticeImportFailed)
// and SetAppStatus to paused (NoticeAppPaused). So a
// hub that dies after the change loses none.
type Notifications interface {
	// CreateChannel inserts c and sets its ID and CreatedAt; a taken name
	// is ErrConflict.
	CreateChannel(ctx context.Context, c *NotifyChannel) error
	// GetChannel returns a channel by name, or ErrNotFound.
	GetChannel(ctx context.Context, name string) (*NotifyChannel, error)
	// ListChannels returns the channels ordered by name.
	ListChannels(ctx context.Context) ([]*NotifyChannel, error)
	// DeleteChannel removes a channel with its deliveries; unknown:
	// ErrNotFound.
	DeleteChannel(ctx context.Context, name string) error

	// RecordNotice appends a notice and sets its ID and At (when zero). A
	// notice with a Key that was recorded before is not recorded again:
	// it reports false (a condition the hub finds again, on any replica).
	RecordNotice(ctx context.Context, n *Notice) (bool, error)
	// DispatchNotices files up to limit notices not yet dispatched, oldest
	// first, into the collecting delivery of every channel whose events
	// include the notice's kind — opening one due at now + the channel's
	// digest when it has none — and marks them dispatched, in one
	// transaction. It returns how many notices it dispatched.
	DispatchNotices(ctx context.Context, now time.Time, limit int) (int, error)
	// ClaimDeliveries takes up to limit deliveries that are due — a
	// collecting one whose digest window ended, a queued one at its
	// NextAt, a running one whose lease ended — marks them running for
	// owner until now+lease, and increments their Attempts. Notices
	// dispatched afterwards go to a new collecting delivery. Two claimers
	// never get the same delivery.
	ClaimDeliveries(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*Delivery, error)
	// ReleaseDeliveries puts the running deliveries of owner back, due at
	// now (a hub that starts again under its name), and returns how many.
	ReleaseDeliveries(ctx context.Context, owner string, now time.Time) (int, error)
	// DeliveryNotices returns up to limit notices of a delivery in the
	// order they were recorded (limit 0: all).
	DeliveryNotices(ctx context.Context, deliveryID int64, limit int) ([]*Notice, error)
	// DeliveryCounts counts a delivery's notices by kind and app.
	DeliveryCounts(ctx context.Context, deliveryID int64) ([]NoticeCount, error)
	// FinishDelivery ends a delivery the owner holds: sent (err == ""),
	// queued again at nextAt with the error, or dead (dead set) with it.
	// Not running for owner: ErrConflict.
	FinishDelivery(ctx context.Context, id int64, owner string, now time.Time, d DeliveryEnd) error
	// ListDeliveries returns a channel's deliveries, newest first, at
	// most limit (0: 20).
	ListDeliveries(ctx context.Context, channelID int64, limit int) ([]*Delivery, error)
	// RetryDeadDeliveries puts a channel's dead deliveries back in the
	// queue, due at now with Attempts reset, and returns how many.
	RetryDeadDeliveries(ctx context.Context, channelID int64, now time.Time) (int, error)
}

// Notice kinds: the events a channel may ask for.
const (
	NoticeTaskOpened   = "task.opened"
	NoticeImportPaused = "import.paused"
	NoticeImportFailed = "import.failed"
	NoticePushDead     = "push.dead"
	NoticeAgentOffline = "agent.offline"
	NoticeCertExpiring = "agent.certificate-expiring"
	NoticeAppPaused    = "app.paused"
	// NoticeChannelTest is `notify test`: for one channel only.
	NoticeChannelTest = "notify.test"
)

// NoticeKinds are the kinds a channel may subscribe to, in the order
// messages list them.
var NoticeKinds = []string{NoticeTaskOpened, NoticeImportPaused, NoticeImportFailed, NoticePushDead, NoticeAgentOffline,
	NoticeCertExpiring, NoticeAppPaused}

// NoticeDetailMax and NoticeSubjectMax bound a notice's fields, in
// bytes; longer ones are cut (Truncate).
const (
	NoticeDetailMax  = 1024
	NoticeSubjectMax = 256
)

// Notice is one event admins are told of. It holds names, counts and what
// to do, never a secret.
type Notice struct {
	ID   int64
	Kind string
	// AppID names the app it concerns (0: none); App is its name, filled
	// on read.
	AppID int64
	App   string
	// Subject is whom or what it is about: a username, a directory, an
	// agent.
	Subject string
	// Ref names the object ("task:12", "run:4", "job:9", "agent:ID").
	Ref string
	// Detail says what happened and what to do.
	Detail string
	// Key, when set, records the notice once (a condition found again).
	Key string
	At  time.Time
}

// NoticeCount is how many notices of a kind, for one app, a delivery has.
type NoticeCount struct {
	Kind  string
	App   string
	Count int64
}

// ChannelKind is e-mail or webhook.
type ChannelKind string

// Channel kinds.
const (
	ChannelSMTP    ChannelKind = "smtp"
	ChannelWebhook ChannelKind = "webhook"
)

// NotifyChannel is where notifications go: an SMTP server and its
// recipients, or a webhook.
type NotifyChannel struct {
	ID   int64
	Name string
	Kind ChannelKind
	// SMTP: the server, its TLS ("starttls", "tls" or "none"), sender,
	// recipients and user (the password is Secret).
	SMTP *SMTPConfig `json:"smtp,omitempty"`
	// Webhook: the HTTPS URL (the signing secret is Secret).
	Webhook *WebhookConfig `json:"webhook,omitempty"`
	// CAPEM, when set, is the only CA the channel's server is checked
	// against (else the system's).
	CAPEM string `json:"ca_pem,omitempty"`
	// AllowLocal lets the channel reach loopback, link-local and other
	// local addresses (a super-admin's exception).
	AllowLocal bool `json:"allow_local,omitempty"`
	// Secret is sealed by the hub: the SMTP password or the webhook's
	// signing secret.
	Secret []byte `json:"-"`
	// Events are the notice kinds the channel wants.
	Events []string `json:"-"`
	// Digest is how long notices gather before one message carries them
	// all (0: each one at once). Kept to the millisecond.
	Digest    time.Duration `json:"-"`
	CreatedAt time.Time     `json:"-"`
}

// SMTPConfig is an e-mail channel's server and addresses.
type SMTPConfig struct {
	Addr     string   `json:"addr"`
	TLS      string   `json:"tls"`
	From     string   `json:"from"`
	To       []string `json:"to"`
	Username string   `json:"username,omitempty"`
}

// WebhookConfig is a webhook channel's endpoint.
type WebhookConfig struct {
	URL string `json:"url"`
}

// DeliveryState is where a delivery stands.
type DeliveryState string

// Delivery states.
const (
	// DeliveryCollecting gathers notices until its digest window ends.
	DeliveryCollecting DeliveryState = "collecting"
	DeliveryQueued     DeliveryState = "queued"
	DeliveryRunning    DeliveryState = "running"
	DeliverySent       DeliveryState = "sent"
	DeliveryDead       DeliveryState = "dead"
)

// Delivery is one message of a channel: the notices of one digest window.
type Delivery struct {
	ID        int64
	ChannelID int64
	State     DeliveryState
	// Events is how many notices it carries.
	Events     int64
	DueAt      time.Time
	Attempts   int
	NextAt     time.Time
	LastError  string
	Owner      string
	LeaseUntil time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	SentAt     time.Time
}

// DeliveryEnd is how a delivery attempt ended.
type DeliveryEnd struct {
	// Err is empty when the message was sent.
	Err string
	// NextAt is when to try again (Err set, Dead not).
	NextAt time.Time
	// Dead gives up: dead-lettered, visible, retryable by an admin.
	Dead bool
}
