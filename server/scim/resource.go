package scim

import (
	"encoding/json"
	"strings"
)

// Schema URIs (RFC 7643 §8.7, RFC 7644 §3.5.2).
const (
	UserSchema           = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupSchema          = "urn:ietf:params:scim:schemas:core:2.0:Group"
	EnterpriseUserSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	PatchOpSchema        = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// coreSchemaPrefix starts the URI of every core schema; an attribute path
// under it addresses the resource's top level.
const coreSchemaPrefix = "urn:ietf:params:scim:schemas:core:2.0:"

// Resource is a SCIM resource as its JSON object: core attributes at the top,
// an extension's attributes in an object under its schema URI, e.g.
//
//	scim.Resource{
//		"userName": "ada@example.com",
//		"name":     map[string]any{"givenName": "Ada", "familyName": "Lovelace"},
//		"emails":   []any{map[string]any{"value": "ada@example.com", "type": "work", "primary": true}},
//		scim.EnterpriseUserSchema: map[string]any{"department": "R&D"},
//	}
//
// The client fills in "schemas" when it is missing. Resources decoded from an
// application hold JSON types (string, bool, float64, []any, map[string]any).
type Resource map[string]any

// ID returns the id the application gave the resource.
func (r Resource) ID() string { return r.str("id") }

// ExternalID returns the client's id for the resource (the hub's id).
func (r Resource) ExternalID() string { return r.str("externalId") }

// UserName returns a user's userName.
func (r Resource) UserName() string { return r.str("userName") }

// DisplayName returns the displayName (a group's name).
func (r Resource) DisplayName() string { return r.str("displayName") }

// Active returns a user's active flag and whether the resource has one.
func (r Resource) Active() (active, ok bool) {
	active, ok = r["active"].(bool)
	return active, ok
}

// Members returns the member ids (members[].value) of a group.
func (r Resource) Members() []string {
	list, _ := r["members"].([]any)
	out := make([]string, 0, len(list))
	for _, m := range list {
		if obj, ok := m.(map[string]any); ok {
			if v, ok := obj["value"].(string); ok {
				out = append(out, v)
			}
		}
	}
	return out
}

func (r Resource) str(name string) string {
	s, _ := r[name].(string)
	return s
}

// Get returns the value at an attribute path: "title", "name.givenName", or
// one with a schema URI such as EnterpriseUserSchema+":manager.value". It
// returns nil when the path is absent.
func (r Resource) Get(path string) any {
	obj, names := r.locate(path, false)
	var v any = map[string]any(obj)
	for _, n := range names {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[n]
	}
	return v
}

// Set stores v at an attribute path (see Get), creating the objects on the
// way; a nil v removes the attribute.
func (r Resource) Set(path string, v any) {
	obj, names := r.locate(path, true)
	m := map[string]any(obj)
	for _, n := range names[:len(names)-1] {
		next, ok := m[n].(map[string]any)
		if !ok {
			if v == nil {
				return
			}
			next = map[string]any{}
			m[n] = next
		}
		m = next
	}
	last := names[len(names)-1]
	if v == nil {
		delete(m, last)
	} else {
		m[last] = v
	}
	if uri, _ := splitURN(path); uri != "" && !strings.HasPrefix(uri, coreSchemaPrefix) {
		if ext, ok := r[uri].(map[string]any); ok && len(ext) == 0 {
			delete(r, uri)
		}
	}
}

// locate splits path into the object it starts in (the resource, or an
// extension's object) and the attribute names within it.
func (r Resource) locate(path string, create bool) (map[string]any, []string) {
	uri, rest := splitURN(path)
	names := strings.Split(rest, ".")
	if uri == "" || strings.HasPrefix(uri, coreSchemaPrefix) {
		return r, names
	}
	ext, ok := r[uri].(map[string]any)
	if !ok {
		ext = map[string]any{}
		if create {
			r[uri] = ext
		}
	}
	return ext, names
}

// splitURN splits "urn:…:User:manager.value" into the schema URI and the
// attribute path after its last colon; a path without "urn:" has no URI.
func splitURN(path string) (uri, rest string) {
	if !isURN(path) {
		return "", path
	}
	i := strings.LastIndexByte(path, ':')
	return path[:i], path[i+1:]
}

// Clone returns a deep copy of r.
func (r Resource) Clone() Resource {
	if r == nil {
		return nil
	}
	return Resource(cloneValue(map[string]any(r)).(map[string]any))
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = cloneValue(e)
		}
		return out
	case Resource:
		return cloneValue(map[string]any(v))
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneValue(e)
		}
		return out
	case []string:
		return append([]string(nil), v...)
	}
	return v
}

// withSchemas returns a shallow copy of r whose "schemas" lists core and the
// URI of every extension object r carries, unless r lists them itself.
func withSchemas(r Resource, core string) Resource {
	out := make(Resource, len(r)+1)
	for k, v := range r {
		out[k] = v
	}
	if _, ok := r["schemas"]; ok {
		return out
	}
	schemas := []string{core}
	for k, v := range r {
		if _, isObj := v.(map[string]any); isObj && isURN(k) {
			schemas = append(schemas, k)
		}
	}
	out["schemas"] = schemas
	return out
}

// sameJSON reports whether a and b encode to the same JSON, so that []string
// and []any, or int and float64, holding the same values compare equal.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}
