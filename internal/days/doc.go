// Package days reads the durations admins write for retention and
// history: Go's durations ("12h", "90m", "2s") and whole days ("90d"),
// which time.ParseDuration does not take.
//
// It may import the standard library only.
package days
