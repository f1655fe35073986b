package scim_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/idsync/idsync/internal/scimtest"
	"github.com/idsync/idsync/server/scim"
)

const (
	clientID     = "idsync-hub"
	clientSecret = "client-secret-s3cr3t"
)

// tokenEndpoint is a small OAuth2 token endpoint (client credentials grant,
// RFC 6749 §4.4) whose tokens the SCIM server accepts.
type tokenEndpoint struct {
	URL       string
	app       *scimtest.Server
	expiresIn int
	status    int // non-zero: answer every request with it

	mu     sync.Mutex
	issued []string
	scopes []string
}

func startTokenEndpoint(t *testing.T, app *scimtest.Server, expiresIn int) *tokenEndpoint {
	te := &tokenEndpoint{app: app, expiresIn: expiresIn}
	srv := httptest.NewServer(http.HandlerFunc(te.serve))
	t.Cleanup(srv.Close)
	te.URL = srv.URL + "/oauth2/token"
	return te
}

func (te *tokenEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if te.status != 0 {
		w.WriteHeader(te.status)
		fmt.Fprintf(w, `{"error":"temporarily_unavailable"}`)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if r.PostForm.Get("grant_type") != "client_credentials" || id != clientID || secret != clientSecret {
		w.WriteHeader(http.StatusUnauthorized)
		// A careless endpoint echoes what it got: the client must not pass it on.
		fmt.Fprintf(w, `{"error":"invalid_client","error_description":"bad secret %s"}`, secret)
		return
	}
	te.mu.Lock()
	tok := fmt.Sprintf("access-%d", len(te.issued)+1)
	te.issued = append(te.issued, tok)
	te.scopes = append(te.scopes, r.PostForm.Get("scope"))
	te.mu.Unlock()
	te.app.AddToken(tok)
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": te.expiresIn})
}

func (te *tokenEndpoint) count() int {
	te.mu.Lock()
	defer te.mu.Unlock()
	return len(te.issued)
}

func oauthClient(t *testing.T, app *scimtest.Server, te *tokenEndpoint, secret string, opts scim.Options) *scim.Client {
	t.Helper()
	opts.Retry = fastRetry
	c, err := scim.New(app.URL, scim.Auth{
		Kind: scim.AuthOAuth2, TokenURL: te.URL, ClientID: clientID, ClientSecret: secret, Scopes: []string{"scim.read", "scim.write"},
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOAuth2(t *testing.T) {
	t.Run("token cached across calls", func(t *testing.T) {
		app := scimtest.Start(t, scimtest.Options{Token: "unused-static"})
		te := startTokenEndpoint(t, app, 3600)
		c := oauthClient(t, app, te, clientSecret, scim.Options{})
		for i := range 5 {
			if _, err := c.CreateUser(t.Context(), scim.Resource{"userName": fmt.Sprintf("o%d", i)}); err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		if n := te.count(); n != 1 {
			t.Errorf("%d token requests for 5 calls, want 1", n)
		}
		if te.scopes[0] != "scim.read scim.write" {
			t.Errorf("scope %q, want %q", te.scopes[0], "scim.read scim.write")
		}
	})
	t.Run("revoked token replaced once", func(t *testing.T) {
		app := scimtest.Start(t, scimtest.Options{Token: "unused-static"})
		te := startTokenEndpoint(t, app, 3600)
		c := oauthClient(t, app, te, clientSecret, scim.Options{})
		if _, err := c.CreateUser(t.Context(), scim.Resource{"userName": "a"}); err != nil {
			t.Fatal(err)
		}
		app.RevokeToken("access-1")
		if _, err := c.CreateUser(t.Context(), scim.Resource{"userName": "b"}); err != nil {
			t.Fatalf("after revocation: %v", err)
		}
		if n, reqs := te.count(), app.Requests("POST", "/Users"); n != 2 || reqs != 3 {
			t.Errorf("%d token requests, %d POSTs; want 2 and 3 (one refused, resent with a new token)", n, reqs)
		}
	})
	t.Run("token near expiry refreshed", func(t *testing.T) {
		app := scimtest.Start(t, scimtest.Options{Token: "unused-static"})
		// oauth2 treats a token as expired 10 s early: 5 s tokens are never reused.
		te := startTokenEndpoint(t, app, 5)
		c := oauthClient(t, app, te, clientSecret, scim.Options{})
		for range 3 {
			if _, err := c.ServiceProviderConfig(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if n := te.count(); n != 3 {
			t.Errorf("%d token requests, want 3", n)
		}
	})
	t.Run("wrong secret is an AuthError", func(t *testing.T) {
		app := scimtest.Start(t, scimtest.Options{Token: "unused-static"})
		te := startTokenEndpoint(t, app, 3600)
		c := oauthClient(t, app, te, "wrong-secret-value", scim.Options{})
		_, err := c.GetUser(t.Context(), "x")
		var ae *scim.AuthError
		if !errors.As(err, &ae) || ae.Status != 401 || scim.Retryable(err) {
			t.Fatalf("err %v (%T), want a non-retryable AuthError 401", err, err)
		}
		if !strings.Contains(err.Error(), "invalid_client") {
			t.Errorf("err %q does not say invalid_client", err)
		}
		if n := app.Requests("", ""); n != 0 {
			t.Errorf("the application got %d requests without a token, want 0", n)
		}
	})
	t.Run("token endpoint failing is retryable", func(t *testing.T) {
		app := scimtest.Start(t, scimtest.Options{Token: "unused-static"})
		te := startTokenEndpoint(t, app, 3600)
		te.status = http.StatusServiceUnavailable
		c := oauthClient(t, app, te, clientSecret, scim.Options{})
		_, err := c.GetUser(t.Context(), "x")
		var he *scim.HTTPError
		if !errors.As(err, &he) || he.Status != 503 || !scim.Retryable(err) {
			t.Errorf("err %v (%T), want a retryable HTTPError 503", err, err)
		}
	})
}

func TestBasicAuth(t *testing.T) {
	app := scimtest.Start(t, scimtest.Options{BasicUser: "hub", BasicPassword: "basic-pass-word"})
	for _, tt := range []struct {
		name, password string
		wantAuthErr    bool
	}{
		{"right password", "basic-pass-word", false},
		{"wrong password", "wrong-pass-word", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := scim.New(app.URL, scim.Auth{Kind: scim.AuthBasic, Username: "hub", Password: tt.password}, scim.Options{Retry: fastRetry})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ServiceProviderConfig(t.Context())
			var ae *scim.AuthError
			if got := errors.As(err, &ae); got != tt.wantAuthErr {
				t.Errorf("err %v, want AuthError: %v", err, tt.wantAuthErr)
			}
		})
	}
}

// TestNoSecretInErrorsOrLogs drives every kind of credential through
// failures and checks that no secret reaches an error message or a log line.
func TestNoSecretInErrorsOrLogs(t *testing.T) {
	secrets := []string{token, "basic-pass-word", "wrong-pass-word", clientSecret, "wrong-secret-value", "access-1"}
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var texts []string

	app := scimtest.Start(t, scimtest.Options{Token: token, BasicUser: "hub", BasicPassword: "basic-pass-word"})
	te := startTokenEndpoint(t, app, 3600)
	// An application that echoes the Authorization header in its errors.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"detail": "bad request from " + r.Header.Get("Authorization"), "status": "400"})
	}))
	t.Cleanup(echo.Close)

	auths := []scim.Auth{
		{Kind: scim.AuthBearer, Token: token},
		{Kind: scim.AuthBasic, Username: "hub", Password: "basic-pass-word"},
		{Kind: scim.AuthBasic, Username: "hub", Password: "wrong-pass-word"},
		{Kind: scim.AuthOAuth2, TokenURL: te.URL, ClientID: clientID, ClientSecret: clientSecret},
		{Kind: scim.AuthOAuth2, TokenURL: te.URL, ClientID: clientID, ClientSecret: "wrong-secret-value"},
	}
	faults := []scimtest.Fault{{Status: 401}, {Status: 500, Times: -1}, {Status: 429, RetryAfter: "600"}, {Drop: true, Times: -1}, {Status: 400}}
	for _, a := range auths {
		texts = append(texts, fmt.Sprintf("%v %+v %#v %s", a, a, a, a.String()))
		logger.Info("auth", "auth", a)
		for _, base := range []string{app.URL, echo.URL} {
			c, err := scim.New(base, a, scim.Options{Retry: fastRetry, Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range faults {
				app.Inject(f)
				_, err := c.CreateUser(t.Context(), scim.Resource{"userName": "s"})
				if err != nil {
					texts = append(texts, err.Error(), fmt.Sprintf("%+v %#v", err, err))
				}
				app.ClearFaults()
			}
		}
	}
	if len(texts) < 20 {
		t.Fatalf("only %d errors collected: the scenarios did not fail as planned", len(texts))
	}
	all := strings.Join(texts, "\n") + logs.String()
	for _, s := range secrets {
		if strings.Contains(all, s) {
			i := strings.Index(all, s)
			t.Errorf("secret %q appears: …%s…", s, all[max(0, i-120):min(len(all), i+40)])
		}
	}
	if !strings.Contains(all, "[redacted]") {
		t.Errorf("the echoing application's detail was not redacted (or not collected)")
	}
	if !strings.Contains(logs.String(), "retrying SCIM request") {
		t.Errorf("no retry was logged")
	}
}
