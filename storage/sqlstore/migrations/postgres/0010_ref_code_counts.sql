-- How many invite codes each user was issued in a programme, revoked ones
-- included (codes are never deleted). CreateCode raises the count with a
-- guarded upsert that refuses to pass the programme's limit
-- (referral.Programme.CodeLimit) in the transaction of the code's insert:
-- the row's lock serialises a user's concurrent issuers, so they cannot
-- exceed the limit together. Filled from ref_codes here.
-- Cost: CREATE TABLE is a catalog change; the INSERT reads every code
-- once (one scan and a hash aggregate) and writes a row per user who
-- holds codes, in the migration's transaction; ref_codes is not locked
-- against writes, so codes issued by a previous release while it runs
-- (or after it) are not counted. Measured (BENCHMARKS.md, session V): on
-- 1,000,000 codes of 200,000 users the INSERT took 0.45-0.59 s.
CREATE TABLE {{prefix}}ref_code_counts (
    programme_id VARCHAR(128) COLLATE "C" NOT NULL,
    user_id      VARCHAR(128) COLLATE "C" NOT NULL,
    issued       INTEGER NOT NULL,
    PRIMARY KEY (programme_id, user_id)
);
INSERT INTO {{prefix}}ref_code_counts (programme_id, user_id, issued)
    SELECT programme_id, user_id, COUNT(*) FROM {{prefix}}ref_codes GROUP BY programme_id, user_id;
