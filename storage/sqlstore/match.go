package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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
	if err := checkMatch(w); err != nil {
		return groupbuy.Team{}, groupbuy.Seat{}, err
	}
	seat := joinedSeat(w.Seat)
	var team groupbuy.Team
	opened := false // the attempt that succeeded opened w.Open's team
	attempt := func() error {
		opened = false
		if s.fast() {
			return s.pgMatch(ctx, w, &team, &seat, &opened)
		}
		return s.inTxOpts(ctx, s.matchTxOptions(), func(r run) error { return s.matchTx(ctx, r, w, &team, &seat, &opened) })
	}
	err := s.command(ctx, attempt, func(r run) error { return s.diagnoseMatch(ctx, r, w) })
	if err != nil {
		return groupbuy.Team{}, groupbuy.Seat{}, s.wrap(err, "match in campaign "+w.Seat.CampaignID)
	}
	if opened {
		team, leader := openedRows(w.Open)
		return team, normSeat(leader), nil
	}
	return team, normSeat(seat), nil
}

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

// checkMatch validates a MatchTeamWrite: a seat as JoinTeam takes it but
// with no team, a known order, and event keys that stay within bounds once
// the team's ID fills their holes.
func checkMatch(w *groupbuy.MatchTeamWrite) error {
	if w == nil {
		return bad("write", "must not be nil")
	}
	if w.Seat.TeamID != "" {
		return bad("Seat.TeamID", "must be empty: the store picks the team")
	}
	st := w.Seat
	st.TeamID = "-" // stands in for the team checkSeat requires
	if err := checkSeat("Seat", &st, true); err != nil {
		return err
	}
	if w.Order != groupbuy.MatchFullest && w.Order != groupbuy.MatchOldest {
		return bad("Order", fmt.Sprintf("must be %q or %q", groupbuy.MatchFullest, groupbuy.MatchOldest))
	}
	if p := lenProblem(w.Exclude, groupbuy.MaxIDLength); p != "" {
		return bad("Exclude", p)
	}
	if err := checkTime("Now", w.Now); err != nil {
		return err
	}
	if err := checkEvents(w.Events); err != nil {
		return err
	}
	for i := range w.Events {
		k := w.Events[i].Key
		if len(k)+strings.Count(k, groupbuy.TeamIDHole)*(groupbuy.MaxIDLength-1) > maxEventKey {
			return bad(fmt.Sprintf("Events[%d].Key", i), fmt.Sprintf("longer than %d bytes once the team's ID fills it", maxEventKey))
		}
	}
	if err := checkIdem(w.Idem); err != nil {
		return err
	}
	if w.Open == nil {
		return nil
	}
	if err := checkOpen(w.Open); err != nil {
		return err
	}
	if field, reason := w.OpenProblem(); field != "" {
		return bad(field, reason)
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
const matchQualifies = `tm.state = 'forming' AND tm.campaign_id = ? AND tm.seats_taken < tm.capacity AND tm.expires_at > ? AND tm.id <> ?
		AND NOT EXISTS (SELECT 1 FROM {p}seats st WHERE st.team_id = tm.id AND st.active_user = ?)`

// matchTx is MatchTeam in a transaction: the record and the campaign are
// checked, the first qualifying team that no one else holds is locked, and
// the join proceeds as joinTx's does once it holds the team. When no team
// qualifies it opens w.Open's team, if any, in the same transaction and
// sets *opened.
func (s *Store) matchTx(ctx context.Context, r run, w *groupbuy.MatchTeamWrite, team *groupbuy.Team, seat *groupbuy.Seat, opened *bool) error {
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
	t, err := s.scanTeam(r.row(ctx, `SELECT `+teamCols+` FROM {p}teams tm WHERE `+matchQualifies+`
		ORDER BY `+matchOrder(w.Order, "tm.")+` LIMIT 1`+lock,
		w.Seat.CampaignID, s.t(w.Now), w.Exclude, w.Seat.UserID))
	if errors.Is(err, errNoRows) {
		if w.Open == nil {
			return groupbuy.ErrTeamFull
		}
		t, leader := openedRows(w.Open)
		if err := s.openTx(ctx, r, w.Open, &t, &leader); err != nil {
			return err
		}
		*opened = true
		return nil
	}
	if err != nil {
		return err
	}
	// The row is locked (or the database is, on SQLite) and was read in
	// its latest version, so the guards hold until the commit.
	if _, err := r.exec(ctx, `UPDATE {p}teams SET seats_taken = seats_taken + 1, version = version + 1 WHERE id = ?`, t.ID); err != nil {
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
	t.Version++
	*team = t
	return nil
}

// campaignTakesSeats returns ErrNotFound or ErrCampaignNotActive unless
// the campaign exists and is active.
func (s *Store) campaignTakesSeats(ctx context.Context, r run, id string) error {
	var status string
	err := r.row(ctx, `SELECT status FROM {p}campaigns WHERE id = ?`, id).Scan(&status)
	switch {
	case errors.Is(err, errNoRows):
		return notFound("campaign", id)
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
	// taken meanwhile); rerunning it decides.
	return s.eventsExist(ctx, r, w.Events)
}

// pgMatch: the campaign check with the record's guard (c); the pick (p), a
// locking read of the first qualifying team that skips rows locked by
// others, which PostgreSQL re-checks on the row's latest version once it
// holds the lock; then the join as pgJoin's, on the picked team: the team
// UPDATE (t), the per-user counter (u, when the campaign limits joins),
// the seat (s), the events and the record, whose holes take s.team_id.
// When c holds but no team qualifies, the statement returns one row of
// placeholders flagged as such, so that "no team" costs no diagnosis.
// With w.Open, no team opens Open's team instead (pgMatchOpen), and the
// flagged row says it did; when that open's guard fails, no row.
func (s *Store) pgMatch(ctx context.Context, w *groupbuy.MatchTeamWrite, team *groupbuy.Team, seat *groupbuy.Seat, opened *bool) error {
	q, args := s.pgMatchSQL(w, seat)
	found := true
	err := s.pgOne(ctx, "match in campaign ", seat.CampaignID, q, args, func(rows *sql.Rows) error {
		var r struct {
			t      groupbuy.Team
			until  time.Time
			check  sql.NullInt64
			picked bool
			dest   [teamColN + 3]any
		}
		if err := rows.Scan(append(s.teamDest(r.dest[:0], &r.t), s.ts(&r.until), &r.check, &r.picked)...); err != nil {
			return err
		}
		if found = r.picked; found {
			*team = r.t
			seat.TeamID, seat.ReservedUntil = r.t.ID, r.until
		}
		return nil
	})
	switch {
	case err != nil || found:
	case w.Open != nil:
		*opened = true
	default:
		return groupbuy.ErrTeamFull
	}
	return err
}

// pgMatchSQL returns pgMatch's statement and its arguments.
func (s *Store) pgMatchSQL(w *groupbuy.MatchTeamWrite, seat *groupbuy.Seat) (string, []any) {
	stmt := pgMatchFullestStmt
	if w.Order == groupbuy.MatchOldest {
		stmt = pgMatchOldestStmt
	}
	var q pgq
	if w.Open == nil {
		q = s.pgStart(stmt, len(w.Events), w.Idem != nil, w.MaxJoined > 0)
	} else {
		stmt += pgMatchOpenFullestStmt - pgMatchFullestStmt
		bits := 0
		if w.Idem != nil {
			bits |= pgIdemBit
		}
		if w.MaxJoined > 0 {
			bits |= pgVariantBit
		}
		if w.Open.MaxOpened > 0 {
			bits |= pgVariant2Bit
		}
		// The Service's open writes two events; other counts are built
		// on every call.
		q = s.pgStartBits(stmt, len(w.Events), bits, len(w.Open.Events) == 2)
	}
	camp, now := q.text(seat.CampaignID), s.pgTime(&q, w.Now)
	q.sql(`WITH c AS (
		SELECT id`)
	if w.Open != nil {
		q.sql(`, (starts_at IS NULL OR starts_at <= `, now, `) AND ends_at > `, now, ` AS takes`)
	}
	q.sql(` FROM {p}campaigns WHERE id = `, camp, ` AND status = 'active'`)
	scope, key := s.pgIdemGuard(&q, w.Idem)
	user := q.text(seat.UserID)
	q.sql(`
	), p AS (
		SELECT tm.id FROM {p}teams tm
		WHERE tm.campaign_id = `, camp, ` AND tm.state = 'forming' AND tm.seats_taken < tm.capacity AND tm.expires_at > `, now, `
		AND tm.id <> `, q.text(w.Exclude), ` AND EXISTS (SELECT 1 FROM c)
		AND NOT EXISTS (SELECT 1 FROM {p}seats st WHERE st.team_id = tm.id AND st.active_user = `, user, `)
		ORDER BY `+matchOrder(w.Order, "tm.")+`
		LIMIT 1 FOR NO KEY UPDATE OF tm SKIP LOCKED
	), t AS (
		UPDATE {p}teams SET seats_taken = seats_taken + 1, version = version + 1
		WHERE `+byKey("id = (SELECT id FROM p)", "state = 'forming' AND seats_taken < capacity")+`
		RETURNING `+teamCols)
	s.pgJoinSeat(&q, &w.JoinTeamWrite, seat, user)
	q.team = "s.team_id"
	s.pgEvents(&q, w.Events, "s")
	s.pgIdemInsert(&q, w.Idem, scope, key, "s", nil, "")
	q.team = ""
	if w.Open != nil {
		s.pgMatchOpen(&q, w.Open, camp, scope, key)
	}
	q.sql(`
	SELECT `, teamColsT, `, s.reserved_until, `, pgMissing("s.reserved_until"), `, true
	FROM t LEFT JOIN s ON true
	UNION ALL
	SELECT '', '', '', 0, 0, 0, 0, '', `, now, `, `, now, `, NULL, 0, `, now, `, 1, false`)
	if w.Open != nil {
		q.sql(`
	FROM os`)
	} else {
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
	source := "oc"
	if w.MaxOpened > 0 {
		source = "ou"
		q.sql(`, ou AS (
		INSERT INTO {p}user_limits AS ul (campaign_id, user_id, opened, joined)
		SELECT oc.id, `, q.text(leader.UserID), `, 1, 0 FROM oc
		ON CONFLICT (campaign_id, user_id) DO UPDATE SET opened = ul.opened + 1
		WHERE ul.opened < `, q.int(w.MaxOpened), `
		RETURNING 1 AS ok
	)`)
	}
	q.sql(`, ot AS (
		INSERT INTO {p}teams (`+teamCols+`)
		SELECT `, q.text(team.ID), `, `, camp, `, `, q.text(team.LeaderID), `, `, q.int(team.Capacity), `, 1, 0, 0, 'forming', `,
		s.pgTime(q, team.OpenedAt), `, `, s.pgTime(q, team.ExpiresAt), `, NULL, `, q.int64(team.Version), ` FROM `, source, `
		RETURNING id
	), os AS (
		INSERT INTO {p}seats (`+seatCols+`, active_user)
		SELECT `)
	s.pgSeatValues(q, &leader)
	q.sql(` FROM ot
		RETURNING id
	)`)
	s.pgEventsAs(q, "oo", w.Events, "ot")
	s.pgIdemInsertAs(q, "oi", w.Idem, scope, key, "ot", nil, "")
}
