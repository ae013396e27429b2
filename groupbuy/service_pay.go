package groupbuy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/internal/decfmt"
	"github.com/socialcommerce/sdk/internal/fastcopy"
	"github.com/socialcommerce/sdk/internal/jsonw"
	"github.com/socialcommerce/sdk/storage"
)

// PaymentRequest reports a payment for a seat from the host's payment
// callback. It is idempotent on PaymentRef: a repeat changes nothing and
// returns the first call's outcome (the same team and seat, whether it
// filled the team, the late-payment outcome), with the team and seat as
// they are now. The reference names one payment: another request under
// it (another team, seat, amount or currency) is refused with
// ErrIdempotencyKeyReused and changes nothing.
type PaymentRequest struct {
	TeamID string
	SeatID string
	// PaymentRef is the payment provider's reference, unique per payment:
	// 1..MaxPaymentRefLength bytes of valid UTF-8 with no ASCII spaces or
	// control characters, as IDs.
	PaymentRef string
	// Amount is the seat's Amount: positive, exact in the currency's minor
	// unit and at most 10^12 major units, as every seat's amount is.
	Amount   decimal.Decimal
	Currency string
}

// Late-payment actions reported in LateOutcome.Action.
const (
	LateActionRefund = "refund"
	LateActionJoined = "joined"
	LateActionOpened = "opened"
)

// LateOutcome says what was done with a payment that arrived after its seat
// lapsed or its team closed.
type LateOutcome struct {
	Policy LatePaymentPolicy // the campaign's policy
	Action string            // LateActionRefund, LateActionJoined or LateActionOpened
	// RefundKey is the idempotency key of the refund requested, when Action
	// is LateActionRefund: LateRefundKey, one per payment. Such a refund
	// has no seat state (the payment never held a seat), so MarkRefunded
	// and its siblings do not apply: the host settles it by this key with
	// its payment provider, which refunds a key once.
	RefundKey string
	// Reason says why the payment was late, e.g. "seat released, team
	// forming".
	Reason string
}

// PaymentResult is the outcome of ConfirmPayment. For a late payment Team
// and Seat are the ones the payment ended up in (a new seat when it joined
// or opened another team; the original seat when refunded).
type PaymentResult struct {
	Team Team
	Seat Seat
	// Filled is true when this payment completed its team.
	Filled bool
	// Late is how a late payment was handled; nil for a payment in time.
	Late *LateOutcome
}

type payResultJSON struct {
	TeamID    string `json:"team_id"`
	SeatID    string `json:"seat_id"`
	Filled    bool   `json:"filled,omitempty"`
	Policy    string `json:"late_policy,omitempty"`
	Action    string `json:"late_action,omitempty"`
	RefundKey string `json:"refund_key,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// validatePayment checks a payment request and returns which of its fields
// are plain in JSON: the currency, once valid, always is.
func validatePayment(req *PaymentRequest) (plainFields, error) {
	team, err := check.IDPlain("TeamID", req.TeamID)
	if err != nil {
		return 0, err
	}
	seat, err := check.IDPlain("SeatID", req.SeatID)
	if err != nil {
		return 0, err
	}
	if err := check.Text("PaymentRef", req.PaymentRef, MaxPaymentRefLength); err != nil {
		return 0, err
	}
	if err := validateCurrency("Currency", req.Currency); err != nil {
		return 0, err
	}
	plain := plainCurrency
	if team {
		plain |= plainTeam
	}
	if seat {
		plain |= plainSeat
	}
	return plain, validatePrice("Amount", req.Amount, req.Currency)
}

// appendPaymentFingerprint appends fingerprint(team, seat, amount,
// currency) to b, with the amount formatted without big.Int conversions.
func appendPaymentFingerprint(b []byte, req *PaymentRequest) []byte {
	b = fastcopy.Append(b, req.TeamID) // see fastcopy
	b = append(b, fingerprintSep)
	b = fastcopy.Append(b, req.SeatID)
	b = append(b, fingerprintSep)
	b = decfmt.Append(b, req.Amount)
	b = append(b, fingerprintSep)
	return append(b, req.Currency...)
}

// fingerprintAmount returns the amount's text inside fp, a fingerprint
// appendPaymentFingerprint made of req: the payment's event payload takes
// it from there rather than formatting the amount again.
func fingerprintAmount(fp []byte, req *PaymentRequest) []byte {
	return fp[len(req.TeamID)+1+len(req.SeatID)+1 : len(fp)-1-len(req.Currency)]
}

// ConfirmPayment records the payment of a reserved seat. When it is the last
// unpaid seat the team succeeds in the same step. A payment that arrives
// after the seat lapsed or the team closed is handled by the campaign's
// LatePayment policy and reported in PaymentResult.Late; an error other
// than a definite refusal while placing it is returned unrecorded, so that
// the host retries the call.
func (s *Service) ConfirmPayment(ctx context.Context, req PaymentRequest) (res PaymentResult, err error) {
	plain, err := validatePayment(&req)
	if err != nil {
		return PaymentResult{}, err
	}
	// The fingerprint is built on the stack; pay stores it in the string
	// that holds the event's key and ID.
	var buf [160]byte
	fp := appendPaymentFingerprint(buf[:0], &req)
	now := s.now()
	// pay fills the named result in place (see Join).
	err = s.pay(ctx, req.TeamID, req.SeatID, &req, fp, fingerprintAmount(fp, &req), nil, now, plain, &res)
	if err == nil || !(errors.Is(err, ErrSeatNotReserved) || errors.Is(err, ErrTeamClosed)) {
		return res, err
	}
	return s.late(ctx, &req, string(fp), now)
}

// payScratch holds a PaySeat write with its events and record, and room
// for the event's payload and both possible results; it is reused (see
// Service.pays).
type payScratch struct {
	w    PaySeatWrite
	ev   [1]storage.Event
	rec  IdempotencyRecord
	svc  *Service
	fill func(team *Team, seats []Seat) []storage.Event // sc.onFill, bound once
	buf  [448]byte
}

// getPay returns a payment scratch from the pool, or a new one.
func (s *Service) getPay() *payScratch {
	if sc, _ := s.pays.Get().(*payScratch); sc != nil {
		return sc
	}
	sc := &payScratch{svc: s}
	sc.fill = sc.onFill
	return sc
}

// putPay returns sc to the pool, not cleared: pay sets every field of its
// write, event and record (see putJoin).
func (s *Service) putPay(sc *payScratch) { s.pays.Put(sc) }

// onFill is the write's OnFill: the TeamSucceeded event of the team this
// payment filled.
func (sc *payScratch) onFill(team *Team, seats []Seat) []storage.Event {
	return []storage.Event{TeamFilledEvent(sc.svc.newID(), team, seats, sc.w.Currency, sc.w.Now)}
}

// pay applies one PaySeat write for seat seatID of team teamID and sets
// *out to the result, leaving it zero on an error; fpb is the request's
// fingerprint, amount req.Amount's text when the caller has it (nil
// otherwise), and plain marks the fields of the payment event known to be
// plain.
func (s *Service) pay(ctx context.Context, teamID, seatID string, req *PaymentRequest, fpb, amount []byte, late *LateOutcome, now time.Time, plain plainFields, out *PaymentResult) error {
	sc := s.getPay()
	defer s.putPay(sc)
	key, evID, _, fp := s.eventStrings(teamID, seatID, topicSuffix(TopicSeatPaid), now, fpb)
	p := SeatPayload{TeamID: teamID, SeatID: seatID, Amount: req.Amount, Currency: req.Currency, PaymentRef: req.PaymentRef}
	res := payResultJSON{TeamID: teamID, SeatID: seatID}
	if late != nil {
		res.Policy, res.Action, res.Reason = string(late.Policy), late.Action, late.Reason
	}
	// The scratch's buffer holds the event's payload and both possible
	// results (the store keeps the result that applies, filled or not,
	// decided inside its guarded write); longer ones move to the heap as
	// append grows them. Each part is capped, so none can grow into the
	// next.
	b := p.appendHead(sc.buf[:0], plain)
	head := len(b)
	b = p.appendRestAmount(b, plain, amount)
	payloadEnd := len(b)
	b, resultEnd := res.appendBoth(b, b[:head])
	// The scratch is on the heap and filled field by field: copying whole
	// structs in would cost a write barrier for every pointer slot of them,
	// set or not, whenever the collector is marking.
	ev := &sc.ev[0]
	ev.ID, ev.Topic, ev.Key, ev.Payload, ev.CreatedAt = evID, TopicSeatPaid, key, b[:payloadEnd:payloadEnd], now
	events := sc.ev[:1]
	if late != nil {
		events = append(events, newEvent(s.newID(), TopicLatePaymentHandled, "gb:late:"+req.PaymentRef, now, LatePaymentHandledPayload{
			PaymentRef: req.PaymentRef, TeamID: req.TeamID, SeatID: req.SeatID, Policy: late.Policy, Action: late.Action,
			NewTeamID: teamID, NewSeatID: seatID, Reason: late.Reason,
		}))
	}
	rec := &sc.rec
	rec.Scope, rec.Key, rec.Fingerprint, rec.Result, rec.CreatedAt = scopePay, req.PaymentRef, fp, b[payloadEnd:resultEnd:resultEnd], now
	w := &sc.w
	w.TeamID, w.SeatID, w.PaymentRef, w.Amount, w.Currency = teamID, seatID, req.PaymentRef, req.Amount, req.Currency
	w.Now, w.Events, w.Idem, w.FilledResult, w.OnFill, w.FillEventID = now, events, rec, b[resultEnd:len(b):len(b)], sc.fill, s.newID
	r, err := s.store.PaySeat(ctx, w)
	if err != nil {
		if re, ok := errors.AsType[*ReplayError](err); ok {
			*out, err = s.payReplayed(ctx, re, fp)
			return err
		}
		return fmt.Errorf("groupbuy: pay seat %s: %w", seatID, err)
	}
	out.Team, out.Seat, out.Filled, out.Late = r.Team, r.Seat, r.Filled, late
	return nil
}

// appendJSON appends r as encoding/json encodes it; the common case, on the
// pay path, without reflection.
func (r *payResultJSON) appendJSON(b []byte) []byte {
	if r.Action != "" || r.Policy != "" || r.RefundKey != "" || r.Reason != "" {
		v := *r // marshalled through a copy, so that r itself stays off the heap
		enc, _ := json.Marshal(&v)
		return append(b, enc...)
	}
	b = append(b, '{')
	b = jsonw.Field(b, "team_id", true)
	b = jsonw.String(b, r.TeamID)
	b = jsonw.Field(b, "seat_id", false)
	b = jsonw.String(b, r.SeatID)
	if r.Filled {
		b = append(b, `,"filled":true`...)
	}
	return append(b, '}')
}

// appendBoth appends r's JSON, then its JSON with Filled set, and returns
// where the second starts. head is `{"team_id":…,"seat_id":…` encoded for
// r's IDs (SeatPayload.appendHead), or nil. Without late fields the results
// are head closed, and head with "filled" added, so that nothing is encoded
// twice.
func (r *payResultJSON) appendBoth(b, head []byte) ([]byte, int) {
	if head == nil || r.Filled || r.Action != "" || r.Policy != "" || r.RefundKey != "" || r.Reason != "" {
		b = r.appendJSON(b)
		end := len(b)
		f := *r
		f.Filled = true
		return f.appendJSON(b), end
	}
	b = append(b, head...)
	b = append(b, '}')
	end := len(b)
	b = append(b, head...)
	return append(b, `,"filled":true}`...), end
}

func (s *Service) payRecord(ref, fp string, r payResultJSON, now time.Time) *IdempotencyRecord {
	return &IdempotencyRecord{Scope: scopePay, Key: ref, Fingerprint: fp, Result: r.appendJSON(nil), CreatedAt: now}
}

// payReplayed turns a payment's ReplayError into the first call's result:
// its team and seat as they are now, and its late outcome.
func (s *Service) payReplayed(ctx context.Context, re *ReplayError, fp string) (PaymentResult, error) {
	rec := &re.Record
	if rec.Fingerprint != fp {
		return PaymentResult{}, ErrIdempotencyKeyReused
	}
	var r payResultJSON
	if err := json.Unmarshal(rec.Result, &r); err != nil {
		return PaymentResult{}, fmt.Errorf("groupbuy: stored payment %s: %w", rec.Key, err)
	}
	team, seat, err := s.replayRows(ctx, re, r.TeamID, r.SeatID)
	if err != nil {
		return PaymentResult{}, err
	}
	out := PaymentResult{Team: team, Seat: seat, Filled: r.Filled}
	if r.Action != "" {
		out.Late = &LateOutcome{Policy: LatePaymentPolicy(r.Policy), Action: r.Action, RefundKey: r.RefundKey, Reason: r.Reason}
	}
	return out, nil
}

// late handles a payment whose seat is no longer reserved or whose team
// closed, by the campaign's policy; whatever is refused a place is
// refunded, and a transient failure is returned (see LatePaymentPolicy).
func (s *Service) late(ctx context.Context, req *PaymentRequest, fp string, now time.Time) (PaymentResult, error) {
	if rec, err := s.store.GetIdempotency(ctx, scopePay, req.PaymentRef); err == nil {
		return s.payReplayed(ctx, &ReplayError{Record: rec}, fp)
	}
	seat, err := s.store.GetSeat(ctx, req.SeatID)
	if err != nil {
		return PaymentResult{}, fmt.Errorf("groupbuy: late payment seat %s: %w", req.SeatID, err)
	}
	team, err := s.store.GetTeam(ctx, seat.TeamID)
	if err != nil {
		return PaymentResult{}, fmt.Errorf("groupbuy: late payment team %s: %w", seat.TeamID, err)
	}
	if seat.State == SeatReserved && team.State == TeamForming && seat.ReservedUntil.After(now) && team.ExpiresAt.After(now) {
		// The write lost to a change that has since been undone; nothing
		// else could have happened to a still-reserved seat.
		return PaymentResult{}, ErrConflict
	}
	c, err := s.campaign(ctx, seat.CampaignID)
	if err != nil {
		return PaymentResult{}, err
	}
	if c.LatePayment != LateRefund && seat.State == SeatReserved && !seat.ReservedUntil.After(now) {
		// A lapsed reservation that ProcessDue has yet to release still
		// holds its place and counts against the user's limits, which
		// would refuse a placement that succeeds once the ticker ran:
		// release it first, as ProcessDue does, so that the action taken
		// does not depend on whether the ticker reached this seat (other
		// teams' lapsed seats still hold their places until it runs). A
		// payment refunded whatever happens
		// leaves the seat to ProcessDue.
		if _, err := s.releaseLapsed(ctx, &seat, now); err != nil {
			return PaymentResult{}, err
		}
		if seat, err = s.store.GetSeat(ctx, req.SeatID); err != nil {
			return PaymentResult{}, fmt.Errorf("groupbuy: late payment seat %s: %w", req.SeatID, err)
		}
		if team, err = s.store.GetTeam(ctx, seat.TeamID); err != nil {
			return PaymentResult{}, fmt.Errorf("groupbuy: late payment team %s: %w", seat.TeamID, err)
		}
	}
	reason := "seat " + string(seat.State) + ", team " + string(team.State)
	// A seat already paid by another payment cannot take this one: refund.
	placeable := seat.State == SeatReleased || seat.State == SeatReserved
	if placeable && c.LatePayment != LateRefund {
		o := seatOrder{campaignID: seat.CampaignID, userID: seat.UserID, sku: seat.SKU, quantity: seat.Quantity}
		placed, legacy, perr := s.legacyPlacement(ctx, seat.ID, req.PaymentRef, fp)
		if perr != nil {
			return PaymentResult{}, perr
		}
		action := LateActionJoined
		switch {
		case legacy:
			if placed.Opened {
				action = LateActionOpened
			}
		case c.LatePayment == LateJoinOther:
			placed, perr = s.match(ctx, &o, MatchFullest, seat.TeamID, scopeLate, seat.ID, fp)
			if placed.Opened {
				action = LateActionOpened
			}
		default:
			action = LateActionOpened
			placed, perr = s.open(ctx, &o, scopeLate, seat.ID, fp)
		}
		if perr == nil {
			out := &LateOutcome{Policy: c.LatePayment, Action: action, Reason: reason}
			var r PaymentResult
			perr = s.pay(ctx, placed.Seat.TeamID, placed.Seat.ID, req, []byte(fp), nil, out, s.now(), 0, &r)
			if perr == nil {
				return r, nil
			}
			if refused(perr) {
				// The placed seat will never take this payment: release
				// it before the refund, so that it neither holds a place
				// nor counts against the user's limits, and cancel the
				// team opened for it, were it left empty.
				if err := s.releasePlaced(ctx, &placed.Seat); err != nil {
					return PaymentResult{}, err
				}
				if action == LateActionOpened {
					if err := s.cancelIfEmpty(ctx, placed.Seat.TeamID, "late payment refunded"); err != nil {
						return PaymentResult{}, err
					}
				}
			}
		}
		if !refused(perr) {
			// A transient failure (a retryable store error, a cancelled
			// context) may go the other way on a retry, which finds the
			// seat already placed under scopeLate and pays it; a refund
			// recorded now would be final.
			return PaymentResult{}, perr
		}
		reason += "; placing failed: " + perr.Error()
	}
	return s.refundLate(ctx, req, &seat, &team, c.LatePayment, fp, reason, now)
}

// legacyPlacement returns the seat placed for this late payment by a
// version that recorded placements under the payment reference (scopeLate,
// key req.PaymentRef) rather than the lapsed seat's ID, and true, when
// there is such a record for this payment (same fingerprint) and none
// under the seat's key: a payment whose placement such a version recorded,
// and whose payment of the placed seat then failed with a retryable error,
// pays that seat when it is retried, rather than placing the buyer a second
// time. A record under the seat's key wins, as the placement replays it. It
// costs one read of the late path, two when a legacy record exists.
func (s *Service) legacyPlacement(ctx context.Context, seatID, paymentRef, fp string) (SeatResult, bool, error) {
	rec, err := s.store.GetIdempotency(ctx, scopeLate, paymentRef)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return SeatResult{}, false, nil
	case err != nil:
		return SeatResult{}, false, fmt.Errorf("groupbuy: read the record of %s %s: %w", scopeLate, paymentRef, err)
	case rec.Fingerprint != fp || paymentRef == seatID:
		// Another payment's, or the seat key's own record: not a
		// legacy placement of this payment.
		return SeatResult{}, false, nil
	}
	switch _, err := s.store.GetIdempotency(ctx, scopeLate, seatID); {
	case err == nil:
		return SeatResult{}, false, nil
	case !errors.Is(err, storage.ErrNotFound):
		return SeatResult{}, false, fmt.Errorf("groupbuy: read the record of %s %s: %w", scopeLate, seatID, err)
	}
	r, err := s.replayed(ctx, &ReplayError{Record: rec}, fp)
	if err != nil {
		return SeatResult{}, false, err
	}
	return r, true, nil
}

// refused reports whether err is a definite refusal, which a retry would
// meet again: bad input, or a sentinel by which a store or the Service's
// checks said no. A retryable store error, a context error or any other
// failure is not one, even when it also wraps such a sentinel.
func refused(err error) bool {
	if storage.IsRetryable(err) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if _, ok := errors.AsType[*ValidationError](err); ok {
		return true
	}
	for _, target := range [...]error{
		ErrCampaignNotActive, ErrLimitExceeded, ErrTeamFull, ErrTeamClosed,
		ErrSeatNotReserved, ErrAlreadyJoined, ErrAmountMismatch,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// releasePlaced releases seat st, placed for a late payment whose payment
// it then refused; one already released (by ProcessDue, by its team's
// close, or by an earlier try) is left as it is.
func (s *Service) releasePlaced(ctx context.Context, st *Seat) error {
	now := s.now()
	_, err := s.store.ReleaseSeat(ctx, &ReleaseSeatWrite{
		SeatID: st.ID, Now: now,
		Events: []storage.Event{s.seatEvent(TopicSeatReleased, st, "late payment refunded", now, 0)},
	})
	if err != nil && !errors.Is(err, ErrSeatNotReserved) {
		return fmt.Errorf("groupbuy: release seat %s placed for a late payment: %w", st.ID, err)
	}
	return nil
}

// cancelIfEmpty cancels forming team teamID when no seat holds a place in
// it: a team opened for a late payment that was then refunded would
// otherwise stay listed, with no seat, until it expired.
//
// The cancel is guarded by the version read, and a conflict is ignored on
// purpose, not as a best effort: the team changed after it was read, so
// either someone joined it (it holds a place again, and cancelling it would
// release a member who did nothing wrong) or it closed another way
// (ProcessDue at its deadline, an operator's cancel). Either way the state
// needs no close from here. At worst a member joined and left again since,
// and the team stays forming and empty: the state of any team whose members
// all released their seats (a leader's CancelReservation leaves it so too),
// which takes joins until ProcessDue closes it at its deadline; no seat,
// payment or refund depends on it. Any other error, a retryable one
// included, is returned, and the host's retry of the payment comes back
// here (TestLateRefundKeepsTeamJoinedMeanwhile).
func (s *Service) cancelIfEmpty(ctx context.Context, teamID, reason string) error {
	team, err := s.store.GetTeam(ctx, teamID)
	if err != nil {
		return fmt.Errorf("groupbuy: team %s: %w", teamID, err)
	}
	if team.State != TeamForming || team.SeatsTaken > 0 {
		return nil
	}
	c, err := s.campaign(ctx, team.CampaignID)
	if err != nil {
		return err
	}
	seats, err := s.store.TeamSeats(ctx, teamID)
	if err != nil {
		return fmt.Errorf("groupbuy: seats of team %s: %w", teamID, err)
	}
	d, ok := DecideClose(c, &team, seats, true, "cancelled: "+reason, s.now(), s.newID)
	if !ok {
		return nil
	}
	if err := s.store.CloseTeam(ctx, &d.Write); err != nil && !errors.Is(err, storage.ErrConflict) {
		return fmt.Errorf("groupbuy: cancel empty team %s: %w", teamID, err)
	}
	return nil
}

func (s *Service) refundLate(ctx context.Context, req *PaymentRequest, seat *Seat, team *Team, policy LatePaymentPolicy, fp, reason string, now time.Time) (PaymentResult, error) {
	// Always a key of its own: the seat's own payment is refunded under the
	// seat's key, and several late payments may come for one seat (a
	// released seat has no payment of its own to tell them apart by).
	key := LateRefundKey(seat.TeamID, seat.ID, req.PaymentRef)
	refundSeat := *seat
	refundSeat.PaymentRef = req.PaymentRef
	refundSeat.Amount = req.Amount
	refundSeat.Currency = req.Currency
	ev := refundEvent(s.newID(), &refundSeat, 0, "late payment: "+reason, now)
	ev.Key = key
	ev.Payload, _ = json.Marshal(RefundRequestedPayload{
		Key: key, TeamID: seat.TeamID, SeatID: seat.ID, UserID: seat.UserID, Amount: req.Amount,
		Currency: req.Currency, PaymentRef: req.PaymentRef, Reason: "late payment: " + reason,
	})
	out := &LateOutcome{Policy: policy, Action: LateActionRefund, RefundKey: key, Reason: reason}
	handled := newEvent(s.newID(), TopicLatePaymentHandled, "gb:late:"+req.PaymentRef, now, LatePaymentHandledPayload{
		PaymentRef: req.PaymentRef, TeamID: seat.TeamID, SeatID: seat.ID, Policy: policy, Action: LateActionRefund, Reason: reason,
	})
	rec := s.payRecord(req.PaymentRef, fp, payResultJSON{TeamID: seat.TeamID, SeatID: seat.ID, Policy: string(policy), Action: LateActionRefund, RefundKey: key, Reason: reason}, now)
	if err := s.store.RecordOutcome(ctx, rec, []storage.Event{handled, ev}); err != nil {
		if re, ok := errors.AsType[*ReplayError](err); ok {
			return s.payReplayed(ctx, re, fp)
		}
		return PaymentResult{}, fmt.Errorf("groupbuy: late payment %s: %w", req.PaymentRef, err)
	}
	return PaymentResult{Team: *team, Seat: *seat, Late: out}, nil
}

// TeamFilledEvent is the event of team, succeeded because a payment filled
// it at now, with its seats in their final states (in TeamSeats order):
// TopicTeamSucceeded, key "gb:<team>:succeeded", and as payload the JSON,
// as encoding/json writes it, of TeamClosedPayload with Reason "filled",
// the payment's currency and the team's confirmed seats. It is what the
// Service's PaySeatWrite.OnFill returns, so that an adapter building it in
// its own language can test that it writes the same bytes. team must not
// be nil.
func TeamFilledEvent(id string, team *Team, seats []Seat, currency string, now time.Time) storage.Event {
	return teamClosedEvent(id, team, seats, currency, "filled", 0, now)
}

// teamClosedEvent is the TeamSucceeded or TeamFailed event of a closed team
// (see TeamClosedPayload). A succeeded team lists exactly its confirmed
// seats of seats; a failed one every seat of seats, which the caller gives
// without those released before the close, released of them.
func teamClosedEvent(id string, team *Team, seats []Seat, currency, reason string, released int, now time.Time) storage.Event {
	topic, what := TopicTeamFailed, "failed"
	if team.State == TeamSucceeded {
		topic, what = TopicTeamSucceeded, "succeeded"
		kept := make([]Seat, 0, len(seats))
		for _, st := range seats {
			if st.State == SeatConfirmed {
				kept = append(kept, st)
			}
		}
		seats = kept
	}
	return newEvent(id, topic, "gb:"+team.ID+":"+what, now, TeamClosedPayload{
		TeamID: team.ID, CampaignID: team.CampaignID, State: team.State, Reason: reason,
		Capacity: team.Capacity, VirtualSeats: team.VirtualSeats, Currency: currency, Seats: summarize(seats),
		ReleasedEarlier: released,
	})
}
