package postgres_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/idsync/idsync/server/store/storetest"
)

// TestMembersDiffWritesOnlyTheChange: membership changes write only the
// rows that change. A trigger counts the membership rows each batch writes.
func TestMembersDiffWritesOnlyTheChange(t *testing.T) {
	ctx := t.Context()
	s, raw := openRaw(t)
	_, err := raw.Exec(ctx, `CREATE TABLE member_writes (op TEXT NOT NULL);
		CREATE FUNCTION count_member_write() RETURNS trigger LANGUAGE plpgsql AS
			$$ BEGIN INSERT INTO member_writes VALUES (lower(TG_OP)); RETURN NULL; END $$;
		CREATE TRIGGER member_writes AFTER INSERT OR UPDATE OR DELETE ON memberships
			FOR EACH ROW EXECUTE FUNCTION count_member_write()`)
	if err != nil {
		t.Fatalf("creating the trigger: %v", err)
	}
	storetest.MemberWrites(t, s, func() map[string]int {
		t.Helper()
		rows, err := raw.Query(ctx, `DELETE FROM member_writes RETURNING op`)
		if err != nil {
			t.Fatalf("counting writes: %v", err)
		}
		ops, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("counting writes: %v", err)
		}
		out := map[string]int{}
		for _, op := range ops {
			out[op]++
		}
		return out
	})
}
