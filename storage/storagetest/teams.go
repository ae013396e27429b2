package storagetest

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// craftSeat is a reserved seat of one unit of sku-a, built by hand for
// direct store writes.
func craftSeat(c groupbuy.Campaign, teamID, seatID, user string, at, expires time.Time) groupbuy.Seat {
	until := at.Add(c.ReservationTTL)
	if until.After(expires) {
		until = expires
	}
	return groupbuy.Seat{
		ID: seatID, TeamID: teamID, CampaignID: c.ID, UserID: user, SKU: skuA, Quantity: 1,
		UnitPrice: priceA, Amount: priceA, Currency: c.Currency, State: groupbuy.SeatReserved,
		ReservedAt: at, ReservedUntil: until, Version: 1,
	}
}

// storeOpen opens a team directly in the store, with chosen IDs and times.
func (e *env) storeOpen(c groupbuy.Campaign, teamID, seatID, user string, at, expires time.Time) (groupbuy.Team, groupbuy.Seat) {
	e.t.Helper()
	team := groupbuy.Team{
		ID: teamID, CampaignID: c.ID, LeaderID: user, Capacity: c.TeamSize, SeatsTaken: 1,
		State: groupbuy.TeamForming, OpenedAt: at, ExpiresAt: expires, Version: 1,
	}
	seat := craftSeat(c, teamID, seatID, user, at, expires)
	seat.Leader = true
	err := e.gb.OpenTeam(e.ctx, &groupbuy.OpenTeamWrite{
		Team: team, Leader: seat, Now: at, MaxOpened: c.Limits.MaxTeamsOpenedPerUser,
		Events: []storage.Event{event(e.id("ev"), "storagetest.opened", "st:"+teamID, at)},
	})
	require.NoError(e.t, err, "store OpenTeam %s", teamID)
	return team, seat
}

// storeJoin joins a team directly in the store; the reservation asked for
// runs a TTL from at (the store clamps it to the team's deadline).
func (e *env) storeJoin(c groupbuy.Campaign, teamID, seatID, user string, at time.Time) (groupbuy.Team, groupbuy.Seat) {
	e.t.Helper()
	seat := craftSeat(c, teamID, seatID, user, at, at.Add(c.ReservationTTL))
	t, s, err := e.gb.JoinTeam(e.ctx, &groupbuy.JoinTeamWrite{
		Seat: seat, Now: at, MaxJoined: c.Limits.MaxTeamsJoinedPerUser,
		Events: []storage.Event{event(e.id("ev"), "storagetest.joined", "st:"+seatID, at)},
	})
	require.NoError(e.t, err, "store JoinTeam %s into %s", seatID, teamID)
	return t, s
}

func testHappyPath(e *env) {
	c := e.campaign()
	t0 := e.clock.Now()

	// Open with two units: the amount is price × quantity, exact.
	opened, err := e.svc.Open(e.ctx, groupbuy.OpenRequest{CampaignID: c.ID, UserID: "alice", SKU: skuA, Quantity: 2})
	require.NoError(e.t, err)
	assert.True(e.t, opened.Opened)
	team := opened.Team
	assert.Equal(e.t, teamV{
		ID: team.ID, CampaignID: c.ID, LeaderID: "alice", Capacity: 3, SeatsTaken: 1, SeatRows: 1,
		State: groupbuy.TeamForming, OpenedAt: ts(t0), ExpiresAt: ts(t0.Add(lifetime)), Version: 1,
	}, tv(team))
	assert.Equal(e.t, tv(team), tv(e.team(team.ID)), "GetTeam after open")
	leader := opened.Seat
	assert.Equal(e.t, seatV{
		ID: leader.ID, TeamID: team.ID, CampaignID: c.ID, UserID: "alice", SKU: skuA, Quantity: 2,
		UnitPrice: "19.9", Amount: "39.8", Currency: "CNY", State: groupbuy.SeatReserved, Leader: true,
		ReservedAt: ts(t0), ReservedUntil: ts(t0.Add(ttl)), Version: 1,
	}, sv(leader))
	assert.Equal(e.t, sv(leader), sv(e.seat(leader.ID)), "GetSeat after open")

	e.clock.Advance(time.Second)
	t1 := e.clock.Now()
	bob, err := e.svc.Join(e.ctx, groupbuy.JoinRequest{CampaignID: c.ID, TeamID: team.ID, UserID: "bob", SKU: skuB, Quantity: 3})
	require.NoError(e.t, err)
	assert.False(e.t, bob.Opened)
	assert.Equal(e.t, 2, bob.Team.SeatsTaken)
	assert.Equal(e.t, int64(2), bob.Team.Version)
	assert.Equal(e.t, tv(bob.Team), tv(e.team(team.ID)), "JoinTeam returns the team as the join left it")
	assert.Equal(e.t, seatV{
		ID: bob.Seat.ID, TeamID: team.ID, CampaignID: c.ID, UserID: "bob", SKU: skuB, Quantity: 3,
		UnitPrice: "5.05", Amount: "15.15", Currency: "CNY", State: groupbuy.SeatReserved,
		ReservedAt: ts(t1), ReservedUntil: ts(t1.Add(ttl)), Version: 1,
	}, sv(bob.Seat))
	assert.Equal(e.t, sv(bob.Seat), sv(e.seat(bob.Seat.ID)), "JoinTeam returns the seat as stored")

	e.clock.Advance(time.Second)
	carol := e.join(c, team.ID, "carol")
	assert.Equal(e.t, 3, carol.Team.SeatsTaken)
	assert.Equal(e.t, int64(3), carol.Team.Version)

	seats := []groupbuy.Seat{leader, bob.Seat, carol.Seat}
	for i, s := range seats {
		e.clock.Advance(time.Second)
		now := e.clock.Now()
		r := e.pay(s)
		last := i == len(seats)-1
		assert.Equal(e.t, last, r.Filled, "payment %d fills the team", i)
		assert.Equal(e.t, i+1, r.Team.SeatsPaid)
		assert.Equal(e.t, int64(4+i), r.Team.Version)
		assert.Equal(e.t, tv(r.Team), tv(e.team(team.ID)), "PaySeat returns the team as stored")
		wantSeat := sv(s)
		wantSeat.State, wantSeat.PaidAt, wantSeat.PaymentRef, wantSeat.Version = groupbuy.SeatPaid, ts(now), "pay-"+s.ID, 2
		if last {
			wantSeat.State, wantSeat.Version = groupbuy.SeatConfirmed, 3
		}
		assert.Equal(e.t, wantSeat, sv(r.Seat), "PaySeat returns the seat as stored")
		assert.Equal(e.t, sv(r.Seat), sv(e.seat(s.ID)))
	}
	done := e.clock.Now()
	final := e.team(team.ID)
	assert.Equal(e.t, teamV{
		ID: team.ID, CampaignID: c.ID, LeaderID: "alice", Capacity: 3, SeatsTaken: 3, SeatsPaid: 3, SeatRows: 3,
		State: groupbuy.TeamSucceeded, OpenedAt: ts(t0), ExpiresAt: ts(t0.Add(lifetime)), ClosedAt: ts(done), Version: 6,
	}, tv(final))
	got := e.seats(team.ID)
	assert.Equal(e.t, ids(seats), ids(got), "TeamSeats in ReservedAt order")
	for _, s := range got {
		assert.Equal(e.t, groupbuy.SeatConfirmed, s.State, "seat %s of a succeeded team", s.ID)
		assert.Equal(e.t, int64(3), s.Version, "seat %s: reserved → paid → confirmed", s.ID)
		ok, err := e.svc.MayShip(e.ctx, s.ID)
		require.NoError(e.t, err)
		assert.True(e.t, ok, "MayShip %s", s.ID)
	}

	evs := e.drain()
	assert.Equal(e.t, []string{
		groupbuy.TopicTeamOpened, groupbuy.TopicSeatReserved, groupbuy.TopicSeatReserved, groupbuy.TopicSeatReserved,
		groupbuy.TopicSeatPaid, groupbuy.TopicSeatPaid, groupbuy.TopicSeatPaid, groupbuy.TopicTeamSucceeded,
	}, topics(evs), "events, oldest first")
	for i := 1; i < len(evs); i++ {
		assert.False(e.t, evs[i].CreatedAt.Before(evs[i-1].CreatedAt), "event %d is older than event %d", i, i-1)
	}
	assert.True(e.t, evs[0].CreatedAt.Equal(t0), "CreatedAt of team_opened: %s", evs[0].CreatedAt)
	for _, s := range seats {
		assert.Len(e.t, withKey(evs, seatKey(s, "paid")), 1, "one seat_paid event for %s", s.ID)
		assert.Len(e.t, withKey(evs, seatKey(s, "reserved")), 1, "one seat_reserved event for %s", s.ID)
	}
	succ := withTopic(evs, groupbuy.TopicTeamSucceeded)
	require.Len(e.t, succ, 1)
	assert.Equal(e.t, "gb:"+team.ID+":succeeded", succ[0].Key)
	p := payload[groupbuy.TeamClosedPayload](e, succ[0])
	assert.Equal(e.t, team.ID, p.TeamID)
	assert.Equal(e.t, groupbuy.TeamSucceeded, p.State)
	assert.Equal(e.t, 3, p.Capacity)
	require.Len(e.t, p.Seats, 3)
	for i, s := range p.Seats {
		assert.Equal(e.t, seats[i].ID, s.SeatID, "team_succeeded lists the seats in TeamSeats order")
		assert.Equal(e.t, "pay-"+seats[i].ID, s.PaymentRef, "OnFill sees every seat in its final state")
	}
}

func testReservationClamped(e *env) {
	c := e.campaign(func(c *groupbuy.Campaign) { c.TeamLifetime = time.Hour })
	t0 := e.clock.Now()
	opened := e.open(c, "alice")
	require.True(e.t, opened.Team.ExpiresAt.Equal(t0.Add(time.Hour)))
	e.clock.Advance(50 * time.Minute)
	r := e.join(c, opened.Team.ID, "bob")
	assert.Equal(e.t, ts(t0.Add(time.Hour)), ts(r.Seat.ReservedUntil), "a reservation never outlives its team")
	assert.Equal(e.t, ts(t0.Add(time.Hour)), ts(e.seat(r.Seat.ID).ReservedUntil), "stored clamped")
}

func testTeamSeatsOrder(e *env) {
	c := e.campaign(teamSize(8))
	t0 := e.clock.Now()
	exp := t0.Add(lifetime)
	e.storeOpen(c, "tm-x", "st-m", "u-m", t0, exp)
	e.storeJoin(c, "tm-x", "st-k", "u-k", t0.Add(900)) // the leader's microsecond, smaller ID
	e.storeJoin(c, "tm-x", "st-z", "u-z", t0.Add(time.Minute))
	e.storeJoin(c, "tm-x", "st-b", "u-b", t0.Add(time.Minute))
	e.storeJoin(c, "tm-x", "st-a", "u-a", t0.Add(2*time.Minute))
	team := e.team("tm-x")
	require.Equal(e.t, 5, team.SeatsTaken)
	want := []string{"st-k", "st-m", "st-b", "st-z", "st-a"}
	assert.Equal(e.t, want, ids(e.seats("tm-x")), "ReservedAt, then ID")

	// Virtual seats come last, even when reserved earlier.
	now := t0.Add(3 * time.Minute)
	bot := func(id string) groupbuy.Seat {
		return groupbuy.Seat{
			ID: id, TeamID: "tm-x", CampaignID: c.ID, Quantity: 1, Currency: c.Currency,
			State: groupbuy.SeatConfirmed, Virtual: true, ReservedAt: t0.Add(-time.Hour),
			ReservedUntil: t0.Add(-time.Hour), PaidAt: now, Version: 1,
		}
	}
	err := e.gb.CloseTeam(e.ctx, &groupbuy.CloseTeamWrite{
		TeamID: "tm-x", Version: team.Version, State: groupbuy.TeamSucceeded, Now: now,
		VirtualSeats: 2, BotSeats: []groupbuy.Seat{bot("bt-b"), bot("bt-a")},
	})
	require.NoError(e.t, err)
	got := e.seats("tm-x")
	assert.Equal(e.t, append(want, "bt-a", "bt-b"), ids(got), "virtual seats last")
	if assert.Len(e.t, got, 7) {
		b := got[5]
		assert.Equal(e.t, sv(bot("bt-a")), sv(b), "bot seats are stored as given")
	}
	closed := e.team("tm-x")
	assert.Equal(e.t, groupbuy.TeamSucceeded, closed.State)
	assert.Equal(e.t, 2, closed.VirtualSeats)
	assert.Equal(e.t, 5, closed.SeatsTaken, "virtual seats are not counted in SeatsTaken")
	assert.Equal(e.t, ts(now), ts(closed.ClosedAt))
	assert.Equal(e.t, team.Version+1, closed.Version)
}

func testOpenTeamsOrder(e *env) {
	c := e.campaign(teamSize(4))
	other := e.campaign(teamSize(4))
	t0 := e.clock.Now()
	h := time.Hour
	open := func(id string, opened, expires time.Time, taken int) {
		e.storeOpen(c, id, id+"-s0", id+"-u0", opened, expires)
		for i := 1; i < taken; i++ {
			e.storeJoin(c, id, id+"-s"+string(rune('0'+i)), id+"-u"+string(rune('0'+i)), opened)
		}
	}
	// tm-c expires before tm-a but opened after it and sorts after it by ID.
	open("tm-c", t0.Add(time.Minute), t0.Add(2*h), 2)
	open("tm-a", t0, t0.Add(3*h), 2)
	open("tm-e", t0.Add(2*time.Minute), t0.Add(5*h), 3)
	// tm-d and tm-b tie: their times are apart by less than the
	// microsecond that SQL stores keep, so their IDs decide, on every
	// adapter.
	open("tm-d", t0.Add(3*time.Minute+100), t0.Add(4*h+100), 1)
	open("tm-b", t0.Add(3*time.Minute+900), t0.Add(4*h+900), 1)
	// Not listed: full, expired by now, expiring exactly now, closed, in
	// another campaign.
	open("tm-f", t0, t0.Add(3*h), 4)
	open("tm-g", t0, t0.Add(30*time.Minute), 1)
	open("tm-j", t0, t0.Add(h), 1)
	open("tm-h", t0, t0.Add(3*h), 1)
	require.NoError(e.t, e.gb.CloseTeam(e.ctx, &groupbuy.CloseTeamWrite{
		TeamID: "tm-h", Version: 1, State: groupbuy.TeamCancelled, Now: t0.Add(5 * time.Minute), Release: []string{"tm-h-s0"},
	}))
	e.storeOpen(other, "tm-i", "tm-i-s0", "tm-i-u0", t0, t0.Add(3*h))

	now := t0.Add(h)
	list := func(order groupbuy.MatchStrategy, limit int) []string {
		e.t.Helper()
		teams, err := e.gb.OpenTeams(e.ctx, c.ID, now, order, limit)
		require.NoError(e.t, err)
		for _, t := range teams {
			assert.Equal(e.t, tv(e.team(t.ID)), tv(t), "OpenTeams returns teams as stored")
		}
		return teamIDs(teams)
	}
	fullest := []string{"tm-e", "tm-c", "tm-a", "tm-b", "tm-d"}
	assert.Equal(e.t, fullest, list(groupbuy.MatchFullest, 100), "fullest, then soonest to expire, then ID")
	assert.Equal(e.t, fullest, list(groupbuy.MatchRandom, 100), "MatchRandom lists like MatchFullest")
	assert.Equal(e.t, fullest[:2], list(groupbuy.MatchFullest, 2), "limit")
	oldest := []string{"tm-a", "tm-c", "tm-e", "tm-b", "tm-d"}
	assert.Equal(e.t, oldest, list(groupbuy.MatchOldest, 100), "OpenedAt, then ID")
	assert.Equal(e.t, oldest[:3], list(groupbuy.MatchOldest, 3), "limit")

	// The Service's list is the fullest order at the clock's now.
	e.clock.Set(now)
	got, err := e.svc.OpenTeams(e.ctx, c.ID, 10)
	require.NoError(e.t, err)
	assert.Equal(e.t, fullest, teamIDs(got))
	none, err := e.gb.OpenTeams(e.ctx, "camp-missing", now, groupbuy.MatchFullest, 10)
	require.NoError(e.t, err)
	assert.Empty(e.t, none, "unknown campaign: empty list")
}

func testUserSeatsOrder(e *env) {
	c := e.campaign()
	t0 := e.clock.Now()
	exp := t0.Add(lifetime)
	e.storeOpen(c, "tm-1", "us-1", "ux", t0, exp)
	e.storeOpen(c, "tm-2", "os-2", "other", t0, exp)
	e.storeJoin(c, "tm-2", "us-2", "ux", t0.Add(time.Minute))
	e.storeOpen(c, "tm-3", "os-3", "other2", t0, exp)
	e.storeJoin(c, "tm-3", "us-4", "ux", t0.Add(2*time.Minute+100))
	e.storeOpen(c, "tm-4", "os-4", "other3", t0, exp)
	e.storeJoin(c, "tm-4", "us-3", "ux", t0.Add(2*time.Minute+900)) // the same microsecond: the IDs decide
	// A released seat is still the user's seat.
	_, err := e.gb.ReleaseSeat(e.ctx, &groupbuy.ReleaseSeatWrite{SeatID: "us-2", UserID: "ux", Now: t0.Add(3 * time.Minute)})
	require.NoError(e.t, err)

	got, err := e.gb.UserSeats(e.ctx, "ux", groupbuy.SeatPosition{}, 10)
	require.NoError(e.t, err)
	assert.Equal(e.t, []string{"us-4", "us-3", "us-2", "us-1"}, ids(got), "ReservedAt descending, then ID descending")
	for _, s := range got {
		assert.Equal(e.t, sv(e.seat(s.ID)), sv(s), "UserSeats returns seats as stored")
	}
	got, err = e.gb.UserSeats(e.ctx, "ux", groupbuy.SeatPosition{}, 2)
	require.NoError(e.t, err)
	assert.Equal(e.t, []string{"us-4", "us-3"}, ids(got), "limit")
	got, err = e.gb.UserSeats(e.ctx, "nobody", groupbuy.SeatPosition{}, 10)
	require.NoError(e.t, err)
	assert.Empty(e.t, got)
}

// testUserSeatsPaging pages a user's seats by position: every seat once,
// in UserSeats' order, whatever the page size, with ties of ReservedAt
// (to the microsecond) cut by ID; a seat reserved between two pages does
// not shift the later ones; a position between stored seats starts after
// it, and one past the oldest seat gives an empty page.
func testUserSeatsPaging(e *env) {
	c := e.campaign()
	t0 := e.clock.Now()
	exp := t0.Add(lifetime)
	at := []time.Duration{0, time.Minute, time.Minute, time.Minute + 400, 2 * time.Minute, 2 * time.Minute, 3 * time.Minute}
	for i, d := range at {
		tm := fmt.Sprintf("tm-p%d", i)
		e.storeOpen(c, tm, fmt.Sprintf("os-p%d", i), fmt.Sprintf("leader-p%d", i), t0, exp)
		e.storeJoin(c, tm, fmt.Sprintf("us-p%d", i), "pager", t0.Add(d))
	}
	all, err := e.gb.UserSeats(e.ctx, "pager", groupbuy.SeatPosition{}, groupbuy.MaxListLimit)
	require.NoError(e.t, err)
	require.Len(e.t, all, len(at))
	for size := 1; size <= len(at)+1; size++ {
		var got []string
		after := groupbuy.SeatPosition{}
		for range len(at) + 2 {
			page, err := e.gb.UserSeats(e.ctx, "pager", after, size)
			require.NoError(e.t, err)
			require.True(e.t, len(page) <= size, "a page of at most its limit")
			got = append(got, ids(page)...)
			if len(page) < size {
				break
			}
			after = groupbuy.PositionOf(&page[len(page)-1])
		}
		assert.Equal(e.t, ids(all), got, "pages of %d", size)
	}

	// A seat reserved after the first page was read comes before it: the
	// next page goes on from where the first ended.
	first, err := e.gb.UserSeats(e.ctx, "pager", groupbuy.SeatPosition{}, 3)
	require.NoError(e.t, err)
	e.storeOpen(c, "tm-pnew", "os-pnew", "leader-pnew", t0, exp)
	e.storeJoin(c, "tm-pnew", "us-pnew", "pager", t0.Add(4*time.Minute))
	rest, err := e.gb.UserSeats(e.ctx, "pager", groupbuy.PositionOf(&first[2]), groupbuy.MaxListLimit)
	require.NoError(e.t, err)
	assert.Equal(e.t, ids(all[3:]), ids(rest), "the later pages do not shift")

	// Positions that are no seat's.
	mid := groupbuy.SeatPosition{ReservedAt: t0.Add(time.Minute), ID: "us-p25"} // between us-p3 and us-p2
	got, err := e.gb.UserSeats(e.ctx, "pager", mid, groupbuy.MaxListLimit)
	require.NoError(e.t, err)
	assert.Equal(e.t, []string{"us-p2", "us-p1", "us-p0"}, ids(got), "after a position between seats")
	sub := groupbuy.SeatPosition{ReservedAt: t0.Add(time.Minute + 999), ID: "us-p25"} // the same microsecond
	got, err = e.gb.UserSeats(e.ctx, "pager", sub, groupbuy.MaxListLimit)
	require.NoError(e.t, err)
	assert.Equal(e.t, []string{"us-p2", "us-p1", "us-p0"}, ids(got), "positions compare to the microsecond")
	oldest := groupbuy.PositionOf(&all[len(all)-1])
	got, err = e.gb.UserSeats(e.ctx, "pager", oldest, 10)
	require.NoError(e.t, err)
	assert.Empty(e.t, got, "past the oldest seat")
}

func testTeamNotFound(e *env) {
	c := e.campaign()
	opened := e.open(c, "alice")
	_, err := e.gb.GetTeam(e.ctx, "tm-missing")
	assertNotFound(e, err, "GetTeam")
	_, err = e.gb.GetSeat(e.ctx, "st-missing")
	assertNotFound(e, err, "GetSeat")
	_, err = e.gb.GetSeat(e.ctx, opened.Team.ID)
	assertNotFound(e, err, "GetSeat with a team's ID")
	_, err = e.gb.GetTeam(e.ctx, opened.Seat.ID)
	assertNotFound(e, err, "GetTeam with a seat's ID")
	_, err = e.gb.TeamSeats(e.ctx, "tm-missing")
	assertNotFound(e, err, "TeamSeats")
	_, err = e.gb.GetIdempotency(e.ctx, "groupbuy.join", "no-such-key")
	assertNotFound(e, err, "GetIdempotency")
	_, err = e.svc.Team(e.ctx, "tm-missing")
	assertNotFound(e, err, "Service.Team")
}

// testFillLeavesOtherTeams: the payment that fills a team confirms that
// team's paid seats and no other's: a neighbour team of the same campaign
// and a team of another campaign, each with a paid and a reserved seat, are
// left exactly as they were.
func testFillLeavesOtherTeams(e *env) {
	c := e.campaign(teamSize(2))
	other := e.campaign(teamSize(3))
	near := e.open(c, "dave")
	e.pay(near.Seat)
	e.join(c, near.Team.ID, "erin")
	far := e.open(other, "frank")
	e.pay(far.Seat)
	e.join(other, far.Team.ID, "gina")
	neighbours, users := []string{near.Team.ID, far.Team.ID}, []string{"dave", "erin", "frank", "gina"}
	before := e.snapshot(neighbours, users)

	r := e.open(c, "alice")
	bob := e.join(c, r.Team.ID, "bob")
	e.pay(r.Seat)
	res := e.pay(bob.Seat)
	require.True(e.t, res.Filled)
	assert.Equal(e.t, groupbuy.TeamSucceeded, e.team(r.Team.ID).State)
	for _, st := range e.seats(r.Team.ID) {
		assert.Equal(e.t, groupbuy.SeatConfirmed, st.State, st.UserID)
	}
	assert.Equal(e.t, before, e.snapshot(neighbours, users), "the other teams' seats are untouched")
}

// testFourDecimalCurrency: a price in a currency of four decimals (ISO
// 4217's CLF) is kept to its last decimal by every store, so the seat's
// amount, price × quantity, is paid exactly and fills the team.
func testFourDecimalCurrency(e *env) {
	price := decimal.RequireFromString("1.2345")
	c := e.campaign(teamSize(2), func(c *groupbuy.Campaign) {
		c.Currency = "CLF"
		c.Prices = []groupbuy.SKUPrice{{SKU: skuA, Price: price}}
	})
	r := e.open(c, "alice")
	b, err := e.svc.Join(e.ctx, groupbuy.JoinRequest{CampaignID: c.ID, TeamID: r.Team.ID, UserID: "bob", SKU: skuA, Quantity: 3})
	require.NoError(e.t, err)
	assert.Equal(e.t, "3.7035", dec(e.seat(b.Seat.ID).Amount), "price × quantity, to the fourth decimal")
	e.pay(r.Seat)
	out := e.pay(b.Seat)
	assert.True(e.t, out.Filled)
	assert.Equal(e.t, groupbuy.TeamSucceeded, e.team(r.Team.ID).State)
	assert.Equal(e.t, "1.2345", dec(e.seat(r.Seat.ID).Amount))
}
