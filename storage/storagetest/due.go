package storagetest

import (
	"slices"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

func testDueReservations(e *env) {
	c := e.campaign()
	r := e.open(c, "alice")
	e.pay(r.Seat)
	e.clock.Advance(time.Minute)
	bob := e.join(c, r.Team.ID, "bob").Seat
	e.clock.Advance(time.Minute)
	carol := e.join(c, r.Team.ID, "carol").Seat
	e.drain()

	e.clock.Set(bob.ReservedUntil.Add(-time.Microsecond))
	assert.Equal(e.t, groupbuy.DueReport{}, e.processDue(), "nothing lapsed yet")
	e.clock.Set(bob.ReservedUntil)
	assert.Equal(e.t, groupbuy.DueReport{Released: 1}, e.processDue(), "bob's reservation lapses at ReservedUntil")
	got := e.seat(bob.ID)
	assert.Equal(e.t, groupbuy.SeatReleased, got.State)
	assert.Equal(e.t, bob.Version+1, got.Version)
	assert.Equal(e.t, groupbuy.SeatReserved, e.seat(carol.ID).State)
	team := e.team(r.Team.ID)
	assert.Equal(e.t, 2, team.SeatsTaken, "SeatsTaken drops")
	assert.Equal(e.t, 1, team.SeatsPaid)
	assert.Equal(e.t, int64(5), team.Version)
	assert.Equal(e.t, groupbuy.TeamForming, team.State)
	evs := e.drain()
	assert.Equal(e.t, []string{groupbuy.TopicSeatReleased}, topics(evs))
	if len(evs) == 1 {
		assert.Equal(e.t, seatKey(bob, "released"), evs[0].Key)
		p := payload[groupbuy.SeatPayload](e, evs[0])
		assert.Equal(e.t, bob.ID, p.SeatID)
		assert.Equal(e.t, "bob", p.UserID)
	}

	e.clock.Set(carol.ReservedUntil)
	assert.Equal(e.t, groupbuy.DueReport{Released: 1}, e.processDue())
	assert.Equal(e.t, 1, e.team(r.Team.ID).SeatsTaken)
	assert.Len(e.t, withKey(e.drain(), seatKey(carol, "released")), 1)
	assert.Equal(e.t, groupbuy.DueReport{}, e.processDue(), "a second run finds nothing")
	e.expectNoEvents("second run")
}

func testDueQueries(e *env) {
	c := e.campaign(teamSize(4))
	t0 := e.clock.Now()
	m, h := time.Minute, time.Hour
	// Leader reservations lapse 15 minutes after opening.
	e.storeOpen(c, "tm-a", "s-a", "u-a", t0.Add(2*m), t0.Add(3*h))
	e.storeOpen(c, "tm-b", "s-b", "u-b", t0.Add(1*m), t0.Add(2*h))
	e.storeOpen(c, "tm-c", "s-c", "u-c", t0, t0.Add(1*h))
	e.storeOpen(c, "tm-d", "s-d", "u-d", t0, t0.Add(4*h))
	_, err := e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{TeamID: "tm-d", SeatID: "s-d", PaymentRef: "ref-d", Amount: priceA, Currency: "CNY", Now: t0})
	require.NoError(e.t, err)
	e.storeOpen(c, "tm-e", "s-e", "u-e", t0, t0.Add(30*m))
	require.NoError(e.t, e.gb.CloseTeam(e.ctx, &groupbuy.CloseTeamWrite{
		TeamID: "tm-e", Version: 1, State: groupbuy.TeamCancelled, Now: t0, Release: []string{"s-e"},
	}))

	seats := func(now time.Time, limit int) []string {
		e.t.Helper()
		got, err := e.gb.DueReservations(e.ctx, now, limit)
		require.NoError(e.t, err)
		for _, s := range got {
			assert.Equal(e.t, sv(e.seat(s.ID)), sv(s), "DueReservations returns seats as stored")
		}
		return ids(got)
	}
	assert.Empty(e.t, seats(t0.Add(15*m-time.Microsecond), 10))
	assert.Equal(e.t, []string{"s-c", "s-b", "s-a"}, seats(t0.Add(17*m), 10), "oldest deadline first; ReservedUntil == now is due; paid and released seats are not")
	assert.Equal(e.t, []string{"s-c", "s-b"}, seats(t0.Add(17*m), 2), "limit")

	teams := func(now time.Time, limit int) []string {
		e.t.Helper()
		got, err := e.gb.DueTeams(e.ctx, now, limit)
		require.NoError(e.t, err)
		for _, t := range got {
			assert.Equal(e.t, tv(e.team(t.ID)), tv(t), "DueTeams returns teams as stored")
		}
		return teamIDs(got)
	}
	assert.Empty(e.t, teams(t0.Add(h-time.Microsecond), 10), "a closed team is never due")
	assert.Equal(e.t, []string{"tm-c", "tm-b"}, teams(t0.Add(2*h), 10), "oldest deadline first; ExpiresAt == now is due")
	assert.Equal(e.t, []string{"tm-c"}, teams(t0.Add(2*h), 1), "limit")
	assert.Equal(e.t, []string{"tm-c", "tm-b", "tm-a", "tm-d"}, teams(t0.Add(5*h), 10))
}

func testDueTeamFails(e *env) {
	c := e.campaign()
	r := e.open(c, "alice")
	alice := e.pay(r.Seat).Seat
	bob := e.pay(e.join(c, r.Team.ID, "bob").Seat).Seat
	carol := e.join(c, r.Team.ID, "carol").Seat
	e.drain()

	e.clock.Set(r.Team.ExpiresAt.Add(-time.Microsecond))
	rep := e.processDue()
	assert.Equal(e.t, groupbuy.DueReport{Released: 1}, rep, "carol's reservation lapsed; the team is not due yet")
	assert.Equal(e.t, groupbuy.TeamForming, e.team(r.Team.ID).State)
	assert.Equal(e.t, []string{seatKey(carol, "released")}, keys(e.drain()))

	e.clock.Set(r.Team.ExpiresAt)
	rep = e.processDue()
	assert.Equal(e.t, 1, rep.Failed, "the team fails at its deadline")
	team := e.team(r.Team.ID)
	assert.Equal(e.t, groupbuy.TeamFailed, team.State)
	assert.Equal(e.t, ts(r.Team.ExpiresAt), ts(team.ClosedAt))
	assert.Zero(e.t, team.SeatsTaken)
	assert.Zero(e.t, team.SeatsPaid)
	assert.Equal(e.t, groupbuy.SeatRefundRequested, e.seat(alice.ID).State)
	assert.Equal(e.t, groupbuy.SeatRefundRequested, e.seat(bob.ID).State)
	assert.Equal(e.t, groupbuy.SeatReleased, e.seat(carol.ID).State)
	evs := e.drain()
	refunds := withTopic(evs, groupbuy.TopicRefundRequested)
	assert.Len(e.t, refunds, 2, "one refund request per paid seat")
	for _, s := range []groupbuy.Seat{alice, bob} {
		key := "gb:" + r.Team.ID + ":" + s.ID + ":refund"
		got := withKey(refunds, key)
		if assert.Len(e.t, got, 1, "refund of %s under %s", s.UserID, key) {
			p := payload[groupbuy.RefundRequestedPayload](e, got[0])
			assert.Equal(e.t, key, p.Key)
			assert.Equal(e.t, s.ID, p.SeatID)
			assert.Equal(e.t, s.UserID, p.UserID)
			assert.Equal(e.t, "19.9", dec(p.Amount))
			assert.Equal(e.t, "CNY", p.Currency)
			assert.Equal(e.t, s.PaymentRef, p.PaymentRef)
		}
	}
	if f := withTopic(evs, groupbuy.TopicTeamFailed); assert.Len(e.t, f, 1) {
		p := payload[groupbuy.TeamClosedPayload](e, f[0])
		assert.Equal(e.t, groupbuy.TeamFailed, p.State)
	}
	ok, err := e.svc.MayShip(e.ctx, alice.ID)
	require.NoError(e.t, err)
	assert.False(e.t, ok)

	assert.Equal(e.t, groupbuy.DueReport{}, e.processDue(), "a closed team is not closed again")
	e.expectNoEvents("second ProcessDue")
}

func testVirtualMinPaid(e *env) {
	c := e.campaign(teamSize(4), func(c *groupbuy.Campaign) {
		c.VirtualFill = groupbuy.VirtualFill{Mode: groupbuy.VirtualFillMinPaid, MinPaidSeats: 2}
		c.RecordVirtualSeats = true
	})
	a := e.open(c, "alice")
	alice := e.pay(a.Seat).Seat
	e.clock.Advance(time.Second)
	bob := e.pay(e.join(c, a.Team.ID, "bob").Seat).Seat
	e.clock.Advance(time.Second)
	carol := e.join(c, a.Team.ID, "carol").Seat
	b := e.open(c, "dave")
	dave := e.pay(b.Seat).Seat
	e.drain()

	e.clock.Set(b.Team.ExpiresAt)
	rep := e.processDue()
	assert.Equal(e.t, 1, rep.Succeeded)
	assert.Equal(e.t, 1, rep.Virtual)
	assert.Equal(e.t, 1, rep.Failed, "one paid seat is below the threshold")
	now := e.clock.Now()

	team := e.team(a.Team.ID)
	assert.Equal(e.t, groupbuy.TeamSucceeded, team.State)
	assert.Equal(e.t, 2, team.VirtualSeats, "capacity − paid")
	assert.Equal(e.t, 2, team.SeatsPaid)
	assert.Equal(e.t, 2, team.SeatsTaken)
	seats := e.seats(a.Team.ID)
	require.Len(e.t, seats, 5)
	assert.Equal(e.t, []string{alice.ID, bob.ID, carol.ID}, ids(seats[:3]))
	assert.Equal(e.t, []groupbuy.SeatState{groupbuy.SeatConfirmed, groupbuy.SeatConfirmed, groupbuy.SeatReleased}, states(seats[:3]))
	var bots []string
	for _, s := range seats[3:] {
		bots = append(bots, s.ID)
		assert.True(e.t, s.Virtual, "bot seat %s is virtual", s.ID)
		assert.Equal(e.t, groupbuy.SeatConfirmed, s.State)
		assert.Equal(e.t, a.Team.ID, s.TeamID)
		assert.Equal(e.t, c.ID, s.CampaignID)
		assert.Empty(e.t, s.UserID)
		assert.Equal(e.t, ts(now), ts(s.PaidAt))
		ok, err := e.svc.MayShip(e.ctx, s.ID)
		require.NoError(e.t, err)
		assert.False(e.t, ok, "a virtual seat never ships")
		ok, err = e.svc.MayOpenAfterSale(e.ctx, s.ID)
		require.NoError(e.t, err)
		assert.False(e.t, ok)
	}
	ok, err := e.svc.MayShip(e.ctx, alice.ID)
	require.NoError(e.t, err)
	assert.True(e.t, ok, "a real confirmed seat ships")
	for _, u := range []string{"alice", "bob", "carol"} {
		for _, s := range e.userSeats(u) {
			assert.False(e.t, s.Virtual, "bot seats are nobody's")
		}
	}

	evs := e.drain()
	if v := withTopic(evs, groupbuy.TopicVirtualSeatsAdded); assert.Len(e.t, v, 1) {
		p := payload[groupbuy.VirtualSeatsAddedPayload](e, v[0])
		assert.Equal(e.t, a.Team.ID, p.TeamID)
		assert.Equal(e.t, 2, p.Count)
		assert.ElementsMatch(e.t, bots, p.SeatIDs)
		assert.Equal(e.t, 2, p.PaidReal)
	}
	if s := withKey(evs, "gb:"+a.Team.ID+":succeeded"); assert.Len(e.t, s, 1) {
		p := payload[groupbuy.TeamClosedPayload](e, s[0])
		assert.Equal(e.t, 2, p.VirtualSeats)
		var listed []string
		for _, x := range p.Seats {
			listed = append(listed, x.SeatID)
		}
		for _, id := range append([]string{alice.ID, bob.ID}, bots...) {
			assert.Contains(e.t, listed, id)
		}
	}
	assert.Len(e.t, withKey(evs, groupbuy.RefundKey(b.Team.ID, dave.ID)), 1, "the failed team's paid seat is refunded")
	assert.Equal(e.t, groupbuy.TeamFailed, e.team(b.Team.ID).State)
	assert.Empty(e.t, withKey(evs, groupbuy.RefundKey(a.Team.ID, alice.ID)))
}

func testVirtualMinPercent(e *env) {
	c := e.campaign(teamSize(5), func(c *groupbuy.Campaign) {
		c.VirtualFill = groupbuy.VirtualFill{Mode: groupbuy.VirtualFillMinPercent, MinPercent: 50}
	})
	fill := func(leader string, paid int) groupbuy.Team {
		r := e.open(c, leader)
		e.pay(r.Seat)
		for i := 1; i < paid; i++ {
			e.pay(e.join(c, r.Team.ID, leader+"-"+string(rune('a'+i))).Seat)
		}
		return r.Team
	}
	three := fill("u3", 3)
	two := fill("u2", 2)
	e.drain()
	e.clock.Set(two.ExpiresAt)
	rep := e.processDue()
	assert.Equal(e.t, groupbuy.DueReport{Succeeded: 1, Virtual: 1, Failed: 1}, rep, "ceil(5 × 50%) = 3 paid seats needed")

	got := e.team(three.ID)
	assert.Equal(e.t, groupbuy.TeamSucceeded, got.State, "3 of 5 paid at 50%")
	assert.Equal(e.t, 2, got.VirtualSeats)
	assert.Equal(e.t, 3, got.SeatsPaid)
	seats := e.seats(three.ID)
	assert.Len(e.t, seats, 3, "without RecordVirtualSeats no bot rows")
	assert.True(e.t, !slices.ContainsFunc(seats, func(s groupbuy.Seat) bool { return s.State != groupbuy.SeatConfirmed }), "all real seats confirmed")

	failed := e.team(two.ID)
	assert.Equal(e.t, groupbuy.TeamFailed, failed.State, "2 of 5 paid at 50% is not enough")
	assert.Zero(e.t, failed.VirtualSeats)
	evs := e.drain()
	for _, s := range e.seats(two.ID) {
		assert.Equal(e.t, groupbuy.SeatRefundRequested, s.State)
		assert.Len(e.t, withKey(evs, groupbuy.RefundKey(two.ID, s.ID)), 1)
	}
	if v := withTopic(evs, groupbuy.TopicVirtualSeatsAdded); assert.Len(e.t, v, 1) {
		p := payload[groupbuy.VirtualSeatsAddedPayload](e, v[0])
		assert.Equal(e.t, 2, p.Count)
		assert.Empty(e.t, p.SeatIDs)
	}
}
