//go:build !unix

package hub

// lockDataDir does nothing where flock does not exist: the Windows
// installer runs one hub service per data directory.
func lockDataDir(string) (func(), error) { return func() {}, nil }
