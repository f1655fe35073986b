-- Downstream provisioning (issue 4), SQLite dialect. Keep it in step with
-- postgres/migrations/0003_provisioning.sql.

-- The change feed. feed_pos is the feed position of an object's last real
-- write (NULL: not written since the feed began); feed_counter holds the
-- newest position. A transaction that writes objects reads the counter,
-- writes them at the next position and stores it, so positions follow the
-- order of commits.
ALTER TABLE objects ADD COLUMN feed_pos INTEGER;
CREATE INDEX objects_feed ON objects (feed_pos, id);
CREATE TABLE feed_counter (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	pos INTEGER NOT NULL
);
INSERT INTO feed_counter (id, pos) VALUES (1, 0);

-- When an object became deprovisioned (NULL unless it is). For the objects
-- deprovisioned before this column, their last write is the best guess.
ALTER TABLE objects ADD COLUMN deprovisioned_at INTEGER;
UPDATE objects SET deprovisioned_at = updated_at WHERE status = 'deprovisioned';

-- Downstream apps. Booleans are 0 or 1; durations milliseconds; scopes and
-- mapping JSON; secret the ciphertext the hub hands in.
CREATE TABLE apps (
	id                    INTEGER PRIMARY KEY AUTOINCREMENT,
	name                  TEXT    NOT NULL UNIQUE,
	scim_url              TEXT    NOT NULL DEFAULT '',
	auth_kind             TEXT    NOT NULL DEFAULT '',
	username              TEXT    NOT NULL DEFAULT '',
	token_url             TEXT    NOT NULL DEFAULT '',
	scopes                TEXT,
	secret                BLOB,
	allow_create          INTEGER NOT NULL DEFAULT 0,
	allow_update          INTEGER NOT NULL DEFAULT 0,
	allow_deactivate      INTEGER NOT NULL DEFAULT 0,
	allow_delete          INTEGER NOT NULL DEFAULT 0,
	push_groups           INTEGER NOT NULL DEFAULT 0,
	update_mode           TEXT    NOT NULL DEFAULT '',
	rate_limit            REAL    NOT NULL DEFAULT 0,
	concurrency           INTEGER NOT NULL DEFAULT 0,
	mapping               TEXT,
	match_by              TEXT    NOT NULL DEFAULT '',
	delete_after_ms       INTEGER NOT NULL DEFAULT 0,
	reconcile_interval_ms INTEGER NOT NULL DEFAULT 0,
	patch_supported       INTEGER,
	status                TEXT    NOT NULL DEFAULT 'active',
	status_message        TEXT    NOT NULL DEFAULT '',
	created_at            INTEGER NOT NULL,
	updated_at            INTEGER NOT NULL
);

-- A user, or a group's members through nesting, in scope of an app.
CREATE TABLE assignments (
	app_id     INTEGER NOT NULL REFERENCES apps (id),
	kind       TEXT    NOT NULL,
	target_id  TEXT    NOT NULL REFERENCES objects (id),
	created_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, kind, target_id)
) WITHOUT ROWID;
CREATE INDEX assignments_target ON assignments (target_id, kind);

-- A user's account in an app, as idsync last made it.
CREATE TABLE accounts (
	app_id         INTEGER NOT NULL REFERENCES apps (id),
	user_id        TEXT    NOT NULL REFERENCES objects (id),
	remote_id      TEXT    NOT NULL DEFAULT '',
	state          TEXT    NOT NULL,
	pushed         BLOB,
	hash           TEXT    NOT NULL DEFAULT '',
	linked         INTEGER NOT NULL DEFAULT 0,
	last_error     TEXT    NOT NULL DEFAULT '',
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	deactivated_at INTEGER,
	PRIMARY KEY (app_id, user_id)
);
CREATE UNIQUE INDEX accounts_remote ON accounts (app_id, remote_id) WHERE remote_id <> '';

-- The app's accounts an import from the app could not correlate.
CREATE TABLE unmatched (
	app_id    INTEGER NOT NULL REFERENCES apps (id),
	remote_id TEXT    NOT NULL,
	user_name TEXT    NOT NULL DEFAULT '',
	email     TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (app_id, remote_id)
);

-- Hub groups pushed to an app, and the users idsync put in them.
CREATE TABLE pushed_groups (
	app_id     INTEGER NOT NULL REFERENCES apps (id),
	group_id   TEXT    NOT NULL REFERENCES objects (id),
	remote_id  TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	PRIMARY KEY (app_id, group_id)
);
CREATE TABLE pushed_members (
	app_id   INTEGER NOT NULL,
	group_id TEXT    NOT NULL,
	user_id  TEXT    NOT NULL,
	PRIMARY KEY (app_id, group_id, user_id),
	FOREIGN KEY (app_id, group_id) REFERENCES pushed_groups (app_id, group_id)
) WITHOUT ROWID;

-- The durable job queue. An app, kind and target has at most one open
-- (queued or running) job, into which Enqueue coalesces, and at most one
-- dead job (the newest). jobs_due serves claims in NextAt order; jobs_done
-- the pruning of done jobs.
CREATE TABLE jobs (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	app_id      INTEGER NOT NULL REFERENCES apps (id),
	kind        TEXT    NOT NULL,
	target      TEXT    NOT NULL DEFAULT '',
	state       TEXT    NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	next_at     INTEGER NOT NULL,
	last_error  TEXT    NOT NULL DEFAULT '',
	again       INTEGER NOT NULL DEFAULT 0,
	owner       TEXT    NOT NULL DEFAULT '',
	lease_until INTEGER,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	finished_at INTEGER
);
CREATE UNIQUE INDEX jobs_open ON jobs (app_id, kind, target) WHERE state IN ('queued', 'running');
CREATE UNIQUE INDEX jobs_dead ON jobs (app_id, kind, target) WHERE state = 'dead';
CREATE INDEX jobs_due ON jobs (app_id, state, next_at, id);
CREATE INDEX jobs_done ON jobs (finished_at) WHERE state = 'done';

-- Manual tasks; an app, user and kind has at most one open task.
CREATE TABLE tasks (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	app_id      INTEGER NOT NULL REFERENCES apps (id),
	user_id     TEXT    NOT NULL DEFAULT '',
	kind        TEXT    NOT NULL,
	state       TEXT    NOT NULL,
	detail      TEXT    NOT NULL DEFAULT '',
	note        TEXT    NOT NULL DEFAULT '',
	resolved_by TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	resolved_at INTEGER
);
CREATE UNIQUE INDEX tasks_open ON tasks (app_id, user_id, kind) WHERE state = 'open';
CREATE INDEX tasks_app ON tasks (app_id, id);

-- Named feed positions (a consumer's cursor) and named leases (a loop that
-- runs on one hub replica at a time).
CREATE TABLE cursors (
	name       TEXT    PRIMARY KEY,
	pos        INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);
CREATE TABLE leases (
	name       TEXT    PRIMARY KEY,
	holder     TEXT    NOT NULL,
	expires_at INTEGER NOT NULL
);
