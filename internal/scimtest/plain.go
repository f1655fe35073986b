package scimtest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	"github.com/google/uuid"
	"github.com/scim2/filter-parser/v2"
)

// Plain is a second SCIM service provider built from
// github.com/elimity-com/scim, written apart from Server so that a client
// tested against both depends on the protocol rather than on one
// implementation's ways: a ResourceHandler over maps, as the library's
// documentation shows, with a PATCH interpreter of its own. It behaves as
// many applications do where Server does not: it answers PATCH with 204 No
// Content (the client must not expect the resource back), shows a group's
// members with a display, $ref and type of its own, filters with eq only
// (what a provisioning client needs to find a user or a group: anything
// else is 400 invalidFilter), and pages by 10. It has no faults and counts
// nothing.
type Plain struct {
	// URL is the base URL (http://127.0.0.1:port).
	URL string

	srv    *httptest.Server
	token  string
	mu     sync.Mutex
	users  *plainType
	groups *plainType
}

// plainPage is how many resources a page of Plain holds at most.
const plainPage = 10

// StartPlain serves a Plain on loopback for the test, taking bearer token
// token, until the test ends.
func StartPlain(t testing.TB, token string) *Plain {
	t.Helper()
	p := &Plain{token: token}
	p.users = &plainType{p: p, endpoint: "/Users", unique: "userName", items: map[string]*plainItem{}}
	p.groups = &plainType{p: p, endpoint: "/Groups", unique: "displayName", items: map[string]*plainItem{}}
	api, err := scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &scim.ServiceProviderConfig{
			DocumentationURI: optional.NewString("https://github.com/elimity-com/scim"),
			AuthenticationSchemes: []scim.AuthenticationScheme{{Type: scim.AuthenticationTypeOauthBearerToken,
				Name: "Bearer token", Description: "A bearer token", Primary: true}},
			MaxResults:       plainPage,
			SupportFiltering: true,
			SupportPatch:     true,
		},
		ResourceTypes: []scim.ResourceType{
			{ID: optional.NewString("User"), Name: "User", Endpoint: "/Users", Schema: schema.CoreUserSchema(),
				SchemaExtensions: []scim.SchemaExtension{{Schema: schema.ExtensionEnterpriseUser()}}, Handler: p.users},
			{ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups", Schema: schema.CoreGroupSchema(), Handler: p.groups},
		},
	})
	if err != nil {
		t.Fatalf("building the plain SCIM server: %v", err)
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+p.token {
			writeError(w, http.StatusUnauthorized, "", "a bearer token is required")
			return
		}
		api.ServeHTTP(w, r)
	}))
	p.URL = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

// plainItem is one stored resource.
type plainItem struct {
	attrs            map[string]any
	created, changed time.Time
	version          int
}

// plainType stores one resource type; it is elimity's ResourceHandler.
type plainType struct {
	p        *Plain
	endpoint string
	unique   string
	items    map[string]*plainItem
	order    []string
}

var _ scim.ResourceHandler = (*plainType)(nil)

// taken reports whether another resource than id holds attrs' unique name.
func (h *plainType) taken(id string, attrs map[string]any) bool {
	name, _ := attrs[h.unique].(string)
	for oid, it := range h.items {
		if other, _ := it.attrs[h.unique].(string); oid != id && strings.EqualFold(other, name) {
			return true
		}
	}
	return false
}

// resource is a stored resource as the library answers it: a group's
// members with what Plain adds of its own.
func (h *plainType) resource(id string, it *plainItem) scim.Resource {
	attrs := scim.ResourceAttributes{}
	for k, v := range it.attrs {
		attrs[k] = v
	}
	if h == h.p.groups {
		var members []any
		for _, m := range asList(it.attrs["members"]) {
			mm, _ := m.(map[string]any)
			v, _ := mm["value"].(string)
			el := map[string]any{"value": v, "$ref": h.p.URL + "/Users/" + v, "type": "User"}
			if u, ok := h.p.users.items[v]; ok {
				el["display"] = u.attrs["userName"]
			}
			members = append(members, el)
		}
		if members != nil {
			attrs["members"] = members
		}
	}
	var ext optional.String
	if s, ok := it.attrs["externalId"].(string); ok {
		ext = optional.NewString(s)
	}
	created, changed := it.created, it.changed
	return scim.Resource{ID: id, ExternalID: ext, Attributes: attrs,
		Meta: scim.Meta{Created: &created, LastModified: &changed, Version: `W/"` + strconv.Itoa(it.version) + `"`}}
}

// Create stores a new resource.
func (h *plainType) Create(_ *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	id := uuid.NewString()
	if h.taken(id, attrs) {
		return scim.Resource{}, scimerrors.ScimErrorUniqueness
	}
	now := time.Now().UTC()
	it := &plainItem{attrs: attrs, created: now, changed: now, version: 1}
	h.items[id] = it
	h.order = append(h.order, id)
	return h.resource(id, it), nil
}

// Get returns a resource.
func (h *plainType) Get(_ *http.Request, id string) (scim.Resource, error) {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	it, ok := h.items[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return h.resource(id, it), nil
}

// GetAll returns a page of the resources that pass an eq filter.
func (h *plainType) GetAll(_ *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	if v := params.FilterValidator; v != nil {
		if e, ok := v.GetFilter().(*filter.AttributeExpression); !ok || e.Operator != filter.EQ {
			return scim.Page{}, scimerrors.ScimErrorInvalidFilter
		}
	}
	var ids []string
	for _, id := range h.order {
		m := map[string]any{"id": id}
		for k, v := range h.items[id].attrs {
			m[k] = v
		}
		if params.FilterValidator == nil || params.FilterValidator.PassesFilter(m) == nil {
			ids = append(ids, id)
		}
	}
	page := scim.Page{TotalResults: len(ids), Resources: []scim.Resource{}}
	start := max(params.StartIndex, 1) - 1
	for i := start; i < len(ids) && i < start+min(params.Count, plainPage); i++ {
		page.Resources = append(page.Resources, h.resource(ids[i], h.items[ids[i]]))
	}
	return page, nil
}

// Replace replaces a resource (PUT).
func (h *plainType) Replace(_ *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	it, ok := h.items[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	if h.taken(id, attrs) {
		return scim.Resource{}, scimerrors.ScimErrorUniqueness
	}
	it.attrs, it.changed = attrs, time.Now().UTC()
	it.version++
	return h.resource(id, it), nil
}

// Delete removes a resource.
func (h *plainType) Delete(_ *http.Request, id string) error {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	if _, ok := h.items[id]; !ok {
		return scimerrors.ScimErrorResourceNotFound(id)
	}
	delete(h.items, id)
	h.order = slices.DeleteFunc(h.order, func(s string) bool { return s == id })
	return nil
}

// Patch applies the operations to a copy and stores it when all apply; it
// answers nothing (204).
func (h *plainType) Patch(_ *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	it, ok := h.items[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	attrs := deepCopy(it.attrs)
	for _, op := range ops {
		if err := plainApply(attrs, op); err != nil {
			return scim.Resource{}, err
		}
	}
	if h.taken(id, attrs) {
		return scim.Resource{}, scimerrors.ScimErrorUniqueness
	}
	it.attrs, it.changed = attrs, time.Now().UTC()
	it.version++
	return scim.Resource{}, nil
}

// plainApply applies one operation: a path-less value of attributes; an
// attribute, a sub-attribute or an extension's attribute; or, to remove
// values of a multi-valued attribute, a value filter "sub eq value".
func plainApply(attrs map[string]any, op scim.PatchOperation) error {
	if op.Path == nil {
		values, ok := op.Value.(map[string]any)
		if !ok {
			return scimerrors.ScimErrorInvalidValue
		}
		for k, v := range values {
			plainSet(attrs, op.Op, k, v)
		}
		return nil
	}
	p := *op.Path
	in := attrs
	if uri := p.AttributePath.URI(); uri != "" && !strings.EqualFold(uri, UserSchema) && !strings.EqualFold(uri, GroupSchema) {
		ext, _ := attrs[uri].(map[string]any)
		if ext == nil {
			ext = map[string]any{}
			attrs[uri] = ext
		}
		in = ext
	}
	name := p.AttributePath.AttributeName
	if p.ValueExpression != nil {
		e, ok := p.ValueExpression.(*filter.AttributeExpression)
		if !ok || e.Operator != filter.EQ || op.Op != scim.PatchOperationRemove {
			return scimerrors.ScimErrorInvalidPath
		}
		k := plainKey(in, name)
		in[k] = slices.DeleteFunc(slices.Clone(asList(in[k])), func(el any) bool {
			m, _ := el.(map[string]any)
			return m != nil && m[plainKey(m, e.AttributePath.AttributeName)] == e.CompareValue
		})
		return nil
	}
	if sub := p.AttributePath.SubAttributeName(); sub != "" {
		k := plainKey(in, name)
		m, _ := in[k].(map[string]any)
		if m == nil {
			m = map[string]any{}
			in[k] = m
		}
		plainSet(m, op.Op, sub, op.Value)
		return nil
	}
	plainSet(in, op.Op, name, op.Value)
	return nil
}

// plainSet adds (appending to a list the values not there yet), replaces
// or removes attribute name of m.
func plainSet(m map[string]any, op, name string, v any) {
	k := plainKey(m, name)
	switch op {
	case scim.PatchOperationRemove:
		delete(m, k)
	case scim.PatchOperationAdd:
		if list, ok := m[k].([]any); ok {
			for _, e := range asList(v) {
				if !slices.ContainsFunc(list, func(x any) bool { return plainValue(x) == plainValue(e) }) {
					list = append(list, e)
				}
			}
			m[k] = list
			return
		}
		m[k] = v
	default:
		m[k] = v
	}
}

// plainKey is the key m holds name under (names are case-insensitive),
// else name.
func plainKey(m map[string]any, name string) string {
	for k := range m {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return name
}

// plainValue is an element's value: its "value", else itself.
func plainValue(e any) any {
	if m, ok := e.(map[string]any); ok {
		return m["value"]
	}
	return e
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
