-- A directory's password rules (issue 16), as written
-- ("min-length=14,classes=3,not-username,not-reused"; '' none), and the
-- salted digests of the passwords the hub set for each user there, which
-- not-reused compares against (the newest few per user are kept).
ALTER TABLE directories ADD COLUMN password_policy TEXT NOT NULL DEFAULT '';
CREATE TABLE password_history (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	directory_id INTEGER NOT NULL REFERENCES directories (id),
	user_id      TEXT    NOT NULL,
	salt         BLOB    NOT NULL,
	digest       BLOB    NOT NULL,
	created_at   INTEGER NOT NULL
);
CREATE INDEX password_history_user ON password_history (directory_id, user_id, id);
