package agent

import (
	"context"
	"sync"

	"github.com/idsync/idsync/ldapsync"
)

// captureQueueBytes bounds how far a capture's LDAP reader may read ahead of
// the batcher, by the events' estimated size in memory. While the hub's
// acks are slow the ack window is full and the batcher waits; the reader
// must then wait too, so that the server's stream stops (TCP), rather than
// pile up events: a refresh with a present phase names every entry of the
// directory, about 64 MB of ids at a million entries. A batch is at most
// maxBatchBytes, so the reader still keeps the next one ready.
const captureQueueBytes = maxBatchBytes

// captureQueueLen bounds the queue's events by count as well (checkpoints
// and small changes weigh little): a batch's worth, as a batch holds at
// most 1,000 entries by default. Each slot costs about 300 bytes.
const captureQueueLen = 1024

// eventQueue carries capture events from the reader (put) to the batcher
// (events, then taken), in order, bounded by captureQueueBytes: put blocks
// while the events queued weigh that much. One event heavier than the bound
// passes alone, so that nothing deadlocks.
type eventQueue struct {
	events chan queuedEvent
	limit  int
	// room is signalled when taken frees room; one slot, as there is one
	// reader.
	room chan struct{}

	mu     sync.Mutex
	queued int // weight of the events put and not yet taken
}

// queuedEvent is an event with its weight.
type queuedEvent struct {
	ev     ldapsync.Event
	weight int
}

func newEventQueue(limit, length int) *eventQueue {
	return &eventQueue{events: make(chan queuedEvent, length), limit: limit, room: make(chan struct{}, 1)}
}

// put queues ev, waiting for room until ctx ends. It prefers room to a
// ctx already done, so it fails only when it would have to wait.
func (q *eventQueue) put(ctx context.Context, ev ldapsync.Event) error {
	w := eventWeight(ev)
	for !q.reserve(w) {
		select {
		case <-q.room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e := queuedEvent{ev, w}
	select {
	case q.events <- e:
		return nil
	default:
	}
	select {
	case q.events <- e:
		return nil
	case <-ctx.Done():
		q.release(w)
		return ctx.Err()
	}
}

// reserve counts w as queued if it fits, or if nothing is queued.
func (q *eventQueue) reserve(w int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.queued > 0 && q.queued+w > q.limit {
		return false
	}
	q.queued += w
	return true
}

func (q *eventQueue) release(w int) {
	q.mu.Lock()
	q.queued -= w
	q.mu.Unlock()
	select {
	case q.room <- struct{}{}:
	default:
	}
}

// taken frees the room of an event received from events, once the batcher
// holds it.
func (q *eventQueue) taken(e queuedEvent) { q.release(e.weight) }

// eventWeight estimates what ev holds in memory: its strings, with a
// string or slice header for each.
func eventWeight(ev ldapsync.Event) int {
	const header = 16
	n := 64 + len(ev.Checkpoint)
	for _, id := range ev.IDs {
		n += header + len(id)
	}
	c := &ev.Change
	n += len(c.DN) + len(c.ExternalID)
	for _, attrs := range [][]ldapsync.Attribute{c.Attributes, c.MemberAdds, c.MemberRemoves} {
		for _, a := range attrs {
			n += 2*header + len(a.Name)
			for _, v := range a.Values {
				n += header + len(v)
			}
		}
	}
	e := &ev.Err
	return n + len(e.DN) + len(e.ExternalID) + len(e.Message)
}
