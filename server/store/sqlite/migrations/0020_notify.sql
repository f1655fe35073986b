-- Notifications (issue 16). A notice is one event admins are told of,
-- written in the transaction of the change it tells (a task opened, a push
-- dead-lettered, a sweep paused by the safeguard, an app paused) or, for
-- a condition the hub finds (an agent offline, a certificate expiring),
-- once per key. The dispatcher files each notice into the open digest
-- (delivery) of every channel that wants its kind; a delivery is sent
-- once its digest window ends, retried with backoff, dead after N tries.
CREATE TABLE notify_channels (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT    NOT NULL UNIQUE,
	kind       TEXT    NOT NULL,
	config     TEXT    NOT NULL,
	secret     BLOB,
	events     TEXT    NOT NULL,
	digest_ms  BIGINT  NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL
);
CREATE TABLE notices (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	kind       TEXT    NOT NULL,
	app_id     INTEGER NOT NULL DEFAULT 0,
	subject    TEXT    NOT NULL DEFAULT '',
	ref        TEXT    NOT NULL DEFAULT '',
	detail     TEXT    NOT NULL DEFAULT '',
	dedup_key  TEXT,
	dispatched INTEGER NOT NULL DEFAULT 0,
	at         INTEGER NOT NULL
);
CREATE UNIQUE INDEX notices_key ON notices (dedup_key) WHERE dedup_key IS NOT NULL;
CREATE INDEX notices_pending ON notices (id) WHERE dispatched = FALSE;
CREATE TABLE notify_deliveries (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	channel_id  INTEGER NOT NULL REFERENCES notify_channels (id),
	state       TEXT    NOT NULL,
	events      INTEGER NOT NULL DEFAULT 0,
	due_at      INTEGER NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	next_at     INTEGER NOT NULL,
	last_error  TEXT    NOT NULL DEFAULT '',
	owner       TEXT    NOT NULL DEFAULT '',
	lease_until INTEGER,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	sent_at     INTEGER
);
CREATE UNIQUE INDEX notify_deliveries_collecting ON notify_deliveries (channel_id) WHERE state = 'collecting';
CREATE INDEX notify_deliveries_due ON notify_deliveries (state, next_at);
CREATE TABLE notify_items (
	delivery_id INTEGER NOT NULL REFERENCES notify_deliveries (id),
	notice_id   INTEGER NOT NULL REFERENCES notices (id),
	PRIMARY KEY (delivery_id, notice_id)
);
