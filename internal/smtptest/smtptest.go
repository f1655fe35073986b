package smtptest

import (
	"crypto/tls"
	"errors"
	"io"
	"mime/quotedprintable"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options say how the server is served.
type Options struct {
	// TLS serves STARTTLS with this config (nil: no STARTTLS).
	TLS *tls.Config
	// Implicit serves TLS from the first byte (port 465's way) instead.
	Implicit bool
	// User and Password, when User is set, are the only PLAIN credentials
	// taken; a message is refused before them.
	User, Password string
}

// Mail is one message the server accepted.
type Mail struct {
	From string
	To   []string
	// Data is the message as received, headers and body.
	Data string
	// Authenticated says the session authenticated first.
	Authenticated bool
}

// Split returns a message's headers and its body, the body decoded from
// quoted-printable.
func (m Mail) Split() (headers, body string, err error) {
	headers, raw, ok := strings.Cut(m.Data, "\r\n\r\n")
	if !ok {
		return "", "", errors.New("no blank line between the headers and the body")
	}
	b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(raw)))
	return headers, string(b), err
}

// Server is a running SMTP server.
type Server struct {
	// Addr is its host:port.
	Addr string
	opts Options
	mu   sync.Mutex
	msgs []Mail
}

// Start serves a server on loopback until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	srv := &Server{opts: opts}
	s := smtp.NewServer(srv)
	s.Domain = "mail.test"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.TLSConfig = opts.TLS
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Implicit {
		l = tls.NewListener(l, opts.TLS)
	}
	srv.Addr = l.Addr().String()
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { s.Close() })
	return srv
}

// Mails returns the messages accepted so far.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.msgs...)
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{srv: s}, nil }

type session struct {
	srv *Server
	m   Mail
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if ss.srv.opts.User == "" || user != ss.srv.opts.User || pass != ss.srv.opts.Password {
			return errors.New("invalid credentials")
		}
		ss.m.Authenticated = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.srv.opts.User != "" && !ss.m.Authenticated {
		return smtp.ErrAuthRequired
	}
	ss.m.From = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.m.To = append(ss.m.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.m.Data = string(b)
	ss.srv.mu.Lock()
	ss.srv.msgs = append(ss.srv.msgs, ss.m)
	ss.srv.mu.Unlock()
	return nil
}

func (ss *session) Reset()        { ss.m = Mail{Authenticated: ss.m.Authenticated} }
func (ss *session) Logout() error { return nil }
