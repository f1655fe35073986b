-- The console's user list and search read one covering index in
-- (name_key, id) order instead of five: 0014's objects_user_sort and an
-- index per lower-cased e-mail, display, given and family name. Each
-- index whose keys scatter costs the first import of 100,000 users about
-- 0.4–0.5 s: 6.22 s/op with the five, 4.27 without them, 5.48 with this
-- one (issue 17). The search tests the five prefixes on this index's
-- columns, never reading the table row of a user that does not match, in
-- one scan that stops at the page's end (sqlstore's ScanUserSearch).
--
-- The narrower (name_key, id) alone saves a further 0.5–0.7 s per import
-- but reads every user's row where few match: at 100,000 users a search
-- that matches nobody took 108 ms at p50 and 150–158 ms at p99, the
-- typeahead 150–170 ms at p99, against 48/54–71 ms and 83–114 ms with
-- this index (25/33–41 and 2.5/5–8 ms with the five), on a machine at
-- load 2–3.
DROP INDEX objects_user_sort;
DROP INDEX objects_user_email;
DROP INDEX objects_user_display;
DROP INDEX objects_user_given;
DROP INDEX objects_user_family;
CREATE INDEX objects_user_search ON objects (name_key, id, lower(email), lower(display_name), lower(given_name), lower(family_name))
	WHERE kind = 'user';
