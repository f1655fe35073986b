-- Apps that write users into a directory through its agents (AD or
-- OpenLDAP as a provisioning target) keep their settings in target (JSON).
ALTER TABLE apps ADD COLUMN target JSONB;
-- The entries those apps wrote, by DN key (recorded before the create is
-- sent) and by the directory's id (once known): the change stream skips
-- them when they come back. No foreign keys: the entries outlive the app
-- and the user in the directory, and must stay recognised.
CREATE TABLE directory_writes (
	app_id       BIGINT NOT NULL,
	user_id      TEXT COLLATE "C" NOT NULL,
	directory_id BIGINT NOT NULL,
	dn_key       TEXT COLLATE "C" NOT NULL,
	external_id  TEXT COLLATE "C" NOT NULL DEFAULT '',
	PRIMARY KEY (app_id, user_id)
);
CREATE INDEX directory_writes_external ON directory_writes (directory_id, external_id);
CREATE INDEX directory_writes_dn ON directory_writes (directory_id, dn_key);
