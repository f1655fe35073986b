package scimin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/store"
)

// TestAuthentication: a missing or wrong token is 401 and recorded in the
// audit trail, without the token, summarised per client address; the
// right one is served.
func TestAuthentication(t *testing.T) {
	h := newHub(t)
	tests := []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "idss_not-the-token", http.StatusUnauthorized},
		{"an admin token is no source token", "idsa_whatever", http.StatusUnauthorized},
		{"the source's token", h.token, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := h.doToken(tc.token, "GET", "/scim/v2/Users", nil)
			if code != tc.want {
				t.Fatalf("GET /Users = %d %v, want %d", code, body, tc.want)
			}
			if code == http.StatusUnauthorized && body["status"] != "401" {
				t.Errorf("401 body = %v, want a SCIM error", body)
			}
		})
	}
	// The refusals come from one address: the first is written, the
	// others counted, and the count is written with the summaries.
	h.trail.Flush(t.Context())
	evs, err := h.st.ListAudit(t.Context(), store.AuditFilter{Action: "scim.auth"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || !strings.HasPrefix(evs[0].Actor, "unauthenticated@127.0.0.1:") ||
		!strings.HasPrefix(evs[1].Detail, "2 more refusals from 127.0.0.1") {
		t.Fatalf("scim.auth events = %+v, want the first refusal by unauthenticated@127.0.0.1 and 2 more", evs)
	}
	for _, e := range evs {
		if e.Outcome != store.AuditRefused || strings.Contains(e.Detail, "idss_not-the-token") {
			t.Errorf("audit event %+v: want refused, without the token", *e)
		}
	}
}

// TestFiltersAndPages: eq, co, sw, pr, and, or on userName, externalId,
// emails and displayName; startIndex and count.
func TestFiltersAndPages(t *testing.T) {
	h := newHub(t)
	for i, n := range []string{"ann", "bob", "carl", "dora", "eve"} {
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"externalId":"e%d",
			"displayName":"%s Smith","emails":[{"value":"%s@example.org","type":"work"}]}`, n, i, strings.ToUpper(n[:1])+n[1:], n)
		if n == "eve" {
			body = `{"userName":"eve","externalId":"e4"}`
		}
		if code, res := h.do("POST", "/scim/v2/Users", []byte(body)); code != http.StatusCreated {
			t.Fatalf("create %s = %d %v", n, code, res)
		}
	}
	tests := []struct {
		filter string
		want   string
	}{
		{`userName eq "BOB"`, "bob"},
		{`userName co "a"`, "ann carl dora"},
		{`userName sw "ca"`, "carl"},
		{`externalId eq "e3"`, "dora"},
		{`externalId eq "E3"`, ""},
		{`emails co "dora@"`, "dora"},
		{`emails.value sw "ann@"`, "ann"},
		{`emails[type eq "work" and value co "bob"]`, "bob"},
		{`displayName eq "carl smith"`, "carl"},
		{`displayName pr`, "ann bob carl dora"},
		{`userName sw "a" or userName sw "b"`, "ann bob"},
		{`displayName pr and userName co "o"`, "bob dora"},
		{`not (displayName pr)`, "eve"},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			code, list := h.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(tc.filter), nil)
			if code != 200 {
				t.Fatalf("= %d %v", code, list)
			}
			if got := names(list); got != tc.want {
				t.Errorf("= %q, want %q", got, tc.want)
			}
		})
	}
	if code, _ := h.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(`active gt true`), nil); code != http.StatusBadRequest {
		t.Errorf("ordering a boolean = %d, want 400", code)
	}
	if code, _ := h.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName eq`), nil); code != http.StatusBadRequest {
		t.Errorf("bad filter = %d, want 400", code)
	}
	pages := []struct {
		query     string
		want      string
		start, n  float64
		wantTotal float64
	}{
		{"startIndex=1&count=2", "ann bob", 1, 2, 5},
		{"startIndex=3&count=2", "carl dora", 3, 2, 5},
		{"startIndex=5&count=2", "eve", 5, 1, 5},
		{"startIndex=9&count=2", "", 9, 0, 5},
		{"count=0", "", 1, 0, 5},
		{"startIndex=2&count=1&filter=" + url.QueryEscape(`userName co "a"`), "carl", 2, 1, 3},
	}
	for _, p := range pages {
		t.Run(p.query, func(t *testing.T) {
			code, list := h.do("GET", "/scim/v2/Users?"+p.query, nil)
			if code != 200 {
				t.Fatalf("= %d %v", code, list)
			}
			if got := names(list); got != p.want || list["startIndex"] != p.start || list["itemsPerPage"] != p.n || list["totalResults"] != p.wantTotal {
				t.Errorf("= %q (start %v, items %v, total %v), want %q (%v, %v, %v)", got,
					list["startIndex"], list["itemsPerPage"], list["totalResults"], p.want, p.start, p.n, p.wantTotal)
			}
		})
	}
}

func names(list map[string]any) string {
	var out []string
	rs, _ := list["Resources"].([]any)
	for _, r := range rs {
		out = append(out, r.(map[string]any)["userName"].(string))
	}
	return strings.Join(out, " ")
}

// TestMastering: a source that masters title and department changes only
// those; the other fields keep the values they had (a source sets them
// only while they are empty, at hire).
func TestMastering(t *testing.T) {
	h := newHub(t, "title", "department")
	hire := `{"userName":"kim","externalId":"w1","title":"Analyst","displayName":"Kim Lee",
		"emails":[{"value":"kim@corp.example","primary":true}],
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Finance"}}`
	code, res := h.do("POST", "/scim/v2/Users", []byte(hire))
	if code != http.StatusCreated {
		t.Fatalf("hire = %d %v", code, res)
	}
	id := res["id"].(string)
	change := `{"userName":"kim","title":"Senior Analyst","displayName":"Kimberly Lee",
		"emails":[{"value":"kim.lee@corp.example","primary":true}],"name":{"givenName":"Kimberly"},
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Treasury"}}`
	if code, res = h.do("PUT", "/scim/v2/Users/"+id, []byte(change)); code != 200 {
		t.Fatalf("change = %d %v", code, res)
	}
	got := h.user("kim").Profile
	// The e-mails go with the e-mail the source does not master: as sent
	// at hire (no type: kept as sent).
	want := store.Profile{Username: "kim", Email: "kim@corp.example", GivenName: "Kimberly", DisplayName: "Kim Lee",
		Department: "Treasury", Title: "Senior Analyst",
		Extra: map[string][]string{"emails": {`{"primary":true,"value":"kim@corp.example"}`}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("profile = %+v\nwant      %+v (title and department mastered; given name was empty)", got, want)
	}
}

// TestDiscovery: the three discovery endpoints answer.
func TestDiscovery(t *testing.T) {
	h := newHub(t)
	tests := []struct {
		path string
		want int
		key  string
	}{
		{"/scim/v2/ServiceProviderConfig", 200, "patch"},
		{"/scim/v2/Schemas", 200, "Resources"},
		{"/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", 200, "attributes"},
		{"/scim/v2/ResourceTypes", 200, "Resources"},
		{"/scim/v2/ResourceTypes/Group", 200, "endpoint"},
		{"/scim/v2/ResourceTypes/Nope", 404, "detail"},
		{"/scim/v2/Bulk", 501, "detail"},
		{"/scim/v2/Me", 501, "detail"},
		{"/scim/v2/.search", 501, "detail"},
		{"/scim/v2/Nope", 404, "detail"},
	}
	for _, tc := range tests {
		code, body := h.do("GET", tc.path, nil)
		if _, ok := body[tc.key]; code != tc.want || !ok {
			t.Errorf("GET %s = %d %v, want %d with %s", tc.path, code, body, tc.want, tc.key)
		}
	}
}

// TestBadRequests: what a source may not write is refused with a SCIM
// error and changes nothing.
func TestBadRequests(t *testing.T) {
	h := newHub(t)
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"no userName", "POST", "/scim/v2/Users", `{"externalId":"x"}`, 400},
		{"not JSON", "POST", "/scim/v2/Users", `{`, 400},
		{"active not a boolean", "POST", "/scim/v2/Users", `{"userName":"a","active":"maybe"}`, 400},
		{"unknown user", "PATCH", "/scim/v2/Users/999", `{"Operations":[{"op":"replace","path":"title","value":"x"}]}`, 404},
		{"bad op", "POST", "/scim/v2/Groups", `{"displayName":"g","members":[{"value":"999"}]}`, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := h.do(tc.method, tc.path, []byte(tc.body)); code != tc.want || body["status"] != fmt.Sprint(tc.want) {
				t.Errorf("= %d %v, want %d", code, body, tc.want)
			}
		})
	}
	if us, _ := h.st.ListUsers(t.Context(), store.UserFilter{DirectoryID: h.dir.ID}); len(us) != 0 {
		t.Errorf("refused writes left %d users", len(us))
	}
}

// TestConcurrentPatches: PATCHes of one group at once each add their
// member; none is lost (a PATCH reads the group under the source's lock).
func TestConcurrentPatches(t *testing.T) {
	h := newHub(t)
	const n = 8
	var ids []string
	for i := range n {
		code, res := h.do("POST", "/scim/v2/Users", fmt.Appendf(nil, `{"userName":"u%d"}`, i))
		if code != http.StatusCreated {
			t.Fatalf("POST user %d = %d %v", i, code, res)
		}
		ids = append(ids, res["id"].(string))
	}
	code, res := h.do("POST", "/scim/v2/Groups", []byte(`{"displayName":"team"}`))
	if code != http.StatusCreated {
		t.Fatalf("POST group = %d %v", code, res)
	}
	gid := res["id"].(string)
	codes := make(chan int, n)
	for _, id := range ids {
		go func() {
			c, _ := h.do("PATCH", "/scim/v2/Groups/"+gid,
				fmt.Appendf(nil, `{"Operations":[{"op":"add","path":"members","value":[{"value":%q}]}]}`, id))
			codes <- c
		}()
	}
	for range n {
		if c := <-codes; c != http.StatusOK {
			t.Errorf("PATCH = %d, want 200", c)
		}
	}
	ms, err := h.st.GroupMembers(t.Context(), gid)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.ID)
	}
	sort.Strings(got)
	sort.Strings(ids)
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Errorf("members = %v\nwant      %v", got, ids)
	}
}

// TestReplicas: two hub replicas over one store serialise a source's
// writes from the first read to the write (the source's write run, not a
// lock of one process), so that what a write checked still holds when it
// writes, whichever replica serves it: of PATCHes sent at once with the
// same If-Match one applies and the others are 412; of POSTs with one new
// externalId one creates and the others are 409; no write is lost.
func TestReplicas(t *testing.T) {
	h := newHub(t)
	replicas := []*hub{h, h.replica()}
	const n = 12
	id := h.create("/scim/v2/Users", `{"userName":"kim"}`)
	_, hdr, _ := h.doHeader("GET", "/scim/v2/Users/"+id, nil, nil)
	codes := make(chan int, n)
	for i := range n {
		go func() {
			c, _, _ := replicas[i%2].doHeader("PATCH", "/scim/v2/Users/"+id, patchBody("replace", "title", fmt.Sprint("t", i)),
				map[string]string{"If-Match": hdr.Get("ETag")})
			codes <- c
		}()
	}
	if got := tally(codes, n); got != fmt.Sprint(map[int]int{200: 1, 412: n - 1}) {
		t.Errorf("PATCHes with one If-Match = %s, want one 200, the others 412", got)
	}
	for i := range n {
		go func() {
			c, _ := replicas[i%2].do("POST", "/scim/v2/Users", fmt.Appendf(nil, `{"userName":"new%d","externalId":"w9"}`, i))
			codes <- c
		}()
	}
	if got := tally(codes, n); got != fmt.Sprint(map[int]int{201: 1, 409: n - 1}) {
		t.Errorf("POSTs with one externalId = %s, want one 201, the others 409", got)
	}
	if us, err := h.st.ListUsers(t.Context(), store.UserFilter{DirectoryID: h.dir.ID}); err != nil || len(us) != 2 {
		t.Errorf("users = %d, %v; want kim and one new", len(us), err)
	}
	// The source's runs: the writes completed, the refused ones cancelled,
	// none left open.
	runs, err := h.st.ListRuns(t.Context(), store.RunFilter{DirectoryID: h.dir.ID})
	if err != nil {
		t.Fatal(err)
	}
	states := map[store.RunState]int{}
	for _, r := range runs {
		states[r.State]++
	}
	if want := map[store.RunState]int{store.RunCompleted: 3, store.RunCancelled: 2 * (n - 1)}; fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("runs %v, want %v", states, want)
	}
}

// tally counts n status codes.
func tally(codes <-chan int, n int) string {
	got := map[int]int{}
	for range n {
		got[<-codes]++
	}
	return fmt.Sprint(got)
}

// TestPathologicalFilters: a filter or a PATCH path over the bounds (4 KiB,
// 16 levels of nesting, 64 terms) is refused with 400 naming the bound,
// before the parser sees it; one at the bounds is served.
func TestPathologicalFilters(t *testing.T) {
	h := newHub(t)
	code, res := h.do("POST", "/scim/v2/Users", []byte(`{"userName":"ann","externalId":"e1"}`))
	if code != http.StatusCreated {
		t.Fatalf("create ann = %d %v", code, res)
	}
	id := res["id"].(string)
	nested := func(n int) string { return strings.Repeat("(", n) + `userName eq "ann"` + strings.Repeat(")", n) }
	terms := func(n int) string {
		return strings.Repeat(`userName eq "x" or `, n-1) + `userName eq "ann"`
	}
	tests := []struct {
		name, filter string
		want         string // "" for served
	}{
		{"16 levels", nested(16), ""},
		{"64 terms", terms(64), ""},
		{"17 levels", nested(17), "16 levels"},
		{"1,000 levels", nested(1000), "16 levels"},
		{"nested not", strings.Repeat("not (", 200) + `userName eq "ann"` + strings.Repeat(")", 200), "16 levels"},
		{"65 terms", terms(65), "64 terms"},
		{"1,000 terms", terms(1000), "4096 bytes"},
		{"terms in brackets", `emails[` + strings.Repeat(`value eq "x" and `, 64) + `value eq "y"]`, "64 terms"},
		{"long string", `userName eq "` + strings.Repeat("a", 5000) + `"`, "4096 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := h.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(tc.filter), nil)
			if tc.want == "" {
				if code != http.StatusOK || body["totalResults"] != 1.0 {
					t.Errorf("= %d %v, want 200 with ann", code, body)
				}
				return
			}
			detail, _ := body["detail"].(string)
			if code != http.StatusBadRequest || body["scimType"] != "invalidFilter" || !strings.Contains(detail, tc.want) {
				t.Errorf("= %d %v, want 400 invalidFilter naming %q", code, body, tc.want)
			}
		})
	}

	// A PATCH path holds a filter too: the same bounds, as invalidPath.
	paths := []struct{ name, path, want string }{
		{"deep path", `emails[` + strings.Repeat("(", 20) + `type eq "work"` + strings.Repeat(")", 20) + `].value`, "16 levels"},
		{"long path", `emails[value eq "` + strings.Repeat("a", 5000) + `"].value`, "4096 bytes"},
	}
	for _, tc := range paths {
		t.Run(tc.name, func(t *testing.T) {
			op, _ := json.Marshal(map[string]any{"Operations": []any{map[string]any{"op": "replace", "path": tc.path, "value": "x"}}})
			code, body := h.do("PATCH", "/scim/v2/Users/"+id, op)
			detail, _ := body["detail"].(string)
			if code != http.StatusBadRequest || body["scimType"] != "invalidPath" || !strings.Contains(detail, tc.want) {
				t.Errorf("= %d %v, want 400 invalidPath naming %q", code, body, tc.want)
			}
		})
	}
}
