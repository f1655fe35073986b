package ingest_test

import (
	"testing"

	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/store"
)

// TestHashStable: an object's hash is the one the hub stored for it
// before; a change of encoding would count every object changed at the
// next import and rewrite the whole directory.
func TestHashStable(t *testing.T) {
	user := &store.Object{Kind: store.ObjectUser, DN: "uid=ada,ou=people,dc=example,dc=org", Status: store.StatusActive,
		Profile: store.Profile{Username: "ada", Email: "ada@example.org", GivenName: "Ada", FamilyName: "Lovelace",
			DisplayName: "Ada Lovelace", EmployeeNumber: "1815", Department: "Analytical", Title: "Engineer",
			Manager: "uid=babbage,ou=people,dc=example,dc=org", Extra: map[string][]string{"phone": {"+44 1", "+44 2"}, "room": {"12"}}}}
	group := &store.Object{Kind: store.ObjectGroup, DN: "cn=eng,ou=groups,dc=example,dc=org", Status: store.StatusActive,
		Name: "eng", Description: "Engineering", MembersComplete: true,
		Members: []store.MemberRef{{Key: "dn:uid=ada,ou=people,dc=example,dc=org", Value: "uid=ada,ou=people,dc=example,dc=org"}}}
	delta := *group
	delta.MembersComplete, delta.Members = false, nil
	for _, tc := range []struct {
		name string
		o    *store.Object
		want string
	}{
		{"user", user, "b03b503a37b820f0d96c9a65a41e6515"},
		{"group", group, "f2d377b5ce09a64bb7658b852c020e67"},
		{"group delta", &delta, "e61b2bb806ad17891c5a8149ae9805d5"},
	} {
		if got := ingest.Hash(tc.o); got != tc.want {
			t.Errorf("%s: Hash = %s, want %s", tc.name, got, tc.want)
		}
	}
}
