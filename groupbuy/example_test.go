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

// A leader opens a team of three, two friends join, everyone pays, and the
// team succeeds; the outbox then holds the events a host would act on.
func Example() {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	n := 0
	store := memory.New(memory.WithClock(func() time.Time { return now }))
	svc, _ := groupbuy.New(store, groupbuy.Config{
		Now:   func() time.Time { return now },
		NewID: func() string { n++; return "id" + strconv.Itoa(n) },
	})
	price := decimal.RequireFromString("9.90")
	_, err := svc.CreateCampaign(ctx, groupbuy.Campaign{
		ID: "tea", ProductRef: "spu-1", Currency: "CNY",
		Prices:   []groupbuy.SKUPrice{{SKU: "500g", Price: price}},
		TeamSize: 3, TeamLifetime: 24 * time.Hour, ReservationTTL: 15 * time.Minute,
		StartsAt: now, EndsAt: now.Add(7 * 24 * time.Hour), Status: groupbuy.CampaignDraft,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = svc.SetCampaignStatus(ctx, "tea", groupbuy.CampaignActive)

	opened, _ := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "tea", UserID: "alice", SKU: "500g"})
	seats := []groupbuy.Seat{opened.Seat}
	for _, friend := range []string{"bob", "carol"} {
		r, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "tea", TeamID: opened.Team.ID, UserID: friend, SKU: "500g"})
		if err != nil {
			fmt.Println(err)
			return
		}
		seats = append(seats, r.Seat)
	}
	for i, s := range seats {
		r, err := svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{
			TeamID: s.TeamID, SeatID: s.ID, PaymentRef: "pay-" + strconv.Itoa(i), Amount: price, Currency: "CNY",
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(s.UserID, "paid; team", r.Team.State)
	}
	ok, _ := svc.MayShip(ctx, seats[0].ID)
	fmt.Println("may ship:", ok)
	events, _ := store.Claim(ctx, 100, time.Minute)
	for _, e := range events {
		fmt.Println(e.Topic)
	}
	// Output:
	// alice paid; team forming
	// bob paid; team forming
	// carol paid; team succeeded
	// may ship: true
	// groupbuy.team_opened
	// groupbuy.seat_reserved
	// groupbuy.seat_reserved
	// groupbuy.seat_reserved
	// groupbuy.seat_paid
	// groupbuy.seat_paid
	// groupbuy.seat_paid
	// groupbuy.team_succeeded
}
