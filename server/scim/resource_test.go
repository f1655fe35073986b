package scim_test

import (
	"encoding/json"
	"testing"

	"github.com/idsync/idsync/server/scim"
)

const ext = scim.EnterpriseUserSchema

func TestDiff(t *testing.T) {
	tests := []struct {
		name     string
		old, new scim.Resource
		want     string // the operations as JSON
	}{
		{"no change", scim.Resource{"userName": "a", "active": true}, scim.Resource{"userName": "a", "active": true}, `null`},
		{"simple replace", scim.Resource{"title": "Dev"}, scim.Resource{"title": "Lead"},
			`[{"op":"replace","path":"title","value":"Lead"}]`},
		{"add and remove", scim.Resource{"title": "Dev"}, scim.Resource{"nickName": "Al"},
			`[{"op":"add","path":"nickName","value":"Al"},{"op":"remove","path":"title"}]`},
		{"nil means absent", scim.Resource{"title": "Dev", "x": nil}, scim.Resource{"title": nil},
			`[{"op":"remove","path":"title"}]`},
		{"bool false is a value", scim.Resource{"active": true}, scim.Resource{"active": false},
			`[{"op":"replace","path":"active","value":false}]`},
		{"complex by sub-attribute", scim.Resource{"name": map[string]any{"givenName": "A", "familyName": "B"}},
			scim.Resource{"name": map[string]any{"givenName": "C", "familyName": "B", "middleName": "M"}},
			`[{"op":"replace","path":"name.givenName","value":"C"},{"op":"add","path":"name.middleName","value":"M"}]`},
		{"complex added whole", scim.Resource{}, scim.Resource{"name": map[string]any{"givenName": "A"}},
			`[{"op":"add","path":"name","value":{"givenName":"A"}}]`},
		{"multi-valued replaced whole", scim.Resource{"emails": []any{map[string]any{"value": "a@x"}}},
			scim.Resource{"emails": []any{map[string]any{"value": "b@x"}}},
			`[{"op":"replace","path":"emails","value":[{"value":"b@x"}]}]`},
		{"[]string equals []any", scim.Resource{"x": []any{"a", "b"}}, scim.Resource{"x": []string{"a", "b"}}, `null`},
		{"int equals float64", scim.Resource{"n": float64(3)}, scim.Resource{"n": 3}, `null`},
		{"extension attribute by URN path", scim.Resource{ext: map[string]any{"department": "A", "costCenter": "1"}},
			scim.Resource{ext: map[string]any{"department": "B", "costCenter": "1"}},
			`[{"op":"replace","path":"` + ext + `:department","value":"B"}]`},
		{"extension added", scim.Resource{}, scim.Resource{ext: map[string]any{"department": "B"}},
			`[{"op":"add","path":"` + ext + `:department","value":"B"}]`},
		{"extension removed", scim.Resource{ext: map[string]any{"department": "B"}}, scim.Resource{},
			`[{"op":"remove","path":"` + ext + `:department"}]`},
		{"extension complex attribute", scim.Resource{ext: map[string]any{"manager": map[string]any{"value": "m1"}}},
			scim.Resource{ext: map[string]any{"manager": map[string]any{"value": "m2"}}},
			`[{"op":"replace","path":"` + ext + `:manager.value","value":"m2"}]`},
		{"id meta schemas ignored", scim.Resource{"id": "1", "meta": map[string]any{"version": "1"}, "schemas": []any{"a"}},
			scim.Resource{"id": "2", "schemas": []any{"b"}}, `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(scim.Diff(tt.old, tt.new))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Diff =\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}

func TestResourcePaths(t *testing.T) {
	r := scim.Resource{}
	r.Set("userName", "u")
	r.Set("name.givenName", "G")
	r.Set(ext+":department", "D")
	r.Set(ext+":manager.value", "M")
	r.Set(scim.UserSchema+":title", "T")
	tests := []struct {
		path string
		want any
	}{
		{"userName", "u"},
		{"name.givenName", "G"},
		{"name.familyName", nil},
		{ext + ":department", "D"},
		{ext + ":manager.value", "M"},
		{"title", "T"},
		{scim.UserSchema + ":name.givenName", "G"},
		{"userName.sub", nil},
		{"urn:other:Ext:x", nil},
	}
	for _, tt := range tests {
		if got := r.Get(tt.path); got != tt.want {
			t.Errorf("Get(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
	if _, ok := r["urn:other:Ext"]; ok {
		t.Errorf("Get created the extension object it looked into")
	}
	c := r.Clone()
	r.Set(ext+":department", nil)
	r.Set(ext+":manager.value", nil)
	if m, _ := r[ext].(map[string]any); len(m) != 1 {
		t.Errorf("after removing department and manager.value: extension %v, want only the empty manager left", r[ext])
	}
	if c.Get(ext+":department") != "D" {
		t.Errorf("Clone shares state with the original")
	}
	g := scim.Resource{"members": []any{map[string]any{"value": "a"}, map[string]any{"value": "b"}, "junk"}}
	if got := g.Members(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Errorf("Members() = %v, want [a b]", got)
	}
}
