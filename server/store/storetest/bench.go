package storetest

import (
	"fmt"
	"testing"

	"github.com/idsync/idsync/server/store"
)

// BenchOpener opens a fresh, empty store for a benchmark and cleans up
// after it (the benchmark closes the store).
type BenchOpener func(tb testing.TB) store.Store

// Benchmark sizes: a full import of a large directory as the agent sends it.
const (
	benchUsers     = 100_000
	benchBatchSize = 500
)

// BenchmarkApplyBatch imports 100,000 users in batches of 500 into a fresh
// store ("first import"), and imports them again unchanged into a store
// that holds them ("reimport unchanged"). It reports objects/s.
func BenchmarkApplyBatch(b *testing.B, open BenchOpener) {
	// Made once, outside the timer: the benchmark measures the store.
	users := make([]*store.Object, benchUsers)
	for i := range users {
		users[i] = benchUser(i)
	}
	b.Run("first import", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s := open(b)
			f := newFixture(b, s, "bench")
			b.StartTimer()
			benchImport(b, f, users)
			b.StopTimer()
			must(b, "Close", s.Close())
			b.StartTimer()
		}
		b.ReportMetric(float64(benchUsers*b.N)/b.Elapsed().Seconds(), "objects/s")
	})
	b.Run("reimport unchanged", func(b *testing.B) {
		s := open(b)
		defer s.Close()
		f := newFixture(b, s, "bench")
		benchImport(b, f, users)
		b.ResetTimer()
		for b.Loop() {
			benchImport(b, f, users)
		}
		b.ReportMetric(float64(benchUsers*b.N)/b.Elapsed().Seconds(), "objects/s")
	})
}

// benchImport runs one full import of users and checks its counters.
func benchImport(b *testing.B, f *fixture, users []*store.Object) {
	run := f.run(store.RunFull)
	for i := 0; i < len(users); i += benchBatchSize {
		f.upsert(run, users[i:min(i+benchBatchSize, len(users))]...)
	}
	f.end(run)
	r := f.getRun(run.ID)
	if r.Seen != benchUsers || r.Created+r.Unchanged != benchUsers {
		b.Fatalf("run counted %d seen, %d created, %d unchanged; want %d seen, all created or all unchanged",
			r.Seen, r.Created, r.Unchanged, benchUsers)
	}
}

// benchUser is user i of the benchmark directory; the same i gives the same
// object (and hash).
func benchUser(i int) *store.Object {
	return newUser(fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), fmt.Sprintf("user%06d", i))
}
