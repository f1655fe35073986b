package scimin

import (
	"encoding/json"
	"fmt"
	"strings"

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

// supported refuses the operators the endpoint does not evaluate.
func supported(e filter.Expression) error {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		switch x.Operator {
		case filter.EQ, filter.NE, filter.CO, filter.SW, filter.EW, filter.PR:
			return nil
		}
		return fmt.Errorf("operator %s is not supported (eq, ne, co, sw, ew, pr are)", x.Operator)
	case *filter.LogicalExpression:
		if err := supported(x.Left); err != nil {
			return err
		}
		return supported(x.Right)
	case *filter.NotExpression:
		return supported(x.Expression)
	case *filter.ValuePath:
		return supported(x.ValueFilter)
	}
	return fmt.Errorf("unsupported expression %v", e)
}

// matches evaluates e against a resource whose attribute names are
// lower-cased.
func matches(e filter.Expression, res map[string]any) bool {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		return compareAny(values(res, x.AttributePath), x)
	case *filter.LogicalExpression:
		if x.Operator == filter.AND {
			return matches(x.Left, res) && matches(x.Right, res)
		}
		return matches(x.Left, res) || matches(x.Right, res)
	case *filter.NotExpression:
		return !matches(x.Expression, res)
	case *filter.ValuePath:
		for _, el := range elements(container(res, x.AttributePath)[strings.ToLower(x.AttributePath.AttributeName)]) {
			if m, ok := el.(map[string]any); ok && matches(x.ValueFilter, m) {
				return true
			}
		}
	}
	return false
}

// container is the object an attribute path's name lives in: the resource,
// or its extension object.
func container(res map[string]any, p filter.AttributePath) map[string]any {
	if p.URIPrefix == nil {
		return res
	}
	m, _ := res[strings.ToLower(*p.URIPrefix)].(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

// values are the simple values a path selects: a multi-valued complex
// attribute without a sub-attribute selects its elements' "value".
func values(res map[string]any, p filter.AttributePath) []any {
	v, ok := container(res, p)[strings.ToLower(p.AttributeName)]
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

func compareAny(vs []any, x *filter.AttributeExpression) bool {
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
		return !compareAny(vs, &eq)
	}
	// id and externalId are case-exact; the rest of the filterable
	// attributes (userName, emails, displayName) are not.
	name := strings.ToLower(x.AttributePath.AttributeName)
	exact := x.AttributePath.SubAttribute == nil && (name == "id" || name == "externalid")
	want := scalar(x.CompareValue)
	for _, v := range vs {
		got := scalar(v)
		if !exact {
			got, want = strings.ToLower(got), strings.ToLower(want)
		}
		switch x.Operator {
		case filter.EQ:
			if got == want {
				return true
			}
		case filter.CO:
			if strings.Contains(got, want) {
				return true
			}
		case filter.SW:
			if strings.HasPrefix(got, want) {
				return true
			}
		case filter.EW:
			if strings.HasSuffix(got, want) {
				return true
			}
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
