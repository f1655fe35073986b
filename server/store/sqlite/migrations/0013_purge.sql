-- A purged user's app accounts outlive it (issue 13): the purge deletes the
-- user's row and queues a job per account in the same transaction, and the
-- job deletes the account in the app (or opens a task) from the account's
-- own row. So accounts.user_id no longer references objects: SQLite drops
-- a foreign key by rebuilding the table.
CREATE TABLE accounts_new (
	app_id         INTEGER NOT NULL REFERENCES apps (id),
	user_id        TEXT    NOT NULL,
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
INSERT INTO accounts_new (app_id, user_id, remote_id, state, pushed, hash, linked, last_error, created_at, updated_at, deactivated_at)
	SELECT app_id, user_id, remote_id, state, pushed, hash, linked, last_error, created_at, updated_at, deactivated_at FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_new RENAME TO accounts;
CREATE UNIQUE INDEX accounts_remote ON accounts (app_id, remote_id) WHERE remote_id <> '';
