//go:build !unix

package main

// heapProfiles is a Unix debugging aid (profile_unix.go).
func heapProfiles() (stop func(), err error) { return func() {}, nil }
