package provision

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// feedStore opens a store with directory corp and a capture run of it.
func feedStore(t *testing.T) (*sqlite.Store, *store.Directory, *store.Run) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d := &store.Directory{Name: "corp", Kind: store.KindOpenLDAP, BaseDN: "dc=corp", SafeguardPercent: 20, SafeguardMax: 500}
	if err := st.CreateDirectory(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	run := &store.Run{DirectoryID: d.ID, Kind: store.RunIncremental, Trigger: "test"}
	if err := st.CreateRun(t.Context(), run); err != nil {
		t.Fatal(err)
	}
	return st, d, run
}

// TestFeedPushesChangedGroups: a change of a group an app pushes queues
// that group's push at once, beside the scope job (not after it): a group
// rule's move reaches the app one job sooner. A group the app does not
// push queues none.
func TestFeedPushesChangedGroups(t *testing.T) {
	ctx := t.Context()
	st, d, run := feedStore(t)
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

// changesCounter is a real store that counts its reads of the feed.
type changesCounter struct {
	Store
	reads int
}

func (c *changesCounter) Changes(ctx context.Context, after int64, limit int) ([]store.ObjectChange, int64, error) {
	c.reads++
	return c.Store.Changes(ctx, after, limit)
}

// TestFeedWithoutAppsSkipsTheChanges: with no app, the feed's cursor moves
// to the newest position without a read of the changes (a first import's
// every create otherwise); once an app exists the changes are read again.
func TestFeedWithoutAppsSkipsTheChanges(t *testing.T) {
	ctx := t.Context()
	st, d, run := feedStore(t)
	seq := uint64(0)
	apply := func(names ...string) {
		var objs []*store.Object
		for _, n := range names {
			objs = append(objs, &store.Object{Kind: store.ObjectUser, ExternalID: n, DN: "uid=" + n + ",dc=corp",
				DNKey: "uid=" + n + ",dc=corp", Status: store.StatusActive, Hash: n + fmt.Sprint(seq), Profile: store.Profile{Username: n}})
		}
		seq++
		if _, err := st.ApplyBatch(ctx, &store.Batch{RunID: run.ID, DirectoryID: d.ID, Sequence: seq, Upserts: objs}); err != nil {
			t.Fatal(err)
		}
	}
	apply("ann", "bob")
	c := &changesCounter{Store: st}
	e := New(c, nil, slog.New(slog.DiscardHandler), Options{})
	if err := e.drainFeed(ctx); err != nil {
		t.Fatal(err)
	}
	head, err := st.FeedPosition(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pos, err := st.Cursor(ctx, feedCursor); err != nil || pos != head || head == 0 {
		t.Fatalf("cursor %d (%v) after the drain with no app, want the newest position %d", pos, err, head)
	}
	if c.reads != 0 {
		t.Errorf("the drain with no app read the feed %d times, want none", c.reads)
	}

	a := &store.App{Name: "app", SCIMURL: "https://app.example/scim", AuthKind: "bearer", Status: store.AppActive}
	if err := st.CreateApp(ctx, a); err != nil {
		t.Fatal(err)
	}
	us, err := st.FindUsers(ctx, d.ID, "ann")
	if err != nil || len(us) != 1 {
		t.Fatal(us, err)
	}
	u := us[0]
	if err := st.Assign(ctx, store.Assignment{AppID: a.ID, Kind: store.AssignUser, TargetID: u.ID}); err != nil {
		t.Fatal(err)
	}
	apply("ann")
	if err := e.drainFeed(ctx); err != nil {
		t.Fatal(err)
	}
	if c.reads == 0 {
		t.Error("the drain with an app read no change")
	}
	js, err := st.ListJobs(ctx, store.JobFilter{AppID: a.ID, States: []store.JobState{store.JobQueued}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(js, func(j *store.Job) bool { return j.Kind == store.JobUser && j.Target == u.ID }) {
		t.Errorf("queued jobs %v: want ann's push, queued by her change after the app's assignment", js)
	}
}
