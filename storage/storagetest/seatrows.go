package storagetest

import (
	"fmt"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// testSeatRowsBound: joins cancelled in a loop leave released seat rows,
// which every close reads; a team takes at most groupbuy.MaxSeatRows of
// them. The join past the bound is ErrTeamChurned (also ErrTeamFull) and
// changes nothing, through the Service and the store alike; Match passes
// the team over and OpenTeams leaves it out; the team still takes
// payments and closes at its deadline, its virtual fill's bot rows
// included.
func testSeatRowsBound(e *env) {
	c := e.campaign(teamSize(3), func(c *groupbuy.Campaign) {
		c.VirtualFill = groupbuy.VirtualFill{Mode: groupbuy.VirtualFillMinPaid, MinPaidSeats: 2}
		c.RecordVirtualSeats = true
	})
	bound := groupbuy.MaxSeatRows(c.TeamSize)
	a := e.open(c, "alice")
	team := a.Team
	assert.Equal(e.t, 1, team.SeatRows, "the leader's row")
	e.pay(a.Seat)
	// A few accounts join and cancel until one row is left.
	for i := 2; i < bound; i++ {
		user := fmt.Sprintf("churn-%d", i%3)
		r := e.join(c, team.ID, user)
		require.Equal(e.t, i, r.Team.SeatRows, "join %d", i)
		_, err := e.svc.CancelReservation(e.ctx, r.Seat.ID, user)
		require.NoError(e.t, err, "cancel %d", i)
	}
	require.Equal(e.t, bound-1, e.team(team.ID).SeatRows)
	gina := e.join(c, team.ID, "gina")
	assert.Equal(e.t, bound, gina.Team.SeatRows, "the last row")
	assert.Equal(e.t, 2, gina.Team.SeatsTaken, "a seat is free")
	require.Len(e.t, e.seats(team.ID), bound)

	e.unchanged([]string{team.ID}, []string{"dave"}, "join a team at its seat-row bound", func() {
		_, err := e.svc.Join(e.ctx, e.joinReq(c, team.ID, "dave"))
		assert.ErrorIs(e.t, err, groupbuy.ErrTeamChurned)
		assert.ErrorIs(e.t, err, groupbuy.ErrTeamFull, "a churned team is full to callers that ask")
	})
	e.unchanged([]string{team.ID}, []string{"dave"}, "store join at the seat-row bound", func() {
		_, _, err := e.gb.JoinTeam(e.ctx, &groupbuy.JoinTeamWrite{
			Seat: craftSeat(c, team.ID, e.id("st"), "dave", e.clock.Now(), e.clock.Now().Add(ttl)), Now: e.clock.Now(), Events: e.oneEvent()})
		assert.ErrorIs(e.t, err, groupbuy.ErrTeamChurned)
	})

	// Another team, younger, with the same seats taken: Match and
	// OpenTeams must pass the churned one over for it.
	other := e.open(c, "erin").Team
	e.join(c, other.ID, "ivan")
	for _, order := range []groupbuy.MatchStrategy{groupbuy.MatchOldest, groupbuy.MatchFullest, groupbuy.MatchRandom} {
		open, err := e.gb.OpenTeams(e.ctx, c.ID, e.clock.Now(), order, groupbuy.MaxListLimit)
		require.NoError(e.t, err)
		assert.Equal(e.t, []string{other.ID}, teamIDs(open), "OpenTeams %s leaves the churned team out", order)
	}
	svcOpen, err := e.svc.OpenTeams(e.ctx, c.ID, groupbuy.MaxListLimit)
	require.NoError(e.t, err)
	assert.Equal(e.t, []string{other.ID}, teamIDs(svcOpen), "the Service's open teams")
	before := tv(e.team(team.ID))
	m, err := e.svc.Match(e.ctx, groupbuy.MatchRequest{CampaignID: c.ID, UserID: "dave", SKU: skuA, Strategy: groupbuy.MatchOldest})
	require.NoError(e.t, err)
	assert.Equal(e.t, other.ID, m.Team.ID, "the oldest team with room and rows left")
	m, err = e.svc.Match(e.ctx, groupbuy.MatchRequest{CampaignID: c.ID, UserID: "frank", SKU: skuA, Strategy: groupbuy.MatchFullest})
	require.NoError(e.t, err)
	assert.True(e.t, m.Opened, "no team left to take: a new one")
	assert.NotEqual(e.t, team.ID, m.Team.ID)
	assert.Equal(e.t, before, tv(e.team(team.ID)), "the matches left the churned team alone")

	// Payments and the close go on: two paid of three, filled virtually at
	// the deadline with a bot row past the bound.
	e.pay(gina.Seat)
	e.drain()
	e.clock.Set(team.ExpiresAt)
	e.processDue()
	closed := e.team(team.ID)
	assert.Equal(e.t, groupbuy.TeamSucceeded, closed.State)
	assert.Equal(e.t, 1, closed.VirtualSeats)
	assert.Equal(e.t, bound, closed.SeatRows, "bot rows do not count")
	seats := e.seats(team.ID)
	require.Len(e.t, seats, bound+1)
	assert.True(e.t, seats[bound].Virtual)
	succeeded := withKey(e.drain(), "gb:"+team.ID+":succeeded")
	require.Len(e.t, succeeded, 1)
	assert.Equal(e.t, groupbuy.TopicTeamSucceeded, succeeded[0].Topic)
}
