package sync

import (
	"sort"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// DNKey returns the form of a DN that member values are matched by: attribute
// types and values lower-cased, spacing and escaping made canonical, so that
// "CN=Ann Lee, OU=People,DC=Example" and "cn=ann lee,ou=people,dc=example"
// meet. A string that does not parse as a DN is lower-cased and trimmed.
func DNKey(dn string) string {
	parsed, err := ldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	var b strings.Builder
	b.Grow(len(dn))
	for i, rdn := range parsed.RDNs {
		if i > 0 {
			b.WriteByte(',')
		}
		parts := make([]string, len(rdn.Attributes))
		for j, a := range rdn.Attributes {
			parts[j] = strings.ToLower(a.Type) + "=" + escapeDNValue(strings.ToLower(a.Value))
		}
		if len(parts) > 1 {
			sort.Strings(parts) // a multi-valued RDN is a set
		}
		b.WriteString(strings.Join(parts, "+"))
	}
	return b.String()
}

// escapeDNValue escapes the characters that would make a key ambiguous.
func escapeDNValue(v string) string {
	if !strings.ContainsAny(v, `,+=\"<>;#`) {
		return v
	}
	var b strings.Builder
	for _, r := range v {
		switch r {
		case ',', '+', '=', '\\', '"', '<', '>', ';', '#':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
