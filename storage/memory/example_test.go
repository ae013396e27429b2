package memory_test

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/memory"
)

// The in-memory Store backs a Service in tests and examples. Its clock
// (WithClock) measures the outbox leases: an event claimed and not acked
// is handed out again, with the same ID and one more attempt, once its
// lease ends.
func Example() {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	n := 0
	store := memory.New(memory.WithClock(clock))
	svc, err := groupbuy.New(store, groupbuy.Config{
		Now:   clock,
		NewID: func() string { n++; return "id" + strconv.Itoa(n) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = svc.CreateCampaign(ctx, groupbuy.Campaign{
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
	r, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "tea", UserID: "alice", SKU: "500g"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("opened %s for %s; pending events: %d\n", r.Team.ID, r.Team.LeaderID, store.Pending())

	first, _ := store.Claim(ctx, 100, time.Minute) // delivered, but never acked
	for _, e := range first {
		fmt.Println("claimed", e.ID, e.Topic, "attempt", e.Attempts)
	}
	again, _ := store.Claim(ctx, 100, time.Minute)
	fmt.Println("claimed while leased:", len(again))

	now = now.Add(2 * time.Minute) // the lease ran out
	again, _ = store.Claim(ctx, 100, time.Minute)
	ids := make([]string, 0, len(again))
	for _, e := range again {
		fmt.Println("claimed", e.ID, e.Topic, "attempt", e.Attempts)
		ids = append(ids, e.ID)
	}
	_ = store.Ack(ctx, ids)
	fmt.Println("pending events:", store.Pending())
	// Output:
	// opened id1 for alice; pending events: 2
	// claimed id3 groupbuy.team_opened attempt 1
	// claimed id4 groupbuy.seat_reserved attempt 1
	// claimed while leased: 0
	// claimed id3 groupbuy.team_opened attempt 2
	// claimed id4 groupbuy.seat_reserved attempt 2
	// pending events: 0
}
