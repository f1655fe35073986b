-- A purged user's app accounts outlive it (issue 13): the purge deletes the
-- user's row and queues a job per account in the same transaction, and the
-- job deletes the account in the app (or opens a task) from the account's
-- own row. So accounts.user_id no longer references objects.
ALTER TABLE accounts DROP CONSTRAINT IF EXISTS accounts_user_id_fkey;
