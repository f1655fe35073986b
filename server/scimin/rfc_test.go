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

// TestExternalIDUnique: a POST with the externalId another resource of the
// source holds is a 409 uniqueness and changes nothing; it used to answer
// 201 with that resource, rewritten (a user renamed, a user made of a
// group). A deleted resource's externalId restores it.
func TestExternalIDUnique(t *testing.T) {
	h := newHub(t)
	kim := h.create("/scim/v2/Users", `{"userName":"kim","externalId":"w1","title":"Analyst"}`)
	gid := h.create("/scim/v2/Groups", `{"displayName":"team","externalId":"g1"}`)
	suspended := h.create("/scim/v2/Users", `{"userName":"sam","externalId":"w2","active":false}`)
	tests := []struct{ name, path, body, names string }{
		{"a live user's", "/Users", `{"userName":"lee","externalId":"w1"}`, kim},
		{"a suspended user's", "/Users", `{"userName":"lee","externalId":"w2"}`, suspended},
		{"a group's, for a user", "/Users", `{"userName":"lee","externalId":"g1"}`, gid},
		{"a live group's", "/Groups", `{"displayName":"board","externalId":"g1"}`, gid},
		{"a user's, for a group", "/Groups", `{"displayName":"board","externalId":"w1"}`, kim},
	}
	for _, tc := range tests {
		code, res := h.do("POST", "/scim/v2"+tc.path, []byte(tc.body))
		wantError(t, tc.name, code, res, http.StatusConflict, "uniqueness", tc.names)
	}
	if u := h.user("kim"); u.ExternalID != "w1" || u.Title != "Analyst" {
		t.Errorf("kim after the refused creates: %q %+v", u.ExternalID, u.Profile)
	}
	if code, res := h.do("GET", "/scim/v2/Groups/"+gid, nil); code != 200 || res["displayName"] != "team" {
		t.Errorf("team after the refused creates = %d %v", code, res)
	}
	if code, _ := h.do("DELETE", "/scim/v2/Users/"+kim, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE kim = %d", code)
	}
	code, res := h.do("POST", "/scim/v2/Users", []byte(`{"userName":"kim","externalId":"w1"}`))
	if code != http.StatusCreated || res["id"] != kim || res["active"] != true {
		t.Errorf("POST the deleted user's externalId = %d %v, want 201 with user %s restored", code, res, kim)
	}
	code, res = h.do("POST", "/scim/v2/Groups", []byte(`{"displayName":"team2","externalId":"`+"w9"+`"}`))
	if code != http.StatusCreated {
		t.Errorf("POST a new externalId = %d %v", code, res)
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
		{"PATCH groups (a user's groups are the groups' members)", "PATCH", "/Users/" + id, patchBody("add", "groups", []any{map[string]any{"value": "x"}}), 400, "invalidPath", "groups"},
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

// TestIgnoredPassword: password is the one attribute /Schemas says is
// accepted and ignored (writeOnly, returned never): a POST, PUT or PATCH
// with it (Okta's password sync sends a path-less PATCH) answers as
// without it, and nothing of it is kept or shown.
func TestIgnoredPassword(t *testing.T) {
	h := newHub(t)
	_, schema := h.do("GET", "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User", nil)
	var pw map[string]any
	for _, a := range schema["attributes"].([]any) {
		if m := a.(map[string]any); m["name"] == "password" {
			pw = m
		}
	}
	if pw == nil || pw["mutability"] != "writeOnly" || pw["returned"] != "never" || !strings.Contains(pw["description"].(string), "ignored") {
		t.Fatalf("/Schemas password = %v, want writeOnly, returned never, said to be ignored", pw)
	}
	code, hdr, res := h.doHeader("POST", "/scim/v2/Users", []byte(`{"userName":"kim","password":"s3cret-1"}`), nil)
	if code != http.StatusCreated {
		t.Fatalf("POST with a password = %d %v", code, res)
	}
	id, v1 := res["id"].(string), hdr.Get("ETag")
	writes := []struct {
		name, method string
		body         []byte
	}{
		{"PATCH path-less (Okta)", "PATCH", patchBody("replace", "", map[string]any{"password": "s3cret-2"})},
		{"PATCH with the path", "PATCH", patchBody("replace", "password", "s3cret-3")},
		{"PATCH add", "PATCH", patchBody("add", "password", "s3cret-4")},
		{"PATCH remove", "PATCH", patchBody("remove", "password", nil)},
		{"PUT", "PUT", []byte(`{"userName":"kim","password":"s3cret-5"}`)},
	}
	for _, w := range writes {
		code, hdr, res := h.doHeader(w.method, "/scim/v2/Users/"+id, w.body, nil)
		if _, shown := res["password"]; code != 200 || shown || hdr.Get("ETag") != v1 {
			t.Errorf("%s = %d, ETag %s (was %s), %v; want 200, the same version, no password", w.name, code, hdr.Get("ETag"), v1, res)
		}
	}
	for _, q := range []string{"", "?attributes=password,userName"} {
		if _, res := h.do("GET", "/scim/v2/Users/"+id+q, nil); res["password"] != nil || res["userName"] != "kim" {
			t.Errorf("GET%s = %v, want kim without a password", q, res)
		}
	}
	if u := h.user("kim"); len(u.Extra) != 0 || strings.Contains(fmt.Sprint(u.Profile), "s3cret") {
		t.Errorf("hub user %+v: a password was kept", u.Profile)
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
	code, list = h.do("POST", "/scim/v2/Users/.search", []byte(`{"attributes":"userName,title","filter":"userName eq \"bob\""}`))
	rs, _ = list["Resources"].([]any)
	if code != 200 || len(rs) != 1 || fmt.Sprint(rs[0].(map[string]any)["title"]) != "t-bob" || rs[0].(map[string]any)["meta"] != nil {
		t.Errorf("users search, attributes as one string = %d %v, want bob with userName and title", code, list)
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
// time), RFC 7644 §3.4.2.2; on a boolean or a binary they are a 400
// invalidFilter.
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
		// What changed after ann, however soon: meta.lastModified is
		// not cut to the second.
		{`meta.lastModified gt "` + stamp + `"`, "Bob carl dora"},
		{`meta.created lt "2999-01-01T00:00:00+02:00"`, "ann Bob carl dora"},
		// A core attribute by its fully qualified name (RFC 7644 §3.10).
		{`urn:ietf:params:scim:schemas:core:2.0:User:userName ge "C"`, "carl dora"},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			code, list := h.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(tc.filter), nil)
			if got := names(list); code != 200 || got != tc.want {
				t.Errorf("= %d %q, want %q", code, got, tc.want)
			}
		})
	}
	for _, f := range []string{`active gt true`, `x509Certificates.value lt "MII"`, `meta.lastModified gt "yesterday"`, `name gt "a"`} {
		code, res := h.do("GET", "/scim/v2/Users?filter="+url.QueryEscape(f), nil)
		wantError(t, f, code, res, 400, "invalidFilter", strings.Fields(f)[0])
	}
}

// TestSort: sortBy and sortOrder (RFC 7644 §3.4.2.3) on GET and .search:
// strings without regard to case, a multi-valued attribute by its primary
// value, dateTimes in time; resources without a value last in ascending
// order, first in descending; the page is cut from the sorted list.
func TestSort(t *testing.T) {
	h := newHub(t)
	for _, u := range []string{
		`{"userName":"carl","title":"b","emails":[{"value":"z@x.org"},{"value":"a@x.org","primary":true}]}`,
		`{"userName":"Ann","title":"C","emails":[{"value":"m@x.org"}]}`,
		`{"userName":"bob"}`,
		`{"userName":"dora","title":"a"}`,
	} {
		h.create("/scim/v2/Users", u)
	}
	tests := []struct{ query, want string }{
		{"sortBy=userName", "Ann bob carl dora"},
		{"sortBy=userName&sortOrder=descending", "dora carl bob Ann"},
		{"sortBy=title", "dora carl Ann bob"},
		{"sortBy=title&sortOrder=DESCENDING", "bob Ann carl dora"},
		{"sortBy=emails", "carl Ann bob dora"},
		{"sortBy=emails.value&sortOrder=descending", "dora bob Ann carl"},
		{"sortBy=meta.created&sortOrder=descending", "dora bob Ann carl"},
		{"sortBy=userName&startIndex=2&count=2", "bob carl"},
		{"sortBy=userName&filter=" + url.QueryEscape(`title pr`), "Ann carl dora"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			code, list := h.do("GET", "/scim/v2/Users?"+tc.query, nil)
			if got := names(list); code != 200 || got != tc.want {
				t.Errorf("= %d %q, want %q", code, got, tc.want)
			}
		})
	}
	code, list := h.do("POST", "/scim/v2/Users/.search", []byte(`{"sortBy":"userName","sortOrder":"descending","count":2}`))
	if got := names(list); code != 200 || got != "dora carl" || list["totalResults"] != 4.0 {
		t.Errorf(".search sorted = %d %v, want dora carl of 4", code, list)
	}
	code, res := h.do("GET", "/scim/v2/Users?sortBy=favouriteColour", nil)
	wantError(t, "sortBy an unknown attribute", code, res, 400, "invalidPath", "favouriteColour")
	code, res = h.do("GET", "/scim/v2/Users?sortBy=userName&sortOrder=up", nil)
	wantError(t, "sortOrder up", code, res, 400, "invalidValue", "sortOrder")
	_, cfg := h.do("GET", "/scim/v2/ServiceProviderConfig", nil)
	if cfg["sort"].(map[string]any)["supported"] != true {
		t.Errorf("ServiceProviderConfig sort = %v, want supported", cfg["sort"])
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

// TestPrimary: a value's primary is true at most once (RFC 7643 §2.4): a
// PATCH that makes one primary makes the others not (RFC 7644 §3.5.2), and
// a POST or PUT with two is 400 invalidValue; the hub's e-mail of the user
// is the primary one.
func TestPrimary(t *testing.T) {
	h := newHub(t)
	id := h.create("/scim/v2/Users", `{"userName":"kim","emails":[{"value":"a@x.org","primary":true},{"value":"b@x.org","type":"home"}]}`)
	primaries := func(res map[string]any) string {
		var out []string
		for _, e := range res["emails"].([]any) {
			m := e.(map[string]any)
			out = append(out, fmt.Sprintf("%s:%v", m["value"], m["primary"] == true))
		}
		return strings.Join(out, " ")
	}
	steps := []struct {
		name      string
		body      []byte
		want, hub string
	}{
		{"add a value as primary", patchBody("add", "emails", []any{map[string]any{"value": "c@x.org", "type": "work", "primary": true}}),
			"a@x.org:false b@x.org:false c@x.org:true", "c@x.org"},
		{"a value filter path sets primary", patchBody("replace", `emails[value eq "b@x.org"].primary`, true),
			"a@x.org:false b@x.org:true c@x.org:false", "b@x.org"},
		{`path-less, "True" as Entra sends it`, patchBody("replace", "", map[string]any{`emails[value eq "a@x.org"].primary`: "True"}),
			"a@x.org:true b@x.org:false c@x.org:false", "a@x.org"},
	}
	for _, st := range steps {
		code, res := h.do("PATCH", "/scim/v2/Users/"+id, st.body)
		if code != 200 || primaries(res) != st.want {
			t.Errorf("%s = %d %v, want %s", st.name, code, res, st.want)
			continue
		}
		if u := h.user("kim"); u.Email != st.hub {
			t.Errorf("%s: the hub's e-mail is %s, want %s", st.name, u.Email, st.hub)
		}
	}
	two := `{"userName":"kim","emails":[{"value":"a@x.org","primary":true},{"value":"b@x.org","primary":true}]}`
	code, res := h.do("PUT", "/scim/v2/Users/"+id, []byte(two))
	wantError(t, "PUT with two primaries", code, res, 400, "invalidValue", "emails")
	code, res = h.do("POST", "/scim/v2/Users", []byte(strings.Replace(two, "kim", "lee", 1)))
	wantError(t, "POST with two primaries", code, res, 400, "invalidValue", "emails")
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
	code, res = h.do("PATCH", "/scim/v2/Users/"+id, patchBody("remove", "displayName", nil))
	wantError(t, "PATCH remove of a field the source does not master", code, res, 400, "mutability", "displayName")
	if code, res = h.do("PATCH", "/scim/v2/Users/"+id, patchBody("add", "name.givenName", "Kim")); code != 200 {
		t.Errorf("PATCH add a field the hub holds no value of = %d %v", code, res)
	}
	if code, res = h.do("PATCH", "/scim/v2/Users/"+id, patchBody("remove", "title", nil)); code != 200 || res["title"] != nil {
		t.Errorf("PATCH remove of a mastered field = %d %v", code, res)
	}
	if code, res = h.do("PATCH", "/scim/v2/Users/"+id, patchBody("replace", "title", "Lead")); code != 200 {
		t.Errorf("PATCH a mastered field = %d %v", code, res)
	}
	if u := h.user("kim"); u.DisplayName != "Kim Lee" || u.GivenName != "Kim" || u.Title != "Lead" {
		t.Errorf("hub user %+v", u.Profile)
	}
}
