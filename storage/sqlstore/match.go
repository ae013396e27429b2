package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
)

// MatchTeam implements groupbuy.Store. The team is picked with a locking
// read that skips rows other transactions hold locked (FOR NO KEY UPDATE
// SKIP LOCKED on PostgreSQL, FOR UPDATE SKIP LOCKED on MySQL; SQLite's
// write transaction holds the database lock, so it skips nothing): under
// contention the matchers spread over the teams with room instead of
// queueing on the first. On PostgreSQL the pick, the join, the events and
// the record are one statement, which opens w.Open's team instead when no
// team qualifies. On MySQL its own transactions are READ
// COMMITTED (see matchTxOptions); under WithTx the host's transaction
// keeps its level, and under REPEATABLE READ concurrent matches and
// payments may deadlock (a retryable error, see storage.IsRetryable).
func (s *Store) MatchTeam(ctx context.Context, w *groupbuy.MatchTeamWrite) (groupbuy.Team, groupbuy.Seat, error) {
	if err := checkCtx(ctx); err != nil {
		return groupbuy.Team{}, groupbuy.Seat{}, err
	}
	if err := groupbuy.CheckMatchTeamWrite(w); err != nil {
		return groupbuy.Team{}, groupbuy.Seat{}, err
	}
	var seat groupbuy.Seat
	var team groupbuy.Team
	var outcome matchOutcome // of the last attempt
	// Each attempt starts from the write's seat: a rerun may pick another
	// team, and must not keep the clamp of the team an earlier one picked.
	attempt := func() error {
		outcome = matchJoined
		if s.fast() {
			seat = w.Row()
			return s.pgMatch(ctx, w, &team, &seat, &outcome)
		}
		return s.inTxOpts(ctx, s.matchTxOptions(), func(r run) error {
			seat = w.Row()
			return s.matchTx(ctx, r, w, &team, &seat, &outcome)
		})
	}
	diagnose := func(r run) error {
		if outcome == matchOpenRefused {
			return s.diagnoseOpen(ctx, r, w.Open)
		}
		return s.diagnoseMatch(ctx, r, w)
	}
	err := s.command(ctx, attempt, diagnose)
	if err != nil {
		return groupbuy.Team{}, groupbuy.Seat{}, s.wrap(err, "match in campaign "+w.Seat.CampaignID)
	}
	if outcome == matchOpened {
		team, leader := openedRows(w.Open)
		return team, normSeat(leader), nil
	}
	return team, normSeat(seat), nil
}

// matchOutcome is what a match's attempt did; PostgreSQL's statement
// returns it as its last column.
type matchOutcome int

const (
	matchNoTeam      matchOutcome = iota // no team qualifies, and no Open
	matchJoined                          // joined the picked team
	matchOpened                          // opened w.Open's team
	matchOpenRefused                     // no team qualifies, and Open's guard failed
)

// matchTxOptions are the options of MatchTeam's own transactions. On
// MySQL they are READ COMMITTED: under REPEATABLE READ, InnoDB's locking
// read that picks the team also locks the gaps of the index it scans, and
// matchers then deadlock with the payments that move teams within that
// index.
func (s *Store) matchTxOptions() *sql.TxOptions {
	if s.d == MySQL {
		return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	return nil
}

// matchOrder is the ORDER BY of a match order (MatchRandom reads the
// fullest), over the teams' columns prefixed by p ("tm." or "").
func matchOrder(order groupbuy.MatchStrategy, p string) string {
	if order == groupbuy.MatchOldest {
		return p + "opened_at, " + p + "id"
	}
	return p + "seats_taken DESC, " + p + "expires_at, " + p + "id"
}

// matchQualifies is the condition a team tm meets to be picked by a match;
// its arguments are the campaign, Now, Exclude and the user.
var matchQualifies = `tm.state = 'forming' AND tm.campaign_id = ? AND tm.seats_taken < tm.capacity AND ` + seatRowsLeftTM + ` AND tm.expires_at > ? AND tm.id <> ?
		AND NOT EXISTS (SELECT 1 FROM {p}seats st WHERE st.team_id = tm.id AND st.active_user = ?)`

// matchTx is MatchTeam in a transaction: the record and the campaign are
// checked, the first qualifying team that no one else holds (MatchRandom:
// its first or second pick) is locked, and
// the join proceeds as joinTx's does once it holds the team. When no team
// qualifies it opens w.Open's team, if any, in the same transaction and
// sets *outcome.
func (s *Store) matchTx(ctx context.Context, r run, w *groupbuy.MatchTeamWrite, team *groupbuy.Team, seat *groupbuy.Seat, outcome *matchOutcome) error {
	if err := s.replayIfRecorded(ctx, r, w.Idem); err != nil {
		return err
	}
	if err := s.campaignTakesSeats(ctx, r, w.Seat.CampaignID); err != nil {
		return err
	}
	lock := s.forUpdate()
	if lock != "" {
		lock += " SKIP LOCKED"
	}
	args := []any{w.Seat.CampaignID, s.t(w.Now), w.Exclude, w.Seat.UserID}
	var t groupbuy.Team
	var err error
	if w.Order == groupbuy.MatchRandom {
		t, err = s.pickRandom(ctx, r, w.Pick, lock, args)
	} else {
		t, err = s.scanTeam(r.row(ctx, `SELECT `+teamCols+` FROM {p}teams tm WHERE `+matchQualifies+`
		ORDER BY `+matchOrder(w.Order, "tm.")+` LIMIT 1`+lock, args...))
	}
	if errors.Is(err, errNoRows) {
		if w.Open == nil {
			return groupbuy.ErrTeamFull
		}
		t, leader := openedRows(w.Open)
		*outcome = matchOpenRefused // until it succeeds: a guard failure is the open's
		if err := s.openTx(ctx, r, w.Open, &t, &leader); err != nil {
			return err
		}
		*outcome = matchOpened
		return nil
	}
	if err != nil {
		return err
	}
	// The row is locked (or the database is, on SQLite) and was read in
	// its latest version, so the guards hold until the commit.
	if _, err := r.exec(ctx, `UPDATE {p}teams SET seats_taken = seats_taken + 1, seat_rows = seat_rows + 1, version = version + 1 WHERE id = ?`, t.ID); err != nil {
		return err
	}
	seat.TeamID = t.ID
	if seat.ReservedUntil.After(t.ExpiresAt) {
		seat.ReservedUntil = t.ExpiresAt
	}
	if err := s.insertSeat(ctx, r, seat); err != nil {
		return err
	}
	ok, err := s.countSeat(ctx, r, t.CampaignID, seat.UserID, false, w.MaxJoined)
	if err != nil {
		return err
	}
	if !ok {
		return groupbuy.ErrLimitExceeded
	}
	events, idem := w.Filled(t.ID)
	if err := s.insertEvents(ctx, r, events); err != nil {
		return err
	}
	if err := s.insertIdem(ctx, r, idem); err != nil {
		return err
	}
	t.SeatsTaken++
	t.SeatRows++
	t.Version++
	*team = t
	return nil
}

// pickRandom reads a MatchRandom write's candidates (args are
// matchQualifies'), then locks the one groupbuy.RandomPicks names first,
// or when another transaction holds it (lock ends in SKIP LOCKED) the one
// it names second; errNoRows when there is none to take.
func (s *Store) pickRandom(ctx context.Context, r run, pick uint64, lock string, args []any) (groupbuy.Team, error) {
	ids, err := r.strings(ctx, `SELECT tm.id FROM {p}teams tm WHERE `+matchQualifies+`
		ORDER BY `+matchOrder(groupbuy.MatchFullest, "tm.")+` LIMIT `+strconv.Itoa(groupbuy.MatchRandomCandidates), args...)
	if err != nil {
		return groupbuy.Team{}, err
	}
	first, second := groupbuy.RandomPicks(pick, len(ids))
	for _, i := range [2]int{first, second} {
		if i < 0 {
			break
		}
		t, err := s.scanTeam(r.row(ctx, `SELECT `+teamCols+` FROM {p}teams tm WHERE tm.id = ? AND `+matchQualifies+lock,
			append([]any{ids[i]}, args...)...))
		if !errors.Is(err, errNoRows) {
			return t, err
		}
	}
	return groupbuy.Team{}, errNoRows
}

// campaignTakesSeats returns ErrNotFound or ErrCampaignNotActive unless
// the campaign exists and is active.
func (s *Store) campaignTakesSeats(ctx context.Context, r run, id string) error {
	var status string
	err := r.row(ctx, `SELECT status FROM {p}campaigns WHERE id = ?`, id).Scan(&status)
	switch {
	case errors.Is(err, errNoRows):
		return s.notFoundOrNewer(ctx, r, "campaign", id)
	case err != nil:
		return err
	case status != string(groupbuy.CampaignActive):
		return groupbuy.ErrCampaignNotActive
	}
	return nil
}

// diagnoseMatch names why a match's attempt failed its guard: a replay,
// the campaign, the per-user limit, a seat or event that exists. An
// attempt that found no team says so itself (ErrTeamFull), so the
// diagnosis never has to; with w.Open such an attempt opened instead, and
// when no team qualifies now the open's preconditions are the ones to
// check.
func (s *Store) diagnoseMatch(ctx context.Context, r run, w *groupbuy.MatchTeamWrite) error {
	if err := s.replayIfRecorded(ctx, r, w.Idem); err != nil {
		return err
	}
	if err := s.campaignTakesSeats(ctx, r, w.Seat.CampaignID); err != nil {
		return err
	}
	if w.Open != nil {
		// Which of the two steps the attempt took: a join when a team
		// qualifies, else the open.
		var n int
		err := r.row(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM {p}teams tm WHERE `+matchQualifies+` LIMIT 1) q`,
			w.Seat.CampaignID, s.t(w.Now), w.Exclude, w.Seat.UserID).Scan(&n)
		if err != nil {
			return err
		}
		if n == 0 {
			return s.diagnoseOpen(ctx, r, w.Open)
		}
	}
	var (
		joined sql.NullInt64
		seatN  int
	)
	err := r.row(ctx, `SELECT (SELECT u.joined FROM {p}user_limits u WHERE u.campaign_id = ? AND u.user_id = ?),
		(SELECT COUNT(*) FROM {p}seats st WHERE st.id = ?)`, w.Seat.CampaignID, w.Seat.UserID, w.Seat.ID).Scan(&joined, &seatN)
	if err != nil {
		return err
	}
	switch {
	case w.MaxJoined > 0 && joined.Int64 >= int64(w.MaxJoined):
		return groupbuy.ErrLimitExceeded
	case seatN > 0:
		return conflict("seat %s exists", w.Seat.ID)
	}
	// Every precondition holds: the attempt lost a race (a unique key
	// taken meanwhile), or the open it made instead hit one of its own
	// unique keys; rerunning it decides.
	if err := s.eventsExist(ctx, r, w.Events); err != nil || w.Open == nil {
		return err
	}
	var teamN, leaderN int
	err = r.row(ctx, `SELECT (SELECT COUNT(*) FROM {p}teams t WHERE t.id = ?), (SELECT COUNT(*) FROM {p}seats st WHERE st.id = ?)`,
		w.Open.Team.ID, w.Open.Leader.ID).Scan(&teamN, &leaderN)
	switch {
	case err != nil:
		return err
	case teamN > 0:
		return conflict("team %s exists", w.Open.Team.ID)
	case leaderN > 0:
		return conflict("seat %s exists", w.Open.Leader.ID)
	}
	return s.eventsExist(ctx, r, w.Open.Events)
}

// pgMatch: the campaign check with the record's guard (c); the pick (p), a
// locking read of the first qualifying team (MatchRandom: of its first or
// second pick among the candidates k, f) that skips rows locked by
// others, which PostgreSQL re-checks on the row's latest version once it
// holds the lock; then the join as pgJoin's, on the picked team: the team
// UPDATE (t), the per-user counter (u, when the campaign limits joins),
// the seat (s), the events and the record, whose holes take s.team_id.
// When c holds but no team qualifies, the statement returns one row of
// placeholders flagged as such, so that "no team" costs no diagnosis.
// With w.Open, no team opens Open's team instead (pgMatchOpen), and the
// flagged row says it did, or that the open's guard failed, so that the
// diagnosis checks the open's preconditions (a team that the pick skipped
// as locked may qualify by then).
func (s *Store) pgMatch(ctx context.Context, w *groupbuy.MatchTeamWrite, team *groupbuy.Team, seat *groupbuy.Seat, outcome *matchOutcome) error {
	q, args := s.pgMatchSQL(w, seat)
	err := s.pgOne(ctx, "match in campaign ", seat.CampaignID, q, args, func(rows *sql.Rows) error {
		var r struct {
			t     groupbuy.Team
			until time.Time
			check sql.NullInt64
			dest  [teamColN + 3]any
		}
		if err := rows.Scan(append(s.teamDest(r.dest[:0], &r.t), s.ts(&r.until), &r.check, (*int)(outcome))...); err != nil {
			return err
		}
		if *outcome == matchJoined {
			*team = r.t
			seat.TeamID, seat.ReservedUntil = r.t.ID, r.until
		}
		return nil
	})
	switch {
	case err != nil:
		return err
	case *outcome == matchNoTeam:
		return groupbuy.ErrTeamFull
	case *outcome == matchOpenRefused:
		return guard("open team " + w.Open.Team.ID)
	}
	return nil
}

// pgMatchSQL returns pgMatch's statement and its arguments.
func (s *Store) pgMatchSQL(w *groupbuy.MatchTeamWrite, seat *groupbuy.Seat) (string, []any) {
	stmt := pgMatchFullestStmt
	switch w.Order {
	case groupbuy.MatchOldest:
		stmt = pgMatchOldestStmt
	case groupbuy.MatchRandom:
		stmt = pgMatchRandomStmt
	}
	bits := 0
	if w.Idem != nil {
		bits |= pgIdemBit
	}
	if w.MaxJoined > 0 {
		bits |= pgVariantBit
	}
	if w.Open != nil {
		bits |= pgVariant3Bit
		if w.Open.MaxOpened > 0 {
			bits |= pgVariant2Bit
		}
	}
	// The Service's open writes two events; other counts are built on
	// every call.
	q := s.pgStartBits(stmt, len(w.Events), bits, w.Open == nil || len(w.Open.Events) == 2)
	camp, now := q.text(seat.CampaignID), s.pgTime(&q, w.Now)
	q.sql(`WITH c AS (
		SELECT id`)
	if w.Open != nil {
		q.sql(`, (starts_at IS NULL OR starts_at <= `, now, `) AND ends_at > `, now, ` AS takes`)
	}
	q.sql(` FROM {p}campaigns WHERE id = `, camp, ` AND status = 'active'`)
	scope, key := s.pgIdemGuard(&q, w.Idem)
	user := q.text(seat.UserID)
	qualifies := func() {
		q.sql(`tm.campaign_id = `, camp, ` AND tm.state = 'forming' AND tm.seats_taken < tm.capacity AND `, seatRowsLeftTM, ` AND tm.expires_at > `, now, `
		AND tm.id <> `, q.text(w.Exclude), ` AND EXISTS (SELECT 1 FROM c)
		AND NOT EXISTS (SELECT 1 FROM {p}seats st WHERE st.team_id = tm.id AND st.active_user = `, user, `)`)
	}
	if w.Order == groupbuy.MatchRandom {
		// k: the candidates, numbered from 0 in MatchFullest's order; f:
		// the IDs of groupbuy.RandomPicks(Pick, n) among them, with Pick as
		// two halves (hi, lo) that fit a bigint: first = Pick mod n, j = 1 +
		// hi mod (n - 1), second = j unless j is first, then 0. p takes the
		// first pick, or the second when the first is held locked; it reads
		// teams by primary key only, and locks no row of k or f.
		hi, lo := q.int64(int64(w.Pick>>32)), q.int64(int64(w.Pick&0xFFFFFFFF))
		q.sql(`
	), k AS (
		SELECT tm.id, row_number() OVER (ORDER BY ` + matchOrder(groupbuy.MatchFullest, "tm.") + `) - 1 AS rn
		FROM (SELECT tm.id, tm.seats_taken, tm.expires_at FROM {p}teams tm WHERE `)
		qualifies()
		q.sql(`
			ORDER BY `+matchOrder(groupbuy.MatchFullest, "tm.")+` LIMIT `, groupbuy.MatchRandomCandidates, `) tm
	), f AS (
		SELECT (SELECT k.id FROM k WHERE k.rn = x.first) AS first,
			(SELECT k.id FROM k WHERE k.rn = CASE WHEN x.j = x.first THEN 0 ELSE x.j END) AS second
		FROM (SELECT ((`, hi, ` % n) * (4294967296 % n) + `, lo, ` % n) % n AS first,
			CASE WHEN n > 1 THEN 1 + `, hi, ` % (n - 1) END AS j
			FROM (SELECT count(*) AS n FROM k) kn WHERE n > 0) x
	), p AS (
		SELECT tm.id FROM {p}teams tm
		WHERE tm.id IN ((SELECT first FROM f), (SELECT second FROM f))
		AND tm.state = 'forming' AND tm.seats_taken < tm.capacity AND `, seatRowsLeftTM, ` AND tm.expires_at > `, now, `
		ORDER BY tm.id = (SELECT first FROM f) DESC
		LIMIT 1 FOR NO KEY UPDATE OF tm SKIP LOCKED`)
	} else {
		q.sql(`
	), p AS (
		SELECT tm.id FROM {p}teams tm
		WHERE `)
		qualifies()
		q.sql(`
		ORDER BY ` + matchOrder(w.Order, "tm.") + `
		LIMIT 1 FOR NO KEY UPDATE OF tm SKIP LOCKED`)
	}
	q.sql(`
	), t AS (
		UPDATE {p}teams SET seats_taken = seats_taken + 1, seat_rows = seat_rows + 1, version = version + 1
		WHERE id = (SELECT id FROM p)`, byKeyCase, `state = 'forming' AND seats_taken < capacity AND `, seatRowsLeftT, byKeyEnd, `
		RETURNING `+teamCols)
	s.pgJoinSeat(&q, &w.JoinTeamWrite, seat, user)
	q.team = "s.team_id"
	s.pgEvents(&q, w.Events, "s")
	s.pgIdemInsert(&q, w.Idem, scope, key, "s", nil, "")
	q.team = ""
	if w.Open != nil {
		s.pgMatchOpen(&q, w.Open, camp, scope, key)
	}
	// The outcome (matchOutcome) is the last column; the rows of the
	// outcomes other than a join hold placeholders.
	q.sql(`
	SELECT `, teamColsT, `, s.reserved_until, `, pgMissing("s.reserved_until"), `, `, int(matchJoined), `
	FROM t LEFT JOIN s ON true`)
	placeholders := func(o matchOutcome) {
		q.sql(`
	UNION ALL
	SELECT '', '', '', 0, 0, 0, 0, '', `, now, `, `, now, `, NULL, 0, 0, `, now, `, 1, `, int(o))
	}
	if w.Open != nil {
		placeholders(matchOpened)
		q.sql(`
	FROM os`)
		placeholders(matchOpenRefused)
		q.sql(`
	FROM c WHERE NOT EXISTS (SELECT 1 FROM t) AND NOT EXISTS (SELECT 1 FROM os)`)
	} else {
		placeholders(matchNoTeam)
		q.sql(`
	FROM c WHERE NOT EXISTS (SELECT 1 FROM t)`)
	}
	return s.pgDone(&q)
}

// pgMatchOpen writes the CTEs of a match that open w's team when no team
// qualifies: oc holds when c does, the campaign's window takes seats and
// the pick p found nothing; then, as in pgOpen, the guarded per-user
// counter (ou, when the campaign limits teams opened), the team (ot), its
// leader seat (os), the events (oo) and the record (oi, under the match's
// scope and key), each depending on the part before it. p and oc exclude
// each other, so a statement either joins or opens.
func (s *Store) pgMatchOpen(q *pgq, w *groupbuy.OpenTeamWrite, camp, scope, key ph) {
	team, leader := openedRows(w)
	q.sql(`, oc AS (
		SELECT c.id FROM c WHERE c.takes AND NOT EXISTS (SELECT 1 FROM p)
	)`)
	s.pgOpenParts(q, w, &team, &leader, camp, scope, key, "oc", "o")
}
