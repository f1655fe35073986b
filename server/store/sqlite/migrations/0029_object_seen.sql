-- Which run last saw each object, and when (the sweep's input), in a
-- narrow table of its own. Keep it in step with postgres/migrations.
--
-- Every full import marks every object of its directory seen. On the
-- objects row that rewrote the whole row, about 600 bytes, so a re-import
-- that found 100,000 users unchanged wrote every page of the table (67 MB
-- of WAL) to change 16 bytes per user: 0.51 s of the store's 1.19 s
-- (BenchmarkApplyBatch, reimport unchanged). Here a mark is about 60
-- bytes, in object id order, which is an import's order (ids are UUIDv7).
CREATE TABLE object_seen (
	object_id TEXT    PRIMARY KEY REFERENCES objects (id) ON DELETE CASCADE,
	run_id    INTEGER,
	at        INTEGER
) WITHOUT ROWID;
INSERT INTO object_seen (object_id, run_id, at)
	SELECT id, seen_run_id, seen_at FROM objects WHERE seen_run_id IS NOT NULL OR seen_at IS NOT NULL;
-- SQLite rewrites the table to drop a column, once, at the upgrade.
ALTER TABLE objects DROP COLUMN seen_run_id;
ALTER TABLE objects DROP COLUMN seen_at;
