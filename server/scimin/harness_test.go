package scimin_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idsync/idsync/internal/pki"
	"github.com/idsync/idsync/server/audit"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/scimin"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// hub is a store, the sync engine and the SCIM endpoint on a loopback
// HTTP server, with one SCIM source "hr" and its token.
type hub struct {
	t      testing.TB
	st     store.Store
	engine *ingest.Engine
	// changed is called after each write commits (provisioning's Notify
	// in a test that runs it).
	changed atomic.Pointer[func()]
	dir     *store.Directory
	token   string
	srv     *httptest.Server
	trail   *audit.Log
}

func newHub(t testing.TB, mastered ...string) *hub {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d := &store.Directory{Name: "hr", Kind: store.KindSCIM, Mastered: mastered}
	ingest.ApplyPreset(d)
	if err := ingest.ValidateDirectory(d); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateDirectory(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	token, hash := pki.NewSecret("idss_")
	if err := st.SetSourceToken(t.Context(), d.ID, hash); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	h := &hub{t: t, st: st}
	eng := ingest.New(ingest.Config{Store: st, Log: log, OnChange: func() {
		if f := h.changed.Load(); f != nil {
			(*f)()
		}
	}})
	trail := audit.New(st, log)
	mux := http.NewServeMux()
	mux.Handle(scimin.Prefix, scimin.New(st, eng, trail, log))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	h.engine, h.dir, h.token, h.srv, h.trail = eng, d, token, srv, trail
	return h
}

// replica is a second hub over the same store — its own sync engine and
// SCIM endpoint on its own server — as another hub replica over one
// PostgreSQL is.
func (h *hub) replica() *hub {
	h.t.Helper()
	log := slog.New(slog.DiscardHandler)
	eng := ingest.New(ingest.Config{Store: h.st, Log: log})
	mux := http.NewServeMux()
	mux.Handle(scimin.Prefix, scimin.New(h.st, eng, audit.New(h.st, log), log))
	srv := httptest.NewServer(mux)
	h.t.Cleanup(srv.Close)
	return &hub{t: h.t, st: h.st, engine: eng, dir: h.dir, token: h.token, srv: srv, trail: h.trail}
}

// do sends a request with the source's token and decodes the answer.
func (h *hub) do(method, path string, body []byte) (int, map[string]any) {
	h.t.Helper()
	return h.doToken(h.token, method, path, body)
}

func (h *hub) doToken(token, method, path string, body []byte) (int, map[string]any) {
	h.t.Helper()
	code, _, out := h.send(token, method, path, body, nil)
	return code, out
}

// doHeader sends a request with the source's token and these headers, and
// returns the answer's headers too.
func (h *hub) doHeader(method, path string, body []byte, header map[string]string) (int, http.Header, map[string]any) {
	h.t.Helper()
	return h.send(h.token, method, path, body, header)
}

func (h *hub) send(token, method, path string, body []byte, header map[string]string) (int, http.Header, map[string]any) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/scim+json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	var out map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			h.t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, path, err, b)
		}
	}
	return resp.StatusCode, resp.Header, out
}

// user returns the source's hub user with this username (any status).
func (h *hub) user(name string) *store.User {
	h.t.Helper()
	us, err := h.st.FindUsers(h.t.Context(), h.dir.ID, name)
	if err != nil || len(us) != 1 {
		h.t.Fatalf("FindUsers(%q) = %d users, %v; want 1", name, len(us), err)
	}
	return us[0]
}

// fixture reads a recorded request body, replacing documented ids by the
// hub's.
func fixture(t testing.TB, name string, ids map[string]string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for from, to := range ids {
		s = strings.ReplaceAll(s, from, to)
	}
	return []byte(s)
}
