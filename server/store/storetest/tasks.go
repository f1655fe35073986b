package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/idsync/idsync/server/store"
)

var taskTests = []test{
	{"CreateDedupes", testTaskCreateDedupes},
	{"Resolve", testTaskResolve},
}

func testTaskCreateDedupes(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newAppWorld(t, s) // each app has an open deprovision task for bob
	before := time.Now()
	first, err := s.CreateTask(ctx, &store.Task{AppID: w.crm.ID, UserID: w.alice.ID, Kind: "deprovision",
		Detail: "deactivate alice in crm by hand"})
	must(t, "CreateTask", err)
	if first.ID == 0 || first.State != store.TaskOpen || first.CreatedAt.Before(before.Add(-timeTolerance)) {
		t.Errorf("CreateTask = %+v, want an open task created about %v", first, before)
	}
	tests := []struct {
		name string
		task store.Task
		same bool // returns first
	}{
		{"same app, user and kind", store.Task{AppID: w.crm.ID, UserID: w.alice.ID, Kind: "deprovision", Detail: "again"}, true},
		{"another kind", store.Task{AppID: w.crm.ID, UserID: w.alice.ID, Kind: "delete"}, false},
		{"another app", store.Task{AppID: w.billing.ID, UserID: w.alice.ID, Kind: "deprovision"}, false},
		{"another user", store.Task{AppID: w.crm.ID, UserID: "u-other", Kind: "deprovision"}, false},
	}
	for _, tc := range tests {
		got, err := s.CreateTask(ctx, &tc.task)
		must(t, tc.name, err)
		if (got.ID == first.ID) != tc.same {
			t.Errorf("%s: CreateTask = task %d, want the first (%d): %v", tc.name, got.ID, first.ID, tc.same)
		}
		if tc.same && (got.Detail != first.Detail || !sameTime(got.CreatedAt, first.CreatedAt)) {
			t.Errorf("%s: the open task returned %+v, want it as created: %+v", tc.name, got, first)
		}
	}
	tasks, err := s.ListTasks(ctx, store.TaskFilter{AppID: w.crm.ID})
	must(t, "ListTasks", err)
	if len(tasks) != 4 || !slices.IsSortedFunc(tasks, func(a, b *store.Task) int { return int(a.ID - b.ID) }) {
		t.Errorf("ListTasks(crm) = %d tasks, want 4 by id", len(tasks))
	}
	_, err = s.CreateTask(ctx, &store.Task{AppID: 999, UserID: w.alice.ID, Kind: "deprovision"})
	wantErr(t, "CreateTask(unknown app)", err, store.ErrNotFound)
}

func testTaskResolve(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newAppWorld(t, s)
	open, err := s.ListTasks(ctx, store.TaskFilter{AppID: w.crm.ID, State: store.TaskOpen})
	must(t, "ListTasks", err)
	if len(open) != 1 {
		t.Fatalf("crm has %d open tasks, want 1", len(open))
	}
	task := open[0]
	got, err := s.ResolveTask(ctx, task.ID, "admin@example.org", "done in the app's console", at(0))
	must(t, "ResolveTask", err)
	if got.State != store.TaskResolved || got.ResolvedBy != "admin@example.org" || got.Note != "done in the app's console" ||
		!got.ResolvedAt.Equal(at(0)) || got.ID != task.ID || got.UserID != w.bob.ID {
		t.Errorf("ResolveTask = %+v, want task %d resolved by admin at %v with the note", got, task.ID, at(0))
	}
	_, err = s.ResolveTask(ctx, task.ID, "someone", "", at(time.Hour))
	wantErr(t, "ResolveTask(again)", err, store.ErrConflict)
	_, err = s.ResolveTask(ctx, 999, "someone", "", at(time.Hour))
	wantErr(t, "ResolveTask(unknown)", err, store.ErrNotFound)

	tests := []struct {
		name string
		f    store.TaskFilter
		want int
	}{
		{"resolved", store.TaskFilter{State: store.TaskResolved}, 1},
		{"open, all apps", store.TaskFilter{State: store.TaskOpen}, 1},
		{"one app", store.TaskFilter{AppID: w.crm.ID}, 1},
		{"all", store.TaskFilter{}, 2},
	}
	for _, tc := range tests {
		got, err := s.ListTasks(ctx, tc.f)
		must(t, tc.name, err)
		if len(got) != tc.want {
			t.Errorf("%s: ListTasks = %d tasks, want %d", tc.name, len(got), tc.want)
		}
	}
	// Once resolved, the same work can be asked for again.
	again, err := s.CreateTask(ctx, &store.Task{AppID: w.crm.ID, UserID: w.bob.ID, Kind: "deprovision"})
	must(t, "CreateTask(after resolving)", err)
	if again.ID == task.ID || again.State != store.TaskOpen {
		t.Errorf("CreateTask after resolving = %+v, want a new open task", again)
	}
}
