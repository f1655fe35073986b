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
