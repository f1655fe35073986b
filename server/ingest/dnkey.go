package ingest

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
	if k, ok := simpleDNKey(dn); ok {
		return k
	}
	return parsedDNKey(dn)
}

// simpleDNKey is DNKey for the common DN without escapes, quotes,
// multi-valued RDNs or '=' in values, without the cost of a full parse (a
// full import computes one key per entry and per member value). It reports
// false for anything else; both paths give the same key for such DNs.
func simpleDNKey(dn string) (string, bool) {
	if strings.ContainsAny(dn, "\\\"+#;<>\x00") {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(dn))
	for i := 0; ; i++ {
		part, rest, more := strings.Cut(dn, ",")
		t, v, ok := strings.Cut(part, "=")
		t, v = strings.Trim(t, " "), strings.Trim(v, " ") // as ParseDN: only spaces are insignificant
		if !ok || t == "" || v == "" || strings.Contains(v, "=") {
			return "", false
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strings.ToLower(t))
		b.WriteByte('=')
		b.WriteString(strings.ToLower(v))
		if !more {
			return b.String(), true
		}
		dn = rest
	}
}

func parsedDNKey(dn string) string {
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
			parts[j] = escapeDNValue(strings.ToLower(a.Type)) + "=" + escapeDNValue(strings.ToLower(a.Value))
		}
		if len(parts) > 1 {
			sort.Strings(parts) // a multi-valued RDN is a set
		}
		b.WriteString(strings.Join(parts, "+"))
	}
	return b.String()
}

// escapeDNValue escapes the characters that would make a key ambiguous or
// that a parser would drop or refuse (a leading or trailing space, NUL):
// the key of a key is the key.
func escapeDNValue(v string) string {
	if !strings.ContainsAny(v, "\x00,+=\\\"<>;#") && !strings.HasPrefix(v, " ") && !strings.HasSuffix(v, " ") {
		return v
	}
	var b strings.Builder
	for i, r := range v {
		switch {
		case r == 0:
			b.WriteString(`\00`)
			continue
		case strings.ContainsRune(`,+=\"<>;#`, r), r == ' ' && (i == 0 || i == len(v)-1):
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
