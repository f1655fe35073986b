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

// Queue benchmark sizes: the 10,000 users of the provisioning benchmark,
// pushed by 8 workers claiming 16 jobs at a time.
const (
	benchJobs       = 10_000
	benchWorkers    = 8
	benchClaimBatch = 16
)

// BenchmarkQueue enqueues 10,000 user jobs of one app ("enqueue") and
// drains them with 8 workers that each claim 16 at a time and complete
// them one by one ("claim and complete"). It reports jobs/s.
func BenchmarkQueue(b *testing.B, open BenchOpener) {
	targets := make([]string, benchJobs)
	for i := range targets {
		targets[i] = benchUser(i).ExternalID
	}
	// fill makes a store with an app, and its jobs when queued is set.
	fill := func(queued bool) (store.Store, *store.App) {
		s := open(b)
		a := newApp(b, s, "bench")
		if queued {
			for _, target := range targets {
				enqueue(b, s, a.ID, store.JobUser, target, at(0))
			}
		}
		return s, a
	}
	b.Run("enqueue", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s, a := fill(false)
			b.StartTimer()
			for _, target := range targets {
				enqueue(b, s, a.ID, store.JobUser, target, at(0))
			}
			b.StopTimer()
			must(b, "Close", s.Close())
			b.StartTimer()
		}
		b.ReportMetric(float64(benchJobs*b.N)/b.Elapsed().Seconds(), "jobs/s")
	})
	b.Run("claim and complete", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s, a := fill(true)
			b.StartTimer()
			completed, failed := drain(b, s, a.ID, benchJobs, benchWorkers, benchClaimBatch)
			b.StopTimer()
			if len(completed) != benchJobs || failed > 0 {
				b.Fatalf("%d jobs completed, %d completions failed; want %d, none", len(completed), failed, benchJobs)
			}
			must(b, "Close", s.Close())
			b.StartTimer()
		}
		b.ReportMetric(float64(benchJobs*b.N)/b.Elapsed().Seconds(), "jobs/s")
	})
}
