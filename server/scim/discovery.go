package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
)

// ServiceProviderConfig is what an application says it supports (RFC 7643 §5).
type ServiceProviderConfig struct {
	DocumentationURI string    `json:"documentationUri"`
	Patch            Supported `json:"patch"`
	Bulk             struct {
		Supported      bool `json:"supported"`
		MaxOperations  int  `json:"maxOperations"`
		MaxPayloadSize int  `json:"maxPayloadSize"`
	} `json:"bulk"`
	Filter struct {
		Supported  bool `json:"supported"`
		MaxResults int  `json:"maxResults"`
	} `json:"filter"`
	ChangePassword        Supported              `json:"changePassword"`
	Sort                  Supported              `json:"sort"`
	ETag                  Supported              `json:"etag"`
	AuthenticationSchemes []AuthenticationScheme `json:"authenticationSchemes"`
}

// Supported is a feature flag of ServiceProviderConfig.
type Supported struct {
	Supported bool `json:"supported"`
}

// AuthenticationScheme is one way an application accepts credentials.
type AuthenticationScheme struct {
	Type        string `json:"type"` // "oauthbearertoken", "httpbasic", "oauth2"…
	Name        string `json:"name"`
	Description string `json:"description"`
	Primary     bool   `json:"primary"`
}

// Schema describes a resource schema or extension (RFC 7643 §7).
type Schema struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Attributes  []SchemaAttribute `json:"attributes"`
}

// SchemaAttribute describes one attribute of a Schema.
type SchemaAttribute struct {
	Name            string            `json:"name"`
	Type            string            `json:"type"` // string, boolean, complex, reference…
	MultiValued     bool              `json:"multiValued"`
	Required        bool              `json:"required"`
	CaseExact       bool              `json:"caseExact"`
	Mutability      string            `json:"mutability"`
	Returned        string            `json:"returned"`
	Uniqueness      string            `json:"uniqueness"`
	CanonicalValues []string          `json:"canonicalValues,omitempty"`
	ReferenceTypes  []string          `json:"referenceTypes,omitempty"`
	SubAttributes   []SchemaAttribute `json:"subAttributes,omitempty"`
	Description     string            `json:"description"`
}

// ResourceType describes an endpoint and its schemas (RFC 7643 §6).
type ResourceType struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	Endpoint         string `json:"endpoint"`
	Description      string `json:"description"`
	Schema           string `json:"schema"`
	SchemaExtensions []struct {
		Schema   string `json:"schema"`
		Required bool   `json:"required"`
	} `json:"schemaExtensions"`
}

// ServiceProviderConfig reads /ServiceProviderConfig.
func (c *Client) ServiceProviderConfig(ctx context.Context) (*ServiceProviderConfig, error) {
	var out ServiceProviderConfig
	if err := c.do(ctx, http.MethodGet, "/ServiceProviderConfig", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Schemas reads /Schemas.
func (c *Client) Schemas(ctx context.Context) ([]Schema, error) {
	var out []Schema
	return out, c.discover(ctx, "/Schemas", &out)
}

// ResourceTypes reads /ResourceTypes.
func (c *Client) ResourceTypes(ctx context.Context) ([]ResourceType, error) {
	var out []ResourceType
	return out, c.discover(ctx, "/ResourceTypes", &out)
}

// discover reads a discovery endpoint into out (a pointer to a slice). RFC
// 7644 §4 answers with a ListResponse; some applications send a bare array,
// which is read too.
func (c *Client) discover(ctx context.Context, path string, out any) error {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &raw); err != nil {
		return err
	}
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '[' {
		return decode(http.MethodGet, path, http.StatusOK, trimmed, out)
	}
	var page struct {
		Resources json.RawMessage `json:"Resources"`
	}
	if err := decode(http.MethodGet, path, http.StatusOK, raw, &page); err != nil || page.Resources == nil {
		return err
	}
	return decode(http.MethodGet, path, http.StatusOK, page.Resources, out)
}

// decode reads a 2xx answer into out; a body that does not fit is an
// HTTPError with that status, so callers see one error kind per call.
func decode(method, path string, status int, raw []byte, out any) error {
	if err := json.Unmarshal(raw, out); err != nil {
		return &HTTPError{Method: method, Path: path, Status: status, Detail: "the response is not the expected JSON: " + err.Error()}
	}
	return nil
}
