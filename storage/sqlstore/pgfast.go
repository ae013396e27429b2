package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
)

// PostgreSQL's single-statement commands. Each is one data-modifying CTE
// sent in autocommit: one round trip, one commit. The package doc explains
// why each part is safe under READ COMMITTED.

// pgArgs numbers the arguments of a PostgreSQL statement. Every placeholder
// carries its cast, and an argument used twice is used with the same cast,
// so PostgreSQL never deduces two types for one parameter.
type pgArgs struct{ args []any }

func (a *pgArgs) add(v any, typ string) string {
	a.args = append(a.args, v)
	return "$" + strconv.Itoa(len(a.args)) + "::" + typ
}

func (a *pgArgs) text(v string) string  { return a.add(v, "text") }
func (a *pgArgs) bytes(v []byte) string { return a.add(v, "bytea") }
func (a *pgArgs) int(v int) string      { return a.add(v, "integer") }
func (a *pgArgs) int64(v int64) string  { return a.add(v, "bigint") }
func (a *pgArgs) bool(v bool) string    { return a.add(v, "boolean") }
func (s *Store) pgTime(a *pgArgs, t time.Time) string {
	return a.add(s.t(t), "timestamptz")
}

// qualify prefixes each column of a column list with alias.
func qualify(cols, alias string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// pgEvents returns a CTE that inserts events in order, for each row of
// source, or "" when there are none.
func (s *Store) pgEvents(a *pgArgs, evs []storage.Event, source string) string {
	if len(evs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(`, o AS (INSERT INTO {p}outbox (id, topic, event_key, payload, created_at)
		SELECT v.id, v.topic, v.k, v.p, v.c FROM ` + source + `, (VALUES `)
	for i := range evs {
		ev := &evs[i]
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%d, %s, %s, %s, %s, %s)", i, a.text(ev.ID), a.text(ev.Topic), a.text(ev.Key), a.bytes(ev.Payload), s.pgTime(a, ev.CreatedAt))
	}
	b.WriteString(`) AS v(n, id, topic, k, p, c) ORDER BY v.n)`)
	return b.String()
}

// pgIdem returns the NOT EXISTS guard and the INSERT CTE of an idempotency
// record, or "" twice. The stored result is the record's, or filled when
// filled is set and the condition fill holds.
func (s *Store) pgIdem(a *pgArgs, rec *groupbuy.IdempotencyRecord, source string, filled []byte, fill string) (guard, insert string) {
	if rec == nil {
		return "", ""
	}
	scope, key := a.text(rec.Scope), a.text(rec.Key)
	guard = ` AND NOT EXISTS (SELECT 1 FROM {p}idempotency WHERE scope = ` + scope + ` AND idem_key = ` + key + `)`
	result := a.bytes(rec.Result)
	if filled != nil {
		result = `CASE WHEN ` + fill + ` THEN ` + a.bytes(filled) + ` ELSE ` + result + ` END`
	}
	insert = `, i AS (INSERT INTO {p}idempotency (scope, idem_key, fingerprint, result, created_at)
		SELECT ` + scope + `, ` + key + `, ` + a.text(rec.Fingerprint) + `, ` + result + `, ` +
		s.pgTime(a, rec.CreatedAt) + ` FROM ` + source + `)`
	return guard, insert
}

// pgOne runs one single-statement command in autocommit, rerunning it when
// PostgreSQL aborts it as retryable. A statement that matched no row, hit a
// unique key or divided by zero on purpose becomes a guard failure; scan
// reads its one result row.
func (s *Store) pgOne(ctx context.Context, what, q string, args []any, scan func(*sql.Rows) error) error {
	return s.retry(ctx, func() error {
		rows, err := run{s, s.db}.query(ctx, q, args...)
		if err != nil {
			return s.pgGuard(err, what)
		}
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return s.pgGuard(err, what)
			}
			return guard(what)
		}
		if err := scan(rows); err != nil {
			return s.pgGuard(err, what)
		}
		rows.Close()
		return s.pgGuard(rows.Err(), what)
	})
}

func (s *Store) pgGuard(err error, what string) error {
	if err != nil && (isDivisionByZero(err) || s.isUnique(err)) {
		return guard(what)
	}
	return err
}

// pgOpen: the campaign check (c), the guarded per-user counter (u), then the
// team, its leader seat, the events and the idempotency record, each
// depending on the part before it, so that a failed guard inserts nothing.
func (s *Store) pgOpen(ctx context.Context, w *groupbuy.OpenTeamWrite, team *groupbuy.Team, leader *groupbuy.Seat) error {
	a := &pgArgs{}
	now := s.pgTime(a, w.Now)
	camp := a.text(team.CampaignID)
	idemGuard, idemInsert := s.pgIdem(a, w.Idem, "t", nil, "")
	counted := 0
	if activeSeat(leader.State) {
		counted = 1
	}
	q := `WITH c AS (
		SELECT id FROM {p}campaigns WHERE id = ` + camp + ` AND status = 'active'
		AND (starts_at IS NULL OR starts_at <= ` + now + `) AND ends_at > ` + now + idemGuard + `
	), u AS (
		INSERT INTO {p}user_limits AS ul (campaign_id, user_id, opened, joined)
		SELECT c.id, ` + a.text(leader.UserID) + `, ` + a.int(counted) + `, 0 FROM c
		ON CONFLICT (campaign_id, user_id) DO UPDATE SET opened = ul.opened + EXCLUDED.opened
		WHERE ul.opened < ` + a.int(capOf(w.MaxOpened)) + `
		RETURNING 1 AS ok
	), t AS (
		INSERT INTO {p}teams (` + teamCols + `)
		SELECT ` + a.text(team.ID) + `, ` + camp + `, ` + a.text(team.LeaderID) + `, ` + a.int(team.Capacity) + `, 1, 0, 0, 'forming', ` +
		s.pgTime(a, team.OpenedAt) + `, ` + s.pgTime(a, team.ExpiresAt) + `, NULL, ` + a.int64(team.Version) + ` FROM u
		RETURNING id
	), s AS (
		INSERT INTO {p}seats (` + seatCols + `, active_user)
		SELECT ` + s.pgSeatValues(a, leader) + ` FROM t
		RETURNING id
	)` + s.pgEvents(a, w.Events, "t") + idemInsert + `
	SELECT count(*) FROM s`
	return s.pgOne(ctx, "open team "+team.ID, q, a.args, func(rows *sql.Rows) error {
		var n int
		if err := rows.Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return guard("open team " + team.ID)
		}
		return nil
	})
}

// pgSeatValues is the select list inserting a seat as given.
func (s *Store) pgSeatValues(a *pgArgs, st *groupbuy.Seat) string {
	active := "NULL::text"
	if u := activeUser(st); u != nil {
		active = a.text(u.(string))
	}
	return strings.Join([]string{
		a.text(st.ID), a.text(st.TeamID), a.text(st.CampaignID), a.text(st.UserID), a.text(st.SKU), a.int(st.Quantity),
		a.text(money(st.UnitPrice)) + "::numeric", a.text(money(st.Amount)) + "::numeric", a.text(st.Currency), a.text(string(st.State)),
		a.bool(st.Leader), a.bool(st.Virtual), s.pgTime(a, st.ReservedAt), s.pgTime(a, st.ReservedUntil), s.pgTime(a, st.PaidAt),
		a.text(st.PaymentRef), a.int64(st.Version), active,
	}, ", ")
}

// pgJoin: the guarded team UPDATE (t) locks the team row and is re-checked
// on its latest version; the per-user counter (u) depends on it and is
// guarded by its own ON CONFLICT ... WHERE, which also sees the latest row;
// the seat, the events and the idempotency record depend on both. When t
// updated the team but u's guard failed, the final SELECT divides by zero
// on purpose, so that PostgreSQL rolls the statement back.
func (s *Store) pgJoin(ctx context.Context, w *groupbuy.JoinTeamWrite, team *groupbuy.Team, seat *groupbuy.Seat) error {
	q, args := s.pgJoinSQL(w, seat)
	return s.pgOne(ctx, "join team "+seat.TeamID, q, args, func(rows *sql.Rows) error {
		var (
			t     groupbuy.Team
			until time.Time
			check sql.NullInt64
		)
		if err := rows.Scan(append(s.teamDest(&t), s.ts(&until), &check)...); err != nil {
			return err
		}
		*team = t
		seat.ReservedUntil = until
		return nil
	})
}

func (s *Store) pgJoinSQL(w *groupbuy.JoinTeamWrite, seat *groupbuy.Seat) (string, []any) {
	a := &pgArgs{}
	now := s.pgTime(a, w.Now)
	teamID, camp, user := a.text(seat.TeamID), a.text(seat.CampaignID), a.text(seat.UserID)
	idemGuard, idemInsert := s.pgIdem(a, w.Idem, "s", nil, "")
	q := `WITH t AS (
		UPDATE {p}teams SET seats_taken = seats_taken + 1, version = version + 1
		WHERE ` + byKey("id = "+teamID, "campaign_id = "+camp+" AND state = 'forming' AND expires_at > "+now+" AND seats_taken < capacity") + `
		AND EXISTS (SELECT 1 FROM {p}campaigns WHERE id = ` + camp + ` AND status = 'active')` + idemGuard + `
		RETURNING ` + teamCols + `
	), u AS (
		INSERT INTO {p}user_limits AS ul (campaign_id, user_id, opened, joined)
		SELECT t.campaign_id, ` + user + `, 0, 1 FROM t
		ON CONFLICT (campaign_id, user_id) DO UPDATE SET joined = ul.joined + 1
		WHERE ul.joined < ` + a.int(capOf(w.MaxJoined)) + `
		RETURNING 1 AS ok
	), s AS (
		INSERT INTO {p}seats (` + seatCols + `, active_user)
		SELECT ` + a.text(seat.ID) + `, t.id, t.campaign_id, ` + user + `, ` + a.text(seat.SKU) + `, ` + a.int(seat.Quantity) + `, ` +
		a.text(money(seat.UnitPrice)) + `::numeric, ` + a.text(money(seat.Amount)) + `::numeric, ` + a.text(seat.Currency) + `,
		'reserved', false, false, ` + s.pgTime(a, seat.ReservedAt) + `, LEAST(` + s.pgTime(a, seat.ReservedUntil) + `, t.expires_at), NULL, ` +
		a.text(seat.PaymentRef) + `, ` + a.int64(seat.Version) + `, ` + user + `
		FROM t, u
		RETURNING reserved_until
	)` + s.pgEvents(a, w.Events, "s") + idemInsert + `
	SELECT ` + qualify(teamCols, "t") + `, s.reserved_until,
		CASE WHEN (SELECT count(*) FROM t) > 0 THEN 1 / (SELECT count(*) FROM u)::integer END
	FROM t LEFT JOIN s ON true`
	return q, a.args
}

// pgPay: the guarded team UPDATE (t) comes first, so the team row is locked
// before the seat; the guarded seat UPDATE (s) depends on it and is
// re-checked on the seat's latest version; the events and the idempotency
// record depend on s. When t updated the team but s's guard failed, the
// final SELECT divides by zero on purpose and the statement rolls back.
//
// The statement never completes the team: its snapshot may miss seats that
// other payments committed while it waited for the team's lock. When it
// makes SeatsPaid reach Capacity it also returns the team's seats as its
// snapshot holds them (a second branch of the final SELECT), and pgFill
// completes the team with them in one more statement when they are all
// there, or in pgComplete's transaction when they are not.
func (s *Store) pgPay(ctx context.Context, w *groupbuy.PaySeatWrite, res *groupbuy.PaySeatResult) error {
	q, args := s.pgPaySQL(w)
	var (
		t     groupbuy.Team
		seat  groupbuy.Seat
		check sql.NullInt64
		team  []snapshotSeat
	)
	err := s.pgOne(ctx, "pay seat "+w.SeatID, q, args, func(rows *sql.Rows) error {
		team = team[:0]
		for {
			var (
				kind, pos int
				rt        groupbuy.Team
				st        groupbuy.Seat
			)
			dest := append(append(s.teamDest(&rt), s.seatDest(&st)...), &check, &kind, &pos)
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			if kind == 0 {
				t, seat = rt, st
			} else {
				team = append(team, snapshotSeat{pos, st})
			}
			if !rows.Next() {
				return nil
			}
		}
	})
	if err != nil {
		return err
	}
	return s.pgFill(ctx, w, res, t, seat, team)
}

// snapshotSeat is a seat of a filled team as the paying statement's snapshot
// holds it, with its position in TeamSeats order.
type snapshotSeat struct {
	pos  int
	seat groupbuy.Seat
}

func (s *Store) pgPaySQL(w *groupbuy.PaySeatWrite) (string, []any) {
	a := &pgArgs{}
	now := s.pgTime(a, w.Now)
	idemGuard, idemInsert := s.pgIdem(a, w.Idem, "s, t", w.FilledResult, "t.seats_paid >= t.capacity")
	q := `WITH t AS (
		UPDATE {p}teams SET seats_paid = seats_paid + 1, version = version + 1,
			full_at = CASE WHEN seats_paid + 1 >= capacity THEN ` + now + ` ELSE full_at END
		WHERE ` + byKey("id = "+a.text(w.TeamID), "state = 'forming' AND expires_at > "+now+" AND seats_paid < capacity") + idemGuard + `
		RETURNING ` + teamCols + `
	), s AS (
		UPDATE {p}seats AS st SET state = 'paid', paid_at = ` + now + `, payment_ref = ` + a.text(w.PaymentRef) + `, version = st.version + 1
		FROM t
		WHERE ` + byKey("st.id = "+a.text(w.SeatID), "st.team_id = t.id AND st.state = 'reserved' AND st.reserved_until > "+now+
		" AND st.amount = "+a.text(money(w.Amount))+"::numeric AND st.currency = "+a.text(w.Currency)+" AND NOT st.is_virtual") + `
		RETURNING ` + qualify(seatCols, "st") + `
	)` + s.pgEvents(a, w.Events, "s") + idemInsert + `
	SELECT ` + qualify(teamCols, "t") + `, ` + qualify(seatCols, "s") + `,
		CASE WHEN (SELECT count(*) FROM t) > 0 THEN 1 / (SELECT count(*) FROM s)::integer END, 0, 0
	FROM t LEFT JOIN s ON true
	UNION ALL
	SELECT ` + qualify(teamCols, "t") + `, ` + qualify(seatCols, "o") + `, NULL, 1,
		row_number() OVER (ORDER BY o.is_virtual, o.reserved_at, o.id)::integer
	FROM t JOIN {p}seats AS o ON o.team_id = t.id
	WHERE t.seats_paid >= t.capacity`
	return q, a.args
}

// pgFill records the result of the payment statement and, when it made the
// team fully paid, completes the team.
func (s *Store) pgFill(ctx context.Context, w *groupbuy.PaySeatWrite, res *groupbuy.PaySeatResult, t groupbuy.Team, seat groupbuy.Seat, snapshot []snapshotSeat) error {
	*res = groupbuy.PaySeatResult{Team: t, Seat: seat}
	if t.SeatsPaid < t.Capacity {
		return nil
	}
	res.Filled = true
	done, err := s.pgCompleteFrom(ctx, w, t, seat, snapshot)
	if errors.Is(err, errStaleSnapshot) {
		done, err = s.pgComplete(ctx, t.ID, w.Now, w.OnFill)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: seat %s paid, completing team %s: %w", w.SeatID, t.ID, err)
	}
	if done.team.ID != "" {
		res.Team = done.team
		if i := slices.IndexFunc(done.seats, func(st groupbuy.Seat) bool { return st.ID == seat.ID }); i >= 0 {
			res.Seat = done.seats[i]
		}
		return nil
	}
	// Completed by someone else (ProcessDue) meanwhile: report it as it is.
	r := run{s, s.db}
	if res.Team, err = s.getTeam(ctx, r, t.ID); err != nil {
		return err
	}
	res.Seat, err = s.getSeat(ctx, r, seat.ID)
	return err
}

// errStaleSnapshot: the paying statement's snapshot lacked a payment that
// committed while it waited for the team's lock, or the completing
// statement found other seats than that snapshot held.
var errStaleSnapshot = errors.New("sqlstore: stale snapshot of a filled team")

// pgCompleteFrom completes a team that the payment of seat filled, from the
// seats the paying statement's snapshot held, in one statement: the team's
// guarded UPDATE to succeeded, the paid seats' confirmation and the events
// of OnFill, which are built before it from those seats in the states the
// statement gives them. The snapshot is complete when it holds every paid
// seat (SeatsPaid of them, with this one) and no reserved one: a paid seat
// changes only when its team closes, which takes the team's row lock that
// this payment held, and a filled team has no reserved seat, so a reserved
// one in the snapshot was released meanwhile. The statement re-counts the
// seats it confirms, in its own newer snapshot, and rolls back by division
// by zero when the count differs; either case returns errStaleSnapshot, and
// pgComplete reads the seats afresh. A zero result means the team was
// completed by someone else first.
func (s *Store) pgCompleteFrom(ctx context.Context, w *groupbuy.PaySeatWrite, t groupbuy.Team, seat groupbuy.Seat, snapshot []snapshotSeat) (completed, error) {
	slices.SortFunc(snapshot, func(a, b snapshotSeat) int { return a.pos - b.pos })
	seats := make([]groupbuy.Seat, len(snapshot))
	paid := 0
	for i := range snapshot {
		st := snapshot[i].seat
		if st.ID == seat.ID {
			st = seat
		}
		switch st.State {
		case groupbuy.SeatReserved:
			return completed{}, errStaleSnapshot
		case groupbuy.SeatPaid:
			st.State = groupbuy.SeatConfirmed
			st.Version++
			paid++
		}
		seats[i] = st
	}
	if paid != t.SeatsPaid {
		return completed{}, errStaleSnapshot
	}
	team := t
	team.State, team.ClosedAt = groupbuy.TeamSucceeded, utc(w.Now)
	var events []storage.Event
	if w.OnFill != nil {
		tc := team
		events = w.OnFill(&tc, slices.Clone(seats))
	}
	a := &pgArgs{}
	q := `WITH t AS (
		UPDATE {p}teams SET state = 'succeeded', closed_at = ` + s.pgTime(a, w.Now) + `
		WHERE ` + byKey("id = "+a.text(t.ID), "state = 'forming' AND seats_paid >= capacity") + `
		RETURNING ` + teamCols + `
	), c AS (
		UPDATE {p}seats AS st SET state = 'confirmed', version = st.version + 1
		FROM t WHERE st.team_id = t.id AND st.state = 'paid'
		RETURNING st.id
	)` + s.pgEvents(a, events, "t") + `
	SELECT ` + qualify(teamCols, "t") + `, 1 / ((SELECT count(*) FROM c) = ` + a.int(paid) + `)::integer FROM t`
	var got groupbuy.Team
	found := false
	err := s.retry(ctx, func() error {
		found = false
		rows, err := run{s, s.db}.query(ctx, q, a.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		if rows.Next() {
			var check int
			if err := rows.Scan(append(s.teamDest(&got), &check)...); err != nil {
				return err
			}
			found = true
		}
		return rows.Err()
	})
	switch {
	case isDivisionByZero(err):
		return completed{}, errStaleSnapshot
	case err != nil:
		if s.isUnique(err) {
			return completed{}, s.guardAsConflict(err)
		}
		return completed{}, err
	case !found:
		return completed{}, nil
	}
	return completed{team: got, seats: seats}, nil
}

type completed struct {
	team  groupbuy.Team
	seats []groupbuy.Seat
}

// pgComplete moves a fully paid forming team to succeeded, confirms its
// paid seats and stores the events of onFill, in one transaction of three
// statements: the guarded UPDATE of the team (state forming and SeatsPaid
// at Capacity, so it happens once) with the seats' confirmation, the read of
// the seats (a new statement, so a new snapshot that holds every committed
// payment), and the events. The team's Version is not bumped again: the
// payment bumped it. It returns a zero team when the team was not (or no
// longer) fully paid and forming.
func (s *Store) pgComplete(ctx context.Context, teamID string, now time.Time, onFill func(*groupbuy.Team, []groupbuy.Seat) []storage.Event) (completed, error) {
	var out completed
	err := s.inTx(ctx, func(r run) error {
		out = completed{}
		t, err := s.scanTeam(r.row(ctx, `WITH t AS (
			UPDATE {p}teams SET state = 'succeeded', closed_at = ?
			WHERE `+byKey("id = ?", "state = 'forming' AND seats_paid >= capacity")+`
			RETURNING `+teamCols+`
		), c AS (
			UPDATE {p}seats AS st SET state = 'confirmed', version = st.version + 1
			FROM t WHERE st.team_id = t.id AND st.state = 'paid'
			RETURNING st.id
		)
		SELECT `+teamCols+` FROM t`, s.t(now), teamID))
		if errors.Is(err, errNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		seats, err := s.seats(ctx, r, `SELECT `+seatCols+` FROM {p}seats WHERE team_id = ?`+seatOrder, teamID)
		if err != nil {
			return err
		}
		if onFill != nil {
			tc := t
			if err := s.insertEvents(ctx, r, onFill(&tc, slices.Clone(seats))); err != nil {
				return s.guardAsConflict(err)
			}
		}
		out = completed{team: t, seats: seats}
		return nil
	})
	return out, err
}

// pgRecord stores an idempotency record and events in one statement; the
// record's INSERT ... ON CONFLICT DO NOTHING is the guard.
func (s *Store) pgRecord(ctx context.Context, rec *groupbuy.IdempotencyRecord, events []storage.Event) error {
	a := &pgArgs{}
	q := `WITH i AS (
		INSERT INTO {p}idempotency (scope, idem_key, fingerprint, result, created_at)
		VALUES (` + a.text(rec.Scope) + `, ` + a.text(rec.Key) + `, ` + a.text(rec.Fingerprint) + `, ` + a.bytes(rec.Result) + `, ` +
		s.pgTime(a, rec.CreatedAt) + `)
		ON CONFLICT (scope, idem_key) DO NOTHING
		RETURNING 1 AS ok
	)` + s.pgEvents(a, events, "i") + `
	SELECT count(*) FROM i`
	return s.pgOne(ctx, "record outcome", q, a.args, func(rows *sql.Rows) error {
		var n int
		if err := rows.Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return guard("record outcome")
		}
		return nil
	})
}
