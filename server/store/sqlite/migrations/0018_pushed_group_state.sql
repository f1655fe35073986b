-- What the hub knows of a group it pushes to an app (issue 15): the name
-- it last gave the app's group (a group renamed in the hub is renamed
-- there), the members it could not put in (no account in the app yet:
-- JSON array of user ids), when a reconcile asked the next push to read
-- the app's group (check_at) and when a push last did (checked_at), and
-- what the last read found changed in the app and set back (drift, at
-- drift_at).
ALTER TABLE pushed_groups ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE pushed_groups ADD COLUMN missing TEXT;
ALTER TABLE pushed_groups ADD COLUMN check_at INTEGER;
ALTER TABLE pushed_groups ADD COLUMN checked_at INTEGER;
ALTER TABLE pushed_groups ADD COLUMN drift TEXT NOT NULL DEFAULT '';
ALTER TABLE pushed_groups ADD COLUMN drift_at INTEGER;
