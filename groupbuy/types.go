package groupbuy

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/internal/check"
)

// Limits of the campaign rules. They bound storage rows and keep a single
// team's work small.
const (
	MinTeamSize   = 2
	MaxTeamSize   = 100
	MaxIDLength   = check.MaxIDLength
	MaxSKUs       = 1000
	MaxQuantity   = 9999
	MaxListLimit  = 500
	MaxProcessDue = 10000
	// MaxPaymentRefLength bounds a host payment reference.
	MaxPaymentRefLength = 256
	// MaxRecordScopeLength and MaxRecordKeyLength bound an idempotency
	// record's Scope and Key, which hold no ASCII spaces or control
	// characters either (a payment's record is keyed by its reference).
	MaxRecordScopeLength = 64
	MaxRecordKeyLength   = 512
	// MaxConfigRereads bounds Config.MaxRereads: each re-read is a read
	// and a write more for one command, and a command that lost this often
	// to concurrent changes had better report ErrConflict than keep going.
	MaxConfigRereads = 100
)

// CampaignStatus is the operator-controlled status of a campaign.
type CampaignStatus string

// Campaign statuses. Only an active campaign, inside its window, accepts
// new teams and seats; a paused one keeps its forming teams running to their
// deadline; an ended one is final.
const (
	CampaignDraft  CampaignStatus = "draft"
	CampaignActive CampaignStatus = "active"
	CampaignPaused CampaignStatus = "paused"
	CampaignEnded  CampaignStatus = "ended"
)

// TeamState is the state of a team (one group being formed).
type TeamState string

// Team states. Forming is the only non-final state.
const (
	TeamForming   TeamState = "forming"
	TeamSucceeded TeamState = "succeeded"
	TeamFailed    TeamState = "failed"
	TeamCancelled TeamState = "cancelled"
)

// SeatState is the state of one participant's place in a team.
type SeatState string

// Seat states. Confirmed, Released and Refunded are final; RefundFailed can
// be retried.
const (
	SeatReserved        SeatState = "reserved"
	SeatPaid            SeatState = "paid"
	SeatConfirmed       SeatState = "confirmed"
	SeatReleased        SeatState = "released"
	SeatRefundRequested SeatState = "refund_requested"
	SeatRefunded        SeatState = "refunded"
	SeatRefundFailed    SeatState = "refund_failed"
)

// VirtualFillMode says whether a team that did not fill by its deadline may
// be completed with virtual seats (模拟成团).
type VirtualFillMode string

// Virtual fill modes.
const (
	// VirtualFillNone: an unfilled team fails at its deadline.
	VirtualFillNone VirtualFillMode = "none"
	// VirtualFillMinPaid: fill the remaining seats at the deadline when at
	// least MinPaidSeats real seats are paid.
	VirtualFillMinPaid VirtualFillMode = "min_paid"
	// VirtualFillMinPercent: fill the remaining seats at the deadline when
	// the paid real seats are at least MinPercent percent of the team size.
	// The threshold in seats is ceil(TeamSize*MinPercent/100): a team of 5
	// at 50% needs 3 paid seats, never 2.
	VirtualFillMinPercent VirtualFillMode = "min_percent"
)

// VirtualFill is a campaign's virtual fill policy.
type VirtualFill struct {
	Mode         VirtualFillMode
	MinPaidSeats int // for VirtualFillMinPaid: 1..TeamSize-1
	MinPercent   int // for VirtualFillMinPercent: 1..99, rounding up to fewer seats than TeamSize
}

// LatePaymentPolicy says what happens to a payment that arrives after its
// seat's reservation expired or its team closed.
type LatePaymentPolicy string

// Late-payment policies. Whatever the policy, the outcome is reported by a
// LatePaymentHandled event; when nothing else works the payment is refunded.
// Only a definite refusal of the placement (the campaign inactive, a limit
// reached, no room, the placed seat refused) leads to that refund, and the
// seat placed for the payment is then released (and a team opened for it,
// left with no seat, cancelled); any other failure (a retryable store
// error, a cancelled context) is returned for the host to retry, and the
// retry pays the seat placed the first time while its reservation holds
// (after that, the payment is refunded). Before placing a payment, the
// payment's own seat, if its reservation lapsed and ProcessDue has yet to
// release it, is released as ProcessDue would, so the action taken does
// not depend on whether ProcessDue got to that seat (LateRefund leaves it
// to ProcessDue); the outcome's Reason describes the seat and team as
// found. Other teams' lapsed reservations hold their places until
// ProcessDue releases them, as they do for Match (Join releases a named
// team's first), so until it runs LateJoinOther may find full, and open a
// new team instead of joining, a team that ProcessDue would have freed.
// A payment for a seat that was paid by another payment (or has gone on to
// a refund or confirmation) is refunded whatever the policy: only a seat
// still reserved or released (it lapsed, its user cancelled it, or its team
// closed) is placed, and once: every late payment for the seat finds that
// one placement, which takes one payment; the others are refunded.
const (
	// LateRefund refunds the payment.
	LateRefund LatePaymentPolicy = "refund"
	// LateJoinOther places the payment as a paid seat in another team of
	// the campaign (the fullest it can join), or in a new team it opens
	// when none has room. A join the user's limits refuse (MaxTeamsJoined,
	// or MaxTeamsOpened for the team it would open) is not tried the other
	// way: the payment is refunded.
	LateJoinOther LatePaymentPolicy = "join_other"
	// LateOpenNew places the payment as the paid leader seat of a new team.
	LateOpenNew LatePaymentPolicy = "open_new"
)

// MatchStrategy chooses the team Match joins. MatchFullest (then soonest
// to expire) and MatchOldest take the first team with room in that order,
// picked by the store as it joins (Store.MatchTeam), which may pass over a
// team another command holds at that instant. MatchRandom takes one of
// the 32 fullest chosen by a hash of the request, or one more if that one
// is held (or filled or closed since), and then opens a new team rather
// than queue behind the crowd.
type MatchStrategy string

// Match strategies.
const (
	MatchOldest  MatchStrategy = "oldest"
	MatchFullest MatchStrategy = "fullest"
	MatchRandom  MatchStrategy = "random"
)

// SKUPrice is the group price of one host SKU.
type SKUPrice struct {
	SKU   string
	Price decimal.Decimal
}

// Limits are per-user limits within one campaign. Zero means no limit.
//
// The team limits count the user's live seats in the campaign, those
// reserved, paid or confirmed (see Store): a seat released (lapsed,
// cancelled, or left unpaid when its team closed) or whose refund was
// requested (its team failed or was cancelled) stops counting, so that
// its user may open or join again; a confirmed seat, in a team that
// succeeded, counts for good. Every store counts alike.
type Limits struct {
	MaxTeamsOpenedPerUser int // leader seats
	MaxTeamsJoinedPerUser int // joins, not counting the teams the user opened
	MaxUnitsPerOrder      int // a seat's Quantity
}

// Campaign is a group-buy campaign on one host product.
type Campaign struct {
	ID         string
	ProductRef string // the host's product (SPU) reference
	Currency   string // ISO 4217 code, e.g. "CNY"
	// Prices are the group prices: each positive, exact in the currency's
	// minor unit (MinorUnits) and at most 10^12 major units, the largest
	// amount a seat may have and a payment may carry (an order's price ×
	// quantity is held to it too).
	Prices []SKUPrice
	// TeamSize is the number of seats a team needs to succeed.
	TeamSize int
	// TeamLifetime is how long a team may form; a team never outlives the
	// campaign window.
	TeamLifetime time.Duration
	// StartsAt and EndsAt bound the window in which teams are opened and
	// joined. CreateCampaign rounds both up to a whole microsecond, the
	// precision every store keeps, so that all stores open and close the
	// window at the same instant. Both are in the years 1 to 9999, the
	// times every store keeps.
	StartsAt time.Time
	EndsAt   time.Time
	Status   CampaignStatus
	Limits   Limits
	// ReservationTTL is how long an unpaid seat is held.
	ReservationTTL time.Duration
	VirtualFill    VirtualFill
	// RecordVirtualSeats stores virtual seats as bot rows (Seat.Virtual);
	// they are never revenue and never ship.
	RecordVirtualSeats bool
	LatePayment        LatePaymentPolicy
	CreatedAt          time.Time
	Version            int64
}

// Price returns the group price of sku; a nil c has none.
func (c *Campaign) Price(sku string) (decimal.Decimal, bool) {
	if c == nil {
		return decimal.Decimal{}, false
	}
	for _, p := range c.Prices {
		if p.SKU == sku {
			return p.Price, true
		}
	}
	return decimal.Decimal{}, false
}

// Team is one group being formed.
type Team struct {
	ID         string
	CampaignID string
	LeaderID   string
	Capacity   int
	// SeatsTaken counts active real seats (reserved, paid or confirmed).
	SeatsTaken int
	// SeatsPaid counts paid or confirmed real seats.
	SeatsPaid int
	// VirtualSeats counts the seats filled virtually at the deadline.
	VirtualSeats int
	// SeatRows counts the real seat rows the team has ever had: its
	// leader's and one per join or match, released ones included (bot
	// rows not). A join needs it below MaxSeatRows(Capacity). The SQL
	// stores count it from their migration on (sqlstore's notes): a team
	// closed before it reads 0.
	SeatRows  int
	State     TeamState
	OpenedAt  time.Time
	ExpiresAt time.Time
	ClosedAt  time.Time // zero while forming
	Version   int64
}

// Seat is one participant's place in a team.
type Seat struct {
	ID         string
	TeamID     string
	CampaignID string
	UserID     string // empty for a virtual seat
	SKU        string
	Quantity   int
	UnitPrice  decimal.Decimal
	Amount     decimal.Decimal // UnitPrice × Quantity, in Currency
	Currency   string
	State      SeatState
	Leader     bool
	Virtual    bool
	ReservedAt time.Time
	// ReservedUntil is when an unpaid reservation lapses; never after the
	// team's deadline.
	ReservedUntil time.Time
	PaidAt        time.Time // zero until paid
	PaymentRef    string
	Version       int64
	// RefundAttempt numbers the attempts at refunding the seat's own
	// payment: 0 until its refund is requested, 1 when it moves from paid
	// to refund_requested (its team failed or was cancelled), and one more
	// on each RetryRefund. The refund_requested and refund_failed events
	// of an attempt carry its number (RefundRequestedPayload.Attempt), and
	// MarkRefunded and MarkRefundFailed take it to refuse a report of an
	// earlier attempt (ErrStaleRefundAttempt). A seat whose refund was
	// requested before the stores kept the number has 1 (see the sqlstore
	// migration notes). A late payment's refund is not the seat's and does
	// not count.
	RefundAttempt int
}

// Active reports whether the seat holds a place in its team; a nil s
// does not.
func (s *Seat) Active() bool {
	return s != nil && (s.State == SeatReserved || s.State == SeatPaid || s.State == SeatConfirmed)
}
