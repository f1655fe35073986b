package eventually_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/eventually"
)

// recorder is a testing.TB that records a failure instead of ending the
// test, so that That's own failure can be checked.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.failed = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	panic(r) // stands for runtime.Goexit: Fatalf does not return
}

// run calls Within on a recorder and returns what it failed with ("" when
// it returned) and what it returned.
func run(t *testing.T, limit time.Duration, cond func() (bool, string)) (failed string, took time.Duration) {
	r := &recorder{TB: t}
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
		failed = r.failed
	}()
	return "", eventually.Within(r, limit, "the thing", cond)
}

func TestWithin(t *testing.T) {
	tests := []struct {
		name       string
		limit      time.Duration
		holdsAfter int // polls before cond holds; -1: never
		wantFail   string
	}{
		{name: "holds at once", limit: time.Second, holdsAfter: 0},
		{name: "holds after some polls", limit: 10 * time.Second, holdsAfter: 5},
		{name: "never holds", limit: 100 * time.Millisecond, holdsAfter: -1,
			wantFail: "the thing: not within 100ms; last seen: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			polls := 0
			start := time.Now()
			failed, took := run(t, tt.limit, func() (bool, string) {
				polls++
				return polls > tt.holdsAfter && tt.holdsAfter >= 0, fmt.Sprintf("poll %d", polls)
			})
			elapsed := time.Since(start)
			switch {
			case tt.wantFail == "" && failed != "":
				t.Fatalf("failed with %q, want it to return", failed)
			case tt.wantFail != "" && failed != fmt.Sprintf("%spoll %d", tt.wantFail, polls):
				t.Errorf("failed with %q after %d polls, want %q and the last poll's state", failed, polls, tt.wantFail)
			}
			if tt.wantFail == "" && polls != tt.holdsAfter+1 {
				t.Errorf("%d polls, want %d: it stops at the first that holds", polls, tt.holdsAfter+1)
			}
			if tt.wantFail == "" && (took < 0 || took > elapsed) {
				t.Errorf("returned %v, want the time it took (at most %v)", took, elapsed)
			}
			if elapsed > tt.limit+time.Second {
				t.Errorf("took %v, past its limit of %v", elapsed, tt.limit)
			}
		})
	}
}

// TestProgressing: a wait that keeps advancing is not cut by a total
// deadline; one that stalls fails naming the stall.
func TestProgressing(t *testing.T) {
	var n int64
	start := time.Now()
	eventually.ProgressingWithin(t, 100*time.Millisecond, "counting", func() (bool, int64, string) {
		n++
		return time.Since(start) > 300*time.Millisecond, n, "n"
	})
	r := &recorder{TB: t}
	func() {
		defer func() {
			if p := recover(); p != nil && p != r {
				panic(p)
			}
		}()
		eventually.ProgressingWithin(r, 100*time.Millisecond, "the thing", func() (bool, int64, string) { return false, 7, "stuck at 7" })
	}()
	if !strings.HasPrefix(r.failed, "the thing: no progress for ") || !strings.HasSuffix(r.failed, "last seen: stuck at 7") {
		t.Errorf("a stalled wait failed with %q", r.failed)
	}
}
