-- A directory the hub may write users into (write-back) names, in
-- write_back (JSON), the OUs and groups it may write and whether created
-- accounts must change their password; the sealed expression of their
-- initial password is initial_password. NULL: not writable.
ALTER TABLE directories ADD COLUMN write_back JSONB;
ALTER TABLE directories ADD COLUMN initial_password BYTEA;
-- The initial password was an app's setting, sealed as the app's secret:
-- a directory target has no secret now (turned into a SCIM app, it would
-- have sent it to the new URL as a token).
UPDATE apps SET secret = NULL WHERE target IS NOT NULL;
-- An app's URLs may be plain http, or reach loopback and link-local
-- addresses and the hub's own listeners, only where a super-admin allowed
-- it. Apps from before start without: a super-admin allows them again.
ALTER TABLE apps ADD COLUMN allow_insecure_http BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE apps ADD COLUMN allow_local_addresses BOOLEAN NOT NULL DEFAULT FALSE;
