package scim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// The endpoints of the two resource types (RFC 7644 §3.2).
const (
	usersPath  = "/Users"
	groupsPath = "/Groups"
)

// CreateUser creates a user (POST /Users) and returns it as the application
// stored it, with its id. A 409 (IsConflict) means the userName is taken: the
// account may exist already, for example created by an earlier attempt whose
// answer was lost, so look it up with FindUsers(Eq("userName", …)).
func (c *Client) CreateUser(ctx context.Context, r Resource) (Resource, error) {
	return c.create(ctx, usersPath, UserSchema, r)
}

// CreateUserJSON is CreateUser for a caller that encoded the user itself,
// its schemas included (body is sent as it is: a caller that stores the
// JSON it pushed encodes it once), and keeps only the new user's id (""
// when the answer has none, or not as a string): it decodes nothing else
// of the answer, of which a push of thousands of users would otherwise
// build a map each.
func (c *Client) CreateUserJSON(ctx context.Context, body []byte) (string, error) {
	var out struct {
		ID any `json:"id"`
	}
	if err := c.do(ctx, http.MethodPost, usersPath, nil, json.RawMessage(body), &out); err != nil {
		return "", err
	}
	id, _ := out.ID.(string)
	return id, nil
}

// GetUser reads a user (404: IsNotFound).
func (c *Client) GetUser(ctx context.Context, id string) (Resource, error) {
	return c.get(ctx, usersPath, id)
}

// ReplaceUser replaces every attribute of a user (PUT), for applications
// without PATCH.
func (c *Client) ReplaceUser(ctx context.Context, id string, r Resource) (Resource, error) {
	return c.replace(ctx, usersPath, UserSchema, id, r)
}

// PatchUser applies ops to a user (PATCH), e.g. Diff(pushed, wanted) or
// {Op: "replace", Path: "active", Value: false}. It returns the user when the
// application answers with it and nil when it answers 204; no ops send no
// request.
func (c *Client) PatchUser(ctx context.Context, id string, ops []PatchOp) (Resource, error) {
	return c.patch(ctx, usersPath, id, ops)
}

// DeleteUser deletes a user (404: IsNotFound, which a caller deleting may
// count as done).
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	return c.delete(ctx, usersPath, id)
}

// ListUsers calls fn with every user that passes opts.Filter (all users when
// empty), page by page, without holding them all; an error from fn stops the
// listing and is returned.
func (c *Client) ListUsers(ctx context.Context, opts ListOptions, fn func(Resource) error) error {
	return c.list(ctx, usersPath, opts, fn)
}

// FindUsers returns the users that pass filter, e.g. Eq("userName", name).
// It collects at most 1,000 and returns ErrTooManyResults beyond.
func (c *Client) FindUsers(ctx context.Context, filter string) ([]Resource, error) {
	return c.find(ctx, usersPath, filter)
}

// CreateGroup creates a group (POST /Groups).
func (c *Client) CreateGroup(ctx context.Context, r Resource) (Resource, error) {
	return c.create(ctx, groupsPath, GroupSchema, r)
}

// GetGroup reads a group, its members included.
func (c *Client) GetGroup(ctx context.Context, id string) (Resource, error) {
	return c.get(ctx, groupsPath, id)
}

// ReplaceGroup replaces a group (PUT), its whole member list included.
func (c *Client) ReplaceGroup(ctx context.Context, id string, r Resource) (Resource, error) {
	return c.replace(ctx, groupsPath, GroupSchema, id, r)
}

// PatchGroup applies ops to a group (PATCH), e.g. a new displayName.
func (c *Client) PatchGroup(ctx context.Context, id string, ops []PatchOp) (Resource, error) {
	return c.patch(ctx, groupsPath, id, ops)
}

// PatchGroupMembers adds and removes members (application ids of users or
// groups) with PATCH requests of at most Options.MembersPerPatch members
// each, removals first. Adding a member twice or removing an absent one is
// harmless, so a failed call can be repeated whole.
func (c *Client) PatchGroupMembers(ctx context.Context, id string, add, remove []string) error {
	var requests [][]PatchOp
	for chunk := range slices.Chunk(remove, c.opts.MembersPerPatch) {
		ops := make([]PatchOp, len(chunk))
		for i, m := range chunk {
			ops[i] = PatchOp{Op: "remove", Path: "members[value eq " + quote(m) + "]"}
		}
		requests = append(requests, ops)
	}
	for chunk := range slices.Chunk(add, c.opts.MembersPerPatch) {
		values := make([]any, len(chunk))
		for i, m := range chunk {
			values[i] = map[string]any{"value": m}
		}
		requests = append(requests, []PatchOp{{Op: "add", Path: "members", Value: values}})
	}
	for i, ops := range requests {
		if _, err := c.patch(ctx, groupsPath, id, ops); err != nil {
			return fmt.Errorf("group %s members, request %d of %d: %w", id, i+1, len(requests), err)
		}
	}
	return nil
}

// DeleteGroup deletes a group.
func (c *Client) DeleteGroup(ctx context.Context, id string) error {
	return c.delete(ctx, groupsPath, id)
}

// ListGroups calls fn with every group that passes opts.Filter, page by page.
// Set opts.ExcludedAttributes to []string{"members"} when the members are not
// needed: they make large groups heavy.
func (c *Client) ListGroups(ctx context.Context, opts ListOptions, fn func(Resource) error) error {
	return c.list(ctx, groupsPath, opts, fn)
}

// FindGroups returns the groups that pass filter, e.g. Eq("displayName", n),
// at most 1,000 (ErrTooManyResults beyond).
func (c *Client) FindGroups(ctx context.Context, filter string) ([]Resource, error) {
	return c.find(ctx, groupsPath, filter)
}

func (c *Client) create(ctx context.Context, endpoint, schema string, r Resource) (Resource, error) {
	var out Resource
	if err := c.do(ctx, http.MethodPost, endpoint, nil, withSchemas(r, schema), &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Client) get(ctx context.Context, endpoint, id string) (Resource, error) {
	var out Resource
	if err := c.do(ctx, http.MethodGet, resourcePath(endpoint, id), nil, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Client) replace(ctx context.Context, endpoint, schema, id string, r Resource) (Resource, error) {
	var out Resource
	if err := c.do(ctx, http.MethodPut, resourcePath(endpoint, id), nil, withSchemas(r, schema), &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Client) patch(ctx context.Context, endpoint, id string, ops []PatchOp) (Resource, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	body := map[string]any{"schemas": []string{PatchOpSchema}, "Operations": ops}
	var out Resource
	if err := c.do(ctx, http.MethodPatch, resourcePath(endpoint, id), nil, body, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Client) delete(ctx context.Context, endpoint, id string) error {
	return c.do(ctx, http.MethodDelete, resourcePath(endpoint, id), nil, nil, nil)
}

func resourcePath(endpoint, id string) string { return endpoint + "/" + url.PathEscape(id) }

// ListOptions narrow a listing.
type ListOptions struct {
	// Filter is a SCIM filter (RFC 7644 §3.4.2.2); see Eq.
	Filter string
	// Attributes and ExcludedAttributes ask for fewer attributes.
	Attributes, ExcludedAttributes []string
	// PageSize overrides Options.PageSize.
	PageSize int
}

// listResponse is a page (RFC 7644 §3.4.2).
type listResponse struct {
	TotalResults int        `json:"totalResults"`
	Resources    []Resource `json:"Resources"`
}

func (c *Client) list(ctx context.Context, endpoint string, opts ListOptions, fn func(Resource) error) error {
	size := opts.PageSize
	if size <= 0 {
		size = c.opts.PageSize
	}
	q := url.Values{"count": {strconv.Itoa(size)}}
	if opts.Filter != "" {
		q.Set("filter", opts.Filter)
	}
	if len(opts.Attributes) > 0 {
		q.Set("attributes", strings.Join(opts.Attributes, ","))
	}
	if len(opts.ExcludedAttributes) > 0 {
		q.Set("excludedAttributes", strings.Join(opts.ExcludedAttributes, ","))
	}
	// Advance by what each page held: applications cap count below what we
	// ask, and an empty page ends the listing even if totalResults said more.
	for start := 1; ; {
		q.Set("startIndex", strconv.Itoa(start))
		var page listResponse
		if err := c.do(ctx, http.MethodGet, endpoint, q, nil, &page); err != nil {
			return err
		}
		for _, r := range page.Resources {
			if err := fn(r); err != nil {
				return err
			}
		}
		n := len(page.Resources)
		if n == 0 || start-1+n >= page.TotalResults {
			return nil
		}
		start += n
		if start > maxListed {
			return fmt.Errorf("GET %s: the app listed more than %d resources and promises %d; refusing to page on",
				endpoint, maxListed, page.TotalResults)
		}
	}
}

// maxListed bounds a listing: an app that claims endless results cannot
// keep the hub paging forever.
const maxListed = 10_000_000

// findLimit bounds what FindUsers and FindGroups collect in memory.
const findLimit = 1000

func (c *Client) find(ctx context.Context, endpoint, filter string) ([]Resource, error) {
	var out []Resource
	err := c.list(ctx, endpoint, ListOptions{Filter: filter}, func(r Resource) error {
		if len(out) == findLimit {
			return fmt.Errorf("%s?filter=%s: %w (more than %d)", endpoint, filter, ErrTooManyResults, findLimit)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// Eq returns the filter `attr eq "value"` with value escaped, e.g.
// Eq("userName", name) or Eq("emails.value", email). userName is compared
// case-insensitively by SCIM servers (caseExact false, RFC 7643 §4.1.1).
func Eq(attr, value string) string { return attr + " eq " + quote(value) }

// quote returns s as a filter string literal: a JSON string (RFC 7644
// §3.4.2.2) whose escapes use upper-case hex, the form filter parsers take.
func quote(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xF])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
