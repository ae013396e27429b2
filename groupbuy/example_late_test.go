package groupbuy_test

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/memory"
)

// A payment that arrives after its reservation lapsed is late. Under the
// campaign's LateJoinOther policy the Service releases the lapsed seat and
// places the payment, as a paid seat, in another open team of the
// campaign; the outcome is stored under the payment reference, so the
// callback's retry gets the same answer, and reported by a
// late_payment_handled event.
func ExampleService_ConfirmPayment() {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	n := 0
	store := memory.New(memory.WithClock(clock))
	svc, _ := groupbuy.New(store, groupbuy.Config{
		Now:   clock,
		NewID: func() string { n++; return "id" + strconv.Itoa(n) },
	})
	price := decimal.RequireFromString("9.90")
	_, err := svc.CreateCampaign(ctx, groupbuy.Campaign{
		ID: "tea", ProductRef: "spu-1", Currency: "CNY",
		Prices:   []groupbuy.SKUPrice{{SKU: "500g", Price: price}},
		TeamSize: 3, TeamLifetime: 24 * time.Hour, ReservationTTL: 15 * time.Minute,
		StartsAt: now, EndsAt: now.Add(7 * 24 * time.Hour), Status: groupbuy.CampaignActive,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateJoinOther,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	alice, _ := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "tea", UserID: "alice", SKU: "500g"})
	bob, _ := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "tea", TeamID: alice.Team.ID, UserID: "bob", SKU: "500g"})
	now = now.Add(10 * time.Minute)
	dave, _ := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "tea", UserID: "dave", SKU: "500g"})
	drained, _ := store.Claim(ctx, 100, time.Minute)
	_ = store.Ack(ctx, eventIDs(drained)) // earlier events, already handled

	now = now.Add(10 * time.Minute) // bob's reservation lapsed 5 minutes ago
	pay := groupbuy.PaymentRequest{
		TeamID: bob.Seat.TeamID, SeatID: bob.Seat.ID, PaymentRef: "pay-bob", Amount: price, Currency: "CNY",
	}
	r, err := svc.ConfirmPayment(ctx, pay)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("late: policy %s, action %s (%s)\n", r.Late.Policy, r.Late.Action, r.Late.Reason)
	fmt.Printf("bob's payment: seat %s %s in team %s (dave's: %t), %d of %d seats taken\n",
		r.Seat.ID, r.Seat.State, r.Team.ID, r.Team.ID == dave.Team.ID, r.Team.SeatsTaken, r.Team.Capacity)
	old, _ := svc.Team(ctx, alice.Team.ID)
	fmt.Printf("alice's team: %d of %d seats taken\n", old.Team.SeatsTaken, old.Team.Capacity)

	again, _ := svc.ConfirmPayment(ctx, pay) // the provider calls back again
	fmt.Println("replay: same seat", again.Seat.ID == r.Seat.ID, "action", again.Late.Action)
	events, _ := store.Claim(ctx, 100, time.Minute)
	for _, e := range events {
		fmt.Println(e.Topic, e.Key)
	}
	// Output:
	// late: policy join_other, action joined (seat released, team forming)
	// bob's payment: seat id13 paid in team id7 (dave's: true), 2 of 3 seats taken
	// alice's team: 1 of 3 seats taken
	// replay: same seat true action joined
	// groupbuy.seat_released gb:id1:id5:released
	// groupbuy.seat_reserved gb:id7:id13:reserved
	// groupbuy.seat_paid gb:id7:id13:paid
	// groupbuy.late_payment_handled gb:late:pay-bob
}
