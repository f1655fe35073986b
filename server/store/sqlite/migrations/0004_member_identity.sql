-- The identity of a member value, where the directory names it (Active
-- Directory's extended DNs: the member's objectGUID, its external id).
-- A row keyed by a DN the hub never knew the member by (read between two
-- renames it did not all see) is rekeyed when the member arrives.
ALTER TABLE memberships ADD COLUMN member_ext TEXT NOT NULL DEFAULT '';
CREATE INDEX memberships_member_ext ON memberships (member_ext) WHERE member_ext <> '';
