-- The hub's schema, SQLite dialect. Times are Unix microseconds (UTC);
-- JSON is text. Keep it in step with postgres/migrations.

CREATE TABLE directories (
	id                INTEGER PRIMARY KEY AUTOINCREMENT,
	name              TEXT    NOT NULL UNIQUE,
	kind              TEXT    NOT NULL,
	base_dn           TEXT    NOT NULL DEFAULT '',
	user_filter       TEXT    NOT NULL DEFAULT '',
	group_filter      TEXT    NOT NULL DEFAULT '',
	mapping           TEXT,
	safeguard_percent INTEGER NOT NULL DEFAULT 0,
	safeguard_max     INTEGER NOT NULL DEFAULT 0,
	created_at        INTEGER NOT NULL
);

CREATE TABLE runs (
	id                  INTEGER PRIMARY KEY AUTOINCREMENT,
	directory_id        INTEGER NOT NULL REFERENCES directories (id),
	kind                TEXT    NOT NULL,
	state               TEXT    NOT NULL,
	run_trigger         TEXT    NOT NULL DEFAULT '',
	agent_id            TEXT    NOT NULL DEFAULT '',
	session_id          TEXT    NOT NULL DEFAULT '',
	seen                INTEGER NOT NULL DEFAULT 0,
	created             INTEGER NOT NULL DEFAULT 0,
	updated             INTEGER NOT NULL DEFAULT 0,
	unchanged           INTEGER NOT NULL DEFAULT 0,
	deprovisioned       INTEGER NOT NULL DEFAULT 0,
	errors              INTEGER NOT NULL DEFAULT 0,
	pending_deprovision INTEGER NOT NULL DEFAULT 0,
	message             TEXT    NOT NULL DEFAULT '',
	last_sequence       INTEGER NOT NULL DEFAULT 0,
	started_at          INTEGER NOT NULL,
	finished_at         INTEGER
);
CREATE INDEX runs_directory ON runs (directory_id, id);
CREATE INDEX runs_session ON runs (session_id, id) WHERE session_id <> '';

CREATE TABLE run_errors (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	run_id      INTEGER NOT NULL REFERENCES runs (id),
	dn          TEXT    NOT NULL DEFAULT '',
	external_id TEXT    NOT NULL DEFAULT '',
	kind        TEXT    NOT NULL DEFAULT '',
	message     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX run_errors_run ON run_errors (run_id, id);

-- Users and groups. Identity is (directory_id, external_id), never the DN.
CREATE TABLE objects (
	id              TEXT    PRIMARY KEY,
	directory_id    INTEGER NOT NULL REFERENCES directories (id),
	kind            TEXT    NOT NULL,
	external_id     TEXT    NOT NULL,
	dn              TEXT    NOT NULL DEFAULT '',
	dn_key          TEXT    NOT NULL DEFAULT '',
	status          TEXT    NOT NULL,
	hash            TEXT    NOT NULL DEFAULT '',
	username        TEXT    NOT NULL DEFAULT '',
	email           TEXT    NOT NULL DEFAULT '',
	given_name      TEXT    NOT NULL DEFAULT '',
	family_name     TEXT    NOT NULL DEFAULT '',
	display_name    TEXT    NOT NULL DEFAULT '',
	employee_number TEXT    NOT NULL DEFAULT '',
	department      TEXT    NOT NULL DEFAULT '',
	title           TEXT    NOT NULL DEFAULT '',
	manager         TEXT    NOT NULL DEFAULT '',
	extra           TEXT,
	name            TEXT    NOT NULL DEFAULT '',
	description     TEXT    NOT NULL DEFAULT '',
	-- lower(username) for users, lower(name) for groups.
	name_key        TEXT    NOT NULL DEFAULT '',
	seen_run_id     INTEGER,
	seen_at         INTEGER,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	UNIQUE (directory_id, external_id)
);
-- The indexes are shaped so that SQLite, planning without statistics,
-- still picks them: listing a directory's users in id order (paging), and
-- finding objects by DN key or name key (member resolution, Find*).
CREATE INDEX objects_directory ON objects (directory_id, kind, id, status);
CREATE INDEX objects_dn_key ON objects (dn_key, directory_id);
CREATE INDEX objects_name_key ON objects (name_key, directory_id, kind);
CREATE INDEX objects_group_name ON objects (name) WHERE kind = 'group';

-- A member value is resolved when read: "dn:<dn_key>" against objects.dn_key,
-- "uid:<lower username>" against users' name_key, in the group's directory.
CREATE TABLE memberships (
	group_id     TEXT NOT NULL REFERENCES objects (id),
	member_key   TEXT NOT NULL,
	member_value TEXT NOT NULL,
	PRIMARY KEY (group_id, member_key)
) WITHOUT ROWID;
CREATE INDEX memberships_member_key ON memberships (member_key);

CREATE TABLE checkpoints (
	directory_id INTEGER PRIMARY KEY REFERENCES directories (id),
	data         BLOB    NOT NULL,
	updated_at   INTEGER NOT NULL
);

CREATE TABLE enroll_tokens (
	hash       BLOB    PRIMARY KEY,
	directory  TEXT    NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	expires_at INTEGER,
	used_at    INTEGER,
	agent_id   TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE agents (
	id              TEXT PRIMARY KEY,
	name            TEXT NOT NULL DEFAULT '',
	directories     TEXT,
	cert_serial     TEXT NOT NULL DEFAULT '',
	cert_expires_at INTEGER,
	version         TEXT NOT NULL DEFAULT '',
	session_id      TEXT NOT NULL DEFAULT '',
	enrolled_at     INTEGER,
	last_seen       INTEGER,
	revoked_at      INTEGER
);

CREATE TABLE admin_tokens (
	id         TEXT    PRIMARY KEY,
	name       TEXT    NOT NULL DEFAULT '',
	role       TEXT    NOT NULL DEFAULT '',
	hash       BLOB    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	revoked_at INTEGER
);
