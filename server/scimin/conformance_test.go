package scimin_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// TestConformance is a generic SCIM client's view of the endpoint: it
// reads /ResourceTypes and /Schemas and, for every attribute a schema
// calls writable, creates a resource with it, reads it back, patches it
// (replace, add, remove; each sub-attribute of a complex one, replaced
// and removed; a value of a multi-valued one by a value filter;
// path-less), and puts the resource with it and without it, checking each
// time that what it reads back is what it sent — no list of attributes of
// its own. An immutable attribute must take its value at creation and
// refuse another; a required one must refuse its removal; a removed one
// must read as on a resource created without it; a writeOnly one that is
// never returned must be taken by every write and never shown.
func TestConformance(t *testing.T) {
	h := newHub(t)
	c := &generic{t: t, h: h}
	for _, rt := range c.resourceTypes() {
		t.Run(rt.name, func(t *testing.T) {
			c.t = t
			base := c.get(rt, c.create(rt, nil))
			for _, s := range rt.schemas {
				for _, a := range s.attrs {
					if a.Mutability == "readOnly" {
						continue
					}
					t.Run(a.Name, func(t *testing.T) {
						c.t = t
						if a.Returned == "never" {
							c.writeOnly(rt, s, a)
							return
						}
						c.walk(rt, s, a, base)
					})
				}
			}
		})
	}
}

// generic is the client: it knows SCIM, not this endpoint.
type generic struct {
	t     *testing.T
	h     *hub
	n     int      // values made so far: each is new
	users []string // users made to be referenced
}

type schemaAttr struct {
	Name            string        `json:"name"`
	Type            string        `json:"type"`
	MultiValued     bool          `json:"multiValued"`
	Required        bool          `json:"required"`
	Mutability      string        `json:"mutability"`
	Returned        string        `json:"returned"`
	CanonicalValues []string      `json:"canonicalValues"`
	ReferenceTypes  []string      `json:"referenceTypes"`
	SubAttributes   []*schemaAttr `json:"subAttributes"`
}

type genericSchema struct {
	ID         string        `json:"id"`
	Attributes []*schemaAttr `json:"attributes"`
	core       bool
	attrs      []*schemaAttr
}

type genericType struct {
	name, endpoint string
	schemas        []*genericSchema
}

func (c *generic) resourceTypes() []*genericType {
	c.t.Helper()
	code, list := c.h.do("GET", "/scim/v2/ResourceTypes", nil)
	if code != 200 {
		c.t.Fatalf("GET /ResourceTypes = %d %v", code, list)
	}
	var out []*genericType
	for _, r := range list["Resources"].([]any) {
		m := r.(map[string]any)
		rt := &genericType{name: m["name"].(string), endpoint: m["endpoint"].(string)}
		uris := []string{m["schema"].(string)}
		exts, _ := m["schemaExtensions"].([]any)
		for _, e := range exts {
			uris = append(uris, e.(map[string]any)["schema"].(string))
		}
		for i, uri := range uris {
			code, raw := c.h.do("GET", "/scim/v2/Schemas/"+uri, nil)
			if code != 200 {
				c.t.Fatalf("GET /Schemas/%s = %d %v", uri, code, raw)
			}
			b, _ := json.Marshal(raw)
			s := &genericSchema{core: i == 0}
			if err := json.Unmarshal(b, s); err != nil {
				c.t.Fatal(err)
			}
			s.attrs = s.Attributes
			rt.schemas = append(rt.schemas, s)
		}
		out = append(out, rt)
	}
	if len(out) == 0 {
		c.t.Fatal("no resource types")
	}
	return out
}

// walk tests one writable attribute.
func (c *generic) walk(rt *genericType, s *genericSchema, a *schemaAttr, base map[string]any) {
	path := a.Name
	if !s.core {
		path = s.ID + ":" + a.Name
	}
	v1 := c.value(a)
	id := c.create(rt, map[string]any{path: v1})
	c.want(rt, id, s, a, v1, "after the create")
	if a.Mutability == "immutable" {
		c.patch(rt, id, "replace", path, v1, http.StatusOK)
		c.patch(rt, id, "replace", path, c.value(a), http.StatusBadRequest)
		c.put(rt, id, map[string]any{path: c.value(a)}, http.StatusBadRequest)
		c.want(rt, id, s, a, v1, "after the refused changes")
		return
	}
	v2 := c.value(a)
	c.patch(rt, id, "replace", path, v2, http.StatusOK)
	c.want(rt, id, s, a, v2, "after PATCH replace")
	if a.Type == "complex" && !a.MultiValued {
		for _, sub := range a.SubAttributes {
			if sub.Mutability == "readOnly" {
				continue
			}
			sv := c.value(sub)
			c.patch(rt, id, "replace", path+"."+sub.Name, sv, http.StatusOK)
			v2.(map[string]any)[sub.Name] = sv
			c.want(rt, id, s, a, v2, "after PATCH replace of "+sub.Name)
		}
		for _, sub := range a.SubAttributes {
			if sub.Mutability == "readOnly" || sub.Required {
				continue
			}
			// One sub-attribute removed: it reads unassigned, the
			// others stay.
			c.patch(rt, id, "remove", path+"."+sub.Name, nil, http.StatusOK)
			if delete(v2.(map[string]any), sub.Name); len(v2.(map[string]any)) == 0 {
				// The only one: the attribute is unassigned.
				c.unassigned(rt, id, s, a, base, "after PATCH remove of "+sub.Name)
				break
			}
			c.want(rt, id, s, a, v2, "after PATCH remove of "+sub.Name)
			if got, _ := c.pick(rt, c.get(rt, id), path).(map[string]any); got != nil && got[sub.Name] != nil {
				c.t.Errorf("after PATCH remove of %s: %s reads %v", sub.Name, a.Name, got)
			}
			break
		}
	}
	if a.MultiValued && a.Type == "complex" && sub(a, "value") != nil {
		more := c.value(a).([]any)[:1]
		c.patch(rt, id, "add", path, more, http.StatusOK)
		// A value added as primary leaves the others not primary (RFC
		// 7644 §3.5.2).
		kept := v2.([]any)
		if more[0].(map[string]any)["primary"] == true {
			kept = demoted(kept)
		}
		c.want(rt, id, s, a, append(append([]any{}, kept...), more...), "after PATCH add of a value")
		value := more[0].(map[string]any)["value"]
		c.patch(rt, id, "remove", fmt.Sprintf("%s[value eq %q]", path, value), nil, http.StatusOK)
		c.want(rt, id, s, a, kept, "after PATCH remove of that value")
	}
	v3 := c.value(a)
	pathless := map[string]any{a.Name: v3}
	if !s.core {
		pathless = map[string]any{s.ID: pathless}
	}
	c.patch(rt, id, "replace", "", pathless, http.StatusOK)
	c.want(rt, id, s, a, v3, "after a path-less PATCH replace")
	if a.Required {
		c.patch(rt, id, "remove", path, nil, http.StatusBadRequest)
		c.want(rt, id, s, a, v3, "after the refused remove of a required attribute")
	} else {
		c.patch(rt, id, "remove", path, nil, http.StatusOK)
		c.unassigned(rt, id, s, a, base, "after PATCH remove")
	}
	if !a.Required || !a.MultiValued {
		// add to the removed attribute, or to a single-valued one's
		// value, which it replaces (RFC 7644 §3.5.2.1).
		c.patch(rt, id, "add", path, v1, http.StatusOK)
		c.want(rt, id, s, a, v1, "after PATCH add")
	}
	v4 := c.value(a)
	c.put(rt, id, map[string]any{path: v4}, http.StatusOK)
	c.want(rt, id, s, a, v4, "after PUT")
	if !a.Required {
		c.put(rt, id, nil, http.StatusOK)
		c.unassigned(rt, id, s, a, base, "after a PUT without it")
	}
}

// writeOnly tests an attribute that is writable and never returned: a
// POST, a PATCH (with its path, path-less, remove) and a PUT with it are
// taken, and no answer shows it.
func (c *generic) writeOnly(rt *genericType, s *genericSchema, a *schemaAttr) {
	path := a.Name
	pathless := map[string]any{a.Name: c.value(a)}
	if !s.core {
		path = s.ID + ":" + a.Name
		pathless = map[string]any{s.ID: pathless}
	}
	id := c.create(rt, map[string]any{path: c.value(a)})
	c.hidden(rt, id, s, a, "after the create")
	c.patch(rt, id, "replace", path, c.value(a), http.StatusOK)
	c.patch(rt, id, "replace", "", pathless, http.StatusOK)
	c.patch(rt, id, "remove", path, nil, http.StatusOK)
	c.hidden(rt, id, s, a, "after the PATCHes")
	c.put(rt, id, map[string]any{path: c.value(a)}, http.StatusOK)
	c.hidden(rt, id, s, a, "after PUT")
}

// hidden checks that a resource does not show the attribute.
func (c *generic) hidden(rt *genericType, id string, s *genericSchema, a *schemaAttr, when string) {
	c.t.Helper()
	res := c.get(rt, id)
	if !s.core {
		res, _ = res[s.ID].(map[string]any)
	}
	if v, ok := res[a.Name]; ok {
		c.t.Errorf("%s: %s (returned never) reads %v", when, a.Name, v)
	}
}

// demoted is a copy of the values with primary false where it was true.
func demoted(list []any) []any {
	out := make([]any, len(list))
	for i, e := range list {
		m := map[string]any{}
		for k, v := range e.(map[string]any) {
			m[k] = v
		}
		if m["primary"] == true {
			m["primary"] = false
		}
		out[i] = m
	}
	return out
}

func sub(a *schemaAttr, name string) *schemaAttr {
	for _, s := range a.SubAttributes {
		if strings.EqualFold(s.Name, name) {
			return s
		}
	}
	return nil
}

// value makes a new value of an attribute: a multi-valued one gets two.
func (c *generic) value(a *schemaAttr) any {
	if a.MultiValued {
		return []any{c.one(a), c.one(a)}
	}
	return c.one(a)
}

func (c *generic) one(a *schemaAttr) any {
	c.n++
	n := c.n
	switch a.Type {
	case "complex":
		m := map[string]any{}
		ref := sub(a, "$ref")
		for _, s := range a.SubAttributes {
			if s.Mutability == "readOnly" {
				continue
			}
			if s.Name == "value" && ref != nil && contains(ref.ReferenceTypes, "User") {
				// What $ref points at: the id of a User.
				m[s.Name] = c.user(n)
				continue
			}
			m[s.Name] = c.one(s)
		}
		return m
	case "boolean":
		return n%2 == 0
	case "reference":
		return fmt.Sprintf("https://example.org/%s/%d", a.Name, n)
	case "binary":
		return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s %d", a.Name, n))
	case "dateTime":
		return fmt.Sprintf("2024-05-%02dT04:42:34Z", 1+n%28)
	}
	if len(a.CanonicalValues) > 0 {
		return a.CanonicalValues[n%len(a.CanonicalValues)]
	}
	return fmt.Sprintf("%s-%d", a.Name, n)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// user returns the id of a User to reference, a new one for each n.
func (c *generic) user(n int) string {
	c.t.Helper()
	code, res := c.h.do("POST", "/scim/v2/Users", fmt.Appendf(nil, `{"userName":"referenced-%d"}`, n))
	if code != http.StatusCreated {
		c.t.Fatalf("POST a user to reference = %d %v", code, res)
	}
	return res["id"].(string)
}

// body is a resource with the required attributes and attrs (by path; an
// extension's by its URN-prefixed path).
func (c *generic) body(rt *genericType, required map[string]any, attrs map[string]any) map[string]any {
	b := map[string]any{"schemas": []string{rt.schemas[0].ID}}
	for k, v := range required {
		b[k] = v
	}
	for k, v := range attrs {
		set := false
		for _, s := range rt.schemas[1:] {
			if name, ok := strings.CutPrefix(k, s.ID+":"); ok {
				ext, _ := b[s.ID].(map[string]any)
				if ext == nil {
					ext = map[string]any{}
					b[s.ID] = ext
				}
				ext[name] = v
				set = true
			}
		}
		if !set {
			b[k] = v
		}
	}
	return b
}

// required makes values of the required attributes.
func (c *generic) required(rt *genericType) map[string]any {
	m := map[string]any{}
	for _, a := range rt.schemas[0].attrs {
		if a.Required {
			m[a.Name] = c.value(a)
		}
	}
	return m
}

// create posts a resource with the required attributes and attrs.
func (c *generic) create(rt *genericType, attrs map[string]any) string {
	c.t.Helper()
	req := c.required(rt)
	for k := range attrs {
		delete(req, k)
	}
	b, _ := json.Marshal(c.body(rt, req, attrs))
	code, res := c.h.do("POST", "/scim/v2"+rt.endpoint, b)
	if code != http.StatusCreated {
		c.t.Fatalf("POST %s %s = %d %v", rt.endpoint, b, code, res)
	}
	for k, v := range attrs {
		if a := c.attr(rt, k); a != nil && a.Mutability != "immutable" && a.Returned != "never" && !roundTrips(c.pick(rt, res, k), v) {
			c.t.Errorf("POST answered %s = %v, want %v", k, c.pick(rt, res, k), v)
		}
	}
	return res["id"].(string)
}

func (c *generic) attr(rt *genericType, path string) *schemaAttr {
	for _, s := range rt.schemas {
		name := path
		if !s.core {
			var ok bool
			if name, ok = strings.CutPrefix(path, s.ID+":"); !ok {
				continue
			}
		}
		for _, a := range s.attrs {
			if a.Name == name {
				return a
			}
		}
	}
	return nil
}

// pick is the value of path in a resource.
func (c *generic) pick(rt *genericType, res map[string]any, path string) any {
	for _, s := range rt.schemas[1:] {
		if name, ok := strings.CutPrefix(path, s.ID+":"); ok {
			ext, _ := res[s.ID].(map[string]any)
			return ext[name]
		}
	}
	return res[path]
}

func (c *generic) get(rt *genericType, id string) map[string]any {
	c.t.Helper()
	code, res := c.h.do("GET", "/scim/v2"+rt.endpoint+"/"+id, nil)
	if code != 200 {
		c.t.Fatalf("GET %s/%s = %d %v", rt.endpoint, id, code, res)
	}
	return res
}

func (c *generic) patch(rt *genericType, id, op, path string, value any, want int) {
	c.t.Helper()
	o := map[string]any{"op": op}
	if path != "" {
		o["path"] = path
	}
	if value != nil {
		o["value"] = value
	}
	b, _ := json.Marshal(map[string]any{"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"}, "Operations": []any{o}})
	code, res := c.h.do("PATCH", "/scim/v2"+rt.endpoint+"/"+id, b)
	if code != want || (want == http.StatusBadRequest && res["scimType"] != "mutability") {
		c.t.Errorf("PATCH %s = %d %v, want %d", b, code, res, want)
	}
}

// put replaces the resource with its required attributes (as they are)
// and attrs.
func (c *generic) put(rt *genericType, id string, attrs map[string]any, want int) {
	c.t.Helper()
	cur := c.get(rt, id)
	req := map[string]any{}
	for _, a := range rt.schemas[0].attrs {
		if a.Required {
			req[a.Name] = cur[a.Name]
		}
	}
	for k := range attrs {
		delete(req, k)
	}
	b, _ := json.Marshal(c.body(rt, req, attrs))
	code, res := c.h.do("PUT", "/scim/v2"+rt.endpoint+"/"+id, b)
	if code != want || (want == http.StatusBadRequest && res["scimType"] != "mutability") {
		c.t.Errorf("PUT %s = %d %v, want %d", b, code, res, want)
	}
}

// want checks that the resource reads back v for the attribute.
func (c *generic) want(rt *genericType, id string, s *genericSchema, a *schemaAttr, v any, when string) {
	c.t.Helper()
	res := c.get(rt, id)
	got := res[a.Name]
	if !s.core {
		ext, _ := res[s.ID].(map[string]any)
		got = ext[a.Name]
	}
	if !roundTrips(got, v) {
		c.t.Errorf("%s: %s reads %v, want %v", when, a.Name, got, v)
	}
}

// unassigned checks that the attribute reads as on a resource created
// without it.
func (c *generic) unassigned(rt *genericType, id string, s *genericSchema, a *schemaAttr, base map[string]any, when string) {
	c.t.Helper()
	res := c.get(rt, id)
	got, want := res[a.Name], base[a.Name]
	if !s.core {
		ext, _ := res[s.ID].(map[string]any)
		got = ext[a.Name]
		ext, _ = base[s.ID].(map[string]any)
		want = ext[a.Name]
	}
	if !reflect.DeepEqual(got, want) {
		c.t.Errorf("%s: %s reads %v, want %v as on a resource created without it", when, a.Name, got, want)
	}
}

// roundTrips reports whether got holds what was sent: every attribute and
// sub-attribute sent, with its value; a multi-valued one with as many
// values, each matched by one of got's (the server may add readOnly
// sub-attributes, $ref, and order the values its own way).
func roundTrips(got, sent any) bool {
	switch s := sent.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range s {
			if !roundTrips(g[k], v) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(s) {
			return false
		}
		used := make([]bool, len(g))
	next:
		for _, sv := range s {
			for i, gv := range g {
				if !used[i] && roundTrips(gv, sv) {
					used[i] = true
					continue next
				}
			}
			return false
		}
		return true
	}
	return reflect.DeepEqual(got, sent)
}
