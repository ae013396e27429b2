package storage_test

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/memory"
)

// A relay drains the outbox: it claims events under a lease, delivers each
// (here it prints it), and acks what it delivered. An event it claims and
// never acks is handed out again, with the same ID and Key, once the lease
// ends; consumers deduplicate deliveries by ID and pass Key to whatever
// applies the effect (a payment provider's idempotency key): a refund retried
// after it failed comes as a new event with a new ID and the same Key, so
// deduplicating by Key would drop it.
func Example_relay() {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	store := memory.New(memory.WithClock(func() time.Time { return now }))
	svc, _ := groupbuy.New(store, groupbuy.Config{Now: func() time.Time { return now }})
	_, _ = svc.CreateCampaign(ctx, groupbuy.Campaign{
		ID: "tea", ProductRef: "spu-1", Currency: "CNY",
		Prices:   []groupbuy.SKUPrice{{SKU: "500g", Price: decimal.RequireFromString("9.90")}},
		TeamSize: 2, TeamLifetime: time.Hour, ReservationTTL: 15 * time.Minute,
		StartsAt: now, EndsAt: now.Add(24 * time.Hour), Status: groupbuy.CampaignActive,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
	})
	if _, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "tea", UserID: "alice", SKU: "500g"}); err != nil {
		fmt.Println(err)
		return
	}

	relay := func(out storage.Outbox) error {
		for {
			evs, err := out.Claim(ctx, 100, time.Minute)
			if err != nil || len(evs) == 0 {
				return err
			}
			ids := make([]string, 0, len(evs))
			for _, ev := range evs {
				fmt.Println("deliver", ev.Topic) // a real relay publishes ev.Payload under ev.Key
				ids = append(ids, ev.ID)
			}
			if err := out.Ack(ctx, ids); err != nil {
				return err
			}
		}
	}
	if err := relay(store); err != nil {
		fmt.Println(err)
	}
	// Output:
	// deliver groupbuy.team_opened
	// deliver groupbuy.seat_reserved
}
