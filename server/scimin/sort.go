package scimin

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/scim2/filter-parser/v2"
)

// sorting is a query's sortBy and sortOrder (RFC 7644 §3.4.2.3).
type sorting struct {
	path       filter.AttributePath
	attr       *attribute // the attribute compared; nil: unknown to the schema
	descending bool
}

// sorting reads sortBy and sortOrder; no sortBy is no sorting (nil). An
// attribute the schema does not define is a 400 invalidPath, a sortOrder
// other than ascending or descending a 400 invalidValue.
func (rt *resourceType) sorting(by, order string) (*sorting, error) {
	var desc bool
	switch strings.ToLower(order) {
	case "", "ascending":
	case "descending":
		desc = true
	default:
		return nil, errorf(http.StatusBadRequest, "invalidValue", "sortOrder: %q is not ascending or descending", order)
	}
	if by = strings.TrimSpace(by); by == "" {
		return nil, nil
	}
	if err := checkFilter(by); err != nil {
		return nil, errorf(http.StatusBadRequest, "invalidPath", "sortBy: %v", err)
	}
	p, err := filter.ParseAttrPath([]byte(by))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "invalidPath", "sortBy: %q is not an attribute name: %v", by, err)
	}
	t, err := rt.resolve(p)
	if err != nil {
		if se, ok := err.(*scimError); ok {
			se.msg = "sortBy: " + se.msg
		}
		return nil, err
	}
	if t.attr == nil {
		return nil, errorf(http.StatusBadRequest, "invalidPath", "sortBy: %s is a schema, not an attribute", by)
	}
	return &sorting{path: p, attr: rt.attrOf(nil, p), descending: desc}, nil
}

// sortKey is what a resource sorts by: its id and its value of the
// attribute, kept instead of the resource while every match is sorted.
type sortKey struct {
	id  string
	key string
	t   time.Time
	has bool
}

// keyOf is the sort key of a resource with lower-cased names.
func (s *sorting) keyOf(rt *resourceType, res map[string]any) sortKey {
	k := sortKey{id: str(res["id"])}
	if v, ok := sortValue(rt, res, s.path); ok {
		k.has, k.key = true, scalar(v)
		if s.attr == nil || !s.attr.caseExact {
			k.key = strings.ToLower(k.key)
		}
		if s.attr != nil && s.attr.typ == "dateTime" {
			k.t, _ = time.Parse(time.RFC3339Nano, scalar(v))
		}
	}
	return k
}

// sort orders the keys: strings without regard to case unless caseExact,
// dateTimes as points in time, false before true; a multi-valued
// attribute by its primary value, else its first. Resources without a
// value come last in ascending order and first in descending (RFC 7644
// §3.4.2.3); ties keep the order they came in.
func (s *sorting) sort(ks []sortKey) {
	slices.SortStableFunc(ks, func(a, b sortKey) int {
		switch {
		case a.has != b.has:
			if a.has {
				return -1
			}
			return 1
		case !a.t.IsZero() || !b.t.IsZero():
			return a.t.Compare(b.t)
		}
		return strings.Compare(a.key, b.key)
	})
	if s.descending {
		slices.Reverse(ks)
	}
}

// sortValue is the value a resource (lower-cased names) sorts by: the
// attribute's, or of a multi-valued one the primary element's (else the
// first's) sub-attribute, "value" when the path names none.
func sortValue(rt *resourceType, res map[string]any, p filter.AttributePath) (any, bool) {
	v, ok := container(rt, res, p)[strings.ToLower(p.AttributeName)]
	if !ok || v == nil {
		return nil, false
	}
	list, multi := v.([]any)
	if !multi {
		list = []any{v}
	}
	var pick any
	for _, e := range list {
		if m, ok := e.(map[string]any); ok && isPrimary(m) {
			pick = e
			break
		}
	}
	if pick == nil && len(list) > 0 {
		pick = list[0]
	}
	if m, ok := pick.(map[string]any); ok {
		sub := "value"
		if p.SubAttribute != nil {
			sub = strings.ToLower(*p.SubAttribute)
		}
		pick = m[sub]
	}
	if pick == nil || pick == "" {
		return nil, false
	}
	return pick, true
}
