package console

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/signin"
)

//go:embed templates static
var files embed.FS

// PeerHeader carries the browser's address to the in-process gRPC server,
// so that a refusal names it.
const PeerHeader = "x-idsync-console-peer"

// Cookie names.
const (
	sessionCookie = "idsync_session"
	// preCookie holds the CSRF token of the sign-in forms, before there is
	// a session (double submit).
	preCookie   = "idsync_signin"
	flashCookie = "idsync_flash"
)

// SignIn opens, resolves and ends console sessions (server/signin).
type SignIn interface {
	WithToken(ctx context.Context, token, addr string) (*signin.Session, error)
	WithDirectory(ctx context.Context, directory, username, password, addr string) (*signin.Session, error)
	// Who names the admin a session acts as now and its role.
	Who(ctx context.Context, secret string) (name, role string, err error)
	SignOut(ctx context.Context, secret string) error
}

// Config is what the console is built with.
type Config struct {
	// Conn reaches the hub's AdminService and AppService in process.
	Conn grpc.ClientConnInterface
	// SignIn opens and ends sessions.
	SignIn SignIn
	// TLS says the listener serves TLS: cookies are Secure, and the
	// console answers beyond loopback.
	TLS bool
	Log *slog.Logger
	// Version is the hub's, shown in the footer.
	Version string
	// GRPCAddr is the hub's gRPC address, for the enrol command shown.
	GRPCAddr string
	// MaxUpload caps a file uploaded into a csv directory: the hub's cap
	// of ImportFile (0: DefaultMaxUpload).
	MaxUpload int64
}

// DefaultMaxUpload is the hub's default cap of a file (server/csvimport).
const DefaultMaxUpload = 64 << 20

// Console serves the console's pages.
type Console struct {
	cfg   Config
	admin idsyncv1.AdminServiceClient
	apps  idsyncv1.AppServiceClient
	pages map[string]*template.Template
	mux   *http.ServeMux
	log   *slog.Logger
}

// New returns the console handler.
func New(cfg Config) *Console {
	c := &Console{cfg: cfg, admin: idsyncv1.NewAdminServiceClient(cfg.Conn), apps: idsyncv1.NewAppServiceClient(cfg.Conn),
		log: cfg.Log, mux: http.NewServeMux()}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.cfg.MaxUpload <= 0 {
		c.cfg.MaxUpload = DefaultMaxUpload
	}
	c.pages = parsePages()
	c.routes()
	return c
}

// parsePages parses each page of templates/ with the layout.
func parsePages() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html"))
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		pages[name] = template.Must(template.Must(base.Clone()).ParseFS(files, n))
	}
	return pages
}

// ServeHTTP answers with the console's headers on every response, and
// only on loopback without TLS.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if c.cfg.TLS {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if !c.cfg.TLS && !Loopback(r.RemoteAddr) {
		http.Error(w, "The idsync console is served without TLS, so it answers on loopback only. "+
			"Start the hub with --http-tls (its own certificate) or --http-cert and --http-key to use it from elsewhere.",
			http.StatusForbidden)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// Loopback reports whether addr (host:port) is a loopback address.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// session is a request of a signed-in admin.
type session struct {
	secret     string
	name, role string
}

// csrf is the session's CSRF token: derived from the secret the browser
// holds in an HttpOnly cookie, so that a page of another site cannot know
// it.
func csrf(secret string) string {
	sum := sha256.Sum256([]byte("idsync console csrf\x00" + secret))
	return hex.EncodeToString(sum[:16])
}

// authed wraps a handler that needs a signed-in admin: it resolves the
// session (the same checks every call makes), and checks the CSRF token of
// a POST.
func (c *Console) authed(fn func(w http.ResponseWriter, r *http.Request, s *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := c.session(w, r)
		if s == nil {
			return
		}
		if r.Method == http.MethodPost && !sameToken(r.PostFormValue("_csrf"), csrf(s.secret)) {
			refuseCSRF(w)
			return
		}
		fn(w, r, s)
	}
}

// session resolves the request's session; without one it answers (to the
// sign-in page) and returns nil.
func (c *Console) session(w http.ResponseWriter, r *http.Request) *session {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		c.toSignIn(w, r, "")
		return nil
	}
	name, role, err := c.cfg.SignIn.Who(r.Context(), ck.Value)
	if status.Code(err) == codes.Unauthenticated {
		c.clearSession(w)
		c.toSignIn(w, r, "ended")
		return nil
	}
	if err != nil {
		http.Error(w, "checking the console session: "+err.Error(), http.StatusServiceUnavailable)
		return nil
	}
	return &session{secret: ck.Value, name: name, role: role}
}

func refuseCSRF(w http.ResponseWriter) {
	http.Error(w, "refused: the form's CSRF token is missing or wrong (reload the page and try again)", http.StatusForbidden)
}

func sameToken(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// toSignIn sends the browser to the sign-in page (why: "ended", "out").
func (c *Console) toSignIn(w http.ResponseWriter, r *http.Request, why string) {
	u := "/signin"
	q := url.Values{}
	if why != "" {
		q.Set("m", why)
	}
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		q.Set("next", r.URL.RequestURI())
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// ctx is the context of a call made for s: its session and the browser's
// address.
func (c *Console) ctx(r *http.Request, s *session) context.Context {
	return metadata.AppendToOutgoingContext(r.Context(), "authorization", auth.SessionScheme+s.secret,
		PeerHeader, r.RemoteAddr)
}

func (c *Console) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: c.cfg.TLS, SameSite: http.SameSiteStrictMode})
}

func (c *Console) clearSession(w http.ResponseWriter) { c.setCookie(w, sessionCookie, "", -1) }

// flash shows msg on the next page the browser loads.
func (c *Console) flash(w http.ResponseWriter, msg string) {
	c.setCookie(w, flashCookie, url.QueryEscape(msg), 60)
}

// done ends a successful POST: a message for the next page, and a
// redirect to it.
func (c *Console) done(w http.ResponseWriter, r *http.Request, to, msg string) {
	c.flash(w, msg)
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// page is what every page's template gets.
type page struct {
	Title   string
	Nav     string
	Name    string
	Role    string
	CSRF    string
	TLS     bool
	Flash   string
	Version string
	Data    any
}

// Can reports whether the page's admin has permission p: what the page
// offers (the server checks again).
func (p *page) Can(perm string) bool {
	return p.Role != "" && auth.RoleHas(p.Role, auth.Permission(perm))
}

// Holds reports whether the admin may hold u or lift its hold: a hold set
// by a higher role is that role's (the server checks again).
func (p *page) Holds(u *idsyncv1.User) bool {
	h := u.GetHold()
	return p.Can(string(auth.PermUsersLifecycle)) && (h == nil || auth.RoleCovers(p.Role, h.GetRole()))
}

// SuperAdmin reports whether the admin is a super-admin.
func (p *page) SuperAdmin() bool { return p.Role == auth.RoleSuperAdmin }

// render renders a page with code.
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, code int, name, title, nav string, data any) {
	p := &page{Title: title, Nav: nav, TLS: c.cfg.TLS, Version: c.cfg.Version, Data: data}
	if s != nil {
		p.Name, p.Role, p.CSRF = s.name, s.role, csrf(s.secret)
	}
	if ck, err := r.Cookie(flashCookie); err == nil {
		p.Flash, _ = url.QueryUnescape(ck.Value)
		c.setCookie(w, flashCookie, "", -1)
	}
	t := c.pages[name]
	if t == nil {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout.html", p); err != nil {
		c.log.Error("rendering a console page", "page", name, "err", err)
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}

// failure is an error page's data.
type failure struct {
	Message string
	Back    string
}

// fail answers a call's error: an ended session goes to sign-in; a
// refusal, a missing object or a bad request is a page that says so.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	st := status.Convert(err)
	code := http.StatusBadGateway
	title := "Something went wrong"
	switch st.Code() {
	case codes.Unauthenticated:
		c.clearSession(w)
		c.toSignIn(w, r, "ended")
		return
	case codes.PermissionDenied:
		code, title = http.StatusForbidden, "Not allowed"
	case codes.NotFound:
		code, title = http.StatusNotFound, "Not found"
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		code, title = http.StatusBadRequest, "Refused"
	case codes.AlreadyExists:
		code, title = http.StatusConflict, "Already there"
	case codes.ResourceExhausted:
		code, title = http.StatusTooManyRequests, "Too many requests"
	case codes.Unavailable, codes.DeadlineExceeded:
		code, title = http.StatusServiceUnavailable, "Unavailable"
	}
	back := r.Referer()
	if u, err := url.Parse(back); err != nil || u.Host != r.Host {
		back = "/"
	}
	c.render(w, r, s, code, "error", title, "", failure{Message: st.Message(), Back: back})
}

// routes registers every page.
func (c *Console) routes() {
	m := c.mux
	static, _ := fs.Sub(files, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", staticFiles(static)))
	m.HandleFunc("GET /signin", c.signInPage)
	m.HandleFunc("POST /signin/token", c.signInToken)
	m.HandleFunc("POST /signin/directory", c.signInDirectory)
	m.HandleFunc("POST /signout", c.authed(c.signOut))
	m.HandleFunc("GET /{$}", c.authed(c.overview))
	m.HandleFunc("GET /directories", c.authed(c.directories))
	m.HandleFunc("GET /directories/{name}", c.authed(c.directory))
	m.HandleFunc("POST /directories/{name}/import", c.authed(c.startImport))
	m.HandleFunc(uploadRoute, c.upload)
	m.HandleFunc("GET /directories/{name}/edit", c.authed(c.directoryEdit))
	m.HandleFunc("POST /directories/{name}/edit", c.authed(c.directorySave))
	m.HandleFunc("GET /imports/{id}", c.authed(c.importPage))
	m.HandleFunc("GET /imports/{id}/status", c.authed(c.importStatus))
	m.HandleFunc("POST /imports/{id}/{action}", c.authed(c.importAction))
	m.HandleFunc("GET /users", c.authed(c.users))
	m.HandleFunc("GET /users/{id}", c.authed(c.user))
	m.HandleFunc("POST /users/{id}/{action}", c.authed(c.userAction))
	m.HandleFunc("GET /groups", c.authed(c.groups))
	m.HandleFunc("GET /groups/{id}", c.authed(c.group))
	m.HandleFunc("GET /apps", c.authed(c.appList))
	m.HandleFunc("GET /apps/new", c.authed(c.appNew))
	m.HandleFunc("POST /apps", c.authed(c.appCreate))
	m.HandleFunc("GET /apps/{name}", c.authed(c.app))
	m.HandleFunc("GET /apps/{name}/edit", c.authed(c.appEdit))
	m.HandleFunc("GET /apps/{name}/preview", c.authed(c.appPreview))
	m.HandleFunc("POST /apps/{name}/{action}", c.authed(c.appAction))
	m.HandleFunc("GET /tasks", c.authed(c.tasks))
	m.HandleFunc("POST /tasks/{id}/resolve", c.authed(c.taskResolve))
	m.HandleFunc("GET /audit", c.authed(c.audit))
	m.HandleFunc("GET /reports", c.authed(c.reports))
	m.HandleFunc("GET /reports/{name}", c.authed(c.report))
	m.HandleFunc("GET /agents", c.authed(c.agents))
	m.HandleFunc("POST /agents/token", c.authed(c.agentToken))
	m.HandleFunc("POST /agents/{id}/revoke", c.authed(c.agentRevoke))
	m.HandleFunc("GET /admins", c.authed(c.admins))
	m.HandleFunc("POST /admins/{kind}", c.authed(c.adminCreate))
	m.HandleFunc("POST /admins/{kind}/{id}/revoke", c.authed(c.adminRevoke))
	m.HandleFunc("GET /typeahead", c.authed(c.typeahead))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, nil, http.StatusNotFound, "error", "Not found", "", failure{Message: "No page at " + r.URL.Path + ".", Back: "/"})
	})
}

// staticFiles serves the stylesheet and the script, cached for an hour.
func staticFiles(fsys fs.FS) http.Handler {
	h := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// signInData is the sign-in page's.
type signInData struct {
	Message string
	Error   bool
	Token   string // the pre-session CSRF token
	Next    string
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	d := signInData{Next: safeNext(r.URL.Query().Get("next"))}
	switch r.URL.Query().Get("m") {
	case "ended":
		d.Message = "Your session ended (signed out elsewhere, idle, expired, or your access changed). Sign in again."
	case "out":
		d.Message = "Signed out."
	}
	c.signInForm(w, r, http.StatusOK, d)
}

func (c *Console) signInForm(w http.ResponseWriter, r *http.Request, code int, d signInData) {
	d.Token = randomToken()
	c.setCookie(w, preCookie, d.Token, 3600)
	c.render(w, r, nil, code, "signin", "Sign in", "", d)
}

// safeNext keeps a redirect within the console.
func safeNext(next string) string {
	// A control character is refused before and after unescaping: a
	// browser drops tabs and newlines from a Location, so "/\t/evil" and
	// "/%09/evil" would be "//evil", another host.
	unescaped, err := url.PathUnescape(next)
	if err != nil || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\") ||
		strings.HasPrefix(unescaped, "//") || strings.ContainsFunc(unescaped, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

// preChecked checks the sign-in form's CSRF token against its cookie.
func preChecked(r *http.Request) bool {
	ck, err := r.Cookie(preCookie)
	return err == nil && sameToken(r.PostFormValue("_csrf"), ck.Value)
}

func (c *Console) signInToken(w http.ResponseWriter, r *http.Request) {
	c.signInWith(w, r, func() (*signin.Session, error) {
		return c.cfg.SignIn.WithToken(r.Context(), r.PostFormValue("token"), r.RemoteAddr)
	})
}

func (c *Console) signInDirectory(w http.ResponseWriter, r *http.Request) {
	c.signInWith(w, r, func() (*signin.Session, error) {
		return c.cfg.SignIn.WithDirectory(r.Context(), strings.TrimSpace(r.PostFormValue("directory")),
			strings.TrimSpace(r.PostFormValue("username")), r.PostFormValue("password"), r.RemoteAddr)
	})
}

func (c *Console) signInWith(w http.ResponseWriter, r *http.Request, open func() (*signin.Session, error)) {
	next := safeNext(r.PostFormValue("next"))
	if !preChecked(r) {
		c.signInForm(w, r, http.StatusForbidden, signInData{Message: "The form expired: sign in again.", Error: true, Next: next})
		return
	}
	s, err := open()
	switch {
	case errors.Is(err, signin.ErrTooMany):
		c.signInForm(w, r, http.StatusTooManyRequests, signInData{Message: "Too many sign-in attempts: wait a minute.", Error: true, Next: next})
		return
	case errors.Is(err, signin.ErrRefused):
		c.signInForm(w, r, http.StatusUnauthorized, signInData{Message: "Sign-in failed.", Error: true, Next: next})
		return
	case err != nil:
		c.log.Error("console sign-in", "err", err)
		c.signInForm(w, r, http.StatusServiceUnavailable, signInData{Message: "Sign-in is unavailable: try again.", Error: true, Next: next})
		return
	}
	c.setCookie(w, preCookie, "", -1)
	c.setCookie(w, sessionCookie, s.Secret, 0)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, s *session) {
	if err := c.cfg.SignIn.SignOut(r.Context(), s.secret); err != nil {
		c.log.Warn("console sign-out", "err", err)
	}
	c.clearSession(w)
	http.Redirect(w, r, "/signin?m=out", http.StatusSeeOther)
}

// since formats how long ago t was.
func since(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := time.Since(t)
	switch {
	case d < 0:
		return "in " + (-d).Round(time.Second).String()
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}
