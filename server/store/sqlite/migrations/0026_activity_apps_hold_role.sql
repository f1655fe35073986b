-- Push activity per app, and the role that set a hold (attacker review).
-- Keep it in step with postgres/migrations.

-- The overview's activity counted the pushes of every app in one row per
-- hour and kind: an app-admin limited to some apps saw the totals of all.
-- A push now counts under its app (app_id); changes applied, which belong
-- to no app, count under 0, and so do the pushes counted before this
-- migration (whose app nobody recorded): those show to the admins who
-- may see every app alone.
CREATE TABLE activity_by_app (
	hour   INTEGER NOT NULL,
	kind   TEXT    NOT NULL,
	app_id INTEGER NOT NULL DEFAULT 0,
	n      INTEGER NOT NULL,
	PRIMARY KEY (hour, kind, app_id)
) WITHOUT ROWID;
INSERT INTO activity_by_app (hour, kind, app_id, n) SELECT hour, kind, 0, n FROM activity;
DROP TABLE activity;
ALTER TABLE activity_by_app RENAME TO activity;

-- The role of the admin who set a hold: a hold is lifted by that role or
-- a higher one, so a group-admin does not lift a super-admin's hold. ''
-- for the holds set before (their role unknown): a super-admin's to lift.
ALTER TABLE objects ADD COLUMN hold_role TEXT NOT NULL DEFAULT '';
