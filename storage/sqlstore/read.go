package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
)

const teamCols = `id, campaign_id, leader_id, capacity, seats_taken, seats_paid, virtual_seats, state, opened_at, expires_at, closed_at, version, seat_rows`

// seatRowsLeft is groupbuy.MaxSeatRows as a guard on a team whose columns
// are prefixed by p ("" or "tm."): the team has a seat row left.
func seatRowsLeft(p string) string {
	return p + "seat_rows < " + strconv.Itoa(groupbuy.SeatRowsPerSeat) + " * " + p + "capacity + " + strconv.Itoa(groupbuy.SeatRowsSpare)
}

// The guards of seatRowsLeft that the statements use (on the teams
// table's own columns, and on the alias tm), and joinTx's team update,
// built once rather than on every call.
var (
	seatRowsLeftT  = seatRowsLeft("")
	seatRowsLeftTM = seatRowsLeft("tm.")
	joinTeamUpdate = `UPDATE {p}teams SET seats_taken = seats_taken + 1, seat_rows = seat_rows + 1, version = version + 1
		WHERE ` + byKey("id = ?", "state = 'forming' AND expires_at > ? AND seats_taken < capacity AND "+seatRowsLeftT) + `
		AND EXISTS (SELECT 1 FROM {p}campaigns WHERE id = ? AND status = 'active')`
)

// seatInsertCols are the columns a new seat is inserted with: all of
// seatCols but refund_attempt, which starts at its default, 0.
const seatInsertCols = `id, team_id, campaign_id, user_id, sku, quantity, unit_price, amount, currency, state, is_leader, is_virtual,
	reserved_at, reserved_until, paid_at, payment_ref, version`

// seatCols are the columns every read of a seat reads.
const seatCols = seatInsertCols + `, refund_attempt`

// seatOrder is TeamSeats' order: real seats by ReservedAt then ID, virtual
// seats last.
const seatOrder = ` ORDER BY is_virtual, reserved_at, id`

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// teamDest appends the scan destinations of teamCols into t to dst. None
// of them allocates; ints and states get their own scanners (see intScan).
func (s *Store) teamDest(dst []any, t *groupbuy.Team) []any {
	return append(dst, &t.ID, &t.CampaignID, &t.LeaderID, (*intScan)(&t.Capacity), (*intScan)(&t.SeatsTaken), (*intScan)(&t.SeatsPaid),
		(*intScan)(&t.VirtualSeats), (*strScan)(&t.State), s.ts(&t.OpenedAt), s.ts(&t.ExpiresAt), s.ts(&t.ClosedAt), &t.Version,
		(*intScan)(&t.SeatRows))
}

// seatDest appends the scan destinations of seatCols into st to dst, as
// teamDest does.
func (s *Store) seatDest(dst []any, st *groupbuy.Seat) []any {
	return append(dst, &st.ID, &st.TeamID, &st.CampaignID, &st.UserID, &st.SKU, (*intScan)(&st.Quantity), decScan{&st.UnitPrice},
		decScan{&st.Amount}, &st.Currency, (*strScan)(&st.State), &st.Leader, &st.Virtual,
		s.ts(&st.ReservedAt), s.ts(&st.ReservedUntil), s.ts(&st.PaidAt), &st.PaymentRef, &st.Version, (*intScan)(&st.RefundAttempt))
}

// Numbers of columns in teamCols and seatCols.
const (
	teamColN = 13
	seatColN = 18
)

func (s *Store) scanTeam(sc scanner) (groupbuy.Team, error) {
	var t groupbuy.Team
	var dst [teamColN]any
	err := sc.Scan(s.teamDest(dst[:0], &t)...)
	return t, err
}

func (s *Store) scanSeat(sc scanner) (groupbuy.Seat, error) {
	var st groupbuy.Seat
	var dst [seatColN]any
	err := sc.Scan(s.seatDest(dst[:0], &st)...)
	return st, err
}

// collect reads every row of a query's result (rows, err) with scan.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (s *Store) teams(ctx context.Context, r run, tmpl string, args ...any) ([]groupbuy.Team, error) {
	rows, err := r.query(ctx, tmpl, args...)
	return collect(rows, err, s.scanTeam)
}

func (s *Store) seats(ctx context.Context, r run, tmpl string, args ...any) ([]groupbuy.Seat, error) {
	rows, err := r.query(ctx, tmpl, args...)
	return collect(rows, err, s.scanSeat)
}

// strings runs a query whose rows are one text column each.
func (r run) strings(ctx context.Context, tmpl string, args ...any) ([]string, error) {
	rows, err := r.query(ctx, tmpl, args...)
	return collect(rows, err, func(sc scanner) (v string, err error) {
		err = sc.Scan(&v)
		return v, err
	})
}

// orNewer returns err, a read's, unless it is the not-found of row id of
// {p}<what>s under WithTx: the read was in the host's snapshot, which
// lacks a row committed after it, and a Service that takes its not-found
// for the database's answer refuses a command on a row that exists (see
// notFoundOrNewer).
func (s *Store) orNewer(ctx context.Context, err error, what, id string) error {
	if s.tx == nil || !errors.Is(err, groupbuy.ErrNotFound) {
		return err
	}
	return s.notFoundOrNewer(ctx, s.reader(), what, id)
}

func (s *Store) getTeam(ctx context.Context, r run, id string) (groupbuy.Team, error) {
	t, err := s.scanTeam(r.row(ctx, `SELECT `+teamCols+` FROM {p}teams WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, notFound("team", id)
	}
	return t, err
}

func (s *Store) getSeat(ctx context.Context, r run, id string) (groupbuy.Seat, error) {
	st, err := s.scanSeat(r.row(ctx, `SELECT `+seatCols+` FROM {p}seats WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return st, notFound("seat", id)
	}
	return st, err
}

// GetTeam implements groupbuy.Store.
func (s *Store) GetTeam(ctx context.Context, id string) (groupbuy.Team, error) {
	if err := checkCtx(ctx); err != nil {
		return groupbuy.Team{}, err
	}
	if err := checkID("id", id); err != nil {
		return groupbuy.Team{}, err
	}
	t, err := s.getTeam(ctx, s.reader(), id)
	return t, s.wrap(s.orNewer(ctx, err, "team", id), "get team "+id)
}

// GetSeat implements groupbuy.Store.
func (s *Store) GetSeat(ctx context.Context, id string) (groupbuy.Seat, error) {
	if err := checkCtx(ctx); err != nil {
		return groupbuy.Seat{}, err
	}
	if err := checkID("id", id); err != nil {
		return groupbuy.Seat{}, err
	}
	st, err := s.getSeat(ctx, s.reader(), id)
	return st, s.wrap(s.orNewer(ctx, err, "seat", id), "get seat "+id)
}

// TeamSeats implements groupbuy.Store.
func (s *Store) TeamSeats(ctx context.Context, teamID string) ([]groupbuy.Seat, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, err
	}
	if err := checkID("teamID", teamID); err != nil {
		return nil, err
	}
	r := s.reader()
	out, err := s.seats(ctx, r, `SELECT `+seatCols+` FROM {p}seats WHERE team_id = ?`+seatOrder, teamID)
	if err == nil && len(out) == 0 {
		// A team always has its leader seat; make sure it exists at all.
		_, err = s.getTeam(ctx, r, teamID)
		err = s.orNewer(ctx, err, "team", teamID)
	}
	return out, s.wrap(err, "seats of team "+teamID)
}

// OpenTeams implements groupbuy.Store.
func (s *Store) OpenTeams(ctx context.Context, campaignID string, now time.Time, order groupbuy.MatchStrategy, limit int) ([]groupbuy.Team, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, err
	}
	if err := checkID("campaignID", campaignID); err != nil {
		return nil, err
	}
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	switch order {
	case groupbuy.MatchOldest, groupbuy.MatchFullest, groupbuy.MatchRandom:
	default:
		return nil, bad("order", fmt.Sprintf("unknown order %q", order))
	}
	out, err := s.teams(ctx, s.reader(), `SELECT `+teamCols+` FROM {p}teams
		WHERE state = 'forming' AND campaign_id = ? AND seats_taken < capacity AND `+seatRowsLeftT+` AND expires_at > ?
		ORDER BY `+matchOrder(order, "")+` LIMIT ?`, campaignID, s.tBound(now), limit)
	return out, s.wrap(err, "open teams of campaign "+campaignID)
}

// UserSeats implements groupbuy.Store.
func (s *Store) UserSeats(ctx context.Context, userID string, after groupbuy.SeatPosition, limit int) ([]groupbuy.Seat, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, err
	}
	if err := checkID("userID", userID); err != nil {
		return nil, err
	}
	if err := groupbuy.CheckSeatPosition(after); err != nil {
		return nil, err
	}
	if err := checkLimit(limit); err != nil {
		return nil, err
	}
	var out []groupbuy.Seat
	var err error
	if after.IsZero() {
		out, err = s.seats(ctx, s.reader(), `SELECT `+seatCols+` FROM {p}seats WHERE user_id = ?
			ORDER BY reserved_at DESC, id DESC LIMIT ?`, userID, limit)
	} else {
		// Spelled out rather than as a row comparison, so that MySQL
		// scans seats_user (user_id, reserved_at, id) from the position.
		at := s.t(after.ReservedAt.Truncate(time.Microsecond))
		out, err = s.seats(ctx, s.reader(), `SELECT `+seatCols+` FROM {p}seats
			WHERE user_id = ? AND (reserved_at < ? OR (reserved_at = ? AND id < ?))
			ORDER BY reserved_at DESC, id DESC LIMIT ?`, userID, at, at, after.ID, limit)
	}
	return out, s.wrap(err, "seats of user "+userID)
}

// DueReservations implements groupbuy.Store.
func (s *Store) DueReservations(ctx context.Context, now time.Time, limit int) ([]groupbuy.Seat, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, err
	}
	if err := checkDueLimit(limit); err != nil {
		return nil, err
	}
	out, err := s.seats(ctx, s.reader(), `SELECT `+seatCols+` FROM {p}seats
		WHERE state = 'reserved' AND reserved_until <= ? ORDER BY reserved_until, id LIMIT ?`, s.t(now), limit)
	return out, s.wrap(err, "due reservations")
}

// DueTeams implements groupbuy.Store. Only PostgreSQL's PaySeat can leave a
// forming team with SeatsPaid = Capacity behind (a crash between its two
// steps), so only there does the query look for such teams too, by the
// full_at marker that the filling payment sets (migration 0005); on MySQL
// and SQLite a payment completes its team in the same transaction.
func (s *Store) DueTeams(ctx context.Context, now time.Time, limit int) ([]groupbuy.Team, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, err
	}
	if err := checkDueLimit(limit); err != nil {
		return nil, err
	}
	var (
		out []groupbuy.Team
		err error
	)
	if s.d == Postgres {
		out, err = s.teams(ctx, s.reader(), `SELECT `+teamCols+` FROM (
			(SELECT `+teamCols+` FROM {p}teams WHERE state = 'forming' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?)
			UNION
			(SELECT `+teamCols+` FROM {p}teams WHERE state = 'forming' AND full_at IS NOT NULL ORDER BY expires_at, id LIMIT ?)
		) due ORDER BY expires_at, id LIMIT ?`, s.t(now), limit, limit, limit)
	} else {
		out, err = s.teams(ctx, s.reader(), `SELECT `+teamCols+` FROM {p}teams
			WHERE state = 'forming' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`, s.t(now), limit)
	}
	return out, s.wrap(err, "due teams")
}

// GetIdempotency implements groupbuy.Store.
func (s *Store) GetIdempotency(ctx context.Context, scope, key string) (groupbuy.IdempotencyRecord, error) {
	if err := checkCtx(ctx); err != nil {
		return groupbuy.IdempotencyRecord{}, err
	}
	if err := checkRecordKey("", scope, key); err != nil {
		return groupbuy.IdempotencyRecord{}, err
	}
	rec, found, err := s.getIdem(ctx, s.reader(), scope, key)
	if err == nil && !found {
		err = notFound("idempotency record", scope+"/"+key)
	}
	return rec, s.wrap(err, "get idempotency record")
}

// getIdem reads an idempotency record.
func (s *Store) getIdem(ctx context.Context, r run, scope, key string) (groupbuy.IdempotencyRecord, bool, error) {
	rec := groupbuy.IdempotencyRecord{Scope: scope, Key: key}
	err := r.row(ctx, `SELECT fingerprint, result, created_at FROM {p}idempotency WHERE scope = ? AND idem_key = ?`,
		scope, key).Scan(&rec.Fingerprint, &rec.Result, s.ts(&rec.CreatedAt))
	if errors.Is(err, sql.ErrNoRows) {
		return rec, false, nil
	}
	return rec, err == nil, err
}

// replayIfRecorded returns a *groupbuy.ReplayError when rec's key is stored.
func (s *Store) replayIfRecorded(ctx context.Context, r run, rec *groupbuy.IdempotencyRecord) error {
	if rec == nil {
		return nil
	}
	old, found, err := s.getIdem(ctx, r, rec.Scope, rec.Key)
	if err != nil {
		return err
	}
	if found {
		return &groupbuy.ReplayError{Record: old}
	}
	return nil
}
