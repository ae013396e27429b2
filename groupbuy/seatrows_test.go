package groupbuy_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
)

func TestMaxSeatRows(t *testing.T) {
	for _, tc := range []struct{ capacity, want int }{
		{groupbuy.MinTeamSize, 16},
		{3, 20},
		{10, 48},
		{groupbuy.MaxTeamSize, 408},
	} {
		assert.Equal(t, tc.want, groupbuy.MaxSeatRows(tc.capacity), "capacity %d", tc.capacity)
	}
	for capacity := groupbuy.MinTeamSize; capacity <= groupbuy.MaxTeamSize; capacity++ {
		got := groupbuy.MaxSeatRows(capacity)
		// Linear, as the SQL guards state it.
		assert.Equal(t, groupbuy.SeatRowsPerSeat*capacity+groupbuy.SeatRowsSpare, got, "capacity %d", capacity)
		// Room for every seat and for churn beyond: a team that never
		// lost a join never meets the bound.
		assert.Greater(t, got, 2*capacity, "capacity %d", capacity)
	}
}

// TestJoinChurnedTeam: users who join a team and cancel in a loop use up
// its seat rows; then a join is ErrTeamChurned (and ErrTeamFull) and
// changes nothing, Match and OpenTeams pass the team over, a late payment
// placed under join_other opens a team rather than take it, and the team
// still takes payments and closes: cancelled, its payer refunded.
func TestJoinChurnedTeam(t *testing.T) {
	ctx := context.Background()
	svc, store, now := world(t, 3, groupbuy.LateJoinOther, 0)
	a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
	require.NoError(t, err)
	bound := groupbuy.MaxSeatRows(3)
	for i := 1; i < bound; i++ {
		user := "u" + strconv.Itoa(i%2)
		r, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: a.Team.ID, UserID: user, SKU: "s"})
		require.NoError(t, err, "join %d", i)
		assert.Equal(t, i+1, r.Team.SeatRows)
		_, err = svc.CancelReservation(ctx, r.Seat.ID, user)
		require.NoError(t, err)
	}
	before, err := svc.Team(ctx, a.Team.ID)
	require.NoError(t, err)
	assert.Equal(t, bound, before.Team.SeatRows)
	assert.Equal(t, 1, before.Team.SeatsTaken)
	assert.Len(t, before.Seats, bound)
	pending, err := store.Claim(ctx, 1000, time.Minute)
	require.NoError(t, err)
	require.NoError(t, store.Ack(ctx, eventIDs(pending)))

	_, err = svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: a.Team.ID, UserID: "b", SKU: "s", IdempotencyKey: "k-b"})
	require.ErrorIs(t, err, groupbuy.ErrTeamChurned)
	assert.ErrorIs(t, err, groupbuy.ErrTeamFull)
	after, err := svc.Team(ctx, a.Team.ID)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the refused join changed nothing: team and seats")
	evs, err := store.Claim(ctx, 1000, time.Minute)
	require.NoError(t, err)
	assert.Empty(t, evs, "no event written")
	_, err = store.GetIdempotency(ctx, "groupbuy.join", "k-b")
	assert.ErrorIs(t, err, groupbuy.ErrNotFound, "no record written")

	open, err := svc.OpenTeams(ctx, "c", groupbuy.MaxListLimit)
	require.NoError(t, err)
	assert.Empty(t, open, "OpenTeams leaves the churned team out")
	m, err := svc.Match(ctx, groupbuy.MatchRequest{CampaignID: "c", UserID: "b", SKU: "s", Strategy: groupbuy.MatchOldest})
	require.NoError(t, err)
	assert.True(t, m.Opened, "Match opens rather than take the churned team")

	// d's seat in b's team lapses; d's late payment goes to another team
	// under join_other: not the churned one.
	d, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: m.Team.ID, UserID: "d", SKU: "s"})
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(ctx, payFor(a.Seat, "ref-a"))
	require.NoError(t, err, "the churned team takes payments")
	*now = now.Add(11 * time.Minute)
	late, err := svc.ConfirmPayment(ctx, payFor(d.Seat, "ref-d"))
	require.NoError(t, err)
	require.NotNil(t, late.Late)
	assert.Equal(t, groupbuy.LateActionOpened, late.Late.Action, "no team to join but the churned one: a new team")
	assert.NotEqual(t, a.Team.ID, late.Team.ID)

	closed, err := svc.CancelTeam(ctx, a.Team.ID, "ops")
	require.NoError(t, err)
	assert.Equal(t, groupbuy.TeamCancelled, closed.State)
	leader, err := store.GetSeat(ctx, a.Seat.ID)
	require.NoError(t, err)
	assert.Equal(t, groupbuy.SeatRefundRequested, leader.State)
}
