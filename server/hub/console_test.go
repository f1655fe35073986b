package hub_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/hub"
)

// browser is an HTTP client of the console with its cookies.
type browser struct {
	t    *testing.T
	c    *http.Client
	base string
}

func newBrowser(t *testing.T, h *testHub) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: "http://" + h.http, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}}
}

func (b *browser) get(path string) (int, string, http.Header) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([0-9a-f]+)"`)

// csrf is the CSRF token of the page at path.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	_, body, _ := b.get(path)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s:\n%s", path, body)
	}
	return m[1]
}

func (b *browser) signIn(token string) {
	b.t.Helper()
	code, body := b.post("/signin/token", url.Values{"_csrf": {b.csrf("/signin")}, "token": {token}})
	if code != http.StatusOK || !strings.Contains(body, "Overview") {
		b.t.Fatalf("sign-in: %d\n%s", code, body)
	}
}

// TestConsoleDoors: every page renders for a super-admin with the
// console's headers; a read-only admin is shown no write and a write it
// posts is refused by the gRPC interceptor and audited; a post without the
// CSRF token is refused; sign-out ends the session.
func TestConsoleDoors(t *testing.T) {
	h := startHub(t)
	b := newBrowser(t, h)
	code, _, hdr := b.get("/")
	if code != http.StatusOK || !strings.Contains(hdr.Get("Content-Security-Policy"), "script-src 'self'") ||
		hdr.Get("X-Frame-Options") != "DENY" {
		t.Errorf("GET / signed out: %d, CSP %q, X-Frame-Options %q; want the sign-in page with the headers", code,
			hdr.Get("Content-Security-Policy"), hdr.Get("X-Frame-Options"))
	}
	b.signIn(h.boot)
	for _, p := range []string{"/", "/directories", "/directories/corp", "/users", "/users?q=a", "/groups", "/apps", "/apps/new",
		"/tasks", "/audit", "/audit?format=csv", "/reports", "/reports/users", "/reports/imports?format=csv", "/agents", "/admins",
		"/typeahead?q=a", "/static/console.css", "/static/console.js"} {
		code, body, _ := b.get(p)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d\n%s", p, code, body)
		}
	}
	if code, body := b.post("/apps", url.Values{"name": {"x"}}); code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Errorf("POST /apps without the CSRF token: %d %s; want 403 naming it", code, body)
	}

	ro := newBrowser(t, h)
	ro.signIn(h.token("viewer", auth.RoleReadOnly, nil, nil))
	if _, body, _ := ro.get("/apps"); strings.Contains(body, "Add an app") {
		t.Errorf("a read-only admin is offered to add an app")
	}
	if code, _, _ := ro.get("/admins"); code != http.StatusForbidden {
		t.Errorf("a read-only admin's /admins: %d, want 403", code)
	}
	code, body := ro.post("/apps", url.Values{"_csrf": {ro.csrf("/apps")}, "name": {"crm"}, "scim_url": {"https://crm.example.com/scim/v2"},
		"auth": {"bearer"}, "secret": {"s"}})
	if code != http.StatusForbidden || !strings.Contains(body, "apps.write") {
		t.Errorf("a read-only admin's POST /apps: %d, want 403 naming apps.write\n%s", code, body)
	}
	ev, err := idsyncv1.NewAdminServiceClient(h.conn).ListAuditEvents(as(t.Context(), h.boot),
		&idsyncv1.ListAuditEventsRequest{Actor: "admin:viewer", Outcome: "refused"})
	if err != nil || len(ev.GetEvents()) == 0 || !strings.Contains(ev.GetEvents()[0].GetTarget(), "CreateApp") {
		t.Errorf("refusals of viewer: %v (%v), want CreateApp's", ev.GetEvents(), err)
	}

	if code, _ := b.post("/signout", url.Values{"_csrf": {b.csrf("/")}}); code != http.StatusOK {
		t.Errorf("sign-out: %d", code)
	}
	if _, body, _ := b.get("/users"); !strings.Contains(body, "Sign in to the idsync console") {
		t.Errorf("after sign-out, /users is not the sign-in page")
	}
}

// TestConsoleSessionBounds: a session unused for the idle timeout ends,
// and one used all along ends at its maximum age.
func TestConsoleSessionBounds(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	h := startHubWith(t, func(c *hub.Config) { c.Now = clock })
	signedIn := func(b *browser) bool {
		_, body, _ := b.get("/users")
		return strings.Contains(body, `id="who"`)
	}
	b := newBrowser(t, h)
	b.signIn(h.boot)
	advance(29 * time.Minute)
	if !signedIn(b) {
		t.Fatalf("signed out after 29 minutes idle, want the 30-minute idle timeout")
	}
	advance(31 * time.Minute)
	if signedIn(b) {
		t.Errorf("still signed in after 31 minutes idle")
	}
	b = newBrowser(t, h)
	b.signIn(h.boot)
	var used time.Duration
	for used < 13*time.Hour && signedIn(b) {
		advance(20 * time.Minute)
		used += 20 * time.Minute
	}
	if used < 12*time.Hour || used > 12*time.Hour+20*time.Minute {
		t.Errorf("a session used every 20 minutes ended after %s, want 12h", used)
	}
}
