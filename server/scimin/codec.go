package scimin

import (
	"fmt"
	"net/http"
	"strings"
)

// decode reads what a request body (lower-cased keys) holds of a resource
// type: each attribute a schema defines, its value checked against the
// attribute's type, with its names in canonical case. Attributes no schema
// defines, readOnly ones and those the schema says are ignored (password)
// are left out (RFC 7644 §3.3 lets a server ignore what it does not
// define; clients send password, groups, meta).
// An empty string, null or an empty list is unassigned (RFC 7643 §2.5). A
// value of the wrong type is a 400 invalidValue naming the attribute.
func (rt *resourceType) decode(body map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for _, s := range rt.schemas() {
		src, dst, prefix := body, out, ""
		if s != rt.core {
			v := body[strings.ToLower(s.id)]
			if v == nil {
				continue
			}
			m, ok := v.(map[string]any)
			if !ok {
				return nil, errorf(http.StatusBadRequest, "invalidValue", "%s: must be an object of the extension's attributes", s.id)
			}
			src, dst, prefix = m, map[string]any{}, s.id+":"
		}
		for _, a := range s.attrs {
			v, ok := src[strings.ToLower(a.name)]
			if !ok || !a.writable() || a.ignored {
				continue
			}
			cv, err := a.decode(v, prefix+a.name)
			if err != nil {
				return nil, err
			}
			if cv != nil {
				dst[a.name] = cv
			}
		}
		if s != rt.core && len(dst) > 0 {
			out[s.id] = dst
		}
	}
	return out, nil
}

// decode checks and canonicalises one attribute's value; nil is
// unassigned. A multi-valued attribute takes a single value as a list of
// one.
func (a *attribute) decode(v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if !a.multi {
		return a.decodeOne(v, path)
	}
	var out []any
	primaries := 0
	for i, e := range elements(v) {
		cv, err := a.decodeOne(e, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, err
		}
		if cv != nil {
			out = append(out, cv)
		}
		if m, ok := cv.(map[string]any); ok && m["primary"] == true {
			primaries++
		}
	}
	if primaries > 1 {
		// RFC 7643 §2.4: true at most once.
		return nil, errorf(http.StatusBadRequest, "invalidValue", "%s: %d values are primary, at most one may be", path, primaries)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func (a *attribute) decodeOne(v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch a.typ {
	case "complex":
		m, ok := v.(map[string]any)
		if !ok {
			if s, isStr := v.(string); isStr && !a.multi && a.sub("value") != nil {
				// manager as a bare id, as some clients send it.
				m = map[string]any{"value": s}
			} else {
				return nil, errorf(http.StatusBadRequest, "invalidValue", "%s: must be an object, not %s", path, kind(v))
			}
		}
		out := map[string]any{}
		for _, s := range a.subs {
			sv, ok := lookupFold(m, s.name)
			if !ok || !s.writable() {
				continue
			}
			cv, err := s.decode(sv, path+"."+s.name)
			if err != nil {
				return nil, err
			}
			if cv != nil {
				out[s.name] = cv
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	case "boolean":
		b, err := boolValue(v, false)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "invalidValue", "%s: must be a boolean, not %s", path, kind(v))
		}
		return b, nil
	default: // string, reference, binary
		s, ok := v.(string)
		if !ok {
			return nil, errorf(http.StatusBadRequest, "invalidValue", "%s: must be a string, not %s", path, kind(v))
		}
		if s = strings.TrimSpace(s); s == "" {
			return nil, nil
		}
		if a.closed {
			for _, c := range a.canonical {
				if strings.EqualFold(c, s) {
					return c, nil
				}
			}
			return nil, errorf(http.StatusBadRequest, "invalidValue", "%s: %q is not one of %s", path, s, strings.Join(a.canonical, ", "))
		}
		return s, nil
	}
}

// kind names the JSON type of a decoded value, for errors.
func kind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case nil:
		return "null"
	}
	return "a number"
}

// lookupFold returns m's value of key k, compared without regard to case.
func lookupFold(m map[string]any, k string) (any, bool) {
	if v, ok := m[k]; ok {
		return v, true
	}
	for mk, v := range m {
		if strings.EqualFold(mk, k) {
			return v, true
		}
	}
	return nil, false
}
