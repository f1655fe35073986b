package scimtest

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	elfilter "github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/schema"
	"github.com/scim2/filter-parser/v2"
)

// patcher applies elimity-validated PATCH operations to a resource's
// attributes, following RFC 7644 §3.5.2: add appends to multi-valued
// attributes and merges complex ones, replace overwrites (merging complex
// single-valued ones), remove deletes, and a value filter selects elements of
// a multi-valued attribute.
type patcher struct {
	core schema.Schema
	exts []schema.Schema
}

func (p patcher) apply(attrs map[string]any, op scim.PatchOperation) error {
	if op.Path != nil {
		return p.applyPath(attrs, op.Op, *op.Path, op.Value)
	}
	// No path: the value is a set of attributes of the resource itself, keyed by
	// attribute path or, for an extension, by its schema URI.
	values, ok := op.Value.(map[string]any)
	if !ok {
		return scimerrors.ScimErrorInvalidValue
	}
	for key, v := range values {
		if ext, ok := p.extension(key); ok {
			sub, ok := v.(map[string]any)
			if !ok {
				return scimerrors.ScimErrorInvalidValue
			}
			for name, sv := range sub {
				path := filter.Path{AttributePath: filter.AttributePath{URIPrefix: &ext.ID, AttributeName: name}}
				if err := p.applyPath(attrs, op.Op, path, sv); err != nil {
					return err
				}
			}
			continue
		}
		path, err := filter.ParsePath([]byte(key))
		if err != nil {
			return scimerrors.ScimErrorInvalidPath
		}
		if err := p.applyPath(attrs, op.Op, path, v); err != nil {
			return err
		}
	}
	return nil
}

func (p patcher) extension(uri string) (schema.Schema, bool) {
	for _, e := range p.exts {
		if strings.EqualFold(e.ID, uri) {
			return e, true
		}
	}
	return schema.Schema{}, false
}

func (p patcher) applyPath(attrs map[string]any, op string, path filter.Path, value any) error {
	target, sch := attrs, p.core
	uri := path.AttributePath.URI()
	if uri != "" && !strings.EqualFold(uri, p.core.ID) {
		ext, ok := p.extension(uri)
		if !ok {
			return scimerrors.ScimErrorInvalidPath
		}
		sch = ext
		m, ok := attrs[ext.ID].(map[string]any)
		if !ok {
			if op == scim.PatchOperationRemove {
				return nil // nothing there to remove
			}
			m = map[string]any{}
		}
		target = m
		defer func() {
			if len(m) == 0 {
				delete(attrs, ext.ID)
			} else {
				attrs[ext.ID] = m
			}
		}()
	}
	def, ok := sch.Attributes.ContainsAttribute(path.AttributePath.AttributeName)
	if !ok {
		return scimerrors.ScimErrorInvalidPath
	}
	if path.ValueExpression != nil {
		return applyFiltered(target, def, path, op, value)
	}
	if sub := path.AttributePath.SubAttributeName(); sub != "" {
		subDef, ok := def.SubAttributes().ContainsAttribute(sub)
		if !ok {
			return scimerrors.ScimErrorInvalidPath
		}
		applySub(target, def, subDef.Name(), op, value)
		return nil
	}
	name := def.Name()
	switch {
	case op == scim.PatchOperationRemove && value != nil && def.MultiValued():
		// Remove the listed values only (the form Azure AD sends for members).
		list, _ := target[name].([]any)
		drop, _ := value.([]any)
		list = deleteFunc(list, func(e any) bool { return containsElem(drop, e) })
		setList(target, name, list)
	case op == scim.PatchOperationRemove:
		delete(target, name)
	case def.MultiValued() && op == scim.PatchOperationAdd:
		list, _ := target[name].([]any)
		add, _ := value.([]any)
		for _, e := range add {
			if !containsElem(list, e) {
				list = append(list, e)
			}
		}
		setList(target, name, list)
	case def.MultiValued():
		list, _ := value.([]any)
		setList(target, name, list)
	case def.HasSubAttributes():
		// Complex single-valued: given sub-attributes replace, others stay.
		m, _ := target[name].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		v, _ := value.(map[string]any)
		for k, sv := range v {
			m[k] = sv
		}
		target[name] = m
	default:
		target[name] = value
	}
	return nil
}

// applySub sets or removes one sub-attribute of a complex attribute (name.givenName);
// on a multi-valued attribute without a filter it applies to every element.
func applySub(target map[string]any, def schema.CoreAttribute, sub, op string, value any) {
	name := def.Name()
	set := func(m map[string]any) {
		if op == scim.PatchOperationRemove {
			delete(m, sub)
		} else {
			m[sub] = value
		}
	}
	if def.MultiValued() {
		list, _ := target[name].([]any)
		for _, e := range list {
			if m, ok := e.(map[string]any); ok {
				set(m)
			}
		}
		return
	}
	m, _ := target[name].(map[string]any)
	if m == nil {
		if op == scim.PatchOperationRemove {
			return
		}
		m = map[string]any{}
	}
	set(m)
	if len(m) == 0 {
		delete(target, name)
	} else {
		target[name] = m
	}
}

// applyFiltered applies op to the elements of a multi-valued attribute that
// pass the path's value filter (members[value eq "…"], emails[type eq "work"].value).
func applyFiltered(target map[string]any, def schema.CoreAttribute, path filter.Path, op string, value any) error {
	name := def.Name()
	sub := path.SubAttributeName()
	if sub != "" {
		subDef, ok := def.SubAttributes().ContainsAttribute(sub)
		if !ok {
			return scimerrors.ScimErrorInvalidPath
		}
		sub = subDef.Name()
	}
	unescape(path.ValueExpression)
	v := elfilter.NewFilterValidator(path.ValueExpression, schema.Schema{Attributes: elfilter.MultiValuedFilterAttributes(def)})
	list, _ := target[name].([]any)
	var out []any
	matched := false
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok || !passes(v, m) {
			out = append(out, e)
			continue
		}
		matched = true
		switch {
		case op == scim.PatchOperationRemove && sub == "":
			continue
		case op == scim.PatchOperationRemove:
			delete(m, sub)
		case sub != "":
			m[sub] = value
		default:
			if nv, ok := value.(map[string]any); ok {
				e = nv
			}
		}
		out = append(out, e)
	}
	// RFC 7644 §3.5.2.3: a replace whose filter matches nothing is noTarget. A
	// remove of something already gone succeeds, so retried removals are safe.
	if !matched && op != scim.PatchOperationRemove {
		return scimerrors.ScimErrorNoTarget
	}
	setList(target, name, out)
	return nil
}

func setList(target map[string]any, name string, list []any) {
	if len(list) == 0 {
		delete(target, name)
		return
	}
	target[name] = list
}

func deleteFunc(list []any, del func(any) bool) []any {
	var out []any
	for _, e := range list {
		if !del(e) {
			out = append(out, e)
		}
	}
	return out
}

// containsElem reports whether list holds e: complex values with a "value"
// sub-attribute match on it (a member is its id), others must be equal.
func containsElem(list []any, e any) bool {
	for _, x := range list {
		if sameElem(x, e) {
			return true
		}
	}
	return false
}

func sameElem(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		av, aHas := am["value"]
		bv, bHas := bm["value"]
		if aHas && bHas {
			return av == bv
		}
	}
	return reflect.DeepEqual(a, b)
}

// passes reports whether m passes the filter validator v. elimity's
// PassesFilter panics on a value of an unexpected type; that is a mismatch.
func passes(v elfilter.Validator, m map[string]any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return v.PassesFilter(m) == nil
}

// unescape decodes the JSON escapes of string comparison values in place: the
// filter parser keeps them as written (userName eq "a\"b" compares with a\"b).
func unescape(e filter.Expression) {
	switch e := e.(type) {
	case *filter.AttributeExpression:
		unescapeValue(e)
	case *filter.LogicalExpression:
		unescape(e.Left)
		unescape(e.Right)
	case *filter.NotExpression:
		unescape(e.Expression)
	case *filter.ValuePath:
		unescape(e.ValueFilter)
	}
}

func unescapeValue(e *filter.AttributeExpression) {
	if s, ok := e.CompareValue.(string); ok && strings.Contains(s, `\`) {
		var out string
		if json.Unmarshal([]byte(`"`+s+`"`), &out) == nil {
			e.CompareValue = out
		}
	}
}
