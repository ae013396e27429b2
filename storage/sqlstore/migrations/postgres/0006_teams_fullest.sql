-- OpenTeams in MatchFullest order (seats taken descending, then soonest to
-- expire, then ID) by an index scan that stops after the limit. Without it
-- the query read and sorted every forming team of the campaign: 1.7 ms of
-- server time per Match with 1,563 forming teams, growing with them; 0.26
-- ms with it (EXPLAIN ANALYZE, BENCHMARKS.md session E). A join now changes
-- an indexed column (seats_taken), so its team update is no longer HOT.
-- Cost: CREATE INDEX takes a SHARE lock of teams: writes of teams wait
-- while it builds, reads go on. Measured on PostgreSQL 15 with 2M teams:
-- 3.9 s.
CREATE INDEX {{prefix}}teams_fullest ON {{prefix}}teams (campaign_id, seats_taken DESC, expires_at, id)
    WHERE state = 'forming';
