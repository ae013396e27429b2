// Package storecheck holds the checks that every group-buy adapter of the
// SDK (storage/memory and storage/sqlstore) applies to a write before
// anything else, so that all of them refuse the same input with the same
// *storage.ValidationError and change nothing (groupbuy.Store's doc lists
// the rules). The sizes are the SQL columns': an adapter never truncates.
package storecheck

import (
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/storage"
)

// MaxCurrency is the longest currency code a store keeps.
const MaxCurrency = 8

func bad(field, reason string) error { return &storage.ValidationError{Field: field, Reason: reason} }

// The ...Problem functions say what is wrong with a value, or "" when
// nothing is. Field names are put together only once a problem is found,
// so that valid input, the usual case, costs no string building.

// idProblem holds IDs to the rules the Service checks (check.Problem):
// beside the length, no spaces, which MySQL's PAD SPACE collations would
// compare away, and valid UTF-8, which PostgreSQL and MySQL refuse to store.
func idProblem(id string) string { return check.Problem(id, groupbuy.MaxIDLength) }

// refProblem is idProblem for a payment reference; a seat has none until
// paid.
func refProblem(ref string) string {
	if ref == "" {
		return ""
	}
	return check.Problem(ref, groupbuy.MaxPaymentRefLength)
}

func timeProblem(t time.Time) string {
	if t.IsZero() {
		return "must be set"
	}
	return ""
}

func countProblem(n int) string {
	if n < 0 || n > 1<<30 {
		return "out of range"
	}
	return ""
}

// MoneyOK reports whether d fits the money columns, NUMERIC(20,4), exactly:
// at most 4 decimal places and fewer than 17 integer digits. It allocates
// only for an amount with more than 4 decimal places.
func MoneyOK(d decimal.Decimal) bool {
	exp := d.Exponent()
	if exp < -4 && !d.Equal(d.Truncate(4)) {
		return false
	}
	if d.IsZero() {
		return true
	}
	return d.NumDigits()+int(exp) <= 16
}

func moneyProblem(d decimal.Decimal) string {
	if !MoneyOK(d) {
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

// Time requires t to be set.
func Time(field string, t time.Time) error {
	if p := timeProblem(t); p != "" {
		return bad(field, p)
	}
	return nil
}

// Idem checks an idempotency record, when there is one (check.Record).
func Idem(rec *groupbuy.IdempotencyRecord) error {
	if rec == nil {
		return nil
	}
	if rec.Scope == "" || rec.Key == "" {
		return bad("Idem", "scope and key must not be empty")
	}
	return check.Record("Idem.", rec.Scope, rec.Key, rec.Fingerprint, groupbuy.MaxRecordScopeLength, groupbuy.MaxRecordKeyLength)
}

// Seat checks what a stored seat must satisfy to fit the columns. Its state
// is not checked: OpenTeam and JoinTeam set it. A real seat's user is an
// ID; a virtual one's is text (bots may have none).
func Seat(prefix string, st *groupbuy.Seat, real bool) error {
	user := check.TextProblem(st.UserID, groupbuy.MaxIDLength)
	if real {
		user = idProblem(st.UserID)
	}
	if f, ok := firstProblem(
		fieldProblem{".ID", idProblem(st.ID)},
		fieldProblem{".TeamID", idProblem(st.TeamID)},
		fieldProblem{".CampaignID", idProblem(st.CampaignID)},
		fieldProblem{".UserID", user},
		fieldProblem{".SKU", check.TextProblem(st.SKU, groupbuy.MaxIDLength)},
		// By the ID rules: MySQL's PAD SPACE collations would take "CNY "
		// for "CNY".
		fieldProblem{".Currency", check.Problem(st.Currency, MaxCurrency)},
		fieldProblem{".PaymentRef", refProblem(st.PaymentRef)},
		fieldProblem{".Quantity", countProblem(st.Quantity)},
		fieldProblem{".UnitPrice", moneyProblem(st.UnitPrice)},
		fieldProblem{".Amount", moneyProblem(st.Amount)},
		fieldProblem{".ReservedAt", timeProblem(st.ReservedAt)},
		fieldProblem{".ReservedUntil", timeProblem(st.ReservedUntil)},
	); ok {
		return bad(prefix+f.name, f.problem)
	}
	return nil
}

// Team checks what a stored team must satisfy to fit the columns.
func Team(t *groupbuy.Team) error {
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
		return bad("Team"+f.name, f.problem)
	}
	return nil
}

// Campaign checks a campaign as a store keeps it (the Service's own
// validation, groupbuy.ValidateCampaign, is stricter).
func Campaign(c *groupbuy.Campaign) error {
	if c == nil {
		return bad("campaign", "must not be nil")
	}
	if p := idProblem(c.ID); p != "" {
		return bad("campaign.ID", p)
	}
	if p := check.TextProblem(c.ProductRef, groupbuy.MaxIDLength); p != "" {
		return bad("campaign.ProductRef", p)
	}
	if p := check.Problem(c.Currency, MaxCurrency); p != "" {
		return bad("campaign.Currency", p)
	}
	if !c.Status.Valid() {
		return bad("campaign.Status", fmt.Sprintf("unknown status %q", c.Status))
	}
	if len(c.Prices) > groupbuy.MaxSKUs {
		return bad("campaign.Prices", fmt.Sprintf("at most %d", groupbuy.MaxSKUs))
	}
	for i, p := range c.Prices {
		if q := moneyProblem(p.Price); q != "" {
			return bad(fmt.Sprintf("campaign.Prices[%d].Price", i), q)
		}
	}
	return nil
}

// Open checks an OpenTeamWrite.
func Open(w *groupbuy.OpenTeamWrite) error {
	if w == nil {
		return bad("write", "must not be nil")
	}
	if err := Team(&w.Team); err != nil {
		return err
	}
	if err := Seat("Leader", &w.Leader, true); err != nil {
		return err
	}
	if field, reason := w.Problem(); field != "" {
		return bad(field, reason)
	}
	if err := Time("Now", w.Now); err != nil {
		return err
	}
	if err := check.Events(w.Events); err != nil {
		return err
	}
	return Idem(w.Idem)
}

// Join checks a JoinTeamWrite.
func Join(w *groupbuy.JoinTeamWrite) error {
	if w == nil {
		return bad("write", "must not be nil")
	}
	if err := Seat("Seat", &w.Seat, true); err != nil {
		return err
	}
	if err := Time("Now", w.Now); err != nil {
		return err
	}
	if err := check.Events(w.Events); err != nil {
		return err
	}
	return Idem(w.Idem)
}

// Match checks a MatchTeamWrite: a seat as JoinTeam takes it but with no
// team, a known order, event keys that stay within bounds once the team's
// ID fills their holes, and its Open, if any, as OpenTeam's, with both
// lists of events bounded together (PostgreSQL writes them in one
// statement, whose parameters are limited to 65,535).
func Match(w *groupbuy.MatchTeamWrite) error {
	if w == nil {
		return bad("write", "must not be nil")
	}
	if w.Seat.TeamID != "" {
		return bad("Seat.TeamID", "must be empty: the store picks the team")
	}
	st := w.Seat
	st.TeamID = "-" // stands in for the team Seat requires
	if err := Seat("Seat", &st, true); err != nil {
		return err
	}
	switch w.Order {
	case groupbuy.MatchFullest, groupbuy.MatchOldest, groupbuy.MatchRandom:
	default:
		return bad("Order", fmt.Sprintf("must be %q, %q or %q", groupbuy.MatchFullest, groupbuy.MatchOldest, groupbuy.MatchRandom))
	}
	if w.Exclude != "" {
		if p := idProblem(w.Exclude); p != "" {
			return bad("Exclude", p)
		}
	}
	if err := Time("Now", w.Now); err != nil {
		return err
	}
	if err := check.Events(w.Events); err != nil {
		return err
	}
	for i := range w.Events {
		k := w.Events[i].Key
		if len(k)+strings.Count(k, groupbuy.TeamIDHole)*(groupbuy.MaxIDLength-1) > check.MaxEventKey {
			return bad(fmt.Sprintf("Events[%d].Key", i), fmt.Sprintf("longer than %d bytes once the team's ID fills it", check.MaxEventKey))
		}
	}
	if err := Idem(w.Idem); err != nil {
		return err
	}
	if w.Open == nil {
		return nil
	}
	if field, reason := w.OpenProblem(); field != "" {
		return bad(field, reason)
	}
	if len(w.Events)+len(w.Open.Events) > check.MaxBatch {
		return bad("Events", fmt.Sprintf("at most %d with Open.Events", check.MaxBatch))
	}
	return Open(w.Open)
}

// Pay checks a PaySeatWrite's IDs, reference, currency, time, events and
// record. Its amount is not checked: an amount no seat can have is a
// mismatch (groupbuy.ErrAmountMismatch), as any other wrong amount.
func Pay(w *groupbuy.PaySeatWrite) error {
	if w == nil {
		return bad("write", "must not be nil")
	}
	if p := idProblem(w.TeamID); p != "" {
		return bad("TeamID", p)
	}
	if p := idProblem(w.SeatID); p != "" {
		return bad("SeatID", p)
	}
	if p := check.Problem(w.PaymentRef, groupbuy.MaxPaymentRefLength); p != "" {
		return bad("PaymentRef", p)
	}
	if p := check.Problem(w.Currency, MaxCurrency); p != "" {
		return bad("Currency", p)
	}
	if err := Time("Now", w.Now); err != nil {
		return err
	}
	if err := check.Events(w.Events); err != nil {
		return err
	}
	return Idem(w.Idem)
}

// Release checks a ReleaseSeatWrite. An empty UserID releases the seat
// whoever holds it.
func Release(w *groupbuy.ReleaseSeatWrite) error {
	if w == nil {
		return bad("write", "must not be nil")
	}
	if p := idProblem(w.SeatID); p != "" {
		return bad("SeatID", p)
	}
	if w.UserID != "" {
		if p := idProblem(w.UserID); p != "" {
			return bad("UserID", p)
		}
	}
	return check.Events(w.Events)
}

// Close checks a CloseTeamWrite: a final state, its lists of seats (no
// seat in two places: it would be moved once and counted off twice) and
// its bot seats.
func Close(w *groupbuy.CloseTeamWrite) error {
	if w == nil {
		return bad("write", "must not be nil")
	}
	if p := idProblem(w.TeamID); p != "" {
		return bad("TeamID", p)
	}
	if !w.State.Valid() || w.State == groupbuy.TeamForming {
		return bad("State", "must be a final team state")
	}
	if w.VirtualSeats < 0 || w.VirtualSeats > 1<<20 {
		return bad("VirtualSeats", "out of range")
	}
	if err := Time("Now", w.Now); err != nil {
		return err
	}
	seen := make(map[string]bool, len(w.Release)+len(w.Refund)+len(w.Confirm))
	for _, list := range [][]string{w.Release, w.Refund, w.Confirm} {
		if len(list) > check.MaxBatch {
			return bad("seats", fmt.Sprintf("at most %d per list", check.MaxBatch))
		}
		for _, id := range list {
			if p := idProblem(id); p != "" {
				return bad("seat ID", p)
			}
			if seen[id] {
				return bad("seats", "seat "+id+" listed twice")
			}
			seen[id] = true
		}
	}
	if len(w.BotSeats) > check.MaxBatch {
		return bad("BotSeats", fmt.Sprintf("at most %d", check.MaxBatch))
	}
	for i := range w.BotSeats {
		b := &w.BotSeats[i]
		f := fmt.Sprintf("BotSeats[%d]", i)
		if err := Seat(f, b, false); err != nil {
			return err
		}
		if !b.State.Valid() {
			return bad(f+".State", fmt.Sprintf("unknown seat state %q", b.State))
		}
	}
	return check.Events(w.Events)
}

// Refund checks a RefundWrite (its own Validate) and its events.
func Refund(w *groupbuy.RefundWrite) error {
	if err := w.Validate(); err != nil {
		return err
	}
	return check.Events(w.Events)
}

// Outcome checks RecordOutcome's record, which it requires, and events.
func Outcome(rec *groupbuy.IdempotencyRecord, events []storage.Event) error {
	if rec == nil {
		return bad("idem", "must not be nil")
	}
	if err := Idem(rec); err != nil {
		return err
	}
	return check.Events(events)
}
