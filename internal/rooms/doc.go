// Package rooms checks that idsync's packages keep to their rooms (the
// rooms table of ARCHITECTURE.md): every package of the module has a doc.go
// whose comment says what the package may import, and its code imports
// nothing else.
//
// # The imports paragraph
//
// One paragraph of a package's doc comment, in its doc.go, begins with the
// words "It may import". It is English for the reader; the paths in it
// between backquotes are the rule:
//
//   - a path before the word "never" is allowed, one after it forbidden;
//   - a path whose first element has no dot is a package of this module
//     (`server/store`), any other a package from elsewhere
//     (`github.com/go-ldap/ldap/v3`); a forbidden path may also name a
//     package of the standard library (`database/sql`);
//   - a path ending in /... stands for that package and every package
//     beneath it (`google.golang.org/grpc/...`).
//
// Backquotes in that paragraph hold paths and nothing else, and every path
// must name a package the build knows, so a typo or a renamed package
// fails. For example:
//
//	// It may import `server/store`, the wire types of `proto/idsync/v1`
//	// and `github.com/go-ldap/ldap/v3` (its DN parser); never `agent` or
//	// `ldapsync`.
//
// # The rule
//
// Check reads what `go list -deps -json` says of the module. A package's
// own imports (its tests' are not checked: a test may reach across rooms)
// outside the standard library must each be allowed: the allowed paths are
// the whole room, this module's packages and third-party ones alike. And no
// package anywhere in its dependency closure may be forbidden: that is how
// idsync-agent is kept from linking the hub's packages or an SQL driver,
// and ldapsync from gRPC, however far down the import would come.
//
// The test runs it over the module once per target system (linux and
// windows: the agent and the installer have files of each), and pins the
// rules of the rooms table, so that a doc.go cannot drop them quietly.
//
// It may import the standard library only.
package rooms
