package memory

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
)

// TestOpenStoresLeaderReserved: seat states are numbered as they first
// come, so a write's own state must not reach the store; OpenTeam stores
// the leader seat reserved (OpenTeamWrite.Rows), whatever the write says.
func TestOpenStoresLeaderReserved(t *testing.T) {
	s := New()
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	price := decimal.NewFromInt(10)
	c := &groupbuy.Campaign{ID: "c1", ProductRef: "p", Currency: "CNY", Prices: []groupbuy.SKUPrice{{SKU: "s", Price: price}},
		TeamSize: 3, TeamLifetime: time.Hour, ReservationTTL: time.Minute, StartsAt: now, EndsAt: now.Add(time.Hour),
		Status: groupbuy.CampaignActive, LatePayment: groupbuy.LateRefund}
	if err := s.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	w := &groupbuy.OpenTeamWrite{
		Team: groupbuy.Team{ID: "t1", CampaignID: "c1", LeaderID: "u1", Capacity: 3, State: groupbuy.TeamSucceeded, SeatsTaken: 7,
			OpenedAt: now, ExpiresAt: now.Add(time.Hour)},
		Leader: groupbuy.Seat{ID: "s1", TeamID: "t1", CampaignID: "c1", UserID: "u1", SKU: "s", Quantity: 1, UnitPrice: price, Amount: price,
			Currency: "CNY", State: "bogus", Virtual: true, ReservedAt: now, ReservedUntil: now.Add(time.Minute)},
		Now: now,
	}
	if err := s.OpenTeam(ctx, w); err != nil {
		t.Fatal(err)
	}
	team, err := s.GetTeam(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	seat, err := s.GetSeat(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if team.State != groupbuy.TeamForming || team.SeatsTaken != 1 || seat.State != groupbuy.SeatReserved || !seat.Leader || seat.Virtual {
		t.Fatalf("stored team %s with %d seats, leader seat %s leader=%v virtual=%v", team.State, team.SeatsTaken, seat.State, seat.Leader, seat.Virtual)
	}
}
