// Package smtptest runs a real SMTP server for tests
// (github.com/emersion/go-smtp): on a loopback port, with STARTTLS or
// implicit TLS, PLAIN authentication when a user is set, keeping the
// messages it accepts, so that the hub's e-mail notifications are tested
// against a server that speaks the protocol, not a fake.
//
// It may import the standard library, `github.com/emersion/go-smtp` and
// `github.com/emersion/go-sasl`; nothing of idsync, so that every
// package's tests can use it.
package smtptest
