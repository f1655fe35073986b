package scimtest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elimity-com/scim"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
)

// Options configure a Server. The zero value is an open server (no auth) with
// PATCH, filtering and pages of 100.
type Options struct {
	// Token is a bearer token requests may carry; more can be added while
	// running with AddToken.
	Token string
	// BasicUser and BasicPassword, when set, accept HTTP Basic as well.
	BasicUser, BasicPassword string
	// DisablePatch makes the server advertise patch.supported=false and answer
	// PATCH with 501 Not Implemented, like applications that only take PUT.
	DisablePatch bool
	// MaxResults caps the resources of one page (default 100).
	MaxResults int
	// SharedGroupNames lets several groups have one displayName, as some
	// applications do; by default it is unique, case-insensitively.
	SharedGroupNames bool
}

// Server is a SCIM 2.0 service provider with in-memory storage and fault
// injection. It is an http.Handler; Start and Listen also serve it on
// loopback. Every method is safe for concurrent use while it serves.
type Server struct {
	// URL is the base URL (http://127.0.0.1:port) of a server started with
	// Start or Listen; empty for New.
	URL string

	opts          Options
	users, groups *collection
	api           scim.Server

	mu      sync.Mutex
	tokens  map[string]bool
	faults  []*rule
	latency time.Duration
	down    bool
	counts  map[reqKey]int

	net *listener // nil for New
}

type reqKey struct{ method, path string }

// Schema URIs of the resources the server holds.
const (
	UserSchema       = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupSchema      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	EnterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

var _ http.Handler = (*Server)(nil)

// New returns a server that is only an http.Handler (for benchmarks that serve
// it themselves). Down answers 503 on it, since there is no listener to close.
func New(opts Options) *Server {
	if opts.MaxResults <= 0 {
		opts.MaxResults = 100
	}
	groupKey := "displayName"
	if opts.SharedGroupNames {
		groupKey = "" // nothing unique
	}
	s := &Server{
		opts:   opts,
		users:  newCollection("userName", schema.CoreUserSchema(), schema.ExtensionEnterpriseUser()),
		groups: newCollection(groupKey, schema.CoreGroupSchema()),
		tokens: map[string]bool{},
		counts: map[reqKey]int{},
	}
	if opts.Token != "" {
		s.tokens[opts.Token] = true
	}
	s.api = s.build("")
	return s
}

// build makes the elimity server; baseURL makes its Location headers and
// meta.location absolute.
func (s *Server) build(baseURL string) scim.Server {
	opts := s.opts
	var schemes []scim.AuthenticationScheme
	if opts.Token != "" {
		schemes = append(schemes, scim.AuthenticationScheme{
			Type: scim.AuthenticationTypeOauthBearerToken, Name: "OAuth Bearer Token",
			Description: "Authentication with a bearer token", Primary: true,
		})
	}
	if opts.BasicUser != "" {
		schemes = append(schemes, scim.AuthenticationScheme{
			Type: scim.AuthenticationTypeHTTPBasic, Name: "HTTP Basic",
			Description: "Authentication with a user name and password", Primary: opts.Token == "",
		})
	}
	api, err := scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &scim.ServiceProviderConfig{
			DocumentationURI:      optional.NewString("https://github.com/idsync/idsync"),
			AuthenticationSchemes: schemes,
			MaxResults:            opts.MaxResults,
			SupportFiltering:      true,
			SupportPatch:          !opts.DisablePatch,
		},
		ResourceTypes: []scim.ResourceType{
			{
				ID:               optional.NewString("User"),
				Name:             "User",
				Endpoint:         "/Users",
				Description:      optional.NewString("User Account"),
				Schema:           schema.CoreUserSchema(),
				SchemaExtensions: []scim.SchemaExtension{{Schema: schema.ExtensionEnterpriseUser()}},
				Handler:          s.users,
			},
			{
				ID:          optional.NewString("Group"),
				Name:        "Group",
				Endpoint:    "/Groups",
				Description: optional.NewString("Group"),
				Schema:      schema.CoreGroupSchema(),
				Handler:     s.groups,
			},
		},
	}, scim.WithBaseURL(baseURL))
	if err != nil {
		// The arguments are constants of this package: a failure is a bug here.
		panic("scimtest: building the SCIM server: " + err.Error())
	}
	return api
}

// Listen returns a server serving on 127.0.0.1 on a free port; Close stops it.
func Listen(opts Options) (*Server, error) {
	s := New(opts)
	ln, err := listen(s)
	if err != nil {
		return nil, err
	}
	s.net = ln
	s.URL = "http://" + ln.addr
	s.api = s.build(s.URL)
	ln.serve()
	return s, nil
}

// Start is Listen for a test: it fails the test when the server cannot listen
// and closes the server when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Listen(opts)
	if err != nil {
		t.Fatalf("starting the SCIM test server: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Close stops serving (for a server from Start or Listen).
func (s *Server) Close() {
	if s.net != nil {
		s.net.close()
	}
}

// ServeHTTP serves the SCIM API behind the fault injector and authentication.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, wait, down := s.admit(r)
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	if down {
		s.refuse(w)
		return
	}
	if f != nil && f.Drop {
		dropConn(w)
		return
	}
	if f != nil && f.Status != 0 && !f.Commit {
		writeFault(w, f.Fault)
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="scimtest"`)
		writeError(w, http.StatusUnauthorized, "", "authentication required")
		return
	}
	if s.opts.DisablePatch && r.Method == http.MethodPatch {
		writeError(w, http.StatusNotImplemented, "", "PATCH is not supported")
		return
	}
	if f != nil && f.Commit {
		// Apply the request, then lose its answer.
		s.api.ServeHTTP(&discard{header: http.Header{}}, r)
		ff := f.Fault
		if ff.Status == 0 {
			ff.Status = http.StatusBadGateway
		}
		writeFault(w, ff)
		return
	}
	s.api.ServeHTTP(w, r)
}

// authorized checks the bearer token or Basic credentials, in constant time.
func (s *Server) authorized(r *http.Request) bool {
	s.mu.Lock()
	open := len(s.tokens) == 0 && s.opts.BasicUser == ""
	s.mu.Unlock()
	if open {
		return true
	}
	if user, pass, ok := r.BasicAuth(); ok && s.opts.BasicUser != "" {
		u := subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.BasicUser))
		p := subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.BasicPassword))
		return u&p == 1
	}
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return false
	}
	tok := strings.TrimSpace(h[7:])
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.tokens {
		if subtle.ConstantTimeCompare([]byte(t), []byte(tok)) == 1 {
			return true
		}
	}
	return false
}

// AddToken makes tok an accepted bearer token too.
func (s *Server) AddToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = true
}

// RevokeToken stops accepting tok.
func (s *Server) RevokeToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, tok)
}

// Users returns every user as a client reads it (JSON types, with id), in
// creation order.
func (s *Server) Users() []map[string]any { return s.users.snapshot() }

// User returns the user with id.
func (s *Server) User(id string) (map[string]any, bool) { return s.users.one(id) }

// UserByName returns the user whose userName equals name case-insensitively.
func (s *Server) UserByName(name string) (map[string]any, bool) {
	s.users.mu.RLock()
	id, ok := s.users.byName[strings.ToLower(name)]
	s.users.mu.RUnlock()
	if !ok {
		return nil, false
	}
	return s.users.one(id)
}

// UserCount returns the number of users without copying them.
func (s *Server) UserCount() int { return s.users.count() }

// Groups returns every group (with its members), in creation order.
func (s *Server) Groups() []map[string]any { return s.groups.snapshot() }

// Group returns the group with id.
func (s *Server) Group(id string) (map[string]any, bool) { return s.groups.one(id) }

// SeedUser stores a user as if an earlier client had created it (schema
// validation included, bypassing faults, auth and request counts) and returns
// its id: the accounts an application already holds.
func (s *Server) SeedUser(attrs map[string]any) (string, error) {
	return s.seed("/Users", UserSchema, attrs)
}

// SeedGroup stores a group like SeedUser stores a user.
func (s *Server) SeedGroup(attrs map[string]any) (string, error) {
	return s.seed("/Groups", GroupSchema, attrs)
}

func (s *Server) seed(endpoint, schemaURI string, attrs map[string]any) (string, error) {
	body := make(map[string]any, len(attrs)+1)
	for k, v := range attrs {
		body[k] = v
	}
	if _, ok := body["schemas"]; !ok {
		body["schemas"] = []string{schemaURI}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return "", fmt.Errorf("seeding %s: %w", endpoint, err)
	}
	r, err := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(b))
	if err != nil {
		return "", fmt.Errorf("seeding %s: %w", endpoint, err)
	}
	w := &discard{header: http.Header{}}
	s.api.ServeHTTP(w, r)
	var out struct {
		ID     string `json:"id"`
		Detail string `json:"detail"`
	}
	_ = json.Unmarshal(w.body.Bytes(), &out)
	if w.status != http.StatusCreated {
		return "", fmt.Errorf("seeding %s: status %d: %s", endpoint, w.status, out.Detail)
	}
	return out.ID, nil
}

// Requests returns how many requests with method ("" for any) whose path
// starts with pathPrefix the server has received, faulted ones included.
func (s *Server) Requests(method, pathPrefix string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, c := range s.counts {
		if (method == "" || strings.EqualFold(method, k.method)) && strings.HasPrefix(k.path, pathPrefix) {
			n += c
		}
	}
	return n
}

// discard is a ResponseWriter that keeps the status and body of a response
// no client will see.
type discard struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (d *discard) Header() http.Header { return d.header }
func (d *discard) Write(b []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	return d.body.Write(b)
}
func (d *discard) WriteHeader(status int) {
	if d.status == 0 {
		d.status = status
	}
}

// writeError writes a SCIM error response (RFC 7644 §3.12).
func writeError(w http.ResponseWriter, status int, scimType, detail string) {
	body := map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"status":  fmt.Sprint(status),
		"detail":  detail,
	}
	if scimType != "" {
		body["scimType"] = scimType
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
