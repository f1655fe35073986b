package scimtest

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Fault is one programmed misbehaviour: the next Times requests matching
// Method and PathPrefix get it instead of (or on top of) their normal answer.
type Fault struct {
	// Method matches the HTTP method ("" matches any).
	Method string
	// PathPrefix matches the start of the URL path ("" matches any), e.g.
	// "/Users" or "/Groups/".
	PathPrefix string
	// Times is how many matching requests the fault hits: 0 means once, a
	// negative number means until ClearFaults.
	Times int

	// Status answers the request with this status and a SCIM error body,
	// without touching storage (500, 502, 503, 401, 429…).
	Status int
	// RetryAfter is sent as the Retry-After header with Status: seconds ("2")
	// or an HTTP date.
	RetryAfter string
	// Commit applies the request to storage and then replaces its answer with
	// Status (502 when Status is 0): a write whose response is lost.
	Commit bool
	// Drop closes the connection without an answer (the client sees a
	// network error).
	Drop bool
	// Latency delays the request before anything else happens. A fault with
	// only Latency delays matching requests and then serves them normally.
	Latency time.Duration
}

// rule is a Fault with its remaining count.
type rule struct {
	Fault
	left int // < 0: unlimited
}

func (f Fault) matches(r *http.Request) bool {
	return (f.Method == "" || strings.EqualFold(f.Method, r.Method)) && strings.HasPrefix(r.URL.Path, f.PathPrefix)
}

// Inject programs a fault; faults are tried in the order they were injected
// and each request takes at most one.
func (s *Server) Inject(f Fault) {
	left := f.Times
	if left == 0 {
		left = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &rule{Fault: f, left: left})
}

// ClearFaults removes every programmed fault (not latency nor Down).
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// SetLatency delays every request by d (0 removes the delay).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Down takes the application down until Up: a server from Start or Listen
// closes its listener and open connections (clients get connection refused);
// one from New answers 503 to every request.
func (s *Server) Down() {
	s.mu.Lock()
	s.down = true
	s.mu.Unlock()
	if s.net != nil {
		s.net.down()
	}
}

// Up brings the application back on the same address.
func (s *Server) Up() error {
	if s.net != nil {
		if err := s.net.up(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.down = false
	s.mu.Unlock()
	return nil
}

// admit counts r and picks its fault, delay and whether the server is down.
func (s *Server) admit(r *http.Request) (*rule, time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[reqKey{r.Method, r.URL.Path}]++
	wait := s.latency
	for i, f := range s.faults {
		if !f.matches(r) {
			continue
		}
		if f.left > 0 {
			f.left--
			if f.left == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return f, wait + f.Latency, s.down
	}
	return nil, wait, s.down
}

// refuse answers a request that reached a down server: its connection is
// closed when there is one to close, else 503.
func (s *Server) refuse(w http.ResponseWriter) {
	if s.net != nil && dropConn(w) {
		return
	}
	writeError(w, http.StatusServiceUnavailable, "", "the application is down")
}

func writeFault(w http.ResponseWriter, f Fault) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="scimtest"`)
	}
	writeError(w, f.Status, "", "injected fault")
}

// dropConn closes the request's connection without a response; it reports
// false when the connection cannot be taken over.
func dropConn(w http.ResponseWriter) bool {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// listener serves a Server on a fixed loopback address whose socket can be
// closed (down: connection refused) and opened again (up) while the
// http.Server keeps running.
type listener struct {
	addr string
	hs   *http.Server

	mu     sync.Mutex
	ln     net.Listener // nil while down
	wake   chan struct{}
	closed bool
	conns  map[net.Conn]struct{}
}

func listen(h http.Handler) (*listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &listener{addr: ln.Addr().String(), ln: ln, wake: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	l.hs = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ConnState: l.track}
	return l, nil
}

func (l *listener) serve() { go func() { _ = l.hs.Serve(acceptor{l}) }() }

func (l *listener) track(c net.Conn, st http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch st {
	case http.StateNew:
		l.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	}
}

func (l *listener) down() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil {
		return
	}
	_ = l.ln.Close()
	l.ln = nil
	for c := range l.conns {
		_ = c.Close()
	}
}

func (l *listener) up() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil || l.closed {
		return nil
	}
	var err error
	// The port was ours a moment ago; a socket lingering from the closed
	// listener can hold it briefly.
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", l.addr); err == nil {
			l.ln = ln
			close(l.wake)
			l.wake = make(chan struct{})
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

func (l *listener) close() {
	l.mu.Lock()
	l.closed = true
	close(l.wake)
	l.wake = make(chan struct{})
	l.mu.Unlock()
	// Close the socket first: http.Server.Close waits for Serve, which sits in Accept.
	l.down()
	_ = l.hs.Close()
}

// acceptor is the net.Listener the http.Server serves on: it waits through
// down periods instead of failing.
type acceptor struct{ l *listener }

func (a acceptor) Accept() (net.Conn, error) {
	l := a.l
	for {
		l.mu.Lock()
		ln, wake, closed := l.ln, l.wake, l.closed
		l.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		if ln == nil {
			<-wake
			continue
		}
		c, err := ln.Accept()
		if err == nil {
			return c, nil
		}
		l.mu.Lock()
		replaced := l.ln != ln || l.closed
		l.mu.Unlock()
		if !replaced {
			return nil, err
		}
	}
}

func (a acceptor) Close() error { return nil }

func (a acceptor) Addr() net.Addr {
	addr, _ := net.ResolveTCPAddr("tcp", a.l.addr)
	return addr
}
