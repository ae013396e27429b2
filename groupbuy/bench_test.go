package groupbuy_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/memory"
)

// BenchmarkJoinPayMemory measures one Join plus one ConfirmPayment per op on
// the memory store, with default IDs (UUIDv7) and JSON event payloads. A new
// team of 100 is opened (not timed separately) whenever one fills.
func BenchmarkJoinPayMemory(b *testing.B) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	store := memory.New(memory.WithClock(func() time.Time { return now }))
	svc, err := groupbuy.New(store, groupbuy.Config{Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	price := decimal.NewFromInt(10)
	_, err = svc.CreateCampaign(ctx, groupbuy.Campaign{
		ID: "bench", ProductRef: "p", Currency: "CNY", Prices: []groupbuy.SKUPrice{{SKU: "s", Price: price}},
		TeamSize: groupbuy.MaxTeamSize, TeamLifetime: time.Hour, ReservationTTL: time.Minute,
		StartsAt: now, EndsAt: now.Add(time.Hour), Status: groupbuy.CampaignActive,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
	})
	if err != nil {
		b.Fatal(err)
	}
	team := ""
	taken := groupbuy.MaxTeamSize
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if taken == groupbuy.MaxTeamSize {
			r, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "bench", UserID: "leader" + strconv.Itoa(i), SKU: "s"})
			if err != nil {
				b.Fatal(err)
			}
			team, taken = r.Team.ID, 1
		}
		i++
		user := "u" + strconv.Itoa(i)
		r, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "bench", TeamID: team, UserID: user, SKU: "s"})
		if err != nil {
			b.Fatal(err)
		}
		taken++
		if _, err := svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{
			TeamID: team, SeatID: r.Seat.ID, PaymentRef: "pay" + user, Amount: price, Currency: "CNY",
		}); err != nil {
			b.Fatal(err)
		}
	}
}
