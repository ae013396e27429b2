-- OpenTeams in MatchFullest order (seats taken descending, then soonest to
-- expire, then ID) by an index scan that stops after the limit, instead of
-- reading and sorting every forming team of the campaign. MySQL 8 has no
-- CREATE INDEX IF NOT EXISTS: Migrate treats "duplicate key name" on a
-- CREATE INDEX as already applied, for a rerun after a crash between the
-- statement and its version row.
CREATE INDEX {{prefix}}teams_fullest ON {{prefix}}teams (state, campaign_id, seats_taken DESC, expires_at, id);
