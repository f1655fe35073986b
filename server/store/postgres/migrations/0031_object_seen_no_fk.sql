-- object_seen's rows name their objects without a foreign key on
-- PostgreSQL (SQLite keeps its own: a probe of the objects index there).
-- PostgreSQL checks a foreign key with a trigger per row that locks the
-- referenced objects row (FOR KEY SHARE): a re-import that marked 100,000
-- objects seen for the first time took a lock on each, writing every page
-- of objects again (re-import at 100,000 users: 4.7 s, PostgreSQL's CPU
-- 3.5 s; 2.3 s without it). A purge deletes an object's mark itself.
ALTER TABLE object_seen DROP CONSTRAINT IF EXISTS object_seen_object_id_fkey;
