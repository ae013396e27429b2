-- How many invite codes each user was issued in a programme, revoked ones
-- included (codes are never deleted). CreateCode makes sure of the row
-- and raises the count with a guarded UPDATE that refuses to pass the
-- programme's limit (referral.Programme.CodeLimit), in the transaction of
-- the code's insert: the row's lock serialises a user's concurrent
-- issuers, so they cannot exceed the limit together. Filled from ref_codes
-- here; the INSERT counts again on a rerun after a crash (DDL commits at
-- once on MySQL, so the table may exist, filled, without its version row).
-- Cost: the INSERT ... SELECT reads every code once (the ref_codes_user
-- index, in order) and writes a row per user who holds codes; under
-- REPEATABLE READ it takes shared locks on the index entries it reads, so
-- issuing codes waits for the scan. Not measured.
CREATE TABLE IF NOT EXISTS {{prefix}}ref_code_counts (
    programme_id VARCHAR(128) NOT NULL,
    user_id      VARCHAR(128) NOT NULL,
    issued       INT NOT NULL,
    PRIMARY KEY (programme_id, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO {{prefix}}ref_code_counts (programme_id, user_id, issued)
    SELECT programme_id, user_id, COUNT(*) FROM {{prefix}}ref_codes GROUP BY programme_id, user_id
    ON DUPLICATE KEY UPDATE issued = VALUES(issued);
