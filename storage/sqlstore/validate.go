package sqlstore

import (
	"fmt"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/internal/storecheck"
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

// textProblem holds free text (a name, a reason, a bot's user ID) to at
// most n bytes of valid UTF-8 without NUL (check.TextProblem), so that no
// database refuses it with an error of its own.
func textProblem(v string, n int) string { return check.TextProblem(v, n) }

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

func checkTime(field string, t time.Time) error { return storecheck.Time(field, t) }

func checkEvents(evs []storage.Event) error { return check.Events(evs) }

// checkRecordKey holds an idempotency record's scope and key to the ID
// rules (check.Record).
func checkRecordKey(prefix, scope, key string) error {
	return check.Record(prefix, scope, key, "", groupbuy.MaxRecordScopeLength, groupbuy.MaxRecordKeyLength)
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
