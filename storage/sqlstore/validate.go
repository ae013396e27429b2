package sqlstore

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/storage"
)

// Column sizes that input must fit; larger input is a ValidationError, never
// a truncation.
const (
	maxEventKey = check.MaxEventKey
	maxCurrency = 8
	maxBatch    = check.MaxBatch // events, seat lists and bot seats per write
)

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

// textProblem holds free text (a name, a reason, a bot's user ID) to at
// most n bytes of valid UTF-8 without NUL (check.TextProblem), so that no
// database refuses it with an error of its own.
func textProblem(v string, n int) string { return check.TextProblem(v, n) }

func timeProblem(t time.Time) string {
	if t.IsZero() {
		return "must be set"
	}
	return ""
}

func moneyProblem(d decimal.Decimal) string {
	if !moneyOK(d) {
		return "must have at most 4 decimal places and fewer than 17 integer digits"
	}
	return ""
}

func countProblem(n int) string {
	if n < 0 || n > 1<<30 {
		return "out of range"
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

func checkID(field, id string) error {
	if p := idProblem(id); p != "" {
		return bad(field, p)
	}
	return nil
}

// checkText is textProblem as a ValidationError.
func checkText(field, v string, n int) error {
	if p := textProblem(v, n); p != "" {
		return bad(field, p)
	}
	return nil
}

func checkLimit(limit int) error {
	if limit <= 0 || limit > groupbuy.MaxListLimit {
		return bad("limit", fmt.Sprintf("must be in 1..%d", groupbuy.MaxListLimit))
	}
	return nil
}

// checkDueLimit checks the limit of DueReservations and DueTeams.
func checkDueLimit(limit int) error {
	if limit <= 0 || limit > groupbuy.MaxProcessDue {
		return bad("limit", fmt.Sprintf("must be in 1..%d", groupbuy.MaxProcessDue))
	}
	return nil
}

func checkTime(field string, t time.Time) error {
	if p := timeProblem(t); p != "" {
		return bad(field, p)
	}
	return nil
}

func checkMoney(field string, d decimal.Decimal) error {
	if p := moneyProblem(d); p != "" {
		return bad(field, p)
	}
	return nil
}

func checkEvents(evs []storage.Event) error { return check.Events(evs) }

func checkIdem(rec *groupbuy.IdempotencyRecord) error {
	if rec == nil {
		return nil
	}
	if rec.Scope == "" || rec.Key == "" {
		return bad("Idem", "scope and key must not be empty")
	}
	return check.Record("Idem.", rec.Scope, rec.Key, rec.Fingerprint, groupbuy.MaxRecordScopeLength, groupbuy.MaxRecordKeyLength)
}

// checkRecordKey holds an idempotency record's scope and key to the ID
// rules (check.Record).
func checkRecordKey(prefix, scope, key string) error {
	return check.Record(prefix, scope, key, "", groupbuy.MaxRecordScopeLength, groupbuy.MaxRecordKeyLength)
}

// checkSeat checks what a stored seat must satisfy to fit the columns. Its
// state is not checked: OpenTeam and JoinTeam set it.
func checkSeat(prefix string, st *groupbuy.Seat, real bool) error {
	user := textProblem(st.UserID, groupbuy.MaxIDLength)
	if real {
		user = idProblem(st.UserID)
	}
	if f, ok := firstProblem(
		fieldProblem{".ID", idProblem(st.ID)},
		fieldProblem{".TeamID", idProblem(st.TeamID)},
		fieldProblem{".CampaignID", idProblem(st.CampaignID)},
		fieldProblem{".UserID", user},
		fieldProblem{".SKU", check.TextProblem(st.SKU, groupbuy.MaxIDLength)},
		fieldProblem{".Currency", check.Problem(st.Currency, maxCurrency)},
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

func checkTeam(t *groupbuy.Team) error {
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

// activeSeat reports whether a seat in state st holds a place and counts
// against the per-user limits.
func activeSeat(st groupbuy.SeatState) bool {
	return st == groupbuy.SeatReserved || st == groupbuy.SeatPaid || st == groupbuy.SeatConfirmed
}

// activeUser is the active_user column of a seat: its user while it holds a
// place, else NULL. Virtual seats have no user.
func activeUser(st *groupbuy.Seat) any {
	if st.Virtual || !activeSeat(st.State) {
		return nil
	}
	return nullStr(st.UserID)
}
