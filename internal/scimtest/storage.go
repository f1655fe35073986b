package scimtest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	elfilter "github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
	"github.com/google/uuid"
	"github.com/scim2/filter-parser/v2"
)

// record is one stored resource. Its attrs map is never modified in place once
// stored (writers build a new map and swap it), so readers may hand it out
// after unlocking.
type record struct {
	id       string
	attrs    map[string]any
	created  time.Time
	modified time.Time
	version  int
}

// collection is the in-memory storage of one resource type; it implements
// elimity's ResourceHandler.
type collection struct {
	// unique names the attribute that must be unique case-insensitively
	// (userName for Users, displayName for Groups).
	unique string
	core   schema.Schema
	exts   []schema.Schema

	mu     sync.RWMutex
	byID   map[string]*record
	order  []string          // ids in creation order, for stable pages
	byName map[string]string // lower(unique attribute) → id
}

var _ scim.ResourceHandler = (*collection)(nil)

func newCollection(unique string, core schema.Schema, exts ...schema.Schema) *collection {
	return &collection{
		unique: unique,
		core:   core,
		exts:   exts,
		byID:   map[string]*record{},
		byName: map[string]string{},
	}
}

// uniqueKey returns the lower-cased unique attribute of attrs.
func (c *collection) uniqueKey(attrs map[string]any) string {
	s, _ := attrs[c.unique].(string)
	return strings.ToLower(s)
}

// claim checks that attrs' unique attribute is free (or held by id already);
// the caller holds c.mu for writing.
func (c *collection) claim(id string, attrs map[string]any) error {
	key := c.uniqueKey(attrs)
	if key == "" {
		return nil
	}
	if owner, ok := c.byName[key]; ok && owner != id {
		return scimerrors.ScimErrorUniqueness
	}
	return nil
}

// store saves attrs under rec (new or existing) and keeps the name index; the
// caller holds c.mu for writing and has called claim.
func (c *collection) store(rec *record, attrs map[string]any) {
	if old := rec.attrs; old != nil {
		if k := c.uniqueKey(old); c.byName[k] == rec.id {
			delete(c.byName, k)
		}
	}
	if k := c.uniqueKey(attrs); k != "" {
		c.byName[k] = rec.id
	}
	rec.attrs = attrs
	rec.modified = time.Now().UTC()
	rec.version++
}

func (c *collection) resource(rec *record) scim.Resource {
	attrs := make(scim.ResourceAttributes, len(rec.attrs))
	for k, v := range rec.attrs {
		// password is writeOnly and returned "never" (RFC 7643 §4.1.1).
		if k != "password" {
			attrs[k] = v
		}
	}
	var ext optional.String
	if s, ok := rec.attrs["externalId"].(string); ok {
		ext = optional.NewString(s)
	}
	created, modified := rec.created, rec.modified
	return scim.Resource{
		ID:         rec.id,
		ExternalID: ext,
		Attributes: attrs,
		Meta: scim.Meta{
			Created:      &created,
			LastModified: &modified,
			Version:      `W/"` + strconv.Itoa(rec.version) + `"`,
		},
	}
}

// Create stores a new resource.
func (c *collection) Create(_ *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	return c.insert(attrs)
}

func (c *collection) insert(attrs map[string]any) (scim.Resource, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec := &record{id: uuid.NewString(), created: time.Now().UTC()}
	if err := c.claim(rec.id, attrs); err != nil {
		return scim.Resource{}, err
	}
	c.store(rec, attrs)
	c.byID[rec.id] = rec
	c.order = append(c.order, rec.id)
	return c.resource(rec), nil
}

// Get returns one resource.
func (c *collection) Get(_ *http.Request, id string) (scim.Resource, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	rec, ok := c.byID[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	return c.resource(rec), nil
}

// GetAll returns one page of the resources that pass the filter.
func (c *collection) GetAll(_ *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var ids []string
	if params.FilterValidator == nil {
		ids = c.order
	} else {
		ids = c.match(params.FilterValidator)
	}
	page := scim.Page{TotalResults: len(ids), Resources: []scim.Resource{}}
	start := max(params.StartIndex, 1) - 1
	for i := start; i < len(ids) && i < start+params.Count; i++ {
		page.Resources = append(page.Resources, c.resource(c.byID[ids[i]]))
	}
	return page, nil
}

// Replace replaces every attribute of a resource (PUT).
func (c *collection) Replace(_ *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok := c.byID[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	if err := c.claim(id, attrs); err != nil {
		return scim.Resource{}, err
	}
	c.store(rec, attrs)
	return c.resource(rec), nil
}

// Delete removes a resource.
func (c *collection) Delete(_ *http.Request, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok := c.byID[id]
	if !ok {
		return scimerrors.ScimErrorResourceNotFound(id)
	}
	if k := c.uniqueKey(rec.attrs); c.byName[k] == id {
		delete(c.byName, k)
	}
	delete(c.byID, id)
	c.order = slices.DeleteFunc(c.order, func(s string) bool { return s == id })
	return nil
}

// Patch applies PATCH operations (RFC 7644 §3.5.2) to a copy of the resource
// and stores it when they all succeed: a failing request changes nothing.
func (c *collection) Patch(_ *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok := c.byID[id]
	if !ok {
		return scim.Resource{}, scimerrors.ScimErrorResourceNotFound(id)
	}
	attrs := deepCopy(rec.attrs)
	p := patcher{core: c.core, exts: c.exts}
	for _, op := range ops {
		if err := p.apply(attrs, op); err != nil {
			return scim.Resource{}, err
		}
	}
	if err := c.claim(id, attrs); err != nil {
		return scim.Resource{}, err
	}
	c.store(rec, attrs)
	return c.resource(rec), nil
}

// snapshot returns every resource as a client would read it (JSON types, with
// id and externalId), in creation order.
func (c *collection) snapshot() []map[string]any {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]map[string]any, 0, len(c.order))
	for _, id := range c.order {
		out = append(out, c.view(c.byID[id]))
	}
	return out
}

func (c *collection) one(id string) (map[string]any, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	rec, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	return c.view(rec), true
}

func (c *collection) count() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.order)
}

// view renders rec through JSON, so tests see exactly the types a client sees.
func (c *collection) view(rec *record) map[string]any {
	r := c.resource(rec)
	r.Attributes["id"] = r.ID
	b, err := json.Marshal(r.Attributes)
	if err != nil {
		panic("scimtest: stored resource does not marshal: " + err.Error())
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic("scimtest: stored resource does not unmarshal: " + err.Error())
	}
	return m
}

// deepCopy copies the JSON-shaped value tree of a resource.
func deepCopy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}

func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return deepCopy(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyValue(e)
		}
		return out
	default:
		return v
	}
}

// match returns the ids of the resources that pass v, in creation order. The
// common lookups (unique attribute or id equal to a value) use the index, so a
// benchmark's create-then-look-up traffic does not scan the whole store.
func (c *collection) match(v *elfilter.Validator) []string {
	expr := c.normalize(v.GetFilter())
	if e, ok := expr.(*filter.AttributeExpression); ok && e.Operator == filter.EQ && e.AttributePath.SubAttribute == nil {
		s, isString := e.CompareValue.(string)
		uri := e.AttributePath.URI()
		if isString && (uri == "" || strings.EqualFold(uri, c.core.ID)) {
			switch name := e.AttributePath.AttributeName; {
			case strings.EqualFold(name, c.unique):
				if id, ok := c.byName[strings.ToLower(s)]; ok {
					return []string{id}
				}
				return nil
			case strings.EqualFold(name, "id"):
				if _, ok := c.byID[s]; ok {
					return []string{s}
				}
				return nil
			}
		}
	}
	fv := elfilter.NewFilterValidator(expr, c.withCommon(), c.exts...)
	var ids []string
	for _, id := range c.order {
		rec := c.byID[id]
		m := make(map[string]any, len(rec.attrs)+1)
		for k, v := range rec.attrs {
			m[k] = v
		}
		m["id"] = id
		if passes(fv, m) {
			ids = append(ids, id)
		}
	}
	return ids
}

// withCommon returns the core schema with the common attributes (id,
// externalId, meta) filters may name.
func (c *collection) withCommon() schema.Schema {
	s := c.core
	s.Attributes = append(slices.Clip(s.Attributes), schema.CommonAttributes()...)
	return s
}

// normalize decodes the JSON escapes of string comparison values (the filter
// parser keeps them as written: userName eq "a\"b" would compare with a\"b)
// and rewrites emails.value eq "x" on a multi-valued attribute into the
// equivalent emails[value eq "x"], which elimity's matcher understands.
func (c *collection) normalize(e filter.Expression) filter.Expression {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		unescapeValue(e)
		if sub := e.AttributePath.SubAttributeName(); sub != "" && c.multiValued(e.AttributePath) {
			return &filter.ValuePath{
				AttributePath: filter.AttributePath{URIPrefix: e.AttributePath.URIPrefix, AttributeName: e.AttributePath.AttributeName},
				ValueFilter: &filter.AttributeExpression{
					AttributePath: filter.AttributePath{AttributeName: sub},
					Operator:      e.Operator,
					CompareValue:  e.CompareValue,
				},
			}
		}
	case *filter.LogicalExpression:
		e.Left = c.normalize(e.Left)
		e.Right = c.normalize(e.Right)
	case *filter.NotExpression:
		e.Expression = c.normalize(e.Expression)
	case *filter.ValuePath:
		unescape(e.ValueFilter)
	}
	return e
}

func (c *collection) multiValued(p filter.AttributePath) bool {
	for _, s := range append([]schema.Schema{c.core}, c.exts...) {
		if uri := p.URI(); uri != "" && !strings.EqualFold(uri, s.ID) {
			continue
		}
		if a, ok := s.Attributes.ContainsAttribute(p.AttributeName); ok {
			return a.MultiValued()
		}
	}
	return false
}
