-- Admin tokens carry a scope: the groups a group-admin may assign apps
-- for, the apps an app-admin may manage (JSON arrays; empty = all apps).
ALTER TABLE admin_tokens ADD COLUMN scope_groups TEXT;
ALTER TABLE admin_tokens ADD COLUMN scope_apps TEXT;
ALTER TABLE admin_tokens ADD COLUMN last_used_at INTEGER;
CREATE UNIQUE INDEX admin_tokens_live_name ON admin_tokens (name) WHERE revoked_at IS NULL AND name <> 'bootstrap';

-- The audit trail: append-only. Rows older than the retention are pruned
-- whole; no row is ever updated.
CREATE TABLE audit_events (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      INTEGER NOT NULL,
	actor   TEXT    NOT NULL,
	action  TEXT    NOT NULL,
	target  TEXT    NOT NULL DEFAULT '',
	outcome TEXT    NOT NULL,
	detail  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN
	SELECT RAISE(ABORT, 'audit events are append-only');
END;
