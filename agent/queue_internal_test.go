package agent

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/idsync/idsync/ldapsync"
)

// present is an EventPresent of n ids, as a syncrepl present phase sends
// them (ldapsync's presentBatch).
func present(from, n int) ldapsync.Event {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("00000000-0000-0000-0000-%012d", from+i)
	}
	return ldapsync.Event{Type: ldapsync.EventPresent, IDs: ids}
}

// TestCaptureQueueBounded: while the batcher takes nothing (the ack window
// is full), the capture's reader may queue at most captureQueueBytes of
// events, then put waits: a present phase of a million ids does not pile up
// in the agent. A put with a ctx already done is the probe of "would wait":
// put prefers room to a done ctx.
func TestCaptureQueueBounded(t *testing.T) {
	done, cancel := context.WithCancel(t.Context())
	cancel()
	q := newEventQueue(captureQueueBytes, captureQueueLen)
	const ids = 1000
	queued, weight := 0, eventWeight(present(0, ids))
	for ; queued*ids < 1_000_000; queued++ {
		if err := q.put(done, present(queued*ids, ids)); err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("put %d: %v, want it to wait (context.Canceled)", queued, err)
			}
			break
		}
	}
	if queued == 0 || queued*weight > captureQueueBytes || len(q.events) != queued {
		t.Fatalf("%d events of %d bytes queued (channel %d) before put waits, want 1 to %d (%d bytes)",
			queued, weight, len(q.events), captureQueueBytes/weight, captureQueueBytes)
	}
	if queued*ids >= 1_000_000 {
		t.Fatal("a million present ids queued without waiting")
	}

	// The batcher takes one: the reader may put one more, in order.
	e := <-q.events
	if got := e.ev.IDs[0]; got != present(0, 1).IDs[0] {
		t.Errorf("first event taken names %s first, want the first put", got)
	}
	q.taken(e)
	if err := q.put(done, present(queued*ids, ids)); err != nil {
		t.Fatalf("put after one was taken: %v, want room", err)
	}
	if err := q.put(done, present(0, ids)); err == nil {
		t.Fatal("put with the queue full again succeeded, want it to wait")
	}

	// A blocked put returns when its ctx ends, and queues nothing.
	ctx, stop := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- q.put(ctx, present(0, ids)) }()
	stop()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("put on a full queue with ctx cancelled: %v, want context.Canceled", err)
	}
	if len(q.events) != queued {
		t.Errorf("%d events queued after a cancelled put, want %d", len(q.events), queued)
	}
	// A waiting put goes on once the batcher takes.
	go func() { errc <- q.put(t.Context(), present(0, ids)) }()
	q.taken(<-q.events)
	if err := <-errc; err != nil {
		t.Fatalf("waiting put after a take: %v", err)
	}
}

// TestCaptureQueueHeavyEvent: an event heavier than the bound passes when
// the queue is empty (nothing deadlocks) and waits while anything is queued.
func TestCaptureQueueHeavyEvent(t *testing.T) {
	done, cancel := context.WithCancel(t.Context())
	cancel()
	q := newEventQueue(1<<10, captureQueueLen)
	heavy := present(0, 100) // about 5 KB
	if err := q.put(done, ldapsync.Event{Type: ldapsync.EventRefreshDone}); err != nil {
		t.Fatalf("a small event on an empty queue: %v", err)
	}
	if err := q.put(done, heavy); err == nil {
		t.Fatal("an event over the bound was queued behind another, want it to wait")
	}
	q.taken(<-q.events)
	if err := q.put(done, heavy); err != nil {
		t.Fatalf("an event over the bound on an empty queue: %v, want it queued alone", err)
	}
}
