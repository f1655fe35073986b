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

// BenchmarkImportGroups reads 500 groups of 20 members each (the members
// 2,000 accounts an import linked before) from the SCIM test server, 100 a
// page, and records them as the app's own, per iteration; it reports
// groups read per second.
func BenchmarkImportGroups(b *testing.B) {
	const users, groups, size = 2000, 500, 20
	w := benchWorld(b, users)
	w.assign(store.AssignGroup, w.hubGroup("all").ID) // in scope, so the accounts link; the engine does not run
	remote := make([]string, users)
	for i := range users {
		id, err := w.srv.SeedUser(map[string]any{"userName": fmt.Sprintf("user%05d@example.org", i), "active": true})
		if err != nil {
			b.Fatal(err)
		}
		remote[i] = id
	}
	for g := range groups {
		members := make([]any, size)
		for j := range size {
			members[j] = map[string]any{"value": remote[(g*size+j)%users]}
		}
		if _, err := w.srv.SeedGroup(map[string]any{"displayName": fmt.Sprintf("app-group-%04d", g), "members": members}); err != nil {
			b.Fatal(err)
		}
	}
	if res, err := w.eng.ImportFromApp(b.Context(), w.app); err != nil || res.Linked != users {
		b.Fatalf("linking the accounts: %+v, %v; want %d linked", res, err, users)
	}
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		res, err := w.eng.ImportGroups(b.Context(), w.app)
		if err != nil {
			b.Fatal(err)
		}
		if res.Own != groups {
			b.Fatalf("import = %+v, want %d groups of the app's own", res, groups)
		}
		b.ReportMetric(float64(groups)/time.Since(start).Seconds(), "groups/s")
	}
}
