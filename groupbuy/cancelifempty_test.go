package groupbuy_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
)

// joinBeforeClose runs hook once, before the first CloseTeam reaches the
// store: another instance's command between the Service's read of a team
// and its close.
type joinBeforeClose struct {
	groupbuy.Store
	hook func(teamID string)
}

func (j *joinBeforeClose) CloseTeam(ctx context.Context, w *groupbuy.CloseTeamWrite) error {
	if hook := j.hook; hook != nil {
		j.hook = nil
		hook(w.TeamID)
	}
	return j.Store.CloseTeam(ctx, w)
}

// TestLateRefundKeepsTeamJoinedMeanwhile: a late payment under LateOpenNew
// whose placed seat's payment failed transiently, retried after that seat
// lapsed, is refunded, and the team opened for it, left empty, is
// cancelled (TestLateRetryAfterPlacedSeatLapsed); but when someone joins
// that team between the Service's read of it and its cancel, the cancel
// loses (the team's version changed) and must neither cancel the team
// under its new member nor fail the payment: the refund is returned and
// the team stays forming with the new member's seat.
func TestLateRefundKeepsTeamJoinedMeanwhile(t *testing.T) {
	ctx := context.Background()
	var joined groupbuy.SeatResult
	var other *groupbuy.Service
	wrap := func(s groupbuy.Store) groupbuy.Store {
		racing := &joinBeforeClose{Store: s, hook: func(teamID string) {
			var err error
			joined, err = other.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: teamID, UserID: "b", SKU: "s"})
			require.NoError(t, err)
		}}
		return &failingStore{Store: racing, method: "PaySeat", failAt: 2, err: storage.MarkRetryable(storage.ErrRetryable)}
	}
	svc, store, now := worldOf(t, 0, wrap, func(c *groupbuy.Campaign) { c.LatePayment = groupbuy.LateOpenNew })
	var err error
	other, err = groupbuy.New(store, groupbuy.Config{Now: func() time.Time { return *now }})
	require.NoError(t, err)

	a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
	require.NoError(t, err)
	*now = now.Add(11 * time.Minute) // a's reservation lapses
	pay := payFor(a.Seat, "late-1")
	_, err = svc.ConfirmPayment(ctx, pay)
	require.True(t, storage.IsRetryable(err), "the transient failure is returned: %v", err)
	*now = now.Add(11 * time.Minute) // the host retries after the placed seat lapsed too
	r, err := svc.ConfirmPayment(ctx, pay)
	require.NoError(t, err, "a lost cancel of the empty team is no error")
	require.NotNil(t, r.Late)
	assert.Equal(t, groupbuy.LateActionRefund, r.Late.Action)
	require.NotEmpty(t, joined.Team.ID, "b joined the team opened for the payment")
	assert.NotEqual(t, a.Team.ID, joined.Team.ID)

	tm, err := store.GetTeam(ctx, joined.Team.ID)
	require.NoError(t, err)
	assert.Equal(t, groupbuy.TeamForming, tm.State, "the team b joined is not cancelled")
	assert.Equal(t, 1, tm.SeatsTaken)
	st, err := store.GetSeat(ctx, joined.Seat.ID)
	require.NoError(t, err)
	assert.Equal(t, groupbuy.SeatReserved, st.State, "b's seat holds")
}
