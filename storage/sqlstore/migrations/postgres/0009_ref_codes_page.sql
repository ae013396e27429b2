-- UserCodes reads a page of a user's codes from a position (created_at,
-- code): keyset paging needs an index in that whole order, so that a page
-- is a range scan of limit entries, not a scan and a sort of every code of
-- the user. It replaces ref_codes_user (programme_id, user_id,
-- created_at), of which it is an extension.
-- Cost: CREATE INDEX takes a SHARE lock of ref_codes (issuing codes waits;
-- reads go on) for one scan of the table; DROP INDEX an ACCESS EXCLUSIVE
-- lock, held until the migration commits (it is the last statement).
-- Measured on 1M codes: 8.9 s, issuing codes waited, reads went on.
CREATE INDEX {{prefix}}ref_codes_page ON {{prefix}}ref_codes (programme_id, user_id, created_at, code);
DROP INDEX {{prefix}}ref_codes_user;
