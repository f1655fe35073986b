package backoff

import (
	"context"
	"testing"
	"time"
)

func TestNextGrowsCapsAndResets(t *testing.T) {
	b := New(100*time.Millisecond, time.Second)
	wantMax := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, m := range wantMax {
		m *= time.Millisecond
		got := b.Next()
		if got < m/2 || got > m {
			t.Fatalf("wait %d = %v, want in [%v, %v]", i, got, m/2, m)
		}
	}
	b.Reset()
	if got := b.Next(); got > 100*time.Millisecond {
		t.Fatalf("after Reset wait = %v, want <= 100ms", got)
	}
}

func TestWaitStopsOnCancel(t *testing.T) {
	b := New(time.Hour, time.Hour)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if b.Wait(ctx) {
		t.Fatal("Wait on a cancelled context returned true, want false")
	}
}

func TestDelay(t *testing.T) {
	const s, m = time.Second, time.Minute
	tests := []struct {
		name     string
		min, max time.Duration
		n        int
		want     time.Duration // before jitter: the wait is in [want/2, want]
	}{
		{"first retry", 2 * s, 10 * m, 0, 2 * s},
		{"before the first (a count of 0 attempts)", 2 * s, 10 * m, -1, 2 * s},
		{"doubles", 2 * s, 10 * m, 3, 16 * s},
		{"capped", 2 * s, 10 * m, 9, 10 * m},
		{"no overflow far out", time.Hour, 1 << 62, 1000, 1 << 62},
		{"min above max waits max", m, s, 0, s},
		{"no min waits max", 0, s, 0, s},
		{"nothing to wait", 0, 0, 5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 50 { // the jitter is random: every draw must fit
				if got := Delay(tt.min, tt.max, tt.n); got < tt.want/2 || got > tt.want {
					t.Fatalf("Delay(%v, %v, %d) = %v, want in [%v, %v]", tt.min, tt.max, tt.n, got, tt.want/2, tt.want)
				}
			}
		})
	}
}

func TestKeyed(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	k := NewKeyed[int64](2*time.Second, time.Minute, func() time.Time { return now })

	t.Run("a key never failed is ready", func(t *testing.T) {
		if !k.Ready(1) {
			t.Fatal("Ready(1) = false, want true")
		}
	})
	t.Run("a failure puts the key off, not the others", func(t *testing.T) {
		wait := k.Failed(1)
		if wait < time.Second || wait > 2*time.Second {
			t.Fatalf("first wait = %v, want in [1s, 2s]", wait)
		}
		if k.Ready(1) {
			t.Fatal("Ready(1) right after a failure = true, want false")
		}
		if !k.Ready(2) {
			t.Fatal("Ready(2) = false, want true: only key 1 failed")
		}
		now = now.Add(wait)
		if !k.Ready(1) {
			t.Fatalf("Ready(1) once its wait of %v is over = false, want true", wait)
		}
	})
	t.Run("failures grow the wait up to the max", func(t *testing.T) {
		var wait time.Duration
		for range 10 {
			wait = k.Failed(1)
		}
		if wait < 30*time.Second || wait > time.Minute {
			t.Fatalf("wait after 11 failures = %v, want in [30s, 1m]", wait)
		}
	})
	t.Run("reset starts over", func(t *testing.T) {
		k.Reset(1)
		if !k.Ready(1) {
			t.Fatal("Ready(1) after Reset = false, want true")
		}
		if wait := k.Failed(1); wait > 2*time.Second {
			t.Fatalf("first wait after Reset = %v, want <= 2s", wait)
		}
	})
}
