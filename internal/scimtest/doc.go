// Package scimtest is a real SCIM 2.0 service provider (RFC 7643/7644) for
// tests and benchmarks: the application idsync provisions into.
//
// It is built from github.com/elimity-com/scim, which parses, validates and
// answers the protocol, over an in-memory, concurrency-safe storage of Users
// (core schema plus the enterprise extension) and Groups. userName and group
// displayName are unique case-insensitively (409 uniqueness on a duplicate),
// filters and pagination work as the RFC says, and PATCH applies add, replace
// and remove, value filters (members[value eq "…"]) included.
//
// In front of it sits a programmable fault injector, so tests can play every
// way a real application misbehaves while it runs: the next N matching requests
// answer a chosen status (500, 502, 503, 401, 429 with Retry-After); a request
// is committed to storage but its response is replaced by 502 (a POST whose
// answer is lost); the connection is dropped; the whole server is down
// (connection refused) until Up; latency is added.
//
//	srv := scimtest.Start(t, scimtest.Options{Token: "secret"})
//	srv.Inject(scimtest.Fault{Method: "POST", PathPrefix: "/Users", Status: 500, Times: 2})
//	// … drive the code under test against srv.URL …
//	if got := len(srv.Users()); got != 1 { … }
//
// New returns the same server as a plain http.Handler for benchmarks.
//
// Plain (StartPlain) is a second service provider built from the same
// library apart from Server — a ResourceHandler over maps with a PATCH
// interpreter of its own, answering PATCH with 204, filtering with eq only
// — so that a client tested against both depends on the protocol, not on
// one implementation's ways.
//
// It may import the standard library, `github.com/elimity-com/scim/...`,
// `github.com/scim2/filter-parser/v2` and `github.com/google/uuid`; nothing
// of idsync, so that every package's tests can use it.
package scimtest
