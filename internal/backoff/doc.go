// Package backoff is one tiny jittered, context-aware exponential backoff
// that resets on success (tailscale's util/backoff is the model): Backoff
// for one loop that counts its own failures, Keyed for one per key (a
// directory, an app), Delay for failures counted elsewhere (a job's
// attempts in the store, an HTTP client's retries).
//
// It may import the standard library only.
package backoff
