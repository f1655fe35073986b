//go:build linux

package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// postFile posts a file to path as the upload form does (the CSRF
// token first, then the file), from the page as a script of it could, and
// returns the status.
func (p *page) postFile(t *testing.T, path, csrf, name, content string) int {
	t.Helper()
	var code int
	p.run(t, "post a file to "+path, chromedp.Evaluate(fmt.Sprintf(`(() => { const f = new FormData(); f.append("_csrf", %q);
		f.append("file", new Blob([%q], {type: "text/csv"}), %q);
		return fetch(%q, {method: "POST", body: f, redirect: "manual"}).then(r => r.status); })()`, csrf, content, name, path),
		&code, func(ep *runtime.EvaluateParams) *runtime.EvaluateParams { return ep.WithAwaitPromise(true) }))
	return code
}

// csrf is the CSRF token of the loaded page.
func (p *page) csrf(t *testing.T) string {
	t.Helper()
	var v string
	p.run(t, "read the CSRF token", chromedp.Evaluate(`document.querySelector("input[name=_csrf]").value`, &v))
	return v
}

// pageKey is the page an href of the console names, for crawl: its path
// (the id of a user, group or import replaced by *, one of each is
// enough) and the names of its query; ok is false for what crawl does not
// load (another site, the sign-in page, files, CSV downloads, fragments).
func pageKey(href string) (key, path string, ok bool) {
	u, err := url.Parse(href)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/") ||
		u.Path == "/signin" || strings.HasPrefix(u.Path, "/static/") || u.Query().Get("format") == "csv" {
		return "", "", false
	}
	segs := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(segs) > 1 && slices.Contains([]string{"users", "groups", "imports"}, segs[0]) {
		segs[1] = "*"
	}
	names := slices.Sorted(maps.Keys(u.Query()))
	u.Fragment = ""
	return "/" + strings.Join(segs, "/") + "?" + strings.Join(names, ","), u.RequestURI(), true
}

// crawl loads the overview and every page it links to, and the pages
// those link to, as the signed-in admin: each must load without a console
// error or a failed request (a link the role is shown must work for it).
// It returns the pages loaded.
func (p *page) crawl(t *testing.T, role string) []string {
	t.Helper()
	seen := map[string]bool{"/?": true}
	var loaded []string
	queue := []string{"/"}
	for depth := 0; depth < 3 && len(queue) > 0; depth++ {
		var next []string
		for _, path := range queue {
			var hrefs []string
			p.run(t, "load "+path, chromedp.Navigate(p.base+path), chromedp.WaitVisible("#who", chromedp.ByQuery),
				chromedp.Evaluate(`Array.from(document.querySelectorAll("a[href]"), a => a.getAttribute("href"))`, &hrefs))
			p.clean(t, role+" "+path)
			loaded = append(loaded, path)
			for _, h := range hrefs {
				if key, path, ok := pageKey(h); ok && !seen[key] {
					seen[key] = true
					next = append(next, path)
				}
			}
		}
		queue = next
	}
	return loaded
}

// wantLoaded fails unless loaded holds each of want and none of not.
func wantLoaded(t *testing.T, role string, loaded, want, not []string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(loaded, w) {
			t.Errorf("%s: the console links to no %s, want it loaded (loaded %v)", role, w, loaded)
		}
	}
	for _, n := range not {
		if slices.ContainsFunc(loaded, func(l string) bool { return strings.HasPrefix(l, n) }) {
			t.Errorf("%s: the console links to %s, which the role may not see (loaded %v)", role, n, loaded)
		}
	}
}

// TestConsole drives the console in Chromium against a hub capturing a
// slapd through an agent and pushing to the SCIM test app: sign-in with a
// token and with a directory account (a wrong password and a user outside
// the admin group refused alike), every page for each role without a
// console error or a failed request, an app added, tested and assigned a
// group whose accounts appear, a dead letter retried after the app is
// fixed, an import watched to completion, a CSV file uploaded into a csv
// directory whose run completes with its bad row listed, the app's own
// groups listed after an import of them, a forbidden post (a file upload
// among them) refused and audited, a post without the CSRF token refused,
// sign-out.
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
		loaded := b.crawl(t, "super-admin")
		wantLoaded(t, "super-admin", loaded, []string{"/directories", "/directories/corp", "/directories/corp/edit", "/users", "/groups",
			"/apps", "/apps/new", "/tasks", "/audit", "/reports", "/reports/users", "/agents", "/admins"}, nil)
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

	s.step("pause the app with idsyncctl, resume it in the browser; its accounts listed", func(t *testing.T) {
		s.mustCtl("app", "pause", "crm", "--reason", "maintenance window")
		b.open(t, "/apps/crm", "#resume-app")
		if got := b.text(t, "#app-status"); got != "paused" {
			t.Errorf("the app's status after app pause: %q, want paused", got)
		}
		b.run(t, "resume", chromedp.Click("#resume-app", chromedp.ByQuery), chromedp.WaitVisible("#pause-app", chromedp.ByQuery))
		if got := b.text(t, "#app-status"); got != "active" {
			t.Errorf("the app's status after Resume: %q, want active", got)
		}
		out := s.mustCtl("app", "accounts", "crm", "--state", "active")
		if n := strings.Count(out, "\n") - 1; n != len(members) {
			t.Errorf("app accounts crm --state active lists %d accounts, want %d:\n%s", n, len(members), out)
		}
		var rows int
		b.run(t, "count the accounts", chromedp.Evaluate(`document.querySelectorAll("#accounts-table tbody tr").length`, &rows))
		if rows != len(members) {
			t.Errorf("the app's page lists %d accounts, want %d", rows, len(members))
		}
		b.clean(t, "pause and resume")
	})

	s.step("start an import and watch it complete", func(t *testing.T) {
		b.open(t, "/directories/corp", "#start-import")
		b.run(t, "start", chromedp.Click("#start-import", chromedp.ByQuery), chromedp.WaitVisible("#run-state", chromedp.ByQuery))
		// The page's script updates the state in place: no reload.
		b.run(t, "wait for completed", chromedp.Poll(`document.querySelector("#run-state").textContent === "completed"`, nil,
			chromedp.WithPollingTimeout(45*time.Second)))
		b.clean(t, "import")
	})

	s.step("upload a CSV into a csv directory: the run completes, its bad row listed by line", func(t *testing.T) {
		s.mustCtl("directory", "add", "hr-csv", "--kind", "csv", "--map", "username=Login", "--id-column", "Employee ID")
		file := filepath.Join(t.TempDir(), "hr.csv")
		if err := os.WriteFile(file, []byte("Employee ID,Login\n1,ann\n2,bob\n3,cid,extra\n4,dee\n5,eve\n6,fay\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		b.open(t, "/directories/hr-csv", "#upload-form")
		b.run(t, "upload", chromedp.SetUploadFiles("#upload-file", []string{file}, chromedp.ByQuery),
			chromedp.Click("#upload-start", chromedp.ByQuery), chromedp.WaitVisible("#run-state", chromedp.ByQuery))
		// The run's page lists errors as they are recorded, while the run
		// may still be running, and reloads itself once the run ends: read
		// it once the hub has ended the run, loaded afresh.
		var loc string
		b.run(t, "the run's address", chromedp.Location(&loc))
		u, err := url.Parse(loc)
		if err != nil || !strings.HasPrefix(u.Path, "/imports/") {
			t.Fatalf("after the upload the browser is at %q (%v), want a run's page", loc, err)
		}
		b.waitText(t, u.Path, "#run-state", "completed")
		if got := b.text(t, "#run-errors"); !strings.Contains(got, "hr.csv:4") || !strings.Contains(got, "3 fields, the header has 2") {
			t.Errorf("the run's errors: %q, want hr.csv:4 with its field count", got)
		}
		if out := s.mustCtl("user", "list", "--directory", "hr-csv"); !strings.Contains(out, "fay") || strings.Contains(out, "cid") {
			t.Errorf("hr-csv's users after the upload:\n%s\nwant the good rows (fay), not the bad one (cid)", out)
		}
		b.clean(t, "upload")
	})

	s.step("import the app's groups: the app's page lists them", func(t *testing.T) {
		acct, ok := p.scim.UserByName(members[0].mail)
		if !ok {
			t.Fatalf("the SCIM app has no account of %s", members[0].mail)
		}
		if _, err := p.scim.SeedGroup(map[string]any{"displayName": "crm-admins",
			"members": []any{map[string]any{"value": acct["id"]}}}); err != nil {
			t.Fatal(err)
		}
		s.mustCtl("app", "import", "crm", "--groups")
		b.open(t, "/apps/crm", "#app-groups-table")
		if got := b.text(t, "#app-groups-table"); !strings.Contains(got, "crm-admins") || !strings.Contains(got, members[0].uid) {
			t.Errorf("the app's groups on its page: %q, want crm-admins with %s", got, members[0].uid)
		}
		b.clean(t, "app groups")
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
		loaded := v.crawl(t, "read-only")
		wantLoaded(t, "read-only", loaded, []string{"/directories/corp", "/directories/hr-csv", "/users", "/groups", "/apps/crm", "/tasks", "/audit",
			"/reports/imports", "/agents"}, []string{"/admins", "/apps/new", "/directories/corp/edit", "/apps/crm/edit"})
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
		if code := v.postFile(t, "/directories/hr-csv/upload", viewerCSRF, "hr.csv", "Employee ID,Login\n7,gus\n"); code != 403 {
			t.Errorf("a read-only admin's file upload: %d, want 403", code)
		}
		v.clean(t, "refused posts", "403")
		eventually.That(t, "the refusals are in the audit trail", func() (bool, string) {
			r := s.ctl("audit", "list", "--actor", "admin:corp/viewer", "--outcome", "refused")
			return strings.Contains(r.Stdout, "RetryPushes") && strings.Contains(r.Stdout, "ImportFile"), r.Stdout
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

	s.step("an app-admin and a group-admin: the pages they are shown load, a forbidden post is refused and audited", func(t *testing.T) {
		for _, c := range []struct {
			role, name string
			flags      []string
			want, not  []string
			forbidden  string // a post the role may not make
			method     string // the method its refusal names in the audit trail
		}{
			{"app-admin", "crm-team", []string{"--apps", "crm"}, []string{"/apps/crm", "/apps/crm/edit", "/users", "/reports"},
				[]string{"/audit", "/agents", "/admins", "/directories/corp/edit"}, "/agents/token", "CreateEnrollmentToken"},
			{"group-admin", "helpdesk", []string{"--groups", "corp/" + p.gen.GroupCN(0)}, []string{"/apps/crm", "/users", "/groups"},
				[]string{"/directories", "/tasks", "/audit", "/reports", "/agents", "/admins", "/apps/crm/edit"}, "/apps/crm/retry", "RetryPushes"},
		} {
			token := strings.TrimSpace(s.mustCtl(append([]string{"admin", "token", "create", "--name", c.name, "--role", c.role}, c.flags...)...))
			g := newPage(t, base)
			g.signInToken(t, token)
			wantLoaded(t, c.role, g.crawl(t, c.role), c.want, c.not)
			g.open(t, "/", "#who")
			if code := g.post(t, c.forbidden, map[string]string{"_csrf": g.csrf(t), "directory": "corp"}); code != 403 {
				t.Errorf("%s posts %s directly: %d, want 403", c.role, c.forbidden, code)
			}
			if code := g.post(t, "/signout", map[string]string{}); code != 403 {
				t.Errorf("%s posts without the CSRF token: %d, want 403", c.role, code)
			}
			g.clean(t, c.role+"'s refused posts", "403")
			eventually.That(t, "the refusal of "+c.role+" in the audit trail", func() (bool, string) {
				r := s.ctl("audit", "list", "--actor", "admin:"+c.name, "--outcome", "refused")
				return strings.Contains(r.Stdout, c.method), r.Stdout
			})
		}
		if code := b.post(t, "/apps/crm/pause", map[string]string{"reason": "no token"}); code != 403 {
			t.Errorf("a super-admin's post without the CSRF token: %d, want 403", code)
		}
		b.clean(t, "the super-admin's post without the CSRF token", "403")
	})

	s.step("a filter that drops users: the import pauses on the safeguard; cancel it on the overview, confirm the next", func(t *testing.T) {
		b.open(t, "/directories/corp/edit", "#directory-form")
		var filter string
		b.run(t, "read the user filter", chromedp.Value("#d-user_filter", &filter, chromedp.ByQuery))
		// The two users of ou=admins are in no group the app is assigned.
		narrowed := "(&" + filter + "(!(uid=viewer))(!(uid=outsider)))"
		b.run(t, "narrow the filter, tighten the safeguard", chromedp.SetValue("#d-user_filter", narrowed, chromedp.ByQuery),
			chromedp.SetValue("#d-safeguard_max", "1", chromedp.ByQuery), chromedp.Click("#save-directory", chromedp.ByQuery),
			chromedp.WaitVisible(".flash", chromedp.ByQuery))
		if got := b.text(t, ".flash"); got != "Saved: user_filter, safeguard_max." {
			t.Errorf("saving the directory: %q", got)
		}
		startPaused := func() string {
			t.Helper()
			b.open(t, "/directories/corp", "#start-import")
			// The page's script reloads it once the run pauses, to offer
			// Confirm and Cancel: wait for those, not on the script.
			b.run(t, "start", chromedp.Click("#start-import", chromedp.ByQuery), chromedp.WaitVisible("#confirm-run", chromedp.ByQuery))
			if got := b.text(t, "#run-state"); got != "paused by safeguard" {
				t.Fatalf("the run's state: %q, want paused by safeguard", got)
			}
			var loc string
			b.run(t, "the run's page", chromedp.Location(&loc))
			return loc[strings.LastIndex(loc, "/")+1:]
		}
		first := startPaused()
		b.open(t, "/", "#cancel-"+first)
		b.run(t, "cancel on the overview", chromedp.Click("#cancel-"+first, chromedp.ByQuery), chromedp.WaitVisible(".flash", chromedp.ByQuery))
		if got := b.text(t, "#run-state"); got != "cancelled" {
			t.Errorf("the run after Cancel: %q, want cancelled", got)
		}
		if out := s.mustCtl("user", "show", "outsider", "--directory", "corp"); !strings.Contains(out, "active") {
			t.Errorf("outsider after the cancelled run:\n%s\nwant active", out)
		}
		second := startPaused()
		b.open(t, "/imports/"+second, "#confirm-run")
		b.run(t, "confirm", chromedp.Click("#confirm-run", chromedp.ByQuery), chromedp.WaitVisible(".flash", chromedp.ByQuery))
		if got := b.text(t, "#run-state"); got != "completed" {
			t.Errorf("the run after Confirm: %q, want completed", got)
		}
		if out := s.mustCtl("user", "show", "outsider", "--directory", "corp"); !strings.Contains(out, "deprovisioned") {
			t.Errorf("outsider after the confirmed run:\n%s\nwant deprovisioned", out)
		}
		b.clean(t, "the safeguard")
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

// TestConsoleSessionExpiry: a session left unused past the hub's idle
// timeout is ended by the hub (audited) and the browser, at its next
// click, is on the sign-in page saying so.
func TestConsoleSessionExpiry(t *testing.T) {
	s := newStack(t, "--console-idle-timeout", "3s")
	conf, err := adminconf.Read(s.hub.AdminConf)
	if err != nil {
		t.Fatal(err)
	}
	b := newPage(t, "http://"+s.hub.HTTPAddr)
	b.signInToken(t, conf.Token)
	eventually.That(t, "the hub ends the idle session", func() (bool, string) {
		r := s.ctl("audit", "list", "--action", "console.session.expired")
		return strings.Contains(r.Stdout, "admin:bootstrap: idle for 3s"), r.Stdout + r.Stderr
	})
	b.open(t, "/users", "#signin-message")
	if msg := b.text(t, "#signin-message"); !strings.Contains(msg, "Your session ended") {
		t.Errorf("after the idle timeout, /users shows %q, want the sign-in page saying the session ended", msg)
	}
	b.clean(t, "expiry")
}
