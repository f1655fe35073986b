//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/adminconf"
	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/internal/gendir"
	"github.com/idsync/idsync/internal/scimtest"
	"github.com/idsync/idsync/internal/testserver"
)

// chromium finds Debian's chromium: missing, the test fails under
// IDSYNC_REQUIRE_INTEGRATION=1 and is skipped elsewhere, saying how to
// install it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testserver.Unavailable(t, "needs Debian's chromium for the console's browser tests: install with scripts/install-test-deps.sh chromium (make test-deps)")
	return ""
}

// page is one headless Chromium, one tab, for one test: it records every
// console error, uncaught exception and failed request of the pages it
// loads, and on failure saves a screenshot and the page's HTML.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string
	mu   sync.Mutex
	// problems are the console errors and failed requests seen since the
	// last check; expected answers (a refusal asked for) are taken out.
	problems []string
}

func newPage(t *testing.T, base string) *page {
	t.Helper()
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-gpu", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	p := &page{t: t, ctx: ctx, base: base}
	chromedp.ListenTarget(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			p.problem("exception: %s", e.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.APITypeError {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value))
				}
				p.problem("console.error: %s", strings.Join(args, " "))
			}
		case *log.EventEntryAdded:
			if e.Entry.Level == log.LevelError {
				p.problem("console: %s %s", e.Entry.Text, e.Entry.URL)
			}
		case *network.EventLoadingFailed:
			if !e.Canceled {
				p.problem("request failed: %s", e.ErrorText)
			}
		case *network.EventResponseReceived:
			if e.Response.Status >= 400 {
				p.problem("HTTP %d: %s", e.Response.Status, e.Response.URL)
			}
		}
	})
	if err := chromedp.Run(ctx, network.Enable(), log.Enable(), runtime.Enable()); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			p.artifacts()
		}
	})
	return p
}

func (p *page) problem(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.problems = append(p.problems, fmt.Sprintf(format, args...))
}

// clean fails t with the problems seen since the last call, but for those
// containing one of expected.
func (p *page) clean(t *testing.T, where string, expected ...string) {
	t.Helper()
	p.mu.Lock()
	probs := p.problems
	p.problems = nil
	p.mu.Unlock()
	for _, pr := range probs {
		ok := false
		for _, e := range expected {
			ok = ok || strings.Contains(pr, e)
		}
		if !ok {
			t.Errorf("%s: %s", where, pr)
		}
	}
}

// artifacts saves a screenshot and the HTML of the page, into
// $IDSYNC_TEST_ARTIFACTS or a folder under the temporary directory.
func (p *page) artifacts() {
	dir := os.Getenv("IDSYNC_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "idsync-test-artifacts")
	}
	dir = filepath.Join(dir, strings.ReplaceAll(p.t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Logf("artifacts: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	var png []byte
	var html, url string
	err := chromedp.Run(ctx, chromedp.Location(&url), chromedp.FullScreenshot(&png, 100), chromedp.OuterHTML("html", &html, chromedp.ByQuery))
	if err != nil {
		p.t.Logf("artifacts of %s: %v", url, err)
	}
	_ = os.WriteFile(filepath.Join(dir, "page.png"), png, 0o644)
	_ = os.WriteFile(filepath.Join(dir, "page.html"), []byte(html), 0o644)
	p.t.Logf("the failing page (%s): screenshot and HTML in %s", url, dir)
}

// run runs actions, failing t on an error.
func (p *page) run(t *testing.T, what string, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// open loads path and waits for sel.
func (p *page) open(t *testing.T, path, sel string) {
	t.Helper()
	p.run(t, "open "+path, chromedp.Navigate(p.base+path), chromedp.WaitVisible(sel, chromedp.ByQuery))
}

// text is the text of sel.
func (p *page) text(t *testing.T, sel string) string {
	t.Helper()
	var s string
	p.run(t, "read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery, chromedp.NodeVisible))
	return s
}

// waitText reloads path until sel's text holds want.
func (p *page) waitText(t *testing.T, path, sel, want string) {
	t.Helper()
	eventually.That(t, path+" shows "+want+" in "+sel, func() (bool, string) {
		var s string
		ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
		defer cancel()
		err := chromedp.Run(ctx, chromedp.Navigate(p.base+path), chromedp.WaitReady("body", chromedp.ByQuery),
			chromedp.Evaluate(fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent`, sel), &s))
		return err == nil && strings.Contains(s, want), fmt.Sprintf("%q (%v)", s, err)
	})
}

// signInToken signs in with an admin token.
func (p *page) signInToken(t *testing.T, token string) {
	t.Helper()
	p.open(t, "/signin", "#token")
	p.run(t, "sign in with a token", chromedp.SendKeys("#token", token, chromedp.ByQuery),
		chromedp.Click("#signin-token", chromedp.ByQuery), chromedp.WaitVisible("#who", chromedp.ByQuery))
}

// signInDirectory signs in with a directory account; it returns the
// message of a refusal ("" when signed in).
func (p *page) signInDirectory(t *testing.T, dir, user, password string) string {
	t.Helper()
	p.open(t, "/signin", "#username")
	p.run(t, "sign in as "+user, chromedp.SendKeys("#directory", dir, chromedp.ByQuery),
		chromedp.SendKeys("#username", user, chromedp.ByQuery), chromedp.SendKeys("#password", password, chromedp.ByQuery),
		chromedp.Click("#signin-directory", chromedp.ByQuery), chromedp.WaitVisible("#who, #signin-message", chromedp.ByQuery))
	var msg string
	p.run(t, "read the answer", chromedp.Evaluate(`(document.querySelector("#signin-message.error") || {textContent: ""}).textContent`, &msg))
	return msg
}

// post posts form fields to path from the page, as a script of the page
// could, and returns the status.
func (p *page) post(t *testing.T, path string, fields map[string]string) int {
	t.Helper()
	var args []string
	for k, v := range fields {
		args = append(args, fmt.Sprintf("%q: %q", k, v))
	}
	var code int
	p.run(t, "post "+path, chromedp.Evaluate(fmt.Sprintf(`fetch(%q, {method: "POST", body: new URLSearchParams({%s}), redirect: "manual"}).then(r => r.status)`,
		path, strings.Join(args, ", ")), &code, func(ep *runtime.EvaluateParams) *runtime.EvaluateParams { return ep.WithAwaitPromise(true) }))
	return code
}

// csrf is the CSRF token of the loaded page.
func (p *page) csrf(t *testing.T) string {
	t.Helper()
	var v string
	p.run(t, "read the CSRF token", chromedp.Evaluate(`document.querySelector("input[name=_csrf]").value`, &v))
	return v
}

// consolePages are the console's pages, each with an element it shows.
var consolePages = [][2]string{{"/", "h1"}, {"/directories", "h1"}, {"/directories/corp", "h1"}, {"/users", "#users"},
	{"/groups", "#groups"}, {"/apps", "#apps"}, {"/tasks", "#tasks"}, {"/audit", "#audit"}, {"/reports", "h1"},
	{"/reports/users", "#report"}, {"/reports/app-usage", "#report"}, {"/reports/imports", "#report"}, {"/agents", "#agents"}, {"/admins", "#tokens-table"}}

// TestConsole drives the console in Chromium against a hub capturing a
// slapd through an agent and pushing to the SCIM test app: sign-in with a
// token and with a directory account (a wrong password and a user outside
// the admin group refused alike), every page for each role without a
// console error or a failed request, an app added, tested and assigned a
// group whose accounts appear, a dead letter retried after the app is
// fixed, an import watched to completion, a forbidden post refused and
// audited, a post without the CSRF token refused, sign-out.
func TestConsole(t *testing.T) {
	p := newProvEnv(t, 6, 4)
	s := p.s
	conf, err := adminconf.Read(s.hub.AdminConf)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.hub.HTTPAddr
	b := newPage(t, base)

	s.step("sign in with the bootstrap token", func(t *testing.T) {
		b.signInToken(t, conf.Token)
		if who := b.text(t, "#who"); !strings.Contains(who, "bootstrap · super-admin") {
			t.Errorf("signed in as %q, want bootstrap · super-admin", who)
		}
		b.clean(t, "sign-in")
	})

	s.step("every page loads for a super-admin", func(t *testing.T) {
		for _, pg := range consolePages {
			b.open(t, pg[0], pg[1])
			b.clean(t, pg[0])
		}
	})

	p.scim.Inject(scimtest.Fault{Method: "POST", PathPrefix: "/Users", Status: 400})
	members := p.members()
	s.step("add an app, test it, assign a group: the accounts appear", func(t *testing.T) {
		b.open(t, "/apps/new", "#app-form")
		b.run(t, "fill the app form", chromedp.SendKeys("#name", "crm", chromedp.ByQuery),
			chromedp.SendKeys("#scim_url", p.scim.URL, chromedp.ByQuery), chromedp.SendKeys("#secret", p.token, chromedp.ByQuery),
			chromedp.Click("#allow_insecure_http", chromedp.ByQuery), chromedp.Click("#allow_local_addresses", chromedp.ByQuery),
			chromedp.Click("#save-app", chromedp.ByQuery), chromedp.WaitVisible("#app-status", chromedp.ByQuery))
		b.run(t, "test the app", chromedp.Click("#test-app", chromedp.ByQuery), chromedp.WaitVisible("#test-result", chromedp.ByQuery))
		if got := b.text(t, "#test-result"); !strings.Contains(got, "nothing stands in the way") {
			t.Errorf("test result: %q", got)
		}
		b.run(t, "assign the group", chromedp.SendKeys("#assign-target", p.gen.GroupCN(0), chromedp.ByQuery),
			chromedp.Click("#assign", chromedp.ByQuery), chromedp.WaitVisible(".flash", chromedp.ByQuery))
		b.waitText(t, "/apps/crm", `#accounts-by-state dd[data-state="active"]`, fmt.Sprint(len(members)-1))
		eventually.That(t, "the SCIM app holds the members but one", func() (bool, string) {
			return p.scim.UserCount() == len(members)-1, fmt.Sprint(p.scim.UserCount())
		})
		b.clean(t, "the app's pages", "HTTP 400") // the typeahead of no page is not one of them
	})

	s.step("retry the dead letter after fixing the app", func(t *testing.T) {
		b.waitText(t, "/apps/crm", "#pushes-table", "dead")
		b.run(t, "retry", chromedp.Click("#retry-all", chromedp.ByQuery), chromedp.WaitVisible(".flash", chromedp.ByQuery))
		eventually.That(t, "the SCIM app holds every member", func() (bool, string) {
			return p.scim.UserCount() == len(members), fmt.Sprint(p.scim.UserCount())
		})
		b.waitText(t, "/apps/crm", `#accounts-by-state dd[data-state="active"]`, fmt.Sprint(len(members)))
		b.clean(t, "retry")
	})

	s.step("start an import and watch it complete", func(t *testing.T) {
		b.open(t, "/directories/corp", "#start-import")
		b.run(t, "start", chromedp.Click("#start-import", chromedp.ByQuery), chromedp.WaitVisible("#run-state", chromedp.ByQuery))
		// The page's script updates the state in place: no reload.
		b.run(t, "wait for completed", chromedp.Poll(`document.querySelector("#run-state").textContent === "completed"`, nil,
			chromedp.WithPollingTimeout(45*time.Second)))
		b.clean(t, "import")
	})

	var viewerCSRF, grantID string
	s.step("a directory account signs in through an admin grant; others are refused alike", func(t *testing.T) {
		ldapBase := p.slapd.BaseDN
		dn := func(uid string) string { return "uid=" + uid + ",ou=admins," + ldapBase }
		entries := []gendir.Entry{{DN: "ou=admins," + ldapBase, Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"organizationalUnit"}}, {Name: "ou", Values: []string{"admins"}}}}}
		for _, uid := range []string{"viewer", "outsider"} {
			entries = append(entries, gendir.Entry{DN: dn(uid), Attrs: []gendir.Attr{
				{Name: "objectClass", Values: []string{"inetOrgPerson"}}, {Name: "uid", Values: []string{uid}},
				{Name: "cn", Values: []string{uid}}, {Name: "sn", Values: []string{uid}},
				{Name: "mail", Values: []string{uid + "@example.org"}}, {Name: "userPassword", Values: []string{"pw-" + uid + "-42"}}}})
		}
		entries = append(entries, gendir.Entry{DN: "cn=idsync-viewers," + ldapBase, Attrs: []gendir.Attr{
			{Name: "objectClass", Values: []string{"groupOfNames"}}, {Name: "cn", Values: []string{"idsync-viewers"}},
			{Name: "member", Values: []string{dn("viewer")}}}})
		for _, en := range entries {
			if err := p.slapd.Add(t.Context(), en); err != nil {
				t.Fatal(err)
			}
		}
		eventually.That(t, "the hub has group idsync-viewers", func() (bool, string) {
			r := s.ctl("group", "show", "idsync-viewers", "--directory", "corp")
			return r.Code == 0 && strings.Contains(r.Stdout, "viewer"), r.Stdout + r.Stderr
		})
		s.mustCtl("admin", "grant", "--role", "read-only", "--group", "corp/idsync-viewers")
		var grants []struct {
			ID, Group, Role string
		}
		s.ctlJSON(&grants, "admin", "grant", "list")
		if len(grants) != 1 || grants[0].Group != "corp/idsync-viewers" || grants[0].Role != "read-only" {
			t.Fatalf("admin grant list: %+v, want read-only for corp/idsync-viewers", grants)
		}
		grantID = grants[0].ID

		v := newPage(t, base)
		if msg := v.signInDirectory(t, "corp", "viewer", "wrong-password"); msg != "Sign-in failed." {
			t.Errorf("a wrong password: %q, want Sign-in failed.", msg)
		}
		if msg := v.signInDirectory(t, "corp", "outsider", "pw-outsider-42"); msg != "Sign-in failed." {
			t.Errorf("a user outside the admin group: %q, want the same Sign-in failed.", msg)
		}
		v.clean(t, "refused sign-ins", "401")
		if msg := v.signInDirectory(t, "corp", "viewer", "pw-viewer-42"); msg != "" {
			t.Fatalf("viewer's sign-in: %q", msg)
		}
		if who := v.text(t, "#who"); !strings.Contains(who, "corp/viewer · read-only") {
			t.Errorf("signed in as %q, want corp/viewer · read-only", who)
		}
		for _, pg := range consolePages {
			if pg[0] == "/admins" {
				continue
			}
			v.open(t, pg[0], pg[1])
			v.clean(t, "read-only "+pg[0])
		}
		var offered bool
		v.open(t, "/apps/crm", "#app-status")
		v.run(t, "look for writes", chromedp.Evaluate(`!!document.querySelector("#test-app, #assign, #retry-all")`, &offered))
		if offered {
			t.Errorf("the app page offers a read-only admin a write")
		}
		viewerCSRF = v.csrf(t)
		if code := v.post(t, "/apps/crm/retry", map[string]string{"_csrf": viewerCSRF}); code != 403 {
			t.Errorf("a read-only admin's retry posted directly: %d, want 403", code)
		}
		if code := v.post(t, "/apps/crm/retry", map[string]string{}); code != 403 {
			t.Errorf("a post without the CSRF token: %d, want 403", code)
		}
		v.clean(t, "refused posts", "403")
		eventually.That(t, "the refusal is in the audit trail", func() (bool, string) {
			r := s.ctl("audit", "list", "--actor", "admin:corp/viewer", "--outcome", "refused")
			return strings.Contains(r.Stdout, "RetryPushes"), r.Stdout
		})

		s.step("taken out of the group, the viewer loses access at once", func(t *testing.T) {
			mod := ldap.NewModifyRequest("cn=idsync-viewers,"+ldapBase, nil)
			mod.Replace("member", []string{dn("outsider")})
			if err := p.slapd.Modify(t.Context(), mod); err != nil {
				t.Fatal(err)
			}
			v.waitText(t, "/users", "h1", "Sign in to the idsync console")
		})
		s.step("a revoked grant is listed revoked", func(t *testing.T) {
			if out := s.mustCtl("admin", "grant", "revoke", grantID); !strings.Contains(out, "revoked") {
				t.Errorf("admin grant revoke: %s", out)
			}
		})
	})

	if out := os.Getenv("IDSYNC_SCREENSHOT"); out != "" {
		s.step("screenshot the overview for the README", func(t *testing.T) {
			var png []byte
			b.open(t, "/", "#who")
			b.run(t, "screenshot", chromedp.FullScreenshot(&png, 100))
			if err := os.WriteFile(out, png, 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}

	s.step("sign out", func(t *testing.T) {
		b.open(t, "/", "#who")
		b.run(t, "sign out", chromedp.Click(".who button", chromedp.ByQuery), chromedp.WaitVisible("#signin-message", chromedp.ByQuery))
		b.open(t, "/users", "#token")
		b.clean(t, "sign-out")
	})
}
