-- The capabilities an agent announced in its last Hello (a JSON array of
-- strings), so that admins see what each agent can do.
ALTER TABLE agents ADD COLUMN capabilities TEXT;
