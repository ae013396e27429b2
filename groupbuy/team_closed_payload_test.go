package groupbuy_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
)

// TestTeamFailedListsSeatsThatCounted: a team whose seats were reserved and
// released many times, then cancelled, closes with a team_failed event that lists the seats
// live at the close (the leader's paid seat, now refund_requested, and the
// reservation the close released) and counts the earlier releases, rather
// than listing every seat the team ever had: the payload stays within the
// team's capacity.
func TestTeamFailedListsSeatsThatCounted(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := world(t, 3, groupbuy.LateRefund, 0)
	a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(ctx, payFor(a.Seat, "ref-a"))
	require.NoError(t, err)
	// As many as the team's seat rows allow, with the leader's and the
	// held one (groupbuy.MaxSeatRows).
	churn := groupbuy.MaxSeatRows(3) - 2
	for i := range churn {
		user := "u" + strconv.Itoa(i%3)
		r, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: a.Team.ID, UserID: user, SKU: "s"})
		require.NoError(t, err)
		_, err = svc.CancelReservation(ctx, r.Seat.ID, user)
		require.NoError(t, err)
	}
	held, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: a.Team.ID, UserID: "b", SKU: "s"})
	require.NoError(t, err)
	_, err = svc.CancelTeam(ctx, a.Team.ID, "ops")
	require.NoError(t, err)

	evs, err := store.Claim(ctx, 1000, time.Minute)
	require.NoError(t, err)
	var failed []groupbuy.TeamClosedPayload
	for _, e := range evs {
		if e.Topic == groupbuy.TopicTeamFailed {
			var p groupbuy.TeamClosedPayload
			require.NoError(t, json.Unmarshal(e.Payload, &p))
			failed = append(failed, p)
		}
	}
	require.Len(t, failed, 1)
	got := map[string]groupbuy.SeatState{}
	for _, s := range failed[0].Seats {
		got[s.SeatID] = s.State
	}
	assert.Equal(t, map[string]groupbuy.SeatState{a.Seat.ID: groupbuy.SeatRefundRequested, held.Seat.ID: groupbuy.SeatReleased}, got)
	assert.Equal(t, churn, failed[0].ReleasedEarlier)
}
