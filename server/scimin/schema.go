package scimin

import (
	"net/http"
	"slices"
	"strings"

	"github.com/scim2/filter-parser/v2"

	"github.com/idsync/idsync/server/store"
)

// Attribute mutability and returned values (RFC 7643 §7).
const (
	readWrite = "readWrite"
	readOnly  = "readOnly"
	immutable = "immutable"
	writeOnly = "writeOnly"
)

// attribute is one attribute of a schema as /Schemas shows it. The schema
// is the one description of what the endpoint keeps: requests are checked
// against it, resources are read and written through it, and /Schemas is
// rendered from it, so that what it says is what the endpoint does.
type attribute struct {
	name        string
	typ         string // string, boolean, complex, reference, binary, dateTime
	multi       bool
	required    bool
	caseExact   bool
	mutability  string
	returned    string // always, default
	uniqueness  string
	canonical   []string
	closed      bool // only the canonical values are taken
	refTypes    []string
	description string
	subs        []*attribute
	// field names the hub profile field the attribute is kept in, for
	// the sources that master some fields only (Directory.Mastered).
	field string
	// ignored: the attribute is accepted wherever a request may name it,
	// and nothing of it is kept or returned (writeOnly, returned never).
	ignored bool
}

func newAttr(name, typ, description string, subs ...*attribute) *attribute {
	return &attribute{name: name, typ: typ, mutability: readWrite, returned: "default", uniqueness: "none",
		description: description, subs: subs}
}

func (a *attribute) many() *attribute             { a.multi = true; return a }
func (a *attribute) req() *attribute              { a.required = true; return a }
func (a *attribute) exact() *attribute            { a.caseExact = true; return a }
func (a *attribute) mut(m string) *attribute      { a.mutability = m; return a }
func (a *attribute) always() *attribute           { a.returned = "always"; return a }
func (a *attribute) unique() *attribute           { a.uniqueness = "server"; return a }
func (a *attribute) canon(v ...string) *attribute { a.canonical = v; return a }
func (a *attribute) only() *attribute             { a.closed = true; return a }
func (a *attribute) refs(v ...string) *attribute  { a.refTypes = v; return a }
func (a *attribute) kept(field string) *attribute { a.field = field; return a }

// ignore makes the attribute one the endpoint accepts and ignores.
func (a *attribute) ignore() *attribute {
	a.ignored, a.mutability, a.returned = true, writeOnly, "never"
	return a
}

// plural is a multi-valued complex attribute of RFC 7643 §2.4: value,
// display, type and primary.
func plural(name, description, valueType string, types ...string) *attribute {
	return newAttr(name, "complex", description,
		newAttr("value", valueType, "The value."),
		newAttr("display", "string", "A human-readable name."),
		newAttr("type", "string", "What the value is for.").canon(types...),
		newAttr("primary", "boolean", "The primary value (at most one)."),
	).many()
}

// sub returns the sub-attribute named name (case-insensitive), or nil.
func (a *attribute) sub(name string) *attribute {
	return find(a.subs, name)
}

func find(attrs []*attribute, name string) *attribute {
	for _, s := range attrs {
		if strings.EqualFold(s.name, name) {
			return s
		}
	}
	return nil
}

// writable reports whether a client may set the attribute.
func (a *attribute) writable() bool { return a.mutability != readOnly }

// schemaDef is a schema: a resource type's core schema or an extension.
type schemaDef struct {
	id, name, description string
	attrs                 []*attribute
}

// resourceType is a resource type of the endpoint as a source sees it:
// its core schema and its extensions.
type resourceType struct {
	name string // User, Group
	core *schemaDef
	exts []*schemaDef
}

// schemas returns the core schema and the extensions.
func (rt *resourceType) schemas() []*schemaDef {
	return append([]*schemaDef{rt.core}, rt.exts...)
}

// ext returns the extension whose URI is uri (case-insensitive), or nil.
func (rt *resourceType) ext(uri string) *schemaDef {
	for _, s := range rt.exts {
		if strings.EqualFold(s.id, uri) {
			return s
		}
	}
	return nil
}

// The attributes every resource has (RFC 7643 §3.1), which no schema
// lists: the endpoint sets them.
var commonAttrs = []*attribute{
	newAttr("id", "string", "The hub's id of the resource.").exact().mut(readOnly).always().unique(),
	newAttr("meta", "complex", "Resource metadata.",
		newAttr("resourceType", "string", "User or Group.").exact().mut(readOnly),
		newAttr("created", "dateTime", "When the resource was created.").mut(readOnly),
		newAttr("lastModified", "dateTime", "When the resource was last changed.").mut(readOnly),
		newAttr("location", "reference", "The URI of the resource.").exact().mut(readOnly),
		newAttr("version", "string", "The version of the resource (its ETag).").exact().mut(readOnly),
	).mut(readOnly),
	newAttr("schemas", "reference", "The schemas of the resource.").many().exact().mut(readOnly).always(),
}

// externalID is the source's id of a resource, the hub object's identity.
func externalID() *attribute {
	return newAttr("externalId", "string", "The source's id of the resource, which is its identity in the hub: "+
		"it is set when the resource is created (or made up by the hub when none is sent, and then not shown) and "+
		"never changes; a request that changes it is refused (400 mutability), the same value is accepted. Unique "+
		"among the source's users and groups (409 uniqueness); a create with the externalId of a deleted resource "+
		"of its type restores it.").
		exact().mut(immutable).unique()
}

// userType is the User resource type as source d sees it: a field the
// source does not master is written only while the hub holds no value
// (Directory.Mastered), which RFC 7643 calls immutable.
func userType(d *store.Directory) *resourceType {
	core := &schemaDef{id: schemaUser, name: "User", description: "User Account", attrs: []*attribute{
		newAttr("userName", "string", "The user's unique name among the source's live users, without regard to case.").req().unique(),
		externalID(),
		newAttr("name", "complex", "The user's name.",
			newAttr("formatted", "string", "The full name, as the source sends it (kept as sent; not made from the parts)."),
			newAttr("familyName", "string", "The family name.").kept("family_name"),
			newAttr("givenName", "string", "The given name.").kept("given_name"),
			newAttr("middleName", "string", "The middle name."),
			newAttr("honorificPrefix", "string", "The honorific prefix."),
			newAttr("honorificSuffix", "string", "The honorific suffix."),
		),
		newAttr("displayName", "string", "The name shown for the user.").kept("display_name"),
		newAttr("nickName", "string", "The casual name."),
		newAttr("profileUrl", "reference", "The URL of the user's profile.").refs("external"),
		newAttr("title", "string", "The job title.").kept("title"),
		newAttr("userType", "string", "The relation of the user to the organisation."),
		newAttr("preferredLanguage", "string", "The preferred language (RFC 7231 Accept-Language form)."),
		newAttr("locale", "string", "The locale (language tag)."),
		newAttr("timezone", "string", "The time zone (IANA name)."),
		newAttr("active", "boolean", "false suspends the user, true makes it active. Unassigned (absent from a POST or "+
			"PUT, or removed by PATCH) is true, as for a user created without it."),
		plural("emails", "The e-mail addresses, all kept as sent. The hub's e-mail of the user (what apps are "+
			"given) is the primary one, else the one of type work, else the first.", "string", "work", "home", "other").kept("email"),
		plural("phoneNumbers", "The phone numbers, kept as sent.", "string", "work", "home", "mobile", "fax", "pager", "other"),
		plural("ims", "The instant messaging addresses, kept as sent.", "string", "aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"),
		plural("photos", "The URLs of photos of the user, kept as sent.", "reference", "photo", "thumbnail"),
		newAttr("addresses", "complex", "The postal addresses, kept as sent.",
			newAttr("formatted", "string", "The full address."),
			newAttr("streetAddress", "string", "The street address."),
			newAttr("locality", "string", "The city or locality."),
			newAttr("region", "string", "The state or region."),
			newAttr("postalCode", "string", "The postal code."),
			newAttr("country", "string", "The country (ISO 3166-1 alpha-2)."),
			newAttr("type", "string", "What the address is for.").canon("work", "home", "other"),
			newAttr("primary", "boolean", "The primary address (at most one)."),
		).many(),
		plural("entitlements", "The entitlements, kept as sent.", "string"),
		plural("roles", "The roles, kept as sent.", "string"),
		plural("x509Certificates", "The certificates (base64 DER), kept as sent.", "binary"),
		newAttr("password", "string", "Accepted and ignored: the hub keeps no password of a source's users (a "+
			"directory's initial password is set by write-back). A POST, PUT or PATCH with it answers as without it.").ignore(),
	}}
	ent := &schemaDef{id: schemaEnterprise, name: "EnterpriseUser", description: "Enterprise User", attrs: []*attribute{
		newAttr("employeeNumber", "string", "The employee number.").kept("employee_number"),
		newAttr("costCenter", "string", "The cost center."),
		newAttr("organization", "string", "The organisation."),
		newAttr("division", "string", "The division."),
		newAttr("department", "string", "The department.").kept("department"),
		newAttr("manager", "complex", "The user's manager.",
			newAttr("value", "string", "The id of the manager's User (an id of the source's own, such as a worker id, is kept as sent)."),
			newAttr("$ref", "reference", "The URI of the manager's User, when value is the id of a user of the source.").refs("User").mut(readOnly),
			newAttr("displayName", "string", "The manager's displayName, when value is the id of a user of the source.").mut(readOnly),
		).kept("manager"),
	}}
	for _, s := range []*schemaDef{core, ent} {
		for _, a := range s.attrs {
			masteredOnly(d, a)
			for _, sub := range a.subs {
				masteredOnly(d, sub)
			}
		}
	}
	return &resourceType{name: "User", core: core, exts: []*schemaDef{ent}}
}

// masteredOnly marks an attribute kept in a profile field that d does not
// master as immutable: the source writes it while the hub holds no value.
func masteredOnly(d *store.Directory, a *attribute) {
	if a.field == "" || masters(d, a.field) {
		return
	}
	a.mutability = immutable
	a.description += " This source does not master it: it is written while the hub holds no value (at hire) and " +
		"another owner keeps it afterwards; a PATCH that changes a value is refused (400 mutability), a PUT keeps the hub's."
}

// groupType is the Group resource type.
var groupType = newGroupType()

func newGroupType() *resourceType {
	core := &schemaDef{id: schemaGroup, name: "Group", description: "Group", attrs: []*attribute{
		newAttr("displayName", "string", "The group's unique name among the source's live groups.").req().unique(),
		externalID(),
		newAttr("members", "complex", "The members: users of the same source. Not shown when the group has none.",
			newAttr("value", "string", "The id of the member's User.").exact().mut(immutable),
			newAttr("$ref", "reference", "The URI of the member's User.").refs("User").mut(readOnly),
			newAttr("display", "string", "The member's userName.").mut(readOnly),
			newAttr("type", "string", "The kind of member: only User (a source's groups do not nest).").canon("User").only().mut(immutable),
		).many(),
	}}
	return &resourceType{name: "Group", core: core}
}

// target is what an attribute path names in a resource type: an
// attribute (with its schema, and its sub-attribute when the path has
// one), or a whole extension (attr nil).
type target struct {
	schema *schemaDef // nil: a common attribute (id, meta, schemas)
	attr   *attribute
	sub    *attribute
}

// resolve finds what p names. A path with a schema URI looks in that
// schema; one without looks in the core schema and the common attributes.
// An unknown attribute is a 400 invalidPath naming it.
func (rt *resourceType) resolve(p filter.AttributePath) (target, error) {
	name := p.AttributeName
	var in *schemaDef
	var attrs []*attribute
	if p.URIPrefix != nil {
		uri := *p.URIPrefix
		if s := rt.ext(uri + ":" + name); s != nil && p.SubAttribute == nil {
			return target{schema: s}, nil
		}
		switch {
		case strings.EqualFold(uri, rt.core.id):
			in = rt.core
		case rt.ext(uri) != nil:
			in = rt.ext(uri)
		default:
			return target{}, errorf(http.StatusBadRequest, "invalidPath", "%s: no such schema here (%s)", pathString(p), schemaIDs(rt))
		}
		attrs = in.attrs
	} else {
		in = rt.core
		attrs = rt.core.attrs
	}
	a := find(attrs, name)
	if a == nil && p.URIPrefix == nil {
		if a = find(commonAttrs, name); a != nil {
			in = nil
		}
	}
	if a == nil {
		return target{}, errorf(http.StatusBadRequest, "invalidPath", "%s: no such attribute in the %s schema (see /Schemas)", pathString(p), rt.name)
	}
	t := target{schema: in, attr: a}
	if p.SubAttribute != nil {
		if t.sub = a.sub(*p.SubAttribute); t.sub == nil {
			return target{}, errorf(http.StatusBadRequest, "invalidPath", "%s: %s has no sub-attribute %s", pathString(p), a.name, *p.SubAttribute)
		}
	}
	return t, nil
}

// leaf is the attribute a target's value is of: the sub-attribute, else
// the attribute.
func (t target) leaf() *attribute {
	if t.sub != nil {
		return t.sub
	}
	return t.attr
}

// key is the lower-cased key of the object a target's attribute lives in
// within a resource with lower-cased keys: "" for the resource itself,
// the extension's URI for an extension's attribute.
func (t target) key(rt *resourceType) string {
	if t.schema == nil || t.schema == rt.core {
		return ""
	}
	return strings.ToLower(t.schema.id)
}

func pathString(p filter.AttributePath) string {
	s := p.AttributeName
	if p.SubAttribute != nil {
		s += "." + *p.SubAttribute
	}
	if p.URIPrefix != nil {
		s = *p.URIPrefix + ":" + s
	}
	return s
}

func schemaIDs(rt *resourceType) string {
	ids := make([]string, 0, 1+len(rt.exts))
	for _, s := range rt.schemas() {
		ids = append(ids, s.id)
	}
	return strings.Join(ids, ", ")
}

// json renders an attribute as /Schemas shows it.
func (a *attribute) json() map[string]any {
	m := map[string]any{"name": a.name, "type": a.typ, "multiValued": a.multi, "description": a.description,
		"required": a.required, "caseExact": a.caseExact, "mutability": a.mutability, "returned": a.returned,
		"uniqueness": a.uniqueness}
	if len(a.canonical) > 0 {
		m["canonicalValues"] = slices.Clone(a.canonical)
	}
	if len(a.refTypes) > 0 {
		m["referenceTypes"] = slices.Clone(a.refTypes)
	}
	if len(a.subs) > 0 {
		subs := make([]any, len(a.subs))
		for i, s := range a.subs {
			subs[i] = s.json()
		}
		m["subAttributes"] = subs
	}
	return m
}

func (s *schemaDef) json() map[string]any {
	attrs := make([]any, len(s.attrs))
	for i, a := range s.attrs {
		attrs[i] = a.json()
	}
	return map[string]any{"id": s.id, "name": s.name, "description": s.description, "attributes": attrs}
}
