package scimtest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/scimtest"
)

const token = "test-token"

// call sends one request with the test token and returns status, headers and
// the decoded JSON body (nil when empty).
func call(t *testing.T, srv *scimtest.Server, method, path string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	status, h, m, err := try(t, srv, method, path, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return status, h, m
}

func try(t *testing.T, srv *scimtest.Server, method, path, tok string, body any) (int, http.Header, map[string]any, error) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Content-Type", "application/scim+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: status %d, body is not JSON: %q", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, resp.Header, m, nil
}

func user(name string, extra ...any) map[string]any {
	u := map[string]any{
		"schemas":  []string{scimtest.UserSchema, scimtest.EnterpriseSchema},
		"userName": name,
		"active":   true,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		u[extra[i].(string)] = extra[i+1]
	}
	return u
}

func create(t *testing.T, srv *scimtest.Server, path string, body map[string]any) string {
	t.Helper()
	status, _, m := call(t, srv, "POST", path, body)
	if status != http.StatusCreated {
		t.Fatalf("POST %s: status %d, want 201; body %v", path, status, m)
	}
	return m["id"].(string)
}

func TestUserLifecycle(t *testing.T) {
	srv := scimtest.Start(t, scimtest.Options{Token: token})
	status, h, m := call(t, srv, "POST", "/Users", user("Alice@Example.com",
		"externalId", "hub-1", "password", "hunter2",
		scimtest.EnterpriseSchema, map[string]any{"department": "R&D"}))
	if status != http.StatusCreated {
		t.Fatalf("create: status %d, want 201 (%v)", status, m)
	}
	id, _ := m["id"].(string)
	if id == "" || !strings.HasSuffix(h.Get("Location"), "/Users/"+id) {
		t.Fatalf("create: id %q, Location %q", id, h.Get("Location"))
	}
	if _, ok := m["password"]; ok {
		t.Errorf("create: the response returns the password")
	}

	status, _, m = call(t, srv, "GET", "/Users/"+id, nil)
	ext, _ := m[scimtest.EnterpriseSchema].(map[string]any)
	if status != 200 || m["userName"] != "Alice@Example.com" || m["externalId"] != "hub-1" || ext["department"] != "R&D" {
		t.Fatalf("get: status %d, body %v", status, m)
	}

	status, _, m = call(t, srv, "POST", "/Users", user("alice@example.COM"))
	if status != http.StatusConflict || m["scimType"] != "uniqueness" {
		t.Fatalf("duplicate userName in another case: status %d scimType %v, want 409 uniqueness", status, m["scimType"])
	}

	status, _, m = call(t, srv, "PUT", "/Users/"+id, user("alice@example.com", "active", false))
	if status != 200 || m["active"] != false || m["userName"] != "alice@example.com" {
		t.Fatalf("replace: status %d, body %v", status, m)
	}
	if _, ok := m[scimtest.EnterpriseSchema]; ok {
		t.Errorf("replace kept the extension the new body left out")
	}
	bob := create(t, srv, "/Users", user("bob"))
	if status, _, _ = call(t, srv, "PUT", "/Users/"+bob, user("ALICE@example.com")); status != http.StatusConflict {
		t.Errorf("replace onto a taken userName: status %d, want 409", status)
	}

	if status, _, _ = call(t, srv, "DELETE", "/Users/"+id, nil); status != http.StatusNoContent {
		t.Fatalf("delete: status %d, want 204", status)
	}
	if status, _, _ = call(t, srv, "GET", "/Users/"+id, nil); status != http.StatusNotFound {
		t.Fatalf("get after delete: status %d, want 404", status)
	}
	// The name is free again.
	create(t, srv, "/Users", user("Alice@example.com"))
	if got := srv.UserCount(); got != 2 {
		t.Errorf("UserCount = %d, want 2", got)
	}
}

func TestFilter(t *testing.T) {
	srv := scimtest.Start(t, scimtest.Options{Token: token})
	create(t, srv, "/Users", user("Jane.Doe", "externalId", "e-1",
		"emails", []any{map[string]any{"value": "jane@example.com", "type": "work"}}))
	create(t, srv, "/Users", user(`quo"te\back`, "externalId", "e-2", "active", false))
	create(t, srv, "/Users", user("john", "externalId", "e-3"))

	tests := []struct {
		name   string
		filter string
		want   []string
	}{
		{"userName eq ignores case", `userName eq "jane.doe"`, []string{"Jane.Doe"}},
		{"userName eq no match", `userName eq "nobody"`, nil},
		{"escaped value", `userName eq "QUO\"TE\\back"`, []string{`quo"te\back`}},
		{"externalId", `externalId eq "e-3"`, []string{"john"}},
		{"sub-attribute", `emails.value eq "jane@example.com"`, []string{"Jane.Doe"}},
		{"value path", `emails[type eq "work"]`, []string{"Jane.Doe"}},
		{"boolean and", `active eq true and userName sw "j"`, []string{"Jane.Doe", "john"}},
		{"or", `externalId eq "e-1" or externalId eq "e-2"`, []string{"Jane.Doe", `quo"te\back`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, m := call(t, srv, "GET", "/Users?filter="+queryEscape(tt.filter), nil)
			if status != 200 {
				t.Fatalf("status %d, body %v", status, m)
			}
			var got []string
			rs, _ := m["Resources"].([]any)
			for _, r := range rs {
				got = append(got, r.(map[string]any)["userName"].(string))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || m["totalResults"] != float64(len(tt.want)) {
				t.Errorf("got %q (total %v), want %q", got, m["totalResults"], tt.want)
			}
		})
	}
	if status, _, m := call(t, srv, "GET", "/Users?filter="+queryEscape(`userName eq`), nil); status != 400 || m["scimType"] != "invalidFilter" {
		t.Errorf("bad filter: status %d scimType %v, want 400 invalidFilter", status, m["scimType"])
	}
}

func queryEscape(s string) string {
	r := strings.NewReplacer("%", "%25", " ", "%20", `"`, "%22", "&", "%26", "+", "%2B", "#", "%23", `\`, "%5C", "[", "%5B", "]", "%5D")
	return r.Replace(s)
}

func TestPagination(t *testing.T) {
	srv := scimtest.Start(t, scimtest.Options{Token: token, MaxResults: 7})
	for i := range 25 {
		create(t, srv, "/Users", user(fmt.Sprintf("u%02d", i)))
	}
	var got []string
	for start := 1; ; {
		status, _, m := call(t, srv, "GET", fmt.Sprintf("/Users?startIndex=%d&count=100", start), nil)
		if status != 200 || m["totalResults"] != float64(25) {
			t.Fatalf("page at %d: status %d, totalResults %v", start, status, m["totalResults"])
		}
		rs, _ := m["Resources"].([]any)
		if len(rs) > 7 {
			t.Fatalf("page at %d has %d resources, want at most MaxResults 7", start, len(rs))
		}
		if len(rs) == 0 {
			break
		}
		for _, r := range rs {
			got = append(got, r.(map[string]any)["userName"].(string))
		}
		start += len(rs)
	}
	if len(got) != 25 || got[0] != "u00" || got[24] != "u24" {
		t.Errorf("paged through %d users %v, want u00…u24 in order", len(got), got)
	}
}

func TestPatch(t *testing.T) {
	srv := scimtest.Start(t, scimtest.Options{Token: token})
	m1 := create(t, srv, "/Users", user("m1"))
	m2 := create(t, srv, "/Users", user("m2"))
	m3 := create(t, srv, "/Users", user("m3"))
	members := func(ids ...string) []any {
		var out []any
		for _, id := range ids {
			out = append(out, map[string]any{"value": id})
		}
		return out
	}
	op := func(o, path string, v any) map[string]any {
		m := map[string]any{"op": o}
		if path != "" {
			m["path"] = path
		}
		if v != nil {
			m["value"] = v
		}
		return m
	}
	tests := []struct {
		name     string
		endpoint string
		start    map[string]any
		ops      []map[string]any
		check    func(m map[string]any) string // "" when right
	}{
		{"replace a simple attribute", "/Users", user("p1", "title", "Dev"),
			[]map[string]any{op("replace", "title", "Lead"), op("replace", "active", false)},
			func(m map[string]any) string { return want(m["title"] == "Lead" && m["active"] == false, m) }},
		{"replace a sub-attribute keeps the others", "/Users", user("p2", "name", map[string]any{"givenName": "A", "familyName": "B"}),
			[]map[string]any{op("replace", "name.givenName", "Ann")},
			func(m map[string]any) string {
				n, _ := m["name"].(map[string]any)
				return want(n["givenName"] == "Ann" && n["familyName"] == "B", m)
			}},
		{"extension attribute by URN path", "/Users", user("p3"),
			[]map[string]any{op("add", scimtest.EnterpriseSchema+":department", "Sales")},
			func(m map[string]any) string {
				e, _ := m[scimtest.EnterpriseSchema].(map[string]any)
				return want(e["department"] == "Sales", m)
			}},
		{"no path with extension container", "/Users", user("p4", scimtest.EnterpriseSchema, map[string]any{"costCenter": "1"}),
			[]map[string]any{op("replace", "", map[string]any{"displayName": "P Four", scimtest.EnterpriseSchema: map[string]any{"department": "Ops"}})},
			func(m map[string]any) string {
				e, _ := m[scimtest.EnterpriseSchema].(map[string]any)
				return want(m["displayName"] == "P Four" && e["department"] == "Ops" && e["costCenter"] == "1", m)
			}},
		{"remove an attribute and an empty extension", "/Users", user("p5", "title", "x", scimtest.EnterpriseSchema, map[string]any{"department": "D"}),
			[]map[string]any{op("remove", "title", nil), op("remove", scimtest.EnterpriseSchema+":department", nil)},
			func(m map[string]any) string {
				_, hasTitle := m["title"]
				_, hasExt := m[scimtest.EnterpriseSchema]
				return want(!hasTitle && !hasExt, m)
			}},
		{"add to a multi-valued attribute appends", "/Users", user("p6", "emails", []any{map[string]any{"value": "a@x", "type": "work"}}),
			[]map[string]any{op("add", "emails", []any{map[string]any{"value": "b@x", "type": "home"}})},
			func(m map[string]any) string { return want(len(m["emails"].([]any)) == 2, m) }},
		{"replace through a value filter", "/Users", user("p7", "emails", []any{map[string]any{"value": "a@x", "type": "work"}, map[string]any{"value": "h@x", "type": "home"}}),
			[]map[string]any{op("replace", `emails[type eq "work"].value`, "w@x")},
			func(m map[string]any) string {
				es := m["emails"].([]any)
				return want(len(es) == 2 && es[0].(map[string]any)["value"] == "w@x" && es[1].(map[string]any)["value"] == "h@x", m)
			}},
		{"group members add, no duplicates", "/Groups", map[string]any{"schemas": []string{scimtest.GroupSchema}, "displayName": "g1", "members": members(m1)},
			[]map[string]any{op("add", "members", members(m1, m2)), op("add", "members", members(m3))},
			func(m map[string]any) string { return want(len(m["members"].([]any)) == 3, m) }},
		{"group member remove by filter, twice", "/Groups", map[string]any{"schemas": []string{scimtest.GroupSchema}, "displayName": "g2", "members": members(m1, m2)},
			[]map[string]any{op("remove", `members[value eq "`+m1+`"]`, nil), op("remove", `members[value eq "`+m1+`"]`, nil)},
			func(m map[string]any) string {
				ms := m["members"].([]any)
				return want(len(ms) == 1 && ms[0].(map[string]any)["value"] == m2, m)
			}},
		{"group member remove with a value list", "/Groups", map[string]any{"schemas": []string{scimtest.GroupSchema}, "displayName": "g3", "members": members(m1, m2, m3)},
			[]map[string]any{op("remove", "members", members(m1, m3))},
			func(m map[string]any) string {
				ms := m["members"].([]any)
				return want(len(ms) == 1 && ms[0].(map[string]any)["value"] == m2, m)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := create(t, srv, tt.endpoint, tt.start)
			body := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": tt.ops}
			status, _, m := call(t, srv, "PATCH", tt.endpoint+"/"+id, body)
			if status != 200 {
				t.Fatalf("PATCH: status %d, body %v", status, m)
			}
			if msg := tt.check(m); msg != "" {
				t.Errorf("PATCH response: %s", msg)
			}
			_, _, stored := call(t, srv, "GET", tt.endpoint+"/"+id, nil)
			if msg := tt.check(stored); msg != "" {
				t.Errorf("stored after PATCH: %s", msg)
			}
		})
	}

	t.Run("failing PATCH changes nothing", func(t *testing.T) {
		id := create(t, srv, "/Users", user("p9", "title", "T"))
		body := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []map[string]any{
			op("replace", "title", "changed"),
			op("replace", `emails[type eq "work"].value`, "x@y"),
		}}
		status, _, m := call(t, srv, "PATCH", "/Users/"+id, body)
		if status != 400 || m["scimType"] != "noTarget" {
			t.Fatalf("status %d scimType %v, want 400 noTarget", status, m["scimType"])
		}
		if u, _ := srv.User(id); u["title"] != "T" {
			t.Errorf("title = %v after a failed PATCH, want T", u["title"])
		}
	})
	t.Run("PATCH onto a taken userName", func(t *testing.T) {
		id := create(t, srv, "/Users", user("p10"))
		body := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []map[string]any{op("replace", "userName", "M1")}}
		if status, _, _ := call(t, srv, "PATCH", "/Users/"+id, body); status != http.StatusConflict {
			t.Errorf("status %d, want 409", status)
		}
	})
}

func want(ok bool, m map[string]any) string {
	if ok {
		return ""
	}
	return fmt.Sprintf("unexpected resource %v", m)
}

func TestAuth(t *testing.T) {
	srv := scimtest.Start(t, scimtest.Options{Token: token, BasicUser: "app", BasicPassword: "pw"})
	tests := []struct {
		name   string
		set    func(r *http.Request)
		status int
	}{
		{"no credentials", func(*http.Request) {}, 401},
		{"wrong token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, 401},
		{"token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }, 200},
		{"basic", func(r *http.Request) { r.SetBasicAuth("app", "pw") }, 200},
		{"wrong basic password", func(r *http.Request) { r.SetBasicAuth("app", "px") }, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/Users", nil)
			tt.set(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
	srv.AddToken("second")
	if status, _, _, _ := try(t, srv, "GET", "/Users", "second", nil); status != 200 {
		t.Errorf("added token: status %d, want 200", status)
	}
	srv.RevokeToken("second")
	if status, _, _, _ := try(t, srv, "GET", "/Users", "second", nil); status != 401 {
		t.Errorf("revoked token: status %d, want 401", status)
	}
}

func TestDiscovery(t *testing.T) {
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprintf("DisablePatch=%v", disable), func(t *testing.T) {
			srv := scimtest.Start(t, scimtest.Options{Token: token, DisablePatch: disable})
			_, _, spc := call(t, srv, "GET", "/ServiceProviderConfig", nil)
			patch, _ := spc["patch"].(map[string]any)
			filter, _ := spc["filter"].(map[string]any)
			if patch["supported"] != !disable || filter["supported"] != true {
				t.Errorf("ServiceProviderConfig patch %v filter %v, want patch.supported=%v", patch, filter, !disable)
			}
			id := create(t, srv, "/Users", user("d"))
			body := map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
				"Operations": []map[string]any{{"op": "replace", "path": "title", "value": "x"}}}
			status, _, _ := call(t, srv, "PATCH", "/Users/"+id, body)
			if wantStatus := map[bool]int{false: 200, true: 501}[disable]; status != wantStatus {
				t.Errorf("PATCH: status %d, want %d", status, wantStatus)
			}
		})
	}
	srv := scimtest.Start(t, scimtest.Options{Token: token})
	_, _, schemas := call(t, srv, "GET", "/Schemas", nil)
	var ids []string
	for _, r := range schemas["Resources"].([]any) {
		ids = append(ids, r.(map[string]any)["id"].(string))
	}
	for _, w := range []string{scimtest.UserSchema, scimtest.GroupSchema, scimtest.EnterpriseSchema} {
		if !strings.Contains(strings.Join(ids, " "), w) {
			t.Errorf("/Schemas lacks %s (has %v)", w, ids)
		}
	}
	_, _, rts := call(t, srv, "GET", "/ResourceTypes", nil)
	if n := len(rts["Resources"].([]any)); n != 2 {
		t.Errorf("/ResourceTypes has %d types, want 2", n)
	}
}

func TestConcurrentCreatesOneWins(t *testing.T) {
	srv := scimtest.Start(t, scimtest.Options{Token: token})
	var wg sync.WaitGroup
	statuses := make([]int, 40)
	for i := range statuses {
		wg.Go(func() {
			status, _, _, err := try(t, srv, "POST", "/Users", token, user(fmt.Sprintf("Same-%c", "aA"[i%2])))
			if err != nil {
				t.Error(err)
			}
			statuses[i] = status
		})
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case 201:
			created++
		case 409:
		default:
			t.Errorf("status %d, want 201 or 409", s)
		}
	}
	if created != 1 || srv.UserCount() != 1 {
		t.Errorf("%d creates succeeded, %d users stored; want exactly 1", created, srv.UserCount())
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name  string
		fault scimtest.Fault
		// then: the statuses of successive POST /Users and whether users got stored.
		statuses   []int
		stored     int
		retryAfter string
	}{
		{"500 twice then served", scimtest.Fault{Method: "POST", PathPrefix: "/Users", Status: 500, Times: 2}, []int{500, 500, 201}, 1, ""},
		{"502 once by default", scimtest.Fault{Status: 502}, []int{502, 201}, 1, ""},
		{"503 with Retry-After", scimtest.Fault{Status: 503, RetryAfter: "7"}, []int{503, 201}, 1, "7"},
		{"429 with Retry-After", scimtest.Fault{PathPrefix: "/Users", Status: 429, RetryAfter: "2"}, []int{429, 201}, 1, "2"},
		{"401", scimtest.Fault{Status: 401}, []int{401, 201}, 1, ""},
		{"other method unaffected", scimtest.Fault{Method: "DELETE", Status: 500}, []int{201}, 1, ""},
		{"other path unaffected", scimtest.Fault{PathPrefix: "/Groups", Status: 500}, []int{201}, 1, ""},
		{"commit then fail", scimtest.Fault{Method: "POST", Commit: true}, []int{502, 409}, 1, ""},
		{"until cleared", scimtest.Fault{Status: 500, Times: -1}, []int{500, 500, 500, 500}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := scimtest.Start(t, scimtest.Options{Token: token})
			srv.Inject(tt.fault)
			for i, w := range tt.statuses {
				status, h, m := call(t, srv, "POST", "/Users", user("f"))
				if status != w {
					t.Fatalf("request %d: status %d, want %d (%v)", i+1, status, w, m)
				}
				if i == 0 && h.Get("Retry-After") != tt.retryAfter {
					t.Errorf("Retry-After %q, want %q", h.Get("Retry-After"), tt.retryAfter)
				}
				if i == 0 && status >= 400 && status != 409 && m["schemas"] == nil {
					t.Errorf("fault body %v is not a SCIM error", m)
				}
			}
			if got := srv.UserCount(); got != tt.stored {
				t.Errorf("%d users stored, want %d", got, tt.stored)
			}
			if got := srv.Requests("POST", "/Users"); got != len(tt.statuses) {
				t.Errorf("Requests(POST, /Users) = %d, want %d", got, len(tt.statuses))
			}
		})
	}

	t.Run("drop", func(t *testing.T) {
		srv := scimtest.Start(t, scimtest.Options{Token: token})
		srv.Inject(scimtest.Fault{Method: "GET", Drop: true})
		if _, _, _, err := try(t, srv, "GET", "/Users", token, nil); err == nil {
			t.Fatalf("dropped request: no error")
		}
		if status, _, _ := call(t, srv, "GET", "/Users", nil); status != 200 {
			t.Errorf("after the drop: status %d, want 200", status)
		}
	})
	t.Run("latency", func(t *testing.T) {
		srv := scimtest.Start(t, scimtest.Options{Token: token})
		srv.Inject(scimtest.Fault{PathPrefix: "/Users", Latency: 150 * time.Millisecond})
		start := time.Now()
		status, _, _ := call(t, srv, "GET", "/Users", nil)
		if d := time.Since(start); status != 200 || d < 150*time.Millisecond {
			t.Errorf("status %d after %v, want 200 after ≥150ms", status, d)
		}
		srv.SetLatency(100 * time.Millisecond)
		start = time.Now()
		call(t, srv, "GET", "/Groups", nil)
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("global latency: answered after %v, want ≥100ms", d)
		}
	})
	t.Run("down and up", func(t *testing.T) {
		srv := scimtest.Start(t, scimtest.Options{Token: token})
		create(t, srv, "/Users", user("before"))
		srv.Down()
		_, _, _, err := try(t, srv, "GET", "/Users", token, nil)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("while down: err %v, want connection refused", err)
		}
		if err := srv.Up(); err != nil {
			t.Fatalf("Up: %v", err)
		}
		if status, _, m := call(t, srv, "GET", "/Users", nil); status != 200 || m["totalResults"] != float64(1) {
			t.Errorf("after Up: status %d, totalResults %v; want 200 and the user kept", status, m["totalResults"])
		}
	})
	t.Run("down without a listener answers 503", func(t *testing.T) {
		srv := scimtest.New(scimtest.Options{})
		srv.Down()
		rec := &recorder{header: http.Header{}}
		req, _ := http.NewRequestWithContext(t.Context(), "GET", "/Users", nil)
		srv.ServeHTTP(rec, req)
		if rec.status != 503 {
			t.Errorf("status %d, want 503", rec.status)
		}
	})
}

type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return len(b), nil
}
func (r *recorder) WriteHeader(s int) { r.status = s }

func TestSeed(t *testing.T) {
	srv := scimtest.Start(t, scimtest.Options{Token: token})
	id, err := srv.SeedUser(map[string]any{"userName": "seeded", "emails": []any{map[string]any{"value": "s@x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := srv.UserByName("SEEDED"); !ok || u["id"] != id {
		t.Errorf("UserByName(SEEDED) = %v, %v; want id %s", u, ok, id)
	}
	if _, err := srv.SeedUser(map[string]any{"userName": "Seeded"}); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("duplicate seed: err %v, want a 409", err)
	}
	gid, err := srv.SeedGroup(map[string]any{"displayName": "Staff", "members": []any{map[string]any{"value": id}}})
	if err != nil {
		t.Fatal(err)
	}
	if g, _ := srv.Group(gid); len(g["members"].([]any)) != 1 {
		t.Errorf("seeded group %v, want one member", g)
	}
	if n := srv.Requests("", ""); n != 0 {
		t.Errorf("seeding counted %d requests, want 0", n)
	}
}
