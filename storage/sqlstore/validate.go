package sqlstore

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
)

// Column sizes that input must fit; larger input is a ValidationError, never
// a truncation.
const (
	maxScope      = 64
	maxIdemKey    = 512
	maxTopic      = 128
	maxEventKey   = 1024
	maxCurrency   = 8
	maxPaymentRef = 256
	maxBatch      = 10000 // events, seat lists and bot seats per write
)

func bad(field, reason string) error { return &storage.ValidationError{Field: field, Reason: reason} }

func checkID(field, id string) error {
	if id == "" {
		return bad(field, "must not be empty")
	}
	if len(id) > groupbuy.MaxIDLength {
		return bad(field, fmt.Sprintf("longer than %d bytes", groupbuy.MaxIDLength))
	}
	return nil
}

func checkLen(field, v string, n int) error {
	if len(v) > n {
		return bad(field, fmt.Sprintf("longer than %d bytes", n))
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
	if t.IsZero() {
		return bad(field, "must be set")
	}
	return nil
}

func checkMoney(field string, d decimal.Decimal) error {
	if !moneyOK(d) {
		return bad(field, "must have at most 4 decimal places and fewer than 17 integer digits")
	}
	return nil
}

func checkCount(field string, n int) error {
	if n < 0 || n > 1<<30 {
		return bad(field, "out of range")
	}
	return nil
}

func checkEvents(evs []storage.Event) error {
	if len(evs) > maxBatch {
		return bad("Events", fmt.Sprintf("at most %d", maxBatch))
	}
	for i := range evs {
		ev := &evs[i]
		f := fmt.Sprintf("Events[%d]", i)
		if err := checkID(f+".ID", ev.ID); err != nil {
			return err
		}
		if ev.Topic == "" {
			return bad(f+".Topic", "must not be empty")
		}
		if err := checkLen(f+".Topic", ev.Topic, maxTopic); err != nil {
			return err
		}
		if err := checkLen(f+".Key", ev.Key, maxEventKey); err != nil {
			return err
		}
	}
	return nil
}

func checkIdem(rec *groupbuy.IdempotencyRecord) error {
	if rec == nil {
		return nil
	}
	if rec.Scope == "" || rec.Key == "" {
		return bad("Idem", "scope and key must not be empty")
	}
	if err := checkLen("Idem.Scope", rec.Scope, maxScope); err != nil {
		return err
	}
	return checkLen("Idem.Key", rec.Key, maxIdemKey)
}

// checkSeat checks what a stored seat must satisfy to fit the columns. Its
// state is not checked: OpenTeam and JoinTeam set it.
func checkSeat(f string, st *groupbuy.Seat, real bool) error {
	if err := checkID(f+".ID", st.ID); err != nil {
		return err
	}
	if err := checkID(f+".TeamID", st.TeamID); err != nil {
		return err
	}
	if err := checkID(f+".CampaignID", st.CampaignID); err != nil {
		return err
	}
	if real {
		if err := checkID(f+".UserID", st.UserID); err != nil {
			return err
		}
	} else if err := checkLen(f+".UserID", st.UserID, groupbuy.MaxIDLength); err != nil {
		return err
	}
	if err := checkLen(f+".SKU", st.SKU, groupbuy.MaxIDLength); err != nil {
		return err
	}
	if err := checkLen(f+".Currency", st.Currency, maxCurrency); err != nil {
		return err
	}
	if err := checkLen(f+".PaymentRef", st.PaymentRef, maxPaymentRef); err != nil {
		return err
	}
	if err := checkCount(f+".Quantity", st.Quantity); err != nil {
		return err
	}
	if err := checkMoney(f+".UnitPrice", st.UnitPrice); err != nil {
		return err
	}
	if err := checkMoney(f+".Amount", st.Amount); err != nil {
		return err
	}
	if err := checkTime(f+".ReservedAt", st.ReservedAt); err != nil {
		return err
	}
	return checkTime(f+".ReservedUntil", st.ReservedUntil)
}

func checkTeam(t *groupbuy.Team) error {
	for _, f := range [][2]string{{"Team.ID", t.ID}, {"Team.CampaignID", t.CampaignID}, {"Team.LeaderID", t.LeaderID}} {
		if err := checkID(f[0], f[1]); err != nil {
			return err
		}
	}
	if t.Capacity < 1 || t.Capacity > 1<<20 {
		return bad("Team.Capacity", "out of range")
	}
	for _, c := range [][2]any{{"Team.SeatsTaken", t.SeatsTaken}, {"Team.SeatsPaid", t.SeatsPaid}, {"Team.VirtualSeats", t.VirtualSeats}} {
		if err := checkCount(c[0].(string), c[1].(int)); err != nil {
			return err
		}
	}
	if err := checkTime("Team.OpenedAt", t.OpenedAt); err != nil {
		return err
	}
	return checkTime("Team.ExpiresAt", t.ExpiresAt)
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
