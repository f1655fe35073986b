package ldapsync

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Defaults for the zero fields of a Spec.
const (
	DefaultPageSize      = 500
	DefaultMaxValueBytes = 1 << 20
)

// Spec says what FullImport reads. It is the policy part the hub sends;
// connection details stay in the agent's Config.
type Spec struct {
	Kind   Kind
	BaseDN string
	// UserFilter and GroupFilter select users and groups; empty means the
	// usual filter for Kind (see defaultFilters).
	UserFilter, GroupFilter string
	// UserAttributes and GroupAttributes are the attributes to read. The id
	// attribute is always read and never listed in a Change.
	UserAttributes, GroupAttributes []string
	// PageSize is the number of entries per LDAP page; DefaultPageSize when
	// zero. AD caps it at its MaxPageSize (1,000).
	PageSize int
	// MaxValueBytes is the largest attribute value accepted; an entry with a
	// larger one is reported as an EntryError. DefaultMaxValueBytes when
	// zero.
	MaxValueBytes int
}

// defaultFilters are the user and group filters for each Kind.
var defaultFilters = map[Kind][2]string{
	KindOpenLDAP: {"(objectClass=inetOrgPerson)",
		"(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))"},
	KindAD: {"(&(objectCategory=person)(objectClass=user))", "(objectClass=group)"},
}

// idAttribute is the attribute holding the immutable id for each Kind.
var idAttribute = map[Kind]string{KindOpenLDAP: "entryuuid", KindAD: "objectguid"}

// adValueWindow is the number of values of member asked for per search on
// AD: AD's default MaxValRange. Asking explicitly bounds the size of one
// entry on servers that do not cap values themselves (Samba), and is what AD
// does anyway.
const adValueWindow = 1500

// withDefaults checks s and fills its zero fields.
func (s Spec) withDefaults() (Spec, error) {
	filters, ok := defaultFilters[s.Kind]
	if !ok {
		return s, fmt.Errorf("spec: unknown directory kind %v", s.Kind)
	}
	if s.BaseDN == "" {
		return s, fmt.Errorf("spec: BaseDN is empty")
	}
	if _, err := ldap.ParseDN(s.BaseDN); err != nil {
		return s, fmt.Errorf("spec: BaseDN %q: %w", s.BaseDN, err)
	}
	if s.UserFilter == "" {
		s.UserFilter = filters[0]
	}
	if s.GroupFilter == "" {
		s.GroupFilter = filters[1]
	}
	for _, f := range [][2]string{{"UserFilter", s.UserFilter}, {"GroupFilter", s.GroupFilter}} {
		if _, err := ldap.CompileFilter(f[1]); err != nil {
			return s, fmt.Errorf("spec: %s %q: %w", f[0], f[1], err)
		}
	}
	if s.PageSize < 0 || s.MaxValueBytes < 0 {
		return s, fmt.Errorf("spec: PageSize (%d) and MaxValueBytes (%d) must not be negative", s.PageSize, s.MaxValueBytes)
	}
	if s.PageSize == 0 {
		s.PageSize = DefaultPageSize
	}
	if s.MaxValueBytes == 0 {
		s.MaxValueBytes = DefaultMaxValueBytes
	}
	return s, nil
}

// requestAttributes returns the attribute descriptions to ask for: the id
// attribute, then the requested ones once each (case-insensitively), with
// member windowed on AD.
func (s Spec) requestAttributes(requested []string) []string {
	id := idAttribute[s.Kind]
	out := []string{id}
	seen := map[string]bool{id: true}
	for _, a := range requested {
		lower := strings.ToLower(a)
		if seen[lower] {
			continue
		}
		seen[lower] = true
		if s.Kind == KindAD && lower == "member" {
			a = rangeDesc(a, 0, adValueWindow-1)
		}
		out = append(out, a)
	}
	return out
}

// attributeDescription matches an attribute description that is safe to
// put in a filter or a request: a keystring or a numeric OID, with options
// (";binary", ";lang-en").
var attributeDescription = regexp.MustCompile(`^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*$`)

// validAttrName reports whether s is an attribute description (see
// attributeDescription).
func validAttrName(s string) bool { return attributeDescription.MatchString(s) }
