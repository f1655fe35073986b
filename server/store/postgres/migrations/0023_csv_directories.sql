-- A csv directory's file layout (issue 16, bulk import from files), as
-- JSON: the id column, the status column and its active values. NULL for
-- the other kinds.
ALTER TABLE directories ADD COLUMN csv_layout TEXT;
