package scim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// AuthKind names how the client authenticates to an application.
type AuthKind string

// The kinds of Auth.
const (
	AuthNone   AuthKind = ""       // no Authorization header (tests, open apps)
	AuthBearer AuthKind = "bearer" // a static bearer token
	AuthBasic  AuthKind = "basic"  // HTTP Basic user and password
	AuthOAuth2 AuthKind = "oauth2" // OAuth2 client credentials grant (RFC 6749 §4.4)
)

// Auth holds an application's credentials. Its String, GoString and LogValue
// hide every secret, so printing or logging an Auth is safe.
type Auth struct {
	Kind AuthKind

	// Token is the bearer token (AuthBearer).
	Token string

	// Username and Password are the Basic credentials (AuthBasic).
	Username, Password string

	// TokenURL, ClientID, ClientSecret and Scopes configure the client
	// credentials grant (AuthOAuth2). Tokens are cached until they expire.
	TokenURL     string
	ClientID     string
	ClientSecret string
	Scopes       []string
}

// Validate checks that the fields Kind needs are set.
func (a Auth) Validate() error {
	var missing []string
	need := func(v, name string) {
		if v == "" {
			missing = append(missing, name)
		}
	}
	switch a.Kind {
	case AuthNone:
	case AuthBearer:
		need(a.Token, "token")
	case AuthBasic:
		need(a.Username, "username")
		need(a.Password, "password")
	case AuthOAuth2:
		need(a.TokenURL, "token URL")
		need(a.ClientID, "client id")
		need(a.ClientSecret, "client secret")
	default:
		return fmt.Errorf("scim auth: unknown kind %q (want bearer, basic or oauth2)", a.Kind)
	}
	if len(missing) > 0 {
		return fmt.Errorf("scim auth %s: missing %s", a.Kind, strings.Join(missing, ", "))
	}
	return nil
}

// String describes a without its secrets.
func (a Auth) String() string {
	switch a.Kind {
	case AuthNone:
		return "none"
	case AuthBasic:
		return fmt.Sprintf("basic (user %s, password redacted)", a.Username)
	case AuthOAuth2:
		return fmt.Sprintf("oauth2 (token URL %s, client %s, secret redacted)", a.TokenURL, a.ClientID)
	}
	return string(a.Kind) + " (redacted)"
}

// GoString keeps %#v from printing the secrets.
func (a Auth) GoString() string { return "scim.Auth{" + a.String() + "}" }

// LogValue keeps slog from printing the secrets.
func (a Auth) LogValue() slog.Value { return slog.StringValue(a.String()) }

// authTransport sets the Authorization header of every attempt.
type authTransport struct {
	base  http.RoundTripper
	auth  Auth
	token *tokenCache // AuthOAuth2 only
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var value string
	switch t.auth.Kind {
	case AuthNone:
		return t.base.RoundTrip(req)
	case AuthBearer:
		value = "Bearer " + t.auth.Token
	case AuthBasic:
		r := &http.Request{Header: http.Header{}}
		r.SetBasicAuth(t.auth.Username, t.auth.Password)
		value = r.Header.Get("Authorization")
	case AuthOAuth2:
		tok, err := t.token.get(req.Context())
		if err != nil {
			return nil, err
		}
		value = "Bearer " + tok
		stateOf(req.Context()).token = tok
	}
	// A RoundTripper must not modify the request it is given.
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", value)
	return t.base.RoundTrip(req)
}

func (t *authTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// tokenCache fetches client-credentials tokens and keeps one until it nears
// expiry; one fetch at a time, so a burst of workers makes one request.
type tokenCache struct {
	cfg clientcredentials.Config
	hc  *http.Client // for the token endpoint, without authTransport

	mu  sync.Mutex
	tok *oauth2.Token
}

func (c *tokenCache) get(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok.Valid() {
		return c.tok.AccessToken, nil
	}
	tok, err := c.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, c.hc))
	if err != nil {
		return "", tokenError(err)
	}
	c.tok = tok
	return tok.AccessToken, nil
}

// current returns the cached access token, if any.
func (c *tokenCache) current() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == nil {
		return ""
	}
	return c.tok.AccessToken
}

// invalidate drops the cached token if it is still bad (the application
// refused it), so the next request fetches a new one.
func (c *tokenCache) invalidate(bad string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != nil && c.tok.AccessToken == bad {
		c.tok = nil
	}
}

// tokenError turns a token endpoint failure into this package's errors
// without its response body, which is the endpoint's to echo back.
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return fmt.Errorf("oauth2 token endpoint: %w", err)
	}
	status := re.Response.StatusCode
	detail := "token endpoint"
	if re.ErrorCode != "" {
		detail += ": " + re.ErrorCode
	}
	if status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout {
		return &AuthError{Method: http.MethodPost, Path: "token", Status: status, Detail: detail}
	}
	return &HTTPError{Method: http.MethodPost, Path: "token", Status: status, Detail: detail}
}
