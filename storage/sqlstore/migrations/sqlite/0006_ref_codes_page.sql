-- UserCodes reads a page of a user's codes from a position (created_at,
-- code): keyset paging needs an index in that whole order (SQLite's index
-- entries end with the rowid, not the code), so that a page is a range
-- scan of limit entries, not a scan and a sort of every code of the user.
-- It replaces ref_codes_user (programme_id, user_id, created_at).
CREATE INDEX {{prefix}}ref_codes_page ON {{prefix}}ref_codes (programme_id, user_id, created_at, code);
DROP INDEX {{prefix}}ref_codes_user;
