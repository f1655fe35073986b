package scim

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 250e6, time.UTC)
	future := now.Add(90 * time.Second)
	tests := []struct {
		name     string
		header   string
		want     time.Duration
		wantOK   bool
		wantNone bool
	}{
		{name: "absent", header: "", wantNone: true},
		{name: "seconds", header: "7", want: 7 * time.Second, wantOK: true},
		{name: "zero", header: "0", want: 0, wantOK: true},
		{name: "spaces", header: " 3 ", want: 3 * time.Second, wantOK: true},
		{name: "negative", header: "-1", wantNone: true},
		{name: "garbage", header: "soon", wantNone: true},
		// The date drops now's quarter second: 89.75 s, rounded up.
		{name: "HTTP date", header: future.Format(http.TimeFormat), want: 90 * time.Second, wantOK: true},
		{name: "RFC 850 date", header: future.Format(time.RFC850), want: 90 * time.Second, wantOK: true},
		{name: "date a second ago", header: now.Add(-time.Second).Format(http.TimeFormat), want: 0, wantOK: true},
		{name: "date in the past", header: "Fri, 31 Dec 1999 23:59:59 GMT", want: 0, wantOK: true},
		{name: "date far ahead", header: "Fri, 31 Dec 9999 23:59:59 GMT", want: (1 << 31) * time.Second, wantOK: true},
		{name: "huge", header: "99999999999999", want: (1 << 31) * time.Second, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("Retry-After", tt.header)
			}
			got, ok := retryAfter(h, now)
			if ok != tt.wantOK {
				t.Fatalf("retryAfter(%q) ok = %v, want %v", tt.header, ok, tt.wantOK)
			}
			if got != tt.want {
				t.Errorf("retryAfter(%q) = %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

func TestJitterBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, time.Second
	tests := []struct {
		name     string
		attempt  int
		resp     *http.Response
		min, max time.Duration
	}{
		{"first", 0, nil, 50 * time.Millisecond, 100 * time.Millisecond},
		{"second doubles", 1, &http.Response{StatusCode: 500}, 100 * time.Millisecond, 200 * time.Millisecond},
		{"capped", 10, nil, 500 * time.Millisecond, time.Second},
		{"overflow capped", 200, nil, 500 * time.Millisecond, time.Second},
		{"Retry-After wins", 0, &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"3"}}}, 3 * time.Second, 3 * time.Second},
		{"Retry-After on 500 ignored", 0, &http.Response{StatusCode: 500, Header: http.Header{"Retry-After": {"3"}}}, 50 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 200 {
				d := jitterBackoff(lo, hi, tt.attempt, tt.resp)
				if d < tt.min || d > tt.max {
					t.Fatalf("jitterBackoff = %v, want within [%v, %v]", d, tt.min, tt.max)
				}
				seen[d] = true
			}
			if tt.min != tt.max && len(seen) < 10 {
				t.Errorf("only %d distinct waits in 200: no jitter", len(seen))
			}
		})
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"tab\there", `"tab\u0009here"`},
		{"nl\x1fx", `"nl\u001Fx"`},
		{"ünï", `"ünï"`},
	}
	for _, tt := range tests {
		if got := quote(tt.in); got != tt.want {
			t.Errorf("quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
