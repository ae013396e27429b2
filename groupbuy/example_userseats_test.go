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

// A "my group buys" page: the user's seats, newest first, two per page.
// Each page's Next is the cursor of the one after; a seat the user takes
// while paging (here between the first and the second page) does not
// shift the later pages, and shows on a new first page.
func ExampleService_UserSeats() {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	n := 0
	svc, _ := groupbuy.New(memory.New(memory.WithClock(clock)), groupbuy.Config{
		Now:   clock,
		NewID: func() string { n++; return "id" + strconv.Itoa(n) },
	})
	_, err := svc.CreateCampaign(ctx, groupbuy.Campaign{
		ID: "tea", ProductRef: "spu-1", Currency: "CNY",
		Prices:   []groupbuy.SKUPrice{{SKU: "500g", Price: decimal.RequireFromString("9.90")}},
		TeamSize: 2, TeamLifetime: time.Hour, ReservationTTL: 15 * time.Minute,
		StartsAt: now, EndsAt: now.Add(7 * 24 * time.Hour), Status: groupbuy.CampaignActive,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	open := func() {
		r, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "tea", UserID: "alice", SKU: "500g"})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("alice opens a team: seat", r.Seat.ID)
		now = now.Add(time.Minute)
	}
	for range 3 {
		open()
	}
	cursor := ""
	for page := 1; ; page++ {
		p, err := svc.UserSeats(ctx, "alice", cursor, 2)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, st := range p.Seats {
			fmt.Printf("page %d: seat %s\n", page, st.ID)
		}
		if p.Next == "" {
			break
		}
		if page == 1 {
			open() // while she pages
		}
		cursor = p.Next
	}
	// Output:
	// alice opens a team: seat id2
	// alice opens a team: seat id6
	// alice opens a team: seat id10
	// page 1: seat id10
	// page 1: seat id6
	// alice opens a team: seat id14
	// page 2: seat id2
}
