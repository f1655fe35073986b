package provision_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/provision"
	"github.com/idsync/idsync/server/scim"
	"github.com/idsync/idsync/server/store"
)

func TestCompileMappingErrors(t *testing.T) {
	tests := []struct {
		name  string
		rules []store.MappingRule
		want  string
	}{
		{"no userName", []store.MappingRule{{Target: "title", Expr: "title"}}, "userName must be mapped"},
		{"reserved externalId", []store.MappingRule{{Target: "userName", Expr: "email"}, {Target: "externalId", Expr: "id"}}, "set by idsync"},
		{"reserved active", []store.MappingRule{{Target: "userName", Expr: "email"}, {Target: "active", Expr: "true"}}, "set by idsync"},
		{"password", []store.MappingRule{{Target: "userName", Expr: "email"}, {Target: "password", Expr: "'x'"}}, "never pushed"},
		{"twice", []store.MappingRule{{Target: "userName", Expr: "email"}, {Target: "UserName", Expr: "username"}}, "mapped twice"},
		{"bad path", []store.MappingRule{{Target: "userName", Expr: "email"}, {Target: "emails[0]", Expr: "email"}}, "rule 2 (emails[0]): not a SCIM attribute path"},
		{"bad expression", []store.MappingRule{{Target: "userName", Expr: "lower(email"}}, "rule 1 (userName): expression"},
		{"unknown function", []store.MappingRule{{Target: "userName", Expr: "lowr(email)"}}, "lowr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := provision.CompileMapping(tt.rules)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CompileMapping = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestUnknownMappingField: a mapping an admin writes reads fields the hub
// has: a misspelt one is refused, naming the rule, the field and the
// nearest name; extra.NAME and every known field pass, the default
// mapping too.
func TestUnknownMappingField(t *testing.T) {
	err := provision.UnknownMappingField([]store.MappingRule{{Target: "userName", Expr: "email"}, {Target: "title", Expr: "titel"}})
	if err == nil || !strings.Contains(err.Error(), `mapping rule 2 (title): expression "titel": unknown field "titel" (did you mean title?)`) {
		t.Errorf("a misspelt field: %v", err)
	}
	err = provision.UnknownMappingField([]store.MappingRule{{Target: "userName", Expr: "zzzzzz"}})
	if err == nil || strings.Contains(err.Error(), "did you mean") || !strings.Contains(err.Error(), "extra.NAME") {
		t.Errorf("a field like no other: %v, want refused without a guess, listing the fields", err)
	}
	var all []string
	for _, f := range provision.UserFields {
		all = append(all, "default("+f+", '')")
	}
	good := []store.MappingRule{{Target: "userName", Expr: "coalesce(" + strings.Join(all, ", ") + ")"}, {Target: "locale", Expr: "extra.locale"}}
	if err := provision.UnknownMappingField(good); err != nil {
		t.Errorf("every known field and extra.locale: %v", err)
	}
	if err := provision.UnknownMappingField(provision.DefaultMapping()); err != nil {
		t.Errorf("the default mapping: %v", err)
	}
}

func TestRender(t *testing.T) {
	u := &store.User{ID: "id-1", Status: store.StatusActive, Profile: store.Profile{
		Username: "ada", Email: "Ada.Lovelace@Example.com", GivenName: "Ada", FamilyName: "Lovelace",
		Title: "Analyst", Department: "R&D", EmployeeNumber: "42",
		Extra: map[string][]string{"mobile": {"+44 1"}, "proxyAddresses": {"smtp:a@x", "SMTP:b@x"}}}}
	bare := &store.User{ID: "id-2", Status: store.StatusActive, Profile: store.Profile{Username: "bob"}}
	tests := []struct {
		name   string
		rules  []store.MappingRule
		user   *store.User
		active bool
		want   string // the JSON of the resource
	}{
		{"default mapping", nil, u, true,
			`{"active":true,"displayName":"Ada Lovelace","emails":[{"primary":true,"type":"work","value":"Ada.Lovelace@Example.com"}],"externalId":"id-1","name":{"familyName":"Lovelace","givenName":"Ada"},"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"title":"Analyst","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R\u0026D","employeeNumber":"42"},"userName":"Ada.Lovelace@Example.com"}`},
		{"default mapping, sparse user", nil, bare, false,
			`{"active":false,"displayName":"bob","externalId":"id-2","schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bob"}`},
		{"transforms", []store.MappingRule{
			{Target: "userName", Expr: "lower(email)"},
			{Target: "nickName", Expr: `before(email, "@")`},
			{Target: "title", Expr: `if(department == "R&D", "Research " + title, title)`},
			{Target: `phoneNumbers[type eq "mobile"].value`, Expr: "extra.mobile"},
			{Target: "locale", Expr: `default(extra.locale, "en-GB")`},
			{Target: scim.EnterpriseUserSchema + ":costCenter", Expr: "extra.missing"},
		}, u, true,
			`{"active":true,"externalId":"id-1","locale":"en-GB","nickName":"Ada.Lovelace","phoneNumbers":[{"primary":true,"type":"mobile","value":"+44 1"}],"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"title":"Research Analyst","userName":"ada.lovelace@example.com"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := provision.CompileMapping(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			r, err := m.Render(tt.user, tt.active)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(r)
			if string(got) != tt.want {
				t.Errorf("Render =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	m, _ := provision.CompileMapping([]store.MappingRule{{Target: "userName", Expr: "email"}})
	if _, err := m.Render(bare, true); err == nil || !strings.Contains(err.Error(), "userName") {
		t.Errorf("Render of a user without email = %v, want an error naming userName", err)
	}
}

// TestUserEnvGroups: groups is the list a group rule gives (empty
// included), and null in a mapping, which gives none.
func TestUserEnvGroups(t *testing.T) {
	u := &store.User{ID: "u1", Status: store.StatusActive, Profile: store.Profile{Username: "ada", Department: "eng"}}
	for _, tt := range []struct {
		name   string
		groups []string
		want   string
	}{
		{"mapping", nil, "null"},
		{"rule, no groups", []string{}, "[]"},
		{"rule", []string{"contractors", "staff/contractors"}, `["contractors", "staff/contractors"]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := provision.UserEnv{User: u, Groups: tt.groups}.Lookup("groups")
			if v.String() != tt.want {
				t.Errorf("groups = %s, want %s", v, tt.want)
			}
			if d, _ := (provision.UserEnv{User: u, Groups: tt.groups}).Lookup("department"); d.String() != `"eng"` {
				t.Errorf("department = %s, want \"eng\"", d)
			}
		})
	}
}

// TestUserFieldsAreLookedUp: every name UnknownField lets pass is one
// UserEnv answers for a user that has it, so the list and the lookup do
// not drift apart.
func TestUserFieldsAreLookedUp(t *testing.T) {
	u := &store.User{ID: "id-1", DirectoryID: 1, Directory: "corp", ExternalID: "ext-1", DN: "uid=ada,dc=x", Status: store.StatusActive,
		Profile: store.Profile{Username: "ada", Email: "ada@x", GivenName: "Ada", FamilyName: "Lovelace", DisplayName: "Ada L",
			EmployeeNumber: "42", Department: "R&D", Title: "Analyst", Manager: "uid=cb,dc=x"}}
	env := provision.UserEnv{User: u, Groups: []string{"staff"}}
	for _, f := range provision.UserFields {
		if v, ok := env.Lookup(f); !ok || v.IsNull() {
			t.Errorf("UserEnv.Lookup(%q) = %v, %v: a known field it does not answer", f, v, ok)
		}
	}
}
