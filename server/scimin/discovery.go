package scimin

import (
	"net/http"
)

// serviceProviderConfig answers /ServiceProviderConfig (RFC 7643 §5).
func serviceProviderConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": "https://github.com/idsync/idsync#hr-driven-sources-scim-inbound",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": maxCount},
		"changePassword":   map[string]any{"supported": false},
		"sort":             map[string]any{"supported": true},
		"etag":             map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type": "oauthbearertoken", "name": "Bearer token", "primary": true,
			"description": "the source's token from `idsyncctl source token NAME`",
			"specUri":     "https://www.rfc-editor.org/info/rfc6750",
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": baseURL(r) + "/ServiceProviderConfig"},
	})
}

// schemasResponse answers /Schemas and /Schemas/{uri}: the schemas as the
// source sees them (a field it does not master is immutable).
func (h *Handler) schemasResponse(w http.ResponseWriter, r *http.Request, id string) {
	var out []any
	for _, s := range append(h.userType(source(r.Context())).schemas(), groupType.core) {
		res := s.json()
		res["schemas"] = []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"}
		res["meta"] = map[string]any{"resourceType": "Schema", "location": baseURL(r) + "/Schemas/" + s.id}
		if id != "" && id == s.id {
			writeJSON(w, http.StatusOK, res)
			return
		}
		out = append(out, res)
	}
	listOrMissing(w, id, out)
}

func resourceTypesResponse(w http.ResponseWriter, r *http.Request, id string) {
	types := []map[string]any{
		{"id": "User", "name": "User", "endpoint": "/Users", "schema": schemaUser,
			"schemaExtensions": []any{map[string]any{"schema": schemaEnterprise, "required": false}}},
		{"id": "Group", "name": "Group", "endpoint": "/Groups", "schema": schemaGroup},
	}
	var out []any
	for _, t := range types {
		t["schemas"] = []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"}
		t["meta"] = map[string]any{"resourceType": "ResourceType", "location": baseURL(r) + "/ResourceTypes/" + t["id"].(string)}
		if id != "" && id == t["id"] {
			writeJSON(w, http.StatusOK, t)
			return
		}
		out = append(out, t)
	}
	listOrMissing(w, id, out)
}

func listOrMissing(w http.ResponseWriter, id string, out []any) {
	if id != "" {
		writeError(w, http.StatusNotFound, "", "no such resource %q", id)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"schemas": []string{schemaList}, "totalResults": len(out),
		"startIndex": 1, "itemsPerPage": len(out), "Resources": out})
}
