-- Heap-only (HOT) updates, PostgreSQL.
-- A join updates its team's seats_taken and version, columns no index
-- reads, so the update can stay on the row's page without new index
-- entries when the page has room: fillfactor leaves that room (30 %).
-- The same holds for the per-user counters' upserts. The fillfactor
-- applies to pages written afterwards (new rows, and pages rewritten by
-- VACUUM FULL, CLUSTER or pg_repack); pages already full stay full, so the
-- room, and the HOT updates it allows, come as the tables turn over.
ALTER TABLE {{prefix}}teams SET (fillfactor = 70);
ALTER TABLE {{prefix}}user_limits SET (fillfactor = 70);
-- DueReservations reads reserved seats only. As a partial index, a seat
-- that is paid (or released) leaves it instead of getting a new entry.
-- Measured with examples/bench on this machine: +9-15 % groupbuy TPS at 8
-- clients, +4-10 % hot (BENCHMARKS.md, session E).
-- Cost: DROP INDEX takes an ACCESS EXCLUSIVE lock of seats, held until the
-- migration commits, so reads and writes of seats wait while the new
-- index builds (migrations run in a transaction, so not CONCURRENTLY).
-- Measured on PostgreSQL 15 with 2M seats: 1.5 s, reads and writes of
-- seats waiting.
DROP INDEX {{prefix}}seats_due;
CREATE INDEX {{prefix}}seats_due ON {{prefix}}seats (reserved_until, id) WHERE state = 'reserved';
