package people_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/people"
	"github.com/idsync/idsync/server/store"
)

// TestRuleGroupRefusesHandEdits: the members of a group a rule masters are
// what the rule says: adding or removing one by hand is refused, naming
// the rule, and changes nothing; once the rule is removed the group is a
// local group like any.
func TestRuleGroupRefusesHandEdits(t *testing.T) {
	ctx := t.Context()
	w := newLocalWorld(t)
	auto, err := w.s.CreateGroup(ctx, "staff", "auto", "admin:ann")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.AddMember(ctx, auto.ID, w.alice.ID, "admin:ann"); err != nil {
		t.Fatal(err)
	}
	r := &store.Rule{Name: "engineers", GroupID: auto.ID, Expr: `department == "eng"`}
	if err := w.st.CreateRule(ctx, r); err != nil {
		t.Fatal(err)
	}
	before := w.runs(t)
	for _, tc := range []struct {
		name string
		do   func() (*store.Group, error)
	}{
		{"add", func() (*store.Group, error) { return w.s.AddMember(ctx, auto.ID, w.alice.ID, "admin:ann") }},
		{"remove", func() (*store.Group, error) { return w.s.RemoveMember(ctx, auto.ID, w.alice.ID, "admin:ann") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.do()
			var rg *people.RuleGroupError
			if !errors.As(err, &rg) || rg.Rule != "engineers" || rg.Group != "auto" ||
				!strings.Contains(err.Error(), "its members are what the rule says") {
				t.Errorf("%s: %v, want a RuleGroupError naming rule engineers", tc.name, err)
			}
		})
	}
	if after := w.runs(t); after != before {
		t.Errorf("%d runs for refused edits, want none", after-before)
	}
	if err := w.st.DeleteRule(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if g, err := w.s.RemoveMember(ctx, auto.ID, w.alice.ID, "admin:ann"); err != nil || g.MemberCount != 0 {
		t.Errorf("removing a member once the rule is gone: %+v, %v", g, err)
	}
}
