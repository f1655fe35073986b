-- Real-time change capture (issue 3), PostgreSQL dialect. Keep it in step
-- with sqlite/migrations/0002_capture.sql. No statement rewrites a table:
-- the new columns are NULL or have a constant default.

-- A directory's capture settings; intervals in milliseconds, 0: default.
ALTER TABLE directories
	ADD COLUMN capture_strategy        TEXT   NOT NULL DEFAULT '',
	ADD COLUMN poll_interval_ms        BIGINT NOT NULL DEFAULT 0,
	ADD COLUMN full_import_interval_ms BIGINT NOT NULL DEFAULT 0;

-- How an incremental run captures changes (syncrepl, dirsync, psearch, poll).
ALTER TABLE runs ADD COLUMN strategy TEXT NOT NULL DEFAULT '';

-- revision counts the real writes of an object: the objects already here
-- were written once. captured_at is when change capture last wrote, deleted
-- or confirmed the object; a full run that started at or before it does
-- not overwrite it with its older snapshot. Neither is indexed, so the
-- updates that set them stay HOT.
ALTER TABLE objects
	ADD COLUMN revision    BIGINT NOT NULL DEFAULT 1,
	ADD COLUMN captured_at TIMESTAMPTZ;

-- The newest capture lag an agent's batches showed, in milliseconds.
ALTER TABLE agents ADD COLUMN lag_ms BIGINT NOT NULL DEFAULT 0;

-- At most one open (running or paused) run per directory and kind, so that
-- two hub replicas cannot both start one. Older open runs that would break
-- it end as failed; the newest of each kind stays open.
UPDATE runs SET state = 'failed',
	message = 'ended on upgrade: a newer run of the same kind was open',
	finished_at = now()
	WHERE state IN ('running', 'paused_by_safeguard') AND id < (
		SELECT MAX(r.id) FROM runs r WHERE r.directory_id = runs.directory_id AND r.kind = runs.kind
		AND r.state IN ('running', 'paused_by_safeguard'));
CREATE UNIQUE INDEX runs_open ON runs (directory_id, kind) WHERE state IN ('running', 'paused_by_safeguard');
