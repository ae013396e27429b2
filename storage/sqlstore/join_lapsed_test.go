package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/memory"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// TestJoinTakesLapsedPlacesOnEveryStore: a join to a team whose free
// place is held by a reservation that lapsed, before ProcessDue has run,
// releases it and takes the place, on every store; the lapsed user may
// then join the team again, and a join to a team full of live seats is
// still refused.
func TestJoinTakesLapsedPlacesOnEveryStore(t *testing.T) {
	run := func(t *testing.T, store groupbuy.Store) {
		ctx := context.Background()
		svc, clk := nsCampaign(t, store, time.Date(2026, 11, 27, 12, 0, 0, 123456700, time.UTC), 2)
		lead, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "camp", UserID: "alice", SKU: "a"})
		require.NoError(t, err)
		_, err = svc.ConfirmPayment(ctx, payReq(lead.Seat, "p-alice"))
		require.NoError(t, err)
		bob, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "camp", TeamID: lead.Team.ID, UserID: "bob", SKU: "a"})
		require.NoError(t, err)

		clk.Set(bob.Seat.ReservedUntil) // bob's reservation lapses, to the microsecond
		carol, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "camp", TeamID: lead.Team.ID, UserID: "carol", SKU: "a"})
		require.NoError(t, err, "bob's lapsed place")
		require.Equal(t, 2, carol.Team.SeatsTaken)
		view, err := svc.Team(ctx, lead.Team.ID)
		require.NoError(t, err)
		states := map[string]groupbuy.SeatState{}
		for _, st := range view.Seats {
			states[st.UserID] = st.State
		}
		require.Equal(t, map[string]groupbuy.SeatState{"alice": groupbuy.SeatPaid, "bob": groupbuy.SeatReleased, "carol": groupbuy.SeatReserved}, states)

		_, err = svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "camp", TeamID: lead.Team.ID, UserID: "bob", SKU: "a"})
		require.ErrorIs(t, err, groupbuy.ErrTeamFull, "carol's reservation holds")

		clk.Set(carol.Seat.ReservedUntil.Add(time.Microsecond))
		again, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "camp", TeamID: lead.Team.ID, UserID: "bob", SKU: "a"})
		require.NoError(t, err, "carol's lapsed place, to bob again")
		paid, err := svc.ConfirmPayment(ctx, payReq(again.Seat, "p-bob"))
		require.NoError(t, err)
		require.Nil(t, paid.Late)
		require.Equal(t, groupbuy.TeamSucceeded, paid.Team.State)

		rep, err := svc.ProcessDue(ctx)
		require.NoError(t, err)
		require.Equal(t, 0, rep.Released, "the joins released what ProcessDue would have")
	}
	t.Run("memory", func(t *testing.T) { run(t, memory.New()) })
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		run(t, newStore(t, db, d))
	})
}
