package groupbuy

import (
	"encoding/json"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/internal/decfmt"
	"github.com/socialcommerce/sdk/internal/fastcopy"
	"github.com/socialcommerce/sdk/internal/jsonw"
	"github.com/socialcommerce/sdk/storage"
)

// Outbox topics of the groupbuy package.
const (
	TopicTeamOpened         = "groupbuy.team_opened"
	TopicSeatReserved       = "groupbuy.seat_reserved"
	TopicSeatPaid           = "groupbuy.seat_paid"
	TopicSeatReleased       = "groupbuy.seat_released"
	TopicTeamSucceeded      = "groupbuy.team_succeeded"
	TopicTeamFailed         = "groupbuy.team_failed"
	TopicVirtualSeatsAdded  = "groupbuy.virtual_seats_added"
	TopicRefundRequested    = "groupbuy.refund_requested"
	TopicRefundFailed       = "groupbuy.refund_failed"
	TopicLatePaymentHandled = "groupbuy.late_payment_handled"
)

// TeamOpenedPayload is the payload of TopicTeamOpened.
type TeamOpenedPayload struct {
	TeamID     string    `json:"team_id"`
	CampaignID string    `json:"campaign_id"`
	LeaderID   string    `json:"leader_id"`
	Capacity   int       `json:"capacity"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// SeatPayload is the payload of TopicSeatReserved, TopicSeatPaid and
// TopicSeatReleased.
type SeatPayload struct {
	TeamID     string          `json:"team_id"`
	SeatID     string          `json:"seat_id"`
	CampaignID string          `json:"campaign_id,omitempty"`
	UserID     string          `json:"user_id,omitempty"`
	Amount     decimal.Decimal `json:"amount"`
	Currency   string          `json:"currency"`
	PaymentRef string          `json:"payment_ref,omitempty"`
	Reason     string          `json:"reason,omitempty"`
}

// SeatSummary describes one seat inside a team event.
type SeatSummary struct {
	SeatID     string          `json:"seat_id"`
	UserID     string          `json:"user_id,omitempty"`
	SKU        string          `json:"sku,omitempty"`
	Quantity   int             `json:"quantity"`
	Amount     decimal.Decimal `json:"amount"`
	PaymentRef string          `json:"payment_ref,omitempty"`
	Virtual    bool            `json:"virtual,omitempty"`
	State      SeatState       `json:"state"`
}

// TeamClosedPayload is the payload of TopicTeamSucceeded and TopicTeamFailed.
//
// Seats lists the seats that counted when the team closed, so that the
// payload stays within the team's capacity however often its seats were
// reserved and released: a succeeded team its confirmed seats (real and
// virtual), the ones to ship; a failed or cancelled one the seats live at
// the close, in their final states (released if they were reserved,
// refund_requested if paid). Seats released before the close (cancelled
// or lapsed reservations, each announced by its own TopicSeatReleased
// event) are not listed; ReleasedEarlier counts them, on TopicTeamFailed
// only.
type TeamClosedPayload struct {
	TeamID       string        `json:"team_id"`
	CampaignID   string        `json:"campaign_id"`
	State        TeamState     `json:"state"`
	Reason       string        `json:"reason,omitempty"`
	Capacity     int           `json:"capacity"`
	VirtualSeats int           `json:"virtual_seats"`
	Currency     string        `json:"currency"`
	Seats        []SeatSummary `json:"seats"`
	// ReleasedEarlier is how many seats of a failed or cancelled team were
	// released before it closed; left out of the JSON when 0.
	ReleasedEarlier int `json:"released_earlier,omitempty"`
}

// VirtualSeatsAddedPayload is the payload of TopicVirtualSeatsAdded.
type VirtualSeatsAddedPayload struct {
	TeamID   string   `json:"team_id"`
	Count    int      `json:"count"`
	SeatIDs  []string `json:"seat_ids,omitempty"` // when recorded as bot rows
	PaidReal int      `json:"paid_real"`
}

// RefundRequestedPayload is the payload of TopicRefundRequested. Key is the
// idempotency key of the refund at the payment provider; a provider that
// limits its refund numbers (WeChat Pay, Alipay: at most 64 characters, no
// ':') gets ProviderRefundNo(Key) instead.
//
// Attempt numbers the attempts at a seat's own refund (Seat.RefundAttempt):
// 1 for the request its team's failure or cancellation wrote, one more for
// each RetryRefund. The host reports the provider's answer to an attempt
// with MarkRefunded or MarkRefundFailed naming that attempt, so that a late
// or redelivered answer of an earlier attempt is refused
// (ErrStaleRefundAttempt) instead of marking the attempt in flight. A host
// whose provider wants a key per attempt (one that stores the answer to a
// key, failures included, as Stripe does) hands it Key + ":" + Attempt,
// deterministic across redeliveries; one that wants one key per seat
// (WeChat Pay's out_refund_no, Alipay's out_request_no) hands it
// ProviderRefundNo(Key). The
// refund of a late payment (not ForSeat) has Attempt 0, left out of the
// JSON, as are the events written before the attempt was numbered.
type RefundRequestedPayload struct {
	Key        string          `json:"key"`
	TeamID     string          `json:"team_id"`
	SeatID     string          `json:"seat_id"`
	UserID     string          `json:"user_id"`
	Amount     decimal.Decimal `json:"amount"`
	Currency   string          `json:"currency"`
	PaymentRef string          `json:"payment_ref"`
	Reason     string          `json:"reason"`
	Attempt    int             `json:"attempt,omitempty"`
}

// ForSeat reports whether the refund is the seat's own (Key is
// RefundKey(TeamID, SeatID)): the host reports the provider's answer with
// MarkRefunded or MarkRefundFailed on SeatID. The refund of a late payment
// (Key is LateRefundKey) names the seat the payment was for but is not that
// seat's refund: the host settles it by Key alone, and marking the seat
// would record the seat's own refund as done.
func (p RefundRequestedPayload) ForSeat() bool {
	return p.Key == RefundKey(p.TeamID, p.SeatID)
}

// RefundFailedPayload is the payload of TopicRefundFailed, written when
// MarkRefundFailed records that a seat's own refund failed: the seat, its
// team, the amount and payment to refund, the host's Reason as given, and
// the Attempt that failed (the seat's RefundAttempt; the next RetryRefund
// asks with Attempt + 1). Key is the refund's key, RefundKey(TeamID,
// SeatID), under which RetryRefund asks for it again.
//
// The event's own Key is "gb:<team>:<seat>:refund_failed:<event ID>", one
// per failure: a refund may fail, be retried and fail again, and each
// failure is a fact of its own, unlike the refund, whose retries repeat
// RefundKey because they ask for one effect. The event's ID tells the
// failures apart, as Attempt does (the refund write is guarded by the
// seat's state and refund attempt, not its version, so one attempt fails
// once); a repeated MarkRefundFailed changes nothing and writes no event,
// so no failure has two. Its fields are RefundRequestedPayload's.
type RefundFailedPayload RefundRequestedPayload

// LatePaymentHandledPayload is the payload of TopicLatePaymentHandled.
type LatePaymentHandledPayload struct {
	PaymentRef string            `json:"payment_ref"`
	TeamID     string            `json:"team_id"`
	SeatID     string            `json:"seat_id"`
	Policy     LatePaymentPolicy `json:"policy"`
	// Action is what was done: "refund", "joined" or "opened".
	Action    string `json:"action"`
	NewTeamID string `json:"new_team_id,omitempty"`
	NewSeatID string `json:"new_seat_id,omitempty"`
	Reason    string `json:"reason"`
}

// sizeHint is appendJSON's length for values that need no escaping: the
// field names, the punctuation and an amount of up to 20 characters.
func (p *SeatPayload) sizeHint() int {
	return 128 + len(p.TeamID) + len(p.SeatID) + len(p.CampaignID) + len(p.UserID) +
		len(p.Currency) + len(p.PaymentRef) + len(p.Reason)
}

// plainFields marks the SeatPayload fields known to be jsonw.Plain, because
// they were checked along with their validation (check.IDPlain) or
// generated; appendHead and appendRest copy those without scanning them
// again.
type plainFields uint8

const (
	plainTeam plainFields = 1 << iota
	plainSeat
	plainCampaign
	plainUser
	plainCurrency
)

// plainRest appends a Plain s and its closing quote, after a constant
// that ends in its opening quote: the hot payloads append each field's
// name, punctuation and opening quote as one constant, which the compiler
// copies inline, rather than one append per part. The fields are spelled
// out at each use on purpose: a helper taking the name as a parameter is
// not inlined, and cost 390 more instructions per Join plus payment
// (callgrind, GOGC=off).
func plainRest(b []byte, s string) []byte {
	b = fastcopy.Append(b, s) // IDs without a memmove call
	return append(b, '"')
}

// appendJSON encodes p as encoding/json would, without reflection: seat
// events are on the join and pay paths.
func (p *SeatPayload) appendJSON(b []byte, plain plainFields) []byte {
	return p.appendRest(p.appendHead(b, plain), plain)
}

// appendHead appends the start of p's JSON, `{"team_id":…,"seat_id":…`,
// which is how a payment's stored result starts too (see
// payResultJSON.appendBoth).
func (p *SeatPayload) appendHead(b []byte, plain plainFields) []byte {
	if plain&plainTeam != 0 {
		b = plainRest(append(b, `{"team_id":"`...), p.TeamID)
	} else {
		b = jsonw.String(append(b, `{"team_id":`...), p.TeamID)
	}
	if plain&plainSeat != 0 {
		return plainRest(append(b, `,"seat_id":"`...), p.SeatID)
	}
	return jsonw.String(append(b, `,"seat_id":`...), p.SeatID)
}

// appendRest appends the rest of p's JSON after appendHead.
func (p *SeatPayload) appendRest(b []byte, plain plainFields) []byte {
	return p.appendRestAmount(b, plain, nil)
}

// appendRestAmount is appendRest with p.Amount's text given as amount, or
// formatted when amount is nil: a payment has it in its fingerprint.
func (p *SeatPayload) appendRestAmount(b []byte, plain plainFields, amount []byte) []byte {
	switch {
	case p.CampaignID == "":
	case plain&plainCampaign != 0:
		b = plainRest(append(b, `,"campaign_id":"`...), p.CampaignID)
	default:
		b = jsonw.String(append(b, `,"campaign_id":`...), p.CampaignID)
	}
	switch {
	case p.UserID == "":
	case plain&plainUser != 0:
		b = plainRest(append(b, `,"user_id":"`...), p.UserID)
	default:
		b = jsonw.String(append(b, `,"user_id":`...), p.UserID)
	}
	// A decimal's form has no character that JSON escapes.
	b = append(b, `,"amount":"`...)
	if amount != nil {
		b = append(b, amount...)
	} else {
		b = decfmt.Append(b, p.Amount)
	}
	if plain&plainCurrency != 0 {
		b = plainRest(append(b, `","currency":"`...), p.Currency)
	} else {
		b = jsonw.String(append(b, `","currency":`...), p.Currency)
	}
	if p.PaymentRef != "" {
		b = jsonw.String(append(b, `,"payment_ref":`...), p.PaymentRef)
	}
	if p.Reason != "" {
		b = jsonw.String(append(b, `,"reason":`...), p.Reason)
	}
	return append(b, '}')
}

func newEvent(id, topic, key string, now time.Time, payload any) storage.Event {
	b, err := json.Marshal(payload)
	if err != nil {
		// The payload types above always marshal.
		panic("groupbuy: marshal event: " + err.Error())
	}
	return storage.Event{ID: id, Topic: topic, Key: key, Payload: b, CreatedAt: now}
}

func seatKey(s *Seat, what string) string { return "gb:" + s.TeamID + ":" + s.ID + ":" + what }

func summarize(seats []Seat) []SeatSummary {
	out := make([]SeatSummary, 0, len(seats))
	for i := range seats {
		s := &seats[i]
		out = append(out, SeatSummary{SeatID: s.ID, UserID: s.UserID, SKU: s.SKU, Quantity: s.Quantity, Amount: s.Amount, PaymentRef: s.PaymentRef, Virtual: s.Virtual, State: s.State})
	}
	return out
}

// refundEvent is the TopicRefundRequested event of attempt attempt at
// refunding seat s's own payment, for reason.
func refundEvent(id string, s *Seat, attempt int, reason string, now time.Time) storage.Event {
	p := seatRefund(s, attempt, reason)
	return newEvent(id, TopicRefundRequested, p.Key, now, p)
}

// seatRefund is attempt attempt at the refund of seat s's own payment, for
// reason.
func seatRefund(s *Seat, attempt int, reason string) RefundRequestedPayload {
	return RefundRequestedPayload{
		Key: RefundKey(s.TeamID, s.ID), TeamID: s.TeamID, SeatID: s.ID, UserID: s.UserID, Amount: s.Amount,
		Currency: s.Currency, PaymentRef: s.PaymentRef, Reason: reason, Attempt: attempt,
	}
}

// refundFailedEvent is the TopicRefundFailed event of seat s, whose refund
// attempt s.RefundAttempt failed for reason (see RefundFailedPayload for
// its key).
func refundFailedEvent(id string, s *Seat, reason string, now time.Time) storage.Event {
	return newEvent(id, TopicRefundFailed, seatKey(s, "refund_failed:"+id), now, RefundFailedPayload(seatRefund(s, s.RefundAttempt, reason)))
}
