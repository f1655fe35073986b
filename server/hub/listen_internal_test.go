package hub

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/scimin"
)

// TestAgentAddr: the console's enrolment command names an address an
// agent elsewhere can dial and the certificate names.
func TestAgentAddr(t *testing.T) {
	hn, _ := os.Hostname()
	tcp := func(s string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tt := range []struct {
		listen string
		hosts  []string
		want   string
	}{
		{"0.0.0.0:7443", []string{"hub.corp.example", "hub2"}, "hub.corp.example:7443"},
		{"[::]:7443", nil, net.JoinHostPort(hn, "7443")},
		{"10.1.2.3:7443", []string{"hub.corp.example"}, "10.1.2.3:7443"},
		{"127.0.0.1:7443", nil, "127.0.0.1:7443"},
	} {
		if got := agentAddr(tcp(tt.listen), tt.hosts); got != tt.want {
			t.Errorf("agentAddr(%s, %v) = %s, want %s", tt.listen, tt.hosts, got, tt.want)
		}
		if got, want := localAddr(tcp(tt.listen)), map[bool]string{true: "127.0.0.1:7443", false: tt.listen}[tt.listen[0] == '0' || tt.listen[0] == '[']; got != want {
			t.Errorf("localAddr(%s) = %s, want %s", tt.listen, got, want)
		}
	}
}

// TestLoopbackUnlessTLS: without TLS, the routes that take credentials
// answer loopback only, refusing elsewhere before the handler runs, in the
// route's own error format; with TLS, everyone.
func TestLoopbackUnlessTLS(t *testing.T) {
	served := 0
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served++ })
	for _, tt := range []struct {
		cleartext bool
		from      string
		serve     bool
	}{
		{true, "127.0.0.1:5000", true},
		{true, "[::1]:5000", true},
		{true, "192.0.2.2:5000", false},
		{true, "[2001:db8::1]:5000", false},
		{false, "192.0.2.2:5000", true},
	} {
		served = 0
		r := httptest.NewRequest(http.MethodPost, "/scim/v2/Users", strings.NewReader(`{"password":"x"}`))
		r.RemoteAddr = tt.from
		w := httptest.NewRecorder()
		loopbackUnlessTLS(tt.cleartext, next, scimin.WriteError).ServeHTTP(w, r)
		if tt.serve != (served == 1) {
			t.Errorf("cleartext %v, from %s: served %d times, want served %v", tt.cleartext, tt.from, served, tt.serve)
		}
		if !tt.serve && (w.Code != http.StatusForbidden || w.Header().Get("Content-Type") != "application/scim+json" ||
			!strings.Contains(w.Body.String(), "--http-tls") || !strings.Contains(w.Body.String(), "urn:ietf:params:scim:api:messages:2.0:Error")) {
			t.Errorf("refusal from %s: %d %s %q, want 403, a SCIM error naming --http-tls", tt.from, w.Code, w.Header().Get("Content-Type"), w.Body.String())
		}
	}
}
