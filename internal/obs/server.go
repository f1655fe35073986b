package obs

import (
	"fmt"
	"net/http"
	"time"
)

// Timeouts bound how long one HTTP connection may hold the server; a zero
// field takes its default. None of the routes served streams an answer, so
// Write bounds every one.
type Timeouts struct {
	// ReadHeader bounds reading a request's line and headers (default
	// 10 s): a client that sends them slowly is cut off.
	ReadHeader time.Duration
	// Read bounds reading a whole request, body included (default 30 s).
	Read time.Duration
	// Write bounds the time from the end of a request's headers to the end
	// of its answer (default 60 s).
	Write time.Duration
	// Idle bounds how long a kept-alive connection waits for its next
	// request (default 2 min).
	Idle time.Duration
}

// WithDefaults returns t with its zero fields set to the defaults.
func (t Timeouts) WithDefaults() Timeouts {
	if t.ReadHeader <= 0 {
		t.ReadHeader = 10 * time.Second
	}
	if t.Read <= 0 {
		t.Read = 30 * time.Second
	}
	if t.Write <= 0 {
		t.Write = 60 * time.Second
	}
	if t.Idle <= 0 {
		t.Idle = 2 * time.Minute
	}
	return t
}

// MaxHeaderBytes bounds a request's line and headers. A SCIM filter, the
// longest thing a request line carries, is bounded far below it.
const MaxHeaderBytes = 64 << 10

// NewServer returns an HTTP server for h with t's timeouts, request headers
// bounded to MaxHeaderBytes, and request bodies to maxBody bytes
// (LimitBodies).
func NewServer(h http.Handler, t Timeouts, maxBody int64) *http.Server {
	return NewServerBy(h, t, func(*http.Request) int64 { return maxBody })
}

// NewServerBy is NewServer with the bound of each request's body given by
// bound (LimitBodiesBy): a route that takes files bounds them further.
func NewServerBy(h http.Handler, t Timeouts, bound func(*http.Request) int64) *http.Server {
	t = t.WithDefaults()
	return &http.Server{
		Handler:           LimitBodiesBy(h, bound),
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// LimitBodies bounds every request body of h to max bytes before anything
// reads it: a request that declares a longer body is answered 413 at once,
// unread, and a body sent without a length fails the read that passes max
// (http.MaxBytesError). Handlers may bound their bodies further.
func LimitBodies(h http.Handler, max int64) http.Handler {
	return LimitBodiesBy(h, func(*http.Request) int64 { return max })
}

// LimitBodiesBy is LimitBodies with the bound of each request given by
// bound. A negative bound leaves the body to h, which bounds it itself
// (the console's file upload answers a file over its bound with a page
// that says so).
func LimitBodiesBy(h http.Handler, bound func(*http.Request) int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		max := bound(r)
		if max < 0 {
			h.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > max {
			// Closing spares the server reading a body it refused.
			w.Header().Set("Connection", "close")
			http.Error(w, fmt.Sprintf("the request body of %d bytes is over the limit of %d bytes for %s %s",
				r.ContentLength, max, r.Method, r.URL.Path), http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		h.ServeHTTP(w, r)
	})
}
