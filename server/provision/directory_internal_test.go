package provision

import (
	"slices"
	"strings"
	"testing"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/scim"
	"github.com/idsync/idsync/server/store"
)

// TestLDAPAttributes: the SCIM User a mapping renders becomes the entry's
// attributes by the kind's table; LDAPSchema attributes pass by name.
func TestLDAPAttributes(t *testing.T) {
	r := scim.Resource{"userName": "jane.averyveryverylongname@corp.example", "displayName": "Jane Hire",
		"name":                    map[string]any{"givenName": "Jane", "familyName": "Hire"},
		"emails":                  []any{map[string]any{"value": "other@corp.example"}, map[string]any{"value": "jane@corp.example", "primary": true}},
		"title":                   "Analyst",
		scim.EnterpriseUserSchema: map[string]any{"department": "Finance", "employeeNumber": "4711"},
		LDAPSchema:                map[string]any{"physicalDeliveryOfficeName": "Berlin"}}
	tests := []struct {
		kind store.DirectoryKind
		want []string
	}{
		{store.KindAD, []string{"cn=Jane Hire", "department=Finance", "displayName=Jane Hire", "employeeID=4711",
			"givenName=Jane", "mail=jane@corp.example", "physicalDeliveryOfficeName=Berlin",
			"sAMAccountName=jane.averyveryverylo", "sn=Hire", "title=Analyst",
			"userPrincipalName=jane.averyveryverylongname@corp.example"}},
		{store.KindOpenLDAP, []string{"cn=Jane Hire", "departmentNumber=Finance", "displayName=Jane Hire",
			"employeeNumber=4711", "givenName=Jane", "mail=jane@corp.example", "physicalDeliveryOfficeName=Berlin",
			"sn=Hire", "title=Analyst", "uid=jane.averyveryverylongname"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			c := &dirTarget{dir: &store.Directory{Kind: tt.kind, BaseDN: "DC=corp,DC=example"}}
			if got := flat(c.ldapAttributes(r)); !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
	// Without a display name or a family name: cn from the names, sn from
	// userName on OpenLDAP (person requires it); a bare userName gets the
	// domain's suffix on AD.
	bare := scim.Resource{"userName": "bob", "name": map[string]any{"givenName": "Bob"}}
	ad := flat((&dirTarget{dir: &store.Directory{Kind: store.KindAD, BaseDN: "OU=x,DC=corp,DC=example"}}).ldapAttributes(bare))
	if want := []string{"cn=Bob", "givenName=Bob", "sAMAccountName=bob", "userPrincipalName=bob@corp.example"}; !slices.Equal(ad, want) {
		t.Errorf("AD, bare: got %q, want %q", ad, want)
	}
	ol := flat((&dirTarget{dir: &store.Directory{Kind: store.KindOpenLDAP}}).ldapAttributes(bare))
	if want := []string{"cn=Bob", "givenName=Bob", "sn=bob", "uid=bob"}; !slices.Equal(ol, want) {
		t.Errorf("OpenLDAP, bare: got %q, want %q", ol, want)
	}
}

func flat(attrs []*idsyncv1.Attribute) []string {
	var out []string
	for _, a := range attrs {
		out = append(out, a.GetName()+"="+strings.Join(a.GetValues(), "|"))
	}
	slices.Sort(out)
	return out
}
