package backoff

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// Delay is the wait before retry n (0 is the first): min, doubled n times,
// at most max, with jitter in [d/2, d] so that many clients failing
// together do not retry in step, and never collapsing to zero. A min that
// is not positive, or above max, waits max.
func Delay(min, max time.Duration, n int) time.Duration {
	d := min
	if d <= 0 || d > max {
		d = max
	}
	for ; n > 0 && d < max; n-- {
		if d > max/2 {
			d = max // doubling would pass max (or overflow)
		} else {
			d *= 2
		}
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

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
	d := Delay(b.Min, b.Max, b.n)
	b.n++
	return d
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

// Keyed is a backoff per key, for work that is tried again when something
// else comes round (a session's next look at a directory) rather than in a
// loop that can sleep: Failed puts the key's next try off, Ready says
// whether it may be tried now, Reset forgets it after a success. It is safe
// for concurrent use.
type Keyed[K comparable] struct {
	min, max time.Duration
	now      func() time.Time

	mu   sync.Mutex
	keys map[K]*keyState
}

type keyState struct {
	failures int
	until    time.Time
}

// NewKeyed returns a backoff per key from min to max, on the clock now
// (nil: time.Now).
func NewKeyed[K comparable](min, max time.Duration, now func() time.Time) *Keyed[K] {
	if now == nil {
		now = time.Now
	}
	return &Keyed[K]{min: min, max: max, now: now, keys: map[K]*keyState{}}
}

// Failed counts a failure of key and returns how long it is put off: Delay
// of its failures since the last Reset.
func (k *Keyed[K]) Failed(key K) time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.keys[key]
	if s == nil {
		s = &keyState{}
		k.keys[key] = s
	}
	wait := Delay(k.min, k.max, s.failures)
	s.failures++
	s.until = k.now().Add(wait)
	return wait
}

// Ready reports whether key may be tried now: it never failed, or was
// reset, or its wait is over.
func (k *Keyed[K]) Ready(key K) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	s := k.keys[key]
	return s == nil || !k.now().Before(s.until)
}

// Reset forgets key's failures after a success.
func (k *Keyed[K]) Reset(key K) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, key)
}
