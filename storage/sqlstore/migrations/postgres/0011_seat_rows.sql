-- A team's seat rows, PostgreSQL (groupbuy.Team.SeatRows): the real seat
-- rows the team has ever had, its leader's and one per join or match,
-- released ones included. A join and a match take a team only while
-- seat_rows < groupbuy.MaxSeatRows(capacity) (4 * capacity + 8), so that
-- joins cancelled in a loop cannot grow the rows that a close, a filling
-- payment and the team's payloads read. No index holds the column, so it
-- adds no index entry (a join's team update is not HOT anyway: it changes
-- seats_taken, which teams_fullest (0006) holds).
-- Forming teams get their count of seat rows (a forming team has no bot
-- rows: a virtual fill inserts them as it closes the team); closed teams
-- take no joins and keep 0. A team opened by an instance of the previous
-- release after this migration also starts at 0, and its joins by such an
-- instance are not counted: the bound holds from the upgrade on.
-- Cost: ADD COLUMN with a constant default changes the catalog only, but
-- takes an ACCESS EXCLUSIVE lock of teams, held until the migration
-- commits; the UPDATE rewrites every forming team's row after counting
-- its seats through the (team_id, active_user) key, so reads and writes
-- of teams wait for that. Not measured.
ALTER TABLE {{prefix}}teams ADD COLUMN seat_rows INTEGER NOT NULL DEFAULT 0;
UPDATE {{prefix}}teams t SET seat_rows = (SELECT COUNT(*) FROM {{prefix}}seats s WHERE s.team_id = t.id) WHERE t.state = 'forming';
