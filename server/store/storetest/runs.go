package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
)

var runTests = []test{
	{"CreateAndGet", testRunCreateAndGet},
	{"List", testRunList},
	{"Claim", testRunClaim},
	{"Transition", testRunTransition},
	{"TransitionRace", testRunTransitionRace},
	{"OneOpenPerKind", testRunOneOpenPerKind},
	{"OpenRace", testRunOpenRace},
	{"Strategy", testRunStrategy},
}

func testRunCreateAndGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	before := time.Now()
	r := &store.Run{DirectoryID: f.dir.ID, Kind: store.RunFull, Trigger: "schedule"}
	must(t, "CreateRun", s.CreateRun(ctx, r))
	if r.ID == 0 || r.State != store.RunRunning || r.Directory != "corp" {
		t.Errorf("after CreateRun ID, State, Directory = %d, %q, %q; want non-zero, running, corp", r.ID, r.State, r.Directory)
	}
	if r.StartedAt.Before(before.Add(-timeTolerance)) {
		t.Errorf("StartedAt = %v, want after %v", r.StartedAt, before)
	}
	got := f.getRun(r.ID)
	if !sameTime(got.StartedAt, r.StartedAt) || !got.FinishedAt.IsZero() {
		t.Errorf("StartedAt, FinishedAt = %v, %v; want %v, zero", got.StartedAt, got.FinishedAt, r.StartedAt)
	}
	want := *r
	want.StartedAt = got.StartedAt
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("GetRun = %+v, want %+v", *got, want)
	}

	_, err := s.GetRun(ctx, r.ID+100)
	wantErr(t, "GetRun(unknown)", err, store.ErrNotFound)
	err = s.CreateRun(ctx, &store.Run{DirectoryID: f.dir.ID + 100, Kind: store.RunFull})
	wantErr(t, "CreateRun(unknown directory)", err, store.ErrNotFound)
}

func testRunList(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newFixture(t, s, "a"), newFixture(t, s, "b")
	// A directory has one open run of each kind: the first two end.
	made := []struct {
		f    *fixture
		kind store.RunKind
		end  store.RunState
	}{
		{a, store.RunIncremental, store.RunCompleted},
		{b, store.RunIncremental, store.RunFailed},
		{a, store.RunFull, ""},
		{b, store.RunFull, ""},
		{a, store.RunIncremental, ""},
		{b, store.RunIncremental, ""},
	}
	var ids []int64 // creation order
	for _, m := range made {
		r := m.f.run(m.kind)
		ids = append(ids, r.ID)
		if m.end != "" {
			_, err := s.TransitionRun(ctx, r.ID, []store.RunState{store.RunRunning},
				store.RunUpdate{State: m.end, Finished: true})
			must(t, "TransitionRun", err)
		}
	}
	must(t, "ClaimRun", s.ClaimRun(ctx, ids[4], "agent-1", "session-1"))

	tests := []struct {
		name string
		f    store.RunFilter
		want []int64
	}{
		{"all", store.RunFilter{}, []int64{ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"limit", store.RunFilter{Limit: 2}, []int64{ids[5], ids[4]}},
		{"directory", store.RunFilter{DirectoryID: a.dir.ID}, []int64{ids[4], ids[2], ids[0]}},
		{"state", store.RunFilter{States: []store.RunState{store.RunCompleted}}, []int64{ids[0]}},
		{"failed", store.RunFilter{States: []store.RunState{store.RunFailed}}, []int64{ids[1]}},
		{"states", store.RunFilter{DirectoryID: a.dir.ID, States: []store.RunState{store.RunRunning, store.RunFailed}},
			[]int64{ids[4], ids[2]}},
		{"session", store.RunFilter{SessionID: "session-1"}, []int64{ids[4]}},
		{"kind", store.RunFilter{Kinds: []store.RunKind{store.RunFull}}, []int64{ids[3], ids[2]}},
		{"kinds", store.RunFilter{DirectoryID: b.dir.ID, Kinds: []store.RunKind{store.RunFull, store.RunAdmin}}, []int64{ids[3]}},
		{"none", store.RunFilter{SessionID: "nobody"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := s.ListRuns(ctx, tc.f)
			must(t, "ListRuns", err)
			var got []int64
			for _, r := range rs {
				got = append(got, r.ID)
				if r.Directory == "" {
					t.Errorf("run %d has no directory name", r.ID)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ListRuns(%+v) = %v, want %v", tc.f, got, tc.want)
			}
		})
	}
}

func testRunClaim(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	ended := f.run(store.RunFull)
	_, err := s.TransitionRun(ctx, ended.ID, []store.RunState{store.RunRunning}, store.RunUpdate{State: store.RunFailed})
	must(t, "TransitionRun", err)
	run := f.run(store.RunFull)

	steps := []struct {
		name             string
		run              int64
		agent, session   string
		want             error
		wantAgent, wantS string
	}{
		{"first claim wins", run.ID, "agent-1", "s1", nil, "agent-1", "s1"},
		{"same session again", run.ID, "agent-1", "s1", nil, "agent-1", "s1"},
		{"another session loses", run.ID, "agent-2", "s2", store.ErrConflict, "agent-1", "s1"},
		{"ended run", ended.ID, "agent-1", "s1", store.ErrConflict, "", ""},
		{"unknown run", run.ID + 100, "agent-1", "s1", store.ErrNotFound, "", ""},
	}
	for _, st := range steps {
		err := s.ClaimRun(ctx, st.run, st.agent, st.session)
		wantErr(t, st.name, err, st.want)
		if errors.Is(st.want, store.ErrNotFound) {
			continue
		}
		got := f.getRun(st.run)
		if got.AgentID != st.wantAgent || got.SessionID != st.wantS {
			t.Errorf("%s: run claimed by %q/%q, want %q/%q", st.name, got.AgentID, got.SessionID, st.wantAgent, st.wantS)
		}
	}
}

func testRunTransition(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newFixture(t, s, "corp")
	run := f.run(store.RunFull)
	running := []store.RunState{store.RunRunning}
	paused := []store.RunState{store.RunPausedBySafeguard}

	steps := []struct {
		name     string
		from     []store.RunState
		u        store.RunUpdate
		want     error
		finished bool
	}{
		{"pause", running, store.RunUpdate{State: store.RunPausedBySafeguard, Message: "too many", PendingDeprovision: 42}, nil, false},
		{"pause again loses", running, store.RunUpdate{State: store.RunPausedBySafeguard}, store.ErrConflict, false},
		{"cancel", paused, store.RunUpdate{State: store.RunCancelled, Message: "admin said no", Finished: true}, nil, true},
		{"resume after cancel loses", paused, store.RunUpdate{State: store.RunRunning}, store.ErrConflict, true},
	}
	var last *store.Run
	for _, st := range steps {
		before := time.Now()
		got, err := s.TransitionRun(ctx, run.ID, st.from, st.u)
		wantErr(t, st.name, err, st.want)
		if st.want != nil {
			cur := f.getRun(run.ID)
			if cur.State != last.State || cur.Message != last.Message {
				t.Errorf("%s: a lost transition changed the run to %s %q", st.name, cur.State, cur.Message)
			}
			continue
		}
		if got.State != st.u.State || got.Message != st.u.Message || got.PendingDeprovision != st.u.PendingDeprovision {
			t.Errorf("%s: run is %s %q pending %d, want %s %q pending %d", st.name, got.State, got.Message,
				got.PendingDeprovision, st.u.State, st.u.Message, st.u.PendingDeprovision)
		}
		if st.finished && (got.FinishedAt.Before(before.Add(-timeTolerance)) || got.FinishedAt.Location() != time.UTC) {
			t.Errorf("%s: FinishedAt = %v, want about now in UTC", st.name, got.FinishedAt)
		}
		if !st.finished && !got.FinishedAt.IsZero() {
			t.Errorf("%s: FinishedAt = %v, want zero", st.name, got.FinishedAt)
		}
		last = got
	}
	_, err := s.TransitionRun(ctx, run.ID+100, running, store.RunUpdate{State: store.RunFailed})
	wantErr(t, "unknown run", err, store.ErrNotFound)
}

// testRunTransitionRace: of several deciders ending a run at once, exactly
// one wins.
func testRunTransitionRace(t *testing.T, s store.Store) {
	f := newFixture(t, s, "corp")
	run := f.run(store.RunFull)
	oneWins(t, 8, "deciders", store.ErrConflict, func(i int) error {
		_, err := s.TransitionRun(t.Context(), run.ID, []store.RunState{store.RunRunning},
			store.RunUpdate{State: store.RunFailed, Message: fmt.Sprint("decider ", i), Finished: true})
		return err
	})
}
