package scimin

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/scim2/filter-parser/v2"
)

// Schema URIs.
const (
	schemaUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	schemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	schemaList       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	schemaPatch      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
)

// Page sizes.
const (
	defaultCount = 100
	maxCount     = 1000
)

// resources is one resource type of a source: its hub objects as SCIM
// resources (attribute names in their canonical case).
type resources interface {
	// get returns the resource, or a 404 scimError.
	get(ctx context.Context, id string) (map[string]any, error)
	// each calls yield with each live resource of the source, in a stable
	// order, until it returns false. A filter it can answer from an index
	// (userName eq) narrows the walk; the caller still tests every one.
	each(ctx context.Context, f filter.Expression, yield func(map[string]any) bool) error
	// create writes a new resource and returns it.
	create(ctx context.Context, body map[string]any) (map[string]any, error)
	// replace writes the resource anew from body (lower-cased keys).
	replace(ctx context.Context, id string, body map[string]any) (map[string]any, error)
	// remove deprovisions the resource.
	remove(ctx context.Context, id string) error
	// name is "User" or "Group".
	name() string
}

// resource serves one resource type: the collection (id "") or one
// resource.
func (h *Handler) resource(w http.ResponseWriter, r *http.Request, id string, rs resources) {
	ctx := r.Context()
	base := baseURL(r)
	kind := strings.ToLower(rs.name())
	target := kind + ":" + id
	if r.Method != http.MethodGet {
		// A write reads the object, merges and applies (a PATCH reads it
		// before its operations): the whole of it holds the source's lock.
		defer h.lock(source(ctx))()
	}
	var (
		res    map[string]any
		err    error
		status = http.StatusOK
	)
	switch {
	case id == "" && r.Method == http.MethodGet:
		h.list(w, r, rs)
		return
	case id == "" && r.Method == http.MethodPost:
		var body map[string]any
		if body, err = readBody(r); err == nil {
			res, err = rs.create(ctx, body)
		}
		status = http.StatusCreated
		if res != nil {
			target = kind + ":" + res["id"].(string)
		}
		h.record(ctx, "scim."+kind+".create", target, err, "")
	case id == "":
		writeError(w, http.StatusMethodNotAllowed, "", "method %s not allowed on /%ss", r.Method, rs.name())
		return
	case r.Method == http.MethodGet:
		res, err = rs.get(ctx, id)
	case r.Method == http.MethodPut:
		var body map[string]any
		if body, err = readBody(r); err == nil {
			res, err = rs.replace(ctx, id, body)
		}
		h.record(ctx, "scim."+kind+".replace", target, err, "")
	case r.Method == http.MethodPatch:
		var body map[string]any
		if body, err = readBody(r); err == nil {
			res, err = h.patch(ctx, rs, id, body)
		}
		h.record(ctx, "scim."+kind+".patch", target, err, "")
	case r.Method == http.MethodDelete:
		err = rs.remove(ctx, id)
		h.record(ctx, "scim."+kind+".delete", target, err, "deactivated, not deleted")
		if err == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	default:
		writeError(w, http.StatusMethodNotAllowed, "", "method %s not allowed", r.Method)
		return
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	withLocation(res, base, rs.name())
	if status == http.StatusCreated {
		w.Header().Set("Location", res["meta"].(map[string]any)["location"].(string))
	}
	writeJSON(w, status, res)
}

// patch applies a PatchOp to the resource and writes the result.
func (h *Handler) patch(ctx context.Context, rs resources, id string, body map[string]any) (map[string]any, error) {
	ops, err := patchOps(body)
	if err != nil {
		return nil, err
	}
	cur, err := rs.get(ctx, id)
	if err != nil {
		return nil, err
	}
	m := lowerKeys(cur).(map[string]any)
	for _, op := range ops {
		if err := applyOp(m, op); err != nil {
			return nil, err
		}
	}
	return rs.replace(ctx, id, m)
}

func withLocation(res map[string]any, base, kind string) {
	if meta, ok := res["meta"].(map[string]any); ok {
		meta["location"] = base + "/" + kind + "s/" + res["id"].(string)
	}
}

// list answers a query: filter, then the page startIndex (1-based) and
// count. totalResults counts every match; only the page is kept.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, rs resources) {
	q := r.URL.Query()
	start, err := intParam(q.Get("startIndex"), 1)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalidValue", "startIndex: %v", err)
		return
	}
	start = max(start, 1)
	count, err := intParam(q.Get("count"), defaultCount)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalidValue", "count: %v", err)
		return
	}
	count = min(max(count, 0), maxCount)
	var f filter.Expression
	if s := q.Get("filter"); s != "" {
		if err := checkFilter(s); err != nil {
			writeError(w, http.StatusBadRequest, "invalidFilter", "filter: %v", err)
			return
		}
		if f, err = filter.ParseFilter([]byte(s)); err != nil {
			writeError(w, http.StatusBadRequest, "invalidFilter", "filter %q: %v", s, err)
			return
		}
		if err := supported(f); err != nil {
			writeError(w, http.StatusBadRequest, "invalidFilter", "filter %q: %v", s, err)
			return
		}
	}
	base := baseURL(r)
	page := []map[string]any{}
	total := 0
	err = rs.each(r.Context(), f, func(res map[string]any) bool {
		if f != nil && !matches(f, lowerKeys(res).(map[string]any)) {
			return true
		}
		total++
		if total >= start && len(page) < count {
			withLocation(res, base, rs.name())
			page = append(page, res)
		}
		return true
	})
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas": []string{schemaList}, "totalResults": total, "startIndex": start,
		"itemsPerPage": len(page), "Resources": page,
	})
}

func intParam(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	return strconv.Atoi(s)
}
