package scimin_test

import (
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
)

// TestReadmeTable: the inbound column of the README's table of RFC 7644
// features says "yes" where the endpoint does the feature and "no" where
// it does not, as /ServiceProviderConfig says and as a request finds.
func TestReadmeTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // feature → inbound column
	for _, line := range strings.Split(string(b), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) == 5 && strings.TrimSpace(cells[0]) == "" {
			rows[strings.TrimSpace(cells[1])] = strings.TrimSpace(cells[2])
		}
	}
	h := newHub(t)
	_, cfg := h.do("GET", "/scim/v2/ServiceProviderConfig", nil)
	supported := func(k string) func() bool {
		return func() bool { return cfg[k].(map[string]any)["supported"] == true }
	}
	answers := func(method, path, body string) func() bool {
		return func() bool {
			var b []byte
			if body != "" {
				b = []byte(body)
			}
			code, _ := h.do(method, path, b)
			return code == http.StatusOK
		}
	}
	id := h.create("/scim/v2/Users", `{"userName":"kim"}`)
	probes := []struct {
		feature string
		does    func() bool
	}{
		{"PATCH (§3.5.2) `add` `replace` `remove`, with a path", supported("patch")},
		{"filter `eq` (§3.4.2.2)", supported("filter")},
		{"sort `sortBy` `sortOrder` (§3.4.2.3)", supported("sort")},
		{"bulk (§3.7)", supported("bulk")},
		{"ETag: `meta.version`, `If-Match`, `If-None-Match` (§3.14)", supported("etag")},
		{"`/Me` (§3.11), changePassword", func() bool {
			code, _ := h.do("GET", "/scim/v2/Me", nil)
			return supported("changePassword")() || code != http.StatusNotImplemented
		}},
		{"bulk (§3.7)", func() bool {
			code, _ := h.do("POST", "/scim/v2/Bulk", []byte(`{"Operations":[]}`))
			return code != http.StatusNotImplemented
		}},
		{"`POST /Users/.search`, `/Groups/.search` (§3.4.3)", answers("POST", "/scim/v2/Users/.search", `{"filter":"userName eq \"kim\""}`)},
		{"`attributes`, `excludedAttributes` (§3.4.2.5)", answers("GET", "/scim/v2/Users/"+id+"?attributes=userName", "")},
		{"filter `ne` `co` `sw` `ew` `pr` `gt` `ge` `lt` `le`, `and` `or` `not`, value paths",
			answers("GET", "/scim/v2/Users?filter="+url.QueryEscape(`userName gt "a" and not (userName co "x") and meta.lastModified le "2999-01-01T00:00:00Z"`), "")},
		{"PATCH without a path (a value object)", answers("PATCH", "/scim/v2/Users/"+id, string(patchBody("replace", "", map[string]any{"title": "x"})))},
	}
	for _, p := range probes {
		col, ok := rows[p.feature]
		if !ok {
			t.Errorf("README: no row %q in the table of RFC 7644 features", p.feature)
			continue
		}
		want := "no"
		if p.does() {
			want = "yes"
		}
		if !strings.HasPrefix(col, want) {
			t.Errorf("README row %q says %q for /scim/v2/, the endpoint says %s", p.feature, col, want)
		}
	}
}
