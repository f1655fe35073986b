package provision_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/idsync/idsync/internal/eventually"
	"github.com/idsync/idsync/server/store"
)

// BenchmarkPush pushes 2,000 new users of one assigned group through the
// queue to the SCIM test server, concurrency 8, per iteration; it reports
// users pushed per second. `make bench` measures the same through the real
// hub binary with 10,000 users.
func BenchmarkPush(b *testing.B) {
	const n = 2000
	for range b.N {
		b.StopTimer()
		w := benchWorld(b, n)
		b.StartTimer()
		start := time.Now()
		w.start()
		w.assign(store.AssignGroup, w.hubGroup("all").ID)
		eventually.That(b, "every user pushed", func() (bool, string) {
			idle, jobs := w.idle()
			return w.srv.UserCount() >= n && idle, jobs
		})
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "users/s")
		b.StopTimer()
		w.stop()
		b.StartTimer()
	}
}

// benchWorld is a world with n users in one group.
func benchWorld(b *testing.B, n int) *world {
	w := newWorld(b, func(a *store.App) { a.Concurrency = 8 })
	objs := make([]*store.Object, 0, n+1)
	dns := make([]string, 0, n)
	for i := range n {
		name := fmt.Sprintf("user%05d", i)
		objs = append(objs, user(fmt.Sprintf("u%05d", i), name))
		dns = append(dns, "uid="+name+",ou=People,dc=example,dc=org")
	}
	w.apply(append(objs, group("g1", "all", dns...)))
	return w
}
