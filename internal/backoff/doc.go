// Package backoff is one tiny jittered, context-aware exponential backoff
// that resets on success (tailscale's util/backoff is the model).
//
// It may import the standard library only.
package backoff
