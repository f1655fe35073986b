-- The user search's covering index in id order, where 0030's was in
-- (name_key, id) order (issue 17). An import writes objects in id order
-- (UUIDv7, made as it inserts): an index that leads with id grows at its
-- end, where one that leads with a name takes each entry at a scattered
-- page, and 0030's wide entries made that the first import's dearest
-- write. BenchmarkApplyBatch, first import of 100,000 users, in
-- interleaved runs: 5.30 and 5.38 s/op with 0030's index, 4.22 and 3.76
-- s/op with this one (2.9–3.2 s/op with none); make bench, the hub's CPU
-- in the first import: 4.21 and 4.98 s before, 3.56 and 4.37 s after.
--
-- The console lists users in name order from objects_name_key (name_key,
-- directory_id, kind), sorting only users of one name key by id (the
-- last term of the ORDER BY), and stops at the page's end. A search by
-- prefix takes the page's ids from a scan of objects_user_search, which
-- tests the five prefixes on its entries and sorts the matches' name
-- keys and ids without reading their rows, then reads the page's rows
-- (sqlstore's ScanUserSearch). The price is that scan, where 0030's
-- stopped after a page of matches: at 100,000 users a search that
-- matches 100 or 1,100 users takes 50–66 ms at p50 (was 19–36 ms), one
-- that matches everyone 46–68 ms (was 18–23 ms), one that matches nobody
-- 49–70 ms (was 47–52 ms), on a machine at load 2.
DROP INDEX objects_user_search;
CREATE INDEX objects_user_search ON objects (id, name_key, lower(email), lower(display_name), lower(given_name), lower(family_name))
	WHERE kind = 'user';
