package reports_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/server/agents"
	"github.com/idsync/idsync/server/auth"
	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/reports"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// TestReports computes reports over a SQLite store: a directory with two
// users, two apps with a task each, an agent online and one revoked.
func TestReports(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d := &store.Directory{Name: "corp", Kind: store.KindOpenLDAP, BaseDN: "dc=example,dc=org"}
	if err := st.CreateDirectory(ctx, d); err != nil {
		t.Fatal(err)
	}
	run := &store.Run{DirectoryID: d.ID, Kind: store.RunIncremental, Trigger: "test"}
	if err := st.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	var objs []*store.Object
	for _, name := range []string{"ann", "bob"} {
		dn := "uid=" + name + ",dc=example,dc=org"
		objs = append(objs, &store.Object{Kind: store.ObjectUser, ExternalID: name, DN: dn, DNKey: dn, Hash: name,
			Status: store.StatusActive, Profile: store.Profile{Username: name}})
	}
	if _, err := st.ApplyBatch(ctx, &store.Batch{RunID: run.ID, DirectoryID: d.ID, Sequence: 1, Upserts: objs}); err != nil {
		t.Fatal(err)
	}
	users, err := st.FindUsers(ctx, d.ID, "ann")
	if err != nil || len(users) != 1 {
		t.Fatalf("FindUsers ann: %v, %v", users, err)
	}
	apps := map[string]*store.App{}
	for _, name := range []string{"crm", "wiki"} {
		a := &store.App{Name: name, SCIMURL: "https://" + name + ".example.org/scim/v2", Status: store.AppActive}
		if err := st.CreateApp(ctx, a); err != nil {
			t.Fatal(err)
		}
		apps[name] = a
		if _, err := st.CreateTask(ctx, &store.Task{AppID: a.ID, UserID: users[0].ID, Kind: "deprovision", Detail: "by hand"}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	for _, id := range []string{"a1", "a2"} {
		if err := st.CreateAgent(ctx, &store.Agent{ID: id, Name: id, Directories: []string{"corp"}, EnrolledAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := st.AgentConnected(ctx, id, "session-"+id, "dev", nil, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.RevokeAgent(ctx, "a2", now); err != nil {
		t.Fatal(err)
	}
	s := reports.New(reports.Config{Store: st, Agents: agents.New(agents.Config{Store: st})})
	every := func(int64) bool { return true }
	compute := func(t *testing.T, name string, visible func(int64) bool) *reports.Table {
		t.Helper()
		tab, err := s.Compute(ctx, name, caller{visible, nil}, now)
		if err != nil {
			t.Fatalf("Compute %s: %v", name, err)
		}
		return tab
	}
	column := func(tab *reports.Table, col string) []string {
		i := slices.Index(tab.Columns, col)
		var out []string
		for _, r := range tab.Rows {
			out = append(out, r[i])
		}
		return out
	}

	t.Run("users per status", func(t *testing.T) {
		tab := compute(t, "users", every)
		if got, want := tab.Rows, [][]string{{"corp", "2", "0", "0", "2"}}; !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("rows %v, want %v", got, want)
		}
	})
	t.Run("pending deprovisions of every app", func(t *testing.T) {
		tab := compute(t, "pending-deprovisions", every)
		if got := column(tab, "app"); !slices.Equal(got, []string{"crm", "wiki"}) {
			t.Errorf("apps %v, want crm and wiki", got)
		}
		if got := column(tab, "user"); !slices.Equal(got, []string{"ann", "ann"}) {
			t.Errorf("users %v, want ann twice", got)
		}
	})
	t.Run("an admin of one app sees its rows alone", func(t *testing.T) {
		crm := func(id int64) bool { return id == apps["crm"].ID }
		for _, name := range []string{"pending-deprovisions", "app-usage"} {
			if got := column(compute(t, name, crm), "app"); !slices.Equal(got, []string{"crm"}) {
				t.Errorf("%s: apps %v, want crm alone", name, got)
			}
		}
	})
	t.Run("agents' states", func(t *testing.T) {
		tab := compute(t, "agents", every)
		if got := column(tab, "state"); !slices.Equal(got, []string{"standby", "revoked"}) {
			t.Errorf("states %v of %v, want standby and revoked", got, column(tab, "agent"))
		}
	})
	t.Run("a report needs the permission of what it shows", func(t *testing.T) {
		appAdmin := caller{every, []auth.Permission{auth.PermUsersRead, auth.PermAppsRead, auth.PermPushesRead}}
		for _, name := range []string{"imports", "agents"} {
			_, err := s.Compute(ctx, name, appAdmin, now)
			if r, ok := refusal.As(err); !ok || r.Kind != refusal.Denied || !strings.Contains(r.Msg, name+".read") {
				t.Errorf("report %s without %s.read: %v, want a denial naming it", name, name, err)
			}
		}
		if _, err := s.Compute(ctx, "failed-pushes", appAdmin, now); err != nil {
			t.Errorf("report failed-pushes with pushes.read: %v", err)
		}
	})
	t.Run("an unknown report is refused, naming the reports", func(t *testing.T) {
		_, err := s.Compute(ctx, "colours", caller{every, nil}, now)
		if r, ok := refusal.As(err); !ok || r.Kind != refusal.Invalid || !strings.Contains(r.Msg, strings.Join(reports.Names, ", ")) {
			t.Errorf("got %v, want an invalid refusal naming %v", err, reports.Names)
		}
	})
}

// caller is an admin asking for reports: the apps it sees, and its
// permissions (nil: every one).
type caller struct {
	app   func(int64) bool
	perms []auth.Permission
}

func (c caller) App(id int64) bool { return c.app(id) }

func (c caller) Has(p auth.Permission) bool { return c.perms == nil || slices.Contains(c.perms, p) }
