package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
)

var errNoRows = sql.ErrNoRows

// A diagnosis runs after a write's guard failed and the write was rolled
// back. It reads the current state and returns the error of the first
// precondition (in the Store contract's order) that does not hold, or nil
// when all hold again, so that the caller reruns the write. Each diagnosis
// is one or two reads: the idempotency record, then one row that gathers
// everything else.

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
		return notFound("campaign", w.Team.CampaignID)
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
	var (
		campaignID, state   string
		status              sql.NullString
		expiresAt           time.Time
		taken, capacity     int
		active, seatN       int
		joined              sql.NullInt64
		teamID, user, seat0 = w.Seat.TeamID, w.Seat.UserID, w.Seat.ID
	)
	err := r.row(ctx, `SELECT t.campaign_id, t.state, t.expires_at, t.seats_taken, t.capacity,
		(SELECT c.status FROM {p}campaigns c WHERE c.id = t.campaign_id),
		(SELECT COUNT(*) FROM {p}seats st WHERE st.team_id = t.id AND st.active_user = ?),
		(SELECT u.joined FROM {p}user_limits u WHERE u.campaign_id = t.campaign_id AND u.user_id = ?),
		(SELECT COUNT(*) FROM {p}seats st WHERE st.id = ?)
		FROM {p}teams t WHERE t.id = ?`, user, user, seat0, teamID).Scan(
		&campaignID, &state, s.ts(&expiresAt), &taken, &capacity, &status, &active, &joined, &seatN)
	if errors.Is(err, errNoRows) {
		return notFound("team", teamID)
	}
	if err != nil {
		return err
	}
	switch {
	case campaignID != w.Seat.CampaignID:
		return notFound("team", teamID)
	case status.String != string(groupbuy.CampaignActive):
		return groupbuy.ErrCampaignNotActive
	case state != string(groupbuy.TeamForming) || !expiresAt.After(w.Now):
		return groupbuy.ErrTeamClosed
	case active > 0:
		return groupbuy.ErrAlreadyJoined
	case taken >= capacity:
		return groupbuy.ErrTeamFull
	case w.MaxJoined > 0 && joined.Int64 >= int64(w.MaxJoined):
		return groupbuy.ErrLimitExceeded
	case seatN > 0:
		return conflict("seat %s exists", seat0)
	}
	return s.eventsExist(ctx, r, w.Events)
}

func (s *Store) diagnosePay(ctx context.Context, r run, w *groupbuy.PaySeatWrite) error {
	if err := s.replayIfRecorded(ctx, r, w.Idem); err != nil {
		return err
	}
	var (
		teamID, currency, seatState string
		virtual                     bool
		amount                      decimal.Decimal
		until, expiresAt            time.Time
		teamState                   sql.NullString
	)
	err := r.row(ctx, `SELECT st.team_id, st.amount, st.currency, st.state, st.is_virtual, st.reserved_until, t.state, t.expires_at
		FROM {p}seats st LEFT JOIN {p}teams t ON t.id = st.team_id WHERE st.id = ?`, w.SeatID).Scan(
		&teamID, decScan{&amount}, &currency, &seatState, &virtual, s.ts(&until), &teamState, s.ts(&expiresAt))
	if errors.Is(err, errNoRows) {
		return notFound("seat", w.SeatID)
	}
	if err != nil {
		return err
	}
	switch {
	case teamID != w.TeamID || virtual || !teamState.Valid:
		return notFound("seat", w.SeatID)
	case !amount.Equal(w.Amount) || currency != w.Currency:
		return groupbuy.ErrAmountMismatch
	case seatState != string(groupbuy.SeatReserved) || !until.After(w.Now):
		return groupbuy.ErrSeatNotReserved
	case teamState.String != string(groupbuy.TeamForming) || !expiresAt.After(w.Now):
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
