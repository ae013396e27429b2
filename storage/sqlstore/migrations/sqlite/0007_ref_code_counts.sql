-- How many invite codes each user was issued in a programme, revoked ones
-- included (codes are never deleted). CreateCode raises the count with a
-- guarded upsert that refuses to pass the programme's limit
-- (referral.Programme.CodeLimit) in the transaction of the code's insert.
-- Filled from ref_codes here.
-- Cost: the INSERT reads every code once and writes a row per user who
-- holds codes, under the database's write lock. Not measured.
CREATE TABLE {{prefix}}ref_code_counts (
    programme_id VARCHAR(128) NOT NULL,
    user_id      VARCHAR(128) NOT NULL,
    issued       INTEGER NOT NULL,
    PRIMARY KEY (programme_id, user_id)
);
INSERT INTO {{prefix}}ref_code_counts (programme_id, user_id, issued)
    SELECT programme_id, user_id, COUNT(*) FROM {{prefix}}ref_codes GROUP BY programme_id, user_id;
