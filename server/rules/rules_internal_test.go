package rules

import (
	"testing"

	"github.com/idsync/idsync/server/store"
)

// TestTripped: the safeguard guards large groups — more than SafeguardMax
// members removed, or more than SafeguardPercent of a group larger than
// SafeguardMax — and takes the defaults where a directory has none.
func TestTripped(t *testing.T) {
	d := &store.Directory{Name: "staff", SafeguardPercent: 20, SafeguardMax: 5}
	for _, tc := range []struct {
		name          string
		d             *store.Directory
		left, members int
		want          bool
	}{
		{"nothing removed", d, 0, 100, false},
		{"a small group emptied", d, 5, 5, false},
		{"more than the count", d, 6, 6, true},
		{"a large group, at the percentage", d, 4, 20, false},
		{"a large group, past the percentage", d, 5, 20, true},
		{"a large group, a few", d, 1, 1000, false},
		{"defaults: 20% and 500", &store.Directory{Name: "x"}, 500, 10_000, false},
		{"defaults: past 500", &store.Directory{Name: "x"}, 501, 10_000, true},
		{"defaults: past 20% of a large group", &store.Directory{Name: "x"}, 121, 600, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, got := tripped(tc.d, tc.left, tc.members)
			if got != tc.want || (got && msg == "") {
				t.Errorf("tripped(%d of %d) = %v %q, want %v", tc.left, tc.members, got, msg, tc.want)
			}
		})
	}
}

// TestGroupsNames: groups holds every group reached going up, by name and
// DIRECTORY/NAME, each once; not the groups of the rule or a later one,
// nor what is reached only through them; cycles end.
func TestGroupsNames(t *testing.T) {
	gr := func(id, dir, name string) *store.Group { return &store.Group{ID: id, Directory: dir, Name: name} }
	g := newGraph(&store.GroupGraph{
		Groups: map[string]*store.Group{
			"a": gr("a", "corp", "eng"), "b": gr("b", "corp", "all"), "c": gr("c", "lab", "eng"),
			"r1": gr("r1", "staff", "auto1"), "r2": gr("r2", "staff", "auto2"), "top": gr("top", "staff", "top"),
			"x": gr("x", "corp", "x"), "y": gr("y", "corp", "y"),
		},
		Edges: []store.NestEdge{{Outer: "b", Inner: "a"}, {Outer: "top", Inner: "r2"}, {Outer: "x", Inner: "y"}, {Outer: "y", Inner: "x"}},
	}, []*store.Rule{{ID: 1, GroupID: "r1"}, {ID: 2, GroupID: "r2"}})
	for _, tc := range []struct {
		name   string
		rule   int64
		direct []string
		want   []string
	}{
		{"nesting, same name in two directories", 1, []string{"a", "c"}, []string{"all", "corp/all", "corp/eng", "eng", "lab/eng"}},
		{"its own group hidden", 1, []string{"r1"}, []string{}},
		{"an earlier rule's group seen", 2, []string{"r1"}, []string{"auto1", "staff/auto1"}},
		{"a later rule's group hidden, and what is above it only through it", 1, []string{"r2"}, []string{}},
		{"a rule after both sees through", 3, []string{"r2"}, []string{"auto2", "staff/auto2", "staff/top", "top"}},
		{"a cycle ends", 1, []string{"x"}, []string{"corp/x", "corp/y", "x", "y"}},
		{"an unknown group", 1, []string{"gone"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := g.names(tc.rule, tc.direct)
			if len(got) != len(tc.want) {
				t.Fatalf("names = %q, want %q", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("names = %q, want %q", got, tc.want)
				}
			}
		})
	}
}
