package ingest

import (
	"fmt"
	"strings"
	"testing"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/store"
)

func TestDNKey(t *testing.T) {
	tests := []struct {
		name, a, b string
		same       bool
	}{
		{"case and spaces", "CN=Ann Lee, OU=People,DC=Example,DC=org", "cn=ann lee,ou=people,dc=example,dc=org", true},
		{"escaped comma", `cn=Lee\, Ann,ou=people,dc=example`, `CN=lee\2C ann,OU=People,DC=Example`, true},
		{"multi-valued RDN order", "cn=a+uid=b,dc=x", "uid=b+cn=a,dc=x", true},
		{"non-ASCII", "cn=Jürgen Groß,dc=x", "CN=JÜRGEN GROSS,DC=X", false},
		{"different", "cn=a,dc=x", "cn=b,dc=x", false},
		{"escaped comma differs from RDN split", `cn=a\,ou=b,dc=x`, "cn=a,ou=b,dc=x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, kb := DNKey(tt.a), DNKey(tt.b)
			if (ka == kb) != tt.same {
				t.Fatalf("DNKey(%q) = %q, DNKey(%q) = %q; same = %v, want %v", tt.a, ka, tt.b, kb, ka == kb, tt.same)
			}
		})
	}
}

func TestDNKeyFastPathAgrees(t *testing.T) {
	for _, dn := range []string{
		"cn=Ann Lee,ou=People,dc=example,dc=org",
		"CN=Ann Lee, OU=People , DC=Example,DC=org",
		"uid=jürgen.groß,ou=people,dc=example,dc=org",
		"cn=王伟 00012,ou=groups,dc=example,dc=org",
		"dc=org",
	} {
		fast, ok := simpleDNKey(dn)
		if !ok {
			t.Errorf("simpleDNKey(%q) declined a simple DN", dn)
			continue
		}
		if slow := parsedDNKey(dn); fast != slow {
			t.Errorf("DN %q: fast key %q, parsed key %q", dn, fast, slow)
		}
	}
	for _, dn := range []string{`cn=a\,b,dc=x`, "cn=a+uid=b,dc=x", "cn=a=b,dc=x", "cn=,dc=x", "garbage", `cn="q",dc=x`} {
		if k, ok := simpleDNKey(dn); ok {
			t.Errorf("simpleDNKey(%q) = %q, want it to decline", dn, k)
		}
	}
}

func TestMemberRefFor(t *testing.T) {
	tests := []struct {
		name, attr, value, wantKey string
		ok                         bool
		wantValue, wantExt         string
	}{
		{"member DN", "member", "CN=Ann,DC=x", "dn:cn=ann,dc=x", true, "CN=Ann,DC=x", ""},
		{"uniqueMember with UID part", "uniquemember", "cn=Ann,dc=x#'0101'B", "dn:cn=ann,dc=x", true, "cn=Ann,dc=x#'0101'B", ""},
		{"memberUid", "memberuid", "ALee", "uid:alee", true, "ALee", ""},
		{"empty", "member", "  ", "", false, "", ""},
		{"AD delta with GUID", "member", "<GUID=67e7b376-9254-4e53-85dc-54237dfda53f>;CN=Ann,DC=x", "dn:cn=ann,dc=x", true,
			"CN=Ann,DC=x", "67e7b376-9254-4e53-85dc-54237dfda53f"},
		{"GUID without DN", "member", "<GUID=67e7b376-9254-4e53-85dc-54237dfda53f>;", "", false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, ok := MemberRefFor(tt.attr, tt.value)
			if ok != tt.ok || ref.Key != tt.wantKey || ref.Value != tt.wantValue || ref.ExternalID != tt.wantExt {
				t.Fatalf("MemberRefFor(%q, %q) = %+v, %v; want key %q value %q external id %q, %v",
					tt.attr, tt.value, ref, ok, tt.wantKey, tt.wantValue, tt.wantExt, tt.ok)
			}
		})
	}
}

func user(attrs map[string][]string) *idsyncv1.Change {
	c := &idsyncv1.Change{Type: idsyncv1.ChangeType_CHANGE_TYPE_UPSERT, Kind: idsyncv1.ObjectKind_OBJECT_KIND_USER,
		ExternalId: "0b5e6c1a-1111-4c3e-9a40-5b2f0e1c2d3e", Dn: "uid=ann,ou=people,dc=example,dc=org"}
	for k, v := range attrs {
		c.Attributes = append(c.Attributes, &idsyncv1.Attribute{Name: k, Values: v})
	}
	return c
}

func directory(kind store.DirectoryKind) *store.Directory {
	d := &store.Directory{Name: "corp", Kind: kind, BaseDN: "dc=example,dc=org"}
	ApplyPreset(d)
	return d
}

func TestMapUser(t *testing.T) {
	m := NewMapper(directory(store.KindOpenLDAP))
	o, ee := m.Map(user(map[string][]string{
		"uid": {"ann"}, "mail": {"ann@example.org"}, "givenname": {"Ann"}, "sn": {"Lee"},
		"cn": {"Ann Lee"}, "departmentnumber": {"42"}, "title": {"Engineer"},
	}))
	if ee != nil {
		t.Fatalf("Map: unexpected error %+v", ee)
	}
	p := o.Profile
	got := []string{p.Username, p.Email, p.GivenName, p.FamilyName, p.DisplayName, p.Department, p.Title, string(o.Status)}
	want := []string{"ann", "ann@example.org", "Ann", "Lee", "Ann Lee", "42", "Engineer", "active"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("profile = %q, want %q (display name falls back to cn)", got, want)
	}
	if o.DNKey != "uid=ann,ou=people,dc=example,dc=org" {
		t.Errorf("DNKey = %q", o.DNKey)
	}
}

func TestMapErrors(t *testing.T) {
	m := NewMapper(directory(store.KindAD))
	tests := []struct {
		name    string
		change  *idsyncv1.Change
		wantMsg string
	}{
		{"no username", user(map[string][]string{"mail": {"x@y"}}), `no username attribute "sAMAccountName"`},
		{"bad userAccountControl", user(map[string][]string{"samaccountname": {"ann"}, "useraccountcontrol": {"x"}}), "userAccountControl"},
		{"no external id", func() *idsyncv1.Change {
			c := user(map[string][]string{"samaccountname": {"ann"}})
			c.ExternalId = ""
			return c
		}(), "no external id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ee := m.Map(tt.change)
			if ee == nil || !strings.Contains(ee.Message, tt.wantMsg) || ee.DN != tt.change.GetDn() {
				t.Fatalf("Map error = %+v, want message containing %q naming DN %q", ee, tt.wantMsg, tt.change.GetDn())
			}
		})
	}
}

func TestADStatus(t *testing.T) {
	m := NewMapper(directory(store.KindAD))
	for _, tt := range []struct {
		uac  string
		want store.Status
	}{{"512", store.StatusActive}, {"514", store.StatusSuspended}, {"66050", store.StatusSuspended}, {"544", store.StatusActive}} {
		o, ee := m.Map(user(map[string][]string{"samaccountname": {"ann"}, "useraccountcontrol": {tt.uac}}))
		if ee != nil || o.Status != tt.want {
			t.Errorf("userAccountControl %s: status %v (err %+v), want %v", tt.uac, o.Status, ee, tt.want)
		}
	}
}

func TestHashChangesWithContent(t *testing.T) {
	m := NewMapper(directory(store.KindOpenLDAP))
	base := map[string][]string{"uid": {"ann"}, "mail": {"a@x"}}
	o1, _ := m.Map(user(base))
	o2, _ := m.Map(user(map[string][]string{"mail": {"a@x"}, "uid": {"ann"}}))
	if o1.Hash != o2.Hash {
		t.Fatalf("same content, different hash: %s vs %s", o1.Hash, o2.Hash)
	}
	o3, _ := m.Map(user(map[string][]string{"uid": {"ann"}, "mail": {"b@x"}}))
	if o1.Hash == o3.Hash {
		t.Fatal("changed mail, same hash")
	}
	// Length-prefixing: moving a character between fields changes the hash.
	o4, _ := m.Map(user(map[string][]string{"uid": {"an"}, "mail": {"na@x"}}))
	o5, _ := m.Map(user(map[string][]string{"uid": {"ann"}, "mail": {"a@x"}}))
	if o4.Hash == o5.Hash {
		t.Fatal("field boundary not part of the hash")
	}
}

// TestHashOfDeltasIsNoCompleteSet: a group written from membership deltas
// must not carry the hash of a complete read, or the next complete read (an
// emptied group, say) would count unchanged and keep the rows the deltas
// wrote.
func TestHashOfDeltasIsNoCompleteSet(t *testing.T) {
	m := NewMapper(directory(store.KindAD))
	group := func(incremental bool, adds ...string) *idsyncv1.Change {
		c := &idsyncv1.Change{Type: idsyncv1.ChangeType_CHANGE_TYPE_UPSERT, Kind: idsyncv1.ObjectKind_OBJECT_KIND_GROUP,
			ExternalId: "9d0e6c1a-2222-4c3e-9a40-5b2f0e1c2d3e", Dn: "CN=Team,DC=example,DC=org", MembersIncremental: incremental,
			Attributes: []*idsyncv1.Attribute{{Name: "cn", Values: []string{"Team"}}}}
		if len(adds) > 0 {
			c.MemberAdds = []*idsyncv1.Attribute{{Name: "member", Values: adds}}
		}
		return c
	}
	delta, ee := m.Map(group(true, "<GUID=0b5e6c1a-1111-4c3e-9a40-5b2f0e1c2d3e>;CN=ann,DC=example,DC=org"))
	if ee != nil {
		t.Fatal(ee)
	}
	empty, ee := m.Map(group(false))
	if ee != nil {
		t.Fatal(ee)
	}
	if !empty.MembersComplete || delta.MembersComplete || delta.Hash == empty.Hash {
		t.Errorf("delta (complete %v) and empty complete set (complete %v) share hash %s", delta.MembersComplete, empty.MembersComplete, delta.Hash)
	}
}

func TestSafeguard(t *testing.T) {
	d := directory(store.KindOpenLDAP) // 20% or 500
	tests := []struct {
		name          string
		users, active int64
		trip          bool
	}{
		{"five of 10000", 5, 10000, false},
		{"exactly 20%", 20, 100, false},
		{"over 20%", 21, 100, true},
		{"40%", 40, 100, true},
		{"501 of 100000", 501, 100000, true},
		{"500 of 100000", 500, 100000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, trip := safeguard(d, store.SweepCount{Users: tt.users, ActiveUsers: tt.active})
			if trip != tt.trip {
				t.Fatalf("safeguard(%d of %d) trip = %v, want %v (%s)", tt.users, tt.active, trip, tt.trip, msg)
			}
			if trip && !strings.Contains(msg, "idsyncctl import confirm") {
				t.Errorf("message does not say how to confirm: %s", msg)
			}
			// Groups count the same way, on their own.
			gmsg, gtrip := safeguard(d, store.SweepCount{Groups: tt.users, ActiveGroups: tt.active, ActiveUsers: 1000})
			if gtrip != tt.trip || (gtrip && !strings.Contains(gmsg, fmt.Sprintf("%d of %d", tt.users, tt.active)+" (")) {
				t.Errorf("safeguard(%d of %d groups) trip = %v (%s), want %v", tt.users, tt.active, gtrip, gmsg, tt.trip)
			}
		})
	}
	msg, trip := safeguard(d, store.SweepCount{Users: 30, ActiveUsers: 100, Groups: 5, ActiveGroups: 5})
	if !trip || !strings.Contains(msg, "30 of 100 (30.0%) active users and 5 of 5 (100.0%) groups") {
		t.Errorf("users and groups over the safeguard: %v %q, want both named", trip, msg)
	}
}

func TestValidateDirectory(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(d *store.Directory)
		wantErr string
	}{
		{"preset ok", func(d *store.Directory) {}, ""},
		{"bad name", func(d *store.Directory) { d.Name = "Corp Directory" }, "name"},
		{"bad base DN", func(d *store.Directory) { d.BaseDN = "not a dn" }, "base DN"},
		{"bad filter", func(d *store.Directory) { d.UserFilter = "(objectClass=person" }, "user filter"},
		{"bad percent", func(d *store.Directory) { d.SafeguardPercent = 101 }, "safeguard percent"},
		{"bad mapping", func(d *store.Directory) { d.Mapping.Email = "mail;binary x" }, "mapping.email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := directory(store.KindOpenLDAP)
			tt.edit(d)
			err := ValidateDirectory(d)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("ValidateDirectory = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestLocalDirectory: a local directory has no base DN, no filters and
// no mastered list (the hub masters every field), and nothing reads it.
func TestLocalDirectory(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(d *store.Directory)
		wantErr string
	}{
		{"preset ok", func(d *store.Directory) {}, ""},
		{"a base DN", func(d *store.Directory) { d.BaseDN = "dc=example,dc=org" }, "base DN and filters: a local directory has none"},
		{"a filter", func(d *store.Directory) { d.UserFilter = "(objectClass=person)" }, "base DN and filters"},
		{"mastered fields", func(d *store.Directory) { d.Mastered = []string{"email"} }, "mastered fields email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &store.Directory{Name: "staff", Kind: store.KindLocal}
			ApplyPreset(d)
			if d.CaptureStrategy != CaptureOff || d.FullImportInterval >= 0 || d.UserFilter != "" {
				t.Fatalf("preset: capture %q, full imports every %v, user filter %q; want off, never, none",
					d.CaptureStrategy, d.FullImportInterval, d.UserFilter)
			}
			tt.edit(d)
			err := ValidateDirectory(d)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("ValidateDirectory = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestObjectKindFromTheWire: the wire's kinds reach the store by their
// names, and back.
func TestObjectKindFromTheWire(t *testing.T) {
	for k, want := range map[idsyncv1.ObjectKind]store.ObjectKind{
		idsyncv1.ObjectKind_OBJECT_KIND_USER:        store.ObjectUser,
		idsyncv1.ObjectKind_OBJECT_KIND_GROUP:       store.ObjectGroup,
		idsyncv1.ObjectKind_OBJECT_KIND_UNSPECIFIED: "",
	} {
		got := store.ObjectKind(idsyncv1.ObjectKindName(k))
		if got != want {
			t.Errorf("wire kind %v in the store = %q, want %q", k, got, want)
		}
		if back := idsyncv1.ObjectKindNamed(string(got)); back != k {
			t.Errorf("store kind %q on the wire = %v, want %v", got, back, k)
		}
	}
}
