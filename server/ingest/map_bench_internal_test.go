package ingest

import (
	"testing"

	"github.com/idsync/idsync/server/store"
)

// BenchmarkMap maps one OpenLDAP user as a full import sends it: the
// hub's per-entry cost before the store.
func BenchmarkMap(b *testing.B) {
	m := NewMapper(directory(store.KindOpenLDAP))
	c := user(map[string][]string{
		"uid": {"alovelace1815"}, "mail": {"ada.lovelace@example.org"}, "givenName": {"Ada"}, "sn": {"Lovelace"},
		"cn": {"Ada Lovelace"}, "displayName": {"Ada Lovelace"}, "employeeNumber": {"1815"}, "departmentNumber": {"Analytical Engines"},
		"title": {"Engineer"}, "manager": {"uid=cbabbage1791,ou=people,dc=example,dc=org"}, "telephoneNumber": {"+44 20 7946 0000"},
		"objectClass": {"top", "person", "organizationalPerson", "inetOrgPerson"}, "entryUUID": {"0b5e6c1a-1111-4c3e-9a40-5b2f0e1c2d3e"},
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, ee := m.Map(c); ee != nil {
			b.Fatal(ee.Message)
		}
	}
}
