package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/idsync/idsync/server/provision/expr"
	"github.com/idsync/idsync/server/scim"
	"github.com/idsync/idsync/server/store"
)

// DefaultMapping is the mapping of an app created without one: the SCIM
// core attributes and the enterprise extension from the hub profile.
// userName is the email, or the username when there is none; manager is
// left out (the hub knows a DN, the app wants its own id).
func DefaultMapping() []store.MappingRule {
	return []store.MappingRule{
		{Target: "userName", Expr: "coalesce(email, username)"},
		{Target: "name.givenName", Expr: "given_name"},
		{Target: "name.familyName", Expr: "family_name"},
		{Target: "displayName", Expr: `coalesce(display_name, trim(default(given_name, "") + " " + default(family_name, "")), username)`},
		{Target: `emails[type eq "work"].value`, Expr: "email"},
		{Target: "title", Expr: "title"},
		{Target: scim.EnterpriseUserSchema + ":employeeNumber", Expr: "employee_number"},
		{Target: scim.EnterpriseUserSchema + ":department", Expr: "department"},
	}
}

// DirectoryDefaultMapping is the default mapping of a directory target: the
// default one, but userName — the account's logon name — from the hub's
// username, which does not change when the email does.
func DirectoryDefaultMapping() []store.MappingRule {
	m := DefaultMapping()
	m[0] = store.MappingRule{Target: "userName", Expr: "username"}
	return m
}

// reserved are targets the engine sets itself.
var reserved = map[string]string{
	"id":         "the app's own id",
	"externalid": "the hub's user id",
	"active":     "the user's status and the assignment",
	"schemas":    "the schemas of the attributes mapped",
	"meta":       "the app's metadata",
	"password":   "passwords are never pushed",
}

// multiTarget is a multi-valued attribute chosen by type, the one form of
// value filter a target may have: emails[type eq "work"].value.
var multiTarget = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]*)\[type eq "([^"]+)"\]\.value$`)

// simpleTarget is an attribute path, optionally after a schema URI.
var simpleTarget = regexp.MustCompile(`^(urn:[A-Za-z0-9.:_-]+:)?[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)?$`)

// Mapping is a compiled mapping.
type Mapping struct {
	rules []rule
}

type rule struct {
	target string
	expr   *expr.Expr
	// multi, typ: a multi-valued attribute with this type.
	multi, typ string
}

// CompileMapping checks and compiles rules; errors name the rule and what is
// wrong with it. No rules gives the default mapping.
func CompileMapping(rules []store.MappingRule) (*Mapping, error) {
	if len(rules) == 0 {
		rules = DefaultMapping()
	}
	m := &Mapping{}
	seen := map[string]bool{}
	hasUserName := false
	for i, r := range rules {
		where := fmt.Sprintf("mapping rule %d (%s)", i+1, r.Target)
		target := strings.TrimSpace(r.Target)
		key := strings.ToLower(target)
		if why, ok := reserved[key]; ok {
			return nil, fmt.Errorf("%s: %s is set by idsync from %s, not mapped", where, target, why)
		}
		if seen[key] {
			return nil, fmt.Errorf("%s: the target is mapped twice", where)
		}
		seen[key] = true
		ru := rule{target: target}
		if mt := multiTarget.FindStringSubmatch(target); mt != nil {
			ru.multi, ru.typ = mt[1], mt[2]
		} else if !simpleTarget.MatchString(target) {
			return nil, fmt.Errorf(`%s: not a SCIM attribute path (want name, name.sub, urn:…:name, or name[type eq "work"].value)`, where)
		}
		e, err := expr.Compile(r.Expr)
		if err != nil {
			return nil, fmt.Errorf("%s: expression %q: %w", where, r.Expr, err)
		}
		if e.Calls("random") {
			return nil, fmt.Errorf("%s: expression %q: random() makes passwords, for a directory's initial password only: "+
				"a mapping must give the same value each time", where, r.Expr)
		}
		ru.expr = e
		if key == "username" {
			hasUserName = true
		}
		m.rules = append(m.rules, ru)
	}
	if !hasUserName {
		return nil, fmt.Errorf("mapping: userName must be mapped (SCIM requires it)")
	}
	return m, nil
}

// UserEnv is the expression environment of a hub user: the profile
// fields by name, for the mappings and for group rules (server/rules),
// which also set Groups.
type UserEnv struct {
	User *store.User
	// Groups is the field groups: the names of the user's groups as a
	// group rule sees them; nil leaves it null (a mapping).
	Groups []string
}

// UserFields are the names UserEnv knows, besides extra.NAME (an extra
// attribute, which a user may or may not have).
var UserFields = []string{"id", "username", "email", "given_name", "family_name", "display_name", "employee_number",
	"department", "title", "manager", "status", "directory", "dn", "external_id", "groups"}

// UnknownField refuses an expression that reads a field UserEnv does not
// know: a misspelt name (titel) would be null for every user, silently. It
// names the field, and the nearest known one.
func UnknownField(e *expr.Expr) error {
	for _, f := range e.Fields() {
		if strings.HasPrefix(f, "extra.") || slices.Contains(UserFields, f) {
			continue
		}
		hint := ""
		if near := expr.Nearest(f, UserFields); near != "" {
			hint = fmt.Sprintf(" (did you mean %s?)", near)
		}
		return fmt.Errorf("unknown field %q%s: the fields are %s, and extra.NAME for an extra attribute",
			f, hint, strings.Join(UserFields, ", "))
	}
	return nil
}

// UnknownMappingField is UnknownField for each rule of a mapping that
// compiles (CompileMapping has checked the rest); the error names the rule.
func UnknownMappingField(rules []store.MappingRule) error {
	for i, r := range rules {
		e, err := expr.Compile(r.Expr)
		if err != nil {
			continue
		}
		if err := UnknownField(e); err != nil {
			return fmt.Errorf("mapping rule %d (%s): expression %q: %w", i+1, r.Target, r.Expr, err)
		}
	}
	return nil
}

// Lookup returns the field name of the user.
func (e UserEnv) Lookup(name string) (expr.Value, bool) {
	u := e.User
	p := &u.Profile
	str := func(s string) (expr.Value, bool) {
		if s == "" {
			return expr.Null(), false
		}
		return expr.String(s), true
	}
	switch name {
	case "id":
		return str(u.ID)
	case "username":
		return str(p.Username)
	case "email":
		return str(p.Email)
	case "given_name":
		return str(p.GivenName)
	case "family_name":
		return str(p.FamilyName)
	case "display_name":
		return str(p.DisplayName)
	case "employee_number":
		return str(p.EmployeeNumber)
	case "department":
		return str(p.Department)
	case "title":
		return str(p.Title)
	case "manager":
		return str(p.Manager)
	case "status":
		return str(string(u.Status))
	case "directory":
		return str(u.Directory)
	case "dn":
		return str(u.DN)
	case "external_id":
		return str(u.ExternalID)
	case "groups":
		if e.Groups == nil {
			return expr.Null(), false
		}
		return expr.List(e.Groups), true
	}
	if rest, ok := strings.CutPrefix(name, "extra."); ok {
		for k, vs := range p.Extra {
			if strings.EqualFold(k, rest) {
				switch len(vs) {
				case 0:
					return expr.Null(), false
				case 1:
					return expr.String(vs[0]), true
				}
				return expr.List(vs), true
			}
		}
	}
	return expr.Null(), false
}

// Render builds the SCIM User the app should hold for u: the mapped
// attributes, externalId (the hub's id) and active. A mapped value that is
// null or empty leaves the attribute out. Errors name the target.
func (m *Mapping) Render(u *store.User, active bool) (scim.Resource, error) {
	r := scim.Resource{}
	env := UserEnv{User: u}
	for _, ru := range m.rules {
		v, err := ru.expr.Eval(env)
		if err != nil {
			return nil, fmt.Errorf("mapping %s for user %s: %w", ru.target, u.ID, err)
		}
		val := v.Any()
		if l, ok := v.AsList(); ok {
			if len(l) == 0 {
				val = nil
			} else if ru.multi == "" {
				items := make([]any, len(l))
				for i, s := range l {
					items[i] = s
				}
				val = items
			}
		}
		if s, ok := val.(string); ok && s == "" {
			val = nil
		}
		if val == nil {
			continue
		}
		if ru.multi != "" {
			first := val
			if l, ok := v.AsList(); ok {
				first = l[0]
			}
			if _, ok := first.(string); !ok {
				return nil, fmt.Errorf("mapping %s for user %s: want a string, got %v", ru.target, u.ID, first)
			}
			list, _ := r[ru.multi].([]any)
			entry := map[string]any{"value": first, "type": ru.typ}
			if len(list) == 0 {
				entry["primary"] = true
			}
			r[ru.multi] = append(list, entry)
			continue
		}
		r.Set(ru.target, val)
	}
	if r.UserName() == "" {
		return nil, fmt.Errorf("mapping userName for user %s (%s): empty; the user cannot be pushed", u.ID, u.Profile.Username)
	}
	r["externalId"] = u.ID
	r["active"] = active
	schemas := []any{scim.UserSchema}
	if _, ok := r[scim.EnterpriseUserSchema]; ok {
		schemas = append(schemas, scim.EnterpriseUserSchema)
	}
	r["schemas"] = schemas
	return r, nil
}

// hashResource returns a digest of r's JSON (map keys sorted by
// encoding/json), to tell whether anything changed since the last push.
func hashResource(r scim.Resource) (string, []byte, error) {
	raw, err := json.Marshal(r)
	if err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16]), raw, nil
}
