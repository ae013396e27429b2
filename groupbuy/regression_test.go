package groupbuy_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/memory"
)

// fillWorld is world with a virtual fill policy: teams of three that a
// single paid seat completes at their deadline.
func fillWorld(t *testing.T) (*groupbuy.Service, *memory.Store, *time.Time) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	store := memory.New(memory.WithClock(func() time.Time { return now }))
	svc, err := groupbuy.New(store, groupbuy.Config{Now: func() time.Time { return now }})
	require.NoError(t, err)
	_, err = svc.CreateCampaign(context.Background(), groupbuy.Campaign{
		ID: "c", ProductRef: "p", Currency: "CNY", Prices: []groupbuy.SKUPrice{{SKU: "s", Price: decimal.NewFromInt(10)}},
		TeamSize: 3, TeamLifetime: time.Hour, ReservationTTL: 10 * time.Minute, StartsAt: now, EndsAt: now.Add(24 * time.Hour),
		Status: groupbuy.CampaignActive, VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillMinPaid, MinPaidSeats: 1},
		RecordVirtualSeats: true, LatePayment: groupbuy.LateRefund,
	})
	require.NoError(t, err)
	return svc, store, &now
}

// TestCancelAfterDeadlineIgnoresTheTicker: a team whose deadline passed
// was decided at that instant, by its campaign's rules; an operator's
// cancel that reaches it before ProcessDue does must not turn a team that
// virtual fill completed into a cancelled one whose payers are refunded,
// nor one that failed into a cancelled one. The outcome is the one
// ProcessDue gives, whichever runs first.
func TestCancelAfterDeadlineIgnoresTheTicker(t *testing.T) {
	ctx := context.Background()
	for _, tickerFirst := range []bool{true, false} {
		for _, paid := range []bool{true, false} {
			svc, _, now := fillWorld(t)
			a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
			require.NoError(t, err)
			if paid {
				_, err = svc.ConfirmPayment(ctx, payFor(a.Seat, "ref-1"))
				require.NoError(t, err)
			}
			*now = a.Team.ExpiresAt // the deadline, to the instant
			if tickerFirst {
				_, err = svc.ProcessDue(ctx)
				require.NoError(t, err)
			}
			team, err := svc.CancelTeam(ctx, a.Team.ID, "operator")
			want := groupbuy.TeamFailed
			if paid {
				want = groupbuy.TeamSucceeded
			}
			assert.ErrorIs(t, err, groupbuy.ErrIllegalTransition, "ticker first %v, paid %v", tickerFirst, paid)
			assert.Equal(t, want, team.State, "ticker first %v, paid %v", tickerFirst, paid)
			ship, err := svc.MayShip(ctx, a.Seat.ID)
			require.NoError(t, err)
			assert.Equal(t, paid, ship, "ticker first %v, paid %v", tickerFirst, paid)
		}
	}
}

// TestCancelTeamRefusesAReasonJSONWouldAlter: CancelTeam's reason reaches
// the host in the team_failed event, as JSON, which would replace invalid
// UTF-8; like MarkRefundFailed's reason it is bad input, refused with a
// *ValidationError before anything changes.
func TestCancelTeamRefusesAReasonJSONWouldAlter(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := twoSeatWorld(t, groupbuy.LateRefund)
	a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(ctx, payFor(a.Seat, "ref-1"))
	require.NoError(t, err)
	before := snapshot(t, store, a.Team.ID)
	_, err = svc.CancelTeam(ctx, a.Team.ID, "out of stock \xff")
	var ve *groupbuy.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "reason", ve.Field)
	assert.Equal(t, before, snapshot(t, store, a.Team.ID), "nothing changed")
}

// TestSecondLatePaymentForOneSeatIsRefunded: a payment for a seat that
// another payment already paid is refunded whatever the policy, so a
// buyer charged twice for one order gets one seat. When the first payment
// came late and was placed in another team, a second payment for the
// same lapsed seat must be refunded too, not placed as a second paid seat
// (which it would not be had the first payment been on time).
func TestSecondLatePaymentForOneSeatIsRefunded(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []groupbuy.LatePaymentPolicy{groupbuy.LateJoinOther, groupbuy.LateOpenNew} {
		t.Run(string(policy), func(t *testing.T) {
			svc, store, now := world(t, 3, policy, 0)
			a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
			require.NoError(t, err)
			*now = now.Add(11 * time.Minute) // the reservation lapses
			first, err := svc.ConfirmPayment(ctx, payFor(a.Seat, "late-1"))
			require.NoError(t, err)
			require.NotNil(t, first.Late)
			require.NotEqual(t, groupbuy.LateActionRefund, first.Late.Action, "the first late payment is placed")
			second, err := svc.ConfirmPayment(ctx, payFor(a.Seat, "late-2"))
			require.NoError(t, err)
			require.NotNil(t, second.Late)
			assert.Equal(t, groupbuy.LateActionRefund, second.Late.Action, "one order, one seat: the second payment is refunded")
			seats, err := store.UserSeats(ctx, "a", groupbuy.SeatPosition{}, 10)
			require.NoError(t, err)
			paid := 0
			for _, st := range seats {
				if st.State == groupbuy.SeatPaid {
					paid++
				}
			}
			assert.Equal(t, 1, paid, "the buyer holds one paid seat")
		})
	}
}
