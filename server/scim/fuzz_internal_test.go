package scim

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets below feed what an application answers — or a hostile one
// could — to the client. Seeds: testdata/fuzz/FuzzXxx and the f.Add calls.

// fuzzToken is the bearer token of the fuzzed clients: no error may show it.
const fuzzToken = "Zq7xK9mW2pL4vR8n"

// holdsPartialToken reports whether s holds the token's first bytes other
// than as part of the whole token: then a cut detail may show them without
// any leak.
func holdsPartialToken(s string) bool {
	return strings.Contains(strings.ReplaceAll(s, fuzzToken, ""), fuzzToken[:4])
}

// FuzzStatusError checks how a refused call's answer becomes an error —
// parseError on the body (a SCIM error with scimType and detail, or
// anything), retryAfter on the header — for any status, header and body: no
// panic, the error type the status calls for, a Retry-After wait that is
// neither negative nor unbounded, a detail that is short and valid UTF-8,
// and never the client's token, whole or cut.
func FuzzStatusError(f *testing.F) {
	f.Add(409, "", []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"scimType":"uniqueness","detail":"userName exists","status":"409"}`))
	f.Add(429, "7", []byte(`{"detail":"slow down"}`))
	f.Add(503, "Fri, 31 Dec 1999 23:59:59 GMT", []byte("<html>down</html>"))
	f.Add(401, "", []byte(`{"detail":"bad token Zq7xK9mW2pL4vR8n"}`))
	f.Add(400, "", []byte(`{"scimType":"Zq7xK9mW2pL4vR8n","detail":"x"}`))
	c, err := New("https://app.example/scim/v2", Auth{Kind: AuthBearer, Token: fuzzToken}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	// A fixed clock: a Retry-After date then means one wait, not one that
	// shrinks as the seconds tick between two reads of the same answer.
	c.now = func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 250e6, time.UTC) }
	f.Fuzz(func(t *testing.T, status int, retryAfterValue string, body []byte) {
		h := http.Header{}
		if retryAfterValue != "" {
			h.Set("Retry-After", retryAfterValue)
		}
		err := c.statusError(http.MethodGet, "/Users", status, h, body, 1)
		checkError(t, err, body)
		var (
			he *HTTPError
			ae *AuthError
			re *RetryAfterError
		)
		switch {
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			if !errors.As(err, &ae) || ae.Status != status {
				t.Fatalf("status %d gave %T %v, want an AuthError", status, err, err)
			}
		case errors.As(err, &re):
			if (status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable) || re.Wait < 0 || re.Wait > (1<<31)*time.Second {
				t.Fatalf("status %d, Retry-After %q gave %v", status, retryAfterValue, err)
			}
		case errors.As(err, &he):
			if he.Status != status || len(he.Detail) > 300+len("…") {
				t.Fatalf("status %d gave %+v", status, he)
			}
		default:
			t.Fatalf("status %d gave %T %v", status, err, err)
		}
		// The client's clock is fixed, so a Retry-After date gives the same
		// wait however long the two reads lie apart.
		if again := c.statusError(http.MethodGet, "/Users", status, h, body, 1); again.Error() != err.Error() {
			t.Fatalf("the same answer read twice gave %q, then %q", err, again)
		}
	})
}

// checkError checks what every error of the client keeps to whatever the
// application sent in body: valid UTF-8 (stores refuse anything else) and
// no trace of the token.
func checkError(t *testing.T, err error, body []byte) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if utf8.Valid(body) && !utf8.ValidString(msg) {
		t.Fatalf("error %q is not valid UTF-8", msg)
	}
	partial := holdsPartialToken(string(body))
	var e struct{ ScimType, Detail string }
	if json.Unmarshal(body, &e) == nil {
		partial = partial || holdsPartialToken(e.ScimType) || holdsPartialToken(e.Detail)
	}
	if !partial && strings.Contains(msg, fuzzToken[:4]) {
		t.Fatalf("error %q shows (part of) the token", msg)
	}
}

// fuzzAnswer is what the fuzzed application answers.
type fuzzAnswer struct {
	status     int
	retryAfter string
	body       []byte
}

// FuzzClientResponse runs the client's calls against an application that
// answers every request with the fuzzed status, Retry-After and body: no
// panic; a failure is one of the package's error types; a success came
// with a 2xx status, and a resource read from it encodes to JSON that
// reads back the same, clones the same and diffs to nothing against its
// clone.
func FuzzClientResponse(f *testing.F) {
	f.Add(200, "", []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":2,"itemsPerPage":2,"startIndex":1,"Resources":[{"id":"1","userName":"ann","active":true,"name":{"givenName":"Ann"}},{"id":"2","userName":"bob","members":[{"value":"1"}]}]}`))
	f.Add(200, "", []byte(`[{"id":"urn:ietf:params:scim:schemas:core:2.0:User","name":"User","attributes":[]}]`))
	f.Add(404, "", []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"detail":"Resource 1 not found","status":"404"}`))
	f.Add(429, "1", []byte(``))
	f.Add(200, "", []byte(`{"totalResults":1000000000,"Resources":[{"id":"1"}]}`))
	var answer atomic.Pointer[fuzzAnswer]
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answer.Load()
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.Header().Set("Content-Type", "application/scim+json")
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}))
	f.Cleanup(app.Close)
	c, err := New(app.URL+"/scim/v2", Auth{Kind: AuthBearer, Token: fuzzToken},
		Options{Retry: RetryPolicy{Attempts: 1}, MaxRetryAfter: time.Nanosecond})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, retryAfterValue string, body []byte) {
		if status < 200 || status > 599 || !validHeaderValue(retryAfterValue) {
			return // not an answer an HTTP server can send
		}
		answer.Store(&fuzzAnswer{status: status, retryAfter: retryAfterValue, body: body})
		ctx := t.Context()
		ok := status >= 200 && status <= 299

		r, err := c.GetUser(ctx, "1")
		checkCall(t, "GetUser", ok, err, body)
		if err == nil {
			checkResource(t, r)
		}

		n := 0
		err = c.ListUsers(ctx, ListOptions{}, func(r Resource) error {
			checkResource(t, r)
			if n++; n == 100 {
				return errEnough // an application may promise more than it has
			}
			return nil
		})
		if !errors.Is(err, errEnough) {
			checkCall(t, "ListUsers", ok, err, body)
		}

		_, err = c.Schemas(ctx)
		checkCall(t, "Schemas", ok, err, body)
	})
}

var errEnough = errors.New("enough")

// validHeaderValue reports whether an HTTP server can send v as a header
// value: no control characters but tab.
func validHeaderValue(v string) bool {
	return !strings.ContainsFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f })
}

// checkCall checks a call's outcome: success only with a 2xx status, and a
// failure of the package's error types otherwise.
func checkCall(t *testing.T, call string, ok bool, err error, body []byte) {
	t.Helper()
	if err == nil {
		if !ok {
			t.Fatalf("%s succeeded on an error status", call)
		}
		return
	}
	checkError(t, err, body)
	var (
		he *HTTPError
		ae *AuthError
		re *RetryAfterError
	)
	if !errors.As(err, &he) && !errors.As(err, &ae) && !errors.As(err, &re) {
		t.Fatalf("%s: %T %v is none of the package's answer errors", call, err, err)
	}
}

// checkResource checks that a resource read from an answer is consistent.
func checkResource(t *testing.T, r Resource) {
	t.Helper()
	_, _, _, _ = r.ID(), r.UserName(), r.DisplayName(), r.Members()
	_, _ = r.Active()
	_ = r.Get(EnterpriseUserSchema + ":manager.value")
	_ = r.Get("name.givenName")
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("a resource read from JSON does not encode: %v", err)
	}
	var back Resource
	if err := json.Unmarshal(raw, &back); err != nil || !sameJSON(back, r) {
		t.Fatalf("resource %s reads back as %v (%v)", raw, back, err)
	}
	clone := r.Clone()
	if !sameJSON(clone, r) {
		t.Fatalf("resource %s clones as %v", raw, clone)
	}
	if ops := Diff(r, clone); len(ops) != 0 {
		t.Fatalf("resource %s differs from its clone by %+v", raw, ops)
	}
	if (r == nil) != (clone == nil) {
		t.Fatalf("resource %v cloned as %v", r, clone)
	}
}
