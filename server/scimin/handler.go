package scimin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/idsync/idsync/internal/pki"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/store"
)

// Prefix is where the handler is mounted on the hub's HTTP listener.
const Prefix = "/scim/v2/"

// MaxBody bounds a request body: a SCIM resource is a few kilobytes.
const MaxBody = 1 << 20

// Store is the part of the hub's store the endpoint reads.
type Store interface {
	DirectoryBySourceToken(ctx context.Context, hash []byte) (*store.Directory, error)
	GetUser(ctx context.Context, id string) (*store.User, error)
	FindUsers(ctx context.Context, directoryID int64, name string) ([]*store.User, error)
	ListUsers(ctx context.Context, f store.UserFilter) ([]*store.User, error)
	GetGroup(ctx context.Context, id string) (*store.Group, error)
	FindGroups(ctx context.Context, directoryID int64, name string) ([]*store.Group, error)
	ListGroups(ctx context.Context, f store.GroupFilter) ([]*store.Group, error)
	GroupMembers(ctx context.Context, groupID string) ([]store.Member, error)
	ObjectByExternalID(ctx context.Context, directoryID int64, externalID string) (store.ObjectRef, error)
}

// Applier applies a source's writes (ingest.Engine): a request that
// writes holds the source's write run from its first read to its write,
// so that what it checked (If-Match, a unique userName or externalId)
// still holds when it writes, on every hub replica.
type Applier interface {
	OpenWrite(ctx context.Context, d *store.Directory, trigger string) (*ingest.WriteRun, error)
}

// Handler serves the SCIM endpoint.
type Handler struct {
	st    Store
	apply Applier
	audit Recorder
	log   *slog.Logger
	// locks queue the writes of one source in this process before they
	// wait for the source's write run (which serialises them on every
	// replica), so that they do not poll for it.
	locks sync.Map // directory id → *sync.Mutex
	// userTypes are the User resource types by the fields a source
	// masters.
	userTypes sync.Map // strings.Join(Mastered, ",") → *resourceType
}

// userType is the User resource type as d sees it.
func (h *Handler) userType(d *store.Directory) *resourceType {
	key := strings.Join(d.Mastered, ",")
	if rt, ok := h.userTypes.Load(key); ok {
		return rt.(*resourceType)
	}
	rt, _ := h.userTypes.LoadOrStore(key, userType(d))
	return rt.(*resourceType)
}

// Recorder writes the audit trail (server/audit.Log): every write, and
// refused tokens summarised per client address.
type Recorder interface {
	ingest.Recorder
	RecordUnauthenticated(ctx context.Context, addr string, e store.AuditEvent)
}

// New returns the handler. audit records refused tokens and every write.
func New(st Store, apply Applier, audit Recorder, log *slog.Logger) *Handler {
	return &Handler{st: st, apply: apply, audit: audit, log: log.With("component", "scim-in")}
}

type (
	sourceKey struct{}
	baseKey   struct{}
	runKey    struct{}
)

func source(ctx context.Context) *store.Directory { return ctx.Value(sourceKey{}).(*store.Directory) }

// writeRun is the source's write run a writing request holds.
func writeRun(ctx context.Context) *ingest.WriteRun { return ctx.Value(runKey{}).(*ingest.WriteRun) }

// baseOf is the absolute URL of the endpoint as the client reached it,
// which $ref and meta.location start with.
func baseOf(ctx context.Context) string { s, _ := ctx.Value(baseKey{}).(string); return s }

func (h *Handler) lock(d *store.Directory) func() {
	m, _ := h.locks.LoadOrStore(d.ID, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// ServeHTTP authenticates the source and routes the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d, ok := h.authenticate(w, r)
	if !ok {
		return
	}
	ctx := context.WithValue(context.WithValue(r.Context(), sourceKey{}, d), baseKey{}, baseURL(r))
	r = r.WithContext(ctx)
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	}
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(Prefix, "/")), "/")
	kind, id, _ := strings.Cut(rest, "/")
	switch kind {
	case "ServiceProviderConfig":
		h.only(w, r, id, http.MethodGet, serviceProviderConfig)
	case "Schemas":
		h.only(w, r, "", http.MethodGet, func(w http.ResponseWriter, r *http.Request) { h.schemasResponse(w, r, id) })
	case "ResourceTypes":
		h.only(w, r, "", http.MethodGet, func(w http.ResponseWriter, r *http.Request) { resourceTypesResponse(w, r, id) })
	case "Users":
		h.resource(w, r, id, h.users())
	case "Groups":
		h.resource(w, r, id, h.groups())
	case "Me", "Bulk", searchPath:
		// Features the endpoint does not have (RFC 7644 §3.11: SHOULD be
		// 501; /ServiceProviderConfig says bulk is not supported).
		writeError(w, http.StatusNotImplemented, "", "%s is not supported by this endpoint (see /ServiceProviderConfig)", "/"+kind)
	default:
		writeError(w, http.StatusNotFound, "", "no such endpoint: %s", r.URL.Path)
	}
}

func (h *Handler) only(w http.ResponseWriter, r *http.Request, id, method string, f http.HandlerFunc) {
	switch {
	case id != "":
		writeError(w, http.StatusNotFound, "", "no such resource")
	case r.Method != method:
		writeError(w, http.StatusMethodNotAllowed, "", "method %s not allowed here", r.Method)
	default:
		f(w, r)
	}
}

// authenticate finds the source by its bearer token. A missing or wrong
// token is 401 and is recorded in the audit trail (never the token).
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request) (*store.Directory, bool) {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	var d *store.Directory
	var err error
	if strings.EqualFold(scheme, "Bearer") && token != "" {
		d, err = h.st.DirectoryBySourceToken(r.Context(), pki.HashSecret(token))
	} else {
		err = store.ErrNotFound
	}
	if err == nil && d.Kind == store.KindSCIM {
		return d, true
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.log.Error("checking a source token", "err", err)
		writeError(w, http.StatusServiceUnavailable, "", "the hub cannot check the token now")
		return nil, false
	}
	why := "no bearer token"
	if token != "" {
		why = "unknown or revoked bearer token"
	}
	h.audit.RecordUnauthenticated(r.Context(), r.RemoteAddr, store.AuditEvent{Actor: "unauthenticated@" + r.RemoteAddr,
		Action: "scim.auth", Target: Prefix, Outcome: store.AuditRefused, Detail: fmt.Sprintf("%s %s: %s", r.Method, r.URL.Path, why)})
	w.Header().Set("WWW-Authenticate", `Bearer realm="idsync"`)
	// The body of a caller without credentials is not read: the answer
	// goes at once, and the connection closes.
	w.Header().Set("Connection", "close")
	writeError(w, http.StatusUnauthorized, "", "a valid bearer token of a SCIM source is required")
	return nil, false
}

// record writes the audit event of a source's write.
func (h *Handler) record(ctx context.Context, action, target string, err error, detail string) {
	e := store.AuditEvent{Actor: "source:" + source(ctx).Name, Action: action, Target: target,
		Outcome: store.AuditOK, Detail: detail}
	if err != nil {
		e.Outcome, e.Detail = store.AuditFailed, err.Error()
		var se *scimError
		if errors.As(err, &se) && se.status < 500 {
			e.Outcome = store.AuditRefused
		}
	}
	h.audit.Record(ctx, e)
}

// scimError is an error with the SCIM status and scimType it answers.
type scimError struct {
	status   int
	scimType string
	msg      string
}

func (e *scimError) Error() string { return e.msg }

func errorf(status int, scimType, format string, args ...any) error {
	return &scimError{status: status, scimType: scimType, msg: fmt.Sprintf(format, args...)}
}

// WriteError answers a SCIM error (RFC 7644 §3.12) with detail, for
// the routes in front of the handler (server/hub).
func WriteError(w http.ResponseWriter, status int, detail string) {
	writeError(w, status, "", "%s", detail)
}

func writeError(w http.ResponseWriter, status int, scimType, format string, args ...any) {
	body := map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"status":  fmt.Sprint(status),
		"detail":  fmt.Sprintf(format, args...),
	}
	if scimType != "" {
		body["scimType"] = scimType
	}
	writeJSON(w, status, body)
}

// fail answers err: its own status when it is a scimError, else 500 with
// a generic detail (the cause is logged, not sent).
func (h *Handler) fail(w http.ResponseWriter, err error) {
	var se *scimError
	if errors.As(err, &se) {
		writeError(w, se.status, se.scimType, "%s", se.msg)
		return
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeError(w, http.StatusRequestEntityTooLarge, "", "the request body is larger than %d bytes", MaxBody)
		return
	}
	h.log.Error("SCIM request failed", "err", err)
	writeError(w, http.StatusInternalServerError, "", "the hub could not complete the request")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readBody decodes a JSON object with its attribute names lower-cased
// (SCIM names are case-insensitive).
func readBody(r *http.Request) (map[string]any, error) {
	var v any
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", "the body is not JSON: %v", err)
	}
	m, ok := lowerKeys(v).(map[string]any)
	if !ok {
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", "the body is not a JSON object")
	}
	return m, nil
}

// lowerKeys returns v with every object key lower-cased.
func lowerKeys(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[strings.ToLower(k)] = lowerKeys(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = lowerKeys(e)
		}
		return out
	}
	return v
}

// baseURL is the absolute URL of the endpoint as the client reached it.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + strings.TrimSuffix(Prefix, "/")
}
