package sessions

import (
	"context"
	"errors"
	"testing"

	idsyncv1 "github.com/idsync/idsync/proto/idsync/v1"
)

// stream is a Stream that records what the registry did to it.
type stream struct {
	id, agent    string
	dirs, caps   []string
	calls, pokes int
	revoked      bool
	replacedBy   string
	cancelled    []int64
}

func (s *stream) ID() string            { return s.id }
func (s *stream) AgentID() string       { return s.agent }
func (s *stream) Directories() []string { return s.dirs }
func (s *stream) Can(c string) bool {
	for _, x := range s.caps {
		if x == c {
			return true
		}
	}
	return false
}
func (s *stream) Call(context.Context, *idsyncv1.Command) (*idsyncv1.CommandResult, error) {
	s.calls++
	return &idsyncv1.CommandResult{CommandId: s.id}, nil
}
func (s *stream) Poke()              { s.pokes++ }
func (s *stream) Revoke()            { s.revoked = true }
func (s *stream) Replaced(by string) { s.replacedBy = by }
func (s *stream) CancelRun(_ context.Context, runID int64, _ string) {
	s.cancelled = append(s.cancelled, runID)
}

func TestRegistry(t *testing.T) {
	ctx := t.Context()
	r := New()
	a := &stream{id: "s1", agent: "a1", dirs: []string{"corp"}, caps: []string{"write"}}
	b := &stream{id: "s2", agent: "a2", dirs: []string{"corp", "lab"}, caps: []string{"write", "authenticate"}}
	for _, s := range []*stream{a, b} {
		if err := r.Open(s, func() error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("open refused by the store", func(t *testing.T) {
		failed := &stream{id: "s9", agent: "a9"}
		if err := r.Open(failed, func() error { return errors.New("store down") }); err == nil || r.Count() != 2 {
			t.Errorf("Open with a failing record: %v, %d streams; want the error and none added", err, r.Count())
		}
	})
	t.Run("calls take turns", func(t *testing.T) {
		for range 4 {
			if _, err := r.Call(ctx, "corp", "write", &idsyncv1.Command{}); err != nil {
				t.Fatal(err)
			}
		}
		if a.calls != 2 || b.calls != 2 {
			t.Errorf("calls %d and %d, want 2 each", a.calls, b.calls)
		}
	})
	t.Run("capability and directory", func(t *testing.T) {
		if !r.Serves("lab", "authenticate") || r.Serves("corp", "nothing") || r.Serves("hr", "write") {
			t.Error("Serves answered wrong")
		}
		if _, err := r.Call(ctx, "hr", "write", &idsyncv1.Command{}); !errors.Is(err, ErrNoAgent) {
			t.Errorf("a call to a directory nobody serves: %v, want ErrNoAgent", err)
		}
	})
	t.Run("wake", func(t *testing.T) {
		r.Wake("lab")
		if a.pokes != 0 || b.pokes != 1 {
			t.Errorf("Wake(lab) poked %d and %d, want b only", a.pokes, b.pokes)
		}
		r.WakeAll()
		if a.pokes != 1 || b.pokes != 2 {
			t.Errorf("WakeAll poked %d and %d, want both once more", a.pokes, b.pokes)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		r.CancelRun(ctx, 7, "s2", "why")
		r.CancelRun(ctx, 8, "gone", "why")
		if len(b.cancelled) != 1 || b.cancelled[0] != 7 || len(a.cancelled) != 0 {
			t.Errorf("cancelled %v and %v, want run 7 on s2 only", a.cancelled, b.cancelled)
		}
	})
	t.Run("a newer stream of an agent replaces the older", func(t *testing.T) {
		newer := &stream{id: "s3", agent: "a1", dirs: []string{"corp"}}
		if err := r.Open(newer, func() error { return nil }); err != nil {
			t.Fatal(err)
		}
		if a.replacedBy != "s3" || b.replacedBy != "" {
			t.Errorf("replaced by %q and %q, want s1 by s3 alone", a.replacedBy, b.replacedBy)
		}
		r.Remove(a)
		if r.Count() != 2 {
			t.Errorf("%d streams after the old one went, want 2", r.Count())
		}
	})
	t.Run("revoke", func(t *testing.T) {
		r.Revoke("a2")
		if !b.revoked {
			t.Error("a2's stream was not revoked")
		}
	})
}
