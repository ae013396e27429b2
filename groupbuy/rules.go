package groupbuy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/internal/microtime"
)

// The transition tables. A move not listed is illegal.
var (
	teamTransitions = map[TeamState][]TeamState{
		TeamForming: {TeamSucceeded, TeamFailed, TeamCancelled},
	}
	seatTransitions = map[SeatState][]SeatState{
		SeatReserved:        {SeatPaid, SeatReleased},
		SeatPaid:            {SeatConfirmed, SeatRefundRequested},
		SeatRefundRequested: {SeatRefunded, SeatRefundFailed},
		SeatRefundFailed:    {SeatRefundRequested, SeatRefunded},
	}
	campaignTransitions = map[CampaignStatus][]CampaignStatus{
		CampaignDraft:  {CampaignActive, CampaignEnded},
		CampaignActive: {CampaignPaused, CampaignEnded},
		CampaignPaused: {CampaignActive, CampaignEnded},
	}
)

func allowed[S comparable](table map[S][]S, from, to S) bool {
	for _, s := range table[from] {
		if s == to {
			return true
		}
	}
	return false
}

// CheckTeamTransition returns a *TransitionError unless from → to is legal.
func CheckTeamTransition(from, to TeamState) error {
	if !allowed(teamTransitions, from, to) {
		return &TransitionError{Entity: "team", From: string(from), To: string(to)}
	}
	return nil
}

// CheckSeatTransition returns a *TransitionError unless from → to is legal.
func CheckSeatTransition(from, to SeatState) error {
	if !allowed(seatTransitions, from, to) {
		return &TransitionError{Entity: "seat", From: string(from), To: string(to)}
	}
	return nil
}

// CheckCampaignTransition returns a *TransitionError unless from → to is legal.
func CheckCampaignTransition(from, to CampaignStatus) error {
	if !allowed(campaignTransitions, from, to) {
		return &TransitionError{Entity: "campaign", From: string(from), To: string(to)}
	}
	return nil
}

// CheckRefundMove validates a RefundWrite's move: from refund_requested or
// refund_failed, along the seat transition table.
func CheckRefundMove(from, to SeatState) error {
	if from != SeatRefundRequested && from != SeatRefundFailed {
		return &TransitionError{Entity: "seat", From: string(from), To: string(to)}
	}
	return CheckSeatTransition(from, to)
}

// Final reports whether a team state admits no further transition.
func (s TeamState) Final() bool { return s != TeamForming }

// Valid reports whether s is a known team state.
func (s TeamState) Valid() bool {
	switch s {
	case TeamForming, TeamSucceeded, TeamFailed, TeamCancelled:
		return true
	}
	return false
}

// Final reports whether a seat state admits no further transition.
func (s SeatState) Final() bool { return len(seatTransitions[s]) == 0 }

// Valid reports whether s is a known seat state.
func (s SeatState) Valid() bool {
	switch s {
	case SeatReserved, SeatPaid, SeatConfirmed, SeatReleased, SeatRefundRequested, SeatRefunded, SeatRefundFailed:
		return true
	}
	return false
}

// Valid reports whether s is a known campaign status.
func (s CampaignStatus) Valid() bool {
	switch s {
	case CampaignDraft, CampaignActive, CampaignPaused, CampaignEnded:
		return true
	}
	return false
}

// MinorUnits returns the number of decimal places of a currency's minor
// unit (ISO 4217): 0 for JPY and KRW, 3 for BHD, 4 for CLF and UYW, 2 for
// most others. UYI, which ISO 4217 gives 0, keeps 2: campaigns priced in
// it with decimals before would hold seats no payment could then match.
func MinorUnits(currency string) int32 {
	switch currency {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	case "CLF", "UYW":
		// Chile's Unidad de Fomento and Uruguay's wage index unit: the
		// most the money columns, NUMERIC(20,4), keep.
		return 4
	}
	return 2
}

func validateCurrency(field, c string) error {
	if len(c) != 3 {
		return invalid(field, "must be a 3-letter ISO 4217 code")
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return invalid(field, "must be a 3-letter upper-case ISO 4217 code")
		}
	}
	return nil
}

// currencyCode reports whether c is three upper-case ASCII letters, the form
// validateCurrency requires, which is also jsonw.Plain.
func currencyCode(c string) bool {
	return len(c) == 3 && c[0]-'A' < 26 && c[1]-'A' < 26 && c[2]-'A' < 26
}

// validatePrice requires a positive amount exact in the currency's minor
// unit, so that amounts are exact and no rounding is ever needed.
func validatePrice(field string, p decimal.Decimal, currency string) error {
	if p.Sign() <= 0 {
		return invalid(field, "must be positive")
	}
	// The exact checks below convert through big.Int; the exponent and the
	// digit count settle the common case first (this is on the pay path).
	// Both settle a hostile exponent (7E-2000000000, 7E+2000000000) by the
	// digit count: comparing such a value with another rescales it by a
	// power of ten as large as the exponent, hours of work (see
	// check.ExactTo). A positive p of n digits is at least 10^(n+exp-1).
	minor := MinorUnits(currency)
	if !check.ExactTo(p, minor) {
		return invalid(field, fmt.Sprintf("must have at most %d decimal places for %s", minor, currency))
	}
	if digits := p.NumDigits() + int(p.Exponent()); digits > maxAmountDigits+1 || digits > maxAmountDigits && p.GreaterThan(maxAmount) {
		return invalid(field, "too large")
	}
	return nil
}

// maxAmount bounds every amount, in major units: a campaign's prices, a
// seat's amount (price × quantity, checked by checkOrder) and a payment's
// amount, one bound for all three so that every seat reserved can be paid
// its exact amount. It keeps well under the 16 integer digits that the
// SQL stores' NUMERIC(20,4) holds.
var maxAmount = decimal.New(1, maxAmountDigits)

// maxAmountDigits is log10(maxAmount).
const maxAmountDigits = 12

// lineAmountTooLarge reports whether price × quantity exceeds maxAmount,
// for a price that itself does not. A product below 10^maxAmountDigits by
// the digit counts alone (quantity < 10^4) skips the multiplication.
func lineAmountTooLarge(price decimal.Decimal, quantity int) bool {
	if quantity <= 1 || price.NumDigits()+int(price.Exponent())+len(strconv.Itoa(quantity)) <= maxAmountDigits {
		return false
	}
	return lineAmount(price, quantity).GreaterThan(maxAmount)
}

func validateID(field, id string) error { return check.ID(field, id) }

// ValidateCampaign checks every field of a campaign definition; a nil c
// is a *ValidationError too.
func ValidateCampaign(c *Campaign) error {
	if c == nil {
		return invalid("campaign", "must not be nil")
	}
	if err := validateID("campaign.ID", c.ID); err != nil {
		return err
	}
	if err := validateID("campaign.ProductRef", c.ProductRef); err != nil {
		return err
	}
	if err := validateCurrency("campaign.Currency", c.Currency); err != nil {
		return err
	}
	if len(c.Prices) == 0 || len(c.Prices) > MaxSKUs {
		return invalid("campaign.Prices", fmt.Sprintf("must list 1..%d SKUs", MaxSKUs))
	}
	seen := make(map[string]bool, len(c.Prices))
	for i, p := range c.Prices {
		f := fmt.Sprintf("campaign.Prices[%d]", i)
		if err := validateID(f+".SKU", p.SKU); err != nil {
			return err
		}
		if seen[p.SKU] {
			return invalid(f+".SKU", "duplicate SKU "+p.SKU)
		}
		seen[p.SKU] = true
		if err := validatePrice(f+".Price", p.Price, c.Currency); err != nil {
			return err
		}
	}
	if c.TeamSize < MinTeamSize || c.TeamSize > MaxTeamSize {
		return invalid("campaign.TeamSize", fmt.Sprintf("must be in %d..%d", MinTeamSize, MaxTeamSize))
	}
	if c.TeamLifetime < time.Minute || c.TeamLifetime > 30*24*time.Hour {
		return invalid("campaign.TeamLifetime", "must be between 1 minute and 30 days")
	}
	if c.StartsAt.IsZero() || c.EndsAt.IsZero() || !c.EndsAt.After(c.StartsAt) {
		return invalid("campaign.EndsAt", "the window needs StartsAt before EndsAt")
	}
	if p := check.TimeProblem(c.StartsAt); p != "" {
		return invalid("campaign.StartsAt", p)
	}
	if p := check.TimeProblem(c.EndsAt); p != "" {
		return invalid("campaign.EndsAt", p)
	}
	if !c.Status.Valid() {
		return invalid("campaign.Status", fmt.Sprintf("unknown status %q", c.Status))
	}
	l := c.Limits
	if l.MaxTeamsOpenedPerUser < 0 || l.MaxTeamsJoinedPerUser < 0 || l.MaxUnitsPerOrder < 0 {
		return invalid("campaign.Limits", "limits must not be negative (zero means no limit)")
	}
	if l.MaxUnitsPerOrder > MaxQuantity {
		return invalid("campaign.Limits.MaxUnitsPerOrder", fmt.Sprintf("at most %d", MaxQuantity))
	}
	if c.ReservationTTL < time.Second || c.ReservationTTL > c.TeamLifetime {
		return invalid("campaign.ReservationTTL", "must be between 1 second and the team lifetime")
	}
	switch c.VirtualFill.Mode {
	case VirtualFillNone:
	case VirtualFillMinPaid:
		if c.VirtualFill.MinPaidSeats < 1 || c.VirtualFill.MinPaidSeats >= c.TeamSize {
			return invalid("campaign.VirtualFill.MinPaidSeats", "must be in 1..TeamSize-1")
		}
		if c.VirtualFill.MinPercent != 0 {
			return invalid("campaign.VirtualFill.MinPercent", "set with mode min_paid")
		}
	case VirtualFillMinPercent:
		if c.VirtualFill.MinPercent < 1 || c.VirtualFill.MinPercent > 99 {
			return invalid("campaign.VirtualFill.MinPercent", "must be in 1..99")
		}
		if c.VirtualFill.MinPaidSeats != 0 {
			return invalid("campaign.VirtualFill.MinPaidSeats", "set with mode min_percent")
		}
		// A threshold that rounds up to the whole team would never add a
		// virtual seat: the policy would be a silent no-op.
		if (c.TeamSize*c.VirtualFill.MinPercent+99)/100 >= c.TeamSize {
			return invalid("campaign.VirtualFill.MinPercent", fmt.Sprintf("rounds up to all %d seats of a team: no seat would ever be filled", c.TeamSize))
		}
	default:
		return invalid("campaign.VirtualFill.Mode", fmt.Sprintf("unknown mode %q", c.VirtualFill.Mode))
	}
	if c.VirtualFill.Mode == VirtualFillNone && (c.VirtualFill.MinPaidSeats != 0 || c.VirtualFill.MinPercent != 0) {
		return invalid("campaign.VirtualFill", "thresholds set with mode none")
	}
	switch c.LatePayment {
	case LateRefund, LateJoinOther, LateOpenNew:
	default:
		return invalid("campaign.LatePayment", fmt.Sprintf("unknown policy %q", c.LatePayment))
	}
	return nil
}

// AcceptsSeats reports whether the campaign takes new seats at now; a nil
// c takes none.
func (c *Campaign) AcceptsSeats(now time.Time) bool {
	return c != nil && c.Status == CampaignActive && !now.Before(c.StartsAt) && now.Before(c.EndsAt)
}

// teamDeadline is when a team opened at now must have filled: its lifetime,
// rounded up to a whole microsecond, cut short by the campaign's end.
// Every store keeps that precision (a SQL column drops the nanoseconds), so
// rounding up keeps a team open for its full lifetime on all of them, where
// truncating would close it up to 999 ns early on some.
func teamDeadline(c *Campaign, now time.Time) time.Time {
	d := microtime.Ceil(now.Add(c.TeamLifetime))
	if d.After(c.EndsAt) {
		d = c.EndsAt
	}
	return d
}

// reservationDeadline is when an unpaid seat reserved at now lapses: its TTL,
// rounded up to a whole microsecond as teamDeadline's lifetime is, never
// after the team's deadline.
func reservationDeadline(c *Campaign, teamExpires, now time.Time) time.Time {
	d := microtime.Ceil(now.Add(c.ReservationTTL))
	if d.After(teamExpires) {
		d = teamExpires
	}
	return d
}

// Seat rows a team may ever have: MaxSeatRows(capacity) is
// SeatRowsPerSeat × capacity + SeatRowsSpare. It is linear in the capacity
// so that a SQL adapter can state it in a guard
// (seat_rows < 4 * capacity + 8).
const (
	SeatRowsPerSeat = 4
	SeatRowsSpare   = 8
)

// MaxSeatRows returns the most seat rows a team of capacity seats may ever
// have: the leader's and one per join or match, released ones included
// (Team.SeatRows; the bot rows of a virtual fill, at most capacity - 1,
// come on top at the close). A released seat stays a row, and a close, a
// filling payment and the team_failed and team_succeeded payloads read
// every row of the team; without a bound, a user joining and cancelling in
// a loop would make each of them read without end. A team at its bound
// refuses joins (ErrTeamChurned) and is skipped by Match and OpenTeams;
// payments, closes, virtual fills and refunds never check it. Four rows
// per seat and eight more leave room for the churn of honest buyers (an
// abandoned checkout, a lapsed reservation) in small teams too: 16 rows
// for a team of 2, 408 for one of MaxTeamSize.
func MaxSeatRows(capacity int) int { return SeatRowsPerSeat*capacity + SeatRowsSpare }

// VirtualSeatsAtDeadline returns how many virtual seats the campaign's
// policy adds to a team that reached its deadline with paidSeats real paid
// seats, or 0 when the team fails. A nil c has no policy: 0.
func VirtualSeatsAtDeadline(c *Campaign, capacity, paidSeats int) int {
	if c == nil || paidSeats <= 0 || paidSeats >= capacity {
		return 0
	}
	var need int
	switch c.VirtualFill.Mode {
	case VirtualFillMinPaid:
		need = c.VirtualFill.MinPaidSeats
	case VirtualFillMinPercent:
		need = (capacity*c.VirtualFill.MinPercent + 99) / 100 // ceil
	default:
		return 0
	}
	if paidSeats < need {
		return 0
	}
	return capacity - paidSeats
}

// RefundKey is the stable idempotency key of a seat's refund.
func RefundKey(teamID, seatID string) string {
	return "gb:" + teamID + ":" + seatID + ":refund"
}

// LateRefundKey is the stable idempotency key of the refund of a late
// payment paymentRef made for seat seatID of team teamID: one key per
// payment, apart from the seat's own refund (RefundKey) and from the keys
// a host makes of it per attempt, RefundKey + ":" + Attempt. The ":late:"
// keeps it so: as RefundKey + ":" + paymentRef (the form before), a late
// payment referenced "2" got the key of the seat's own attempt 2, and a
// provider that answers a repeated key with its first answer would never
// refund one of the two payments. Events written before keep their key.
func LateRefundKey(teamID, seatID, paymentRef string) string {
	return RefundKey(teamID, seatID) + ":late:" + paymentRef
}

// ProviderRefundNo maps a refund key to a refund number that payment
// providers with tight rules accept: 32 lowercase hexadecimal digits, the
// first 128 bits of the key's SHA-256. A refund key (RefundKey,
// LateRefundKey, either with a host's ":" + Attempt) holds ':' and runs to
// 83 bytes and more, while WeChat Pay's out_refund_no takes at most 64
// characters of letters, digits and _-|*@, and Alipay's out_request_no at
// most 64. The same key always gives the same number, so a redelivered
// event asks for the same refund; two keys give the same number with
// probability 2^-128 a pair. key must be non-empty, at most
// MaxEventKeyLength bytes.
func ProviderRefundNo(key string) (string, error) {
	if key == "" {
		return "", invalid("key", "is empty")
	}
	if len(key) > MaxEventKeyLength {
		return "", invalid("key", fmt.Sprintf("longer than %d bytes", MaxEventKeyLength))
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16]), nil
}

// MayShip reports whether the host may ship the goods of a seat: only a real
// seat of a succeeded team. A nil s may not ship: false.
func MayShip(s *Seat) bool { return s != nil && s.State == SeatConfirmed && !s.Virtual }

// MayOpenAfterSale reports whether the host may open an after-sale case
// (return, complaint) on a seat: only a real seat of a succeeded team. A
// nil s may not: false.
func MayOpenAfterSale(s *Seat) bool { return s != nil && s.State == SeatConfirmed && !s.Virtual }

// fingerprint identifies the content of a request for idempotency checks.
func fingerprint(parts ...string) string { return strings.Join(parts, string(fingerprintSep)) }

const fingerprintSep = '\x1f'

// keyedFingerprint is the fingerprint of a command with an idempotency
// key, and "" without one: no record is kept then, so none is compared.
func keyedFingerprint(key string, parts ...string) string {
	if key == "" {
		return ""
	}
	return fingerprint(parts...)
}
