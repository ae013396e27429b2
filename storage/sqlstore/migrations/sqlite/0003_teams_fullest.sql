-- OpenTeams in MatchFullest order by an index scan that stops after the
-- limit, instead of reading and sorting every forming team of the campaign.
CREATE INDEX IF NOT EXISTS {{prefix}}teams_fullest ON {{prefix}}teams (campaign_id, seats_taken DESC, expires_at, id)
    WHERE state = 'forming';
