-- The console's user list and search read one covering index in
-- (name_key, id) order instead of five (0014's objects_user_sort and an
-- index per lower-cased e-mail, display, given and family name). Each
-- index whose keys scatter costs the first import of 100,000 users about
-- 0.4–0.5 s; the search tests the five prefixes on the index's columns
-- in one scan that stops at the page's end (sqlstore's ScanUserSearch).
DROP INDEX objects_user_sort;
DROP INDEX objects_user_email;
DROP INDEX objects_user_display;
DROP INDEX objects_user_given;
DROP INDEX objects_user_family;
CREATE INDEX objects_user_search ON objects (name_key, id, lower(email), lower(display_name), lower(given_name), lower(family_name))
	WHERE kind = 'user';
