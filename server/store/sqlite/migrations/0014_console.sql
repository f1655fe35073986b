-- The admin console (issue 14). Keep it in step with postgres/migrations.

-- An admin grant binds a role to a directory group: the group's members
-- sign in to the console with their directory password and act with the
-- role, as long as they are members (checked on every request).
CREATE TABLE admin_grants (
	id           TEXT    PRIMARY KEY,
	role         TEXT    NOT NULL,
	group_id     TEXT    NOT NULL,
	scope_groups TEXT,
	scope_apps   TEXT,
	created_by   TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	revoked_at   INTEGER
);
CREATE UNIQUE INDEX admin_grants_live ON admin_grants (group_id, role) WHERE revoked_at IS NULL;

-- Console sessions, shared by the hub's replicas: the browser holds the
-- secret, the store its hash. A session is of an admin token or of a
-- grant and the directory user it signed in.
CREATE TABLE console_sessions (
	id           TEXT    PRIMARY KEY,
	hash         BLOB    NOT NULL UNIQUE,
	token_id     TEXT    NOT NULL DEFAULT '',
	grant_id     TEXT    NOT NULL DEFAULT '',
	user_id      TEXT    NOT NULL DEFAULT '',
	name         TEXT    NOT NULL DEFAULT '',
	addr         TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL
);
CREATE INDEX console_sessions_seen ON console_sessions (last_seen_at);
CREATE INDEX console_sessions_created ON console_sessions (created_at);

-- What the hub did per hour (changes applied, pushes succeeded and
-- failed), for the overview's charts: hour is Unix seconds / 3600.
CREATE TABLE activity (
	hour INTEGER NOT NULL,
	kind TEXT    NOT NULL,
	n    INTEGER NOT NULL,
	PRIMARY KEY (hour, kind)
) WITHOUT ROWID;

-- User search by a prefix of the username, e-mail or names, ordered by
-- username, paged: fast at 100,000 users.
CREATE INDEX objects_user_sort ON objects (name_key, id) WHERE kind = 'user';
CREATE INDEX objects_user_email ON objects (lower(email)) WHERE kind = 'user';
CREATE INDEX objects_user_display ON objects (lower(display_name)) WHERE kind = 'user';
CREATE INDEX objects_user_given ON objects (lower(given_name)) WHERE kind = 'user';
CREATE INDEX objects_user_family ON objects (lower(family_name)) WHERE kind = 'user';
