package groupbuy_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
)

// FuzzDecideClose feeds arbitrary forming teams to DecideClose, the pure
// rule that had no fuzz target: it never panics, and a decision is a
// write the stores accept (CheckCloseTeamWrite) with a final outcome that
// moves each seat at most once and only from the state its list says.
// VirtualSeatsAtDeadline stays within the seats the team lacks.
func FuzzDecideClose(f *testing.F) {
	f.Add(3, 3, 1, "none", 0, 0, "rpr", false, int64(0), int64(time.Hour))
	f.Add(5, 5, 5, "min_paid", 2, 0, "ppppp", false, int64(time.Hour), int64(time.Hour))
	f.Add(10, 10, 4, "min_percent", 0, 40, "pppprrrxcf", true, int64(-time.Minute), int64(time.Minute))
	f.Add(2, -1, 9, "bogus", -3, 200, "", true, int64(1<<62), int64(-1<<62))
	f.Fuzz(func(t *testing.T, teamSize, capacity, paid int, mode string, minPaid, minPercent int, states string, cancel bool, sinceExpiry, lifetime int64) {
		now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		c := groupbuy.Campaign{
			ID: "c", ProductRef: "p", Currency: "CNY", Prices: []groupbuy.SKUPrice{{SKU: "s", Price: decimal.NewFromInt(10)}},
			TeamSize: teamSize, TeamLifetime: time.Hour, ReservationTTL: time.Minute, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour),
			Status: groupbuy.CampaignActive, LatePayment: groupbuy.LateRefund, RecordVirtualSeats: len(states)%2 == 0,
			VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillMode(mode), MinPaidSeats: minPaid, MinPercent: minPercent},
		}
		if n := groupbuy.VirtualSeatsAtDeadline(&c, capacity, paid); n < 0 || (n > 0 && n != capacity-paid) {
			t.Fatalf("VirtualSeatsAtDeadline(%d, %d) = %d", capacity, paid, n)
		}
		if groupbuy.ValidateCampaign(&c) != nil {
			return // the Service never closes a team of an invalid campaign
		}
		if len(states) > groupbuy.MaxTeamSize {
			states = states[:groupbuy.MaxTeamSize]
		}
		team := groupbuy.Team{ID: "t", CampaignID: "c", LeaderID: "u0", Capacity: c.TeamSize, State: groupbuy.TeamForming,
			OpenedAt: now.Add(-time.Duration(lifetime)), ExpiresAt: now.Add(-time.Duration(sinceExpiry)), Version: 7}
		var seats []groupbuy.Seat
		for i := 0; i < len(states) && len(seats) < team.Capacity; i++ {
			st := groupbuy.Seat{ID: fmt.Sprintf("s%d", i), TeamID: "t", CampaignID: "c", UserID: fmt.Sprintf("u%d", i), SKU: "s",
				Quantity: 1, UnitPrice: decimal.NewFromInt(10), Amount: decimal.NewFromInt(10), Currency: "CNY",
				Leader: i == 0, ReservedAt: now.Add(-time.Minute), ReservedUntil: now.Add(time.Minute), Version: 1}
			switch states[i] % 4 {
			case 0:
				st.State = groupbuy.SeatReserved
			case 1:
				st.State, st.PaidAt, st.PaymentRef = groupbuy.SeatPaid, now.Add(-time.Second), fmt.Sprintf("pay%d", i)
			case 2:
				st.State = groupbuy.SeatReleased
			case 3:
				st.State = groupbuy.SeatRefunded
			}
			if st.Active() {
				team.SeatsTaken++
			}
			if st.State == groupbuy.SeatPaid {
				team.SeatsPaid++
			}
			seats = append(seats, st)
		}
		n := 0
		d, ok := groupbuy.DecideClose(&c, &team, seats, cancel, "fuzz", now, func() string { n++; return fmt.Sprintf("id-%d", n) })
		if !ok {
			if cancel || team.SeatsPaid >= team.Capacity || !team.ExpiresAt.After(now) {
				t.Fatalf("no decision for a team that should close: cancel %v, paid %d/%d, expires %v", cancel, team.SeatsPaid, team.Capacity, team.ExpiresAt)
			}
			return
		}
		if !cancel && team.SeatsPaid < team.Capacity && team.ExpiresAt.After(now) {
			t.Fatalf("a decision (%s) for a team not due: paid %d/%d, expires %v", d.Outcome, team.SeatsPaid, team.Capacity, team.ExpiresAt)
		}
		if err := groupbuy.CheckCloseTeamWrite(&d.Write); err != nil {
			var ve *groupbuy.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("untyped error %T %v", err, err)
			}
			t.Fatalf("the decision is a write no store accepts: %v", err)
		}
		if !d.Outcome.Final() || !d.Outcome.Valid() || d.Write.State != d.Outcome {
			t.Fatalf("outcome %q, write state %q", d.Outcome, d.Write.State)
		}
		state := map[string]groupbuy.SeatState{}
		for _, st := range seats {
			state[st.ID] = st.State
		}
		moved := map[string]bool{}
		for _, m := range d.Write.Moves() {
			for _, id := range m.SeatIDs {
				if moved[id] || state[id] != m.From {
					t.Fatalf("seat %s (%s) moved twice or from %s", id, state[id], m.From)
				}
				moved[id] = true
			}
		}
	})
}
