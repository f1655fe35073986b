package scimin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/store"
)

const enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

// patchBody is a PatchOp of one operation.
func patchBody(op, path string, value any) []byte {
	o := map[string]any{"op": op}
	if path != "" {
		o["path"] = path
	}
	if value != nil {
		o["value"] = value
	}
	b, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{o}})
	return b
}

// create posts a resource and returns its id.
func (h *hub) create(path, body string) string {
	h.t.Helper()
	code, res := h.do("POST", path, []byte(body))
	if code != http.StatusCreated {
		h.t.Fatalf("POST %s %s = %d %v", path, body, code, res)
	}
	return res["id"].(string)
}

// wantError checks a SCIM error: status, scimType, and a detail naming
// what it should.
func wantError(t *testing.T, what string, code int, body map[string]any, status int, scimType, names string) {
	t.Helper()
	detail, _ := body["detail"].(string)
	// A path-less PATCH value's names are matched without regard to
	// case, and may be named lower-cased.
	if code != status || body["scimType"] != scimTypeOrNil(scimType) || !strings.Contains(strings.ToLower(detail), strings.ToLower(names)) {
		t.Errorf("%s = %d %v, want %d %s naming %q", what, code, body, status, scimType, names)
	}
}

func scimTypeOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// TestPatchExtension: a PATCH whose path is the enterprise extension's URN
// (its value an object) or an attribute inside it applies it; it used to
// answer 200 and change nothing.
func TestPatchExtension(t *testing.T) {
	h := newHub(t)
	id := h.create("/scim/v2/Users", `{"userName":"kim","externalId":"w1"}`)
	steps := []struct {
		name string
		body []byte
		want func(*store.User) bool
	}{
		{"the extension's URN, a value object", patchBody("replace", enterprise,
			map[string]any{"department": "Finance", "employeeNumber": "e-1", "manager": map[string]any{"value": "w9"}}),
			func(u *store.User) bool {
				return u.Department == "Finance" && u.EmployeeNumber == "e-1" && u.Manager == "w9"
			}},
		{"add to the URN merges", patchBody("add", enterprise, map[string]any{"costCenter": "cc-4"}),
			func(u *store.User) bool {
				return u.Department == "Finance" && fmt.Sprint(u.Extra["costCenter"]) == "[cc-4]"
			}},
		{"an attribute inside it", patchBody("replace", enterprise+":department", "Treasury"),
			func(u *store.User) bool { return u.Department == "Treasury" }},
		{"a sub-attribute inside it", patchBody("replace", enterprise+":manager.value", "w8"),
			func(u *store.User) bool { return u.Manager == "w8" }},
		{"path-less, the URN as a key", patchBody("replace", "", map[string]any{enterprise: map[string]any{"division": "North"}}),
			func(u *store.User) bool {
				return fmt.Sprint(u.Extra["division"]) == "[North]" && u.Department == "Treasury"
			}},
		{"remove an attribute inside it", patchBody("remove", enterprise+":department", nil),
			func(u *store.User) bool { return u.Department == "" && u.Manager == "w8" }},
		{"remove the URN: all of it", patchBody("remove", enterprise, nil),
			func(u *store.User) bool {
				return u.Manager == "" && u.EmployeeNumber == "" && len(u.Extra["costCenter"]) == 0
			}},
	}
	for _, s := range steps {
		code, res := h.do("PATCH", "/scim/v2/Users/"+id, s.body)
		if code != http.StatusOK {
			t.Fatalf("%s: = %d %v", s.name, code, res)
		}
		if u := h.user("kim"); !s.want(u) {
			t.Errorf("%s: hub user %+v", s.name, u.Profile)
		}
	}
	code, res := h.do("PATCH", "/scim/v2/Users/"+id, patchBody("replace", enterprise+":nope", "x"))
	wantError(t, "an unknown attribute of the extension", code, res, 400, "invalidPath", "nope")
	code, res = h.do("PATCH", "/scim/v2/Users/"+id, patchBody("replace", enterprise, "Finance"))
	wantError(t, "the URN with a string", code, res, 400, "invalidValue", enterprise)
}

// TestExternalIDImmutable: externalId is the resource's identity: a PATCH
// (add, replace, remove) or a PUT that changes it is refused with 400
// mutability; the same value is accepted; a PUT without it keeps it.
func TestExternalIDImmutable(t *testing.T) {
	h := newHub(t)
	id := h.create("/scim/v2/Users", `{"userName":"kim","externalId":"w1"}`)
	bare := h.create("/scim/v2/Users", `{"userName":"lee"}`)
	gid := h.create("/scim/v2/Groups", `{"displayName":"team","externalId":"g1"}`)
	tests := []struct {
		name, method, path string
		body               []byte
		want               int
	}{
		{"PATCH replace, another value", "PATCH", "/Users/" + id, patchBody("replace", "externalId", "w2"), 400},
		{"PATCH add, another value", "PATCH", "/Users/" + id, patchBody("add", "externalId", "w2"), 400},
		{"PATCH remove", "PATCH", "/Users/" + id, patchBody("remove", "externalId", nil), 400},
		{"PATCH path-less, another value", "PATCH", "/Users/" + id, patchBody("replace", "", map[string]any{"externalId": "w2"}), 400},
		{"PUT, another value", "PUT", "/Users/" + id, []byte(`{"userName":"kim","externalId":"w2"}`), 400},
		{"PATCH add to a user created without", "PATCH", "/Users/" + bare, patchBody("add", "externalId", "w3"), 400},
		{"PUT to a user created without", "PUT", "/Users/" + bare, []byte(`{"userName":"lee","externalId":"w3"}`), 400},
		{"group: PATCH replace", "PATCH", "/Groups/" + gid, patchBody("replace", "externalId", "g2"), 400},
		{"group: PUT", "PUT", "/Groups/" + gid, []byte(`{"displayName":"team","externalId":"g2"}`), 400},
		{"PATCH replace, the same value", "PATCH", "/Users/" + id, patchBody("replace", "externalId", "w1"), 200},
		{"PUT, the same value", "PUT", "/Users/" + id, []byte(`{"userName":"kim","externalId":"w1","title":"x"}`), 200},
		{"PUT without it", "PUT", "/Users/" + id, []byte(`{"userName":"kim","title":"y"}`), 200},
		{"group: PUT, the same value", "PUT", "/Groups/" + gid, []byte(`{"displayName":"team","externalId":"g1"}`), 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, res := h.do(tc.method, "/scim/v2"+tc.path, tc.body)
			if tc.want == 400 {
				wantError(t, tc.name, code, res, 400, "mutability", "externalId")
				return
			}
			if code != tc.want || (strings.HasPrefix(tc.path, "/Users") && res["externalId"] != "w1") {
				t.Errorf("= %d %v, want %d with externalId w1", code, res, tc.want)
			}
		})
	}
	if u := h.user("kim"); u.ExternalID != "w1" || u.Title != "y" {
		t.Errorf("kim: external id %q, title %q; want w1, y", u.ExternalID, u.Title)
	}
}

// TestPatchRemove: PATCH remove as RFC 7644 §3.5.2.2 says: a required
// attribute or a readOnly one is refused (400 mutability); any other is
// unassigned: it reads as on a resource created without it (active:
// true).
func TestPatchRemove(t *testing.T) {
	h := newHub(t)
	id := h.create("/scim/v2/Users", `{"userName":"kim","externalId":"w1","title":"Analyst","active":false,
		"name":{"givenName":"Kim","familyName":"Lee"},"emails":[{"value":"kim@example.org","type":"work","primary":true}],
		"phoneNumbers":[{"value":"+1 555 0100","type":"work"},{"value":"+1 555 0101","type":"mobile"}]}`)
	gid := h.create("/scim/v2/Groups", fmt.Sprintf(`{"displayName":"team","members":[{"value":%q}]}`, id))
	refused := []struct{ path, res, names, scimType string }{
		{"userName", "/Users/" + id, "userName", "mutability"},
		{"id", "/Users/" + id, "id", "mutability"},
		{"meta.lastModified", "/Users/" + id, "meta", "mutability"},
		{"displayName", "/Groups/" + gid, "displayName", "mutability"},
		{"members.$ref", "/Groups/" + gid, "$ref", "mutability"},
		{"nickNames", "/Users/" + id, "nickNames", "invalidPath"},
	}
	for _, r := range refused {
		code, res := h.do("PATCH", "/scim/v2"+r.res, patchBody("remove", r.path, nil))
		wantError(t, "remove "+r.path, code, res, 400, r.scimType, r.names)
	}
	applied := []struct {
		path string
		want func(map[string]any) bool
	}{
		{"title", func(r map[string]any) bool { return r["title"] == nil }},
		{"name.givenName", func(r map[string]any) bool { return fmt.Sprint(r["name"]) == "map[familyName:Lee]" }},
		{`phoneNumbers[type eq "mobile"]`, func(r map[string]any) bool {
			return fmt.Sprint(r["phoneNumbers"]) == "[map[type:work value:+1 555 0100]]"
		}},
		{"emails", func(r map[string]any) bool { return r["emails"] == nil }},
		{"active", func(r map[string]any) bool { return r["active"] == true }},
	}
	for _, a := range applied {
		code, res := h.do("PATCH", "/scim/v2/Users/"+id, patchBody("remove", a.path, nil))
		if code != http.StatusOK || !a.want(res) {
			t.Errorf("remove %s = %d %v", a.path, code, res)
		}
	}
	if u := h.user("kim"); u.Title != "" || u.GivenName != "" || u.Email != "" || u.Status != store.StatusActive {
		t.Errorf("kim after the removals: %+v %s", u.Profile, u.Status)
	}
	code, res := h.do("PATCH", "/scim/v2/Groups/"+gid, patchBody("remove", "members", nil))
	if _, has := res["members"]; code != http.StatusOK || has {
		t.Errorf("remove members = %d %v, want 200 without members", code, res)
	}
	h.wantMembers(gid)
}

// TestUnknownAttributes: an attribute the schema does not define is
// refused with 400 invalidPath naming it wherever a request names it (a
// PATCH path or value, attributes, excludedAttributes), and ignored in a
// POST or PUT body, as RFC 7644 §3.3 lets a server do (Okta sends
// password and groups); a value of the wrong type is 400 invalidValue
// naming the attribute.
func TestUnknownAttributes(t *testing.T) {
	h := newHub(t)
	code, res := h.do("POST", "/scim/v2/Users", []byte(`{"userName":"kim","password":"s3cret","groups":[],"favouriteColour":"red"}`))
	if code != http.StatusCreated || res["password"] != nil || res["favouriteColour"] != nil {
		t.Fatalf("POST with attributes not kept = %d %v, want 201 without them", code, res)
	}
	id := res["id"].(string)
	tests := []struct {
		name, method, path string
		body               []byte
		status             int
		scimType, names    string
	}{
		{"PATCH path", "PATCH", "/Users/" + id, patchBody("replace", "favouriteColour", "blue"), 400, "invalidPath", "favouriteColour"},
		{"PATCH sub-attribute", "PATCH", "/Users/" + id, patchBody("replace", "name.nick", "K"), 400, "invalidPath", "nick"},
		{"PATCH value", "PATCH", "/Users/" + id, patchBody("replace", "", map[string]any{"title": "x", "favouriteColour": "blue"}), 400, "invalidPath", "favouriteColour"},
		{"PATCH a filter on a single-valued attribute", "PATCH", "/Users/" + id, patchBody("replace", `title[value eq "x"]`, "y"), 400, "invalidPath", "title"},
		{"PATCH password (not kept)", "PATCH", "/Users/" + id, patchBody("replace", "password", "x"), 400, "invalidPath", "password"},
		{"attributes", "GET", "/Users/" + id + "?attributes=userName,favouriteColour", nil, 400, "invalidPath", "favouriteColour"},
		{"excludedAttributes", "GET", "/Users?excludedAttributes=favouriteColour", nil, 400, "invalidPath", "favouriteColour"},
		{"a number for a string", "PATCH", "/Users/" + id, patchBody("replace", "title", 5), 400, "invalidValue", "title"},
		{"a string for a boolean", "POST", "/Users", []byte(`{"userName":"x","active":"maybe"}`), 400, "invalidValue", "active"},
		{"an object for a list element", "PUT", "/Users/" + id, []byte(`{"userName":"kim","phoneNumbers":["+1 555"]}`), 400, "invalidValue", "phoneNumbers[0]"},
		{"a readOnly attribute", "PATCH", "/Users/" + id, patchBody("replace", "id", "x"), 400, "mutability", "id"},
		{"a readOnly attribute with another value, path-less", "PATCH", "/Users/" + id, patchBody("replace", "", map[string]any{"id": "x"}), 400, "mutability", "id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, res := h.do(tc.method, "/scim/v2"+tc.path, tc.body)
			wantError(t, tc.name, code, res, tc.status, tc.scimType, tc.names)
		})
	}
}

// TestAttributesParameter: attributes and excludedAttributes on GET, list
// and .search (RFC 7644 §3.4.2.5, §3.9): only what is asked (with id and
// schemas, returned always), or all but what is excluded.
func TestAttributesParameter(t *testing.T) {
	h := newHub(t)
	id := h.create("/scim/v2/Users", `{"userName":"kim","externalId":"w1","title":"Analyst","name":{"givenName":"Kim","familyName":"Lee"},
		"emails":[{"value":"kim@example.org","type":"work","primary":true}],"`+enterprise+`":{"department":"Finance","employeeNumber":"7"}}`)
	keys := func(m map[string]any) string {
		var out []string
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok && k != "meta" {
				var subs []string
				for sk := range sub {
					subs = append(subs, sk)
				}
				k += fmt.Sprint(sortStrings(subs))
			}
			out = append(out, k)
		}
		return strings.Join(sortStrings(out), " ")
	}
	tests := []struct{ query, want string }{
		{"attributes=userName", "id schemas userName"},
		{"attributes=userName,name.givenName", "id name[givenName] schemas userName"},
		{"attributes=emails.value", "emails id schemas"},
		{"attributes=" + url.QueryEscape(enterprise+":department"), "id schemas " + enterprise + "[department]"},
		{"attributes=" + url.QueryEscape(enterprise), "id schemas " + enterprise + "[department employeeNumber]"},
		{"attributes=USERNAME", "id schemas userName"},
		{"excludedAttributes=emails,meta,name.familyName,id," + url.QueryEscape(enterprise),
			"active externalId id name[givenName] schemas title userName"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			code, res := h.do("GET", "/scim/v2/Users/"+id+"?"+tc.query, nil)
			if got := keys(res); code != 200 || got != tc.want {
				t.Errorf("GET = %d %q, want %q", code, got, tc.want)
			}
			code, list := h.do("GET", "/scim/v2/Users?"+tc.query, nil)
			rs, _ := list["Resources"].([]any)
			if code != 200 || len(rs) != 1 || keys(rs[0].(map[string]any)) != tc.want {
				t.Errorf("list = %d %v, want one with %q", code, list, tc.want)
			}
		})
	}
	code, res := h.do("GET", "/scim/v2/Users/"+id+"?attributes=emails.value", nil)
	if code != 200 || fmt.Sprint(res["emails"]) != "[map[value:kim@example.org]]" {
		t.Errorf("emails.value = %v", res["emails"])
	}
	code, res = h.do("PATCH", "/scim/v2/Users/"+id+"?attributes=title", patchBody("replace", "title", "Lead"))
	if code != 200 || keys(res) != "id schemas title" || res["title"] != "Lead" {
		t.Errorf("PATCH ?attributes=title = %d %v", code, res)
	}
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// TestSearch: POST /Users/.search and /Groups/.search (RFC 7644 §3.4.3)
// take the query in a SearchRequest body.
func TestSearch(t *testing.T) {
	h := newHub(t)
	for _, n := range []string{"ann", "bob", "carl"} {
		h.create("/scim/v2/Users", fmt.Sprintf(`{"userName":%q,"title":"t-%s"}`, n, n))
	}
	h.create("/scim/v2/Groups", `{"displayName":"team"}`)
	h.create("/scim/v2/Groups", `{"displayName":"board"}`)
	code, list := h.do("POST", "/scim/v2/Users/.search", []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
		"attributes":["userName"],"filter":"userName ne \"bob\"","startIndex":1,"count":1}`))
	rs, _ := list["Resources"].([]any)
	if code != 200 || list["totalResults"] != 2.0 || len(rs) != 1 || fmt.Sprint(rs[0].(map[string]any)["userName"]) != "ann" ||
		rs[0].(map[string]any)["title"] != nil {
		t.Errorf("users search = %d %v, want 2 results, ann with userName only", code, list)
	}
	code, list = h.do("POST", "/scim/v2/Groups/.search", []byte(`{"filter":"displayName sw \"t\"","excludedAttributes":["members"]}`))
	rs, _ = list["Resources"].([]any)
	if code != 200 || len(rs) != 1 || rs[0].(map[string]any)["displayName"] != "team" {
		t.Errorf("groups search = %d %v, want team", code, list)
	}
	code, res := h.do("POST", "/scim/v2/Users/.search", []byte(`{"filter":"userName eq"}`))
	wantError(t, "bad filter", code, res, 400, "invalidFilter", "userName")
	code, res = h.do("GET", "/scim/v2/Users/.search", nil)
	if code != http.StatusMethodNotAllowed {
		t.Errorf("GET .search = %d %v, want 405", code, res)
	}
	if us, _ := h.st.ListUsers(t.Context(), store.UserFilter{DirectoryID: h.dir.ID}); len(us) != 3 {
		t.Errorf("a search wrote: %d users", len(us))
	}
}

// TestOrderingFilters: gt, ge, lt and le compare strings (lexically,
// without regard to case unless caseExact) and dateTimes (as points in
// time), RFC 7644 §3.4.2.2; on a boolean they are a 400 invalidFilter.
func TestOrderingFilters(t *testing.T) {
	h := newHub(t)
	for _, n := range []string{"ann", "Bob", "carl", "dora"} {
		h.create("/scim/v2/Users", fmt.Sprintf(`{"userName":%q}`, n))
	}
	_, ann := h.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName eq "ann"`), nil)
	stamp := ann["Resources"].([]any)[0].(map[string]any)["meta"].(map[string]any)["lastModified"].(string)
	tests := []struct{ filter, want string }{
		{`userName gt "bob"`, "carl dora"},
		{`userName ge "bob"`, "Bob carl dora"},
		{`userName lt "Carl"`, "ann Bob"},
		{`userName le "carl"`, "ann Bob carl"},
		{`userName gt "b" and userName lt "d"`, "Bob carl"},
		{`meta.lastModified gt "2000-01-01T00:00:00Z"`, "ann Bob carl dora"},
		{`meta.lastModified lt "2000-01-01T00:00:00Z"`, ""},
		{`meta.lastModified ge "` + stamp + `" and userName eq "ann"`, "ann"},
		{`meta.lastModified le "` + stamp + `" and userName eq "ann"`, "ann"},
		{`meta.lastModified gt "` + stamp + `" and userName eq "ann"`, ""},
		{`meta.created lt "2999-01-01T00:00:00+02:00"`, "ann Bob carl dora"},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			code, list := h.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(tc.filter), nil)
			if got := names(list); code != 200 || got != tc.want {
				t.Errorf("= %d %q, want %q", code, got, tc.want)
			}
		})
	}
	for _, f := range []string{`active gt true`, `meta.lastModified gt "yesterday"`, `name gt "a"`} {
		code, res := h.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(f), nil)
		wantError(t, f, code, res, 400, "invalidFilter", strings.Fields(f)[0])
	}
}

// TestETags: meta.version is the ETag header; If-Match on PUT, PATCH and
// DELETE answers 412 on a stale version (RFC 7644 §3.14); If-None-Match
// on GET answers 304; /ServiceProviderConfig says etag is supported.
func TestETags(t *testing.T) {
	h := newHub(t)
	code, hdr, res := h.doHeader("POST", "/scim/v2/Users", []byte(`{"userName":"kim"}`), nil)
	if code != http.StatusCreated || hdr.Get("ETag") == "" || hdr.Get("ETag") != res["meta"].(map[string]any)["version"] {
		t.Fatalf("POST = %d, ETag %q, meta %v", code, hdr.Get("ETag"), res["meta"])
	}
	id, v1 := res["id"].(string), hdr.Get("ETag")
	path := "/scim/v2/Users/" + id
	if code, hdr, _ = h.doHeader("GET", path, nil, nil); code != 200 || hdr.Get("ETag") != v1 {
		t.Errorf("GET ETag = %q, want %q", hdr.Get("ETag"), v1)
	}
	if code, _, _ = h.doHeader("GET", path, nil, map[string]string{"If-None-Match": v1}); code != http.StatusNotModified {
		t.Errorf("GET If-None-Match current = %d, want 304", code)
	}
	code, hdr, _ = h.doHeader("PATCH", path, patchBody("replace", "title", "a"), map[string]string{"If-Match": v1})
	v2 := hdr.Get("ETag")
	if code != 200 || v2 == v1 {
		t.Fatalf("PATCH If-Match current = %d, ETag %q (was %q)", code, v2, v1)
	}
	stale := []struct {
		method string
		body   []byte
	}{{"PATCH", patchBody("replace", "title", "b")}, {"PUT", []byte(`{"userName":"kim","title":"c"}`)}, {"DELETE", nil}}
	for _, s := range stale {
		code, _, res := h.doHeader(s.method, path, s.body, map[string]string{"If-Match": v1})
		if code != http.StatusPreconditionFailed || res["status"] != "412" {
			t.Errorf("%s If-Match stale = %d %v, want 412", s.method, code, res)
		}
	}
	if u := h.user("kim"); u.Title != "a" || u.Status != store.StatusActive {
		t.Errorf("after the stale writes: title %q, %s; want a, active", u.Title, u.Status)
	}
	if code, _, res = h.doHeader("PUT", path, []byte(`{"userName":"kim","title":"d"}`), map[string]string{"If-Match": `"nope", ` + v2}); code != 200 {
		t.Errorf("PUT If-Match with the current among others = %d %v", code, res)
	}
	if code, _, _ = h.doHeader("DELETE", path, nil, map[string]string{"If-Match": "*"}); code != http.StatusNoContent {
		t.Errorf("DELETE If-Match * = %d", code)
	}
	_, cfg := h.do("GET", "/scim/v2/ServiceProviderConfig", nil)
	if cfg["etag"].(map[string]any)["supported"] != true {
		t.Errorf("ServiceProviderConfig etag = %v, want supported", cfg["etag"])
	}
}

// TestRefs: members and manager carry $ref; a group without members shows
// none (RFC 7643 §2.5), however it came to have none.
func TestRefs(t *testing.T) {
	h := newHub(t)
	boss := h.create("/scim/v2/Users", `{"userName":"boss","displayName":"The Boss"}`)
	code, res := h.do("POST", "/scim/v2/Users", []byte(`{"userName":"kim","`+enterprise+`":{"manager":{"value":"`+boss+`"}}}`))
	if code != http.StatusCreated {
		t.Fatalf("POST kim = %d %v", code, res)
	}
	kim := res["id"].(string)
	base := h.srv.URL + "/scim/v2"
	mgr := res[enterprise].(map[string]any)["manager"].(map[string]any)
	if mgr["value"] != boss || mgr["$ref"] != base+"/Users/"+boss || mgr["displayName"] != "The Boss" {
		t.Errorf("manager = %v, want value, $ref and displayName of the boss", mgr)
	}
	code, res = h.do("POST", "/scim/v2/Groups", []byte(`{"displayName":"team","members":[]}`))
	if _, has := res["members"]; code != http.StatusCreated || has {
		t.Errorf("POST an empty group = %d %v, want no members", code, res)
	}
	gid := res["id"].(string)
	code, res = h.do("PATCH", "/scim/v2/Groups/"+gid, patchBody("add", "members", []any{map[string]any{"value": kim}}))
	ms, _ := res["members"].([]any)
	if code != 200 || len(ms) != 1 || ms[0].(map[string]any)["$ref"] != base+"/Users/"+kim || ms[0].(map[string]any)["type"] != "User" {
		t.Errorf("members = %d %v, want kim with $ref", code, res["members"])
	}
	code, res = h.do("PATCH", "/scim/v2/Groups/"+gid, patchBody("remove", fmt.Sprintf("members[value eq %q]", kim), nil))
	if _, has := res["members"]; code != 200 || has {
		t.Errorf("after removing the last member = %d %v, want no members", code, res)
	}
	if _, list := h.do("GET", "/scim/v2/Groups", nil); fmt.Sprint(list["Resources"].([]any)[0].(map[string]any)["members"]) != "<nil>" {
		t.Errorf("listed empty group = %v", list)
	}
	code, res = h.do("POST", "/scim/v2/Groups", []byte(`{"displayName":"nest","members":[{"value":"`+gid+`","type":"Group"}]}`))
	wantError(t, "a group member", code, res, 400, "invalidValue", "members[0].type")
}

// TestKeptAttributes: every attribute the schema calls writable is kept —
// the second e-mail and the phone numbers among them — and read back as
// sent; the hub's e-mail of the user is the primary one.
func TestKeptAttributes(t *testing.T) {
	h := newHub(t)
	body := `{"userName":"kim","nickName":"K","locale":"fr-CH","timezone":"Europe/Zurich",
		"name":{"givenName":"Kim","familyName":"Lee","formatted":"Dr Kim Lee","honorificPrefix":"Dr"},
		"emails":[{"value":"kim@home.example","type":"home"},{"value":"kim@corp.example","type":"work","primary":true}],
		"phoneNumbers":[{"value":"+41 44 000 00 00","type":"work"},{"value":"+41 79 000 00 00","type":"mobile","primary":true}],
		"addresses":[{"streetAddress":"Bahnhofstrasse 1","locality":"Zürich","country":"CH","type":"work"}],
		"` + enterprise + `":{"costCenter":"4711","division":"North"}}`
	code, res := h.do("POST", "/scim/v2/Users", []byte(body))
	if code != http.StatusCreated {
		t.Fatalf("POST = %d %v", code, res)
	}
	_, got := h.do("GET", "/scim/v2/Users/"+res["id"].(string), nil)
	var sent map[string]any
	_ = json.Unmarshal([]byte(body), &sent)
	for k, v := range sent {
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v as sent", k, got[k], v)
		}
	}
	if u := h.user("kim"); u.Email != "kim@corp.example" || u.GivenName != "Kim" || fmt.Sprint(u.Extra["nickName"]) != "[K]" {
		t.Errorf("hub user %+v", u.Profile)
	}
}

// TestMasteredImmutable: for a source that masters some fields only,
// /Schemas marks the others immutable, and a PATCH that changes one the
// hub holds a value of is refused instead of answering 200 and keeping
// the hub's.
func TestMasteredImmutable(t *testing.T) {
	h := newHub(t, "title")
	id := h.create("/scim/v2/Users", `{"userName":"kim","title":"Analyst","displayName":"Kim Lee"}`)
	_, schema := h.do("GET", "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", nil)
	mut := map[string]any{}
	for _, a := range schema["attributes"].([]any) {
		m := a.(map[string]any)
		mut[m["name"].(string)] = m["mutability"]
	}
	if mut["title"] != "readWrite" || mut["displayName"] != "immutable" || mut["phoneNumbers"] != "readWrite" {
		t.Errorf("mutability: title %v, displayName %v, phoneNumbers %v; want readWrite, immutable, readWrite",
			mut["title"], mut["displayName"], mut["phoneNumbers"])
	}
	code, res := h.do("PATCH", "/scim/v2/Users/"+id, patchBody("replace", "displayName", "Kimberly Lee"))
	wantError(t, "PATCH a field the source does not master", code, res, 400, "mutability", "displayName")
	if code, res = h.do("PATCH", "/scim/v2/Users/"+id, patchBody("add", "name.givenName", "Kim")); code != 200 {
		t.Errorf("PATCH add a field the hub holds no value of = %d %v", code, res)
	}
	if code, res = h.do("PATCH", "/scim/v2/Users/"+id, patchBody("replace", "title", "Lead")); code != 200 {
		t.Errorf("PATCH a mastered field = %d %v", code, res)
	}
	if u := h.user("kim"); u.DisplayName != "Kim Lee" || u.GivenName != "Kim" || u.Title != "Lead" {
		t.Errorf("hub user %+v", u.Profile)
	}
}
