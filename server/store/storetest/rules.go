package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
)

var ruleTests = []test{
	{"CreateGetListDelete", testRuleCRUD},
	{"Refused", testRuleRefused},
	{"Evaluations", testRuleEvaluations},
	{"Pause", testRulePause},
	{"DirectGroups", testDirectGroups},
	{"GroupGraph", testGroupGraph},
}

// newRule creates a rule over group g of the local world's staff.
func newRule(t *testing.T, s store.Store, name string, g *store.Group, dirs ...int64) *store.Rule {
	t.Helper()
	r := &store.Rule{Name: name, GroupID: g.ID, Expr: `department == "eng"`, Directories: dirs, CreatedBy: "admin:root"}
	must(t, "CreateRule", s.CreateRule(t.Context(), r))
	return r
}

// testRuleCRUD: a rule is read back by name whatever its case, by its
// group, in a list in id order, with its group's name and directory and
// the names of the directories it covers; an update changes what it says;
// a removed rule is gone.
func testRuleCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newLocalWorld(t, s)
	mixed, inner := w.staff.group("mixed"), w.staff.group("inner")
	before := time.Now().UTC()
	r := newRule(t, s, "Engineers", mixed, w.lab.dir.ID, w.corp.dir.ID)
	want := &store.Rule{ID: r.ID, Name: "Engineers", GroupID: mixed.ID, Group: "mixed", DirectoryID: w.staff.dir.ID,
		Directory: "staff", Expr: `department == "eng"`, Directories: []int64{w.lab.dir.ID, w.corp.dir.ID},
		DirectoryNames: []string{"lab", "corp"}, CreatedBy: "admin:root", CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		Target: store.Group{ID: mixed.ID, DirectoryID: w.staff.dir.ID, Directory: "staff", ExternalID: mixed.ExternalID,
			Name: "mixed", Description: mixed.Description, Status: mixed.Status, Revision: mixed.Revision}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("CreateRule set %+v, want %+v", r, want)
	}
	if r.ID == 0 || r.CreatedAt.Before(before.Add(-timeTolerance)) || !sameTime(r.UpdatedAt, r.CreatedAt) {
		t.Errorf("CreateRule: id %d, created %v, updated %v", r.ID, r.CreatedAt, r.UpdatedAt)
	}
	for _, name := range []string{"Engineers", "engineers", "ENGINEERS"} {
		got, err := s.GetRule(ctx, name)
		must(t, "GetRule("+name+")", err)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetRule(%q) = %+v, want %+v", name, got, want)
		}
	}
	got, err := s.RuleOfGroup(ctx, mixed.ID)
	must(t, "RuleOfGroup", err)
	if got.ID != r.ID {
		t.Errorf("RuleOfGroup(mixed) = rule %d, want %d", got.ID, r.ID)
	}
	_, err = s.RuleOfGroup(ctx, inner.ID)
	wantErr(t, "RuleOfGroup(a group no rule has)", err, store.ErrNotFound)

	all := newRule(t, s, "all", inner)
	if all.Directories != nil || all.DirectoryNames != nil {
		t.Errorf("a rule over every directory: directories %v (%v), want none", all.Directories, all.DirectoryNames)
	}
	r.Expr, r.Directories = `"x" in groups`, nil
	must(t, "UpdateRule", s.UpdateRule(ctx, r))
	list, err := s.ListRules(ctx)
	must(t, "ListRules", err)
	if len(list) != 2 || list[0].ID != r.ID || list[1].ID != all.ID {
		t.Fatalf("ListRules = %+v, want Engineers then all", list)
	}
	if got := list[0]; got.Expr != `"x" in groups` || got.Directories != nil || got.DirectoryNames != nil ||
		!sameTime(got.UpdatedAt, r.UpdatedAt) || got.UpdatedAt.Before(got.CreatedAt) {
		t.Errorf("after UpdateRule: %+v", got)
	}
	wantErr(t, "UpdateRule(unknown)", s.UpdateRule(ctx, &store.Rule{ID: 999, Expr: "true"}), store.ErrNotFound)

	must(t, "DeleteRule", s.DeleteRule(ctx, r.ID))
	_, err = s.GetRule(ctx, "engineers")
	wantErr(t, "GetRule(removed)", err, store.ErrNotFound)
	wantErr(t, "DeleteRule(again)", s.DeleteRule(ctx, r.ID), store.ErrNotFound)
	// The group is free for another rule, the name for another group.
	newRule(t, s, "engineers", mixed)
}

// testRuleRefused: a name taken whatever its case, a group that is another
// rule's, and a group the hub does not have (or a user's id) are refused.
func testRuleRefused(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newLocalWorld(t, s)
	mixed, inner := w.staff.group("mixed"), w.staff.group("inner")
	newRule(t, s, "eng", mixed)
	for _, tc := range []struct {
		name string
		r    *store.Rule
		want error
	}{
		{"name taken in another case", &store.Rule{Name: "ENG", GroupID: inner.ID, Expr: "true"}, store.ErrConflict},
		{"group taken", &store.Rule{Name: "other", GroupID: mixed.ID, Expr: "true"}, store.ErrConflict},
		{"no such group", &store.Rule{Name: "ghost", GroupID: "no-such-group", Expr: "true"}, store.ErrNotFound},
		{"a user is no group", &store.Rule{Name: "user", GroupID: w.staff.user("contractor").ID, Expr: "true"}, store.ErrNotFound},
	} {
		wantErr(t, "CreateRule: "+tc.name, s.CreateRule(ctx, tc.r), tc.want)
	}
	list, err := s.ListRules(ctx)
	must(t, "ListRules", err)
	if len(list) != 1 {
		t.Errorf("ListRules after refusals = %d rules, want 1", len(list))
	}
}

// testRuleEvaluations: a full evaluation is recorded unless a newer one is;
// an error is recorded with it or alone; the groups position only rises.
func testRuleEvaluations(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newLocalWorld(t, s)
	a, b := newRule(t, s, "a", w.staff.group("mixed")), newRule(t, s, "b", w.staff.group("inner"))
	at := time.Now().UTC().Truncate(time.Second)
	e := store.RuleEvaluation{At: at, Position: 10, Matched: 5, Joined: 2, Left: 1, Errors: 1}
	must(t, "RuleEvaluated", s.RuleEvaluated(ctx, a.ID, e, "user x: 1:1: boom"))
	got := getRule(t, s, "a")
	if !sameTime(got.LastFull.At, at) || got.LastError != "user x: 1:1: boom" || !sameTime(got.LastErrorAt, at) {
		t.Errorf("after RuleEvaluated: %+v", got)
	}
	got.LastFull.At = at
	if got.LastFull != e {
		t.Errorf("LastFull = %+v, want %+v", got.LastFull, e)
	}
	// An older evaluation that ends later changes nothing.
	must(t, "RuleEvaluated(older)", s.RuleEvaluated(ctx, a.ID, store.RuleEvaluation{At: at.Add(time.Minute), Position: 9}, "later"))
	if got := getRule(t, s, "a"); got.LastFull.Position != 10 || got.LastError != "user x: 1:1: boom" {
		t.Errorf("an older evaluation replaced a newer one: %+v", got)
	}
	must(t, "RuleEvaluated(same position, no error)", s.RuleEvaluated(ctx, a.ID, store.RuleEvaluation{At: at.Add(time.Hour), Position: 10, Matched: 6}, ""))
	if got := getRule(t, s, "a"); got.LastFull.Matched != 6 || got.LastError != "user x: 1:1: boom" {
		t.Errorf("a new evaluation without errors: %+v, want Matched 6 and the last error kept", got)
	}
	must(t, "RuleFailed", s.RuleFailed(ctx, a.ID, "user y: 1:5: bad", at.Add(2*time.Hour)))
	if got := getRule(t, s, "a"); got.LastError != "user y: 1:5: bad" || !sameTime(got.LastErrorAt, at.Add(2*time.Hour)) {
		t.Errorf("after RuleFailed: %q at %v", got.LastError, got.LastErrorAt)
	}
	wantErr(t, "RuleFailed(unknown)", s.RuleFailed(ctx, 999, "x", at), store.ErrNotFound)
	wantErr(t, "RuleEvaluated(unknown)", s.RuleEvaluated(ctx, 999, e, ""), store.ErrNotFound)

	must(t, "MarkRulesGroupsChanged", s.MarkRulesGroupsChanged(ctx, []int64{a.ID, b.ID}, 20))
	must(t, "MarkRulesGroupsChanged(lower)", s.MarkRulesGroupsChanged(ctx, []int64{a.ID}, 15))
	must(t, "MarkRulesGroupsChanged(none)", s.MarkRulesGroupsChanged(ctx, nil, 99))
	if ga, gb := getRule(t, s, "a"), getRule(t, s, "b"); ga.GroupsPos != 20 || gb.GroupsPos != 20 {
		t.Errorf("groups positions %d, %d, want 20, 20 (a lower mark keeps the higher)", ga.GroupsPos, gb.GroupsPos)
	}
}

// testRulePause: the run that holds a rule's change is recorded and
// cleared.
func testRulePause(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newLocalWorld(t, s)
	r := newRule(t, s, "a", w.staff.group("mixed"))
	run := w.staff.run(store.RunRule)
	must(t, "SetRulePause", s.SetRulePause(ctx, r.ID, run.ID, store.RulePendingRemove))
	if got := getRule(t, s, "a"); got.PausedRun != run.ID || got.Pending != store.RulePendingRemove {
		t.Errorf("paused: run %d, pending %q; want %d, remove", got.PausedRun, got.Pending, run.ID)
	}
	// A directory holds one open rule run at a time.
	err := s.CreateRun(ctx, &store.Run{DirectoryID: w.staff.dir.ID, Kind: store.RunRule, Trigger: "test"})
	wantErr(t, "CreateRun(a second open rule run)", err, store.ErrConflict)
	must(t, "SetRulePause(clear)", s.SetRulePause(ctx, r.ID, 0, ""))
	if got := getRule(t, s, "a"); got.PausedRun != 0 || got.Pending != "" {
		t.Errorf("cleared: run %d, pending %q", got.PausedRun, got.Pending)
	}
	wantErr(t, "SetRulePause(unknown)", s.SetRulePause(ctx, 999, 0, ""), store.ErrNotFound)
}

func getRule(t *testing.T, s store.Store, name string) *store.Rule {
	t.Helper()
	r, err := s.GetRule(t.Context(), name)
	must(t, "GetRule", err)
	return r
}

// testDirectGroups: each user's direct groups by id, as UserGroups finds
// them (by DN, by memberUid in its directory, by id in any), without the
// deprovisioned ones; a user in none, or unknown, has no entry.
func testDirectGroups(t *testing.T, s store.Store) {
	w := newLocalWorld(t, s)
	corp, lab, staff := w.corp, w.lab, w.staff
	users := []*store.User{corp.user("alice"), corp.user("bob"), corp.user("carol"), lab.user("alice"),
		staff.user("contractor"), corp.user("dave")}
	var ids []string
	want := map[string][]string{}
	for _, u := range users {
		ids = append(ids, u.ID)
		gs, err := s.UserGroups(t.Context(), u.ID)
		must(t, "UserGroups", err)
		for _, g := range gs {
			want[u.ID] = append(want[u.ID], g.ID)
		}
		slices.Sort(want[u.ID])
	}
	if len(want[corp.user("alice").ID]) != 3 || len(want[corp.user("bob").ID]) != 2 {
		t.Fatalf("the world changed: corp alice in %v, bob in %v", want[corp.user("alice").ID], want[corp.user("bob").ID])
	}
	got, err := s.DirectGroups(t.Context(), append(ids, "no-such-user"))
	must(t, "DirectGroups", err)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DirectGroups = %v, want %v", got, want)
	}
	got, err = s.DirectGroups(t.Context(), nil)
	if err != nil || len(got) != 0 {
		t.Errorf("DirectGroups(none) = %v, %v", got, err)
	}
	for _, g := range []*store.Group{staff.group("mixed"), corp.group("eng"), staff.group("outer")} {
		if n, err := s.MemberCount(t.Context(), g.ID); err != nil || n != g.MemberCount {
			t.Errorf("MemberCount(%s) = %d, %v; want %d as GetGroup counts", g.Name, n, err, g.MemberCount)
		}
	}
	if n, err := s.MemberCount(t.Context(), "no-such-group"); err != nil || n != 0 {
		t.Errorf("MemberCount(unknown) = %d, %v", n, err)
	}
}

// testGroupGraph: every group that is not deprovisioned, and the nesting
// steps between them — by DN in the outer group's directory only (lab's
// up nests lab's eng, not corp's), by id in any; cycles and a group in
// itself are steps like any; a deprovisioned group is neither a node nor
// an end of a step.
func testGroupGraph(t *testing.T, s store.Store) {
	w := newLocalWorld(t, s)
	corp, staff := w.corp, w.staff
	g, err := s.GroupGraph(t.Context())
	must(t, "GroupGraph", err)
	name := map[string]string{}
	for id, gr := range g.Groups {
		name[id] = gr.Directory + "/" + gr.Name
		if gr.Status == store.StatusDeprovisioned || gr.DirectoryID == 0 {
			t.Errorf("group %+v", gr)
		}
	}
	for _, gone := range []string{corp.group("mid").ID, staff.group("gone").ID} {
		if _, ok := g.Groups[gone]; ok {
			t.Errorf("a deprovisioned group is in the graph: %s", gone)
		}
	}
	if len(g.Groups) != 16 {
		t.Errorf("the graph holds %d groups, want 16 (%v)", len(g.Groups), name)
	}
	var got [][2]string
	for _, e := range g.Edges {
		got = append(got, [2]string{name[e.Outer], name[e.Inner]})
	}
	slices.SortFunc(got, func(a, b [2]string) int { return slices.Compare(a[:], b[:]) })
	want := [][2]string{
		{"corp/all", "corp/dev"}, {"corp/dev", "corp/eng"}, {"corp/self", "corp/self"},
		{"corp/tie", "corp/eng"}, {"corp/tie", "corp/ops"}, {"corp/wide", "corp/dev"}, {"corp/wide", "corp/eng"},
		{"corp/x", "corp/y"}, {"corp/y", "corp/x"},
		{"lab/up", "lab/eng"},
		{"staff/outer", "corp/eng"}, {"staff/outer", "staff/inner"}, {"staff/outer", "staff/outer"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GroupGraph edges =\n%v\nwant\n%v", got, want)
	}
}
