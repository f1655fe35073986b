package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

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

// openRaw opens a store on a fresh database and a raw connection to the
// same database, for the tests that look under the store; both close when
// the test ends.
func openRaw(t *testing.T) (*postgres.Store, *pgx.Conn) {
	t.Helper()
	dsn := testserver.Postgres(t)
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connecting: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return s, c
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func BenchmarkApplyBatch(b *testing.B) { storetest.BenchmarkApplyBatch(b, open) }

func BenchmarkQueue(b *testing.B) { storetest.BenchmarkQueue(b, open) }

func BenchmarkNesting(b *testing.B) { storetest.BenchmarkNesting(b, open) }

func BenchmarkNestingByID(b *testing.B) { storetest.BenchmarkNestingByID(b, open) }
