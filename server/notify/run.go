package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/idsync/idsync/internal/backoff"
	"github.com/idsync/idsync/server/store"
)

// Run files notices into deliveries and sends those that are due, until
// ctx ends. It takes back at once the deliveries this hub (its Owner) held
// when it stopped.
func (s *Service) Run(ctx context.Context) error {
	if n, err := s.st.ReleaseDeliveries(ctx, s.opts.Owner, s.opts.Now()); err != nil {
		s.log.Warn("releasing the deliveries held before a restart", "err", err)
	} else if n > 0 {
		s.log.Info("took back the deliveries held before a restart", "deliveries", n)
	}
	tick := time.NewTicker(s.opts.PollInterval)
	defer tick.Stop()
	// The first look at the agents waits a watch interval: after a hub's
	// own outage its agents need a moment to connect again.
	watched := s.opts.Now()
	for {
		if now := s.opts.Now(); now.Sub(watched) >= s.opts.WatchInterval {
			watched = now
			if err := s.Watch(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("checking agents for notices", "err", err)
			}
		}
		if err := s.Step(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("delivering notifications", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Step files the pending notices and sends the deliveries that are due.
func (s *Service) Step(ctx context.Context) error {
	for {
		n, err := s.st.DispatchNotices(ctx, s.opts.Now(), 500)
		if err != nil {
			return fmt.Errorf("filing notices: %w", err)
		}
		if n < 500 {
			break
		}
	}
	// One at a time: a claim's lease covers one send, however slow the
	// servers of the ones after it.
	for {
		ds, err := s.st.ClaimDeliveries(ctx, s.opts.Owner, s.opts.Now(), s.opts.Lease, 1)
		if err != nil {
			return fmt.Errorf("claiming deliveries: %w", err)
		}
		if len(ds) == 0 {
			return nil
		}
		channels, err := s.channelsByID(ctx)
		if err != nil {
			return err
		}
		if err := s.deliver(ctx, channels[ds[0].ChannelID], ds[0]); err != nil {
			return err
		}
	}
}

func (s *Service) channelsByID(ctx context.Context) (map[int64]*store.NotifyChannel, error) {
	list, err := s.st.ListChannels(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the channels: %w", err)
	}
	out := make(map[int64]*store.NotifyChannel, len(list))
	for _, c := range list {
		out[c.ID] = c
	}
	return out, nil
}

// deliver sends one claimed delivery and records how it ended.
func (s *Service) deliver(ctx context.Context, c *store.NotifyChannel, d *store.Delivery) error {
	if c == nil {
		return nil // its channel was removed, with it
	}
	log := s.log.With("channel", c.Name, "delivery", d.ID, "attempt", d.Attempts)
	m, err := s.messageOf(ctx, c, d)
	if err != nil {
		return err
	}
	res, sendErr := s.send(ctx, c, m)
	now := s.opts.Now()
	end := store.DeliveryEnd{}
	switch {
	case sendErr == nil:
		log.Info("notification sent", "events", m.total(), "result", res)
	case ctx.Err() != nil:
		// Stopping: the delivery is taken back on the next start.
		return nil
	case d.Attempts >= s.opts.MaxAttempts:
		end = store.DeliveryEnd{Err: sendErr.Error(), Dead: true}
		log.Warn("notification dead-lettered", "err", sendErr)
	default:
		end = store.DeliveryEnd{Err: sendErr.Error(),
			NextAt: now.Add(backoff.Delay(s.opts.MinBackoff, s.opts.MaxBackoff, d.Attempts-1))}
		log.Info("notification failed, will retry", "err", sendErr, "next", end.NextAt)
	}
	if err := s.st.FinishDelivery(ctx, d.ID, s.opts.Owner, now, end); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("recording delivery %d: %w", d.ID, err)
	}
	return nil
}

func (s *Service) messageOf(ctx context.Context, c *store.NotifyChannel, d *store.Delivery) (*message, error) {
	notices, err := s.st.DeliveryNotices(ctx, d.ID, MessageNotices)
	if err != nil {
		return nil, err
	}
	counts, err := s.st.DeliveryCounts(ctx, d.ID)
	if err != nil {
		return nil, err
	}
	return &message{Channel: c.Name, Delivery: d.ID, Notices: notices, Counts: counts, At: s.opts.Now().UTC()}, nil
}

// Watch records the conditions the hub finds itself: agents silent for
// longer than AgentOfflineAfter, and agent certificates that expire
// within CertExpiringWithin. Each is recorded once (per silence, per
// certificate), however many replicas watch.
func (s *Service) Watch(ctx context.Context) error {
	agents, err := s.st.ListAgents(ctx)
	if err != nil {
		return fmt.Errorf("listing agents: %w", err)
	}
	now := s.opts.Now()
	for _, a := range agents {
		if !a.RevokedAt.IsZero() {
			continue
		}
		name := a.Name
		if name == "" {
			name = a.ID
		}
		if !a.LastSeen.IsZero() && now.Sub(a.LastSeen) > s.opts.AgentOfflineAfter {
			n := &store.Notice{Kind: store.NoticeAgentOffline, Subject: name, Ref: "agent:" + a.ID,
				Key: fmt.Sprintf("agent.offline:%s:%d", a.ID, a.LastSeen.UnixMilli()),
				Detail: fmt.Sprintf("agent %s (%s) has not been heard from since %s (%s ago), longer than %s",
					name, a.ID, a.LastSeen.UTC().Format(time.RFC3339), now.Sub(a.LastSeen).Round(time.Second), s.opts.AgentOfflineAfter)}
			if _, err := s.st.RecordNotice(ctx, n); err != nil {
				return err
			}
		}
		if !a.CertExpiresAt.IsZero() && a.CertExpiresAt.Sub(now) < CertExpiringWithin {
			n := &store.Notice{Kind: store.NoticeCertExpiring, Subject: name, Ref: "agent:" + a.ID,
				Key:    fmt.Sprintf("agent.cert:%s:%s", a.ID, a.CertSerial),
				Detail: certDetail(a, now)}
			if _, err := s.st.RecordNotice(ctx, n); err != nil {
				return err
			}
		}
	}
	return nil
}

func certDetail(a *store.Agent, now time.Time) string {
	when := a.CertExpiresAt.UTC().Format(time.RFC3339)
	if !a.CertExpiresAt.After(now) {
		return fmt.Sprintf("the certificate of agent %s (serial %s) expired at %s: the agent cannot connect; enrol it again", a.ID, a.CertSerial, when)
	}
	d := fmt.Sprintf("the certificate of agent %s (serial %s) expires at %s", a.ID, a.CertSerial, when)
	if a.PendingCertSerial != "" {
		d += "; a renewed one is waiting for the agent's next connection"
	}
	return d
}
