package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/idsync/idsync/server/store"
)

// channelConfig is the JSON of a channel's config column.
type channelConfig struct {
	SMTP    *store.SMTPConfig    `json:"smtp,omitempty"`
	Webhook *store.WebhookConfig `json:"webhook,omitempty"`
	CAPEM   string               `json:"ca_pem,omitempty"`
	Local   bool                 `json:"allow_local,omitempty"`
}

const channelCols = `id, name, kind, config, secret, events, digest_ms, created_at`

func scanChannel(sc scanner) (*store.NotifyChannel, error) {
	c := &store.NotifyChannel{}
	var cfg channelConfig
	err := sc.Scan(&c.ID, &c.Name, &c.Kind, scanJSON{&cfg, "channel config"}, &c.Secret,
		scanJSON{&c.Events, "channel events"}, scanMillis{&c.Digest}, scanTime{&c.CreatedAt})
	c.SMTP, c.Webhook, c.CAPEM, c.AllowLocal = cfg.SMTP, cfg.Webhook, cfg.CAPEM, cfg.Local
	return c, err
}

// CreateChannel inserts c and sets its ID and CreatedAt; a taken name is
// store.ErrConflict.
func (s *Store) CreateChannel(ctx context.Context, c *store.NotifyChannel) error {
	cfg, err := jsonArg(channelConfig{SMTP: c.SMTP, Webhook: c.Webhook, CAPEM: c.CAPEM, Local: c.AllowLocal}, false)
	if err != nil {
		return fmt.Errorf("encoding the config of channel %q: %w", c.Name, err)
	}
	events, err := jsonArg(c.Events, false)
	if err != nil {
		return fmt.Errorf("encoding the events of channel %q: %w", c.Name, err)
	}
	created := now()
	err = s.wr.row(ctx, `INSERT INTO notify_channels (name, kind, config, secret, events, digest_ms, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, c.Name, string(c.Kind), cfg, c.Secret, events,
		c.Digest.Milliseconds(), s.wr.t(created)).Scan(&c.ID)
	if err != nil {
		return s.uniqueConflict(err, "creating channel %q", c.Name)
	}
	c.CreatedAt = created
	return nil
}

// GetChannel returns a channel by name, or store.ErrNotFound.
func (s *Store) GetChannel(ctx context.Context, name string) (*store.NotifyChannel, error) {
	c, err := scanChannel(s.rd.row(ctx, `SELECT `+channelCols+` FROM notify_channels WHERE name = ?`, name))
	if err != nil {
		return nil, noRows(err, "channel %q", name)
	}
	return c, nil
}

// ListChannels returns the channels ordered by name.
func (s *Store) ListChannels(ctx context.Context) ([]*store.NotifyChannel, error) {
	rows, err := s.rd.query(ctx, `SELECT `+channelCols+` FROM notify_channels ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing channels: %w", err)
	}
	return collect(rows, scanChannel, "listing channels")
}

// DeleteChannel removes a channel with its deliveries; unknown:
// store.ErrNotFound.
func (s *Store) DeleteChannel(ctx context.Context, name string) error {
	return s.inTx(ctx, func(tx runner) error {
		var id int64
		if err := tx.row(ctx, `SELECT id FROM notify_channels WHERE name = ?`, name).Scan(&id); err != nil {
			return noRows(err, "channel %q", name)
		}
		for _, q := range []string{
			`DELETE FROM notify_items WHERE delivery_id IN (SELECT id FROM notify_deliveries WHERE channel_id = ?)`,
			`DELETE FROM notify_deliveries WHERE channel_id = ?`,
			`DELETE FROM notify_channels WHERE id = ?`,
		} {
			if _, err := tx.exec(ctx, q, id); err != nil {
				return fmt.Errorf("deleting channel %q: %w", name, err)
			}
		}
		return nil
	})
}

// RecordNotice appends n (cut to its bounds); a notice whose Key was
// recorded before is not, and reports false.
func (s *Store) RecordNotice(ctx context.Context, n *store.Notice) (bool, error) {
	ok := false
	err := s.inTx(ctx, func(tx runner) error {
		var err error
		ok, err = addNotice(ctx, tx, n)
		return err
	})
	return ok, err
}

// addNotice inserts n in tx; a taken key inserts nothing and reports
// false.
func addNotice(ctx context.Context, tx runner, n *store.Notice) (bool, error) {
	if n.At.IsZero() {
		n.At = now()
	}
	var key any
	if n.Key != "" {
		key = n.Key
	}
	err := tx.row(ctx, `INSERT INTO notices (kind, app_id, subject, ref, detail, dedup_key, at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING RETURNING id`,
		n.Kind, n.AppID, store.Truncate(n.Subject, store.NoticeSubjectMax), n.Ref,
		store.Truncate(n.Detail, store.NoticeDetailMax), key, tx.t(n.At)).Scan(&n.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("recording a %s notice: %w", n.Kind, err)
	}
	return true, nil
}

// username returns the username of a user in tx, or id itself when
// there is no such user.
func username(ctx context.Context, tx runner, id string) string {
	var name string
	if err := tx.row(ctx, `SELECT username FROM objects WHERE id = ?`, id).Scan(&name); err != nil || name == "" {
		return id
	}
	return name
}

// DispatchNotices files up to limit undispatched notices into the
// collecting delivery of each channel that wants their kind.
func (s *Store) DispatchNotices(ctx context.Context, now time.Time, limit int) (int, error) {
	limit = min(max(limit, 1), 500)
	var n int
	err := s.inTx(ctx, func(tx runner) error {
		n = 0
		rows, err := tx.query(ctx, `SELECT id, kind FROM notices WHERE dispatched = FALSE ORDER BY id LIMIT ?`+s.d.SkipLocked, limit)
		if err != nil {
			return fmt.Errorf("reading the notices to dispatch: %w", err)
		}
		type pending struct {
			id   int64
			kind string
		}
		notices, err := collect(rows, func(sc scanner) (pending, error) {
			var p pending
			return p, sc.Scan(&p.id, &p.kind)
		}, "reading the notices to dispatch")
		if err != nil || len(notices) == 0 {
			return err
		}
		rows, err = tx.query(ctx, `SELECT `+channelCols+` FROM notify_channels ORDER BY id`)
		if err != nil {
			return fmt.Errorf("reading the channels: %w", err)
		}
		channels, err := collect(rows, scanChannel, "reading the channels")
		if err != nil {
			return err
		}
		for _, c := range channels {
			var ids []any
			for _, p := range notices {
				if wants(c, p.kind) {
					ids = append(ids, p.id)
				}
			}
			if len(ids) == 0 {
				continue
			}
			delivery, err := collecting(ctx, tx, c, now, s.d.LockRow)
			if err != nil {
				return err
			}
			vals := ""
			args := make([]any, 0, 2*len(ids))
			for i, id := range ids {
				if i > 0 {
					vals += ", "
				}
				vals += "(?, ?)"
				args = append(args, delivery, id)
			}
			if _, err := tx.exec(ctx, `INSERT INTO notify_items (delivery_id, notice_id) VALUES `+vals+
				` ON CONFLICT DO NOTHING`, args...); err != nil {
				return fmt.Errorf("filing notices into delivery %d: %w", delivery, err)
			}
			if _, err := tx.exec(ctx, `UPDATE notify_deliveries SET events = (SELECT COUNT(*) FROM notify_items
				WHERE delivery_id = ?), updated_at = ? WHERE id = ?`, delivery, tx.t(now), delivery); err != nil {
				return fmt.Errorf("counting the notices of delivery %d: %w", delivery, err)
			}
		}
		ids := make([]any, len(notices))
		for i, p := range notices {
			ids[i] = p.id
		}
		if _, err := tx.exec(ctx, `UPDATE notices SET dispatched = TRUE WHERE id IN (`+marks(len(ids))+`)`, ids...); err != nil {
			return fmt.Errorf("marking notices dispatched: %w", err)
		}
		n = len(notices)
		return nil
	})
	return n, err
}

// wants reports whether channel c takes notices of kind.
func wants(c *store.NotifyChannel, kind string) bool {
	for _, e := range c.Events {
		if e == kind {
			return true
		}
	}
	return false
}

// collecting returns the id of channel c's collecting delivery, opening
// one due at now + its digest when there is none. The row is locked
// (lock: the dialect's LockRow) so a claim that takes it waits for the
// notices filed into it, or this finds it claimed and opens another. Two
// replicas opening one at once: the second's insert does nothing and it
// reads the first's.
func collecting(ctx context.Context, tx runner, c *store.NotifyChannel, now time.Time, lock string) (int64, error) {
	var id int64
	for range 2 {
		err := tx.row(ctx, `SELECT id FROM notify_deliveries WHERE channel_id = ? AND state = 'collecting'`+lock, c.ID).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("reading the open digest of channel %s: %w", c.Name, err)
		}
		due := tx.t(now.Add(c.Digest))
		err = tx.row(ctx, `INSERT INTO notify_deliveries (channel_id, state, due_at, next_at, created_at, updated_at)
			VALUES (?, 'collecting', ?, ?, ?, ?) ON CONFLICT (channel_id) WHERE state = 'collecting' DO NOTHING RETURNING id`,
			c.ID, due, due, tx.t(now), tx.t(now)).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("opening a digest of channel %s: %w", c.Name, err)
		}
	}
	return 0, fmt.Errorf("opening a digest of channel %s: another hub holds it; filed on the next pass", c.Name)
}

const deliveryCols = `id, channel_id, state, events, due_at, attempts, next_at, last_error, owner, lease_until,
	created_at, updated_at, sent_at`

func scanDelivery(sc scanner) (*store.Delivery, error) {
	d := &store.Delivery{}
	err := sc.Scan(&d.ID, &d.ChannelID, &d.State, &d.Events, scanTime{&d.DueAt}, &d.Attempts, scanTime{&d.NextAt},
		&d.LastError, &d.Owner, scanTime{&d.LeaseUntil}, scanTime{&d.CreatedAt}, scanTime{&d.UpdatedAt}, scanTime{&d.SentAt})
	return d, err
}

// ClaimDeliveries takes up to limit due deliveries for owner.
func (s *Store) ClaimDeliveries(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]*store.Delivery, error) {
	var out []*store.Delivery
	err := s.inTx(ctx, func(tx runner) error {
		out = nil
		t := tx.t(now)
		rows, err := tx.query(ctx, `SELECT id FROM notify_deliveries WHERE
			(state IN ('collecting', 'queued') AND next_at <= ?) OR (state = 'running' AND lease_until < ?)
			ORDER BY next_at, id LIMIT ?`+s.d.SkipLocked, t, t, max(limit, 1))
		if err != nil {
			return fmt.Errorf("picking deliveries: %w", err)
		}
		ids, err := collect(rows, func(sc scanner) (any, error) {
			var id int64
			return id, sc.Scan(&id)
		}, "picking deliveries")
		if err != nil || len(ids) == 0 {
			return err
		}
		rows, err = tx.query(ctx, `UPDATE notify_deliveries SET state = 'running', owner = ?, lease_until = ?,
			attempts = attempts + 1, updated_at = ? WHERE id IN (`+marks(len(ids))+`) RETURNING `+deliveryCols,
			append([]any{owner, tx.t(now.Add(lease)), t}, ids...)...)
		if err != nil {
			return fmt.Errorf("claiming deliveries: %w", err)
		}
		out, err = collect(rows, scanDelivery, "claiming deliveries")
		return err
	})
	return out, err
}

// ReleaseDeliveries puts owner's running deliveries back, due at now.
func (s *Store) ReleaseDeliveries(ctx context.Context, owner string, now time.Time) (int, error) {
	n, err := s.wr.execN(ctx, `UPDATE notify_deliveries SET state = 'queued', next_at = ?, owner = '',
		lease_until = NULL, updated_at = ? WHERE owner = ? AND state = 'running'`, s.wr.t(now), s.wr.t(now), owner)
	if err != nil {
		return 0, fmt.Errorf("releasing the deliveries of %s: %w", owner, err)
	}
	return int(n), nil
}

const noticeCols = `n.id, n.kind, n.app_id, COALESCE(a.name, ''), n.subject, n.ref, n.detail, COALESCE(n.dedup_key, ''), n.at`

func scanNotice(sc scanner) (*store.Notice, error) {
	n := &store.Notice{}
	err := sc.Scan(&n.ID, &n.Kind, &n.AppID, &n.App, &n.Subject, &n.Ref, &n.Detail, &n.Key, scanTime{&n.At})
	return n, err
}

// DeliveryNotices returns up to limit notices of a delivery in the order
// they were recorded.
func (s *Store) DeliveryNotices(ctx context.Context, deliveryID int64, limit int) ([]*store.Notice, error) {
	q := `SELECT ` + noticeCols + ` FROM notify_items i JOIN notices n ON n.id = i.notice_id
		LEFT JOIN apps a ON a.id = n.app_id WHERE i.delivery_id = ? ORDER BY n.id`
	args := []any{deliveryID}
	if limit > 0 {
		q, args = q+` LIMIT ?`, append(args, limit)
	}
	rows, err := s.rd.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the notices of delivery %d: %w", deliveryID, err)
	}
	return collect(rows, scanNotice, fmt.Sprintf("reading the notices of delivery %d", deliveryID))
}

// DeliveryCounts counts a delivery's notices by kind and app.
func (s *Store) DeliveryCounts(ctx context.Context, deliveryID int64) ([]store.NoticeCount, error) {
	rows, err := s.rd.query(ctx, `SELECT n.kind, COALESCE(a.name, ''), COUNT(*) FROM notify_items i
		JOIN notices n ON n.id = i.notice_id LEFT JOIN apps a ON a.id = n.app_id
		WHERE i.delivery_id = ? GROUP BY n.kind, a.name ORDER BY n.kind, a.name`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("counting the notices of delivery %d: %w", deliveryID, err)
	}
	return collect(rows, func(sc scanner) (store.NoticeCount, error) {
		var c store.NoticeCount
		return c, sc.Scan(&c.Kind, &c.App, &c.Count)
	}, fmt.Sprintf("counting the notices of delivery %d", deliveryID))
}

// FinishDelivery ends a delivery owner holds.
func (s *Store) FinishDelivery(ctx context.Context, id int64, owner string, now time.Time, d store.DeliveryEnd) error {
	t := s.wr.t(now)
	var q string
	var args []any
	switch {
	case d.Err == "":
		q, args = `state = 'sent', last_error = '', sent_at = ?`, []any{t}
	case d.Dead:
		q, args = `state = 'dead', last_error = ?`, []any{d.Err}
	default:
		q, args = `state = 'queued', last_error = ?, next_at = ?`, []any{d.Err, s.wr.t(d.NextAt)}
	}
	n, err := s.wr.execN(ctx, `UPDATE notify_deliveries SET `+q+`, owner = '', lease_until = NULL, updated_at = ?
		WHERE id = ? AND owner = ? AND state = 'running'`, append(args, t, id, owner)...)
	if err != nil {
		return fmt.Errorf("ending delivery %d: %w", id, err)
	}
	if n == 0 {
		return conflict("ending delivery %d: not running for %s", id, owner)
	}
	return nil
}

// ListDeliveries returns a channel's deliveries, newest first.
func (s *Store) ListDeliveries(ctx context.Context, channelID int64, limit int) ([]*store.Delivery, error) {
	if limit <= 0 {
		limit = 20
	}
	rows, err := s.rd.query(ctx, `SELECT `+deliveryCols+` FROM notify_deliveries WHERE channel_id = ?
		ORDER BY id DESC LIMIT ?`, channelID, limit)
	if err != nil {
		return nil, fmt.Errorf("listing the deliveries of channel %d: %w", channelID, err)
	}
	return collect(rows, scanDelivery, "listing deliveries")
}

// RetryDeadDeliveries requeues a channel's dead deliveries.
func (s *Store) RetryDeadDeliveries(ctx context.Context, channelID int64, now time.Time) (int, error) {
	n, err := s.wr.execN(ctx, `UPDATE notify_deliveries SET state = 'queued', attempts = 0, next_at = ?, updated_at = ?
		WHERE channel_id = ? AND state = 'dead'`, s.wr.t(now), s.wr.t(now), channelID)
	if err != nil {
		return 0, fmt.Errorf("requeueing the dead deliveries of channel %d: %w", channelID, err)
	}
	return int(n), nil
}
