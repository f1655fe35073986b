package runs_test

import (
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/server/runs"
	"github.com/idsync/idsync/server/store"
)

// TestFileRuns: the runs of a csv directory are the hub's, applying a
// file: an agent enrolled for it (to send files) is sent none of them;
// the reaper leaves one running for as long as a file may take, and fails
// it after (its hub died); an admin's import start without a file is
// refused.
func TestFileRuns(t *testing.T) {
	h := newHub(t)
	d := &store.Directory{Name: "hr-csv", Kind: store.KindCSV, Mapping: store.Mapping{Username: "Login"}}
	h.applyPreset(d)
	h.agent("a1", d)
	s := h.connect("a1")
	full := h.createRun(d, store.RunFull)
	part := h.createRun(d, store.RunIncremental)
	if sent := h.claim(s); len(sent) != 0 {
		t.Errorf("the agent of a csv directory was sent %d imports, want none", len(sent))
	}
	h.clock.Set(full.StartedAt.Add(10 * heartbeat))
	h.reap()
	for _, r := range []*store.Run{full, part} {
		if got := h.run(r.ID); got.State != store.RunRunning {
			t.Errorf("run %d (%s) after 10 heartbeats: %s %q, want running (the hub applies the file)", r.ID, r.Kind, got.State, got.Message)
		}
	}
	h.clock.Set(full.StartedAt.Add(runs.FileRunLimit + heartbeat))
	h.reap()
	for _, r := range []*store.Run{full, part} {
		if got := h.run(r.ID); got.State != store.RunFailed || !strings.Contains(got.Message, "nothing was swept") {
			t.Errorf("run %d (%s) past the limit: %s %q, want failed, nothing swept", r.ID, r.Kind, got.State, got.Message)
		}
	}
	// A schedule set on it (an update can set one) starts nothing: no
	// agent would read it, and the run would hold the files back.
	d.FullImportInterval = time.Minute
	if err := h.st.UpdateDirectory(h.ctx, d); err != nil {
		t.Fatal(err)
	}
	h.clock.Set(h.clock.Now().Add(24 * time.Hour))
	h.connect("a1") // online now
	h.schedule()
	if n := len(h.runsOf(d)); n != 2 {
		t.Errorf("after the scheduler: %d runs, want the 2 of the files", n)
	}
	if _, _, err := h.c.Start(h.ctx, d, store.RunFull, "admin:test"); err == nil ||
		!strings.Contains(err.Error(), "is a csv directory: import a file into it") {
		t.Errorf("Start of a csv directory: %v, want refused, naming --file", err)
	}
}
