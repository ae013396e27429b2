-- Heap-only (HOT) updates, PostgreSQL.
-- A join updates its team's seats_taken and version, columns no index
-- reads, so the update can stay on the row's page without new index
-- entries when the page has room: fillfactor leaves that room (30 %).
-- The same holds for the per-user counters' upserts.
ALTER TABLE {{prefix}}teams SET (fillfactor = 70);
ALTER TABLE {{prefix}}user_limits SET (fillfactor = 70);
-- DueReservations reads reserved seats only. As a partial index, a seat
-- that is paid (or released) leaves it instead of getting a new entry.
-- Measured with examples/bench on this machine: +9-15 % groupbuy TPS at 8
-- clients, +4-10 % hot (BENCHMARKS.md, session E). Building the index
-- blocks writes to seats while it runs (migrations run in a transaction,
-- so not CONCURRENTLY).
DROP INDEX {{prefix}}seats_due;
CREATE INDEX {{prefix}}seats_due ON {{prefix}}seats (reserved_until, id) WHERE state = 'reserved';
