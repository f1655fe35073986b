package scimin

import (
	"net/http"
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

// patchOps reads a PatchOp body. Operation names are case-insensitive
// (Entra sends "Replace").
func patchOps(body map[string]any) ([]patchOp, error) {
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
			op.path = &p
		} else if op.op == "remove" {
			return nil, errorf(http.StatusBadRequest, "noTarget", "operation %d: remove needs a path", i+1)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// applyOp applies one operation to a resource with lower-cased names.
func applyOp(res map[string]any, op patchOp) error {
	if op.path != nil {
		return applyPath(res, op.op, *op.path, op.value)
	}
	// No path: the value holds attributes of the resource, by name (or
	// dotted path), an extension's by its schema URI.
	values, ok := op.value.(map[string]any)
	if !ok {
		return errorf(http.StatusBadRequest, "invalidValue", "an operation without a path needs an object value")
	}
	for k, v := range values {
		if strings.HasPrefix(k, "urn:") {
			if sub, ok := v.(map[string]any); ok {
				uri := k
				for name, sv := range sub {
					p := filter.Path{AttributePath: filter.AttributePath{URIPrefix: &uri, AttributeName: name}}
					if err := applyPath(res, op.op, p, sv); err != nil {
						return err
					}
				}
				continue
			}
		}
		if err := checkFilter(k); err != nil {
			return errorf(http.StatusBadRequest, "invalidPath", "attribute: %v", err)
		}
		p, err := filter.ParsePath([]byte(k))
		if err != nil {
			return errorf(http.StatusBadRequest, "invalidPath", "attribute %q: %v", k, err)
		}
		if err := applyPath(res, op.op, p, v); err != nil {
			return err
		}
	}
	return nil
}

func applyPath(res map[string]any, op string, p filter.Path, value any) error {
	target := res
	if p.AttributePath.URIPrefix != nil {
		uri := strings.ToLower(*p.AttributePath.URIPrefix)
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
		return applyFiltered(target, name, p.ValueExpression, sub, op, value)
	}
	if sub != "" {
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
	cur := target[name]
	switch op {
	case "remove":
		if value == nil {
			delete(target, name)
			return nil
		}
		// Entra removes members by listing them as the value.
		drop := elements(value)
		target[name] = slices.DeleteFunc(elements(cur), func(e any) bool { return containsElem(drop, e) })
	case "add":
		if list, ok := cur.([]any); ok {
			for _, v := range elements(value) {
				if !containsElem(list, v) {
					list = append(list, v)
				}
			}
			target[name] = list
			return nil
		}
		fallthrough
	default:
		// Replacing a complex attribute merges the sub-attributes given.
		if m, ok := cur.(map[string]any); ok {
			if vm, ok := value.(map[string]any); ok {
				for k, v := range vm {
					m[k] = v
				}
				return nil
			}
		}
		target[name] = value
	}
	return nil
}

// applyFiltered applies an operation to the elements of a multi-valued
// attribute that a value filter selects: emails[type eq "work"].value,
// members[value eq "ID"].
func applyFiltered(target map[string]any, name string, f filter.Expression, sub, op string, value any) error {
	list := elements(target[name])
	hit := false
	for _, el := range list {
		m, ok := el.(map[string]any)
		if !ok || !matches(f, m) {
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
			return ok && matches(f, m)
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

// sameElem compares elements of a multi-valued attribute by their value.
func sameElem(a, b any) bool {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		return scalar(am["value"]) == scalar(bm["value"])
	}
	return scalar(a) == scalar(b)
}
