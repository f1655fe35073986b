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
		"sort":             map[string]any{"supported": false},
		"etag":             map[string]any{"supported": false},
		"authenticationSchemes": []any{map[string]any{
			"type": "oauthbearertoken", "name": "Bearer token", "primary": true,
			"description": "the source's token from `idsyncctl source token NAME`",
			"specUri":     "https://www.rfc-editor.org/info/rfc6750",
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": baseURL(r) + "/ServiceProviderConfig"},
	})
}

func attr(name, typ string, multi, required bool, subs ...map[string]any) map[string]any {
	a := map[string]any{"name": name, "type": typ, "multiValued": multi, "required": required,
		"caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none"}
	if len(subs) > 0 {
		a["subAttributes"] = subs
	}
	return a
}

// schemas are the attributes the endpoint keeps; others are accepted and
// ignored.
var schemas = []map[string]any{
	{
		"id": schemaUser, "name": "User", "description": "User Account",
		"attributes": []any{
			func() map[string]any {
				a := attr("userName", "string", false, true)
				a["uniqueness"] = "server"
				return a
			}(),
			attr("name", "complex", false, false, attr("givenName", "string", false, false),
				attr("familyName", "string", false, false), attr("formatted", "string", false, false)),
			attr("displayName", "string", false, false),
			attr("title", "string", false, false),
			attr("active", "boolean", false, false),
			attr("emails", "complex", true, false, attr("value", "string", false, false),
				attr("type", "string", false, false), attr("primary", "boolean", false, false)),
		},
	},
	{
		"id": schemaEnterprise, "name": "EnterpriseUser", "description": "Enterprise User",
		"attributes": []any{
			attr("employeeNumber", "string", false, false),
			attr("department", "string", false, false),
			attr("manager", "complex", false, false, attr("value", "string", false, false)),
		},
	},
	{
		"id": schemaGroup, "name": "Group", "description": "Group",
		"attributes": []any{
			attr("displayName", "string", false, true),
			attr("members", "complex", true, false, attr("value", "string", false, false),
				attr("display", "string", false, false)),
		},
	},
}

func schemasResponse(w http.ResponseWriter, r *http.Request, id string) {
	var out []any
	for _, s := range schemas {
		res := map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"},
			"meta": map[string]any{"resourceType": "Schema", "location": baseURL(r) + "/Schemas/" + s["id"].(string)}}
		for k, v := range s {
			res[k] = v
		}
		if id != "" && id == s["id"] {
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
