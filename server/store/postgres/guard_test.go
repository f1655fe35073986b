package postgres_test

import (
	"testing"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/server/store"
)

// TestFullRunGuardHoldsAgainstCapture: a capture write that commits after
// a full run's batch read an object, but before the batch writes it, still
// wins: the guard stands in the upsert, which PostgreSQL re-checks on the
// row version it waited for. A raw transaction plays capture and holds the
// row until the batch waits for it.
func TestFullRunGuardHoldsAgainstCapture(t *testing.T) {
	ctx := t.Context()
	s, capture := openRaw(t)
	d := &store.Directory{Name: "corp", Kind: store.KindOpenLDAP}
	if err := s.CreateDirectory(ctx, d); err != nil {
		t.Fatalf("CreateDirectory: %v", err)
	}
	user := func(title string) *store.Object {
		return &store.Object{Kind: store.ObjectUser, ExternalID: "u1", DN: "uid=alice", DNKey: "uid=alice",
			Hash: title, Profile: store.Profile{Username: "alice", Title: title}}
	}
	first := &store.Run{DirectoryID: d.ID, Kind: store.RunFull}
	if err := s.CreateRun(ctx, first); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}
	if _, err := s.ApplyBatch(ctx, &store.Batch{RunID: first.ID, Sequence: 1, Upserts: []*store.Object{user("Old")}}); err != nil {
		t.Fatalf("ApplyBatch(first run): %v", err)
	}
	if _, err := s.TransitionRun(ctx, first.ID, []store.RunState{store.RunRunning},
		store.RunUpdate{State: store.RunCompleted, Finished: true}); err != nil {
		t.Fatalf("TransitionRun: %v", err)
	}
	full := &store.Run{DirectoryID: d.ID, Kind: store.RunFull}
	if err := s.CreateRun(ctx, full); err != nil {
		t.Fatalf("CreateRun: %v", err)
	}

	tx, err := capture.Begin(ctx)
	if err != nil {
		t.Fatalf("BEGIN: %v", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	if _, err := tx.Exec(ctx, `UPDATE objects SET title = 'Captured', hash = 'Captured', captured_at = clock_timestamp(),
		revision = revision + 1 WHERE external_id = 'u1'`); err != nil {
		t.Fatalf("capturing: %v", err)
	}

	type result struct {
		res store.BatchResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := s.ApplyBatch(ctx, &store.Batch{RunID: full.ID, Sequence: 1, Upserts: []*store.Object{user("Snapshot")}})
		done <- result{res, err}
	}()
	// The batch has read alice (as she was) once it waits for her row.
	eventually.That(t, "the full run's batch to wait for the captured row", func() (bool, string) {
		var waiting bool
		if err := capture.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&waiting); err != nil {
			t.Fatalf("watching for the batch to wait: %v", err)
		}
		return waiting, "no session of the database waits for a lock"
	})
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("COMMIT: %v", err)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("ApplyBatch(full run): %v", r.err)
	}
	if r.res != (store.BatchResult{Unchanged: 1}) {
		t.Errorf("full run batch = %+v, want Unchanged 1 (capture committed first)", r.res)
	}
	us, err := s.FindUsers(ctx, d.ID, "alice")
	if err != nil || len(us) != 1 {
		t.Fatalf("FindUsers = %d, %v", len(us), err)
	}
	if us[0].Title != "Captured" || us[0].Revision != 2 {
		t.Errorf("alice has title %q, revision %d; want capture's, 2", us[0].Title, us[0].Revision)
	}
}
