package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/storage"
)

var errNoRows = sql.ErrNoRows

// A diagnosis runs after a write's guard failed and the write was rolled
// back. It reads the current state and returns the error of the first
// precondition (in the Store contract's order) that does not hold, or nil
// when all hold again, so that the caller reruns the write. Each diagnosis
// is one or two reads: the idempotency record, then one row that gathers
// everything else. Under WithTx they read the host's snapshot, which lacks
// rows committed after it: a row the diagnosis misses is looked up beyond
// the snapshot (notFoundOrNewer) before it is called not found.

func (s *Store) diagnoseOpen(ctx context.Context, r run, w *groupbuy.OpenTeamWrite) error {
	if err := s.replayIfRecorded(ctx, r, w.Idem); err != nil {
		return err
	}
	var (
		status           string
		startsAt, endsAt time.Time
		opened           sql.NullInt64
		teamN, seatN     int
	)
	err := r.row(ctx, `SELECT c.status, c.starts_at, c.ends_at,
		(SELECT u.opened FROM {p}user_limits u WHERE u.campaign_id = c.id AND u.user_id = ?),
		(SELECT COUNT(*) FROM {p}teams t WHERE t.id = ?),
		(SELECT COUNT(*) FROM {p}seats st WHERE st.id = ?)
		FROM {p}campaigns c WHERE c.id = ?`,
		w.Leader.UserID, w.Team.ID, w.Leader.ID, w.Team.CampaignID).Scan(
		&status, s.ts(&startsAt), s.ts(&endsAt), &opened, &teamN, &seatN)
	if errors.Is(err, errNoRows) {
		return s.notFoundOrNewer(ctx, r, "campaign", w.Team.CampaignID)
	}
	if err != nil {
		return err
	}
	c := groupbuy.Campaign{Status: groupbuy.CampaignStatus(status), StartsAt: startsAt, EndsAt: endsAt}
	switch {
	case !c.AcceptsSeats(w.Now):
		return groupbuy.ErrCampaignNotActive
	case w.MaxOpened > 0 && opened.Int64 >= int64(w.MaxOpened):
		return groupbuy.ErrLimitExceeded
	case teamN > 0:
		return conflict("team %s exists", w.Team.ID)
	case seatN > 0:
		return conflict("seat %s exists", w.Leader.ID)
	}
	return s.eventsExist(ctx, r, w.Events)
}

func (s *Store) diagnoseJoin(ctx context.Context, r run, w *groupbuy.JoinTeamWrite) error {
	if err := s.replayIfRecorded(ctx, r, w.Idem); err != nil {
		return err
	}
	f := joinFacts{known: true}
	user, seat0 := w.Seat.UserID, w.Seat.ID
	err := r.row(ctx, `SELECT t.campaign_id, t.state, t.expires_at, t.seats_taken, t.capacity, t.seat_rows,
		(SELECT c.status FROM {p}campaigns c WHERE c.id = t.campaign_id),
		(SELECT COUNT(*) FROM {p}seats st WHERE st.team_id = t.id AND st.active_user = ?),
		(SELECT u.joined FROM {p}user_limits u WHERE u.campaign_id = t.campaign_id AND u.user_id = ?),
		(SELECT COUNT(*) FROM {p}seats st WHERE st.id = ?)
		FROM {p}teams t WHERE t.id = ?`, user, user, seat0, w.Seat.TeamID).Scan(
		&f.campaignID, &f.state, s.ts(&f.expiresAt), &f.taken, &f.capacity, &f.seatRows, &f.status, &f.active, &f.joined, &f.seatN)
	if errors.Is(err, errNoRows) {
		return s.notFoundOrNewer(ctx, r, "team", w.Seat.TeamID)
	}
	if err != nil {
		return err
	}
	if err := f.refusal(w); err != nil {
		return err
	}
	return s.eventsExist(ctx, r, w.Events)
}

// joinFacts is what a join's diagnosis reads of its team, the campaign,
// the user's seats and counter, and the seat ID.
type joinFacts struct {
	campaignID, state string
	status            sql.NullString
	expiresAt         time.Time
	taken, capacity   int
	seatRows          int
	active, seatN     int
	joined            sql.NullInt64
	// known is false when joined and seatN were not read (pgJoin's
	// diagnosis in its own statement): the limit and the seat's ID are then
	// left to a full diagnosis.
	known bool
}

// refusal returns the error of the first precondition of w that f shows
// failing, in the Store contract's order, or nil when f shows none.
func (f *joinFacts) refusal(w *groupbuy.JoinTeamWrite) error {
	switch {
	case f.campaignID != w.Seat.CampaignID:
		return notFound("team", w.Seat.TeamID)
	case f.status.String != string(groupbuy.CampaignActive):
		return groupbuy.ErrCampaignNotActive
	case f.state != string(groupbuy.TeamForming) || !f.expiresAt.After(w.Now):
		return groupbuy.ErrTeamClosed
	case f.active > 0:
		return groupbuy.ErrAlreadyJoined
	case f.taken >= f.capacity:
		return groupbuy.ErrTeamFull
	case f.seatRows >= groupbuy.MaxSeatRows(f.capacity):
		return groupbuy.ErrTeamChurned
	case !f.known:
		return nil
	case w.MaxJoined > 0 && f.joined.Int64 >= int64(w.MaxJoined):
		return groupbuy.ErrLimitExceeded
	case f.seatN > 0:
		return conflict("seat %s exists", w.Seat.ID)
	}
	return nil
}

// diagnosePay reads, in one statement, w's seat, its team and w's
// idempotency record. A record found is the replay, which carries the team
// and seat as read, so that the Service builds the replayed result without
// reading them again (see groupbuy.ReplayError); otherwise the seat and team
// say which precondition failed.
func (s *Store) diagnosePay(ctx context.Context, r run, w *groupbuy.PaySeatWrite) error {
	var (
		t       groupbuy.Team
		st      groupbuy.Seat
		rec     groupbuy.IdempotencyRecord
		fp      sql.NullString
		dst     [teamColN + seatColN + 3]any
		recCols = `NULL, NULL, NULL`
		join    string
		args    = make([]any, 0, 3)
	)
	if w.Idem != nil {
		recCols, join = `i.fingerprint, i.result, i.created_at`, ` LEFT JOIN {p}idempotency i ON i.scope = ? AND i.idem_key = ?`
		args = append(args, w.Idem.Scope, w.Idem.Key)
	}
	err := r.row(ctx, `SELECT `+teamColsT+`, `+seatColsST+`, `+recCols+`
		FROM {p}seats st JOIN {p}teams t ON t.id = st.team_id`+join+` WHERE st.id = ?`, append(args, w.SeatID)...).Scan(
		append(s.seatDest(s.teamDest(dst[:0], &t), &st), &fp, &rec.Result, s.ts(&rec.CreatedAt))...)
	if errors.Is(err, errNoRows) {
		// No such seat (or team); a record of the key still comes first.
		if err := s.replayIfRecorded(ctx, r, w.Idem); err != nil {
			return err
		}
		return s.notFoundOrNewer(ctx, r, "seat", w.SeatID)
	}
	if err != nil {
		return err
	}
	if fp.Valid {
		rec.Scope, rec.Key, rec.Fingerprint = w.Idem.Scope, w.Idem.Key, fp.String
		return &groupbuy.ReplayError{Record: rec, Team: &t, Seat: &st}
	}
	switch {
	case st.TeamID != w.TeamID || st.Virtual:
		return notFound("seat", w.SeatID)
	case !check.MoneyOK(w.Amount) || !st.Amount.Equal(w.Amount) || st.Currency != w.Currency:
		// An amount beyond the money columns equals no stored one, and
		// comparing one with a hostile exponent would rescale it by a
		// power of ten as large (see check.ExactTo).
		return groupbuy.ErrAmountMismatch
	case st.State != groupbuy.SeatReserved || !st.ReservedUntil.After(w.Now):
		return groupbuy.ErrSeatNotReserved
	case t.State != groupbuy.TeamForming || !t.ExpiresAt.After(w.Now):
		return groupbuy.ErrTeamClosed
	}
	return s.eventsExist(ctx, r, w.Events)
}

// eventsExist returns storage.ErrConflict when an event ID is in use.
func (s *Store) eventsExist(ctx context.Context, r run, evs []storage.Event) error {
	for i := 0; i < len(evs); i += 500 {
		chunk := evs[i:min(i+500, len(evs))]
		args := make([]any, len(chunk))
		for j := range chunk {
			args[j] = chunk[j].ID
		}
		var n int
		if err := r.row(ctx, `SELECT COUNT(*) FROM {p}outbox WHERE id IN (`+placeholders(len(chunk))+`)`, args...).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return conflict("an event ID is in use")
		}
	}
	return nil
}
