package scim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/scimtest"
	"github.com/idsync/idsync/server/scim"
)

const token = "app-token-0123456789"

// fastRetry keeps the in-call backoff short so fault tests run quickly.
var fastRetry = scim.RetryPolicy{Attempts: 3, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}

func newClient(t *testing.T, srv *scimtest.Server, opts scim.Options) *scim.Client {
	t.Helper()
	if opts.Retry == (scim.RetryPolicy{}) {
		opts.Retry = fastRetry
	}
	if opts.MaxRetryAfter == 0 {
		opts.MaxRetryAfter = 2 * time.Second
	}
	c, err := scim.New(srv.URL, scim.Auth{Kind: scim.AuthBearer, Token: token}, opts)
	if err != nil {
		t.Fatalf("scim.New: %v", err)
	}
	return c
}

func setup(t *testing.T, so scimtest.Options) (*scimtest.Server, *scim.Client) {
	t.Helper()
	so.Token = token
	srv := scimtest.Start(t, so)
	return srv, newClient(t, srv, scim.Options{})
}

func TestUserOperations(t *testing.T) {
	srv, c := setup(t, scimtest.Options{})
	ctx := t.Context()

	pushed := scim.Resource{
		"userName":                "Ada.Lovelace@example.com",
		"externalId":              "hub-ada",
		"active":                  true,
		"name":                    map[string]any{"givenName": "Ada", "familyName": "Lovelace"},
		"emails":                  []any{map[string]any{"value": "ada@example.com", "type": "work", "primary": true}},
		scim.EnterpriseUserSchema: map[string]any{"department": "Analytics", "employeeNumber": "1815"},
	}
	created, err := c.CreateUser(ctx, pushed)
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	id := created.ID()
	if id == "" || created.ExternalID() != "hub-ada" || created.Get(scim.EnterpriseUserSchema+":department") != "Analytics" {
		t.Fatalf("CreateUser returned %v", created)
	}
	if _, ok := pushed["schemas"]; ok {
		t.Errorf("CreateUser modified the caller's resource (added schemas)")
	}

	got, err := c.GetUser(ctx, id)
	if err != nil || got.UserName() != "Ada.Lovelace@example.com" || got.Get("name.familyName") != "Lovelace" {
		t.Fatalf("GetUser = %v, %v", got, err)
	}

	found, err := c.FindUsers(ctx, scim.Eq("userName", "ada.lovelace@EXAMPLE.com"))
	if err != nil || len(found) != 1 || found[0].ID() != id {
		t.Fatalf("FindUsers by userName in another case = %v, %v; want the one user", found, err)
	}
	byMail, err := c.FindUsers(ctx, scim.Eq("emails.value", "ada@example.com"))
	if err != nil || len(byMail) != 1 {
		t.Fatalf("FindUsers by email = %v, %v; want the one user", byMail, err)
	}

	// CreateUserJSON sends the JSON it is given and answers the id the
	// app gave, which GetUser then reads.
	babbageID, err := c.CreateUserJSON(ctx, []byte(`{"schemas":["`+scim.UserSchema+`"],"userName":"charles.babbage@example.com","externalId":"hub-babbage"}`))
	if err != nil || babbageID == "" || babbageID == id {
		t.Fatalf("CreateUserJSON = %q, %v; want a new id", babbageID, err)
	}
	if got, err := c.GetUser(ctx, babbageID); err != nil || got.ExternalID() != "hub-babbage" {
		t.Fatalf("GetUser(%s) after CreateUserJSON = %v, %v", babbageID, got, err)
	}
	if _, err := c.CreateUserJSON(ctx, []byte(`{"schemas":["`+scim.UserSchema+`"],"userName":"Charles.Babbage@example.com"}`)); !scim.IsConflict(err) {
		t.Fatalf("duplicate CreateUserJSON: err %v, want a 409", err)
	}

	_, err = c.CreateUser(ctx, scim.Resource{"userName": "ADA.LOVELACE@example.com"})
	var he *scim.HTTPError
	if !scim.IsConflict(err) || !errors.As(err, &he) || he.SCIMType != "uniqueness" {
		t.Fatalf("duplicate CreateUser: err %v, want a 409 uniqueness HTTPError", err)
	}

	// An update: PATCH only what changed, the extension by URN path.
	wanted := pushed.Clone()
	wanted.Set("name.givenName", "Augusta Ada")
	wanted.Set(scim.EnterpriseUserSchema+":department", "Engines")
	wanted.Set(scim.EnterpriseUserSchema+":employeeNumber", nil)
	ops := scim.Diff(pushed, wanted)
	if len(ops) != 3 {
		t.Fatalf("Diff = %+v, want 3 operations", ops)
	}
	patched, err := c.PatchUser(ctx, id, ops)
	if err != nil {
		t.Fatalf("PatchUser: %v", err)
	}
	if patched.Get("name.givenName") != "Augusta Ada" || patched.Get("name.familyName") != "Lovelace" ||
		patched.Get(scim.EnterpriseUserSchema+":department") != "Engines" || patched.Get(scim.EnterpriseUserSchema+":employeeNumber") != nil {
		t.Errorf("after PATCH: %v", patched)
	}
	if r, err := c.PatchUser(ctx, id, nil); r != nil || err != nil {
		t.Errorf("PatchUser with no ops = %v, %v; want nil, nil", r, err)
	}

	// Deactivate, then replace (PUT) to reactivate.
	if _, err := c.PatchUser(ctx, id, []scim.PatchOp{{Op: "replace", Path: "active", Value: false}}); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	if u, _ := srv.User(id); u["active"] != false {
		t.Errorf("stored active = %v after deactivation, want false", u["active"])
	}
	replaced, err := c.ReplaceUser(ctx, id, wanted)
	if err != nil {
		t.Fatalf("ReplaceUser: %v", err)
	}
	if active, ok := replaced.Active(); !ok || !active {
		t.Errorf("after ReplaceUser active = %v, %v; want true", active, ok)
	}

	if err := c.DeleteUser(ctx, id); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := c.GetUser(ctx, id); !scim.IsNotFound(err) {
		t.Errorf("GetUser after delete: err %v, want 404", err)
	}
	if err := c.DeleteUser(ctx, id); !scim.IsNotFound(err) {
		t.Errorf("DeleteUser twice: err %v, want 404", err)
	}
}

func TestEqEscapes(t *testing.T) {
	srv, c := setup(t, scimtest.Options{})
	for _, name := range []string{`o"brien`, `back\slash`, "tab\tname", "ünïcødé", `both\"`} {
		t.Run(name, func(t *testing.T) {
			if _, err := srv.SeedUser(map[string]any{"userName": name}); err != nil {
				t.Fatal(err)
			}
			found, err := c.FindUsers(t.Context(), scim.Eq("userName", name))
			if err != nil || len(found) != 1 || found[0].UserName() != name {
				t.Errorf("FindUsers(%s) = %v, %v; want the user", scim.Eq("userName", name), found, err)
			}
		})
	}
}

func TestGroupOperations(t *testing.T) {
	srv, c := setup(t, scimtest.Options{})
	ctx := t.Context()
	var ids []string
	for i := range 260 {
		id, err := srv.SeedUser(map[string]any{"userName": fmt.Sprintf("m%03d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	g, err := c.CreateGroup(ctx, scim.Resource{"displayName": "Engineering", "externalId": "hub-g1"})
	if err != nil {
		t.Fatalf("CreateGroup: %v", err)
	}
	gid := g.ID()

	tests := []struct {
		name         string
		add, remove  []string
		wantRequests int
		want         []string
	}{
		{"add 250 in chunks of 100", ids[:250], nil, 3, ids[:250]},
		{"remove 120, add 10", ids[250:], ids[:120], 3, append(slices.Clone(ids[120:250]), ids[250:]...)},
		{"repeat is harmless", ids[250:], ids[:120], 3, append(slices.Clone(ids[120:250]), ids[250:]...)},
		{"nothing sends nothing", nil, nil, 0, append(slices.Clone(ids[120:250]), ids[250:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Requests("PATCH", "/Groups/")
			if err := c.PatchGroupMembers(ctx, gid, tt.add, tt.remove); err != nil {
				t.Fatalf("PatchGroupMembers: %v", err)
			}
			if n := srv.Requests("PATCH", "/Groups/") - before; n != tt.wantRequests {
				t.Errorf("%d PATCH requests, want %d", n, tt.wantRequests)
			}
			got, err := c.GetGroup(ctx, gid)
			if err != nil {
				t.Fatal(err)
			}
			if m := got.Members(); !sameSet(m, tt.want) {
				t.Errorf("group has %d members, want %d", len(m), len(tt.want))
			}
		})
	}

	found, err := c.FindGroups(ctx, scim.Eq("displayName", "engineering"))
	if err != nil || len(found) != 1 || found[0].ID() != gid {
		t.Fatalf("FindGroups = %v, %v", len(found), err)
	}
	if _, err := c.PatchGroup(ctx, gid, []scim.PatchOp{{Op: "replace", Path: "displayName", Value: "Eng"}}); err != nil {
		t.Fatalf("PatchGroup: %v", err)
	}
	r, err := c.ReplaceGroup(ctx, gid, scim.Resource{"displayName": "Eng", "members": []any{map[string]any{"value": ids[0]}}})
	if err != nil || len(r.Members()) != 1 {
		t.Fatalf("ReplaceGroup = %v members, %v", len(r.Members()), err)
	}
	var listed []string
	if err := c.ListGroups(ctx, scim.ListOptions{ExcludedAttributes: []string{"members"}}, func(r scim.Resource) error {
		listed = append(listed, r.DisplayName())
		return nil
	}); err != nil || fmt.Sprint(listed) != "[Eng]" {
		t.Errorf("ListGroups = %v, %v", listed, err)
	}
	if err := c.DeleteGroup(ctx, gid); err != nil {
		t.Fatalf("DeleteGroup: %v", err)
	}
	if _, err := c.GetGroup(ctx, gid); !scim.IsNotFound(err) {
		t.Errorf("GetGroup after delete: %v, want 404", err)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestPagination(t *testing.T) {
	srv, c := setup(t, scimtest.Options{MaxResults: 7})
	for i := range 250 {
		if _, err := srv.SeedUser(map[string]any{"userName": fmt.Sprintf("u%03d", i), "title": []string{"odd", "even"}[i%2]}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name         string
		opts         scim.ListOptions
		want         int
		wantRequests int
	}{
		{"all, server caps pages at 7", scim.ListOptions{PageSize: 50}, 250, 36},
		{"filtered", scim.ListOptions{Filter: `title eq "even"`}, 125, 18},
		{"none match", scim.ListOptions{Filter: scim.Eq("userName", "nobody")}, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Requests("GET", "/Users")
			var names []string
			err := c.ListUsers(t.Context(), tt.opts, func(r scim.Resource) error {
				names = append(names, r.UserName())
				return nil
			})
			if err != nil {
				t.Fatalf("ListUsers: %v", err)
			}
			if len(names) != tt.want || !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
				t.Errorf("listed %d users (sorted, distinct: %v), want %d", len(names), slices.IsSorted(names), tt.want)
			}
			if n := srv.Requests("GET", "/Users") - before; n != tt.wantRequests {
				t.Errorf("%d page requests, want %d", n, tt.wantRequests)
			}
		})
	}
	t.Run("callback error stops", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := c.ListUsers(t.Context(), scim.ListOptions{}, func(scim.Resource) error {
			n++
			if n == 10 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 10 {
			t.Errorf("err %v after %d users, want stop after 10", err, n)
		}
	})
}

func TestFindTooMany(t *testing.T) {
	srv, c := setup(t, scimtest.Options{})
	for i := range 1001 {
		if _, err := srv.SeedUser(map[string]any{"userName": fmt.Sprintf("x%04d", i), "title": "same"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.FindUsers(t.Context(), scim.Eq("title", "same")); !errors.Is(err, scim.ErrTooManyResults) {
		t.Errorf("err %v, want ErrTooManyResults", err)
	}
}

func TestDiscovery(t *testing.T) {
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("DisablePatch=%v", disable), func(t *testing.T) {
			_, c := setup(t, scimtest.Options{DisablePatch: disable, MaxResults: 50})
			spc, err := c.ServiceProviderConfig(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if spc.Patch.Supported == disable || !spc.Filter.Supported || spc.Filter.MaxResults != 50 {
				t.Errorf("ServiceProviderConfig = %+v", spc)
			}
			if len(spc.AuthenticationSchemes) != 1 || spc.AuthenticationSchemes[0].Type != "oauthbearertoken" {
				t.Errorf("authenticationSchemes = %+v", spc.AuthenticationSchemes)
			}
		})
	}
	_, c := setup(t, scimtest.Options{})
	schemas, err := c.Schemas(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var userAttrs, extAttrs []string
	for _, s := range schemas {
		for _, a := range s.Attributes {
			switch s.ID {
			case scim.UserSchema:
				userAttrs = append(userAttrs, a.Name)
			case scim.EnterpriseUserSchema:
				extAttrs = append(extAttrs, a.Name)
			}
		}
	}
	if !slices.Contains(userAttrs, "userName") || !slices.Contains(extAttrs, "department") {
		t.Errorf("Schemas: user attributes %v, enterprise %v", userAttrs, extAttrs)
	}
	rts, err := c.ResourceTypes(t.Context())
	if err != nil || len(rts) != 2 || rts[0].Endpoint != "/Users" || len(rts[0].SchemaExtensions) != 1 ||
		rts[0].SchemaExtensions[0].Schema != scim.EnterpriseUserSchema {
		t.Errorf("ResourceTypes = %+v, %v", rts, err)
	}
}

func TestRetryPolicy(t *testing.T) {
	type outcome int
	const (
		ok outcome = iota
		httpErr
		authErr
		retryAfterErr
		networkErr
		conflict
	)
	tests := []struct {
		name      string
		fault     scimtest.Fault
		op        string // "get" (GET /Users/id) or "create" (POST /Users)
		want      outcome
		status    int // of the error, when it has one
		requests  int // that reached the server
		retryable bool
		wait      time.Duration // RetryAfterError.Wait
		minTime   time.Duration
	}{
		{name: "500 twice then served", fault: scimtest.Fault{Status: 500, Times: 2}, op: "get", want: ok, requests: 3},
		{name: "500 always", fault: scimtest.Fault{Status: 500, Times: -1}, op: "get", want: httpErr, status: 500, requests: 3, retryable: true},
		{name: "502 on POST retried", fault: scimtest.Fault{Method: "POST", Status: 502}, op: "create", want: ok, requests: 2},
		{name: "501 not retried", fault: scimtest.Fault{Status: 501, Times: -1}, op: "get", want: httpErr, status: 501, requests: 1},
		{name: "400 not retried", fault: scimtest.Fault{Status: 400, Times: -1}, op: "create", want: httpErr, status: 400, requests: 1},
		{name: "404 not retried", fault: scimtest.Fault{Status: 404, Times: -1}, op: "get", want: httpErr, status: 404, requests: 1},
		{name: "401", fault: scimtest.Fault{Status: 401, Times: -1}, op: "get", want: authErr, status: 401, requests: 1},
		{name: "403", fault: scimtest.Fault{Status: 403, Times: -1}, op: "create", want: authErr, status: 403, requests: 1},
		{name: "429 short Retry-After waited in call", fault: scimtest.Fault{Status: 429, RetryAfter: "1"}, op: "get", want: ok, requests: 2, minTime: time.Second},
		{name: "429 without Retry-After backs off", fault: scimtest.Fault{Status: 429, Times: 2}, op: "get", want: ok, requests: 3},
		{name: "429 long Retry-After returned", fault: scimtest.Fault{Status: 429, RetryAfter: "120", Times: -1}, op: "create", want: retryAfterErr, status: 429, requests: 1, retryable: true, wait: 120 * time.Second},
		{name: "503 Retry-After date returned", fault: scimtest.Fault{Status: 503, RetryAfter: time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), Times: -1}, op: "get", want: retryAfterErr, status: 503, requests: 1, retryable: true, wait: time.Hour},
		{name: "429 Retry-After 0 until attempts end", fault: scimtest.Fault{Status: 429, RetryAfter: "0", Times: -1}, op: "get", want: retryAfterErr, status: 429, requests: 3, retryable: true},
		{name: "503 without Retry-After retried", fault: scimtest.Fault{Status: 503, Times: -1}, op: "get", want: httpErr, status: 503, requests: 3, retryable: true},
		{name: "dropped connections", fault: scimtest.Fault{Drop: true, Times: -1}, op: "get", want: networkErr, requests: 3, retryable: true},
		{name: "dropped once", fault: scimtest.Fault{Drop: true}, op: "create", want: ok, requests: 2},
		{name: "POST committed, answer lost", fault: scimtest.Fault{Method: "POST", Commit: true}, op: "create", want: conflict, status: 409, requests: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := setup(t, scimtest.Options{})
			id, err := srv.SeedUser(map[string]any{"userName": "existing"})
			if err != nil {
				t.Fatal(err)
			}
			srv.Inject(tt.fault)
			start := time.Now()
			if tt.op == "get" {
				_, err = c.GetUser(t.Context(), id)
			} else {
				_, err = c.CreateUser(t.Context(), scim.Resource{"userName": "new"})
			}
			elapsed := time.Since(start)

			var (
				he *scim.HTTPError
				ae *scim.AuthError
				re *scim.RetryAfterError
				ne *scim.NetworkError
			)
			switch tt.want {
			case ok:
				if err != nil {
					t.Fatalf("err %v, want success", err)
				}
			case httpErr, conflict:
				if !errors.As(err, &he) || he.Status != tt.status {
					t.Fatalf("err %v (%T), want HTTPError %d", err, err, tt.status)
				}
			case authErr:
				if !errors.As(err, &ae) || ae.Status != tt.status {
					t.Fatalf("err %v (%T), want AuthError %d", err, err, tt.status)
				}
			case retryAfterErr:
				if !errors.As(err, &re) || re.Status != tt.status || re.Wait < tt.wait-time.Minute || re.Wait > tt.wait {
					t.Fatalf("err %v (%T), want RetryAfterError %d wait ~%v", err, err, tt.status, tt.wait)
				}
			case networkErr:
				if !errors.As(err, &ne) || ne.Attempts != 3 {
					t.Fatalf("err %v (%T), want NetworkError after 3 attempts", err, err)
				}
			}
			if err != nil && scim.Retryable(err) != tt.retryable {
				t.Errorf("Retryable(%v) = %v, want %v", err, !tt.retryable, tt.retryable)
			}
			if n := srv.Requests("", "/Users"); n != tt.requests {
				t.Errorf("server saw %d requests, want %d", n, tt.requests)
			}
			if elapsed < tt.minTime {
				t.Errorf("returned after %v, want at least %v (Retry-After honoured)", elapsed, tt.minTime)
			}
			if tt.want == retryAfterErr && tt.wait > 0 && elapsed > time.Second {
				t.Errorf("returned after %v: a long Retry-After must not be slept", elapsed)
			}
			if tt.want == conflict {
				// What the queue does next: look up, adopt — no duplicate.
				found, err := c.FindUsers(t.Context(), scim.Eq("userName", "NEW"))
				if err != nil || len(found) != 1 || srv.UserCount() != 2 {
					t.Errorf("after the lost answer: found %d, stored %d users, err %v; want 1 and 2", len(found), srv.UserCount(), err)
				}
			}
		})
	}
}

func TestApplicationDown(t *testing.T) {
	srv, c := setup(t, scimtest.Options{})
	srv.Down()
	_, err := c.GetUser(t.Context(), "x")
	var ne *scim.NetworkError
	if !errors.As(err, &ne) || !errors.Is(err, syscall.ECONNREFUSED) || !scim.Retryable(err) {
		t.Fatalf("err %v, want a retryable NetworkError with connection refused", err)
	}
	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(t.Context(), scim.Resource{"userName": "back"}); err != nil {
		t.Fatalf("after Up: %v", err)
	}
}

func TestContextEndsCall(t *testing.T) {
	srv, c := setup(t, scimtest.Options{})
	srv.SetLatency(5 * time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetUser(ctx, "x")
	if !errors.Is(err, context.DeadlineExceeded) || scim.Retryable(err) {
		t.Errorf("err %v, want DeadlineExceeded, not retryable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("returned after %v, want promptly after the deadline", d)
	}
	// During a backoff wait too.
	srv.SetLatency(0)
	srv.Inject(scimtest.Fault{Status: 500, Times: -1})
	slow, _ := scim.New(srv.URL, scim.Auth{Kind: scim.AuthBearer, Token: token},
		scim.Options{Retry: scim.RetryPolicy{Attempts: 5, MinWait: 10 * time.Second, MaxWait: 10 * time.Second}})
	ctx2, cancel2 := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel2()
	start = time.Now()
	if _, err := slow.GetUser(ctx2, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v during backoff, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("backoff returned after %v, want promptly after the deadline", d)
	}
}

func TestNewValidates(t *testing.T) {
	bearer := scim.Auth{Kind: scim.AuthBearer, Token: "t"}
	tests := []struct {
		name    string
		url     string
		auth    scim.Auth
		wantErr string
	}{
		{"ok", "https://app.example.com/scim/v2/", bearer, ""},
		{"no scheme", "app.example.com/scim", bearer, "want http(s)"},
		{"ftp", "ftp://app.example.com", bearer, "want http(s)"},
		{"user info", "https://user:pw@app.example.com", bearer, "no user info"},
		{"query", "https://app.example.com/scim?x=1", bearer, "no user info, query"},
		{"bearer without token", "https://a", scim.Auth{Kind: scim.AuthBearer}, "missing token"},
		{"basic without password", "https://a", scim.Auth{Kind: scim.AuthBasic, Username: "u"}, "missing password"},
		{"oauth2 incomplete", "https://a", scim.Auth{Kind: scim.AuthOAuth2, ClientID: "c"}, "missing token URL, client secret"},
		{"unknown kind", "https://a", scim.Auth{Kind: "ntlm"}, "unknown kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scim.New(tt.url, tt.auth, scim.Options{})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("err %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("err %v, want one containing %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), ":pw@") {
				t.Errorf("err %v shows the URL's password", err)
			}
		})
	}
}
