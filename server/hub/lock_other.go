//go:build !unix

package hub

// lockDataDir locks nothing where flock does not exist: the hub is
// released for Linux only (the Windows build is the agent's).
func lockDataDir(string) (func(), error) { return func() {}, nil }
