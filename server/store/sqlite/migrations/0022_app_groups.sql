-- The groups of an app (issue 16): `app import --groups` reads the app's
-- /Groups. A group a hub group is pushed as is linked to it (pushed_groups);
-- what such a group gained or lost in the app outside the hub is recorded
-- as found (at found_at), until a reconcile sets it back. Every other
-- group is the app's own, recorded here as the last import found it:
-- members is a JSON array of the hub user ids among its members (through
-- the accounts linked in the app), unlinked how many members are no
-- account of a hub user. Each import replaces an app's.
CREATE TABLE app_groups (
	app_id       INTEGER NOT NULL REFERENCES apps (id),
	remote_id    TEXT    NOT NULL,
	display_name TEXT    NOT NULL DEFAULT '',
	external_id  TEXT    NOT NULL DEFAULT '',
	members      TEXT,
	unlinked     INTEGER NOT NULL DEFAULT 0,
	imported_at  INTEGER NOT NULL,
	PRIMARY KEY (app_id, remote_id)
);
ALTER TABLE pushed_groups ADD COLUMN found TEXT NOT NULL DEFAULT '';
ALTER TABLE pushed_groups ADD COLUMN found_at INTEGER;
CREATE INDEX pushed_groups_group ON pushed_groups (group_id);
