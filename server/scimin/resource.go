package scimin

import (
	"context"
	"encoding/json"
	"errors"
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
	schemaSearch     = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
)

// Page sizes.
const (
	defaultCount = 100
	maxCount     = 1000
)

// searchPath is the id under a resource type's endpoint that POST searches
// (RFC 7644 §3.4.3).
const searchPath = ".search"

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
	// typ is the resource type as the request's source sees it.
	typ(ctx context.Context) *resourceType
}

// resource serves one resource type: the collection (id ""), its search
// (id ".search") or one resource.
func (h *Handler) resource(w http.ResponseWriter, r *http.Request, id string, rs resources) {
	ctx := r.Context()
	rt := rs.typ(ctx)
	kind := strings.ToLower(rt.name)
	target := kind + ":" + id
	writes := id == "" && r.Method == http.MethodPost ||
		id != "" && id != searchPath && (r.Method == http.MethodPut || r.Method == http.MethodPatch || r.Method == http.MethodDelete)
	if writes {
		// A write reads the object, checks, merges and applies (a PATCH
		// reads it before its operations): the whole of it holds the
		// source's write run, which no other write of the source, on any
		// replica, holds at the same time. The run ends before the
		// answer goes (endWrite); the deferred Close is for a request
		// that ends otherwise.
		defer h.lock(source(ctx))()
		run, err := h.apply.OpenWrite(ctx, source(ctx), trigger)
		if err != nil {
			h.fail(w, err)
			return
		}
		defer run.Close(ctx, "the request ended before its write") //nolint:errcheck // ended already, or nothing to report to
		ctx = context.WithValue(ctx, runKey{}, run)
		r = r.WithContext(ctx)
	}
	q := r.URL.Query()
	proj, err := rt.projection(splitNames(q.Get("attributes")), splitNames(q.Get("excludedAttributes")))
	if err != nil {
		h.fail(w, err)
		return
	}
	var (
		res    map[string]any
		status = http.StatusOK
	)
	switch {
	case id == "" && r.Method == http.MethodGet:
		h.list(w, r, rs, listQuery{filter: q.Get("filter"), startIndex: q.Get("startIndex"), count: q.Get("count"),
			sortBy: q.Get("sortBy"), sortOrder: q.Get("sortOrder"), proj: proj})
		return
	case id == searchPath && r.Method == http.MethodPost:
		h.search(w, r, rs)
		return
	case id == searchPath:
		writeError(w, http.StatusMethodNotAllowed, "", "method %s not allowed on /%ss/.search: POST searches", r.Method, rt.name)
		return
	case id == "" && r.Method == http.MethodPost:
		var body map[string]any
		if body, err = readBody(r); err == nil {
			res, err = rs.create(ctx, body)
		}
		err = endWrite(ctx, err)
		status = http.StatusCreated
		if res != nil {
			target = kind + ":" + res["id"].(string)
		}
		h.record(ctx, "scim."+kind+".create", target, err, "")
	case id == "":
		writeError(w, http.StatusMethodNotAllowed, "", "method %s not allowed on /%ss", r.Method, rt.name)
		return
	case r.Method == http.MethodGet:
		if res, err = rs.get(ctx, id); err == nil && etagMatches(r.Header.Get("If-None-Match"), version(res)) {
			w.Header().Set("ETag", version(res))
			w.WriteHeader(http.StatusNotModified)
			return
		}
	case r.Method == http.MethodPut:
		var body map[string]any
		if err = h.precondition(r, rs, id); err == nil {
			if body, err = readBody(r); err == nil {
				res, err = rs.replace(ctx, id, body)
			}
		}
		err = endWrite(ctx, err)
		h.record(ctx, "scim."+kind+".replace", target, err, "")
	case r.Method == http.MethodPatch:
		var body map[string]any
		if err = h.precondition(r, rs, id); err == nil {
			if body, err = readBody(r); err == nil {
				res, err = h.patch(ctx, rs, id, body)
			}
		}
		err = endWrite(ctx, err)
		h.record(ctx, "scim."+kind+".patch", target, err, "")
	case r.Method == http.MethodDelete:
		if err = h.precondition(r, rs, id); err == nil {
			err = rs.remove(ctx, id)
		}
		err = endWrite(ctx, err)
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
	withLocation(res, baseOf(ctx), rt.name)
	if status == http.StatusCreated {
		w.Header().Set("Location", res["meta"].(map[string]any)["location"].(string))
	}
	w.Header().Set("ETag", version(res))
	writeJSON(w, status, proj.apply(rt, res))
}

// endWrite ends the request's write run: completed when it wrote,
// cancelled with the refusal (err) as its message when it did not. It
// returns err, or the run's failure to end.
func endWrite(ctx context.Context, err error) error {
	why := "nothing to write"
	if err != nil {
		why = err.Error()
	}
	if cerr := writeRun(ctx).Close(ctx, why); cerr != nil && err == nil {
		return cerr
	}
	return err
}

// precondition checks If-Match (RFC 7644 §3.14, RFC 9110 §13.1.1): a
// write to a resource whose version is not one of those given is a 412.
// It runs within the request's write run, so the version cannot change
// before the write, whatever replica another write goes to.
func (h *Handler) precondition(r *http.Request, rs resources, id string) error {
	want := r.Header.Get("If-Match")
	if want == "" {
		return nil
	}
	cur, err := rs.get(r.Context(), id)
	if err != nil {
		return err
	}
	if !etagMatches(want, version(cur)) {
		return errorf(http.StatusPreconditionFailed, "", "the resource has changed: its version is %s, not %s", version(cur), want)
	}
	return nil
}

// version is a resource's meta.version, its ETag.
func version(res map[string]any) string {
	m, _ := res["meta"].(map[string]any)
	v, _ := m["version"].(string)
	return v
}

// etagMatches reports whether the If-Match or If-None-Match header value
// list names etag: "*" matches any, the others by weak comparison (the
// versions are weak ETags, W/"N").
func etagMatches(list, etag string) bool {
	if list == "" || etag == "" {
		return false
	}
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

// patch applies a PatchOp to the resource and writes the result.
func (h *Handler) patch(ctx context.Context, rs resources, id string, body map[string]any) (map[string]any, error) {
	rt := rs.typ(ctx)
	ops, err := patchOps(rt, body)
	if err != nil {
		return nil, err
	}
	cur, err := rs.get(ctx, id)
	if err != nil {
		return nil, err
	}
	before := lowerKeys(cur).(map[string]any)
	m := lowerKeys(cur).(map[string]any)
	for _, op := range ops {
		if err := applyOp(rt, m, op); err != nil {
			return nil, err
		}
	}
	rt.demotePrimaries(before, m)
	if err := rt.checkPatched(before, m); err != nil {
		return nil, err
	}
	return rs.replace(ctx, id, m)
}

func withLocation(res map[string]any, base, kind string) {
	if meta, ok := res["meta"].(map[string]any); ok {
		meta["location"] = base + "/" + kind + "s/" + res["id"].(string)
	}
}

// listQuery is a query: from the URL of a GET, or the body of a POST to
// .search.
type listQuery struct {
	filter, startIndex, count string
	sortBy, sortOrder         string
	proj                      *projection
}

// search answers POST .search: the query in a SearchRequest body.
func (h *Handler) search(w http.ResponseWriter, r *http.Request, rs resources) {
	rt := rs.typ(r.Context())
	body, err := readBody(r)
	if err != nil {
		h.fail(w, err)
		return
	}
	var req struct {
		Attributes         nameList    `json:"attributes"`
		ExcludedAttributes nameList    `json:"excludedattributes"`
		Filter             string      `json:"filter"`
		SortBy             string      `json:"sortby"`
		SortOrder          string      `json:"sortorder"`
		StartIndex         json.Number `json:"startindex"`
		Count              json.Number `json:"count"`
	}
	raw, _ := json.Marshal(body)
	if err := json.Unmarshal(raw, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalidSyntax", "the SearchRequest: %v", err)
		return
	}
	proj, err := rt.projection(req.Attributes, req.ExcludedAttributes)
	if err != nil {
		h.fail(w, err)
		return
	}
	h.list(w, r, rs, listQuery{filter: req.Filter, startIndex: req.StartIndex.String(), count: req.Count.String(),
		sortBy: req.SortBy, sortOrder: req.SortOrder, proj: proj})
}

// nameList is a SearchRequest's attributes or excludedAttributes: a list
// of names (RFC 7644 §3.4.3), or, as some clients send it, one string of
// comma-separated names as in a URL.
type nameList []string

func (l *nameList) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = splitNames(s)
		return nil
	}
	return json.Unmarshal(b, (*[]string)(l))
}

// list answers a query: filter, then the page startIndex (1-based) and
// count. totalResults counts every match; only the page is kept.
func (h *Handler) list(w http.ResponseWriter, r *http.Request, rs resources, q listQuery) {
	rt := rs.typ(r.Context())
	start, err := intParam(q.startIndex, 1)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalidValue", "startIndex: %v", err)
		return
	}
	start = max(start, 1)
	count, err := intParam(q.count, defaultCount)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalidValue", "count: %v", err)
		return
	}
	count = min(max(count, 0), maxCount)
	var f filter.Expression
	if s := q.filter; s != "" {
		if err := checkFilter(s); err != nil {
			writeError(w, http.StatusBadRequest, "invalidFilter", "filter: %v", err)
			return
		}
		if f, err = filter.ParseFilter([]byte(s)); err != nil {
			writeError(w, http.StatusBadRequest, "invalidFilter", "filter %q: %v", s, err)
			return
		}
		if err := rt.supported(f); err != nil {
			writeError(w, http.StatusBadRequest, "invalidFilter", "filter %q: %v", s, err)
			return
		}
	}
	sorted, err := rt.sorting(q.sortBy, q.sortOrder)
	if err != nil {
		h.fail(w, err)
		return
	}
	base := baseOf(r.Context())
	page := []map[string]any{}
	var keys []sortKey // every match's, when they are sorted before the page is cut
	total := 0
	err = rs.each(r.Context(), f, func(res map[string]any) bool {
		var lower map[string]any
		if f != nil || sorted != nil {
			lower = lowerKeys(res).(map[string]any)
		}
		if f != nil && !rt.matches(f, lower) {
			return true
		}
		total++
		switch {
		case sorted != nil:
			keys = append(keys, sorted.keyOf(rt, lower))
		case total >= start && len(page) < count:
			withLocation(res, base, rt.name)
			page = append(page, q.proj.apply(rt, res))
		}
		return true
	})
	if err != nil {
		h.fail(w, err)
		return
	}
	if sorted != nil {
		sorted.sort(keys)
		for _, k := range keys[min(start-1, len(keys)):min(start-1+count, len(keys))] {
			res, err := rs.get(r.Context(), k.id)
			if err != nil {
				// Gone since it matched: the page is one shorter.
				var se *scimError
				if errors.As(err, &se) && se.status == http.StatusNotFound {
					continue
				}
				h.fail(w, err)
				return
			}
			withLocation(res, base, rt.name)
			page = append(page, q.proj.apply(rt, res))
		}
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
