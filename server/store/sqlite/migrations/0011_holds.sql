-- An admin's hold on a user (issue 13): the status it keeps whatever the
-- user's directory or source says (hold_status: deprovisioned or suspended),
-- who set it, when and why. source_status is what the directory or source
-- says; status is the stronger of the two (deprovisioned, then suspended,
-- then active), so everything that reads status sees the hold.
ALTER TABLE objects ADD COLUMN source_status TEXT NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN hold_status TEXT NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN hold_by TEXT NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN hold_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE objects ADD COLUMN held_at INTEGER;
UPDATE objects SET source_status = status;
-- A directory's retention of deprovisioned users before they are purged
-- (0: the hub's default).
ALTER TABLE directories ADD COLUMN retention_ms BIGINT NOT NULL DEFAULT 0;
