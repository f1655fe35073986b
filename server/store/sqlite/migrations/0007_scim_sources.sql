-- SCIM sources (upstream HR systems) are directories of kind "scim": each
-- has the hash of its bearer token, and the profile fields it masters (a
-- JSON array; NULL: every field).
ALTER TABLE directories ADD COLUMN mastered TEXT;
ALTER TABLE directories ADD COLUMN source_token_hash BLOB;
CREATE UNIQUE INDEX directories_source_token ON directories (source_token_hash) WHERE source_token_hash IS NOT NULL;
