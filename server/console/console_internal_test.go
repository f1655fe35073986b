package console

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/signin"
)

// signIns stands in for server/signin (which has its own tests): one
// token, one session secret, and what was signed out.
type signIns struct {
	mu     sync.Mutex
	live   bool
	outted []string
}

const (
	goodToken = "idsync_good"
	secret    = "idsync_cs_secret"
)

func (f *signIns) WithToken(_ context.Context, token, _ string) (*signin.Session, error) {
	if token != goodToken {
		return nil, signin.ErrRefused
	}
	f.mu.Lock()
	f.live = true
	f.mu.Unlock()
	return &signin.Session{Secret: secret, Name: "ops", Role: "super-admin"}, nil
}

func (f *signIns) WithDirectory(context.Context, string, string, string, string) (*signin.Session, error) {
	return nil, signin.ErrRefused
}

func (f *signIns) Who(_ context.Context, s string) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s != secret || !f.live {
		return "", "", status.Error(codes.Unauthenticated, "console session ended")
	}
	return "ops", "super-admin", nil
}

func (f *signIns) SignOut(_ context.Context, s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outted = append(f.outted, s)
	f.live = false
	return nil
}

func newConsole(tls bool) (*Console, *signIns) {
	f := &signIns{}
	return New(Config{SignIn: f, TLS: tls, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}), f
}

// do serves one request from a loopback address (or from).
func do(c *Console, method, target string, form url.Values, cookies []*http.Cookie, from ...string) *http.Response {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	r.RemoteAddr = "127.0.0.1:40000"
	if len(from) > 0 {
		r.RemoteAddr = from[0]
	}
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, ck := range cookies {
		r.AddCookie(ck)
	}
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	return w.Result()
}

func cookie(resp *http.Response, name string) *http.Cookie {
	for _, ck := range resp.Cookies() {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

var formToken = regexp.MustCompile(`name="_csrf" value="([0-9a-f]+)"`)

// signIn signs in through the token form and returns the cookies the
// browser then holds.
func signIn(t *testing.T, c *Console) []*http.Cookie {
	t.Helper()
	page := do(c, "GET", "/signin", nil, nil)
	body, _ := io.ReadAll(page.Body)
	m := formToken.FindSubmatch(body)
	pre := cookie(page, preCookie)
	if m == nil || pre == nil || string(m[1]) != pre.Value {
		t.Fatalf("the sign-in form's token %q and its cookie %v: want the same (double submit)", m, pre)
	}
	resp := do(c, "POST", "/signin/token", url.Values{"_csrf": {string(m[1])}, "token": {goodToken}, "next": {"/users"}},
		[]*http.Cookie{pre})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/users" {
		t.Fatalf("sign-in: %d to %q, want 303 to /users", resp.StatusCode, resp.Header.Get("Location"))
	}
	s := cookie(resp, sessionCookie)
	if s == nil || s.Value != secret {
		t.Fatalf("sign-in set no session cookie: %v", resp.Cookies())
	}
	return []*http.Cookie{s}
}

// TestHeaders: every answer carries the CSP without inline script, no
// framing, no sniffing; HSTS under TLS only.
func TestHeaders(t *testing.T) {
	for _, tls := range []bool{false, true} {
		c, _ := newConsole(tls)
		for _, path := range []string{"/signin", "/static/console.css", "/nowhere", "/"} {
			h := do(c, "GET", path, nil, nil).Header
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "default-src 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("tls %v, GET %s: CSP %q lacks %s", tls, path, csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("tls %v, GET %s: CSP %q allows inline script", tls, path, csp)
			}
			if h.Get("X-Frame-Options") != "DENY" || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("tls %v, GET %s: X-Frame-Options %q, X-Content-Type-Options %q", tls, path, h.Get("X-Frame-Options"), h.Get("X-Content-Type-Options"))
			}
			if got := h.Get("Strict-Transport-Security") != ""; got != tls {
				t.Errorf("tls %v, GET %s: HSTS %v", tls, path, got)
			}
		}
	}
}

// TestLoopbackOnlyWithoutTLS: without TLS the console refuses a browser
// beyond loopback, saying how to serve it; with TLS it answers.
func TestLoopbackOnlyWithoutTLS(t *testing.T) {
	plain, _ := newConsole(false)
	resp := do(plain, "GET", "/signin", nil, nil, "192.0.2.7:5000")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "--http-tls") {
		t.Errorf("without TLS, from 192.0.2.7: %d %q, want 403 naming --http-tls", resp.StatusCode, body)
	}
	if resp := do(plain, "GET", "/signin", nil, nil, "[::1]:5000"); resp.StatusCode != http.StatusOK {
		t.Errorf("without TLS, from ::1: %d, want 200", resp.StatusCode)
	}
	secure, _ := newConsole(true)
	if resp := do(secure, "GET", "/signin", nil, nil, "192.0.2.7:5000"); resp.StatusCode != http.StatusOK {
		t.Errorf("with TLS, from 192.0.2.7: %d, want 200", resp.StatusCode)
	}
}

// TestCookieFlags: the session cookie is HttpOnly and SameSite=Strict,
// Secure under TLS, and a session cookie (no Max-Age: it dies with the
// browser; the hub bounds it).
func TestCookieFlags(t *testing.T) {
	for _, tls := range []bool{false, true} {
		c, _ := newConsole(tls)
		ck := signIn(t, c)[0]
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure != tls || ck.MaxAge != 0 || ck.Path != "/" {
			t.Errorf("tls %v: session cookie %+v, want HttpOnly, SameSite=Strict, Secure %v, no Max-Age, Path /", tls, ck, tls)
		}
	}
}

// TestCSRF: a post without the session's CSRF token, or with another's,
// is refused before anything is called; with it, it goes through. The
// sign-in form's token must match its cookie.
func TestCSRF(t *testing.T) {
	c, f := newConsole(false)
	cookies := signIn(t, c)
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"no token", url.Values{}},
		{"another session's token", url.Values{"_csrf": {csrf("idsync_cs_other")}}},
		{"the secret itself", url.Values{"_csrf": {secret}}},
	} {
		resp := do(c, "POST", "/signout", tc.form, cookies)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "CSRF") {
			t.Errorf("%s: %d %q, want 403 naming the CSRF token", tc.name, resp.StatusCode, body)
		}
	}
	if len(f.outted) != 0 {
		t.Fatalf("refused posts signed out %v", f.outted)
	}
	resp := do(c, "POST", "/signout", url.Values{"_csrf": {csrf(secret)}}, cookies)
	if resp.StatusCode != http.StatusSeeOther || len(f.outted) != 1 {
		t.Errorf("sign-out with the token: %d, signed out %v; want 303 and the session ended", resp.StatusCode, f.outted)
	}
	if ck := cookie(resp, sessionCookie); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("sign-out left the session cookie: %v", ck)
	}

	page := do(c, "GET", "/signin", nil, nil)
	resp = do(c, "POST", "/signin/token", url.Values{"_csrf": {"0123"}, "token": {goodToken}}, []*http.Cookie{cookie(page, preCookie)})
	if resp.StatusCode != http.StatusForbidden || cookie(resp, sessionCookie) != nil {
		t.Errorf("a sign-in whose token is not its cookie's: %d, cookies %v; want 403, no session", resp.StatusCode, resp.Cookies())
	}
}

// TestEndedSession: a session the hub no longer knows sends the browser
// to sign in again, saying so, and clears the cookie; a page asked for
// without a session comes back after the sign-in.
func TestEndedSession(t *testing.T) {
	c, f := newConsole(false)
	cookies := signIn(t, c)
	f.mu.Lock()
	f.live = false
	f.mu.Unlock()
	resp := do(c, "GET", "/users?q=a", nil, cookies)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin?") ||
		!strings.Contains(loc, "m=ended") || !strings.Contains(loc, "next=%2Fusers%3Fq%3Da") {
		t.Errorf("an ended session: %d to %q, want 303 to /signin saying it ended, next /users?q=a", resp.StatusCode, loc)
	}
	if ck := cookie(resp, sessionCookie); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("the ended session's cookie stays: %v", ck)
	}
}

// TestSafeNext keeps the redirect after sign-in within the console.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"/users?q=a": "/users?q=a", "": "/", "//evil.example/": "/",
		"https://evil.example/": "/", "/\\evil.example": "/", "users": "/",
		// Browsers drop tabs and newlines from a Location: "/\t/evil" is "//evil".
		"/\t/evil.example": "/", "/%09/evil.example": "/", "/\n/evil.example": "/", "/%0a/evil.example": "/",
		"/\x00": "/", "/a%2F%2Fevil": "/a%2F%2Fevil", "/%2F/evil.example": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestWriteCSV quotes the cells a spreadsheet would run as a formula.
func TestWriteCSV(t *testing.T) {
	w := httptest.NewRecorder()
	writeCSV(w, "x.csv", [][]string{{"a", "=cmd()", "+1", "-2", "@x", "ok"}})
	if got := w.Body.String(); got != "a,'=cmd(),'+1,'-2,'@x,ok\n" {
		t.Errorf("writeCSV: %q", got)
	}
	if cd := w.Header().Get("Content-Disposition"); cd != `attachment; filename="x.csv"` {
		t.Errorf("Content-Disposition %q", cd)
	}
}

// TestHoldsFollowTheHoldersRole: the user page offers the hold actions to
// an admin whose role covers the role that set the user's hold, none to
// another (the server refuses regardless).
func TestHoldsFollowTheHoldersRole(t *testing.T) {
	held := func(role string) *idsyncv1.User {
		return &idsyncv1.User{Hold: &idsyncv1.Hold{Status: idsyncv1.UserStatus_USER_STATUS_SUSPENDED, By: "admin:x", Role: role}}
	}
	for _, c := range []struct {
		name, role string
		u          *idsyncv1.User
		want       bool
	}{
		{"group-admin, no hold", auth.RoleGroupAdmin, &idsyncv1.User{}, true},
		{"group-admin, a group-admin's hold", auth.RoleGroupAdmin, held(auth.RoleGroupAdmin), true},
		{"group-admin, a super-admin's hold", auth.RoleGroupAdmin, held(auth.RoleSuperAdmin), false},
		{"group-admin, a hold of no recorded role", auth.RoleGroupAdmin, held(""), false},
		{"super-admin, a hold of no recorded role", auth.RoleSuperAdmin, held(""), true},
		{"read-only, no hold", auth.RoleReadOnly, &idsyncv1.User{}, false},
	} {
		if got := (&page{Role: c.role}).Holds(c.u); got != c.want {
			t.Errorf("%s: Holds = %v, want %v", c.name, got, c.want)
		}
	}
}
