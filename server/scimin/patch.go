package scimin

import (
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/scim2/filter-parser/v2"
)

// patchOp is one operation of a PatchOp (RFC 7644 §3.5.2), its value with
// lower-cased attribute names.
type patchOp struct {
	op    string // add, replace or remove
	path  *filter.Path
	value any
}

// patchOps reads a PatchOp body and checks each operation's path against
// the schema: a path the schema does not define is a 400 invalidPath, one
// that names a readOnly attribute a 400 mutability (RFC 7644 §3.5.2), each
// naming the attribute. Operation names are case-insensitive (Entra sends
// "Replace").
func patchOps(rt *resourceType, body map[string]any) ([]patchOp, error) {
	list, ok := body["operations"].([]any)
	if !ok || len(list) == 0 {
		return nil, errorf(http.StatusBadRequest, "invalidSyntax", "a PatchOp needs Operations")
	}
	var ops []patchOp
	for i, o := range list {
		m, ok := o.(map[string]any)
		if !ok {
			return nil, errorf(http.StatusBadRequest, "invalidSyntax", "operation %d is not an object", i+1)
		}
		name, _ := m["op"].(string)
		op := patchOp{op: strings.ToLower(name), value: m["value"]}
		switch op.op {
		case "add", "replace", "remove":
		default:
			return nil, errorf(http.StatusBadRequest, "invalidSyntax", "operation %d: op %q must be add, replace or remove", i+1, name)
		}
		if s, _ := m["path"].(string); s != "" {
			if err := checkFilter(s); err != nil {
				return nil, errorf(http.StatusBadRequest, "invalidPath", "operation %d: path: %v", i+1, err)
			}
			p, err := filter.ParsePath([]byte(s))
			if err != nil {
				return nil, errorf(http.StatusBadRequest, "invalidPath", "operation %d: path %q: %v", i+1, s, err)
			}
			if err := rt.checkPath(p); err != nil {
				return nil, opError(i, err)
			}
			op.path = &p
		} else if op.op == "remove" {
			return nil, errorf(http.StatusBadRequest, "noTarget", "operation %d: remove needs a path", i+1)
		} else if err := rt.checkValue(op.value); err != nil {
			return nil, opError(i, err)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// opError says which operation an error is of.
func opError(i int, err error) error {
	if se, ok := err.(*scimError); ok {
		return errorf(se.status, se.scimType, "operation %d: %s", i+1, se.msg)
	}
	return err
}

// checkPath checks a PATCH path against the schema.
func (rt *resourceType) checkPath(p filter.Path) error {
	t, err := rt.resolve(p.AttributePath)
	if err != nil {
		return err
	}
	if p.ValueExpression != nil {
		if t.attr == nil || !t.attr.multi {
			return errorf(http.StatusBadRequest, "invalidPath", "%s: a value filter needs a multi-valued attribute", pathString(p.AttributePath))
		}
		if p.SubAttribute != nil {
			if t.sub = t.attr.sub(*p.SubAttribute); t.sub == nil {
				return errorf(http.StatusBadRequest, "invalidPath", "%s has no sub-attribute %s", t.attr.name, *p.SubAttribute)
			}
		}
	}
	if t.attr == nil {
		return nil // a whole extension
	}
	if l := t.leaf(); !l.writable() || !t.attr.writable() {
		return errorf(http.StatusBadRequest, "mutability", "%s: readOnly", pathString(p.AttributePath))
	}
	if t.sub != nil && t.attr.multi && t.sub.mutability == immutable {
		return errorf(http.StatusBadRequest, "mutability", "%s.%s: immutable: add or remove the value instead", t.attr.name, t.sub.name)
	}
	return nil
}

// checkValue checks the attributes a path-less add or replace names.
func (rt *resourceType) checkValue(v any) error {
	values, ok := v.(map[string]any)
	if !ok {
		return errorf(http.StatusBadRequest, "invalidValue", "an operation without a path needs an object value")
	}
	for k, v := range values {
		if k == "schemas" {
			continue
		}
		if s := rt.ext(k); s != nil {
			sub, ok := v.(map[string]any)
			if !ok {
				return errorf(http.StatusBadRequest, "invalidValue", "%s: must be an object of the extension's attributes", s.id)
			}
			for name := range sub {
				uri := s.id
				if err := rt.checkPath(filter.Path{AttributePath: filter.AttributePath{URIPrefix: &uri, AttributeName: name}}); err != nil {
					return err
				}
			}
			continue
		}
		if err := checkFilter(k); err != nil {
			return errorf(http.StatusBadRequest, "invalidPath", "attribute: %v", err)
		}
		p, err := filter.ParsePath([]byte(k))
		if err != nil {
			return errorf(http.StatusBadRequest, "invalidPath", "attribute %q: %v", k, err)
		}
		if t, err := rt.resolve(p.AttributePath); err == nil && t.attr != nil && !t.leaf().writable() {
			continue // applyOp takes it when it holds the resource's value
		}
		if err := rt.checkPath(p); err != nil {
			return err
		}
	}
	return nil
}

// checkPatched checks a resource a PATCH made (lower-cased keys) against
// the one it was made from: an immutable attribute that had a value keeps
// it, and a required attribute keeps one (RFC 7644 §3.5.2, §3.5.2.2: 400
// mutability, naming the attribute).
func (rt *resourceType) checkPatched(before, after map[string]any) error {
	return rt.eachAttr(before, after, func(attr *attribute, b, a map[string]any) error {
		if err := checkChange(attr, attr.name, b, a); err != nil {
			return err
		}
		bm, _ := b[strings.ToLower(attr.name)].(map[string]any)
		am, _ := a[strings.ToLower(attr.name)].(map[string]any)
		if attr.multi || attr.typ != "complex" {
			return nil
		}
		for _, sub := range attr.subs {
			if err := checkChange(sub, attr.name+"."+sub.name, bm, am); err != nil {
				return err
			}
		}
		return nil
	})
}

// eachAttr calls f with each attribute of the schemas and the objects it
// lives in within two resources with lower-cased keys (the resources, or
// their extension objects; nil when one has none), until f fails.
func (rt *resourceType) eachAttr(before, after map[string]any, f func(attr *attribute, b, a map[string]any) error) error {
	for _, s := range rt.schemas() {
		b, a := before, after
		if s != rt.core {
			b, _ = before[strings.ToLower(s.id)].(map[string]any)
			a, _ = after[strings.ToLower(s.id)].(map[string]any)
		}
		for _, attr := range s.attrs {
			if err := f(attr, b, a); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkChange(a *attribute, path string, before, after map[string]any) error {
	k := strings.ToLower(a.name)
	b, a2 := unassignedNil(before[k]), unassignedNil(after[k])
	switch {
	case a.required && a2 == nil:
		return errorf(http.StatusBadRequest, "mutability", "%s: required: it cannot be removed", path)
	case a.mutability == immutable && b != nil && !reflect.DeepEqual(b, a2):
		return errorf(http.StatusBadRequest, "mutability", "%s: immutable: it is %v and cannot change", path, scalar(b))
	case a.name == "externalId" && b == nil && a2 != nil:
		return errorf(http.StatusBadRequest, "mutability", "externalId: immutable: it is set when the resource is created, and this one was created without")
	}
	return nil
}

// demotePrimaries makes a PATCH that set a value's primary to true leave
// it the one primary value of its attribute: the others' primary become
// false (RFC 7644 §3.5.2). A value is set primary when it is primary in
// after and no same value (by its value, else whole) was in before.
func (rt *resourceType) demotePrimaries(before, after map[string]any) {
	_ = rt.eachAttr(before, after, func(attr *attribute, b, a map[string]any) error {
		if !attr.multi || attr.sub("primary") == nil || a == nil {
			return nil
		}
		k := strings.ToLower(attr.name)
		list, chosen := elements(a[k]), -1
		for i, e := range list {
			if m, ok := e.(map[string]any); ok && isPrimary(m) &&
				!slices.ContainsFunc(elements(b[k]), func(o any) bool { om, ok := o.(map[string]any); return ok && isPrimary(om) && sameElem(om, m) }) {
				chosen = i
			}
		}
		for i, e := range list {
			if m, ok := e.(map[string]any); ok && chosen >= 0 && i != chosen && isPrimary(m) {
				m["primary"] = false
			}
		}
		return nil
	})
}

// isPrimary reports whether a value of a multi-valued attribute (lower-
// cased names) is primary.
func isPrimary(m map[string]any) bool {
	p, _ := boolValue(m["primary"], false)
	return p
}

// unassignedNil maps the values RFC 7643 §2.5 calls unassigned to nil.
func unassignedNil(v any) any {
	switch x := v.(type) {
	case string:
		if strings.TrimSpace(x) == "" {
			return nil
		}
		return strings.TrimSpace(x)
	case []any:
		if len(x) == 0 {
			return nil
		}
	case map[string]any:
		if len(x) == 0 {
			return nil
		}
	}
	return v
}

// applyOp applies one operation to a resource with lower-cased names.
func applyOp(rt *resourceType, res map[string]any, op patchOp) error {
	if op.path != nil {
		return applyPath(rt, res, op.op, *op.path, op.value)
	}
	// No path: the value holds attributes of the resource, by name (or
	// dotted path), an extension's as an object under its schema URI.
	values, _ := op.value.(map[string]any)
	for k, v := range values {
		if k == "schemas" {
			continue
		}
		if s := rt.ext(k); s != nil {
			if err := applyExtension(res, s, op.op, v); err != nil {
				return err
			}
			continue
		}
		p, err := filter.ParsePath([]byte(k))
		if err != nil {
			return errorf(http.StatusBadRequest, "invalidPath", "attribute %q: %v", k, err)
		}
		if t, err := rt.resolve(p.AttributePath); err == nil && t.attr != nil && !t.leaf().writable() {
			// Okta sends the id with a path-less replace: a readOnly
			// attribute that holds the resource's value changes nothing.
			if !reflect.DeepEqual(unassignedNil(lowerKeys(v)), unassignedNil(res[strings.ToLower(k)])) {
				return errorf(http.StatusBadRequest, "mutability", "%s: readOnly", k)
			}
			continue
		}
		if err := applyPath(rt, res, op.op, p, v); err != nil {
			return err
		}
	}
	return nil
}

// applyExtension applies an operation whose target is a whole extension:
// its value is an object of the extension's attributes, each added or
// replaced as if named by its own path; remove removes them all.
func applyExtension(res map[string]any, s *schemaDef, op string, value any) error {
	uri := strings.ToLower(s.id)
	if op == "remove" {
		delete(res, uri)
		return nil
	}
	sub, ok := value.(map[string]any)
	if !ok {
		return errorf(http.StatusBadRequest, "invalidValue", "%s: the value must be an object of the extension's attributes", s.id)
	}
	m, ok := res[uri].(map[string]any)
	if !ok {
		m = map[string]any{}
		res[uri] = m
	}
	for name, v := range sub {
		setValue(m, name, op, v)
	}
	return nil
}

func applyPath(rt *resourceType, res map[string]any, op string, p filter.Path, value any) error {
	t, err := rt.resolve(p.AttributePath)
	if err != nil {
		return err
	}
	if t.attr == nil {
		return applyExtension(res, t.schema, op, value)
	}
	if t.attr.ignored {
		return nil // accepted and ignored, as /Schemas says
	}
	target := res
	if uri := t.key(rt); uri != "" {
		m, ok := res[uri].(map[string]any)
		if !ok {
			m = map[string]any{}
			res[uri] = m
		}
		target = m
	}
	name := strings.ToLower(p.AttributePath.AttributeName)
	// "name.givenName" parses as attribute name with a sub-attribute.
	sub := ""
	if p.AttributePath.SubAttribute != nil {
		sub = strings.ToLower(*p.AttributePath.SubAttribute)
	}
	if p.ValueExpression != nil {
		if p.SubAttribute != nil {
			sub = strings.ToLower(*p.SubAttribute)
		}
		return applyFiltered(t.attr, target, name, p.ValueExpression, sub, op, value)
	}
	if sub != "" {
		if t.attr.multi {
			// emails.value: every element's sub-attribute.
			for _, e := range elements(target[name]) {
				if m, ok := e.(map[string]any); ok {
					if op == "remove" {
						delete(m, sub)
					} else {
						m[sub] = value
					}
				}
			}
			return nil
		}
		m, ok := target[name].(map[string]any)
		if !ok {
			m = map[string]any{}
			target[name] = m
		}
		if op == "remove" {
			delete(m, sub)
		} else {
			m[sub] = value
		}
		return nil
	}
	if op == "remove" && value != nil && t.attr.multi {
		// Entra removes members by listing them as the value.
		drop := elements(value)
		target[name] = slices.DeleteFunc(elements(target[name]), func(e any) bool { return containsElem(drop, e) })
		return nil
	}
	setValue(target, name, op, value)
	return nil
}

// setValue adds, replaces or removes attribute name of target.
func setValue(target map[string]any, name, op string, value any) {
	name = strings.ToLower(name)
	cur := target[name]
	switch op {
	case "remove":
		delete(target, name)
	case "add":
		if list, ok := cur.([]any); ok {
			for _, v := range elements(value) {
				if !containsElem(list, v) {
					list = append(list, v)
				}
			}
			target[name] = list
			return
		}
		fallthrough
	default:
		// Replacing a complex attribute merges the sub-attributes given.
		if m, ok := cur.(map[string]any); ok {
			if vm, ok := value.(map[string]any); ok {
				for k, v := range vm {
					m[k] = v
				}
				return
			}
		}
		target[name] = value
	}
}

// applyFiltered applies an operation to the elements of a multi-valued
// attribute that a value filter selects: emails[type eq "work"].value,
// members[value eq "ID"].
func applyFiltered(a *attribute, target map[string]any, name string, f filter.Expression, sub, op string, value any) error {
	list := elements(target[name])
	hit := false
	for _, el := range list {
		m, ok := el.(map[string]any)
		if !ok || !matchesIn(a, f, m) {
			continue
		}
		hit = true
		switch {
		case op == "remove" && sub == "":
		case op == "remove":
			delete(m, sub)
		case sub != "":
			m[sub] = value
		default:
			if vm, ok := value.(map[string]any); ok {
				for k, v := range vm {
					m[k] = v
				}
			}
		}
	}
	if op == "remove" && sub == "" {
		target[name] = slices.DeleteFunc(list, func(e any) bool {
			m, ok := e.(map[string]any)
			return ok && matchesIn(a, f, m)
		})
		return nil
	}
	if !hit && op != "remove" {
		// Nothing matched: add an element that does, as Entra expects of
		// "add emails[type eq \"work\"].value".
		el := map[string]any{}
		if x, ok := f.(*filter.AttributeExpression); ok && x.Operator == filter.EQ {
			el[strings.ToLower(x.AttributePath.AttributeName)] = scalar(x.CompareValue)
		}
		if sub != "" {
			el[sub] = value
		} else if vm, ok := value.(map[string]any); ok {
			for k, v := range vm {
				el[k] = v
			}
		}
		target[name] = append(list, el)
		return nil
	}
	target[name] = list
	return nil
}

func containsElem(list []any, e any) bool {
	return slices.ContainsFunc(list, func(x any) bool { return sameElem(x, e) })
}

// sameElem compares elements of a multi-valued attribute by their value,
// else (an element without one: an address) whole.
func sameElem(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		if am["value"] == nil && bm["value"] == nil {
			return reflect.DeepEqual(am, bm)
		}
		return scalar(am["value"]) == scalar(bm["value"])
	}
	return scalar(a) == scalar(b)
}
