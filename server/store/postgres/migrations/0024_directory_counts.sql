-- The console's counts of a directory's users and groups by status
-- (DirectoryStats: every page that lists directories) read this index
-- alone, in order: no temporary B-tree over 100,000 users.
CREATE INDEX objects_directory_status ON objects (directory_id, kind, status);
