package rules

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
)

// changesCounter is a real store that counts its reads of the feed.
type changesCounter struct {
	Store
	reads int
}

func (c *changesCounter) Changes(ctx context.Context, after int64, limit int) ([]store.ObjectChange, int64, error) {
	c.reads++
	return c.Store.Changes(ctx, after, limit)
}

// TestDrainWithoutRulesSkipsTheChanges: with no rule, the feed's cursor
// moves to the newest position without a read of the changes (a first
// import's every create otherwise).
func TestDrainWithoutRulesSkipsTheChanges(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d := &store.Directory{Name: "corp", Kind: store.KindOpenLDAP, BaseDN: "dc=corp"}
	if err := st.CreateDirectory(ctx, d); err != nil {
		t.Fatal(err)
	}
	run := &store.Run{DirectoryID: d.ID, Kind: store.RunIncremental, Trigger: "test"}
	if err := st.CreateRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	c := &changesCounter{Store: st}
	e := New(Config{Store: c})
	for i, n := range []string{"ann", "bob"} {
		// The first drain starts the cursor at the newest position; the
		// second has a change after it to pass.
		u := &store.Object{Kind: store.ObjectUser, ExternalID: n, DN: "uid=" + n + ",dc=corp", DNKey: "uid=" + n + ",dc=corp",
			Status: store.StatusActive, Hash: n, Profile: store.Profile{Username: n}}
		if _, err := st.ApplyBatch(ctx, &store.Batch{RunID: run.ID, DirectoryID: d.ID, Sequence: uint64(i + 1), Upserts: []*store.Object{u}}); err != nil {
			t.Fatal(err)
		}
		if err := e.drain(ctx); err != nil {
			t.Fatal(err)
		}
		head, err := st.FeedPosition(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pos, err := st.Cursor(ctx, cursorName); err != nil || pos != head || head == 0 {
			t.Fatalf("cursor %d (%v) after drain %d with no rule, want the newest position %d", pos, err, i+1, head)
		}
	}
	if c.reads != 0 {
		t.Errorf("the drains with no rule read the feed %d times, want none", c.reads)
	}
}
