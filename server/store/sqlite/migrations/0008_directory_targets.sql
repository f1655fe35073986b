-- Apps that write users into a directory through its agents (AD or
-- OpenLDAP as a provisioning target) keep their settings in target (JSON).
ALTER TABLE apps ADD COLUMN target TEXT;
-- The entries those apps wrote, by DN key (recorded before the create is
-- sent) and by the directory's id (once known): the change stream skips
-- them when they come back. No foreign keys: the entries outlive the app
-- and the user in the directory, and must stay recognised.
CREATE TABLE directory_writes (
	app_id       INTEGER NOT NULL,
	user_id      TEXT NOT NULL,
	directory_id INTEGER NOT NULL,
	dn_key       TEXT NOT NULL,
	external_id  TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (app_id, user_id)
);
CREATE INDEX directory_writes_external ON directory_writes (directory_id, external_id);
CREATE INDEX directory_writes_dn ON directory_writes (directory_id, dn_key);
