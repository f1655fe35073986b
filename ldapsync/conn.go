package ldapsync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/ldapwire"
)

// ErrInvalidCredentials is wrapped by Dial's error when the server rejects
// the bind DN and password.
var ErrInvalidCredentials = errors.New("invalid credentials")

// DefaultTimeout bounds Dial when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Config says how to reach and bind to a directory server.
type Config struct {
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL string
	// StartTLS upgrades an ldap:// connection to TLS before binding.
	StartTLS bool
	// BindDN and BindPassword authenticate with a simple bind; both empty
	// means an anonymous connection.
	BindDN, BindPassword string
	// CAFile is a PEM file of CAs to trust for TLS instead of the system's.
	CAFile string
	// Timeout bounds dialling, TLS and binding; DefaultTimeout when zero.
	// Searches are bounded by their ctx only.
	Timeout time.Duration
}

// searcher is the part of *ldap.Conn that a bound Conn uses. Every search
// goes through SearchAsync, so that ctx cancels it; the writes (Write) take
// no ctx in go-ldap, and Write checks ctx between them.
type searcher interface {
	SearchAsync(ctx context.Context, req *ldap.SearchRequest, bufferSize int) ldap.Response
	Add(req *ldap.AddRequest) error
	Modify(req *ldap.ModifyRequest) error
	ModifyDN(req *ldap.ModifyDNRequest) error
	Del(req *ldap.DelRequest) error
	PasswordModify(req *ldap.PasswordModifyRequest) (*ldap.PasswordModifyResult, error)
	// IsClosing tells a search that ended without an error because the
	// connection went away from one that completed.
	IsClosing() bool
	Close() error
}

var _ searcher = (*ldap.Conn)(nil)

// Conn is a bound connection to a directory server. It is not safe for
// concurrent imports.
type Conn struct {
	ldap searcher
	url  string
	cfg  Config
	tls  *tls.Config

	// wire is a second connection, dialled on first use, that bulk reads
	// go through: ldapwire decodes entries in place, about eight times
	// faster than go-ldap (see internal/ldapwire).
	wireMu sync.Mutex
	wire   *ldapwire.Conn
}

// Close closes the connection.
func (c *Conn) Close() error {
	c.wireMu.Lock()
	if c.wire != nil {
		c.wire.Close()
		c.wire = nil
	}
	c.wireMu.Unlock()
	return c.ldap.Close()
}

// wireConn returns the bulk-read connection, dialling and binding it with
// the same settings as the first when needed. ctx and the config's timeout
// bound the dial and bind.
func (c *Conn) wireConn(ctx context.Context) (*ldapwire.Conn, error) {
	c.wireMu.Lock()
	defer c.wireMu.Unlock()
	if c.wire != nil {
		return c.wire, nil
	}
	timeout := c.cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	w, err := ldapwire.Dial(dctx, c.cfg.URL, ldapwire.Options{TLSConfig: c.tls, StartTLS: c.cfg.StartTLS, IdleTimeout: 5 * time.Minute})
	if err != nil {
		return nil, redact(fmt.Errorf("connecting to %s: %w", c.cfg.URL, err), c.cfg.BindPassword)
	}
	if c.cfg.BindDN != "" {
		if err := w.Bind(dctx, c.cfg.BindDN, c.cfg.BindPassword); err != nil {
			w.Close()
			var re *ldapwire.ResultError
			if errors.As(err, &re) && re.Code == int(ldap.LDAPResultInvalidCredentials) {
				err = fmt.Errorf("the server rejected the credentials (%s): %w", re.Message, ErrInvalidCredentials)
			}
			return nil, redact(fmt.Errorf("binding to %s as %q: %w", c.cfg.URL, c.cfg.BindDN, err), c.cfg.BindPassword)
		}
	}
	c.wire = w
	return w, nil
}

// wireSearch runs one request on the bulk-read connection. A failure other
// than an LDAP result (a broken connection, a cancelled ctx, which closes
// it) drops the connection so that the next read dials afresh. Errors name
// the server, base and filter.
func (c *Conn) wireSearch(ctx context.Context, req *ldapwire.SearchRequest, fn func(*ldapwire.Entry) error) ([]byte, error) {
	w, err := c.wireConn(ctx)
	if err != nil {
		return nil, err
	}
	fnFailed := false
	cookie, err := w.Search(ctx, req, func(e *ldapwire.Entry) error {
		if err := fn(e); err != nil {
			fnFailed = true
			return err
		}
		return nil
	})
	if err == nil {
		return cookie, nil
	}
	var re *ldapwire.ResultError
	// ldapwire closes the connection when ctx ends; any failure but an LDAP
	// result or the callback's own error leaves it unusable too.
	if ctx.Err() != nil || (!fnFailed && !errors.As(err, &re)) {
		c.wireMu.Lock()
		if c.wire == w {
			w.Close()
			c.wire = nil
		}
		c.wireMu.Unlock()
	}
	if fnFailed {
		return cookie, err
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = ctxErr
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil, err
	}
	return nil, fmt.Errorf("searching %s under %q for %s: %w", c.url, req.BaseDN, req.Filter, err)
}

// searchUpToTwo runs a search on the bulk-read connection with a size
// limit of two — enough to tell one entry from several — calling fn for
// each entry, and returns how many it saw. A search the limit stopped
// after two entries is no error.
func (c *Conn) searchUpToTwo(ctx context.Context, base string, scope int, filter string, attrs []string, fn func(*ldapwire.Entry) error) (int, error) {
	req := &ldapwire.SearchRequest{BaseDN: base, Scope: scope, Filter: filter, Attributes: attrs, SizeLimit: 2}
	n := 0
	_, err := c.wireSearch(ctx, req, func(e *ldapwire.Entry) error {
		n++
		return fn(e)
	})
	if ldapwire.IsResultCode(err, ldap.LDAPResultSizeLimitExceeded) && n > 1 {
		return n, nil
	}
	return n, err
}

// URL returns the URL the connection was dialled with.
func (c *Conn) URL() string { return c.url }

// TLS reports whether the connection is encrypted: ldaps:// or StartTLS.
func (c *Conn) TLS() bool { return c.tls != nil }

// stream runs one search to its end, calling fn for every response as it
// arrives: an entry with its controls, or (entry nil) the controls of an
// intermediate response or of the final result. Errors from fn and ctx are
// returned as they are; search errors name the server, base and filter.
func (c *Conn) stream(ctx context.Context, req *ldap.SearchRequest, fn func(*ldap.Entry, []ldap.Control) error) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops go-ldap's reading when fn fails
	resp := c.ldap.SearchAsync(sctx, req, searchBuffer)
	// Next may still deliver results buffered before a cancellation.
	for ctx.Err() == nil && resp.Next() {
		if resp.Entry() == nil && resp.Referral() != "" {
			continue
		}
		if err := fn(resp.Entry(), resp.Controls()); err != nil {
			return err
		}
	}
	// go-ldap reports neither cancellation nor a connection closed before
	// the search was sent: both look like a search that completed.
	if err := ctx.Err(); err != nil {
		return err
	}
	err := resp.Err()
	if err == nil && c.ldap.IsClosing() {
		err = errors.New("the connection closed")
	}
	if err != nil {
		return fmt.Errorf("searching %s under %q for %s: %w", c.url, req.BaseDN, req.Filter, err)
	}
	return nil
}

// search runs one search to its end, calling fn for every entry as it
// arrives, and returns the controls of the final result.
func (c *Conn) search(ctx context.Context, req *ldap.SearchRequest, fn func(*ldap.Entry) error) ([]ldap.Control, error) {
	var controls []ldap.Control
	err := c.stream(ctx, req, func(e *ldap.Entry, cs []ldap.Control) error {
		if e == nil {
			controls = cs
			return nil
		}
		return fn(e)
	})
	return controls, err
}

// Dial connects to cfg.URL, sets up TLS (ldaps:// or StartTLS) and binds.
// ctx and cfg.Timeout bound all of it. Errors name the URL (and the bind DN
// for bind errors) but never the password.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	u, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var tlsConfig *tls.Config
	if u.Scheme == "ldaps" || cfg.StartTLS {
		if tlsConfig, err = cfg.tlsConfig(u.Hostname()); err != nil {
			return nil, err
		}
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"ldap": ldap.DefaultLdapPort, "ldaps": ldap.DefaultLdapsPort}[u.Scheme]
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", cfg.URL, err)
	}
	if u.Scheme == "ldaps" {
		tc := tls.Client(raw, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", cfg.URL, err)
		}
		raw = tc
	}
	l := ldap.NewConn(raw, u.Scheme == "ldaps")
	l.Start()
	// go-ldap's StartTLS and Bind take no ctx: closing the connection is how
	// ctx interrupts them.
	stop := context.AfterFunc(ctx, func() { l.Close() })
	fail := func(what string, err error) (*Conn, error) {
		stop()
		l.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, redact(fmt.Errorf("%s: %w", what, err), cfg.BindPassword)
	}
	if cfg.StartTLS {
		if err := l.StartTLS(tlsConfig); err != nil {
			return fail("StartTLS with "+cfg.URL, err)
		}
	}
	if cfg.BindDN != "" {
		if err := l.Bind(cfg.BindDN, cfg.BindPassword); err != nil {
			return fail(fmt.Sprintf("binding to %s as %q", cfg.URL, cfg.BindDN), bindError(err))
		}
	}
	if !stop() {
		return fail("connecting to "+cfg.URL, ctx.Err())
	}
	return &Conn{ldap: l, url: cfg.URL, cfg: cfg, tls: tlsConfig}, nil
}

// bindError turns a rejected bind into ErrInvalidCredentials, keeping the
// server's diagnostic (AD's "data 52e" tells a wrong password from a locked
// account).
func bindError(err error) error {
	var lerr *ldap.Error
	if errors.As(err, &lerr) && lerr.ResultCode == ldap.LDAPResultInvalidCredentials {
		if lerr.Err != nil && lerr.Err.Error() != "" {
			return fmt.Errorf("the server rejected the credentials (%s): %w", lerr.Err, ErrInvalidCredentials)
		}
		return fmt.Errorf("the server rejected the credentials: %w", ErrInvalidCredentials)
	}
	return err
}

// redactedError hides a secret in an error's text while keeping the chain
// for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err with every occurrence of secret in its text replaced,
// so that no server or library echo can leak a password into a log.
func redact(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), secret, "[redacted]"), err: err}
}

func (cfg Config) validate() (*url.URL, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("LDAP URL %q: %w", cfg.URL, err)
	}
	switch {
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		return nil, fmt.Errorf("LDAP URL %q: scheme must be ldap or ldaps", cfg.URL)
	case u.Hostname() == "":
		return nil, fmt.Errorf("LDAP URL %q: no host", cfg.URL)
	case cfg.StartTLS && u.Scheme == "ldaps":
		return nil, fmt.Errorf("LDAP URL %q: StartTLS is for ldap://, not ldaps://", cfg.URL)
	case cfg.BindDN == "" && cfg.BindPassword != "":
		return nil, fmt.Errorf("LDAP %s: a bind password without a bind DN", cfg.URL)
	case cfg.BindDN != "" && cfg.BindPassword == "":
		// An empty password would be an unauthenticated bind, which servers
		// accept for any DN without checking anything.
		return nil, fmt.Errorf("LDAP %s: bind DN %q has an empty password", cfg.URL, cfg.BindDN)
	}
	return u, nil
}

func (cfg Config) tlsConfig(host string) (*tls.Config, error) {
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if cfg.CAFile == "" {
		return tc, nil
	}
	pemBytes, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("reading the CA file for %s: %w", cfg.URL, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("CA file %s for %s: no PEM certificate in it", cfg.CAFile, cfg.URL)
	}
	tc.RootCAs = pool
	return tc, nil
}
