package runs_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
	"github.com/idsync/idsync/server/ingest"
	"github.com/idsync/idsync/server/runs"
	"github.com/idsync/idsync/server/store"
)

const (
	full        = idsyncv1.ImportKind_IMPORT_KIND_FULL
	incremental = idsyncv1.ImportKind_IMPORT_KIND_INCREMENTAL
)

// TestTransitions drives each transition of a run's life through the
// coordinator, over a real SQLite store and engine, with an injected
// clock: one subtest per transition, the crash points included.
func TestTransitions(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, h *hub)
	}{
		// The capture lease.
		{"capture lease taken by the first session", func(t *testing.T, h *hub) {
			d := h.directory("corp")
			h.checkpoint(d, "cp-1")
			h.agent("a1", d)
			s1 := h.connect("a1")
			si := only(t, h.claim(s1), incremental)
			if got := string(si.GetSource().GetCheckpoint()); got != "cp-1" {
				t.Errorf("capture starts from checkpoint %q, want the stored cp-1", got)
			}
			r := h.wantState(runID(t, si), store.RunRunning)
			if r.Kind != store.RunIncremental || r.SessionID != s1.id || r.AgentID != "a1" {
				t.Errorf("capture run %+v, want an incremental run held by %s of a1", r, s1.id)
			}
			if got := h.claim(s1); len(got) != 0 {
				t.Errorf("the holder looking again was sent %v, want nothing (the lease is its own)", got)
			}
		}},
		{"second session stands by", func(t *testing.T, h *hub) {
			_, s, held := h.leased("a1", "a2")
			h.clock.Advance(3*heartbeat - time.Millisecond)
			if got := h.claim(s[1]); len(got) != 0 {
				t.Errorf("the standby was sent %v while the holder is alive, want nothing", got)
			}
			h.wantState(held.ID, store.RunRunning)
		}},
		{"holder silent past three heartbeats: standby takes over from the checkpoint", func(t *testing.T, h *hub) {
			_, s, old := h.leased("a1", "a2")
			b := batch(old, 1, "ann")
			b.Checkpoint = []byte("cp-2")
			h.mustCommit(s[0], b)
			h.clock.Advance(3*heartbeat + time.Millisecond)
			h.seen(s[1])
			si := only(t, h.claim(s[1]), incremental)
			if got := string(si.GetSource().GetCheckpoint()); got != "cp-2" {
				t.Errorf("the standby resumes from %q, want the holder's last committed cp-2", got)
			}
			if r := h.wantState(old.ID, store.RunCompleted); !strings.Contains(r.Message, "capture moved") {
				t.Errorf("the silent holder's run ended with %q, want it to say capture moved", r.Message)
			}
			if r := h.run(runID(t, si)); r.SessionID != s[1].id {
				t.Errorf("the new capture run is held by %q, want %s", r.SessionID, s[1].id)
			}
		}},
		{"second agent taking over: the silent holder's late batch is refused", func(t *testing.T, h *hub) {
			d, s, old := h.leased("a1", "a2")
			h.clock.Advance(4 * heartbeat)
			h.seen(s[1])
			only(t, h.claim(s[1]), incremental)
			late := batch(old, 1, "ann")
			late.Checkpoint = []byte("cp-stale")
			if _, _, err := h.commit(s[0], late); !errors.Is(err, ingest.ErrRunEnded) {
				t.Fatalf("the old holder's batch after the takeover: %v, want ErrRunEnded", err)
			}
			if got := h.storedCheckpoint(d); got != "cp-1" {
				t.Errorf("checkpoint %q after the refused batch, want cp-1 untouched", got)
			}
			h.wantActive(d)
		}},
		{"agent reconnects: its new stream takes capture over at once", func(t *testing.T, h *hub) {
			_, _, old := h.leased("a1")
			again := h.connect("a1") // the old stream has not timed out yet
			only(t, h.claim(again), incremental)
			h.wantState(old.ID, store.RunCompleted)
		}},
		{"two standbys race for a silent holder's lease: one wins", func(t *testing.T, h *hub) {
			d, s, _ := h.leased("a1", "a2", "a3")
			h.clock.Advance(4 * heartbeat)
			h.seen(s[1])
			h.seen(s[2])
			race(t, func() error { return h.c.Claim(h.ctx, s[1]) }, func() error { return h.c.Claim(h.ctx, s[2]) })
			if n := len(s[1].sent()) + len(s[2].sent()); n != 1 {
				t.Fatalf("the standbys were sent %d captures, want 1", n)
			}
			if open := h.openRuns(d, store.RunIncremental); len(open) != 1 {
				t.Errorf("%d open capture runs, want 1", len(open))
			}
		}},
		{"capture run started by an admin is claimed", func(t *testing.T, h *hub) {
			d := h.directory("corp")
			h.checkpoint(d, "cp-1")
			h.agent("a1", d)
			r := h.createRun(d, store.RunIncremental)
			s1 := h.connect("a1")
			if got := runID(t, only(t, h.claim(s1), incremental)); got != r.ID {
				t.Errorf("the session started capture run %d, want the admin's %d", got, r.ID)
			}
		}},
		{"no checkpoint: capture waits for the first full import", func(t *testing.T, h *hub) {
			d := h.directory("corp")
			h.agent("a1", d)
			if got := h.claim(h.connect("a1")); len(got) != 0 {
				t.Errorf("sent %v with no checkpoint, want nothing", got)
			}
		}},
		{"capture off: full imports only", func(t *testing.T, h *hub) {
			d := h.directory("corp", captureOff)
			h.checkpoint(d, "cp-1")
			h.agent("a1", d)
			s1 := h.connect("a1")
			if got := h.claim(s1); len(got) != 0 {
				t.Errorf("sent %v with capture off, want nothing", got)
			}
			h.createRun(d, store.RunFull)
			if si := only(t, h.claim(s1), full); si.GetTakeCheckpoint() {
				t.Error("a full import asked for a capture checkpoint with capture off")
			}
		}},
		{"agent lacking a capability is sent no such work", func(t *testing.T, h *hub) {
			d := h.directory("corp")
			h.agent("a1", d)
			h.agent("a2", d)
			h.createRun(d, store.RunFull)
			if got := h.claim(h.connect("a1", idsyncv1.CapabilityCapture)); len(got) != 0 {
				t.Errorf("an agent that cannot run full imports was sent %v, want nothing", got)
			}
			if si := only(t, h.claim(h.connect("a2", idsyncv1.CapabilityFullImport)), full); si.GetTakeCheckpoint() {
				t.Error("an agent that cannot capture was asked for a capture checkpoint")
			}
		}},
		{"capture error backs off (per directory, resets on success)", func(t *testing.T, h *hub) {
			corp, lab := h.directory("corp"), h.directory("lab")
			h.checkpoint(corp, "cp-1")
			h.checkpoint(lab, "cp-1")
			h.agent("a1", corp, lab)
			s1 := h.connect("a1")
			if got := h.claim(s1); len(got) != 2 {
				t.Fatalf("sent %v, want a capture of each directory", got)
			}
			capture := func(d *store.Directory) *store.Run {
				open := h.openRuns(d, store.RunIncremental)
				if len(open) != 1 {
					t.Fatalf("%d open captures of %s, want 1", len(open), d.Name)
				}
				return open[0]
			}
			fail := func() {
				h.c.Failed(h.ctx, s1, capture(corp).ID, "LDAP server down")
			}
			// A failure of corp's capture holds corp back, not lab.
			fail()
			if _, err := h.eng.EndCapture(h.ctx, capture(lab).ID, "moved"); err != nil {
				t.Fatal(err)
			}
			if si := only(t, h.claim(s1), incremental); si.GetSource().GetDirectory() != "lab" {
				t.Fatalf("sent a capture of %s, want lab's alone", si.GetSource().GetDirectory())
			}
			h.clock.Advance(2 * time.Second)
			only(t, h.claim(s1), incremental)
			// Further failures back corp off longer: 4 s, 8 s, 16 s at
			// most (jittered, never under half of that).
			for i, most := range []time.Duration{4 * time.Second, 8 * time.Second, 16 * time.Second} {
				fail()
				if got := h.claim(s1); len(got) != 0 {
					t.Fatalf("failure %d: sent %v at once, want a backoff", i+1, got)
				}
				h.clock.Advance(most/2 - time.Millisecond)
				if got := h.claim(s1); len(got) != 0 {
					t.Fatalf("failure %d: sent %v before half the wait, want a backoff", i+1, got)
				}
				h.clock.Advance(most/2 + time.Millisecond)
				only(t, h.claim(s1), incremental)
			}
			// A batch applied resets it: 2 s at most again.
			h.mustCommit(s1, batch(capture(corp), 1, "ann"))
			fail()
			h.clock.Advance(2 * time.Second)
			only(t, h.claim(s1), incremental)
		}},
		{"safeguard trips on a capture refresh: capture pauses and the agent is told", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent()
			h.imported(d, s1, "ann", "bob", "cy", "dee")
			h.checkpoint(d, "cp-1")
			r := h.run(runID(t, only(t, h.claim(s1), incremental)))
			b := batch(r, 1, "ann")
			b.RefreshDone, b.PresentPhase = true, true
			h.mustCommit(s1, b)
			h.wantState(r.ID, store.RunPausedBySafeguard)
			if !slices.Equal(s1.cancelled, []int64{r.ID}) {
				t.Errorf("cancelled %v on the agent, want the paused capture %d", s1.cancelled, r.ID)
			}
			h.wantActive(d, "ann", "bob", "cy", "dee")
			h.clock.Advance(10 * heartbeat)
			h.agent("a2", d)
			s2 := h.connect("a2")
			if got := h.claim(s2); len(got) != 0 {
				t.Errorf("a paused capture's lease was taken over: %v; an admin decides", got)
			}
			// The admin confirms: the sweep runs, and capture starts again.
			if done, err := h.eng.Confirm(h.ctx, r.ID); err != nil || done.State != store.RunCompleted {
				t.Fatalf("Confirm: %v, %v; want completed", done, err)
			}
			h.wantActive(d, "ann")
			only(t, h.claim(s2), incremental)
		}},
		{"capture refresh within the safeguard sweeps and goes on", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent()
			h.imported(d, s1, "ann", "bob", "cy", "dee")
			h.checkpoint(d, "cp-1")
			r := h.run(runID(t, only(t, h.claim(s1), incremental)))
			b := batch(r, 1, "ann", "bob", "cy")
			b.RefreshDone, b.PresentPhase, b.Strategy = true, true, "syncrepl"
			h.mustCommit(s1, b)
			if got := h.wantState(r.ID, store.RunRunning); got.Strategy != "syncrepl" {
				t.Errorf("capture strategy %q, want syncrepl recorded", got.Strategy)
			}
			h.wantActive(d, "ann", "bob", "cy")
		}},

		// Full runs.
		{"full run claimed once by two sessions racing", func(t *testing.T, h *hub) {
			d := h.directory("corp", captureOff)
			h.agent("a1", d)
			h.agent("a2", d)
			r := h.createRun(d, store.RunFull)
			s1, s2 := h.connect("a1"), h.connect("a2")
			race(t, func() error { return h.c.Claim(h.ctx, s1) }, func() error { return h.c.Claim(h.ctx, s2) })
			got1, got2 := s1.sent(), s2.sent()
			if len(got1)+len(got2) != 1 {
				t.Fatalf("sent %v and %v, want the full run to one session", got1, got2)
			}
			winner := s1
			if len(got2) == 1 {
				winner = s2
			}
			if got := h.run(r.ID); got.SessionID != winner.id {
				t.Errorf("run claimed by %q, want %s, which was sent it", got.SessionID, winner.id)
			}
		}},
		{"read complete: sweep, then the checkpoint is stored and capture starts", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent()
			r := h.createRun(d, store.RunFull)
			if si := only(t, h.claim(s1), full); !si.GetTakeCheckpoint() {
				t.Error("the first full import did not ask for a capture checkpoint")
			}
			h.mustCommit(s1, batch(r, 1, "ann", "bob"))
			last := batch(r, 2, "cy")
			last.Last, last.Checkpoint = true, []byte("cp-snapshot")
			_, held := h.mustCommit(s1, last)
			if got := h.storedCheckpoint(d); got != "" {
				t.Fatalf("checkpoint %q stored before the full run completed, want none", got)
			}
			done, err := h.c.ReadComplete(h.ctx, r.ID, held)
			if err != nil || done.State != store.RunCompleted {
				t.Fatalf("ReadComplete: %v, %v; want completed", done, err)
			}
			if got := h.storedCheckpoint(d); got != "cp-snapshot" {
				t.Errorf("checkpoint %q after completion, want cp-snapshot", got)
			}
			if _, all := h.wake.counts(); all != 1 {
				t.Errorf("woke all sessions %d times, want once: capture can start", all)
			}
			si := only(t, h.claim(s1), incremental)
			if got := string(si.GetSource().GetCheckpoint()); got != "cp-snapshot" {
				t.Errorf("capture starts from %q, want cp-snapshot", got)
			}
			// A later full import sweeps what it did not see.
			h.wantActive(d, "ann", "bob", "cy")
			again := h.createRun(d, store.RunFull)
			if si := only(t, h.claim(s1), full); si.GetTakeCheckpoint() {
				t.Error("a full import asked for a checkpoint the directory has")
			}
			if done := h.readAll(s1, again, "cp-new", "ann", "bob"); done.State != store.RunCompleted || done.Deprovisioned != 1 {
				t.Errorf("second full import: %s, %d deprovisioned; want completed, 1", done.State, done.Deprovisioned)
			}
			h.wantActive(d, "ann", "bob")
			if got := h.storedCheckpoint(d); got != "cp-snapshot" {
				t.Errorf("checkpoint %q, want capture's own kept (cp-snapshot)", got)
			}
		}},
		{"batch committed, ack lost, redelivered: no double apply", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent(captureOff)
			r := h.fullRun(d, s1)
			b := batch(r, 1, "ann", "bob")
			if res, _ := h.mustCommit(s1, b); res.Duplicate || res.Created != 2 {
				t.Fatalf("first delivery: %+v, want 2 created", res)
			}
			if res, _ := h.mustCommit(s1, b); !res.Duplicate {
				t.Fatalf("redelivery: %+v, want a duplicate", res)
			}
			if got := h.run(r.ID); got.Seen != 2 || got.Created != 2 {
				t.Errorf("run counts seen %d, created %d after a redelivery, want 2 and 2", got.Seen, got.Created)
			}
		}},
		{"last batch redelivered after the run completed: no second sweep", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent(captureOff)
			h.imported(d, s1, "ann", "bob", "cy")
			r := h.fullRun(d, s1)
			h.readAll(s1, r, "", "ann", "bob")
			last := batch(r, 1, "ann", "bob")
			last.Last = true
			if res, _ := h.mustCommit(s1, last); !res.Duplicate {
				t.Fatalf("redelivered last batch: %+v, want a duplicate", res)
			}
			if _, err := h.c.ReadComplete(h.ctx, r.ID, nil); !errors.Is(err, ingest.ErrRunEnded) {
				t.Errorf("ReadComplete again: %v, want ErrRunEnded", err)
			}
			if got := h.run(r.ID); got.Deprovisioned != 1 {
				t.Errorf("deprovisioned %d, want 1", got.Deprovisioned)
			}
		}},
		{"read complete, hub dies before sweep: run failed on restart, nothing swept", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent()
			h.imported(d, s1, "ann", "bob", "cy")
			r := h.fullRun(d, s1)
			last := batch(r, 1, "ann", "bob")
			last.Last, last.Checkpoint = true, []byte("cp-lost")
			h.mustCommit(s1, last) // committed and acknowledged; the hub dies here
			h.restart()
			h.connect("a1") // the agent reconnects to the hub that came back
			h.reap()
			h.wantState(r.ID, store.RunFailed)
			h.wantActive(d, "ann", "bob", "cy")
			if got := h.storedCheckpoint(d); got != "" {
				t.Errorf("checkpoint %q stored from a run that never completed, want none", got)
			}
		}},
		{"safeguard trip pauses", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent(captureOff)
			h.imported(d, s1, "ann", "bob", "cy", "dee")
			r := h.fullRun(d, s1)
			if done := h.readAll(s1, r, "", "ann"); done.State != store.RunPausedBySafeguard || done.PendingDeprovision != 3 {
				t.Fatalf("run %s with %d pending, want paused with 3", done.State, done.PendingDeprovision)
			}
			h.wantActive(d, "ann", "bob", "cy", "dee")
		}},
		{"confirm resumes the sweep", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent()
			h.imported(d, s1, "ann", "bob", "cy", "dee")
			r := h.fullRun(d, s1)
			b := batch(r, 1, "ann")
			b.Last, b.Checkpoint = true, []byte("cp-paused")
			_, held := h.mustCommit(s1, b)
			if done, err := h.c.ReadComplete(h.ctx, r.ID, held); err != nil || done.State != store.RunPausedBySafeguard {
				t.Fatalf("ReadComplete: %v, %v; want paused", done, err)
			}
			if got := h.storedCheckpoint(d); got != "cp-paused" {
				t.Errorf("checkpoint %q, want the paused run's (capture goes on while an admin decides)", got)
			}
			if done, err := h.eng.Confirm(h.ctx, r.ID); err != nil || done.State != store.RunCompleted || done.Deprovisioned != 3 {
				t.Fatalf("Confirm: %v, %v; want completed with 3 deprovisioned", done, err)
			}
			h.wantActive(d, "ann")
		}},
		{"confirm never sweeps after a run that is not a full import", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent(captureOff)
			h.imported(d, s1, "ann", "bob")
			// A group rule's change paused by the safeguard: a sweep after
			// it would deprovision everyone, for it read nobody.
			r := h.createRun(d, store.RunRule)
			if _, err := h.st.TransitionRun(h.ctx, r.ID, []store.RunState{store.RunRunning},
				store.RunUpdate{State: store.RunPausedBySafeguard, PendingDeprovision: 2}); err != nil {
				t.Fatal(err)
			}
			_, err := h.eng.Confirm(h.ctx, r.ID)
			if !errors.Is(err, ingest.ErrNoSweep) {
				t.Fatalf("Confirm of a rule's run: %v, want ErrNoSweep", err)
			}
			h.wantState(r.ID, store.RunPausedBySafeguard)
			h.wantActive(d, "ann", "bob")
		}},
		{"agent disconnects mid full run: failed, no sweep", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent()
			h.imported(d, s1, "ann", "bob", "cy")
			h.checkpoint(d, "cp-1")
			capture := runID(t, only(t, h.claim(s1), incremental))
			r := h.fullRun(d, s1)
			h.mustCommit(s1, batch(r, 1, "ann"))
			h.c.Ended(h.ctx, s1, "a1")
			if got := h.wantState(r.ID, store.RunFailed); !strings.Contains(got.Message, "agent a1 disconnected") {
				t.Errorf("failed with %q, want it to name the agent", got.Message)
			}
			h.wantState(capture, store.RunCompleted) // stopped, not failed
			h.wantActive(d, "ann", "bob", "cy")
		}},
		{"agent reports a failed full run: failed, no sweep", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent(captureOff)
			h.imported(d, s1, "ann", "bob")
			r := h.fullRun(d, s1)
			h.mustCommit(s1, batch(r, 1, "ann"))
			h.c.Failed(h.ctx, s1, r.ID, "size limit exceeded")
			if got := h.wantState(r.ID, store.RunFailed); got.Message != "size limit exceeded" {
				t.Errorf("failed with %q, want the agent's error", got.Message)
			}
			h.wantActive(d, "ann", "bob")
			h.createRun(d, store.RunFull) // the next run starts afresh
			only(t, h.claim(s1), full)
		}},
		{"batch the hub could not store fails the run", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent(captureOff)
			r := h.fullRun(d, s1)
			h.c.BatchFailed(h.ctx, r.ID, errors.New("disk full"))
			if got := h.wantState(r.ID, store.RunFailed); !strings.Contains(got.Message, "disk full") {
				t.Errorf("failed with %q, want the store's error", got.Message)
			}
		}},

		// The reaper.
		{"stale run reaped: agent silent past three heartbeats", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent()
			h.imported(d, s1, "ann", "bob")
			h.checkpoint(d, "cp-1")
			capture := runID(t, only(t, h.claim(s1), incremental))
			r := h.fullRun(d, s1)
			h.mustCommit(s1, batch(r, 1, "ann"))
			h.clock.Advance(3 * heartbeat)
			h.reap()
			h.wantState(r.ID, store.RunRunning)
			h.clock.Advance(time.Millisecond)
			h.reap()
			h.wantState(r.ID, store.RunFailed)
			h.wantState(capture, store.RunCompleted) // capture stops: another agent resumes it
			h.wantActive(d, "ann", "bob")
			late := batch(r, 2, "bob")
			late.Last = true
			if _, _, err := h.commit(s1, late); !errors.Is(err, ingest.ErrRunEnded) {
				t.Errorf("the silent agent's late batch: %v, want ErrRunEnded", err)
			}
		}},
		{"run no agent picked up reaped after six heartbeats", func(t *testing.T, h *hub) {
			d := h.directory("corp")
			r := h.createRun(d, store.RunFull)
			h.clock.Set(r.StartedAt.Add(6 * heartbeat))
			h.reap()
			h.wantState(r.ID, store.RunRunning)
			h.clock.Advance(time.Millisecond)
			h.reap()
			if got := h.wantState(r.ID, store.RunFailed); got.Message != "no agent picked up the run" {
				t.Errorf("failed with %q", got.Message)
			}
		}},

		// Reconciliation and the scheduler.
		{"reconcile request starts a full import", func(t *testing.T, h *hub) {
			d := h.directory("corp")
			h.checkpoint(d, "cp-refused")
			h.agent("a1", d)
			s1 := h.connect("a1")
			capture := runID(t, only(t, h.claim(s1), incremental))
			h.c.Reconcile(h.ctx, capture, "e-syncRefreshRequired")
			h.wantState(capture, store.RunFailed)
			if got := h.storedCheckpoint(d); got != "" {
				t.Errorf("checkpoint %q kept, want the refused one dropped", got)
			}
			open := h.openRuns(d, store.RunFull)
			if len(open) != 1 || open[0].Trigger != "reconcile" {
				t.Fatalf("open full runs %v, want one reconciliation", open)
			}
			if _, all := h.wake.counts(); all != 1 {
				t.Errorf("woke all sessions %d times, want once", all)
			}
			si := only(t, h.claim(s1), full)
			if runID(t, si) != open[0].ID || !si.GetTakeCheckpoint() {
				t.Errorf("sent %v, want the reconciliation, asking for a new checkpoint", si)
			}
		}},
		{"scheduled full import due (jitter bounded)", func(t *testing.T, h *hub) {
			d := h.directory("corp", func(d *store.Directory) { d.FullImportInterval = time.Hour })
			h.agent("a1", d)
			s1 := h.connect("a1")
			h.imported(d, s1, "ann")
			last := h.runsOf(d)[0]
			h.clock.Set(last.StartedAt.Add(time.Hour))
			h.seen(s1)
			h.schedule()
			if open := h.openRuns(d, store.RunFull); len(open) != 0 {
				t.Fatalf("a full import started at the interval itself, before its jitter: %v", open)
			}
			h.clock.Set(last.StartedAt.Add(time.Hour + time.Duration(runs.FullImportJitter*float64(time.Hour)) + time.Millisecond))
			h.seen(s1)
			h.schedule()
			open := h.openRuns(d, store.RunFull)
			if len(open) != 1 || open[0].Trigger != "schedule" {
				t.Fatalf("open full runs %v past the interval and its largest jitter, want one scheduled", open)
			}
			if dirs, _ := h.wake.counts(); !slices.Equal(dirs, []string{"corp"}) {
				t.Errorf("woke %v, want corp's sessions", dirs)
			}
			if got := h.audit.events(); len(got) != 1 || !strings.HasPrefix(got[0], "import.start run:") {
				t.Errorf("audit %v, want one import.start", got)
			}
			h.schedule() // the same decision again (or another replica's)
			if open := h.openRuns(d, store.RunFull); len(open) != 1 {
				t.Errorf("%d open full runs after scheduling twice, want 1", len(open))
			}
		}},
		{"never imported: first import as soon as an agent is online", func(t *testing.T, h *hub) {
			d := h.directory("corp", func(d *store.Directory) { d.FullImportInterval = 0 })
			off := h.directory("off") // scheduling off
			h.agent("a1", d, off)
			h.schedule()
			if open := h.openRuns(d, store.RunFull); len(open) != 0 {
				t.Fatalf("scheduled %v with no agent online", open)
			}
			s1 := h.connect("a1")
			h.clock.Advance(3 * heartbeat)
			h.schedule()
			if open := h.openRuns(d, store.RunFull); len(open) != 0 {
				t.Fatalf("scheduled %v for an agent silent for three heartbeats", open)
			}
			h.seen(s1)
			h.schedule()
			if open := h.openRuns(d, store.RunFull); len(open) != 1 {
				t.Fatalf("%d full runs once an agent is online, want the first import", len(open))
			}
			if open := h.openRuns(off, store.RunFull); len(open) != 0 {
				t.Errorf("scheduled %v of a directory whose scheduling is off", open)
			}
			only(t, h.claim(s1), full)
		}},
		{"a failed full import is tried again after a minute, then two; a completed one waits the interval", func(t *testing.T, h *hub) {
			d := h.directory("corp", func(d *store.Directory) { d.FullImportInterval = 0 })
			h.agent("a1", d)
			s1 := h.connect("a1")
			failAfter := func(wait time.Duration) *store.Run {
				t.Helper()
				open := h.openRuns(d, store.RunFull)
				if len(open) != 1 {
					t.Fatalf("%d open full runs, want 1", len(open))
				}
				failed, err := h.eng.Fail(h.ctx, open[0].ID, `binding as "cn=sync": invalid credentials`)
				if err != nil {
					t.Fatal(err)
				}
				h.clock.Set(failed.FinishedAt.Add(wait - time.Second))
				h.seen(s1)
				h.schedule()
				if open := h.openRuns(d, store.RunFull); len(open) != 0 {
					t.Fatalf("a full run %v started %v after a failed one, before %v", open, wait-time.Second, wait)
				}
				h.clock.Set(failed.FinishedAt.Add(wait))
				h.seen(s1)
				h.schedule()
				return failed
			}
			h.seen(s1)
			h.schedule() // the first import
			failAfter(time.Minute)
			failAfter(2 * time.Minute)
			open := h.openRuns(d, store.RunFull)
			if len(open) != 1 || open[0].Trigger != "schedule" {
				t.Fatalf("open full runs %v two minutes after the second failure, want one scheduled", open)
			}
			done := h.readAll(s1, open[0], "", "ann")
			if done.State != store.RunCompleted {
				t.Fatalf("the third try: %s (%s)", done.State, done.Message)
			}
			// Many admins' actions on users since: still not due (the
			// scheduler looks at full runs, however many others came).
			for range 60 {
				r := h.createRun(d, store.RunAdmin)
				if _, err := h.st.TransitionRun(h.ctx, r.ID, []store.RunState{store.RunRunning},
					store.RunUpdate{State: store.RunCompleted, Finished: true}); err != nil {
					t.Fatal(err)
				}
			}
			h.clock.Set(done.StartedAt.Add(time.Hour))
			h.seen(s1)
			h.schedule()
			if open := h.openRuns(d, store.RunFull); len(open) != 0 {
				t.Errorf("a full run %v an hour after a completed one and 60 admin runs, want none before its interval", open)
			}
		}},
		{"run reaps and schedules at once, and stops when cancelled", func(t *testing.T, h *hub) {
			d := h.directory("corp", func(d *store.Directory) { d.FullImportInterval = 0 })
			h.agent("a1", d)
			h.connect("a1")
			ctx, cancel := context.WithCancel(h.ctx)
			done := make(chan error, 1)
			go func() { done <- h.c.Run(ctx) }()
			select {
			case got := <-h.wake.woken:
				if got != "corp" {
					t.Errorf("woke %q, want corp for its first import", got)
				}
			case err := <-done:
				t.Fatalf("Run returned %v before scheduling", err)
			case <-time.After(time.Minute):
				t.Fatal("Run scheduled nothing within a minute")
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run after cancel: %v, want nil", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newHub(t)) })
	}
}

// reap runs the reaper once.
func (h *hub) reap() {
	h.t.Helper()
	if err := h.c.Reap(h.ctx); err != nil {
		h.t.Fatalf("Reap: %v", err)
	}
}

// schedule runs the scheduler once.
func (h *hub) schedule() {
	h.t.Helper()
	if err := h.c.Schedule(h.ctx); err != nil {
		h.t.Fatalf("Schedule: %v", err)
	}
}

// runsOf returns d's runs, newest first.
func (h *hub) runsOf(d *store.Directory) []*store.Run {
	h.t.Helper()
	all, err := h.st.ListRuns(h.ctx, store.RunFilter{DirectoryID: d.ID})
	if err != nil {
		h.t.Fatal(err)
	}
	return all
}

// race runs fs at once and fails the test on an error.
func race(t *testing.T, fs ...func() error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(fs))
	start := make(chan struct{})
	for i, f := range fs {
		wg.Go(func() {
			<-start
			errs[i] = f()
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}
