package ingest

import (
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// swapASCIICase turns ASCII upper case into lower case and back; DNs that
// differ only so name the same entry.
func swapASCIICase(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}

// FuzzDNKey checks DNKey, by which member values meet the objects they name,
// on any string: no panic; a key in lower case that ignores ASCII case; the
// fast path giving the parsed path's key whenever it answers; and, for a
// string that parses as a DN, a key that is itself a DN with the same key.
// Seeds: testdata/fuzz/FuzzDNKey and the f.Add calls.
func FuzzDNKey(f *testing.F) {
	f.Add("CN=Ann Lee, OU=People,DC=Example,DC=org")
	f.Add(`cn=Lee\, Ann,ou=people,dc=example`)
	f.Add("uid=b+cn=a,dc=x")
	f.Add("cn=#04024869,dc=x")
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, dn string) {
		k := DNKey(dn)
		if k != strings.ToLower(k) {
			t.Fatalf("DNKey(%q) = %q, not in lower case", dn, k)
		}
		if other := DNKey(swapASCIICase(dn)); other != k {
			t.Fatalf("DNKey(%q) = %q, but DNKey(%q) = %q", dn, k, swapASCIICase(dn), other)
		}
		if fast, ok := simpleDNKey(dn); ok {
			if slow := parsedDNKey(dn); fast != slow {
				t.Fatalf("DN %q: fast key %q, parsed key %q", dn, fast, slow)
			}
		}
		if _, err := ldap.ParseDN(dn); err != nil {
			return
		}
		if _, err := ldap.ParseDN(k); err != nil {
			t.Fatalf("DNKey(%q) = %q, which does not parse as a DN: %v", dn, k, err)
		}
		if again := DNKey(k); again != k {
			t.Fatalf("DNKey(%q) = %q, whose own key is %q", dn, k, again)
		}
	})
}

// FuzzMemberRefFor checks the reference made of a member value — a DN, an
// AD "<GUID=…>;DN" delta, a uniqueMember "DN#'…'B" or a memberUid — on any
// value: no panic, a key of the right kind, and one that ignores ASCII case.
func FuzzMemberRefFor(f *testing.F) {
	f.Add("member", "CN=Ann Lee,OU=People,DC=idsync,DC=test")
	f.Add("member", "<GUID=8ba3b8a7-73f8-4e9d-b988-5b9fb3358246>;CN=Ann Lee,OU=People,DC=idsync,DC=test")
	f.Add("uniquemember", "uid=ann,ou=people,dc=example,dc=org#'0110'B")
	f.Add("memberuid", "Ann")
	f.Add("member", "<GUID=x>; ")
	f.Fuzz(func(t *testing.T, attr, value string) {
		ref, ok := MemberRefFor(attr, value)
		if !ok {
			if strings.TrimSpace(value) != "" && !strings.HasPrefix(strings.TrimSpace(value), "<GUID=") {
				t.Fatalf("MemberRefFor(%q, %q) refused a value", attr, value)
			}
			return
		}
		prefix := "dn:"
		if attr == "memberuid" {
			prefix = "uid:"
		}
		if !strings.HasPrefix(ref.Key, prefix) || ref.Value == "" {
			t.Fatalf("MemberRefFor(%q, %q) = %+v, want a key starting %q", attr, value, ref, prefix)
		}
		if ref.ExternalID != "" && !strings.HasPrefix(strings.TrimSpace(value), "<GUID="+ref.ExternalID+">;") {
			t.Fatalf("MemberRefFor(%q, %q) = %+v: the external id is not the value's GUID", attr, value, ref)
		}
		if strings.Contains(value, "<") {
			return // "<GUID=" is matched as AD writes it
		}
		swapped := swapASCIICase(value)
		if i := strings.LastIndex(value, "#'"); i > 0 && attr == "uniquemember" {
			swapped = swapASCIICase(value[:i]) + value[i:] // the bit string's 'B is not part of the DN
		}
		if other, _ := MemberRefFor(attr, swapped); other.Key != ref.Key {
			t.Fatalf("MemberRefFor(%q, %q).Key = %q, but %q for %q", attr, value, ref.Key, other.Key, swapped)
		}
	})
}
