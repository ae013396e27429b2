package groupbuy

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/socialcommerce/sdk/internal/keyset"
	"github.com/socialcommerce/sdk/storage"
)

// CancelReservation releases the user's unpaid seat. Cancelling a seat that
// is already released returns it unchanged.
func (s *Service) CancelReservation(ctx context.Context, seatID, userID string) (Seat, error) {
	if err := validateID("seatID", seatID); err != nil {
		return Seat{}, err
	}
	if err := validateID("userID", userID); err != nil {
		return Seat{}, err
	}
	seat, err := s.store.GetSeat(ctx, seatID)
	if err != nil {
		return Seat{}, fmt.Errorf("groupbuy: seat %s: %w", seatID, err)
	}
	if seat.UserID != userID {
		return Seat{}, ErrNotOwner
	}
	if seat.State == SeatReleased {
		return seat, nil // a repeat, or it lapsed first: either way it is released
	}
	if seat.State != SeatReserved {
		return Seat{}, fmt.Errorf("groupbuy: cancel seat %s: %w", seatID, ErrSeatNotReserved)
	}
	now := s.now()
	out, err := s.store.ReleaseSeat(ctx, &ReleaseSeatWrite{
		SeatID: seatID, UserID: userID, Now: now,
		Events: []storage.Event{s.seatEvent(TopicSeatReleased, &seat, "cancelled", now, 0)},
	})
	if err != nil {
		return Seat{}, fmt.Errorf("groupbuy: cancel seat %s: %w", seatID, err)
	}
	return out, nil
}

// CloseDecision is what the rules decided for a forming team: the write to
// apply. It is exported for tests and simulations.
type CloseDecision struct {
	Write   CloseTeamWrite
	Outcome TeamState
}

// DecideClose decides how a forming team closes at now: a fully paid team
// succeeds, even when an operator asked to cancel it (its last payment
// filled it, and a store may complete the team in a second step after that
// payment committed); at its deadline a team succeeds with virtual seats
// when the campaign's policy allows, or fails, also when an operator asked
// to cancel it after that instant (its outcome was settled at the
// deadline, and must not depend on whether ProcessDue closed it first);
// before it, an operator cancel fails it as cancelled. Reserved seats are
// released, paid seats confirmed on success and refunded otherwise. It
// returns ok false when the team should not close yet. newID supplies
// event and seat IDs. c, team and newID must not be nil: with any of them
// nil there is nothing to decide by, and it returns ok false.
func DecideClose(c *Campaign, team *Team, seats []Seat, cancel bool, reason string, now time.Time, newID func() string) (d CloseDecision, ok bool) {
	if c == nil || team == nil || newID == nil || team.State != TeamForming {
		return d, false
	}
	fullyPaid := team.SeatsPaid >= team.Capacity
	due := !team.ExpiresAt.After(now)
	if !cancel && !fullyPaid && !due {
		return d, false
	}
	w := CloseTeamWrite{TeamID: team.ID, Version: team.Version, Now: now}
	virtual := 0
	switch {
	case fullyPaid:
		w.State, reason = TeamSucceeded, "filled"
	case cancel && !due:
		w.State = TeamCancelled
	default:
		virtual = VirtualSeatsAtDeadline(c, team.Capacity, team.SeatsPaid)
		if virtual > 0 {
			w.State, reason = TeamSucceeded, "virtual fill"
		} else {
			w.State, reason = TeamFailed, "expired"
		}
	}
	closed := *team
	closed.State, closed.ClosedAt, closed.VirtualSeats = w.State, now, team.VirtualSeats+virtual
	var final []Seat
	released := 0 // before the close: not listed in the closing event
	for i := range seats {
		st := seats[i]
		switch st.State {
		case SeatReleased:
			released++
			continue
		case SeatReserved:
			w.Release = append(w.Release, st.ID)
			st.State = SeatReleased
			w.Events = append(w.Events, newEvent(newID(), TopicSeatReleased, seatKey(&st, "released"), now, SeatPayload{
				TeamID: st.TeamID, SeatID: st.ID, CampaignID: st.CampaignID, UserID: st.UserID,
				Amount: st.Amount, Currency: st.Currency, Reason: "team " + string(w.State),
			}))
			closed.SeatsTaken--
		case SeatPaid:
			if w.State == TeamSucceeded {
				w.Confirm = append(w.Confirm, st.ID)
				st.State = SeatConfirmed
			} else {
				w.Refund = append(w.Refund, st.ID)
				st.State, st.RefundAttempt = SeatRefundRequested, 1
				w.Events = append(w.Events, refundEvent(newID(), &st, 1, "team "+string(w.State)+": "+reason, now))
				closed.SeatsTaken--
				closed.SeatsPaid--
			}
		}
		final = append(final, st)
	}
	if virtual > 0 {
		w.VirtualSeats = virtual
		var ids []string
		if c.RecordVirtualSeats {
			for range virtual {
				bot := Seat{
					ID: newID(), TeamID: team.ID, CampaignID: team.CampaignID, Quantity: 1,
					Currency: c.Currency, State: SeatConfirmed, Virtual: true, ReservedAt: now,
					ReservedUntil: now, PaidAt: now, Version: 1,
				}
				w.BotSeats = append(w.BotSeats, bot)
				final = append(final, bot)
				ids = append(ids, bot.ID)
			}
		}
		w.Events = append(w.Events, newEvent(newID(), TopicVirtualSeatsAdded, "gb:"+team.ID+":virtual", now, VirtualSeatsAddedPayload{
			TeamID: team.ID, Count: virtual, SeatIDs: ids, PaidReal: team.SeatsPaid,
		}))
	}
	if w.State == TeamSucceeded {
		released = 0 // the succeeded event lists its confirmed seats alone
	}
	w.Events = append(w.Events, teamClosedEvent(newID(), &closed, final, c.Currency, reason, released, now))
	return CloseDecision{Write: w, Outcome: w.State}, true
}

// closeTeam reads a team and its seats, decides and writes, re-reading when
// a concurrent change beat the write. It returns the final state, or "" when
// the team did not need closing. A conflict the store marked retryable is
// returned at once: its reads come from a host transaction's snapshot that
// is older than the row the write locked (see storage.IsRetryable), so a
// re-read would read the same, and only the host's rerun can see the change.
func (s *Service) closeTeam(ctx context.Context, teamID string, cancel bool, reason string) (Team, bool, error) {
	for range s.cfg.MaxRereads + 1 {
		team, err := s.store.GetTeam(ctx, teamID)
		if err != nil {
			return Team{}, false, fmt.Errorf("groupbuy: team %s: %w", teamID, err)
		}
		if team.State != TeamForming {
			if cancel && team.State == TeamCancelled {
				return team, false, nil // a repeat
			}
			if cancel {
				return team, false, fmt.Errorf("groupbuy: cancel team %s: %w", teamID, &TransitionError{Entity: "team", From: string(team.State), To: string(TeamCancelled)})
			}
			return team, false, nil
		}
		c, err := s.campaign(ctx, team.CampaignID)
		if err != nil {
			return Team{}, false, err
		}
		seats, err := s.store.TeamSeats(ctx, teamID)
		if err != nil {
			return Team{}, false, fmt.Errorf("groupbuy: seats of team %s: %w", teamID, err)
		}
		now := s.now()
		d, ok := DecideClose(c, &team, seats, cancel, reason, now, s.newID)
		if !ok {
			return team, false, nil
		}
		err = s.store.CloseTeam(ctx, &d.Write)
		if errors.Is(err, storage.ErrConflict) && !storage.IsRetryable(err) {
			continue
		}
		if err != nil {
			return Team{}, false, fmt.Errorf("groupbuy: close team %s: %w", teamID, err)
		}
		team, err = s.store.GetTeam(ctx, teamID)
		if err != nil {
			return Team{}, false, fmt.Errorf("groupbuy: team %s: %w", teamID, err)
		}
		if cancel && d.Outcome != TeamCancelled {
			// Fully paid, or past its deadline: closed as ProcessDue
			// closes it instead, so the cancel is refused.
			return team, true, fmt.Errorf("groupbuy: cancel team %s: %w", teamID, &TransitionError{Entity: "team", From: string(d.Outcome), To: string(TeamCancelled)})
		}
		return team, true, nil
	}
	return Team{}, false, ErrConflict
}

// CancelTeam cancels a forming team (an operator action): reserved seats are
// released and every paid seat gets one refund request. Cancelling a
// cancelled team returns it unchanged; a team that succeeded or failed
// cannot be cancelled (ErrIllegalTransition), nor can a fully paid one that
// a store has yet to complete, nor one whose deadline passed before
// ProcessDue closed it: CancelTeam closes it as ProcessDue would
// (succeeded, with virtual seats when the campaign's policy fills it, or
// failed) and returns the team with that error. The reason, at most 1024
// bytes of UTF-8, goes into the team_failed event.
func (s *Service) CancelTeam(ctx context.Context, teamID, reason string) (Team, error) {
	if err := validateID("teamID", teamID); err != nil {
		return Team{}, err
	}
	if len(reason) > 1024 {
		return Team{}, invalid("reason", "longer than 1024 bytes")
	}
	if !utf8.ValidString(reason) {
		// It reaches the host in the team_failed event, as JSON, which
		// would replace the invalid bytes (as refundStep's reason).
		return Team{}, invalid("reason", "must be valid UTF-8")
	}
	team, _, err := s.closeTeam(ctx, teamID, true, "cancelled: "+reason)
	return team, err
}

// MarkRefunded records that attempt attempt at refunding a seat settled
// (Seat.RefundAttempt, the Attempt of the refund_requested event the host
// acted on). When the seat's current attempt is another, the report is of
// an earlier attempt, answered after RetryRefund asked again: it returns
// ErrStaleRefundAttempt and changes nothing (if that earlier attempt did
// refund the payment, the host has to reconcile with the provider: the
// attempt in flight must not refund it again). attempt counts from 1: 0
// or less is a *ValidationError that changes nothing (a report that names
// no attempt cannot be told from a late answer of an earlier one). An
// event written before attempts were numbered carries none, and a seat
// that a release before the numbering moved to refund_requested has
// RefundAttempt 0: both are attempt 1. Repeating it for the current
// attempt is a no-op that returns the seat.
func (s *Service) MarkRefunded(ctx context.Context, seatID string, attempt int) (Seat, error) {
	return s.refundStep(ctx, seatID, SeatRefunded, attempt, "")
}

// MarkRefundFailed records that attempt attempt at refunding a seat failed
// (as MarkRefunded, attempt is the Attempt of the refund_requested event
// the host acted on, from 1; 0 or less is a *ValidationError), and
// writes a TopicRefundFailed event carrying reason (at most 1024 bytes of
// UTF-8) and the attempt to the host; RetryRefund asks for the refund
// again with the same idempotency key and the next attempt number. A
// failure of an attempt other than the seat's current one (a late or
// redelivered answer of an attempt before a RetryRefund) returns
// ErrStaleRefundAttempt and changes nothing, writing no event: with a
// provider key per attempt, marking the attempt in flight failed on such a
// report would invite a further retry under a new key while the attempt
// in flight may still refund, and the payment could be refunded twice.
// Repeating it for the current attempt while the seat's refund is failed
// is a no-op that writes no event.
func (s *Service) MarkRefundFailed(ctx context.Context, seatID string, attempt int, reason string) (Seat, error) {
	return s.refundStep(ctx, seatID, SeatRefundFailed, attempt, reason)
}

// RetryRefund requests a failed refund again: a new RefundRequested event
// (a new event ID) with the seat's unchanged refund key, RefundKey(team,
// seat), and the next attempt number (Seat.RefundAttempt and the event's
// Attempt). One key per seat is what WeChat Pay and Alipay expect: a
// refund that failed is resubmitted with the original out_refund_no
// (WeChat Pay) or out_request_no (Alipay), for which the host maps the key
// with ProviderRefundNo (their numbers are shorter). A provider that stores the
// answer to a key, failures included, would answer the retry with the
// stored failure (Stripe does, once a request began executing); there the
// host hands it Key + ":" + Attempt, one key per attempt, the same for
// every redelivery of the attempt's event, and reports the provider's
// answers naming the attempt (MarkRefunded, MarkRefundFailed), so that an
// earlier attempt's late answer is refused.
func (s *Service) RetryRefund(ctx context.Context, seatID string) (Seat, error) {
	return s.refundStep(ctx, seatID, SeatRefundRequested, 0, "retry")
}

// refundStep moves a seat to state to along the refund path. attempt is
// the attempt a mark reports, from 1; a retry, which reports none, passes
// 0.
func (s *Service) refundStep(ctx context.Context, seatID string, to SeatState, attempt int, reason string) (Seat, error) {
	if err := validateID("seatID", seatID); err != nil {
		return Seat{}, err
	}
	retry := to == SeatRefundRequested
	if !retry && attempt < 1 {
		return Seat{}, invalid("attempt", "must be at least 1: the Attempt of the refund_requested event acted on")
	}
	if len(reason) > 1024 {
		return Seat{}, invalid("reason", "longer than 1024 bytes")
	}
	if !utf8.ValidString(reason) {
		// It reaches the host in an event, as JSON, which would replace
		// the invalid bytes.
		return Seat{}, invalid("reason", "must be valid UTF-8")
	}
	stale := func(seat *Seat) error {
		return fmt.Errorf("groupbuy: refund seat %s: attempt %d reported, the seat is at attempt %d: %w",
			seatID, attempt, seat.RefundAttempt, ErrStaleRefundAttempt)
	}
	for range s.cfg.MaxRereads + 1 {
		seat, err := s.store.GetSeat(ctx, seatID)
		if err != nil {
			return Seat{}, fmt.Errorf("groupbuy: seat %s: %w", seatID, err)
		}
		// A seat in a refund state at attempt 0 was moved there by a
		// release before the stores kept the number: its attempt is the
		// first. A seat never refunded has none.
		current := seat.RefundAttempt
		if current == 0 && refunding(seat.State) {
			current = 1
		}
		if seat.State == to && !retry {
			if attempt != current {
				return Seat{}, stale(&seat)
			}
			return seat, nil // a repeat
		}
		// A report of another attempt than the current one of a seat
		// whose refund was asked for is stale whatever the seat's state,
		// a refunded one's too (attempt 1's failure redelivered after
		// attempt 2 settled), before the transition is checked.
		if !retry && current != 0 && attempt != current {
			return Seat{}, stale(&seat)
		}
		if err := CheckSeatTransition(seat.State, to); err != nil {
			return Seat{}, err
		}
		if retry && seat.State != SeatRefundFailed {
			return Seat{}, &TransitionError{Entity: "seat", From: string(seat.State), To: string(to)}
		}
		now := s.now()
		// The write is guarded by the attempt read, so that the attempt
		// stored and the event's agree even when the seat failed, was
		// retried and failed again since the read.
		w := &RefundWrite{SeatID: seatID, From: seat.State, To: to, Attempt: seat.RefundAttempt, Now: now}
		switch to {
		case SeatRefundRequested:
			w.Events = []storage.Event{refundEvent(s.newID(), &seat, w.NewAttempt(), reason, now)}
		case SeatRefundFailed:
			numbered := seat
			numbered.RefundAttempt = current
			w.Events = []storage.Event{refundFailedEvent(s.newID(), &numbered, reason, now)}
		}
		out, err := s.store.UpdateRefund(ctx, w)
		if errors.Is(err, storage.ErrConflict) && !storage.IsRetryable(err) {
			continue // a retryable one goes back to the host, as in closeTeam
		}
		if err != nil {
			return Seat{}, fmt.Errorf("groupbuy: refund seat %s: %w", seatID, err)
		}
		return out, nil
	}
	return Seat{}, ErrConflict
}

// refunding reports whether st is a state of the refund path.
func refunding(st SeatState) bool {
	return st == SeatRefundRequested || st == SeatRefundFailed || st == SeatRefunded
}

// DueReport counts what one ProcessDue run did.
type DueReport struct {
	Released  int // reservations released
	Succeeded int // teams that succeeded (fully paid or virtually filled)
	Virtual   int // of those, teams completed with virtual seats
	Failed    int // teams that failed at their deadline
	// Skipped counts the reservations and teams whose release or close
	// returned an error; ProcessDue returns their errors, joined.
	Skipped int
}

// maxDueErrors bounds the errors ProcessDue keeps for its result; Skipped
// counts them all.
const maxDueErrors = 8

// ProcessDue releases the reservations that lapsed and closes the teams whose
// deadline passed at Now; it also completes any forming team that is
// already fully paid (a completion that a crash interrupted, or that an
// adapter leaves to a second step). It is safe to re-run and to run from
// several instances at once: every change is a guarded write, so each
// happens once.
//
// A reservation or team whose release or close returns an error is
// skipped for the rest of the run, and ProcessDue goes on with the others
// before it returns the errors joined (DueReport.Skipped counts them): one
// that keeps failing, say a team whose event the database refuses, must
// not hold up every deadline after its own. The store lists due rows in
// deadline order, DueBatch at a time, so a run gets past at most
// DueBatch - 1 rows that fail; a cancelled ctx stops it at once.
func (s *Service) ProcessDue(ctx context.Context) (DueReport, error) {
	var rep DueReport
	var errs []error
	var skipped map[string]bool // "s:" + seat ID, "t:" + team ID, of those that failed in this run
	skip := func(id string, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return errors.Join(append(errs, err)...)
		}
		if skipped == nil {
			skipped = make(map[string]bool)
		}
		skipped[id] = true
		rep.Skipped++
		if len(errs) < maxDueErrors {
			errs = append(errs, err)
		}
		return nil
	}
	// Bounded passes so that a row that keeps failing cannot loop forever.
	for pass := 0; pass < MaxProcessDue/s.cfg.DueBatch+1; pass++ {
		if err := ctx.Err(); err != nil {
			return rep, errors.Join(append(errs, err)...)
		}
		now := s.now()
		progress := false
		seats, err := s.store.DueReservations(ctx, now, s.cfg.DueBatch)
		if err != nil {
			return rep, errors.Join(append(errs, fmt.Errorf("groupbuy: due reservations: %w", err))...)
		}
		for i := range seats {
			if skipped["s:"+seats[i].ID] {
				continue
			}
			progress = true
			released, err := s.releaseLapsed(ctx, &seats[i], now)
			if err != nil {
				if err := skip("s:"+seats[i].ID, err); err != nil {
					return rep, err
				}
				continue
			}
			if released {
				rep.Released++
			}
		}
		teams, err := s.store.DueTeams(ctx, now, s.cfg.DueBatch)
		if err != nil {
			return rep, errors.Join(append(errs, fmt.Errorf("groupbuy: due teams: %w", err))...)
		}
		for i := range teams {
			if skipped["t:"+teams[i].ID] {
				continue
			}
			progress = true
			before := teams[i].SeatsPaid
			team, closed, err := s.closeTeam(ctx, teams[i].ID, false, "")
			if err != nil {
				if err := skip("t:"+teams[i].ID, err); err != nil {
					return rep, err
				}
				continue
			}
			if !closed {
				continue
			}
			switch team.State {
			case TeamSucceeded:
				rep.Succeeded++
				if team.VirtualSeats > 0 && before < team.Capacity {
					rep.Virtual++
				}
			case TeamFailed:
				rep.Failed++
			}
		}
		if !progress || len(seats) < s.cfg.DueBatch && len(teams) < s.cfg.DueBatch {
			break
		}
	}
	return rep, errors.Join(errs...)
}

// releaseLapsed releases reservation st, lapsed at now, and reports
// whether it did: false when it was paid or released meanwhile, possibly
// by another instance. ProcessDue and a late payment for a lapsed seat
// release through it, so that both write the same events.
func (s *Service) releaseLapsed(ctx context.Context, st *Seat, now time.Time) (bool, error) {
	_, err := s.store.ReleaseSeat(ctx, &ReleaseSeatWrite{
		SeatID: st.ID, OnlyExpired: true, Now: now,
		Events: []storage.Event{s.seatEvent(TopicSeatReleased, st, "reservation expired", now, 0)},
	})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrSeatNotReserved), errors.Is(err, storage.ErrConflict), errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("groupbuy: release seat %s: %w", st.ID, err)
}

// TeamView is a team with its seats.
type TeamView struct {
	Team  Team
	Seats []Seat
}

// Team returns a team with its seats.
func (s *Service) Team(ctx context.Context, teamID string) (TeamView, error) {
	if err := validateID("teamID", teamID); err != nil {
		return TeamView{}, err
	}
	team, err := s.store.GetTeam(ctx, teamID)
	if err != nil {
		return TeamView{}, fmt.Errorf("groupbuy: team %s: %w", teamID, err)
	}
	seats, err := s.store.TeamSeats(ctx, teamID)
	if err != nil {
		return TeamView{}, fmt.Errorf("groupbuy: seats of team %s: %w", teamID, err)
	}
	return TeamView{Team: team, Seats: seats}, nil
}

// OpenTeams lists forming teams of a campaign that have a free seat and a
// seat row left (MaxSeatRows), for a "join a friend's team" list: fullest
// first, then soonest to expire.
func (s *Service) OpenTeams(ctx context.Context, campaignID string, limit int) ([]Team, error) {
	if err := validateID("campaignID", campaignID); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > MaxListLimit {
		return nil, invalid("limit", fmt.Sprintf("must be in 1..%d", MaxListLimit))
	}
	return s.store.OpenTeams(ctx, campaignID, s.now(), MatchFullest, limit)
}

// SeatPage is one page of a user's seats.
type SeatPage struct {
	Seats []Seat
	// Next is the cursor of the next page, "" on the last page (but a
	// last page of MaxListLimit seats, which is followed by an empty one).
	Next string
}

// UserSeats lists a user's seats, newest first (Store.UserSeats' order),
// a page of at most limit seats at a time: cursor "" for the first page,
// then the Next of the page before. Pages are cut by position (keyset), so
// seats reserved while a client pages do not shift or repeat the later
// pages; they appear on a new first page. A cursor that is not one of
// UserSeats' is a *ValidationError.
func (s *Service) UserSeats(ctx context.Context, userID, cursor string, limit int) (SeatPage, error) {
	if err := validateID("userID", userID); err != nil {
		return SeatPage{}, err
	}
	if limit <= 0 || limit > MaxListLimit {
		return SeatPage{}, invalid("limit", fmt.Sprintf("must be in 1..%d", MaxListLimit))
	}
	after, err := decodeSeatCursor(cursor)
	if err != nil {
		return SeatPage{}, err
	}
	// One seat more than the page tells whether a next page exists.
	seats, err := s.store.UserSeats(ctx, userID, after, min(limit+1, MaxListLimit))
	if err != nil {
		return SeatPage{}, fmt.Errorf("groupbuy: seats of user %s: %w", userID, err)
	}
	page := SeatPage{}
	var last *Seat
	if page.Seats, last = keyset.Cut(seats, limit, MaxListLimit); last != nil {
		page.Next = encodeSeatCursor(PositionOf(last))
	}
	return page, nil
}

// MayShip reports whether the host may ship the goods of a seat: only a real
// seat of a succeeded team.
func (s *Service) MayShip(ctx context.Context, seatID string) (bool, error) {
	if err := validateID("seatID", seatID); err != nil {
		return false, err
	}
	seat, err := s.store.GetSeat(ctx, seatID)
	if err != nil {
		return false, fmt.Errorf("groupbuy: seat %s: %w", seatID, err)
	}
	return MayShip(&seat), nil
}

// MayOpenAfterSale reports whether the host may open an after-sale case on a
// seat: only a real seat of a succeeded team.
func (s *Service) MayOpenAfterSale(ctx context.Context, seatID string) (bool, error) {
	if err := validateID("seatID", seatID); err != nil {
		return false, err
	}
	seat, err := s.store.GetSeat(ctx, seatID)
	if err != nil {
		return false, fmt.Errorf("groupbuy: seat %s: %w", seatID, err)
	}
	return MayOpenAfterSale(&seat), nil
}
