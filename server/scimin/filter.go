package scimin

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/scim2/filter-parser/v2"
)

// Bounds of a filter or a PATCH path, checked before the parser sees it:
// the parser backtracks and recurses, so that a filter of 20 KB costs it a
// second and 200 KB of parentheses overflow the hub's stack. Real clients
// send one or two comparisons.
const (
	maxFilterBytes = 4 << 10
	maxFilterDepth = 16 // nested ( and [
	maxFilterTerms = 64 // comparisons joined by and, or
)

// checkFilter refuses a filter (or a path, which may hold one) over the
// bounds, naming the bound.
func checkFilter(s string) error {
	if len(s) > maxFilterBytes {
		return fmt.Errorf("%d bytes long, over the limit of %d bytes", len(s), maxFilterBytes)
	}
	depth, terms := 0, 1
	inString, word := false, -1 // word: where the current word starts, or -1
	for i := 0; i <= len(s); i++ {
		c := byte(' ')
		if i < len(s) {
			c = s[i]
		}
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		if isWordByte(c) {
			if word < 0 {
				word = i
			}
			continue
		}
		if word >= 0 {
			if w := s[word:i]; strings.EqualFold(w, "and") || strings.EqualFold(w, "or") {
				if terms++; terms > maxFilterTerms {
					return fmt.Errorf("more than %d terms joined by and/or, the limit", maxFilterTerms)
				}
			}
			word = -1
		}
		switch c {
		case '"':
			inString = true
		case '(', '[':
			if depth++; depth > maxFilterDepth {
				return fmt.Errorf("nested more than %d levels deep, the limit", maxFilterDepth)
			}
		case ')', ']':
			depth--
		}
	}
	return nil
}

// isWordByte reports whether c may be part of an attribute name or a
// keyword.
func isWordByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c == ':' || c == '$' ||
		'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// supported refuses what the endpoint does not evaluate: an ordering
// operator (gt, ge, lt, le) on a boolean, a binary or a complex attribute
// (RFC 7644 §3.4.2.2), and a dateTime compared with what is not one. An attribute
// the schema does not define matches nothing.
func (rt *resourceType) supported(e filter.Expression) error {
	return rt.supportedIn(nil, e)
}

// supportedIn checks e within the elements of multi-valued attribute in
// (nil: the resource).
func (rt *resourceType) supportedIn(in *attribute, e filter.Expression) error {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		a := rt.attrOf(in, x.AttributePath)
		if a == nil {
			return nil
		}
		switch x.Operator {
		case filter.GT, filter.GE, filter.LT, filter.LE:
			if a.typ == "boolean" || a.typ == "binary" || a.typ == "complex" {
				return fmt.Errorf("%s is a %s: %s compares strings and dateTimes only", pathString(x.AttributePath), a.typ, x.Operator)
			}
		}
		if a.typ == "dateTime" && x.Operator != filter.PR {
			if _, err := time.Parse(time.RFC3339Nano, scalar(x.CompareValue)); err != nil {
				return fmt.Errorf("%s is a dateTime: %q is not one (RFC 3339, as 2024-05-13T04:42:34Z)", pathString(x.AttributePath), scalar(x.CompareValue))
			}
		}
		return nil
	case *filter.LogicalExpression:
		if err := rt.supportedIn(in, x.Left); err != nil {
			return err
		}
		return rt.supportedIn(in, x.Right)
	case *filter.NotExpression:
		return rt.supportedIn(in, x.Expression)
	case *filter.ValuePath:
		t, err := rt.resolve(x.AttributePath)
		if err != nil || t.attr == nil {
			return nil
		}
		return rt.supportedIn(t.attr, x.ValueFilter)
	}
	return fmt.Errorf("unsupported expression %v", e)
}

// attrOf is the attribute a filter's path compares: a sub-attribute of in
// (within a value path), else an attribute of the resource (for a
// multi-valued complex one without a sub-attribute, its value). Nil when
// the schema does not define it.
func (rt *resourceType) attrOf(in *attribute, p filter.AttributePath) *attribute {
	if in != nil {
		return in.sub(p.AttributeName)
	}
	t, err := rt.resolve(p)
	if err != nil || t.attr == nil {
		return nil
	}
	if t.sub == nil && t.attr.typ == "complex" && t.attr.multi {
		if v := t.attr.sub("value"); v != nil {
			return v
		}
	}
	return t.leaf()
}

// matches evaluates e against a resource whose attribute names are
// lower-cased.
func (rt *resourceType) matches(e filter.Expression, res map[string]any) bool {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		return compareAny(values(rt, res, x.AttributePath), x, rt.attrOf(nil, x.AttributePath))
	case *filter.LogicalExpression:
		if x.Operator == filter.AND {
			return rt.matches(x.Left, res) && rt.matches(x.Right, res)
		}
		return rt.matches(x.Left, res) || rt.matches(x.Right, res)
	case *filter.NotExpression:
		return !rt.matches(x.Expression, res)
	case *filter.ValuePath:
		var in *attribute
		if t, err := rt.resolve(x.AttributePath); err == nil {
			in = t.attr
		}
		for _, el := range elements(container(rt, res, x.AttributePath)[strings.ToLower(x.AttributePath.AttributeName)]) {
			if m, ok := el.(map[string]any); ok && matchesIn(in, x.ValueFilter, m) {
				return true
			}
		}
	}
	return false
}

// matchesIn evaluates e against one element (lower-cased names) of
// multi-valued attribute in (nil when unknown).
func matchesIn(in *attribute, e filter.Expression, el map[string]any) bool {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		var a *attribute
		if in != nil {
			a = in.sub(x.AttributePath.AttributeName)
		}
		return compareAny(values(nil, el, x.AttributePath), x, a)
	case *filter.LogicalExpression:
		if x.Operator == filter.AND {
			return matchesIn(in, x.Left, el) && matchesIn(in, x.Right, el)
		}
		return matchesIn(in, x.Left, el) || matchesIn(in, x.Right, el)
	case *filter.NotExpression:
		return !matchesIn(in, x.Expression, el)
	}
	return false
}

// container is the object an attribute path's name lives in within a
// resource of type rt (nil: an element of a multi-valued attribute): the
// resource (a name without a URI, or with the core schema's), or its
// extension object.
func container(rt *resourceType, res map[string]any, p filter.AttributePath) map[string]any {
	if p.URIPrefix == nil || (rt != nil && strings.EqualFold(*p.URIPrefix, rt.core.id)) {
		return res
	}
	m, _ := res[strings.ToLower(*p.URIPrefix)].(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

// values are the simple values a path selects in a resource of type rt
// (nil: in an element): a multi-valued complex attribute without a
// sub-attribute selects its elements' "value".
func values(rt *resourceType, res map[string]any, p filter.AttributePath) []any {
	v, ok := container(rt, res, p)[strings.ToLower(p.AttributeName)]
	if !ok || v == nil {
		return nil
	}
	sub := "value"
	if p.SubAttribute != nil {
		sub = strings.ToLower(*p.SubAttribute)
	}
	var out []any
	for _, el := range elements(v) {
		if m, ok := el.(map[string]any); ok {
			if sv, ok := m[sub]; ok && sv != nil {
				out = append(out, sv)
			}
			continue
		}
		if p.SubAttribute == nil {
			out = append(out, el)
		}
	}
	return out
}

func elements(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// compareAny reports whether any of the values passes x, compared as
// attribute a says: a dateTime as a point in time, a caseExact string
// exactly, any other without regard to case (RFC 7644 §3.4.2.2); an
// attribute the schema does not define compares as a string without
// regard to case.
func compareAny(vs []any, x *filter.AttributeExpression, a *attribute) bool {
	if x.Operator == filter.PR {
		for _, v := range vs {
			if s, ok := v.(string); !ok || s != "" {
				return true
			}
		}
		return false
	}
	if x.Operator == filter.NE {
		eq := *x
		eq.Operator = filter.EQ
		return !compareAny(vs, &eq, a)
	}
	exact := a != nil && a.caseExact
	dateTime := a != nil && a.typ == "dateTime"
	want := scalar(x.CompareValue)
	if !exact {
		want = strings.ToLower(want)
	}
	for _, v := range vs {
		got := scalar(v)
		if !exact {
			got = strings.ToLower(got)
		}
		c := strings.Compare(got, want)
		if dateTime {
			g, err1 := time.Parse(time.RFC3339Nano, scalar(v))
			w, err2 := time.Parse(time.RFC3339Nano, scalar(x.CompareValue))
			if err1 != nil || err2 != nil {
				continue
			}
			c = g.Compare(w)
		}
		var ok bool
		switch x.Operator {
		case filter.EQ:
			ok = c == 0
		case filter.CO:
			ok = strings.Contains(got, want)
		case filter.SW:
			ok = strings.HasPrefix(got, want)
		case filter.EW:
			ok = strings.HasSuffix(got, want)
		case filter.GT:
			ok = c > 0
		case filter.GE:
			ok = c >= 0
		case filter.LT:
			ok = c < 0
		case filter.LE:
			ok = c <= 0
		}
		if ok {
			return true
		}
	}
	return false
}

// scalar renders a simple value for comparison.
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return strings.ReplaceAll(x, `\"`, `"`)
	case json.Number:
		return x.String()
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// eqValue returns the compared value of a filter "NAME eq VALUE" (no
// sub-attribute, no URI), so an index can answer it.
func eqValue(e filter.Expression, name string) (string, bool) {
	x, ok := e.(*filter.AttributeExpression)
	if !ok || x.Operator != filter.EQ || x.AttributePath.URIPrefix != nil || x.AttributePath.SubAttribute != nil ||
		!strings.EqualFold(x.AttributePath.AttributeName, name) {
		return "", false
	}
	return scalar(x.CompareValue), true
}
