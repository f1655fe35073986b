// Package eventually is the one way idsync's tests wait for something to
// happen: they poll a condition on what they can observe (a row, an audit
// event, a log line, a metric, a port) until it holds, within a deadline,
// and a failure says what was awaited and the state last seen. A sleep is
// never the synchronisation.
//
//	eventually.That(t, "the queue idle", func() (bool, string) {
//		a := app("crm")
//		return a.idle(), fmt.Sprint(a.Queue)
//	})
//
// Test-only: nothing outside _test.go files and test helpers imports it.
//
// It may import the standard library only.
package eventually
