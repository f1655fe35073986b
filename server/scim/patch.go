package scim

import (
	"slices"
	"strings"
)

// PatchOp is one operation of a PATCH request (RFC 7644 §3.5.2).
type PatchOp struct {
	Op    string `json:"op"`             // "add", "replace" or "remove"
	Path  string `json:"path,omitempty"` // attribute path; empty: the value is a set of attributes
	Value any    `json:"value,omitempty"`
}

// Diff returns the PATCH operations that turn old into new: add for an
// attribute new has and old lacks, replace for one that changed, remove for
// one new lacks (or holds as nil). Complex attributes (name) and extension
// objects are compared attribute by attribute (name.givenName,
// EnterpriseUserSchema+":department"); multi-valued attributes (emails,
// members) are replaced whole. id, meta and schemas are ignored.
//
// Compare what the hub last pushed with what it would push now, not with what
// the application returned: applications add attributes of their own, which a
// diff against their copy would remove. No change gives no operations.
func Diff(old, new Resource) []PatchOp {
	var ops []PatchOp
	diffObject(&ops, "", old, new)
	return ops
}

// diffObject diffs the top level (prefix "") or an extension object (prefix
// is its schema URI).
func diffObject(ops *[]PatchOp, prefix string, old, new map[string]any) {
	for _, k := range unionKeys(old, new) {
		if prefix == "" && (k == "id" || k == "meta" || k == "schemas") {
			continue
		}
		om, oIsObj := old[k].(map[string]any)
		nm, nIsObj := new[k].(map[string]any)
		if prefix == "" && isURN(k) && (oIsObj || old[k] == nil) && (nIsObj || new[k] == nil) {
			diffObject(ops, k, om, nm)
			continue
		}
		path := k
		if prefix != "" {
			path = prefix + ":" + k
		}
		diffAttr(ops, path, old[k], new[k], true)
	}
}

// diffAttr diffs one attribute; a complex one (name) is diffed by
// sub-attribute when complex is true.
func diffAttr(ops *[]PatchOp, path string, ov, nv any, complex bool) {
	om, oIsObj := ov.(map[string]any)
	nm, nIsObj := nv.(map[string]any)
	switch {
	case ov == nil && nv == nil:
	case nv == nil:
		*ops = append(*ops, PatchOp{Op: "remove", Path: path})
	case ov == nil:
		*ops = append(*ops, PatchOp{Op: "add", Path: path, Value: nv})
	case complex && oIsObj && nIsObj:
		for _, k := range unionKeys(om, nm) {
			diffAttr(ops, path+"."+k, om[k], nm[k], false)
		}
	case !sameJSON(ov, nv):
		*ops = append(*ops, PatchOp{Op: "replace", Path: path, Value: nv})
	}
}

// unionKeys returns the keys of a and b, sorted so operations come in a
// stable order.
func unionKeys(a, b map[string]any) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func isURN(s string) bool { return strings.HasPrefix(strings.ToLower(s), "urn:") }
