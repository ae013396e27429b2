package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/storage"
)

// The checks of a group-buy write are groupbuy's Check functions, shared
// with the memory store; these are the rest (reads, outbox, referral).

func bad(field, reason string) error { return &storage.ValidationError{Field: field, Reason: reason} }

// idProblem says what is wrong with an ID, or "", by the rules the Service
// checks (check.Problem):
// beside the length, no spaces, which MySQL's PAD SPACE collations would
// compare away, and valid UTF-8, which PostgreSQL and MySQL refuse to store.
func idProblem(id string) string { return check.Problem(id, groupbuy.MaxIDLength) }

// checkCtx refuses a nil ctx, as every method does first: database/sql
// panics on one while it holds the pool's lock, which leaves the host's
// *sql.DB deadlocked for every later call.
func checkCtx(ctx context.Context) error {
	if ctx == nil {
		return bad("ctx", "must not be nil (use context.Background())")
	}
	return nil
}

func checkID(field, id string) error {
	if p := idProblem(id); p != "" {
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

// checkTime requires t to be set, in the years every store keeps
// (check.TimeProblem).
func checkTime(field string, t time.Time) error {
	if t.IsZero() {
		return bad(field, "must be set")
	}
	if p := check.TimeProblem(t); p != "" {
		return bad(field, p)
	}
	return nil
}

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
