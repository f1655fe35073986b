package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/idsync/idsync/internal/backoff"
	"github.com/idsync/idsync/internal/version"
)

// Options tune a Client; the zero value suits production.
type Options struct {
	// HTTPClient is the underlying client (its Transport, TLS settings and
	// Timeout); nil means a pooled client with a 30 s timeout per attempt.
	HTTPClient *http.Client
	// Retry bounds the retries within one call.
	Retry RetryPolicy
	// MaxRetryAfter is the longest Retry-After the client sleeps within a
	// call (default 30 s); a longer one returns a *RetryAfterError.
	MaxRetryAfter time.Duration
	// Logger receives a debug line per call and a warning per retry; nil
	// discards. Lines carry method, path, status and attempt, never headers or
	// bodies.
	Logger *slog.Logger
	// UserAgent is sent with every request (default "idsync/<version>").
	UserAgent string
	// PageSize is the count asked for per page when listing (default 100;
	// the application may send fewer).
	PageSize int
	// MembersPerPatch bounds the member values of one PatchGroupMembers
	// request (default 100).
	MembersPerPatch int
}

// RetryPolicy bounds the retries within one call: 5xx, network errors, and
// 429/503 with a short Retry-After (or none).
type RetryPolicy struct {
	// Attempts is the number of tries per call, the first included
	// (default 3; 1 disables retries).
	Attempts int
	// MinWait is the backoff after the first failure; it doubles per
	// failure up to MaxWait, with jitter (defaults 200 ms and 5 s).
	MinWait, MaxWait time.Duration
}

// Client talks SCIM 2.0 to one application. It is safe for concurrent use.
type Client struct {
	base   string // without trailing slash
	auth   Auth
	opts   Options
	log    *slog.Logger
	rc     *retryablehttp.Client
	tokens *tokenCache // AuthOAuth2 only
	// now is the clock a Retry-After date is read against; tests fix it so
	// that an answer reads the same however long they take.
	now func() time.Time
}

// maxBody bounds a response body the client reads.
const maxBody = 32 << 20

// New returns a client for the SCIM service at baseURL (for example
// https://app.example.com/scim/v2). Credentials belong in auth, not in the
// URL.
func New(baseURL string, auth Auth, opts Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("scim base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("scim base URL %q: want http(s)://host/path", u.Redacted())
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("scim base URL %q: no user info, query or fragment (credentials go in the auth settings)", u.Redacted())
	}
	if err := auth.Validate(); err != nil {
		return nil, err
	}
	opts = withDefaults(opts)
	c := &Client{
		base: strings.TrimRight(u.String(), "/"),
		auth: auth,
		opts: opts,
		log:  opts.Logger.With("component", "scim", "app", u.Host),
		now:  time.Now,
	}
	hc := *opts.HTTPClient // a copy: the caller's client stays as it was
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	at := &authTransport{base: base, auth: auth}
	if auth.Kind == AuthOAuth2 {
		c.tokens = &tokenCache{
			cfg: clientcredentials.Config{
				ClientID: auth.ClientID, ClientSecret: auth.ClientSecret,
				TokenURL: auth.TokenURL, Scopes: auth.Scopes,
			},
			hc: opts.HTTPClient,
		}
		at.token = c.tokens
	}
	hc.Transport = at
	c.rc = &retryablehttp.Client{
		HTTPClient:     &hc,
		RetryWaitMin:   opts.Retry.MinWait,
		RetryWaitMax:   opts.Retry.MaxWait,
		RetryMax:       opts.Retry.Attempts - 1,
		CheckRetry:     c.checkRetry,
		Backoff:        jitterBackoff,
		ErrorHandler:   retryablehttp.PassthroughErrorHandler,
		RequestLogHook: c.logAttempt,
	}
	return c, nil
}

func withDefaults(o Options) Options {
	if o.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// The queue runs several workers per application: keep their
		// connections instead of redialling (the default keeps 2 per host).
		t.MaxIdleConnsPerHost = 64
		o.HTTPClient = &http.Client{Transport: t, Timeout: 30 * time.Second}
	}
	if o.Retry.Attempts <= 0 {
		o.Retry.Attempts = 3
	}
	if o.Retry.MinWait <= 0 {
		o.Retry.MinWait = 200 * time.Millisecond
	}
	if o.Retry.MaxWait <= 0 {
		o.Retry.MaxWait = 5 * time.Second
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.UserAgent == "" {
		o.UserAgent = "idsync/" + version.Version
	}
	if o.PageSize <= 0 {
		o.PageSize = 100
	}
	if o.MembersPerPatch <= 0 {
		o.MembersPerPatch = 100
	}
	return o
}

// callState follows one call through its attempts (it rides in the request
// context, which go-retryablehttp hands to its hooks).
type callState struct {
	attempts int
	last     string // outcome of the previous attempt, for the retry log line
	token    string // the OAuth2 access token sent, to drop it on a 401
}

type stateKey struct{}

func stateOf(ctx context.Context) *callState {
	if st, ok := ctx.Value(stateKey{}).(*callState); ok {
		return st
	}
	return &callState{}
}

// checkRetry is the retry policy: see the package comment.
func (c *Client) checkRetry(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	st := stateOf(ctx)
	if err != nil {
		var ae *AuthError
		if errors.As(err, &ae) {
			return false, nil
		}
		st.last = "error: " + err.Error()
		// The library's policy knows which transport errors are permanent
		// (bad scheme, TLS verification).
		return retryablehttp.DefaultRetryPolicy(ctx, nil, err)
	}
	st.last = "status " + strconv.Itoa(resp.StatusCode)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if wait, ok := retryAfter(resp.Header, c.now()); ok {
			return wait <= c.opts.MaxRetryAfter, nil
		}
	}
	return retryableStatus(resp.StatusCode), nil
}

// jitterBackoff waits what Retry-After says (checkRetry has capped it), else
// an exponential backoff from lo to hi with jitter in [d/2, d], so that many
// workers failing together do not retry in step.
func jitterBackoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if wait, ok := retryAfter(resp.Header, time.Now()); ok {
			return wait
		}
	}
	return backoff.Delay(lo, hi, attempt)
}

// retryAfter parses Retry-After: delay-seconds or an HTTP date (RFC 9110
// §10.2.3), which is a wait from now. A date in the past means no wait.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, 1<<31)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	// An HTTP date has whole seconds: so has the wait (rounded up).
	d := min(t.Sub(now), (1<<31)*time.Second)
	wait := d.Truncate(time.Second)
	if d > wait {
		wait += time.Second
	}
	return max(wait, 0), true
}

func (c *Client) logAttempt(_ retryablehttp.Logger, req *http.Request, i int) {
	st := stateOf(req.Context())
	st.attempts = i + 1
	if i > 0 {
		c.log.Warn("retrying SCIM request", "method", req.Method, "path", req.URL.Path, "attempt", i+1, "previous", st.last)
	}
}

// do sends one SCIM request (body marshalled to JSON when non-nil) and
// decodes a 2xx answer into out when out is non-nil. Every failure is one of
// this package's error types or the context's error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var payload []byte
	if raw, ok := body.(json.RawMessage); ok {
		payload = raw // encoded by the caller
	} else if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("scim: %s %s: encoding the request: %w", method, path, err)
		}
	}
	target := c.base + path
	if len(query) > 0 {
		// Spaces as %20: some SCIM servers do not read + in a filter as a space.
		target += "?" + strings.ReplaceAll(query.Encode(), "+", "%20")
	}
	start := time.Now()
	for try := 0; ; try++ {
		st := &callState{}
		status, header, raw, err := c.send(context.WithValue(ctx, stateKey{}, st), method, target, payload)
		if err != nil {
			err = c.transportError(ctx, method, path, st, err)
			c.log.Debug("SCIM call failed", "method", method, "path", path, "attempts", st.attempts, "error", err)
			return err
		}
		// An OAuth2 token can be revoked before it expires: drop it and try
		// once more with a fresh one before calling it an auth failure.
		if status == http.StatusUnauthorized && c.tokens != nil && try == 0 {
			c.tokens.invalidate(st.token)
			continue
		}
		c.log.Debug("SCIM call", "method", method, "path", path, "status", status, "attempts", st.attempts, "duration", time.Since(start))
		if status < 200 || status > 299 {
			return c.statusError(method, path, status, header, raw, st.attempts)
		}
		if out != nil && len(raw) > 0 {
			return decode(method, path, status, raw, out)
		}
		return nil
	}
}

// send makes the request through the retrying client and reads the answer.
func (c *Client) send(ctx context.Context, method, target string, payload []byte) (int, http.Header, []byte, error) {
	var body any // nil, not an empty []byte: no body at all on GET and DELETE
	if payload != nil {
		body = payload
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Accept", "application/scim+json, application/json")
	req.Header.Set("User-Agent", c.opts.UserAgent)
	if payload != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := c.rc.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return 0, nil, nil, err
	}
	if len(raw) > maxBody {
		return 0, nil, nil, fmt.Errorf("response body larger than %d bytes", maxBody)
	}
	return resp.StatusCode, resp.Header, raw, nil
}

// transportError classifies a call that got no usable HTTP answer.
func (c *Client) transportError(ctx context.Context, method, path string, st *callState, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("scim: %s %s: %w", method, path, ctxErr)
	}
	var ae *AuthError
	if errors.As(err, &ae) {
		e := *ae
		e.Method, e.Path = method, path
		return &e
	}
	var he *HTTPError
	if errors.As(err, &he) {
		e := *he
		e.Attempts = st.attempts
		return &e
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error repeats the whole URL; the path is in our message already.
		err = ue.Err
	}
	return &NetworkError{Method: method, Path: path, Attempts: max(st.attempts, 1), Err: err}
}

// statusError turns a non-2xx answer into this package's error types.
func (c *Client) statusError(method, path string, status int, h http.Header, raw []byte, attempts int) error {
	scimType, detail := c.parseError(raw)
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return &AuthError{Method: method, Path: path, Status: status, Detail: detail}
	case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable:
		if wait, ok := retryAfter(h, c.now()); ok {
			return &RetryAfterError{Method: method, Path: path, Status: status, Wait: wait}
		}
	}
	return &HTTPError{Method: method, Path: path, Status: status, SCIMType: scimType, Detail: detail, Attempts: attempts}
}

// parseError reads a SCIM error body (RFC 7644 §3.12), or the start of any
// other body, with the client's own secrets blanked should the application
// echo them.
func (c *Client) parseError(raw []byte) (scimType, detail string) {
	var e struct {
		ScimType string `json:"scimType"`
		Detail   string `json:"detail"`
	}
	if json.Unmarshal(raw, &e) == nil {
		scimType, detail = e.ScimType, e.Detail
	} else {
		detail = strings.Join(strings.Fields(string(raw)), " ")
	}
	// Redact before cutting, or a secret the cut splits would show its
	// start; cut on a rune boundary and keep valid UTF-8 (stores refuse
	// anything else).
	detail = strings.ToValidUTF8(c.redact(detail), "\uFFFD")
	if len(detail) > 300 {
		cut := 300
		for cut > 0 && !utf8.RuneStart(detail[cut]) {
			cut--
		}
		detail = detail[:cut] + "…"
	}
	return c.redact(scimType), detail
}

func (c *Client) redact(s string) string {
	secrets := []string{c.auth.Token, c.auth.Password, c.auth.ClientSecret}
	if c.tokens != nil {
		secrets = append(secrets, c.tokens.current())
	}
	for _, secret := range secrets {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}
