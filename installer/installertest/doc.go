// Package installertest gives tests a service manager of their own: Fake, a
// kardianos/service System that keeps its state in memory, and Choose, which
// makes a System the one the library uses for the length of a test. Tests of
// installer and of the commands that call it drive it instead of the
// machine's systemd or service control manager.
//
// It may import `github.com/kardianos/service` and the standard library
// (testing among it), and is imported by tests only.
package installertest
