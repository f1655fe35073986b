package ldapsync

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

func TestFormatGUID(t *testing.T) {
	tests := []struct {
		name    string
		b64     string // objectGUID as ldapsearch prints it
		want    string // as Python's uuid.UUID(bytes_le=…) and AD's <GUID=…> show it
		wantErr string
	}{
		{"samba objectGUID", "p7iji/hznU65iFufszWCRg==", "8ba3b8a7-73f8-4e9d-b988-5b9fb3358246", ""},
		{"bytes 0..15", base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}),
			"03020100-0504-0706-0809-0a0b0c0d0e0f", ""},
		{"too short", base64.StdEncoding.EncodeToString([]byte{1, 2, 3}), "", "16 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := base64.StdEncoding.DecodeString(tt.b64)
			got, err := formatGUID(b)
			if got != tt.want || (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("formatGUID(%s) = %q, %v; want %q, error containing %q", tt.b64, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestFormatSID(t *testing.T) {
	tests := []struct {
		name    string
		b64     string
		want    string
		wantErr bool
	}{
		{"domain user", "AQUAAAAAAAUVAAAASELEB9Y15ZDWlC65HwwAAA==", "S-1-5-21-130302536-2430940630-3106837718-3103", false},
		{"well-known everyone", base64.StdEncoding.EncodeToString([]byte{1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}), "S-1-1-0", false},
		{"builtin administrators", base64.StdEncoding.EncodeToString([]byte{1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 32, 2, 0, 0}), "S-1-5-32-544", false},
		{"count disagrees with length", base64.StdEncoding.EncodeToString([]byte{1, 3, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0}), "", true},
		{"too short", base64.StdEncoding.EncodeToString([]byte{1, 0, 0}), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := base64.StdEncoding.DecodeString(tt.b64)
			got, err := formatSID(b)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("formatSID(%s) = %q, %v; want %q (error: %v)", tt.b64, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		desc   string
		want   attrRange
		wantOK bool
	}{
		{"member;range=0-1499", attrRange{"member", 0, 1499}, true},
		{"member;range=1500-*", attrRange{"member", 1500, openEnded}, true},
		{"Member;Range=3000-4499", attrRange{"Member", 3000, 4499}, true},
		{"member;range=0-0", attrRange{"member", 0, 0}, true},
		{"member;binary;range=10-*", attrRange{"member;binary", 10, openEnded}, true},
		{"member;range=10-*;binary", attrRange{"member;binary", 10, openEnded}, true},
		{"member", attrRange{}, false},
		{"member;binary", attrRange{}, false},
		{"member;range=", attrRange{}, false},
		{"member;range=5", attrRange{}, false},
		{"member;range=a-9", attrRange{}, false},
		{"member;range=9-3", attrRange{}, false},
		{"member;range=-1-3", attrRange{}, false},
		{"member;range=1-x", attrRange{}, false},
		{"member;range=0-1073741823", attrRange{"member", 0, maxRangeIndex}, true},
		{"member;range=0-1073741824", attrRange{}, false},
		{"member;range=0-9223372036854775807", attrRange{}, false},
		{"member;range=9223372036854775807-*", attrRange{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, ok := parseRange(tt.desc)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseRange(%q) = %+v, %v; want %+v, %v", tt.desc, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestRangeDesc(t *testing.T) {
	tests := []struct {
		base      string
		low, high int
		want      string
	}{
		{"member", 0, 1499, "member;range=0-1499"},
		{"member", 1500, openEnded, "member;range=1500-*"},
	}
	for _, tt := range tests {
		if got := rangeDesc(tt.base, tt.low, tt.high); got != tt.want {
			t.Errorf("rangeDesc(%q, %d, %d) = %q, want %q", tt.base, tt.low, tt.high, got, tt.want)
		}
		if r, ok := parseRange(tt.want); !ok || r != (attrRange{tt.base, tt.low, tt.high}) {
			t.Errorf("parseRange(rangeDesc(…)) = %+v, %v; want it back", r, ok)
		}
	}
}

func TestSpecDefaultsAndValidation(t *testing.T) {
	tests := []struct {
		name    string
		spec    Spec
		check   func(Spec) string
		wantErr string
	}{
		{name: "OpenLDAP defaults", spec: Spec{Kind: KindOpenLDAP, BaseDN: "dc=example,dc=org"}, check: func(s Spec) string {
			if s.UserFilter != "(objectClass=inetOrgPerson)" || s.PageSize != DefaultPageSize || s.MaxValueBytes != 1<<20 {
				return fmt.Sprintf("got %+v", s)
			}
			return ""
		}},
		{name: "AD defaults", spec: Spec{Kind: KindAD, BaseDN: "DC=idsync,DC=test"}, check: func(s Spec) string {
			if s.GroupFilter != "(objectClass=group)" {
				return fmt.Sprintf("GroupFilter = %q", s.GroupFilter)
			}
			return ""
		}},
		{name: "no kind", spec: Spec{BaseDN: "dc=x"}, wantErr: "unknown directory kind"},
		{name: "no base", spec: Spec{Kind: KindAD}, wantErr: "BaseDN is empty"},
		{name: "bad base", spec: Spec{Kind: KindAD, BaseDN: "not a dn"}, wantErr: `BaseDN "not a dn"`},
		{name: "bad filter", spec: Spec{Kind: KindAD, BaseDN: "dc=x", GroupFilter: "(cn=x"}, wantErr: `GroupFilter "(cn=x"`},
		{name: "negative page", spec: Spec{Kind: KindAD, BaseDN: "dc=x", PageSize: -1}, wantErr: "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.spec.withDefaults()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("withDefaults() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("withDefaults() error = %v", err)
			}
			if msg := tt.check(got); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func TestRequestAttributes(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		in   []string
		want []string
	}{
		{"OpenLDAP adds entryUUID once", KindOpenLDAP, []string{"cn", "entryUUID", "CN", "member"}, []string{"entryuuid", "cn", "member"}},
		{"AD windows member", KindAD, []string{"cn", "member", "objectGUID", "objectSid"}, []string{"objectguid", "cn", "member;range=0-1499", "objectSid"}},
		{"nothing requested", KindAD, nil, []string{"objectguid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Spec{Kind: tt.kind}).requestAttributes(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("requestAttributes(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// entry builds an ldap.Entry as go-ldap decodes one.
func entry(dn string, attrs ...[]string) *ldap.Entry {
	e := &ldap.Entry{DN: dn}
	for _, a := range attrs {
		ea := &ldap.EntryAttribute{Name: a[0], Values: a[1:]}
		for _, v := range a[1:] {
			ea.ByteValues = append(ea.ByteValues, []byte(v))
		}
		e.Attributes = append(e.Attributes, ea)
	}
	return e
}

func TestNormalize(t *testing.T) {
	guid := string([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	sid := string([]byte{1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 32, 2, 0, 0})
	const uuid = "2F1C8E2E-1B5A-103F-9B3E-3D7B1E0C5A11"
	tests := []struct {
		name       string
		kind       Kind
		entry      *ldap.Entry
		want       Change
		wantRanges []pendingRange
		wantErr    *EntryError
	}{
		{
			name:  "OpenLDAP user: names lower-cased, id taken out and lower-cased",
			kind:  KindOpenLDAP,
			entry: entry("uid=a,dc=x", []string{"givenName", "Zoë"}, []string{"entryUUID", uuid}, []string{"cn", "Zoë Müller"}),
			want: Change{Type: ChangeUpsert, Kind: ObjectUser, DN: "uid=a,dc=x", ExternalID: strings.ToLower(uuid),
				Attributes: []Attribute{{"givenname", []string{"Zoë"}}, {"cn", []string{"Zoë Müller"}}}},
		},
		{
			name:  "AD group: GUID and SID to text, first member window pending",
			kind:  KindAD,
			entry: entry("CN=g,DC=x", []string{"objectGUID", guid}, []string{"objectSid", sid}, []string{"member;range=0-1499", "CN=a", "CN=b"}),
			want: Change{Type: ChangeUpsert, Kind: ObjectUser, DN: "CN=g,DC=x", ExternalID: "03020100-0504-0706-0809-0a0b0c0d0e0f",
				Attributes: []Attribute{{"objectsid", []string{"S-1-5-32-544"}}, {"member", []string{"CN=a", "CN=b"}}}},
			wantRanges: []pendingRange{{name: "member", next: 1500, step: 1500}},
		},
		{
			name:  "AD last window is complete",
			kind:  KindAD,
			entry: entry("CN=g,DC=x", []string{"objectGUID", guid}, []string{"member;range=0-*", "CN=a"}),
			want: Change{Type: ChangeUpsert, Kind: ObjectUser, DN: "CN=g,DC=x", ExternalID: "03020100-0504-0706-0809-0a0b0c0d0e0f",
				Attributes: []Attribute{{"member", []string{"CN=a"}}}},
		},
		{
			name:    "no id",
			kind:    KindOpenLDAP,
			entry:   entry("uid=noid,dc=x", []string{"cn", "x"}),
			wantErr: &EntryError{DN: "uid=noid,dc=x", Kind: ObjectUser, Message: "the entry has no entryuuid: the id is missing or the bind DN may not read it"},
		},
		{
			name:    "binary value, id kept",
			kind:    KindOpenLDAP,
			entry:   entry("uid=b,dc=x", []string{"entryUUID", uuid}, []string{"audio", "\xff\xfe\x00"}),
			wantErr: &EntryError{DN: "uid=b,dc=x", ExternalID: strings.ToLower(uuid), Kind: ObjectUser, Message: "attribute audio: a value is not valid UTF-8 (binary data cannot be sent as text)"},
		},
		{
			name:    "value too large",
			kind:    KindOpenLDAP,
			entry:   entry("uid=c,dc=x", []string{"description", strings.Repeat("x", 101)}, []string{"entryUUID", uuid}),
			wantErr: &EntryError{DN: "uid=c,dc=x", ExternalID: strings.ToLower(uuid), Kind: ObjectUser, Message: "attribute description: a value of 101 bytes exceeds the limit of 100 bytes"},
		},
		{
			name:    "AD GUID of the wrong size",
			kind:    KindAD,
			entry:   entry("CN=d,DC=x", []string{"objectGUID", "short"}),
			wantErr: &EntryError{DN: "CN=d,DC=x", Kind: ObjectUser, Message: "attribute objectguid: a GUID has 16 bytes, this value 5"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			imp := &importer{spec: Spec{Kind: tt.kind, MaxValueBytes: 100}, idAttr: idAttribute[tt.kind], names: map[string]string{}}
			got, ranges, eerr := imp.normalizeLDAP(ObjectUser, tt.entry)
			if tt.wantErr != nil {
				if eerr == nil || *eerr != *tt.wantErr {
					t.Fatalf("normalize error = %+v, want %+v", eerr, tt.wantErr)
				}
				return
			}
			if eerr != nil {
				t.Fatalf("normalize error = %+v", eerr)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || !slices.Equal(ranges, tt.wantRanges) {
				t.Errorf("normalize =\n %+v, %+v\nwant\n %+v, %+v", got, ranges, tt.want, tt.wantRanges)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	base := fmt.Errorf("bind: server said hunter2 is wrong: %w", ErrInvalidCredentials)
	tests := []struct {
		name, secret, want string
	}{
		{"secret present", "hunter2", "bind: server said [redacted] is wrong: invalid credentials"},
		{"secret absent", "other", base.Error()},
		{"no secret", "", base.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := redact(base, tt.secret)
			if err.Error() != tt.want || !errors.Is(err, ErrInvalidCredentials) {
				t.Errorf("redact = %q (Is ErrInvalidCredentials: %v), want %q and true", err, errors.Is(err, ErrInvalidCredentials), tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{URL: "ldap://h:389", BindDN: "cn=a", BindPassword: "p"}, ""},
		{"anonymous", Config{URL: "ldaps://h"}, ""},
		{"scheme", Config{URL: "http://h"}, "scheme must be ldap or ldaps"},
		{"no host", Config{URL: "ldap://"}, "no host"},
		{"starttls on ldaps", Config{URL: "ldaps://h", StartTLS: true}, "StartTLS is for ldap://"},
		{"empty password", Config{URL: "ldap://h", BindDN: "cn=a"}, `bind DN "cn=a" has an empty password`},
		{"password without DN", Config{URL: "ldap://h", BindPassword: "p"}, "without a bind DN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
