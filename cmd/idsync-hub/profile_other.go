//go:build !unix

package main

// cpuProfiles is a Unix debugging aid (profile_unix.go).
func cpuProfiles() (stop func(), err error) { return func() {}, nil }
