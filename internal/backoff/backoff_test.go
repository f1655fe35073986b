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
