package groupbuy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
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

// Strangers match into open teams: the fullest team with room takes each
// one, and a match that finds none opens a team. The seat event names the
// team the store picked.
func ExampleService_Match() {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	n := 0
	store := memory.New(memory.WithClock(func() time.Time { return now }))
	svc, _ := groupbuy.New(store, groupbuy.Config{
		Now:   func() time.Time { return now },
		NewID: func() string { n++; return "id" + strconv.Itoa(n) },
	})
	_, err := svc.CreateCampaign(ctx, groupbuy.Campaign{
		ID: "tea", ProductRef: "spu-1", Currency: "CNY",
		Prices:   []groupbuy.SKUPrice{{SKU: "500g", Price: decimal.RequireFromString("9.90")}},
		TeamSize: 2, TeamLifetime: 24 * time.Hour, ReservationTTL: 15 * time.Minute,
		StartsAt: now, EndsAt: now.Add(7 * 24 * time.Hour), Status: groupbuy.CampaignActive,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, user := range []string{"ann", "ben", "cat"} {
		r, err := svc.Match(ctx, groupbuy.MatchRequest{CampaignID: "tea", UserID: user, SKU: "500g", Strategy: groupbuy.MatchFullest})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s: team %s, %d of %d seats, opened %t\n", user, r.Team.ID, r.Team.SeatsTaken, r.Team.Capacity, r.Opened)
	}
	events, _ := store.Claim(ctx, 100, time.Minute)
	for _, e := range events {
		if e.Topic == groupbuy.TopicSeatReserved {
			fmt.Println(e.Key)
		}
	}
	// Output:
	// ann: team id3, 1 of 2 seats, opened true
	// ben: team id3, 2 of 2 seats, opened false
	// cat: team id15, 1 of 2 seats, opened true
	// gb:id3:id4:reserved
	// gb:id3:id7:reserved
	// gb:id15:id16:reserved
}

// A team that does not fill before its deadline fails: ProcessDue (run from
// a ticker) releases the unpaid seat, closes the team and asks for one
// refund per paid seat. The relay passes the event's key to the payment
// provider, acks the event and reports the provider's answer.
func ExampleService_ProcessDue() {
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
		TeamSize: 3, TeamLifetime: time.Hour, ReservationTTL: 15 * time.Minute,
		StartsAt: now, EndsAt: now.Add(7 * 24 * time.Hour), Status: groupbuy.CampaignActive,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	opened, _ := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "tea", UserID: "alice", SKU: "500g"})
	_, err = svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{
		TeamID: opened.Team.ID, SeatID: opened.Seat.ID, PaymentRef: "pay-alice", Amount: price, Currency: "CNY",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "tea", TeamID: opened.Team.ID, UserID: "bob", SKU: "500g"})
	drained, _ := store.Claim(ctx, 100, time.Minute)
	_ = store.Ack(ctx, eventIDs(drained)) // earlier events, already handled

	now = now.Add(2 * time.Hour) // past the team's deadline
	rep, err := svc.ProcessDue(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("released %d, failed %d\n", rep.Released, rep.Failed)
	events, _ := store.Claim(ctx, 100, time.Minute)
	for _, e := range events {
		fmt.Println(e.Topic, e.Key)
		if e.Topic == groupbuy.TopicRefundRequested {
			var p groupbuy.RefundRequestedPayload
			_ = json.Unmarshal(e.Payload, &p)
			// Here the relay asks the provider to refund p.PaymentRef with
			// idempotency key e.Key, then reports its answer; a late
			// payment's refund is settled by its key alone.
			if !p.ForSeat() {
				continue
			}
			seat, err := svc.MarkRefunded(ctx, p.SeatID, p.Attempt)
			if err != nil {
				fmt.Println(err)
				return
			}
			fmt.Printf("refunded %s %s to %s for %s: seat %s\n", p.Amount, p.Currency, seat.UserID, p.PaymentRef, seat.State)
		}
	}
	_ = store.Ack(ctx, eventIDs(events))
	// Output:
	// released 1, failed 1
	// groupbuy.seat_released gb:id1:id6:released
	// groupbuy.refund_requested gb:id1:id2:refund
	// refunded 9.9 CNY to alice for pay-alice: seat refunded
	// groupbuy.team_failed gb:id1:failed
}

func eventIDs(events []storage.Event) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}
