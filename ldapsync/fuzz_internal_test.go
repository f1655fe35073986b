package ldapsync

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/idsync/idsync/internal/ldapwire"
)

// The fuzz targets below feed what a directory server sends — or a hostile
// one could — through the functions that turn a search entry into a Change.
// Seeds: testdata/fuzz/FuzzXxx and the f.Add calls.

// fuzzEntry reads an entry written as LDIF-like lines, "name: value" or
// "name:: base64", consecutive lines of one name being one attribute's
// values. ok is false when a line is not of that form.
func fuzzEntry(dn string, text []byte) (e ldapwire.Entry, ok bool) {
	e.DN = []byte(dn)
	for line := range bytes.SplitSeq(text, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found {
			return e, false
		}
		if v, isB64 := bytes.CutPrefix(value, []byte(":")); isB64 {
			raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(v)))
			if err != nil {
				return e, false
			}
			value = raw
		} else {
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		if n := len(e.Attrs); n > 0 && bytes.Equal(e.Attrs[n-1].Name, name) {
			e.Attrs[n-1].Values = append(e.Attrs[n-1].Values, value)
			continue
		}
		e.Attrs = append(e.Attrs, ldapwire.Attr{Name: name, Values: [][]byte{value}})
	}
	return e, true
}

// canonicalGUID is the text form formatGUID gives.
var canonicalGUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// FuzzNormalize checks normalize, which turns every entry of a full import,
// a re-read and a poll into a Change: it never panics, and it gives either
// an EntryError or a Change that keeps the documented rules — an id in
// canonical form, lower-case attribute names without the id attribute or a
// range option, values that are valid UTF-8 within the size limit, one
// attribute per attribute read, and pending ranges that name an attribute.
// The same entry also goes through DirSync's parseDirSyncEntry and
// fromExtendedDNs.
func FuzzNormalize(f *testing.F) {
	f.Add(true, "CN=Ann Lee,OU=People,DC=idsync,DC=test",
		[]byte("objectGUID:: p7iji/hznU65iFufszWCRg==\nsAMAccountName: ann\nobjectSid:: AQUAAAAAAAUVAAAAoWVXJvVbkFvpkhKnUAQAAA==\n"))
	f.Add(false, "uid=ann,ou=people,dc=example,dc=org",
		[]byte("entryUUID: 8BA3B8A7-73F8-4E9D-B988-5B9FB3358246\nuid: ann\nmail: ann@example.org\nmail: a.lee@example.org\n"))
	f.Add(true, "CN=Big,OU=Groups,DC=idsync,DC=test",
		[]byte("objectGUID:: AAECAwQFBgcICQoLDA0ODw==\nmember;range=0-1: CN=a,DC=x\nmember;range=0-1: CN=b,DC=x\n"))
	f.Add(false, "cn=x", []byte("entryUUID: 1\nentryUUID: 2\n"))
	f.Fuzz(func(t *testing.T, ad bool, dn string, text []byte) {
		e, ok := fuzzEntry(dn, text)
		if !ok {
			return
		}
		kind := KindOpenLDAP
		if ad {
			kind = KindAD
		}
		imp := newImporter(nil, Spec{Kind: kind, MaxValueBytes: 64}, nil)
		ch, ranges, eerr := imp.normalize(ObjectGroup, &e)
		if eerr != nil {
			if eerr.DN != dn || eerr.Kind != ObjectGroup || eerr.Message == "" || ch.DN != "" || ranges != nil {
				t.Fatalf("normalize gave %+v with a change %+v and ranges %v", eerr, ch, ranges)
			}
			return
		}
		checkChange(t, imp, &e, ch, ranges)

		// The same entry read again (the names cache is warm) reads the same.
		again, againRanges, againErr := imp.normalize(ObjectGroup, &e)
		if againErr != nil || !slices.EqualFunc(again.Attributes, ch.Attributes, sameAttribute) ||
			again.ExternalID != ch.ExternalID || !slices.Equal(againRanges, ranges) {
			t.Fatalf("a second read gave %+v, %v, %v; the first %+v, %v", again, againRanges, againErr, ch, ranges)
		}

		fromExtendedDNs(&ch)
		if ch.DN != stripExtendedDN(dn) {
			t.Fatalf("fromExtendedDNs made the DN %q of %q", ch.DN, dn)
		}

		le := &ldap.Entry{DN: dn}
		for _, a := range e.Attrs {
			la := &ldap.EntryAttribute{Name: string(a.Name), ByteValues: a.Values}
			for _, v := range a.Values {
				la.Values = append(la.Values, string(v))
			}
			le.Attributes = append(le.Attributes, la)
		}
		ds := parseDirSyncEntry(le)
		if ds.dn != stripExtendedDN(dn) || (ds.guid != "" && !canonicalGUID.MatchString(ds.guid)) {
			t.Fatalf("parseDirSyncEntry read dn %q, guid %q from %q", ds.dn, ds.guid, dn)
		}
		for _, v := range slices.Concat(ds.adds, ds.removes) {
			// A value whose extended DN does not parse passes through as
			// it came (no "<GUID=…>;" prefix was made for it).
			if g, ok := memberGUID(v); ok && !canonicalGUID.MatchString(g) && strings.Contains(v, ">;") {
				t.Fatalf("member value %q carries a GUID not in canonical form", v)
			}
		}
	})
}

func sameAttribute(a, b Attribute) bool { return a.Name == b.Name && slices.Equal(a.Values, b.Values) }

// checkChange checks a Change normalize gave for e against the rules of
// Change and Attribute.
func checkChange(t *testing.T, imp *importer, e *ldapwire.Entry, ch Change, ranges []pendingRange) {
	t.Helper()
	if ch.Type != ChangeUpsert || ch.DN != string(e.DN) {
		t.Fatalf("change %+v of entry %q", ch, e.DN)
	}
	if !canonicalGUID.MatchString(ch.ExternalID) {
		t.Fatalf("external id %q is not a UUID in lower case", ch.ExternalID)
	}
	// One attribute per attribute read, in the order read, named by its
	// lower-cased description less a range option; the id is not among them.
	var want []Attribute
	for _, a := range e.Attrs {
		name := strings.ToLower(string(a.Name))
		if r, ok := parseRange(name); ok {
			name = r.base
		}
		if name != imp.idAttr {
			want = append(want, Attribute{Name: name, Values: make([]string, len(a.Values))})
		}
	}
	if !slices.EqualFunc(ch.Attributes, want, func(a, b Attribute) bool { return a.Name == b.Name && len(a.Values) == len(b.Values) }) {
		t.Fatalf("attributes %+v, want names and value counts of %+v", ch.Attributes, want)
	}
	for _, a := range ch.Attributes {
		if a.Name != strings.ToLower(a.Name) {
			t.Fatalf("attribute name %q is not lower case", a.Name)
		}
		for _, v := range a.Values {
			if !utf8.ValidString(v) {
				t.Fatalf("attribute %s: value %q is not UTF-8", a.Name, v)
			}
			if len(v) > imp.spec.MaxValueBytes && !sidAttributes[a.Name] {
				t.Fatalf("attribute %s: value of %d bytes passed a limit of %d", a.Name, len(v), imp.spec.MaxValueBytes)
			}
		}
	}
	for _, r := range ranges {
		if r.next < 1 || r.step < 1 || !slices.ContainsFunc(ch.Attributes, func(a Attribute) bool { return a.Name == r.name }) {
			t.Fatalf("pending range %+v of attributes %+v", r, ch.Attributes)
		}
	}
}

// FuzzParseRange checks parseRange on any attribute description: no panic,
// a window that makes sense, a base that is the description less its range
// option, and rangeDesc giving back what parseRange read.
func FuzzParseRange(f *testing.F) {
	f.Add("member;range=0-1499")
	f.Add("Member;Range=1500-*")
	f.Add("member;binary;range=10-*")
	f.Add("member;range=10-*;binary")
	f.Add("member;range=9-3")
	f.Add("member;range=+1-2")
	f.Fuzz(func(t *testing.T, desc string) {
		r, ok := parseRange(desc)
		if !ok {
			if r != (attrRange{}) {
				t.Fatalf("parseRange(%q) = %+v, not ok", desc, r)
			}
			return
		}
		if r.low < 0 || (r.high != openEnded && r.high < r.low) {
			t.Fatalf("parseRange(%q) = %+v: not a window", desc, r)
		}
		// The next window starts at high+1 and is as wide as this one:
		// neither may overflow, nor the next window's end.
		if next, step := r.high+1, r.high-r.low+1; r.high != openEnded && (next < 1 || step < 1 || next+step-1 < next) {
			t.Fatalf("parseRange(%q) = %+v: the next window overflows", desc, r)
		}
		if !rangeRemoved(desc, r.base) {
			t.Fatalf("parseRange(%q) = %+v: the base is not the description less a range option", desc, r)
		}
		if strings.Contains(strings.ToLower(r.base), ";range=") {
			return // a second range option: rangeDesc would add a third
		}
		if back, ok := parseRange(rangeDesc(r.base, r.low, r.high)); !ok || back != r {
			t.Fatalf("parseRange(rangeDesc(%+v)) = %+v, %v; want it back", r, back, ok)
		}
	})
}

// FuzzFormatBinary checks formatGUID and formatSID on any bytes: no panic,
// an error exactly when the length is wrong, and a text that reads back to
// the same bytes.
func FuzzFormatBinary(f *testing.F) {
	sid, _ := base64.StdEncoding.DecodeString("AQUAAAAAAAUVAAAAoWVXJvVbkFvpkhKnUAQAAA==")
	f.Add(sid)
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 1, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		guid, err := formatGUID(b)
		if (err != nil) != (len(b) != 16) {
			t.Fatalf("formatGUID(%x) = %q, %v", b, guid, err)
		}
		if err == nil {
			if !canonicalGUID.MatchString(guid) {
				t.Fatalf("formatGUID(%x) = %q, not canonical", b, guid)
			}
			if back := guidBytes(t, guid); !bytes.Equal(back, b) {
				t.Fatalf("formatGUID(%x) = %q, which reads back as %x", b, guid, back)
			}
		}

		s, err := formatSID(b)
		if (err != nil) != (len(b) < 8 || len(b) != 8+4*int(b[1])) {
			t.Fatalf("formatSID(%x) = %q, %v", b, s, err)
		}
		if err == nil {
			if back := sidBytes(t, s); !bytes.Equal(back, b) {
				t.Fatalf("formatSID(%x) = %q, which reads back as %x", b, s, back)
			}
		}
	})
}

// rangeRemoved reports whether base is desc with one ";range=…" option
// (any case) taken out.
func rangeRemoved(desc, base string) bool {
	for k := 0; k <= len(base); k++ {
		if strings.HasPrefix(desc, base[:k]) && strings.HasSuffix(desc, base[k:]) && len(desc) > len(base) {
			removed := desc[k : len(desc)-len(base)+k]
			if len(removed) > len(";range=") && strings.EqualFold(removed[:len(";range=")], ";range=") {
				return true
			}
		}
	}
	return false
}

// guidBytes is formatGUID backwards.
func guidBytes(t *testing.T, s string) []byte {
	be, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil {
		t.Fatalf("GUID %q: %v", s, err)
	}
	b := slices.Clone(be)
	binary.LittleEndian.PutUint32(b[0:], binary.BigEndian.Uint32(be[0:]))
	binary.LittleEndian.PutUint16(b[4:], binary.BigEndian.Uint16(be[4:]))
	binary.LittleEndian.PutUint16(b[6:], binary.BigEndian.Uint16(be[6:]))
	return b
}

// sidBytes is formatSID backwards.
func sidBytes(t *testing.T, s string) []byte {
	parts := strings.Split(s, "-")
	if len(parts) < 3 || parts[0] != "S" {
		t.Fatalf("SID %q is not S-rev-auth-…", s)
	}
	num := func(p string, bits int) uint64 {
		n, err := strconv.ParseUint(p, 10, bits)
		if err != nil {
			t.Fatalf("SID %q: %v", s, err)
		}
		return n
	}
	auth := num(parts[2], 48)
	b := []byte{byte(num(parts[1], 8)), byte(len(parts) - 3)}
	for shift := 40; shift >= 0; shift -= 8 {
		b = append(b, byte(auth>>shift))
	}
	for _, p := range parts[3:] {
		b = binary.LittleEndian.AppendUint32(b, uint32(num(p, 32)))
	}
	return b
}

// FuzzExtendedDN checks the handling of AD's extended DN values
// ("<GUID=…>;<SID=…>;DN"): stripExtendedDN returns a suffix of its input,
// is idempotent, leaves a DN without the prefix alone and takes a real
// prefix off; guidMember keeps the DN and carries the GUID in canonical form.
func FuzzExtendedDN(f *testing.F) {
	f.Add("<GUID=a7b8a38bf8739d4eb9885b9fb3358246>;<SID=010500000000000515000000a1655726f55b905be99212a750040000>;CN=Ann Lee,OU=People,DC=idsync,DC=test")
	f.Add("<GUID=a7b8a38bf8739d4eb9885b9fb3358246>;CN=Ann\\>\\;Lee,DC=test")
	f.Add("CN=Ann Lee,OU=People,DC=idsync,DC=test")
	f.Add("<GUID=zz>;CN=x")
	f.Add("<GUID=a7b8a38b>;CN=x")
	f.Add("<oops")
	f.Fuzz(func(t *testing.T, v string) {
		dn := stripExtendedDN(v)
		if !strings.HasSuffix(v, dn) || stripExtendedDN(dn) != dn {
			t.Fatalf("stripExtendedDN(%q) = %q: not an idempotent suffix", v, dn)
		}
		if !strings.HasPrefix(v, "<") && dn != v {
			t.Fatalf("stripExtendedDN(%q) = %q, want it unchanged", v, dn)
		}
		m := guidMember(v)
		if !strings.HasSuffix(m, dn) {
			t.Fatalf("guidMember(%q) = %q, which lost the DN %q", v, m, dn)
		}
		if g, ok := memberGUID(m); ok && m != dn && (!canonicalGUID.MatchString(g) || m != "<GUID="+g+">;"+dn) {
			t.Fatalf("guidMember(%q) = %q, want <GUID=canonical>;%s", v, m, dn)
		}

		// v as a plain DN: a prefix AD adds comes off again, and the GUID
		// in it comes out as formatGUID writes it.
		if _, err := ldap.ParseDN(v); err != nil || strings.HasPrefix(v, "<") {
			return
		}
		raw := []byte{0xa7, 0xb8, 0xa3, 0x8b, 0xf8, 0x73, 0x9d, 0x4e, 0xb9, 0x88, 0x5b, 0x9f, 0xb3, 0x35, 0x82, 0x46}
		ext := "<GUID=" + hex.EncodeToString(raw) + ">;<SID=0105000000000005150000>;" + v
		if got := stripExtendedDN(ext); got != v {
			t.Fatalf("stripExtendedDN(%q) = %q, want %q", ext, got, v)
		}
		if got, want := guidMember(ext), "<GUID=8ba3b8a7-73f8-4e9d-b988-5b9fb3358246>;"+v; got != want {
			t.Fatalf("guidMember(%q) = %q, want %q", ext, got, want)
		}
	})
}
