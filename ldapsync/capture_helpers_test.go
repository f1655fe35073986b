//go:build linux

package ldapsync_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/ldapsync"
)

// events records what a capture emits, with the time of each event.
type events struct {
	mu     sync.Mutex
	list   []ldapsync.Event
	at     []time.Time
	notify chan struct{}
}

func newEvents() *events { return &events{notify: make(chan struct{}, 1)} }

func (r *events) emit(_ context.Context, ev ldapsync.Event) error {
	r.mu.Lock()
	r.list = append(r.list, ev)
	r.at = append(r.at, time.Now())
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	return nil
}

// len returns how many events arrived so far.
func (r *events) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.list)
}

// since returns the events from index from on.
func (r *events) since(from int) []ldapsync.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list[min(from, len(r.list)):])
}

// waitFor waits until an event from index from on satisfies pred and
// returns its index and arrival time; it fails the test after timeout or
// when the capture ends (done receives its error).
func (r *events) waitFor(t *testing.T, c *capture, from int, timeout time.Duration, what string, pred func(ldapsync.Event) bool) (int, time.Time) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		for i := from; i < len(r.list); i++ {
			if pred(r.list[i]) {
				at := r.at[i]
				r.mu.Unlock()
				return i, at
			}
		}
		n := len(r.list)
		r.mu.Unlock()
		select {
		case <-r.notify:
		case err := <-c.done:
			c.done <- err
			t.Fatalf("waiting for %s: the capture ended: %v (events since %d: %s)", what, err, from, describe(r.since(from)))
		case <-deadline:
			t.Fatalf("no %s within %v; %d events since %d: %s", what, timeout, n-from, from, describe(r.since(from)))
		}
	}
}

// lastCheckpoint returns the newest checkpoint emitted, nil when none.
func (r *events) lastCheckpoint() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.list) - 1; i >= 0; i-- {
		if r.list[i].Type == ldapsync.EventCheckpoint {
			return r.list[i].Checkpoint
		}
	}
	return nil
}

// describe summarises events for a failure message.
func describe(evs []ldapsync.Event) string {
	var b strings.Builder
	for i, ev := range evs {
		if i == 30 {
			fmt.Fprintf(&b, " …(%d more)", len(evs)-i)
			break
		}
		switch ev.Type {
		case ldapsync.EventChange:
			fmt.Fprintf(&b, " [%s %s %s %s]", ev.Change.Type, ev.Change.Kind, ev.Change.ExternalID, ev.Change.DN)
		case ldapsync.EventPresent:
			fmt.Fprintf(&b, " [present ×%d]", len(ev.IDs))
		case ldapsync.EventRefreshDone:
			fmt.Fprintf(&b, " [refresh-done present=%v]", ev.PresentPhase)
		case ldapsync.EventEntryError:
			fmt.Fprintf(&b, " [error %s: %s]", ev.Err.DN, ev.Err.Message)
		default:
			fmt.Fprintf(&b, " [%s]", ev.Type)
		}
	}
	return b.String()
}

// capture is a Capture running in the background.
type capture struct {
	events *events
	cancel context.CancelFunc
	done   chan error
}

// startCapture runs Capture on conn until the test ends or stop.
func startCapture(t *testing.T, conn *ldapsync.Conn, spec ldapsync.CaptureSpec, checkpoint []byte) *capture {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	c := &capture{events: newEvents(), cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- ldapsync.Capture(ctx, conn, spec, checkpoint, c.events.emit) }()
	t.Cleanup(func() { c.stop() })
	return c
}

// stop cancels the capture and returns its error.
func (c *capture) stop() error {
	c.cancel()
	err := <-c.done
	c.done <- err
	return err
}

// wait returns the capture's error once it ends by itself.
func (c *capture) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(timeout):
		t.Fatalf("the capture still runs after %v", timeout)
		return nil
	}
}

// changeOf matches a change event of one type for one external id.
func changeOf(typ ldapsync.ChangeType, id string) func(ldapsync.Event) bool {
	return func(ev ldapsync.Event) bool {
		return ev.Type == ldapsync.EventChange && ev.Change.Type == typ && ev.Change.ExternalID == id
	}
}

// isType matches events of one type.
func isType(typ ldapsync.EventType) func(ldapsync.Event) bool {
	return func(ev ldapsync.Event) bool { return ev.Type == typ }
}

// rewriteCheckpoint changes fields of a checkpoint's JSON encoding, to make
// checkpoints a server or the capture must refuse.
func rewriteCheckpoint(t *testing.T, cp []byte, fields map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(cp, &m); err != nil {
		t.Fatalf("checkpoint %q is not JSON: %v", cp, err)
	}
	for k, v := range fields {
		m[k] = v
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wantReconcile checks that err wraps ErrReconcile and says why.
func wantReconcile(t *testing.T, err error, why string) {
	t.Helper()
	if !errors.Is(err, ldapsync.ErrReconcile) {
		t.Fatalf("error = %v, want one wrapping ErrReconcile", err)
	}
	if !strings.Contains(err.Error(), why) {
		t.Errorf("error %q does not say %q", err, why)
	}
}

// percentile returns the p-th percentile (0–100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p / 100)
	return sorted[i]
}
