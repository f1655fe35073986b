package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/sqlite"
	"github.com/idsync/idsync/server/store/storetest"
)

func open(tb testing.TB) store.Store {
	s, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "hub.db"))
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func BenchmarkApplyBatch(b *testing.B) { storetest.BenchmarkApplyBatch(b, open) }

func BenchmarkQueue(b *testing.B) { storetest.BenchmarkQueue(b, open) }

func BenchmarkNesting(b *testing.B) { storetest.BenchmarkNesting(b, open) }

func BenchmarkNestingByID(b *testing.B) { storetest.BenchmarkNestingByID(b, open) }
