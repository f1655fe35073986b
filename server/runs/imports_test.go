package runs_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idsync/idsync/server/refusal"
	"github.com/idsync/idsync/server/store"
)

// TestAdminDoors drives an admin's doors to runs — start, confirm, cancel
// — through the coordinator: one subtest per outcome.
func TestAdminDoors(t *testing.T) {
	refused := func(t *testing.T, err error, kind refusal.Kind, want string) {
		t.Helper()
		if r, ok := refusal.As(err); !ok || r.Kind != kind || !strings.Contains(r.Msg, want) {
			t.Errorf("got %v, want a refusal of kind %d saying %q", err, kind, want)
		}
	}
	tests := []struct {
		name string
		run  func(t *testing.T, h *hub)
	}{
		{"start: an online agent of the directory claims the run", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent(captureOff)
			r, already, err := h.c.Start(h.ctx, d, store.RunFull, "admin:ann")
			if err != nil || already {
				t.Fatalf("Start: %v, already %v; want a new run", err, already)
			}
			if r.Trigger != "admin:ann" || r.Directory != "corp" || r.State != store.RunRunning {
				t.Errorf("run %+v, want a running run of corp triggered by admin:ann", r)
			}
			if dirs, _ := h.wake.counts(); !slices.Contains(dirs, "corp") {
				t.Errorf("woke %v, want corp", dirs)
			}
			if got := runID(t, only(t, h.claim(s1), full)); got != r.ID {
				t.Errorf("the agent was sent run %d, want %d", got, r.ID)
			}
			if got := h.audit.events(); !slices.Contains(got, fmt.Sprintf("import.start run:%d", r.ID)) {
				t.Errorf("audit %v, want import.start of the run", got)
			}
		}},
		{"start: a run of that kind already running is returned", func(t *testing.T, h *hub) {
			d, _ := h.oneAgent(captureOff)
			first, _, err := h.c.Start(h.ctx, d, store.RunFull, "admin:ann")
			if err != nil {
				t.Fatal(err)
			}
			again, already, err := h.c.Start(h.ctx, d, store.RunFull, "admin:bob")
			if err != nil || !already || again.ID != first.ID {
				t.Errorf("Start again: run %v, already %v, %v; want run %d, already", again, already, err, first.ID)
			}
		}},
		{"start: refused with no agent online", func(t *testing.T, h *hub) {
			d, _ := h.oneAgent(captureOff)
			h.clock.Advance(3*heartbeat + time.Millisecond)
			_, _, err := h.c.Start(h.ctx, d, store.RunFull, "admin:ann")
			refused(t, err, refusal.Unmet, "no agent of directory corp is connected")
		}},
		{"start: refused for a scim source", func(t *testing.T, h *hub) {
			d := h.directory("hr", func(d *store.Directory) { d.Kind = store.KindSCIM })
			_, _, err := h.c.Start(h.ctx, d, store.RunFull, "admin:ann")
			refused(t, err, refusal.Unmet, "is a scim source")
		}},
		{"start: refused while a run of the kind is paused", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent(captureOff)
			h.imported(d, s1, "ann", "bob", "cy", "dee")
			h.readAll(s1, h.fullRun(d, s1), "", "ann")
			_, _, err := h.c.Start(h.ctx, d, store.RunFull, "admin:ann")
			refused(t, err, refusal.Unmet, "is paused by the safeguard: confirm or cancel it first")
		}},
		{"confirm: a paused run sweeps", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent(captureOff)
			h.imported(d, s1, "ann", "bob", "cy", "dee")
			paused := h.readAll(s1, h.fullRun(d, s1), "", "ann")
			done, err := h.c.Confirm(h.ctx, paused, "admin:ann")
			if err != nil || done.State != store.RunCompleted || done.Deprovisioned != 3 {
				t.Fatalf("Confirm: %v, %v; want completed with 3 deprovisioned", done, err)
			}
			h.wantActive(d, "ann")
			if got := h.audit.events(); !slices.Contains(got, fmt.Sprintf("safeguard.confirm run:%d", paused.ID)) {
				t.Errorf("audit %v, want safeguard.confirm of the run", got)
			}
		}},
		{"confirm: refused for a run not paused", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent(captureOff)
			r := h.fullRun(d, s1)
			_, err := h.c.Confirm(h.ctx, h.run(r.ID), "admin:ann")
			refused(t, err, refusal.Unmet, "not paused by the safeguard")
		}},
		{"cancel: a running run ends, unswept, and its session is told", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent(captureOff)
			h.imported(d, s1, "ann", "bob")
			r := h.fullRun(d, s1)
			done, err := h.c.Cancel(h.ctx, h.run(r.ID), "admin:ann")
			if err != nil || done.State != store.RunCancelled || !strings.Contains(done.Message, "cancelled by admin:ann") {
				t.Fatalf("Cancel: %v, %v; want cancelled by admin:ann", done, err)
			}
			if got, want := h.stops.stopped(), []string{fmt.Sprintf("%d/%s", r.ID, s1.id)}; !slices.Equal(got, want) {
				t.Errorf("stopped %v on agents, want %v", got, want)
			}
			h.wantActive(d, "ann", "bob")
		}},
		{"cancel: a paused run ends unswept; no agent reads it", func(t *testing.T, h *hub) {
			d, s1 := h.oneAgent(captureOff)
			h.imported(d, s1, "ann", "bob", "cy", "dee")
			paused := h.readAll(s1, h.fullRun(d, s1), "", "ann")
			if done, err := h.c.Cancel(h.ctx, paused, "admin:ann"); err != nil || done.State != store.RunCancelled {
				t.Fatalf("Cancel: %v, %v; want cancelled", done, err)
			}
			if got := h.stops.stopped(); len(got) != 0 {
				t.Errorf("stopped %v on agents, want none", got)
			}
			h.wantActive(d, "ann", "bob", "cy", "dee")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newHub(t)) })
	}
}
