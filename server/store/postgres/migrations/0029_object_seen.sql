-- Which run last saw each object, and when (the sweep's input), in a
-- narrow table of its own. Keep it in step with sqlite/migrations.
--
-- Every full import marks every object of its directory seen. On the
-- objects row that wrote a new version of the whole row (HOT, thanks to
-- objects' fillfactor, but still the whole row); here a mark is a narrow
-- row, updated in place where its page has room.
CREATE TABLE object_seen (
	object_id TEXT        COLLATE "C" PRIMARY KEY REFERENCES objects (id) ON DELETE CASCADE,
	run_id    BIGINT,
	at        TIMESTAMPTZ
) WITH (fillfactor = 50);
INSERT INTO object_seen (object_id, run_id, at)
	SELECT id, seen_run_id, seen_at FROM objects WHERE seen_run_id IS NOT NULL OR seen_at IS NOT NULL;
ALTER TABLE objects DROP COLUMN seen_run_id;
ALTER TABLE objects DROP COLUMN seen_at;
