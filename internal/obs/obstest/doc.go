// Package obstest reads what internal/obs serves, for tests: a GET's status
// and body, and a /metrics scrape as a map.
//
// It may import the standard library only (testing among it); only tests
// import it.
package obstest
