package groupbuy

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/storage"
)

// The Check functions below are the checks every adapter of the SDK
// (storage/memory, storage/sqlstore) applies to a write before anything
// else, exported so that a host's own adapter can apply the same: each
// returns a *ValidationError for input that no store could keep as given
// (Store's doc lists the rules), and nil otherwise. The sizes are the SQL
// columns': an adapter never truncates.

// Sizes every store accepts, beside MaxIDLength, MaxPaymentRefLength,
// MaxRecordScopeLength and MaxRecordKeyLength. Money fits NUMERIC(20,4):
// at most 4 decimal places and less than 10^16 in absolute value.
const (
	// MaxCurrencyLength bounds a stored currency code (the Service itself
	// takes three capital letters).
	MaxCurrencyLength = check.MaxCurrency
	// MaxEventTopicLength bounds an event's Topic.
	MaxEventTopicLength = check.MaxTopic
	// MaxEventKeyLength bounds an event's Key; in a MatchTeamWrite each
	// TeamIDHole counts as MaxIDLength bytes.
	MaxEventKeyLength = check.MaxEventKey
	// MaxFingerprintLength bounds an idempotency record's Fingerprint.
	MaxFingerprintLength = check.MaxFingerprint
	// MaxWriteBatch bounds the events of one write (a MatchTeamWrite's and
	// its Open's together), and each list of seats, and the bot seats, of
	// a CloseTeamWrite.
	MaxWriteBatch = check.MaxBatch
)

// The ...Problem functions say what is wrong with a value, or "" when
// nothing is. Field names are put together only once a problem is found,
// so that valid input, the usual case, costs no string building.

// idProblem holds IDs to the rules the Service checks (check.Problem):
// beside the length, no spaces, which MySQL's PAD SPACE collations would
// compare away, and valid UTF-8, which PostgreSQL and MySQL refuse to store.
func idProblem(id string) string { return check.Problem(id, MaxIDLength) }

// refProblem is idProblem for a payment reference; a seat has none until
// paid.
func refProblem(ref string) string {
	if ref == "" {
		return ""
	}
	return check.Problem(ref, MaxPaymentRefLength)
}

// timeProblem requires a time set, in the years every store keeps
// (check.TimeProblem).
func timeProblem(t time.Time) string {
	if t.IsZero() {
		return "must be set"
	}
	return check.TimeProblem(t)
}

func countProblem(n int) string {
	if n < 0 || n > 1<<30 {
		return "out of range"
	}
	return ""
}

func moneyProblem(d decimal.Decimal) string {
	if !check.MoneyOK(d) {
		return "must have at most 4 decimal places and fewer than 17 integer digits"
	}
	return ""
}

// fieldProblem is a field's name (relative to a prefix) and its problem.
type fieldProblem struct{ name, problem string }

// firstProblem returns the first of fs that has a problem.
func firstProblem(fs ...fieldProblem) (fieldProblem, bool) {
	for _, f := range fs {
		if f.problem != "" {
			return f, true
		}
	}
	return fieldProblem{}, false
}

// checkTime requires t to be set.
func checkTime(field string, t time.Time) error {
	if p := timeProblem(t); p != "" {
		return invalid(field, p)
	}
	return nil
}

// checkRecord checks an idempotency record, when there is one
// (check.Record).
func checkRecord(rec *IdempotencyRecord) error {
	if rec == nil {
		return nil
	}
	if rec.Scope == "" || rec.Key == "" {
		return invalid("Idem", "scope and key must not be empty")
	}
	return check.Record("Idem.", rec.Scope, rec.Key, rec.Fingerprint, MaxRecordScopeLength, MaxRecordKeyLength)
}

// checkSeat checks what a stored seat must satisfy to fit the columns. Its state
// is not checked: OpenTeam and JoinTeam set it. A real seat's user is an
// ID; a virtual one's is text (bots may have none).
func checkSeat(prefix string, st *Seat, real bool) error {
	user := check.TextProblem(st.UserID, MaxIDLength)
	if real {
		user = idProblem(st.UserID)
	}
	if f, ok := firstProblem(
		fieldProblem{".ID", idProblem(st.ID)},
		fieldProblem{".TeamID", idProblem(st.TeamID)},
		fieldProblem{".CampaignID", idProblem(st.CampaignID)},
		fieldProblem{".UserID", user},
		fieldProblem{".SKU", check.TextProblem(st.SKU, MaxIDLength)},
		// By the ID rules: MySQL's PAD SPACE collations would take "CNY "
		// for "CNY".
		fieldProblem{".Currency", check.Problem(st.Currency, MaxCurrencyLength)},
		fieldProblem{".PaymentRef", refProblem(st.PaymentRef)},
		fieldProblem{".Quantity", countProblem(st.Quantity)},
		fieldProblem{".UnitPrice", moneyProblem(st.UnitPrice)},
		fieldProblem{".Amount", moneyProblem(st.Amount)},
		fieldProblem{".ReservedAt", timeProblem(st.ReservedAt)},
		fieldProblem{".ReservedUntil", timeProblem(st.ReservedUntil)},
	); ok {
		return invalid(prefix+f.name, f.problem)
	}
	return nil
}

// checkTeam checks what a stored team must satisfy to fit the columns.
func checkTeam(t *Team) error {
	capacity := ""
	if t.Capacity < 1 || t.Capacity > 1<<20 {
		capacity = "out of range"
	}
	if f, ok := firstProblem(
		fieldProblem{".ID", idProblem(t.ID)},
		fieldProblem{".CampaignID", idProblem(t.CampaignID)},
		fieldProblem{".LeaderID", idProblem(t.LeaderID)},
		fieldProblem{".Capacity", capacity},
		fieldProblem{".SeatsTaken", countProblem(t.SeatsTaken)},
		fieldProblem{".SeatsPaid", countProblem(t.SeatsPaid)},
		fieldProblem{".VirtualSeats", countProblem(t.VirtualSeats)},
		fieldProblem{".OpenedAt", timeProblem(t.OpenedAt)},
		fieldProblem{".ExpiresAt", timeProblem(t.ExpiresAt)},
	); ok {
		return invalid("Team"+f.name, f.problem)
	}
	return nil
}

// CheckStoredCampaign checks a campaign as a store keeps it, for
// CreateCampaign: an ID, text within its column, a known status, times
// unset or in the years 1 to 9999, at most MaxSKUs prices that fit the
// money columns. The Service's own validation
// (ValidateCampaign) is stricter.
func CheckStoredCampaign(c *Campaign) error {
	if c == nil {
		return invalid("campaign", "must not be nil")
	}
	if p := idProblem(c.ID); p != "" {
		return invalid("campaign.ID", p)
	}
	if p := check.TextProblem(c.ProductRef, MaxIDLength); p != "" {
		return invalid("campaign.ProductRef", p)
	}
	if p := check.Problem(c.Currency, MaxCurrencyLength); p != "" {
		return invalid("campaign.Currency", p)
	}
	if !c.Status.Valid() {
		return invalid("campaign.Status", fmt.Sprintf("unknown status %q", c.Status))
	}
	if f, ok := firstProblem(
		fieldProblem{"StartsAt", check.TimeProblem(c.StartsAt)},
		fieldProblem{"EndsAt", check.TimeProblem(c.EndsAt)},
		fieldProblem{"CreatedAt", check.TimeProblem(c.CreatedAt)},
	); ok {
		return invalid("campaign."+f.name, f.problem)
	}
	if len(c.Prices) > MaxSKUs {
		return invalid("campaign.Prices", fmt.Sprintf("at most %d", MaxSKUs))
	}
	for i, p := range c.Prices {
		if q := moneyProblem(p.Price); q != "" {
			return invalid(fmt.Sprintf("campaign.Prices[%d].Price", i), q)
		}
	}
	return nil
}

// CheckOpenTeamWrite checks an OpenTeamWrite for OpenTeam: its team and
// leader seat fit the columns and agree with each other, Now is set, and
// its events and record follow the rules in Store's doc.
func CheckOpenTeamWrite(w *OpenTeamWrite) error {
	if w == nil {
		return invalid("write", "must not be nil")
	}
	if err := checkTeam(&w.Team); err != nil {
		return err
	}
	if err := checkSeat("Leader", &w.Leader, true); err != nil {
		return err
	}
	if field, reason := w.problem(); field != "" {
		return invalid(field, reason)
	}
	if err := checkTime("Now", w.Now); err != nil {
		return err
	}
	if err := check.Events(w.Events); err != nil {
		return err
	}
	return checkRecord(w.Idem)
}

// CheckJoinTeamWrite checks a JoinTeamWrite for JoinTeam: its seat fits the
// columns, Now is set, and its events and record follow the rules in
// Store's doc.
func CheckJoinTeamWrite(w *JoinTeamWrite) error {
	if w == nil {
		return invalid("write", "must not be nil")
	}
	if err := checkSeat("Seat", &w.Seat, true); err != nil {
		return err
	}
	if err := checkTime("Now", w.Now); err != nil {
		return err
	}
	if err := check.Events(w.Events); err != nil {
		return err
	}
	return checkRecord(w.Idem)
}

// CheckMatchTeamWrite checks a MatchTeamWrite for MatchTeam: a seat as JoinTeam takes it but with no
// team, a known order, event keys that stay within bounds once the team's
// ID fills their holes, and its Open, if any, as OpenTeam's, with both
// lists of events bounded together (PostgreSQL writes them in one
// statement, whose parameters are limited to 65,535).
func CheckMatchTeamWrite(w *MatchTeamWrite) error {
	if w == nil {
		return invalid("write", "must not be nil")
	}
	if w.Seat.TeamID != "" {
		return invalid("Seat.TeamID", "must be empty: the store picks the team")
	}
	st := w.Seat
	st.TeamID = "-" // stands in for the team Seat requires
	if err := checkSeat("Seat", &st, true); err != nil {
		return err
	}
	switch w.Order {
	case MatchFullest, MatchOldest, MatchRandom:
	default:
		return invalid("Order", fmt.Sprintf("must be %q, %q or %q", MatchFullest, MatchOldest, MatchRandom))
	}
	if w.Exclude != "" {
		if p := idProblem(w.Exclude); p != "" {
			return invalid("Exclude", p)
		}
	}
	if err := checkTime("Now", w.Now); err != nil {
		return err
	}
	if err := check.Events(w.Events); err != nil {
		return err
	}
	for i := range w.Events {
		k := w.Events[i].Key
		if len(k)+strings.Count(k, TeamIDHole)*(MaxIDLength-1) > check.MaxEventKey {
			return invalid(fmt.Sprintf("Events[%d].Key", i), fmt.Sprintf("longer than %d bytes once the team's ID fills it", check.MaxEventKey))
		}
	}
	if err := checkRecord(w.Idem); err != nil {
		return err
	}
	if w.Open == nil {
		return nil
	}
	if field, reason := w.openProblem(); field != "" {
		return invalid(field, reason)
	}
	if len(w.Events)+len(w.Open.Events) > check.MaxBatch {
		return invalid("Events", fmt.Sprintf("at most %d with Open.Events", check.MaxBatch))
	}
	return CheckOpenTeamWrite(w.Open)
}

// CheckPaySeatWrite checks a PaySeatWrite's IDs, reference, currency, time, events and
// record. Its amount is not checked: an amount no seat can have is a
// mismatch (ErrAmountMismatch), as any other wrong amount.
func CheckPaySeatWrite(w *PaySeatWrite) error {
	if w == nil {
		return invalid("write", "must not be nil")
	}
	if p := idProblem(w.TeamID); p != "" {
		return invalid("TeamID", p)
	}
	if p := idProblem(w.SeatID); p != "" {
		return invalid("SeatID", p)
	}
	if p := check.Problem(w.PaymentRef, MaxPaymentRefLength); p != "" {
		return invalid("PaymentRef", p)
	}
	if p := check.Problem(w.Currency, MaxCurrencyLength); p != "" {
		return invalid("Currency", p)
	}
	if err := checkTime("Now", w.Now); err != nil {
		return err
	}
	if err := check.Events(w.Events); err != nil {
		return err
	}
	return checkRecord(w.Idem)
}

// CheckReleaseSeatWrite checks a ReleaseSeatWrite. An empty UserID releases the seat
// whoever holds it.
func CheckReleaseSeatWrite(w *ReleaseSeatWrite) error {
	if w == nil {
		return invalid("write", "must not be nil")
	}
	if p := idProblem(w.SeatID); p != "" {
		return invalid("SeatID", p)
	}
	if w.UserID != "" {
		if p := idProblem(w.UserID); p != "" {
			return invalid("UserID", p)
		}
	}
	return check.Events(w.Events)
}

// CheckCloseTeamWrite checks a CloseTeamWrite: a final state, its lists of seats (no
// seat in two places: it would be moved once and counted off twice) and
// its bot seats (no ID twice among them and the lists).
func CheckCloseTeamWrite(w *CloseTeamWrite) error {
	if w == nil {
		return invalid("write", "must not be nil")
	}
	if p := idProblem(w.TeamID); p != "" {
		return invalid("TeamID", p)
	}
	if !w.State.Valid() || w.State == TeamForming {
		return invalid("State", "must be a final team state")
	}
	if w.VirtualSeats < 0 || w.VirtualSeats > 1<<20 {
		return invalid("VirtualSeats", "out of range")
	}
	if err := checkTime("Now", w.Now); err != nil {
		return err
	}
	seen := make(map[string]bool, len(w.Release)+len(w.Refund)+len(w.Confirm))
	for _, list := range [][]string{w.Release, w.Refund, w.Confirm} {
		if len(list) > check.MaxBatch {
			return invalid("seats", fmt.Sprintf("at most %d per list", check.MaxBatch))
		}
		for _, id := range list {
			if p := idProblem(id); p != "" {
				return invalid("seat ID", p)
			}
			if seen[id] {
				return invalid("seats", "seat "+id+" listed twice")
			}
			seen[id] = true
		}
	}
	if len(w.BotSeats) > check.MaxBatch {
		return invalid("BotSeats", fmt.Sprintf("at most %d", check.MaxBatch))
	}
	for i := range w.BotSeats {
		b := &w.BotSeats[i]
		f := fmt.Sprintf("BotSeats[%d]", i)
		if err := checkSeat(f, b, false); err != nil {
			return err
		}
		if !b.State.Valid() {
			return invalid(f+".State", fmt.Sprintf("unknown seat state %q", b.State))
		}
		// A bot seat is a new row: its ID may be neither another bot's,
		// which an adapter checking each bot against the stored seats
		// only would insert twice, nor a listed seat's.
		if seen[b.ID] {
			return invalid(f+".ID", "seat "+b.ID+" listed twice")
		}
		seen[b.ID] = true
	}
	return check.Events(w.Events)
}

// CheckRefundWrite checks a RefundWrite: a seat ID, a move along the
// refund path (CheckRefundMove), an Attempt in 0..2147483646 (so that the
// next attempt fits a 32-bit column) and its events.
func CheckRefundWrite(w *RefundWrite) error {
	if w == nil {
		return invalid("write", "must not be nil")
	}
	if p := idProblem(w.SeatID); p != "" {
		return invalid("SeatID", p)
	}
	if !w.From.Valid() || !w.To.Valid() {
		return invalid("state", "unknown seat state")
	}
	if err := CheckRefundMove(w.From, w.To); err != nil {
		return invalid("state", err.Error())
	}
	if w.Attempt < 0 || w.Attempt >= math.MaxInt32 {
		return invalid("Attempt", "must be in 0..2147483646")
	}
	return check.Events(w.Events)
}

// CheckOutcome checks RecordOutcome's record, which it requires, and its
// events.
func CheckOutcome(rec *IdempotencyRecord, events []storage.Event) error {
	if rec == nil {
		return invalid("idem", "must not be nil")
	}
	if err := checkRecord(rec); err != nil {
		return err
	}
	return check.Events(events)
}
