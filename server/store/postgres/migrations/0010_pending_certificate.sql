-- A renewed agent certificate is pending until the agent first connects
-- with it; then it becomes the current one and the old one is refused. Until
-- then the old one still serves, so that an agent whose stream broke before
-- the renewal reached it is not locked out.
ALTER TABLE agents ADD COLUMN pending_cert_serial TEXT NOT NULL DEFAULT '';
ALTER TABLE agents ADD COLUMN pending_cert_expires_at TIMESTAMPTZ;
