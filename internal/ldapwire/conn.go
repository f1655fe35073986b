package ldapwire

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultIdleTimeout is how long a read or write may wait for the
	// server when Options.IdleTimeout is zero.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxMessageBytes caps one message from the server when
	// Options.MaxMessageBytes is zero.
	DefaultMaxMessageBytes = 256 << 20
)

// Options say how to connect.
type Options struct {
	// TLSConfig is used for ldaps:// and StartTLS. Nil means the system's
	// roots; an empty ServerName is set to the URL's host.
	TLSConfig *tls.Config
	// StartTLS upgrades an ldap:// connection to TLS before Dial returns.
	StartTLS bool
	// IdleTimeout bounds every wait for the server (a read or write that
	// makes no progress), so that a dead server fails a search instead of
	// hanging it: DefaultIdleTimeout when zero, none when negative. A search
	// whose server thinks longer than this before its first entry fails.
	IdleTimeout time.Duration
	// MaxMessageBytes caps one message (one entry) from the server:
	// DefaultMaxMessageBytes when zero.
	MaxMessageBytes int
}

// Conn is a connection to an LDAP server. It runs one operation at a time:
// its methods other than Close must not be called concurrently. Cancelling
// an operation's ctx closes the connection (see Search).
type Conn struct {
	url  string
	raw  net.Conn // the TCP connection: closing it interrupts any wait
	conn net.Conn // requests and responses: raw with deadlines, or TLS over that
	r    *bufio.Reader
	max  int

	buf   []byte // the last message read; Entry slices point into it
	wbuf  []byte // the request being written
	entry Entry  // reused for every entry
	id    int32  // the last message id used

	// filter and filterBER cache the last compiled filter: every page of a
	// search sends the same one.
	filter    string
	filterBER []byte

	// err is why the connection cannot be used any more. It is written
	// only while busy, or by Close.
	err error

	// interrupted is set when an operation's ctx ends: the connection is
	// being closed, and no more entries go to the callback.
	interrupted atomic.Bool

	mu     sync.Mutex // guards busy and closed
	busy   bool
	closed bool
}

// minBuffer is the initial size of the read buffers; keepBuffer is the
// largest message buffer kept once a bigger message has gone.
const (
	minBuffer  = 64 << 10
	keepBuffer = 1 << 20
)

// Dial connects to an ldap:// or ldaps:// URL (the default ports are 389
// and 636; any DN or query in the URL is ignored) and sets up TLS when the
// scheme or opts.StartTLS asks for it. ctx bounds the dial, the TLS
// handshake and StartTLS.
func Dial(ctx context.Context, rawURL string, opts Options) (*Conn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("LDAP URL %q: %w", rawURL, err)
	}
	port := map[string]string{"ldap": "389", "ldaps": "636"}[u.Scheme]
	switch {
	case port == "":
		return nil, fmt.Errorf("LDAP URL %q: scheme must be ldap or ldaps", rawURL)
	case u.Hostname() == "":
		return nil, fmt.Errorf("LDAP URL %q: no host", rawURL)
	case opts.StartTLS && u.Scheme == "ldaps":
		return nil, fmt.Errorf("LDAP URL %q: StartTLS is for ldap://, not ldaps://", rawURL)
	case opts.MaxMessageBytes < 0:
		return nil, fmt.Errorf("LDAP %s: MaxMessageBytes %d is negative", rawURL, opts.MaxMessageBytes)
	}
	if u.Port() != "" {
		port = u.Port()
	}
	tlsConfig := opts.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if tlsConfig.ServerName == "" {
		tlsConfig = tlsConfig.Clone()
		tlsConfig.ServerName = u.Hostname()
	}

	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", rawURL, err)
	}
	c := newConn(rawURL, raw, opts)
	if u.Scheme == "ldaps" {
		tc := tls.Client(c.conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", rawURL, err)
		}
		c.conn = tc
		c.r.Reset(tc)
	}
	if opts.StartTLS {
		if err := c.startTLS(ctx, tlsConfig); err != nil {
			raw.Close()
			return nil, fmt.Errorf("StartTLS with %s: %w", rawURL, err)
		}
	}
	return c, nil
}

// newConn wraps a fresh connection to the server rawURL names.
func newConn(rawURL string, raw net.Conn, opts Options) *Conn {
	idle := opts.IdleTimeout
	if idle == 0 {
		idle = DefaultIdleTimeout
	}
	c := &Conn{url: rawURL, raw: raw, conn: &deadlineConn{Conn: raw, idle: idle}, max: opts.MaxMessageBytes}
	if c.max == 0 {
		c.max = DefaultMaxMessageBytes
	}
	c.r = bufio.NewReaderSize(c.conn, minBuffer)
	return c
}

// URL returns the URL the connection was dialled with.
func (c *Conn) URL() string { return c.url }

// Close sends an Unbind, unless an operation is running, and closes the
// connection. It may be called at any time, from any goroutine; an
// operation running meanwhile fails.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	busy := c.busy
	c.mu.Unlock()
	if !busy && c.err == nil {
		// Best effort: the server ends the session either way.
		b := envelope(nil, c.nextID(), func(b []byte) []byte { return append(b, tagUnbindRequest, 0) })
		_, _ = c.conn.Write(b)
	}
	if err := c.raw.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("closing the connection to %s: %w", c.url, err)
	}
	return nil
}

// errInterrupted stops an operation whose ctx ended.
var errInterrupted = errors.New("interrupted")

// errClosed is the cause of operations on a closed Conn.
var errClosed = errors.New("the connection is closed")

// do runs op as the connection's one operation, with ctx closing the
// connection when it ends first. It returns ctx's error in that case, since
// op then fails on the closed connection.
func (c *Conn) do(ctx context.Context, op func() error) error {
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return errClosed
	case c.busy:
		c.mu.Unlock()
		return errors.New("another operation is running on the connection")
	case c.err != nil:
		c.mu.Unlock()
		return fmt.Errorf("the connection is unusable after an earlier failure: %w", c.err)
	}
	c.busy = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.busy = false
		c.mu.Unlock()
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		c.interrupted.Store(true)
		c.raw.Close()
	})
	err := op()
	if !stop() {
		c.err = fmt.Errorf("closed when an operation's context ended: %w", ctx.Err())
		return ctx.Err()
	}
	return err
}

// fail marks the connection unusable, because the byte stream can no longer
// be trusted, closes it and returns err.
func (c *Conn) fail(err error) error {
	if c.err == nil {
		c.err = err
	}
	c.raw.Close()
	return err
}

// nextID returns a fresh message id; ids wrap around from 2³¹-1 to 1.
func (c *Conn) nextID() int32 {
	c.id++
	if c.id <= 0 {
		c.id = 1
	}
	return c.id
}

// send writes a request; a failed write makes the connection unusable.
func (c *Conn) send(b []byte) error {
	if _, err := c.conn.Write(b); err != nil {
		return c.fail(fmt.Errorf("sending a request: %w", err))
	}
	return nil
}

// receive returns the next message with id, skipping late responses to
// abandoned requests and unsolicited notifications other than a notice of
// disconnection, which makes an error. The message aliases c.buf.
func (c *Conn) receive(id int32) (message, error) {
	for {
		body, buf, err := readMessage(c.r, c.buf, c.max)
		if cap(buf) < cap(c.buf) {
			// A big buffer was let go: so must the entry's slots, which
			// still point into it.
			c.entry = Entry{}
		}
		c.buf = buf
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the server closed the connection")
			}
			return message{}, c.fail(err)
		}
		m, err := parseMessage(body)
		if err != nil {
			return message{}, c.fail(err)
		}
		switch m.id {
		case id:
			return m, nil
		case 0:
			if err := unsolicited(m); err != nil {
				return message{}, c.fail(err)
			}
		}
	}
}

// unsolicited returns an error for a notice of disconnection (or any
// failed unsolicited extended response), nil for other notifications.
func unsolicited(m message) error {
	if m.op != tagExtendedResponse {
		return nil
	}
	r, err := parseResult(m.body)
	if err != nil {
		return fmt.Errorf("unsolicited notification: %w", err)
	}
	name, _ := find(r.rest, tagResponseName)
	if string(name) != oidNoticeOfDisconnection && r.code == 0 {
		return nil
	}
	re := &ResultError{Code: int(r.code), Message: string(r.message), MatchedDN: string(r.matchedDN)}
	return fmt.Errorf("the server ended the connection (notice of disconnection): %w", re)
}

// readMessage reads one LDAPMessage and returns its contents, in buf when
// it fits, else in a buffer grown as the bytes arrive (so that a bogus
// length cannot make it allocate up front); it returns the buffer to keep.
// io.EOF means the stream ended between messages; the message is refused
// when longer than limit.
func readMessage(r *bufio.Reader, buf []byte, limit int) (body, keep []byte, err error) {
	tag, err := r.ReadByte()
	if err != nil {
		return nil, buf, err
	}
	if tag != tagSequence {
		return nil, buf, malformed("message starts with 0x%02x, want a SEQUENCE", tag)
	}
	var hdr [9]byte
	if hdr[0], err = r.ReadByte(); err != nil {
		return nil, buf, noEOF(err)
	}
	k := 0
	if hdr[0] > 0x80 && hdr[0] <= 0x88 {
		k = int(hdr[0] & 0x7f)
	}
	// Byte by byte: handing hdr to io.ReadFull would put it on the heap.
	for i := 1; i <= k; i++ {
		if hdr[i], err = r.ReadByte(); err != nil {
			return nil, buf, noEOF(err)
		}
	}
	n, _, err := length(hdr[:1+k], int(^uint(0)>>1))
	if err != nil {
		return nil, buf, err
	}
	if n > limit {
		return nil, buf, fmt.Errorf("a message of %d bytes exceeds the limit of %d bytes (MaxMessageBytes)", n, limit)
	}
	if cap(buf) > keepBuffer && n <= minBuffer {
		buf = make([]byte, 0, minBuffer) // let the big one go
	}
	if n <= cap(buf) {
		body = buf[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, buf, noEOF(err)
		}
		return body, buf, nil
	}
	body = buf[:0]
	for len(body) < n {
		if len(body) == cap(body) {
			grown := make([]byte, len(body), max(minBuffer, min(n, 2*cap(body))))
			copy(grown, body)
			body = grown
		}
		m, err := io.ReadFull(r, body[len(body):min(n, cap(body))])
		body = body[:len(body)+m]
		if err != nil {
			return nil, body[:0], noEOF(err)
		}
	}
	return body, body, nil
}

// noEOF says that the stream ended inside a message.
func noEOF(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("the server closed the connection mid-message: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// envelope appends an LDAPMessage with id whose protocolOp op appends.
func envelope(b []byte, id int32, op func([]byte) []byte) []byte {
	b, start := begin(b, tagSequence)
	b = appendInt(b, tagInteger, int64(id))
	return end(op(b), start)
}

// abandon asks the server to stop sending results for id. Their late
// responses are skipped by receive.
func (c *Conn) abandon(id int32) {
	c.wbuf = envelope(c.wbuf[:0], c.nextID(), func(b []byte) []byte {
		return appendInt(b, tagAbandonRequest, int64(id))
	})
	_ = c.send(c.wbuf) // a failed write marks the connection
}

// call sends the request in c.wbuf, then clears it (a bind's holds a
// password), and returns the LDAPResult of the response to id, which must
// be tagged want; what names the operation in errors.
func (c *Conn) call(id int32, want byte, what string) (result, error) {
	err := c.send(c.wbuf)
	clear(c.wbuf)
	if err != nil {
		return result{}, err
	}
	m, err := c.receive(id)
	if err != nil {
		return result{}, err
	}
	if m.op != want {
		return result{}, c.fail(malformed("response 0x%02x to %s", m.op, what))
	}
	r, err := parseResult(m.body)
	if err != nil {
		return result{}, c.fail(fmt.Errorf("%s response: %w", what, err))
	}
	return r, nil
}

// Bind authenticates with a simple bind; an empty dn and password make an
// anonymous bind. A rejected bind is a *ResultError (Code 49 for invalid
// credentials). Errors never contain the password.
func (c *Conn) Bind(ctx context.Context, dn, password string) error {
	if dn != "" && password == "" {
		// An empty password is an unauthenticated bind, which servers accept
		// for any DN without checking anything.
		return fmt.Errorf("binding to %s as %q: empty password", c.url, dn)
	}
	err := c.do(ctx, func() error {
		id := c.nextID()
		c.wbuf = envelope(c.wbuf[:0], id, func(b []byte) []byte {
			b, op := begin(b, tagBindRequest)
			b = appendInt(b, tagInteger, 3)
			b = appendBytes(b, tagOctetString, dn)
			b = appendBytes(b, tagSimpleAuth, password)
			return end(b, op)
		})
		r, err := c.call(id, tagBindResponse, "bind")
		if err != nil {
			return err
		}
		if err := resultError(r); err != nil {
			redact(err, password)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("binding to %s as %q: %w", c.url, dn, err)
	}
	return nil
}

// oidStartTLS is the StartTLS extended operation (RFC 4511 section 4.14).
const oidStartTLS = "1.3.6.1.4.1.1466.20037"

// startTLS runs the StartTLS operation and the TLS handshake.
func (c *Conn) startTLS(ctx context.Context, config *tls.Config) error {
	return c.do(ctx, func() error {
		id := c.nextID()
		c.wbuf = envelope(c.wbuf[:0], id, func(b []byte) []byte {
			b, op := begin(b, tagExtendedRequest)
			b = appendBytes(b, tagExtendedName, oidStartTLS)
			return end(b, op)
		})
		r, err := c.call(id, tagExtendedResponse, "StartTLS")
		if err != nil {
			return err
		}
		if err := resultError(r); err != nil {
			return err
		}
		if c.r.Buffered() > 0 {
			return c.fail(malformed("%d bytes after the StartTLS response, before the TLS handshake", c.r.Buffered()))
		}
		tc := tls.Client(c.conn, config)
		if err := tc.HandshakeContext(ctx); err != nil {
			return c.fail(fmt.Errorf("TLS handshake: %w", err))
		}
		c.conn = tc
		c.r.Reset(tc)
		return nil
	})
}

// deadlineConn gives every read and write on the TCP connection a fresh
// deadline, so that a server that stops answering fails the operation.
type deadlineConn struct {
	net.Conn
	idle time.Duration // none when negative
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	if d.idle > 0 {
		if err := d.Conn.SetReadDeadline(time.Now().Add(d.idle)); err != nil {
			return 0, err
		}
	}
	n, err := d.Conn.Read(p)
	return n, d.timeout(err)
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	if d.idle > 0 {
		if err := d.Conn.SetWriteDeadline(time.Now().Add(d.idle)); err != nil {
			return 0, err
		}
	}
	n, err := d.Conn.Write(p)
	return n, d.timeout(err)
}

// timeout says what a deadline error means.
func (d *deadlineConn) timeout(err error) error {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("the server made no progress for %v (IdleTimeout): %w", d.idle, err)
	}
	return err
}
