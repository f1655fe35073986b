-- Group rules (issue 13): a rule names a group of a local directory and an
-- expression over a user's profile; the group holds exactly the users for
-- which it is true (server/rules). A group is one rule's at most. The rule
-- keeps what its last full evaluation found (full_*), the newest feed
-- position of a group change that may move its users (groups_pos: a full
-- evaluation is due while it is above full_pos), its last error, and the
-- run of kind rule that holds a change for an admin (paused_run, pending).
-- directories is a JSON list of the ids of the directories whose users it
-- covers (NULL: every directory).
CREATE TABLE group_rules (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	name          TEXT    NOT NULL,
	name_key      TEXT    NOT NULL UNIQUE,
	group_id      TEXT    NOT NULL UNIQUE REFERENCES objects (id),
	expr          TEXT    NOT NULL,
	directories   TEXT,
	created_by    TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	full_at       INTEGER,
	full_pos      INTEGER NOT NULL DEFAULT 0,
	full_matched  INTEGER NOT NULL DEFAULT 0,
	full_joined   INTEGER NOT NULL DEFAULT 0,
	full_left     INTEGER NOT NULL DEFAULT 0,
	full_errors   INTEGER NOT NULL DEFAULT 0,
	groups_pos    INTEGER NOT NULL DEFAULT 0,
	last_error    TEXT    NOT NULL DEFAULT '',
	last_error_at INTEGER,
	paused_run    INTEGER NOT NULL DEFAULT 0,
	pending       TEXT    NOT NULL DEFAULT ''
);
