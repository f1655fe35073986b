package eventually

import (
	"testing"
	"time"
)

// Timeout bounds That: a bound on waiting, generous for a loaded machine,
// not an assertion on speed. A wait whose bound is what the test asserts
// uses Within.
const Timeout = time.Minute

// interval is the pause between two polls, the 20 ms the unit tests were
// written against (polling faster exposes a race of the provisioning
// engine in server/provision's TestLifecycle, reported on its own). A
// condition that takes longer to check (a whole directory read through
// idsyncctl) pauses as long as it took, up to maxCostly, so that it does
// not run back to back.
const (
	interval  = 20 * time.Millisecond
	maxCostly = 500 * time.Millisecond
)

// That polls cond until it reports ok, and returns how long that took.
// cond also returns what it saw; after Timeout, That fails the test with
// what and the state seen last. cond runs on the test's goroutine, so it
// may call t.Fatal.
func That(t testing.TB, what string, cond func() (ok bool, state string)) time.Duration {
	t.Helper()
	return Within(t, Timeout, what, cond)
}

// Within is That with a deadline of its own, for a wait whose bound is part
// of what the test asserts (a change that must arrive before a lease runs
// out).
func Within(t testing.TB, limit time.Duration, what string, cond func() (ok bool, state string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		polled := time.Now()
		ok, state := cond()
		took := time.Since(start)
		if ok {
			return took
		}
		if took >= limit {
			t.Fatalf("%s: not within %v; last seen: %s", what, limit, state)
		}
		wait := max(interval, min(time.Since(polled), maxCostly))
		timer := time.NewTimer(min(wait, limit-took))
		select {
		case <-timer.C:
		case <-t.Context().Done():
			timer.Stop()
			t.Fatalf("%s: the test ended while waiting; last seen: %s", what, state)
		}
	}
}

// Progressing polls cond until it reports ok, for a wait on something that
// advances at its own pace (a driver's writes to a server the machine's
// load slows down): it fails only when progress stays the same for
// Timeout, not after a total deadline. progress is any count that grows
// while the awaited work goes on.
func Progressing(t testing.TB, what string, cond func() (ok bool, progress int64, state string)) time.Duration {
	t.Helper()
	return ProgressingWithin(t, Timeout, what, cond)
}

// ProgressingWithin is Progressing failing after a stall of its own bound.
func ProgressingWithin(t testing.TB, stall time.Duration, what string, cond func() (ok bool, progress int64, state string)) time.Duration {
	t.Helper()
	start := time.Now()
	last, moved := int64(-1), start
	return Within(t, 1<<62, what, func() (bool, string) {
		ok, p, state := cond()
		if ok {
			return true, state
		}
		if p != last {
			last, moved = p, time.Now()
		} else if stalled := time.Since(moved); stalled >= stall {
			t.Fatalf("%s: no progress for %v (%v in all); last seen: %s", what, stalled.Round(time.Second),
				time.Since(start).Round(time.Second), state)
		}
		return false, state
	})
}
