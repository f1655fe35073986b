// Package notify tells admins what needs them, by e-mail (SMTP) and by
// webhook (a signed HTTPS POST of JSON).
//
// # Events
//
// The store records a notice in the transaction of the change it tells
// (server/store.Notifications): a manual deprovision task opened, an
// import paused by the safeguard, a push dead-lettered, an app paused by
// 401/403. The service finds two conditions itself, once per key, on any
// replica: an agent not heard from for longer than Options.AgentOfflineAfter
// (once per silence), and an agent certificate that expires within
// CertExpiringWithin (once per certificate).
//
// # Delivery
//
// Run files every notice into the collecting delivery of each channel
// that wants its kind; a delivery collects for the channel's digest window
// (5 minutes by default) and is then one message, whatever it holds: a
// burst of 5,000 tasks is one e-mail that counts them and lists the first
// MessageNotices. A delivery is claimed through the store with a lease,
// retried with backoff (internal/backoff) and dead-lettered after
// MaxAttempts, visible in `notify show`. A hub killed at any point loses
// no notice (they are rows written with the change) and sends a delivery
// again only when it died during the send itself: deliveries are
// at-least-once, and every message names its delivery (Message-ID,
// X-Idsync-Delivery) so a receiver can tell a repeat.
//
// # Secrets
//
// An SMTP password and a webhook's signing secret are sealed with the
// hub's key (server/secrets) and opened only to send. A message holds
// names, counts and what to do, never a secret. A webhook URL may carry a
// token in its path or query: logs, errors and audit events name it
// scheme://host/… (RedactURL), and List and Get show it whole only in the
// Full view, for those who manage channels. A channel's server obeys
// the outbound rules of app URLs: no loopback, link-local or otherwise
// local address, nor the hub's own listeners, unless a super-admin allowed
// local addresses for the channel; a webhook is https:// only, follows no
// redirect.
//
// It may import `server/store`, `server/secrets`, `server/refusal`,
// `server/outbound` and `internal/backoff`; never `server/api`, `agent` or `ldapsync`.
package notify
