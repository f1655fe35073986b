package obs

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestNewServer: the server has every timeout (the defaults for zero
// fields) and bounded headers; a body over the bound is answered 413 unread,
// and one within it reaches the handler.
func TestNewServer(t *testing.T) {
	hs := NewServer(Mux(NewRegistry(), nil), Timeouts{Read: time.Second}, 0)
	if hs.ReadHeaderTimeout != 10*time.Second || hs.ReadTimeout != time.Second || hs.WriteTimeout != time.Minute ||
		hs.IdleTimeout != 2*time.Minute || hs.MaxHeaderBytes != MaxHeaderBytes {
		t.Errorf("server timeouts %v %v %v %v, headers %d; want 10s 1s 1m0s 2m0s, %d", hs.ReadHeaderTimeout, hs.ReadTimeout,
			hs.WriteTimeout, hs.IdleTimeout, hs.MaxHeaderBytes, MaxHeaderBytes)
	}
	tests := []struct {
		name string
		max  int64
		body string
		want int
	}{
		{"no body allowed, none sent", 0, "", http.StatusOK},
		{"no body allowed, one sent", 0, "x", http.StatusRequestEntityTooLarge},
		{"within the bound", 4, "1234", http.StatusOK},
		{"over the bound", 4, "12345", http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := LimitBodies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), tc.max)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", strings.NewReader(tc.body)))
			if rec.Code != tc.want {
				t.Errorf("= %d %q, want %d", rec.Code, rec.Body.String(), tc.want)
			}
		})
	}
}

// TestLimitBodiesBy: each request is bounded by its route's bound; a
// negative bound leaves the body, however long, to the handler.
func TestLimitBodiesBy(t *testing.T) {
	var read int
	h := LimitBodiesBy(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		read = len(b)
	}), func(r *http.Request) int64 {
		if r.URL.Path == "/upload" {
			return -1
		}
		return 4
	})
	for _, tc := range []struct {
		path string
		want int
		read int
	}{
		{"/other", http.StatusRequestEntityTooLarge, 0},
		{"/upload", http.StatusOK, 100},
	} {
		read = 0
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", tc.path, strings.NewReader(strings.Repeat("x", 100))))
		if rec.Code != tc.want || read != tc.read {
			t.Errorf("POST %s of 100 bytes: %d, the handler read %d; want %d, %d", tc.path, rec.Code, read, tc.want, tc.read)
		}
	}
}
