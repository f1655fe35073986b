-- objects_directory_status (0024) is dropped. With it, SQLite (which plans
-- without statistics) resolved each member row of a group through
-- (directory_id, kind) — every user of the directory per member — instead
-- of the member's DN: pushing a group of 10,000 users stalled the queue.
-- The directory counts read objects_directory (directory_id, kind, id,
-- status), which holds the same columns; and every user row writes one
-- index fewer.
DROP INDEX objects_directory_status;
