package scimin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/scim2/filter-parser/v2"

	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/store"
)

// generatedPrefix starts the external id the hub makes up for a resource
// its source created without an externalId; it is not shown as one.
const generatedPrefix = "scim:"

// trigger names the runs of SCIM writes.
const trigger = "scim"

type userResources struct{ h *Handler }

func (h *Handler) users() resources { return userResources{h} }

func (userResources) name() string { return "User" }

// sourceUser returns a user of the request's source that is not
// deprovisioned, or a 404.
func (h *Handler) sourceUser(ctx context.Context, id string) (*store.User, error) {
	u, err := h.st.GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (u.DirectoryID != source(ctx).ID || u.Status == store.StatusDeprovisioned)) {
		return nil, errorf(http.StatusNotFound, "", "no user %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading user %s: %w", id, err)
	}
	return u, nil
}

func (r userResources) get(ctx context.Context, id string) (map[string]any, error) {
	u, err := r.h.sourceUser(ctx, id)
	if err != nil {
		return nil, err
	}
	return renderUser(u), nil
}

func (r userResources) each(ctx context.Context, f filter.Expression, yield func(map[string]any) bool) error {
	d := source(ctx)
	if name, ok := eqValue(f, "userName"); ok {
		us, err := r.h.st.FindUsers(ctx, d.ID, name)
		if err != nil {
			return fmt.Errorf("finding users named %q: %w", name, err)
		}
		for _, u := range us {
			if u.Status != store.StatusDeprovisioned && !yield(renderUser(u)) {
				return nil
			}
		}
		return nil
	}
	after := ""
	for {
		us, err := r.h.st.ListUsers(ctx, store.UserFilter{DirectoryID: d.ID, AfterID: after, Limit: 500})
		if err != nil {
			return fmt.Errorf("listing the users of %s: %w", d.Name, err)
		}
		for _, u := range us {
			if u.Status != store.StatusDeprovisioned && !yield(renderUser(u)) {
				return nil
			}
		}
		if len(us) < 500 {
			return nil
		}
		after = us[len(us)-1].ID
	}
}

func (r userResources) create(ctx context.Context, body map[string]any) (map[string]any, error) {
	d := source(ctx)
	name, _ := body["username"].(string)
	if err := r.h.nameFree(ctx, name, ""); err != nil {
		return nil, err
	}
	ext, _ := body["externalid"].(string)
	if ext == "" {
		ext = generatedPrefix + newID()
	}
	o, err := userObject(d, body, nil, ext)
	if err != nil {
		return nil, err
	}
	return r.write(ctx, o, name)
}

func (r userResources) replace(ctx context.Context, id string, body map[string]any) (map[string]any, error) {
	d := source(ctx)
	u, err := r.h.sourceUser(ctx, id)
	if err != nil {
		return nil, err
	}
	name, _ := body["username"].(string)
	if err := r.h.nameFree(ctx, name, u.ID); err != nil {
		return nil, err
	}
	// The external id is the object's identity: it never changes.
	o, err := userObject(d, body, u, u.ExternalID)
	if err != nil {
		return nil, err
	}
	return r.write(ctx, o, name)
}

func (r userResources) remove(ctx context.Context, id string) error {
	d := source(ctx)
	u, err := r.h.sourceUser(ctx, id)
	if err != nil {
		return err
	}
	// Deprovisioned, never deleted (Invariant 5): a later POST with the
	// same externalId restores it.
	_, err = r.h.apply.ApplyWrite(ctx, d, trigger, &store.Batch{Deletes: []string{u.ExternalID}})
	return err
}

// nameFree refuses a userName that is empty or that another live user of
// the source holds (SCIM's uniqueness of userName).
func (h *Handler) nameFree(ctx context.Context, name, self string) error {
	if strings.TrimSpace(name) == "" {
		return errorf(http.StatusBadRequest, "invalidValue", "userName: required")
	}
	us, err := h.st.FindUsers(ctx, source(ctx).ID, name)
	if err != nil {
		return fmt.Errorf("finding users named %q: %w", name, err)
	}
	for _, u := range us {
		if u.ID != self && u.Status != store.StatusDeprovisioned {
			return errorf(http.StatusConflict, "uniqueness", "userName %q is taken by user %s", name, u.ID)
		}
	}
	return nil
}

// write applies a user object and reads it back.
func (r userResources) write(ctx context.Context, o *store.Object, name string) (map[string]any, error) {
	d := source(ctx)
	if _, err := r.h.apply.ApplyWrite(ctx, d, trigger, &store.Batch{Upserts: []*store.Object{o}}); err != nil {
		return nil, err
	}
	us, err := r.h.st.FindUsers(ctx, d.ID, name)
	if err != nil {
		return nil, fmt.Errorf("reading back user %q: %w", name, err)
	}
	for _, u := range us {
		if u.ExternalID == o.ExternalID {
			return renderUser(u), nil
		}
	}
	return nil, fmt.Errorf("user %q of %s is not in the store after its write", name, d.Name)
}

// userObject maps a SCIM User (lower-cased names) to the object the source
// writes. The source writes the fields it masters; any other field it
// writes only while the hub's value is empty (the values of a hire), so
// what another owner set stays as it is.
func userObject(d *store.Directory, body map[string]any, cur *store.User, ext string) (*store.Object, error) {
	active, err := boolValue(body["active"], true)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "invalidValue", "active: %v", err)
	}
	name, _ := body["name"].(map[string]any)
	ent, _ := body[strings.ToLower(schemaEnterprise)].(map[string]any)
	in := store.Profile{
		Username:       str(body["username"]),
		Email:          primaryEmail(body["emails"]),
		GivenName:      str(name["givenname"]),
		FamilyName:     str(name["familyname"]),
		DisplayName:    str(body["displayname"]),
		EmployeeNumber: str(ent["employeenumber"]),
		Department:     str(ent["department"]),
		Title:          str(body["title"]),
		Manager:        manager(ent["manager"]),
	}
	p := in
	if cur != nil {
		p = cur.Profile
		p.Username = in.Username
		for _, f := range store.ProfileFieldsOf(&p, &in) {
			if masters(d, f.Name) || *f.Dst == "" {
				*f.Dst = *f.Src
			}
		}
	}
	status := store.StatusActive
	if !active {
		status = store.StatusSuspended
	}
	o := newObject(d, store.ObjectUser, ext)
	o.Status, o.Profile = status, p
	o.Hash = ingest.Hash(o)
	return o, nil
}

// newObject starts the object of a source's resource: its DN is made from
// its external id, which never changes, so a rename keeps the DN (and the
// groups that hold it as a member).
func newObject(d *store.Directory, kind store.ObjectKind, ext string) *store.Object {
	dn := "externalId=" + ldap.EscapeDN(ext) + ",o=" + ldap.EscapeDN(d.Name)
	return &store.Object{Kind: kind, ExternalID: ext, DN: dn, DNKey: ingest.DNKey(dn)}
}

// masters says whether a source owns a profile field (no list: all).
func masters(d *store.Directory, field string) bool {
	return len(d.Mastered) == 0 || slices.Contains(d.Mastered, field)
}

func renderUser(u *store.User) map[string]any {
	res := map[string]any{
		"schemas":  []string{schemaUser, schemaEnterprise},
		"id":       u.ID,
		"userName": u.Username,
		"active":   u.Status == store.StatusActive,
		"meta":     meta("User", u.CreatedAt, u.UpdatedAt, u.Revision),
	}
	if !strings.HasPrefix(u.ExternalID, generatedPrefix) {
		res["externalId"] = u.ExternalID
	}
	name := map[string]any{}
	setIf(name, "givenName", u.GivenName)
	setIf(name, "familyName", u.FamilyName)
	if len(name) > 0 {
		name["formatted"] = strings.TrimSpace(u.GivenName + " " + u.FamilyName)
		res["name"] = name
	}
	setIf(res, "displayName", u.DisplayName)
	setIf(res, "title", u.Title)
	if u.Email != "" {
		res["emails"] = []any{map[string]any{"value": u.Email, "type": "work", "primary": true}}
	}
	ent := map[string]any{}
	setIf(ent, "employeeNumber", u.EmployeeNumber)
	setIf(ent, "department", u.Department)
	if u.Manager != "" {
		ent["manager"] = map[string]any{"value": u.Manager}
	}
	if len(ent) > 0 {
		res[schemaEnterprise] = ent
	}
	return res
}

func meta(kind string, created, updated time.Time, rev int64) map[string]any {
	return map[string]any{
		"resourceType": kind,
		"created":      created.UTC().Format(time.RFC3339),
		"lastModified": updated.UTC().Format(time.RFC3339),
		"version":      fmt.Sprintf(`W/"%d"`, rev),
	}
}

func setIf(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}

func str(v any) string {
	s, _ := v.(string)
	return strings.TrimSpace(s)
}

// boolValue reads a SCIM boolean; Entra sends "True" and "False" as
// strings in PATCH.
func boolValue(v any, def bool) (bool, error) {
	switch x := v.(type) {
	case nil:
		return def, nil
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(x) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, fmt.Errorf("%v is not a boolean", v)
}

// primaryEmail picks the primary email, else the work one, else the first.
func primaryEmail(v any) string {
	var first, work string
	for _, e := range elements(v) {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		val := str(m["value"])
		if val == "" {
			continue
		}
		if p, _ := boolValue(m["primary"], false); p {
			return val
		}
		if first == "" {
			first = val
		}
		if work == "" && strings.EqualFold(str(m["type"]), "work") {
			work = val
		}
	}
	if work != "" {
		return work
	}
	return first
}

// manager reads the enterprise manager: {"value": ID} or, as some clients
// send it, a bare string.
func manager(v any) string {
	if m, ok := v.(map[string]any); ok {
		return str(m["value"])
	}
	return str(v)
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
