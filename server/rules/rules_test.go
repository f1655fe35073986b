package rules_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/server/rules"
	"github.com/idsync/idsync/server/store"
)

// TestFullEvaluation10k: a rule over 10,000 users evaluated in full holds
// exactly the users its expression is true for; evaluating it again
// changes nothing; a preview agrees and writes nothing.
func TestFullEvaluation10k(t *testing.T) {
	w := newWorld(t, options{})
	ctx := t.Context()
	const n = 10_000
	ps := make([]person, n)
	want := 0
	for i := range ps {
		ps[i] = person{name: fmt.Sprintf("user%05d", i), department: "sales"}
		if i%4 == 0 {
			ps[i].department = "engineering"
			want++
		}
	}
	w.addPeople(ps...)
	g := w.group("engineers")

	o := w.add("engineers", "engineers", `department == "engineering" && status == "active"`)
	if o.Paused != nil || o.Matched != want || o.Joined != want || o.Left != 0 || o.Errors != 0 || o.Members != 0 {
		t.Fatalf("Add: %+v, want %d matched and joined", o, want)
	}
	if len(o.Joining) != rules.Sample || o.Joining[0].Username != "user00000" {
		t.Errorf("Add named %d joining, first %v; want the first %d in id order", len(o.Joining), o.Joining, rules.Sample)
	}
	got, err := w.st.GetGroup(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.MemberCount != int64(want) || got.UnresolvedMembers != 0 {
		t.Fatalf("group holds %d members (%d unresolved), want %d", got.MemberCount, got.UnresolvedMembers, want)
	}
	users, err := w.st.GroupUsersTransitive(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.Department != "engineering" {
			t.Fatalf("user %s of %s is in the group", u.Username, u.Department)
		}
	}
	if ev := w.audit("rule.applied"); len(ev) != 1 || ev[0].Actor != "rule:engineers" || ev[0].Target != "group:engineers" ||
		!strings.Contains(ev[0].Detail, fmt.Sprintf("%d joined (user00000, user00004", want)) {
		t.Errorf("rule.applied events: %+v", ev)
	}
	if ev := w.audit("rule.created"); len(ev) != 1 || ev[0].Actor != "admin:test" || ev[0].Target != "rule:engineers" {
		t.Errorf("rule.created events: %+v", ev)
	}

	again, err := w.rules.Apply(ctx, "engineers", "admin:test")
	if err != nil || again.Joined != 0 || again.Left != 0 || again.Matched != want || again.Members != want {
		t.Fatalf("Apply again: %+v, %v; want no change", again, err)
	}
	after, err := w.st.GetGroup(ctx, g.ID)
	if err != nil || after.Revision != got.Revision {
		t.Errorf("an evaluation that changes nothing wrote the group: revision %d, was %d (%v)", after.Revision, got.Revision, err)
	}
	p, err := w.rules.Preview(ctx, "engineers")
	if err != nil || p.Joined != 0 || p.Left != 0 || p.Matched != want {
		t.Errorf("Preview: %+v, %v", p, err)
	}
	if s := w.rule("engineers"); s.State != rules.StateActive || s.Rule.LastFull.Matched != int64(want) || s.Members != int64(want) {
		t.Errorf("status: %+v, last full %+v", s, s.Rule.LastFull)
	}
}

// TestProfileChange: a profile change moves a user between rule groups in
// the feed's next step, one write per group; a change no rule reads
// writes nothing.
func TestProfileChange(t *testing.T) {
	w := newWorld(t, options{})
	w.addPeople(person{name: "alice", department: "eng"}, person{name: "bob", department: "sales"})
	eng, sales := w.group("eng-auto"), w.group("sales-auto")
	w.add("eng", "eng-auto", `department == "eng"`)
	w.add("sales", "sales-auto", `department == "sales"`)
	w.step()
	if got := w.members("eng-auto"); !slices.Equal(got, []string{"alice"}) {
		t.Fatalf("eng-auto = %v", got)
	}
	before := map[string]int64{}
	for _, g := range []*store.Group{eng, sales} {
		gr, _ := w.st.GetGroup(t.Context(), g.ID)
		before[g.Name] = gr.Revision
	}

	t.Run("a change no rule turns on writes nothing", func(t *testing.T) {
		w.apply(userObject(person{name: "alice", department: "eng", title: "Lead"}))
		w.step()
		for _, g := range []*store.Group{eng, sales} {
			if gr, _ := w.st.GetGroup(t.Context(), g.ID); gr.Revision != before[g.Name] {
				t.Errorf("group %s written: revision %d, was %d", g.Name, gr.Revision, before[g.Name])
			}
		}
	})
	t.Run("not before the step", func(t *testing.T) {
		w.apply(userObject(person{name: "alice", department: "sales"}))
		if got := w.members("eng-auto"); !slices.Equal(got, []string{"alice"}) {
			t.Fatalf("eng-auto moved before the rule engine ran: %v", got)
		}
	})
	t.Run("the next step moves it, in one write", func(t *testing.T) {
		from, err := w.st.FeedPosition(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		w.step()
		changes, _, err := w.st.Changes(t.Context(), from, 100)
		if err != nil {
			t.Fatal(err)
		}
		pos := map[string]int64{}
		for _, c := range changes {
			pos[c.ObjectID] = c.Position
		}
		// Both groups at one position: no app sees alice in neither (it
		// would deactivate her account in an app both are assigned to).
		if pos[eng.ID] == 0 || pos[eng.ID] != pos[sales.ID] {
			t.Errorf("eng-auto written at %d, sales-auto at %d: want one write of both", pos[eng.ID], pos[sales.ID])
		}
		if got, want := w.members("eng-auto"), []string{}; !slices.Equal(got, want) {
			t.Errorf("eng-auto = %v, want %v", got, want)
		}
		if got, want := w.members("sales-auto"), []string{"alice", "bob"}; !slices.Equal(got, want) {
			t.Errorf("sales-auto = %v, want %v", got, want)
		}
		evs := w.audit("rule.applied")
		var on []string
		for _, e := range evs {
			if strings.Contains(e.Detail, "on change") {
				on = append(on, e.Actor+" "+e.Detail)
			}
		}
		want := []string{"rule:eng rule eng, on change: 0 joined, 1 left (alice)", "rule:sales rule sales, on change: 1 joined (alice), 0 left"}
		if !reflect.DeepEqual(on, want) {
			t.Errorf("audit of the move = %q, want %q", on, want)
		}
	})
	t.Run("a step again changes nothing", func(t *testing.T) {
		n := len(w.audit("rule.applied"))
		w.step()
		if got := len(w.audit("rule.applied")); got != n {
			t.Errorf("a step with nothing new wrote %d events", got-n)
		}
	})
}

// TestProfileChangeReachesTheApp: rule groups are assigned to an app and
// pushed like any group; a profile change moves the user from one to the
// other in the app. The rule engine polls once an hour: the move gets
// there only because the ingest engine's OnChange wakes it at the commit
// (and its own write wakes provisioning) — in this order in the feed: the
// user's change, then the groups' writes. How long it takes is measured
// by BenchmarkProfileChangeToApp, not asserted here.
func TestProfileChangeReachesTheApp(t *testing.T) {
	w, p, eng, sales := movesWorld(t, []person{{name: "alice", department: "eng"}, {name: "bob", department: "sales"}})
	pushed := func(name string, want ...string) func() bool {
		return func() bool {
			got, ok := p.groupMembers(name)
			return ok && slices.Equal(got, want)
		}
	}
	describe := func() string {
		e, _ := p.groupMembers("eng-auto")
		s, _ := p.groupMembers("sales-auto")
		return fmt.Sprintf("the app's eng-auto %v, sales-auto %v; rule log:\n%s", e, s, tail(w.logs.String(), 20))
	}
	if !pushed("eng-auto", "alice@corp.example")() || !pushed("sales-auto", "bob@corp.example")() {
		t.Fatalf("before the change: %s", describe())
	}

	from, err := w.st.FeedPosition(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w.apply(userObject(person{name: "alice", department: "sales"}))
	eventually.That(t, "alice moved in the app", func() (bool, string) {
		return pushed("eng-auto")() && pushed("sales-auto", "alice@corp.example", "bob@corp.example")(), describe()
	})

	changes, _, err := w.st.Changes(t.Context(), from, 100)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, c := range changes {
		switch c.ObjectID {
		case w.user("alice").ID:
			order = append(order, "alice")
		case eng.ID:
			order = append(order, "eng-auto")
		case sales.ID:
			order = append(order, "sales-auto")
		}
	}
	if want := []string{"alice", "eng-auto", "sales-auto"}; !slices.Equal(order, want) {
		t.Errorf("the feed after the change = %v, want %v", order, want)
	}
}

// TestSafeguard: an evaluation that would remove more members than the
// safeguard allows pauses as a run of kind rule, writes nothing, and the
// rule is not evaluated until an admin confirms (the evaluation goes
// ahead) or cancels (the rule is held until applied again). Removing a
// rule whose group is large pauses likewise; a small one goes at once.
func TestSafeguard(t *testing.T) {
	w := newWorld(t, options{percent: 20, most: 5})
	ctx := t.Context()
	var ps []person
	for i := range 20 {
		ps = append(ps, person{name: fmt.Sprintf("u%02d", i), department: "eng"})
	}
	w.addPeople(ps...)
	w.group("eng-auto")
	w.add("eng", "eng-auto", `department == "eng"`)
	if got := len(w.members("eng-auto")); got != 20 {
		t.Fatalf("eng-auto holds %d, want 20", got)
	}
	expr := `department == "none"`
	pausedRun := func(o *rules.Outcome) *store.Run {
		t.Helper()
		if o.Paused == nil {
			t.Fatalf("not paused: %+v", o)
		}
		r, err := w.st.GetRun(ctx, o.Paused.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Kind != store.RunRule || r.State != store.RunPausedBySafeguard || r.Directory != "staff" || r.Trigger != "rule:eng" ||
			!strings.Contains(r.Message, "group rule confirm eng") {
			t.Errorf("paused run %+v", r)
		}
		return r
	}

	t.Run("an update that would empty the group pauses", func(t *testing.T) {
		o, err := w.rules.Update(ctx, "eng", &expr, nil, "admin:test")
		if err != nil {
			t.Fatal(err)
		}
		r := pausedRun(o)
		if r.PendingDeprovision != 20 || o.Left != 20 {
			t.Errorf("pending %d, left %d; want 20", r.PendingDeprovision, o.Left)
		}
		if got := len(w.members("eng-auto")); got != 20 {
			t.Errorf("eng-auto holds %d after the pause, want 20 (nothing written)", got)
		}
		if s := w.rule("eng"); s.State != rules.StatePaused || s.Run.ID != r.ID {
			t.Errorf("status %+v", s)
		}
		if ev := w.audit("safeguard.trip"); len(ev) != 1 || ev[0].Actor != "rule:eng" {
			t.Errorf("safeguard.trip events %+v", ev)
		}
	})
	t.Run("paused: not evaluated, not applied", func(t *testing.T) {
		w.apply(userObject(person{name: "u00", department: "none"}))
		w.step()
		if got := len(w.members("eng-auto")); got != 20 {
			t.Errorf("eng-auto holds %d, want 20 (a paused rule is not evaluated)", got)
		}
		_, err := w.rules.Apply(ctx, "eng", "admin:test")
		var se *rules.StateError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), "waits for an admin") {
			t.Errorf("Apply on a paused rule: %v", err)
		}
	})
	t.Run("cancel holds the rule", func(t *testing.T) {
		s, err := w.rules.Cancel(ctx, "eng", "admin:test")
		if err != nil || s.State != rules.StateHeld || s.Run.State != store.RunCancelled {
			t.Fatalf("Cancel: %+v, %v", s, err)
		}
		w.advance(2 * time.Hour)
		w.step()
		if got := len(w.members("eng-auto")); got != 20 {
			t.Errorf("eng-auto holds %d, want 20 (a held rule is not evaluated, scheduled or not)", got)
		}
	})
	t.Run("apply evaluates a held rule again, under the safeguard", func(t *testing.T) {
		o, err := w.rules.Apply(ctx, "eng", "admin:test")
		if err != nil {
			t.Fatal(err)
		}
		pausedRun(o)
	})
	t.Run("confirm lets it go ahead", func(t *testing.T) {
		o, err := w.rules.Confirm(ctx, "eng", "admin:test")
		if err != nil || o.Left != 19 || o.Joined != 0 || o.Matched != 1 {
			t.Fatalf("Confirm: %+v, %v; want 19 left, u00 kept", o, err)
		}
		if got := w.members("eng-auto"); !slices.Equal(got, []string{"u00"}) {
			t.Errorf("eng-auto = %v, want [u00]", got)
		}
		s := w.rule("eng")
		if s.State != rules.StateActive || s.Rule.PausedRun != 0 {
			t.Errorf("after confirm: %+v", s)
		}
		runs, _ := w.st.ListRuns(ctx, store.RunFilter{DirectoryID: w.staff.ID, States: []store.RunState{store.RunCompleted}})
		if !slices.ContainsFunc(runs, func(r *store.Run) bool { return r.Kind == store.RunRule }) {
			t.Errorf("the confirmed run did not complete: %+v", runs)
		}
	})
	t.Run("import cancel calls a paused evaluation off too", func(t *testing.T) {
		back := `department == "eng"`
		if _, err := w.rules.Update(ctx, "eng", &back, nil, "admin:test"); err != nil {
			t.Fatal(err)
		}
		o, err := w.rules.Update(ctx, "eng", &expr, nil, "admin:test")
		if err != nil {
			t.Fatal(err)
		}
		r := pausedRun(o)
		if _, err := w.ingest.Cancel(ctx, r.ID, "cancelled by admin:test"); err != nil {
			t.Fatal(err)
		}
		if s := w.rule("eng"); s.State != rules.StateHeld {
			t.Errorf("after import cancel: %s", s.State)
		}
		// import confirm is not how a rule's change goes ahead.
		back = `department == "eng"`
		if _, err := w.rules.Update(ctx, "eng", &back, nil, "admin:test"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("removing a large rule pauses; cancel keeps it", func(t *testing.T) {
		o, err := w.rules.Remove(ctx, "eng", "admin:test")
		if err != nil {
			t.Fatal(err)
		}
		r := pausedRun(o)
		if r.PendingDeprovision != 19 {
			t.Errorf("pending %d, want 19 (u00 is of department none)", r.PendingDeprovision)
		}
		if _, err := w.ingest.Confirm(ctx, r.ID); err == nil {
			t.Errorf("import confirm of a rule's run was taken: only group rule confirm lets it go ahead")
		}
		if _, err := w.rules.Cancel(ctx, "eng", "admin:test"); err != nil {
			t.Fatal(err)
		}
		if s := w.rule("eng"); s.State != rules.StateActive || len(w.members("eng-auto")) != 19 {
			t.Errorf("after a cancelled removal: %s, %d members", s.State, len(w.members("eng-auto")))
		}
	})
	t.Run("confirmed removal empties the group", func(t *testing.T) {
		o, err := w.rules.Remove(ctx, "eng", "admin:test")
		if err != nil {
			t.Fatal(err)
		}
		pausedRun(o)
		if _, err := w.rules.Confirm(ctx, "eng", "admin:test"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.rules.Get(ctx, "eng"); !errors.Is(err, rules.ErrNoRule) {
			t.Errorf("Get after removal: %v", err)
		}
		if got := w.members("eng-auto"); len(got) != 0 {
			t.Errorf("eng-auto = %v after the removal", got)
		}
		if ev := w.audit("rule.removed"); len(ev) != 1 {
			t.Errorf("rule.removed events: %+v", ev)
		}
	})
	t.Run("a small rule is removed at once", func(t *testing.T) {
		w.group("few")
		w.add("few", "few", `username == "u01" || username == "u02"`)
		o, err := w.rules.Remove(ctx, "few", "admin:test")
		if err != nil || o.Paused != nil || o.Left != 2 {
			t.Fatalf("Remove: %+v, %v", o, err)
		}
		if got := w.members("few"); len(got) != 0 {
			t.Errorf("few = %v", got)
		}
	})
}

// TestEvalErrors: an expression that fails for a user is no change for
// that user — a member stays, an outsider stays out — and is recorded,
// naming the user and the column; it is never taken as false.
func TestEvalErrors(t *testing.T) {
	w := newWorld(t, options{})
	ctx := t.Context()
	w.addPeople(
		person{name: "one", extra: map[string][]string{"flag": {"b"}}},
		person{name: "list", extra: map[string][]string{"flag": {"b", "c"}}},
		person{name: "other", extra: map[string][]string{"flag": {"z"}}},
		person{name: "outsider", extra: map[string][]string{"flag": {"b", "x"}}},
	)
	g := w.group("flagged")
	if _, err := w.people.AddMember(ctx, g.ID, w.user("list").ID, "admin:test"); err != nil {
		t.Fatal(err)
	}
	o := w.add("flagged", "flagged", `"a" + extra.flag == "ab"`)
	if o.Errors != 2 || o.Joined != 1 || o.Left != 0 || !strings.Contains(o.FirstError, "user list") ||
		!strings.Contains(o.FirstError, `1:5: "+" joins strings`) {
		t.Fatalf("Add: %+v", o)
	}
	if got, want := w.members("flagged"), []string{"list", "one"}; !slices.Equal(got, want) {
		t.Errorf("flagged = %v, want %v (list keeps its membership, outsider stays out)", got, want)
	}
	if s := w.rule("flagged"); !strings.Contains(s.Rule.LastError, "user list") || s.Rule.LastFull.Errors != 2 {
		t.Errorf("status %+v", s.Rule)
	}
	t.Run("on change too", func(t *testing.T) {
		w.apply(userObject(person{name: "one", extra: map[string][]string{"flag": {"q", "r"}}}))
		w.step()
		if got, want := w.members("flagged"), []string{"list", "one"}; !slices.Equal(got, want) {
			t.Errorf("flagged = %v, want %v", got, want)
		}
		if s := w.rule("flagged"); !strings.Contains(s.Rule.LastError, "user one") {
			t.Errorf("last error %q, want user one's", s.Rule.LastError)
		}
	})
	t.Run("a result that is no bool is an error", func(t *testing.T) {
		w.group("strings")
		o := w.add("strings", "strings", `username`)
		if o.Errors != 4 || o.Joined != 0 || !strings.Contains(o.FirstError, "not true or false") {
			t.Errorf("Add: %+v", o)
		}
	})
}

// TestBadInput: what an admin gives is refused with an error that names
// the field or what is wrong.
func TestBadInput(t *testing.T) {
	w := newWorld(t, options{})
	ctx := t.Context()
	w.addPeople(person{name: "alice", department: "eng"})
	w.corpGroup("eng", []string{"alice"})
	w.group("auto")
	w.add("taken", "auto", `true`)
	w.group("free")
	other := &store.Directory{Name: "other", Kind: store.KindLocal}
	if err := w.st.CreateDirectory(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := w.people.CreateGroup(ctx, "other", "free", "admin:test"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		spec rules.Spec
		want string
		is   error
	}{
		{"expression", rules.Spec{Name: "x", Group: "staff/free", Expr: `department == "eng`}, `expr: "department == \"eng": 1:15: string not closed`, nil},
		{"a directory's group", rules.Spec{Name: "x", Group: "eng", Expr: "true"}, "group eng of directory corp (kind openldap): a directory's own groups stay read-only", nil},
		{"no such group", rules.Spec{Name: "x", Group: "nope", Expr: "true"}, `group: no group "nope"`, nil},
		{"ambiguous group", rules.Spec{Name: "x", Group: "free", Expr: "true"}, `group: "free" is the name of 2 groups (`, nil},
		{"name taken", rules.Spec{Name: "TAKEN", Group: "staff/free", Expr: "true"}, `name: "TAKEN" is taken`, store.ErrConflict},
		{"group taken", rules.Spec{Name: "x", Group: "auto", Expr: "true"}, "group auto of staff is the group of rule taken already", store.ErrConflict},
		{"bad name", rules.Spec{Name: "two words", Group: "staff/free", Expr: "true"}, `name: "two words"`, nil},
		{"no group", rules.Spec{Name: "x", Expr: "true"}, "group: required", nil},
		{"no such directory", rules.Spec{Name: "x", Group: "staff/free", Expr: "true", Directories: []string{"nope"}}, `directory: no directory "nope"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.rules.Add(ctx, tc.spec, "admin:test")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Add(%+v) = %v, want %q", tc.spec, err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
	if list, _ := w.rules.List(ctx); len(list) != 1 {
		t.Errorf("%d rules after the refusals, want 1", len(list))
	}
	for _, name := range []string{"nope"} {
		if _, err := w.rules.Apply(ctx, name, "admin:test"); !errors.Is(err, rules.ErrNoRule) {
			t.Errorf("Apply(%s) = %v", name, err)
		}
	}
}

// TestGroupsField: groups holds each group of the user, through nesting,
// by name and by DIRECTORY/NAME. A user who joins a group moves at the
// next step; a user who leaves one is not among the group's users any
// more, so the change marks the rules that read groups for a full
// evaluation, which runs once Settle has passed.
func TestGroupsField(t *testing.T) {
	w := newWorld(t, options{settle: time.Minute})
	w.addPeople(person{name: "bob"}, person{name: "carol"}, person{name: "dave"}, person{name: "erin"})
	w.corpGroup("contractors", []string{"bob"})
	w.corpGroup("vendors", []string{"carol"}, "contractors")
	for _, g := range []string{"c-auto", "v-auto", "q-auto", "n-auto"} {
		w.group(g)
	}
	w.add("c", "c-auto", `"contractors" in groups`)
	w.add("v", "v-auto", `"vendors" in groups`)
	w.add("q", "q-auto", `"corp/vendors" in groups && !("staff/vendors" in groups)`)
	w.add("n", "n-auto", `!("contractors" in groups)`)
	w.step()
	check := func(step string, want map[string][]string) {
		t.Helper()
		for g, members := range want {
			if got := w.members(g); !slices.Equal(got, members) {
				t.Errorf("%s: %s = %v, want %v", step, g, got, members)
			}
		}
	}
	check("first", map[string][]string{"c-auto": {"bob"}, "v-auto": {"bob", "carol"}, "q-auto": {"bob", "carol"},
		"n-auto": {"carol", "dave", "erin"}})

	t.Run("joining a group moves the user at the next step", func(t *testing.T) {
		w.corpGroup("contractors", []string{"bob", "dave"})
		w.step()
		check("dave joined", map[string][]string{"c-auto": {"bob", "dave"}, "v-auto": {"bob", "carol", "dave"},
			"n-auto": {"carol", "erin"}})
	})
	t.Run("leaving a group waits for the full evaluation", func(t *testing.T) {
		w.corpGroup("contractors", []string{"dave"})
		w.step()
		if got := w.members("c-auto"); !slices.Equal(got, []string{"bob", "dave"}) {
			t.Fatalf("c-auto = %v before the full evaluation", got)
		}
		s := w.rule("c")
		if s.Rule.GroupsPos <= s.Rule.LastFull.Position {
			t.Fatalf("the group change did not mark the rule: groups position %d, last full %d", s.Rule.GroupsPos, s.Rule.LastFull.Position)
		}
		w.advance(time.Minute)
		w.step()
		check("bob left", map[string][]string{"c-auto": {"dave"}, "v-auto": {"carol", "dave"}, "q-auto": {"carol", "dave"},
			"n-auto": {"bob", "carol", "erin"}})
		if s := w.rule("c"); s.Rule.GroupsPos > s.Rule.LastFull.Position {
			t.Errorf("the full evaluation left the rule marked: %d > %d", s.Rule.GroupsPos, s.Rule.LastFull.Position)
		}
	})
}

// TestRulesOnRules: a rule sees the groups of the rules before it, in the
// same step; never its own or a later one's, so rules cannot chase each
// other round a loop.
func TestRulesOnRules(t *testing.T) {
	w := newWorld(t, options{})
	w.addPeople(person{name: "alice", department: "eng"}, person{name: "bob", department: "sales"})
	for _, g := range []string{"g0", "g1", "g2", "self"} {
		w.group(g)
	}
	w.add("r0", "g0", `"g2" in groups`)                               // a later rule's group: never seen
	w.add("r1", "g1", `department == "eng"`)                          // the base
	w.add("r2", "g2", `"g1" in groups`)                               // builds on r1
	w.add("self", "self", `!("self" in groups) && !("g0" in groups)`) // its own group: never seen
	check := func(step string) {
		t.Helper()
		w.step()
		for g, want := range map[string][]string{"g0": {}, "g1": {"alice"}, "g2": {"alice"}, "self": {"alice", "bob"}} {
			if got := w.members(g); !slices.Equal(got, want) {
				t.Errorf("%s: %s = %v, want %v", step, g, got, want)
			}
		}
	}
	check("after the adds")
	check("a step again")
	t.Run("a change runs down the chain in one step", func(t *testing.T) {
		w.apply(userObject(person{name: "bob", department: "eng"}))
		w.step()
		if got := w.members("g2"); !slices.Equal(got, []string{"alice", "bob"}) {
			t.Errorf("g2 = %v, want alice and bob", got)
		}
		n := len(w.audit("rule.applied"))
		w.step()
		w.step()
		if got := len(w.audit("rule.applied")); got != n {
			t.Errorf("steps with nothing new wrote %d more times: a loop", got-n)
		}
	})
}

// TestSchedule: a rule is evaluated in full again once the interval has
// passed since its last full evaluation, and not before.
func TestSchedule(t *testing.T) {
	w := newWorld(t, options{interval: time.Hour})
	w.addPeople(person{name: "alice", department: "eng"})
	w.group("eng-auto")
	w.add("eng", "eng-auto", `department == "eng"`)
	first := w.rule("eng").Rule.LastFull
	w.advance(59 * time.Minute)
	w.step()
	if got := w.rule("eng").Rule.LastFull; !got.At.Equal(first.At) {
		t.Errorf("evaluated in full before the interval: %v, first %v", got.At, first.At)
	}
	w.advance(time.Minute)
	w.step()
	if got := w.rule("eng").Rule.LastFull; !got.At.After(first.At) || got.Matched != 1 {
		t.Errorf("not evaluated in full once the interval passed: %+v, first %+v", got, first)
	}
}

// TestUnevaluatedRule: a rule the door that made it did not evaluate (the
// hub stopped in between) is evaluated in full by the schedule, Settle
// after it was made — not at once, which would take its first evaluation
// from the door.
func TestUnevaluatedRule(t *testing.T) {
	w := newWorld(t, options{settle: time.Minute})
	w.addPeople(person{name: "alice", department: "eng"})
	g := w.group("lost")
	r := &store.Rule{Name: "lost", GroupID: g.ID, Expr: `department == "eng"`}
	if err := w.st.CreateRule(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	w.step()
	if got := w.rule("lost").Rule.LastFull; !got.At.IsZero() {
		t.Errorf("evaluated at once: %+v", got)
	}
	w.advance(time.Minute + time.Second)
	w.step()
	if got := w.rule("lost").Rule.LastFull; got.At.IsZero() || got.Matched != 1 || !slices.Equal(w.members("lost"), []string{"alice"}) {
		t.Errorf("not evaluated Settle after it was made: %+v, members %v", got, w.members("lost"))
	}
}

// failing fails the writes of a group while fail is set, and passes the
// rest to the real engine.
type failing struct {
	rules.Applier
	fail *bool
}

func (f failing) ApplyWrite(ctx context.Context, d *store.Directory, trigger string, b *store.Batch) (store.BatchResult, error) {
	if *f.fail {
		return store.BatchResult{}, errors.New("the hub stopped")
	}
	return f.Applier.ApplyWrite(ctx, d, trigger, b)
}

// TestCursorAfterWrites: the feed's cursor moves only after a page's
// writes: a write that fails leaves it, and the next step evaluates the
// page again.
func TestCursorAfterWrites(t *testing.T) {
	w := newWorld(t, options{})
	ctx := t.Context()
	w.addPeople(person{name: "alice", department: "sales"})
	w.group("eng-auto")
	w.add("eng", "eng-auto", `department == "eng"`)
	w.step()
	fail := false
	eng := rules.New(rules.Config{Store: w.st, Apply: failing{w.ingest, &fail}, Now: w.clock})
	w.apply(userObject(person{name: "alice", department: "eng"}))
	before, err := w.st.Cursor(ctx, "rules")
	if err != nil {
		t.Fatal(err)
	}
	fail = true
	if err := eng.Step(ctx); err == nil {
		t.Fatal("a step whose write failed answered no error")
	}
	if after, _ := w.st.Cursor(ctx, "rules"); after != before {
		t.Fatalf("the cursor moved from %d to %d past a page whose write failed", before, after)
	}
	fail = false
	if err := eng.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if got := w.members("eng-auto"); !slices.Equal(got, []string{"alice"}) {
		t.Errorf("eng-auto = %v after the step again", got)
	}
	if after, _ := w.st.Cursor(ctx, "rules"); after <= before {
		t.Errorf("the cursor did not move: %d", after)
	}
}
