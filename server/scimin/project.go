package scimin

import (
	"errors"
	"net/http"
	"strings"

	"github.com/scim2/filter-parser/v2"
)

// projection is what a request's attributes and excludedAttributes ask of
// the resources it returns (RFC 7644 §3.4.2.5, §3.9): only the attributes
// named (with those returned always: id, schemas), or all but those named.
type projection struct {
	include, exclude []target
}

// projection reads the two lists of attribute names. A name the schema
// does not define is a 400 invalidPath naming it; both lists at once are
// a 400 invalidSyntax.
func (rt *resourceType) projection(attributes, excluded []string) (*projection, error) {
	if len(attributes) > 0 && len(excluded) > 0 {
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", "attributes and excludedAttributes: give one or the other")
	}
	p := &projection{}
	for _, l := range []struct {
		param string
		names []string
		to    *[]target
	}{{"attributes", attributes, &p.include}, {"excludedAttributes", excluded, &p.exclude}} {
		for _, n := range l.names {
			if n = strings.TrimSpace(n); n == "" {
				continue
			}
			if err := checkFilter(n); err != nil {
				return nil, errorf(http.StatusBadRequest, "invalidPath", "%s: %v", l.param, err)
			}
			ap, err := filter.ParseAttrPath([]byte(n))
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "invalidPath", "%s: %q is not an attribute name: %v", l.param, n, err)
			}
			t, err := rt.resolve(ap)
			if err != nil {
				var se *scimError
				if errors.As(err, &se) {
					se.msg = l.param + ": " + se.msg
				}
				return nil, err
			}
			*l.to = append(*l.to, t)
		}
	}
	if len(p.include) == 0 && len(p.exclude) == 0 {
		return nil, nil
	}
	return p, nil
}

// splitNames splits a query parameter's comma-separated names.
func splitNames(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// apply returns res (canonical names) as the projection asks; a nil
// projection returns it whole.
func (p *projection) apply(rt *resourceType, res map[string]any) map[string]any {
	if p == nil {
		return res
	}
	if len(p.include) > 0 {
		out := map[string]any{}
		for _, a := range commonAttrs {
			if a.returned == "always" {
				if v, ok := res[a.name]; ok {
					out[a.name] = v
				}
			}
		}
		for _, t := range p.include {
			from, to := res, out
			if k := t.schemaKey(rt); k != "" {
				ext, _ := res[k].(map[string]any)
				if ext == nil {
					continue
				}
				if t.attr == nil {
					out[k] = ext
					continue
				}
				m, _ := out[k].(map[string]any)
				if m == nil {
					m = map[string]any{}
					out[k] = m
				}
				from, to = ext, m
			}
			v, ok := from[t.attr.name]
			if !ok {
				continue
			}
			if t.sub == nil {
				to[t.attr.name] = v
				continue
			}
			to[t.attr.name] = pick(to[t.attr.name], v, t.sub.name)
		}
		return out
	}
	for _, t := range p.exclude {
		if t.attr != nil && t.attr.returned == "always" {
			continue
		}
		from := res
		if k := t.schemaKey(rt); k != "" {
			if t.attr == nil {
				delete(res, k)
				continue
			}
			from, _ = res[k].(map[string]any)
			if from == nil {
				continue
			}
		}
		if t.sub == nil {
			delete(from, t.attr.name)
			continue
		}
		switch v := from[t.attr.name].(type) {
		case map[string]any:
			delete(v, t.sub.name)
		case []any:
			for _, e := range v {
				if m, ok := e.(map[string]any); ok {
					delete(m, t.sub.name)
				}
			}
		}
	}
	return res
}

// pick adds sub-attribute sub of v (an object, or a list of objects) to
// what was picked of it before (have).
func pick(have, v any, sub string) any {
	switch x := v.(type) {
	case map[string]any:
		m, _ := have.(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		if sv, ok := x[sub]; ok {
			m[sub] = sv
		}
		return m
	case []any:
		list, _ := have.([]any)
		out := make([]any, len(x))
		for i, e := range x {
			var prev any
			if i < len(list) {
				prev = list[i]
			}
			out[i] = pick(prev, e, sub)
		}
		return out
	}
	return have
}

// schemaKey is the key of the object the target's attribute lives in
// within a resource with canonical names: "" for the resource itself, the
// extension's URI for an extension.
func (t target) schemaKey(rt *resourceType) string {
	if t.schema == nil || t.schema == rt.core {
		return ""
	}
	return t.schema.id
}
