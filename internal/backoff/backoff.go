package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff waits longer after each failure, up to Max, with jitter so that
// many agents restarting together do not hammer the hub in step.
type Backoff struct {
	// Min is the first wait; Max caps it.
	Min, Max time.Duration
	n        int
}

// New returns a backoff from min to max.
func New(min, max time.Duration) *Backoff { return &Backoff{Min: min, Max: max} }

// Next returns the next wait and counts a failure.
func (b *Backoff) Next() time.Duration {
	d := b.Min << min(b.n, 30)
	if d <= 0 || d > b.Max {
		d = b.Max
	}
	b.n++
	// Full jitter in [d/2, d): spread, but never collapse to zero.
	return d/2 + rand.N(d/2+1)
}

// Wait sleeps for the next wait, or until ctx is done; it reports false when
// ctx ended first.
func (b *Backoff) Wait(ctx context.Context) bool { return Sleep(ctx, b.Next()) }

// Sleep waits for d, or until ctx is done; it reports false when ctx ended
// first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Reset starts over after a success.
func (b *Backoff) Reset() { b.n = 0 }
