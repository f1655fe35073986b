package scimin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
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
	return r.render(ctx, u), nil
}

func (r userResources) each(ctx context.Context, f filter.Expression, yield func(map[string]any) bool) error {
	d := source(ctx)
	if name, ok := eqValue(f, "userName"); ok {
		us, err := r.h.st.FindUsers(ctx, d.ID, name)
		if err != nil {
			return fmt.Errorf("finding users named %q: %w", name, err)
		}
		for _, u := range us {
			if u.Status != store.StatusDeprovisioned && !yield(r.render(ctx, u)) {
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
			if u.Status != store.StatusDeprovisioned && !yield(r.render(ctx, u)) {
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
	c, err := r.typ(ctx).decode(body)
	if err != nil {
		return nil, err
	}
	name := str(c["userName"])
	if err := r.h.nameFree(ctx, name, ""); err != nil {
		return nil, err
	}
	ext := str(c["externalId"])
	if err := r.h.externalIDFree(ctx, store.ObjectUser, ext); err != nil {
		return nil, err
	}
	if ext == "" {
		ext = generatedPrefix + newID()
	}
	o, err := userObject(d, r.typ(ctx), c, nil, ext)
	if err != nil {
		return nil, err
	}
	return r.write(ctx, o, name)
}

func (r userResources) typ(ctx context.Context) *resourceType { return r.h.userType(source(ctx)) }

func (r userResources) replace(ctx context.Context, id string, body map[string]any) (map[string]any, error) {
	d := source(ctx)
	u, err := r.h.sourceUser(ctx, id)
	if err != nil {
		return nil, err
	}
	c, err := r.typ(ctx).decode(body)
	if err != nil {
		return nil, err
	}
	name := str(c["userName"])
	if err := r.h.nameFree(ctx, name, u.ID); err != nil {
		return nil, err
	}
	if err := sameExternalID(c, u.ExternalID); err != nil {
		return nil, err
	}
	o, err := userObject(d, r.typ(ctx), c, u, u.ExternalID)
	if err != nil {
		return nil, err
	}
	return r.write(ctx, o, name)
}

// sameExternalID refuses a write that would change a resource's
// externalId, its identity in the hub (immutable, RFC 7643 §3.1): another
// value, or one for a resource created without. Leaving it out keeps it.
func sameExternalID(c map[string]any, ext string) error {
	v, ok := c["externalId"]
	if !ok {
		return nil
	}
	shown := ext
	if strings.HasPrefix(ext, generatedPrefix) {
		shown = ""
	}
	if v != shown {
		if shown == "" {
			return errorf(http.StatusBadRequest, "mutability", "externalId: immutable: it is set when the resource is created, and this one was created without")
		}
		return errorf(http.StatusBadRequest, "mutability", "externalId: immutable: it is %q, and cannot become %q", shown, v)
	}
	return nil
}

func (r userResources) remove(ctx context.Context, id string) error {
	u, err := r.h.sourceUser(ctx, id)
	if err != nil {
		return err
	}
	// Deprovisioned, never deleted (Invariant 5): a later POST with the
	// same externalId restores it.
	_, err = writeRun(ctx).Apply(ctx, &store.Batch{Deletes: []string{u.ExternalID}})
	return err
}

// externalIDFree refuses to create a resource with an externalId another
// resource of the source holds (409 uniqueness): a create that wrote it
// would rewrite that resource, the object of that external id. A
// deprovisioned resource of the same kind is the exception: the create
// restores it.
func (h *Handler) externalIDFree(ctx context.Context, kind store.ObjectKind, ext string) error {
	if ext == "" {
		return nil
	}
	o, err := h.st.ObjectByExternalID(ctx, source(ctx).ID, ext)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("finding the object of external id %q: %w", ext, err)
	case o.Kind == kind && o.Status == store.StatusDeprovisioned:
		return nil
	}
	return errorf(http.StatusConflict, "uniqueness", "externalId %q is taken by %s %s", ext, o.Kind, o.ID)
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
	if _, err := writeRun(ctx).Apply(ctx, &store.Batch{Upserts: []*store.Object{o}}); err != nil {
		return nil, err
	}
	us, err := r.h.st.FindUsers(ctx, d.ID, name)
	if err != nil {
		return nil, fmt.Errorf("reading back user %q: %w", name, err)
	}
	for _, u := range us {
		if u.ExternalID == o.ExternalID {
			return r.render(ctx, u), nil
		}
	}
	return nil, fmt.Errorf("user %q of %s is not in the store after its write", name, d.Name)
}

// hubAttrs are the User attributes the hub keeps in its own fields, not
// as extra profile fields: the profile's (those with a field) and these.
var hubAttrs = map[string]bool{"userName": true, "externalId": true, "active": true}

// userObject maps a User (decoded: canonical names) to the object the
// source writes. The attributes the hub has fields for go to them (the
// e-mail: the primary one); every other attribute the schema keeps goes to
// an extra profile field named by its path ("nickName",
// "name.middleName"), a multi-valued one as one JSON object per value
// ("phoneNumbers"), and so do all the e-mails. The source writes the
// fields it masters; any other field it writes only while the hub's value
// is empty (the values of a hire), so what another owner set stays as it
// is. The extra fields are the source's own.
func userObject(d *store.Directory, rt *resourceType, c map[string]any, cur *store.User, ext string) (*store.Object, error) {
	active := true
	if b, ok := c["active"].(bool); ok {
		active = b
	}
	name, _ := c["name"].(map[string]any)
	ent, _ := c[schemaEnterprise].(map[string]any)
	in := store.Profile{
		Username:       str(c["userName"]),
		Email:          primaryEmail(c["emails"]),
		GivenName:      str(name["givenName"]),
		FamilyName:     str(name["familyName"]),
		DisplayName:    str(c["displayName"]),
		EmployeeNumber: str(ent["employeeNumber"]),
		Department:     str(ent["department"]),
		Title:          str(c["title"]),
		Manager:        manager(ent["manager"]),
	}
	extra, err := extras(rt, c)
	if err != nil {
		return nil, err
	}
	in.Extra = extra
	if reflect.DeepEqual(c["emails"], renderEmails(in.Email, nil)) {
		// One work e-mail, primary: the e-mail field says it all.
		setExtra(&in, "emails", nil)
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
		// The e-mails go with the e-mail: kept when it is kept.
		emails := p.Extra["emails"]
		p.Extra = in.Extra
		if p.Email != in.Email {
			setExtra(&p, "emails", emails)
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

// extras are the values of the attributes kept as extra profile fields.
func extras(rt *resourceType, c map[string]any) (map[string][]string, error) {
	out := map[string][]string{}
	for _, s := range rt.schemas() {
		src := c
		if s != rt.core {
			src, _ = c[s.id].(map[string]any)
		}
		for _, a := range s.attrs {
			v := src[a.name]
			switch {
			case v == nil || a.ignored || hubAttrs[a.name] || (a.field != "" && !a.multi):
			case a.multi:
				for _, e := range v.([]any) {
					raw, err := json.Marshal(e)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", a.name, err)
					}
					out[a.name] = append(out[a.name], string(raw))
				}
			case a.typ == "complex":
				m := v.(map[string]any)
				for _, sub := range a.subs {
					if sv, ok := m[sub.name].(string); ok && sub.field == "" {
						out[a.name+"."+sub.name] = []string{sv}
					}
				}
			default:
				out[a.name] = []string{str(v)}
			}
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func setExtra(p *store.Profile, k string, v []string) {
	if len(v) == 0 {
		delete(p.Extra, k)
		return
	}
	if p.Extra == nil {
		p.Extra = map[string][]string{}
	}
	p.Extra[k] = v
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

// render is the User a user is: the inverse of userObject.
func (r userResources) render(ctx context.Context, u *store.User) map[string]any {
	rt := r.typ(ctx)
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
	res["name"] = name
	setIf(res, "displayName", u.DisplayName)
	setIf(res, "title", u.Title)
	ent := map[string]any{}
	setIf(ent, "employeeNumber", u.EmployeeNumber)
	setIf(ent, "department", u.Department)
	if u.Manager != "" {
		ent["manager"] = r.h.managerOf(ctx, u.Manager)
	}
	for _, s := range rt.schemas() {
		dst := res
		if s != rt.core {
			dst = ent
		}
		for _, a := range s.attrs {
			switch {
			case a.ignored || hubAttrs[a.name] || (a.field != "" && !a.multi):
			case a.multi:
				var list []any
				for _, raw := range u.Extra[a.name] {
					var e any
					if json.Unmarshal([]byte(raw), &e) == nil {
						list = append(list, e)
					}
				}
				if len(list) > 0 {
					dst[a.name] = list
				}
			case a.typ == "complex":
				m, _ := dst[a.name].(map[string]any)
				if m == nil {
					m = map[string]any{}
				}
				for _, sub := range a.subs {
					if v := u.Extra[a.name+"."+sub.name]; len(v) > 0 && sub.field == "" {
						m[sub.name] = v[0]
					}
				}
				dst[a.name] = m
			default:
				if v := u.Extra[a.name]; len(v) > 0 {
					dst[a.name] = v[0]
				}
			}
		}
	}
	if len(name) == 0 {
		delete(res, "name")
	}
	if emails := renderEmails(u.Email, res["emails"]); emails != nil {
		res["emails"] = emails
	} else {
		delete(res, "emails")
	}
	if len(ent) > 0 {
		res[schemaEnterprise] = ent
	}
	return res
}

// renderEmails shows the e-mails the source sent when they still hold the
// hub's e-mail of the user; else (another owner changed it) the hub's as
// the primary work e-mail, with the others the source sent.
func renderEmails(email string, kept any) []any {
	list, _ := kept.([]any)
	if email == "" {
		return nil
	}
	for _, e := range list {
		if m, ok := e.(map[string]any); ok && strings.EqualFold(str(m["value"]), email) {
			return list
		}
	}
	out := []any{map[string]any{"value": email, "type": "work", "primary": true}}
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			delete(m, "primary")
			out = append(out, m)
		}
	}
	return out
}

// managerOf is the manager of a user: its id as the source sent it, with
// the manager's $ref and displayName when it is the id of a live user of
// the source.
func (h *Handler) managerOf(ctx context.Context, id string) map[string]any {
	m := map[string]any{"value": id}
	if u, err := h.sourceUser(ctx, id); err == nil {
		m["$ref"] = baseOf(ctx) + "/Users/" + u.ID
		setIf(m, "displayName", u.DisplayName)
	}
	return m
}

func meta(kind string, created, updated time.Time, rev int64) map[string]any {
	return map[string]any{
		"resourceType": kind,
		// To the store's precision, not the second: a client that asks
		// for what changed after the last change it saw (lastModified
		// gt) must not miss a write of the same second.
		"created":      created.UTC().Format(time.RFC3339Nano),
		"lastModified": updated.UTC().Format(time.RFC3339Nano),
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
