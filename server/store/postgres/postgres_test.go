package postgres_test

import (
	"testing"

	"github.com/idsync/idsync/internal/testserver"
	"github.com/idsync/idsync/server/store"
	"github.com/idsync/idsync/server/store/postgres"
	"github.com/idsync/idsync/server/store/storetest"
)

func TestMain(m *testing.M) { testserver.Main(m) }

func open(tb testing.TB) store.Store {
	s, err := postgres.Open(tb.Context(), testserver.Postgres(tb))
	if err != nil {
		tb.Fatalf("postgres.Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func BenchmarkApplyBatch(b *testing.B) { storetest.BenchmarkApplyBatch(b, open) }
