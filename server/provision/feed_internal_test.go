package provision

import (
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// TestFeedPushesChangedGroups: a change of a group an app pushes queues
// that group's push at once, beside the scope job (not after it): a group
// rule's move reaches the app one job sooner. A group the app does not
// push queues none.
func TestFeedPushesChangedGroups(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d := &store.Directory{Name: "corp", Kind: store.KindOpenLDAP, BaseDN: "dc=corp", SafeguardPercent: 20, SafeguardMax: 500}
	if err := st.CreateDirectory(ctx, d); err != nil {
		t.Fatal(err)
	}
	run := &store.Run{DirectoryID: d.ID, Kind: store.RunIncremental, Trigger: "test"}
	if err := st.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	group := func(name string, members ...string) *store.Object {
		o := &store.Object{Kind: store.ObjectGroup, ExternalID: name, DN: "cn=" + name + ",dc=corp", DNKey: "cn=" + name + ",dc=corp",
			Status: store.StatusActive, Name: name, Hash: name + strings.Join(members, "|"), MembersComplete: true}
		for _, m := range members {
			o.Members = append(o.Members, store.MemberRef{Value: m, Key: "dn:" + m})
		}
		return o
	}
	u := &store.Object{Kind: store.ObjectUser, ExternalID: "ann", DN: "uid=ann,dc=corp", DNKey: "uid=ann,dc=corp",
		Status: store.StatusActive, Hash: "ann", Profile: store.Profile{Username: "ann"}}
	seq := uint64(0)
	apply := func(objs ...*store.Object) {
		seq++
		if _, err := st.ApplyBatch(ctx, &store.Batch{RunID: run.ID, DirectoryID: d.ID, Sequence: seq, Upserts: objs}); err != nil {
			t.Fatal(err)
		}
	}
	apply(u, group("pushed"), group("other"))
	e := New(st, nil, slog.New(slog.DiscardHandler), Options{})
	if err := e.drainFeed(ctx); err != nil { // no app yet: the cursor moves past the creates
		t.Fatal(err)
	}
	a := &store.App{Name: "app", SCIMURL: "https://app.example/scim", AuthKind: "bearer", PushGroups: true, Status: store.AppActive}
	if err := st.CreateApp(ctx, a); err != nil {
		t.Fatal(err)
	}
	gs, err := st.FindGroups(ctx, d.ID, "pushed")
	if err != nil || len(gs) != 1 {
		t.Fatal(gs, err)
	}
	pushed := gs[0]
	if err := st.Assign(ctx, store.Assignment{AppID: a.ID, Kind: store.AssignGroup, TargetID: pushed.ID}); err != nil {
		t.Fatal(err)
	}
	jobs := func() []string {
		js, err := st.ListJobs(ctx, store.JobFilter{AppID: a.ID, States: []store.JobState{store.JobQueued}, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, j := range js {
			out = append(out, string(j.Kind)+" "+j.Target)
		}
		slices.Sort(out)
		return out
	}
	apply(group("pushed", "uid=ann,dc=corp"), group("other", "uid=ann,dc=corp"))
	if err := e.drainFeed(ctx); err != nil {
		t.Fatal(err)
	}
	got := jobs()
	if !slices.Contains(got, "group "+pushed.ID) {
		t.Errorf("jobs %v, want the push of group pushed queued by the change", got)
	}
	for _, j := range got {
		if j != "group "+pushed.ID && j != "reconcile scope" {
			t.Errorf("job %q queued: only the changed pushed group and the scope are", j)
		}
	}
}
