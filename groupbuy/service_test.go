package groupbuy_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/memory"
)

func twoSeatWorld(t *testing.T, late groupbuy.LatePaymentPolicy) (*groupbuy.Service, *memory.Store, *time.Time) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	store := memory.New(memory.WithClock(func() time.Time { return now }))
	svc, err := groupbuy.New(store, groupbuy.Config{Now: func() time.Time { return now }})
	require.NoError(t, err)
	_, err = svc.CreateCampaign(context.Background(), groupbuy.Campaign{
		ID: "c", ProductRef: "p", Currency: "CNY", Prices: []groupbuy.SKUPrice{{SKU: "s", Price: decimal.NewFromInt(10)}},
		TeamSize: 2, TeamLifetime: time.Hour, ReservationTTL: 10 * time.Minute, StartsAt: now, EndsAt: now.Add(24 * time.Hour),
		Status: groupbuy.CampaignActive, VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: late,
	})
	require.NoError(t, err)
	return svc, store, &now
}

func payFor(s groupbuy.Seat, ref string) groupbuy.PaymentRequest {
	return groupbuy.PaymentRequest{TeamID: s.TeamID, SeatID: s.ID, PaymentRef: ref, Amount: s.Amount, Currency: s.Currency}
}

func TestReplayOfFillingPaymentReportsFill(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := twoSeatWorld(t, groupbuy.LateRefund)
	a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
	require.NoError(t, err)
	b, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: a.Team.ID, UserID: "b", SKU: "s"})
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(ctx, payFor(a.Seat, "p1"))
	require.NoError(t, err)
	first, err := svc.ConfirmPayment(ctx, payFor(b.Seat, "p2"))
	require.NoError(t, err)
	require.True(t, first.Filled)
	again, err := svc.ConfirmPayment(ctx, payFor(b.Seat, "p2"))
	require.NoError(t, err)
	assert.True(t, again.Filled, "a repeat returns the first result")
	assert.Equal(t, groupbuy.TeamSucceeded, again.Team.State)
	other, err := svc.ConfirmPayment(ctx, payFor(a.Seat, "p1"))
	require.NoError(t, err)
	assert.False(t, other.Filled)
}

func TestSucceededEventListsOnlyTheTeam(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := twoSeatWorld(t, groupbuy.LateRefund)
	a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "alice", SKU: "s"})
	require.NoError(t, err)
	bob, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: a.Team.ID, UserID: "bob", SKU: "s"})
	require.NoError(t, err)
	_, err = svc.CancelReservation(ctx, bob.Seat.ID, "bob")
	require.NoError(t, err)
	carol, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: a.Team.ID, UserID: "carol", SKU: "s"})
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(ctx, payFor(a.Seat, "p1"))
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(ctx, payFor(carol.Seat, "p2"))
	require.NoError(t, err)
	evs, err := store.Claim(ctx, 100, time.Minute)
	require.NoError(t, err)
	var found bool
	for _, e := range evs {
		if e.Topic != groupbuy.TopicTeamSucceeded {
			continue
		}
		found = true
		var p groupbuy.TeamClosedPayload
		require.NoError(t, json.Unmarshal(e.Payload, &p))
		var users []string
		for _, s := range p.Seats {
			users = append(users, s.UserID)
			assert.Equal(t, groupbuy.SeatConfirmed, s.State)
		}
		assert.ElementsMatch(t, []string{"alice", "carol"}, users)
	}
	assert.True(t, found)
}

func TestLatePaymentReportsPolicy(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []groupbuy.LatePaymentPolicy{groupbuy.LateRefund, groupbuy.LateJoinOther, groupbuy.LateOpenNew} {
		t.Run(string(policy), func(t *testing.T) {
			svc, store, now := twoSeatWorld(t, policy)
			a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
			require.NoError(t, err)
			*now = now.Add(11 * time.Minute) // the reservation lapses
			r, err := svc.ConfirmPayment(ctx, payFor(a.Seat, "late-1"))
			require.NoError(t, err)
			require.NotNil(t, r.Late)
			assert.Equal(t, policy, r.Late.Policy)
			if policy == groupbuy.LateRefund {
				assert.Equal(t, groupbuy.LateActionRefund, r.Late.Action)
			} else {
				assert.Equal(t, groupbuy.LateActionOpened, r.Late.Action, "no other team is open")
				assert.Equal(t, groupbuy.SeatPaid, r.Seat.State)
			}
			again, err := svc.ConfirmPayment(ctx, payFor(a.Seat, "late-1"))
			require.NoError(t, err)
			assert.Equal(t, r.Late, again.Late)
			assert.Equal(t, r.Seat.ID, again.Seat.ID)
			evs, err := store.Claim(ctx, 100, time.Minute)
			require.NoError(t, err)
			n := 0
			for _, e := range evs {
				if e.Topic == groupbuy.TopicLatePaymentHandled {
					n++
					var p groupbuy.LatePaymentHandledPayload
					require.NoError(t, json.Unmarshal(e.Payload, &p))
					assert.Equal(t, policy, p.Policy)
				}
			}
			assert.Equal(t, 1, n)
		})
	}
}
