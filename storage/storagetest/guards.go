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

func testJoinFullTeam(e *env) {
	c := e.campaign()
	team := e.open(c, "alice").Team
	e.join(c, team.ID, "bob")
	carol := e.join(c, team.ID, "carol")
	e.unchanged([]string{team.ID}, []string{"dave"}, "join a full team", func() {
		_, err := e.svc.Join(e.ctx, e.joinReq(c, team.ID, "dave"))
		assert.ErrorIs(e.t, err, groupbuy.ErrTeamFull)
	})
	// A released seat frees its place.
	_, err := e.svc.CancelReservation(e.ctx, carol.Seat.ID, "carol")
	require.NoError(e.t, err)
	assert.Equal(e.t, 2, e.team(team.ID).SeatsTaken)
	r := e.join(c, team.ID, "dave")
	assert.Equal(e.t, 3, r.Team.SeatsTaken)
	assert.Equal(e.t, 3, countActive(e.seats(team.ID)))
}

func testJoinClosedTeam(e *env) {
	c := e.campaign()
	// Cancelled, with a free seat.
	cancelled := e.open(c, "alice").Team
	_, err := e.svc.CancelTeam(e.ctx, cancelled.ID, "test")
	require.NoError(e.t, err)
	e.unchanged([]string{cancelled.ID}, []string{"dave"}, "join a cancelled team", func() {
		_, err := e.svc.Join(e.ctx, e.joinReq(c, cancelled.ID, "dave"))
		assert.ErrorIs(e.t, err, groupbuy.ErrTeamClosed)
	})

	// Succeeded (and full): closed comes before full.
	c2 := e.campaign(teamSize(2))
	r := e.open(c2, "alice")
	e.pay(r.Seat)
	e.pay(e.join(c2, r.Team.ID, "bob").Seat)
	require.Equal(e.t, groupbuy.TeamSucceeded, e.team(r.Team.ID).State)
	e.unchanged([]string{r.Team.ID}, []string{"dave"}, "join a succeeded team", func() {
		_, err := e.svc.Join(e.ctx, e.joinReq(c2, r.Team.ID, "dave"))
		assert.ErrorIs(e.t, err, groupbuy.ErrTeamClosed)
	})
}

func testJoinExpiredTeam(e *env) {
	c := e.campaign()
	r := e.open(c, "alice")
	e.pay(r.Seat)
	// Exactly at the deadline the team no longer takes seats, though no
	// ProcessDue has closed it yet.
	e.clock.Set(r.Team.ExpiresAt)
	e.unchanged([]string{r.Team.ID}, []string{"dave"}, "join an expired team", func() {
		_, err := e.svc.Join(e.ctx, e.joinReq(c, r.Team.ID, "dave"))
		assert.ErrorIs(e.t, err, groupbuy.ErrTeamClosed)
	})
	assert.Equal(e.t, groupbuy.TeamForming, e.team(r.Team.ID).State)

	// One microsecond before, it does.
	c2 := e.campaign()
	r2 := e.open(c2, "alice")
	e.clock.Set(r2.Team.ExpiresAt.Add(-time.Microsecond))
	e.join(c2, r2.Team.ID, "dave")
}

func testAlreadyJoined(e *env) {
	c := e.campaign(teamSize(4))
	team := e.open(c, "alice").Team
	bob := e.join(c, team.ID, "bob")
	e.unchanged([]string{team.ID}, []string{"alice", "bob"}, "join twice", func() {
		_, err := e.svc.Join(e.ctx, e.joinReq(c, team.ID, "bob"))
		assert.ErrorIs(e.t, err, groupbuy.ErrAlreadyJoined, "bob again")
		_, err = e.svc.Join(e.ctx, e.joinReq(c, team.ID, "alice"))
		assert.ErrorIs(e.t, err, groupbuy.ErrAlreadyJoined, "the leader")
	})
	// A paid seat still holds the place.
	e.pay(bob.Seat)
	e.unchanged([]string{team.ID}, []string{"bob"}, "join after paying", func() {
		_, err := e.svc.Join(e.ctx, e.joinReq(c, team.ID, "bob"))
		assert.ErrorIs(e.t, err, groupbuy.ErrAlreadyJoined)
	})
	// A released seat does not.
	carol := e.join(c, team.ID, "carol")
	_, err := e.svc.CancelReservation(e.ctx, carol.Seat.ID, "carol")
	require.NoError(e.t, err)
	again := e.join(c, team.ID, "carol")
	assert.NotEqual(e.t, carol.Seat.ID, again.Seat.ID)
	assert.Equal(e.t, 3, again.Team.SeatsTaken)
	assert.Len(e.t, e.userSeats("carol"), 2, "the released seat and the new one")
}

func testLimitOpened(e *env) {
	c := e.campaign(func(c *groupbuy.Campaign) { c.Limits.MaxTeamsOpenedPerUser = 2 })
	openFails := func(msg string) {
		e.t.Helper()
		e.unchanged(nil, []string{"alice"}, msg, func() {
			_, err := e.svc.Open(e.ctx, groupbuy.OpenRequest{CampaignID: c.ID, UserID: "alice", SKU: skuA})
			assert.ErrorIs(e.t, err, groupbuy.ErrLimitExceeded, msg)
		})
	}
	t1 := e.open(c, "alice")
	t2 := e.open(c, "alice")
	openFails("third team")
	// Joins do not count against the opened limit.
	e.join(c, e.open(c, "bob").Team.ID, "alice")

	// A released leader seat stops counting.
	_, err := e.svc.CancelReservation(e.ctx, t1.Seat.ID, "alice")
	require.NoError(e.t, err)
	e.open(c, "alice")
	openFails("after reopening")

	// A seat whose refund is requested stops counting; a paid one counts.
	e.pay(t2.Seat)
	_, err = e.svc.CancelTeam(e.ctx, t2.Team.ID, "test")
	require.NoError(e.t, err)
	require.Equal(e.t, groupbuy.SeatRefundRequested, e.seat(t2.Seat.ID).State)
	t4 := e.open(c, "alice")
	e.pay(t4.Seat)
	openFails("paid seats count")
}

func testLimitJoined(e *env) {
	c := e.campaign(func(c *groupbuy.Campaign) { c.Limits.MaxTeamsJoinedPerUser = 1 })
	// The teams bob leads do not count against the joined limit.
	e.open(c, "bob")
	a := e.open(c, "alice").Team
	b := e.open(c, "carol").Team
	d := e.open(c, "dave").Team
	seat := e.join(c, a.ID, "bob").Seat
	e.unchanged([]string{b.ID}, []string{"bob"}, "second join", func() {
		_, err := e.svc.Join(e.ctx, e.joinReq(c, b.ID, "bob"))
		assert.ErrorIs(e.t, err, groupbuy.ErrLimitExceeded)
	})
	_, err := e.svc.CancelReservation(e.ctx, seat.ID, "bob")
	require.NoError(e.t, err)
	seat = e.join(c, b.ID, "bob").Seat
	e.pay(seat)
	e.unchanged([]string{d.ID}, []string{"bob"}, "paid join counts", func() {
		_, err := e.svc.Join(e.ctx, e.joinReq(c, d.ID, "bob"))
		assert.ErrorIs(e.t, err, groupbuy.ErrLimitExceeded)
	})
	// A refund requested stops counting.
	_, err = e.svc.CancelTeam(e.ctx, b.ID, "test")
	require.NoError(e.t, err)
	e.join(c, d.ID, "bob")
}

func testLimitUnits(e *env) {
	c := e.campaign(func(c *groupbuy.Campaign) { c.Limits.MaxUnitsPerOrder = 2 })
	team := e.open(c, "alice").Team
	e.unchanged([]string{team.ID}, []string{"bob", "carol"}, "too many units", func() {
		_, err := e.svc.Open(e.ctx, groupbuy.OpenRequest{CampaignID: c.ID, UserID: "carol", SKU: skuA, Quantity: 3})
		assert.ErrorIs(e.t, err, groupbuy.ErrLimitExceeded, "open")
		_, err = e.svc.Join(e.ctx, groupbuy.JoinRequest{CampaignID: c.ID, TeamID: team.ID, UserID: "bob", SKU: skuA, Quantity: 3})
		assert.ErrorIs(e.t, err, groupbuy.ErrLimitExceeded, "join")
	})
	r, err := e.svc.Join(e.ctx, groupbuy.JoinRequest{CampaignID: c.ID, TeamID: team.ID, UserID: "bob", SKU: skuA, Quantity: 2})
	require.NoError(e.t, err)
	assert.Equal(e.t, "39.8", dec(r.Seat.Amount))
}

func testCampaignNotActive(e *env) {
	c := e.campaign(teamSize(4))
	r := e.open(c, "alice")
	bob := e.join(c, r.Team.ID, "bob")
	// The Service caches the campaign definition; the store must check the
	// status in the write.
	_, err := e.svc.SetCampaignStatus(e.ctx, c.ID, groupbuy.CampaignPaused)
	require.NoError(e.t, err)
	e.unchanged([]string{r.Team.ID}, []string{"carol", "dave"}, "paused campaign", func() {
		_, err := e.svc.Open(e.ctx, groupbuy.OpenRequest{CampaignID: c.ID, UserID: "carol", SKU: skuA})
		assert.ErrorIs(e.t, err, groupbuy.ErrCampaignNotActive, "open")
		_, err = e.svc.Join(e.ctx, e.joinReq(c, r.Team.ID, "dave"))
		assert.ErrorIs(e.t, err, groupbuy.ErrCampaignNotActive, "join")
		_, err = e.svc.Match(e.ctx, groupbuy.MatchRequest{CampaignID: c.ID, UserID: "dave", SKU: skuA})
		assert.ErrorIs(e.t, err, groupbuy.ErrCampaignNotActive, "match")
	})
	// A paused campaign keeps its forming teams running: payments land.
	e.pay(bob.Seat)
	_, err = e.svc.SetCampaignStatus(e.ctx, c.ID, groupbuy.CampaignActive)
	require.NoError(e.t, err)
	e.join(c, r.Team.ID, "dave")
	_, err = e.svc.SetCampaignStatus(e.ctx, c.ID, groupbuy.CampaignEnded)
	require.NoError(e.t, err)
	e.unchanged([]string{r.Team.ID}, []string{"carol"}, "ended campaign", func() {
		_, err := e.svc.Join(e.ctx, e.joinReq(c, r.Team.ID, "carol"))
		assert.ErrorIs(e.t, err, groupbuy.ErrCampaignNotActive, "join")
		_, err = e.svc.Open(e.ctx, groupbuy.OpenRequest{CampaignID: c.ID, UserID: "carol", SKU: skuA})
		assert.ErrorIs(e.t, err, groupbuy.ErrCampaignNotActive, "open")
	})
}

func testAmountMismatch(e *env) {
	c := e.campaign()
	r := e.open(c, "alice")
	seat := r.Seat
	e.unchanged([]string{r.Team.ID}, []string{"alice"}, "wrong amount or currency", func() {
		req := payReq(seat)
		req.Amount = decimal.RequireFromString("19.91")
		_, err := e.svc.ConfirmPayment(e.ctx, req)
		assert.ErrorIs(e.t, err, groupbuy.ErrAmountMismatch, "amount")
		req = payReq(seat)
		req.Amount = decimal.RequireFromString("19.89")
		_, err = e.svc.ConfirmPayment(e.ctx, req)
		assert.ErrorIs(e.t, err, groupbuy.ErrAmountMismatch, "amount")
		req = payReq(seat)
		req.Currency = "USD"
		_, err = e.svc.ConfirmPayment(e.ctx, req)
		assert.ErrorIs(e.t, err, groupbuy.ErrAmountMismatch, "currency")
	})
	// The amount is compared by value, and the failed attempts stored no
	// idempotency record under the payment reference.
	req := payReq(seat)
	req.Amount = decimal.RequireFromString("19.9000")
	out, err := e.svc.ConfirmPayment(e.ctx, req)
	require.NoError(e.t, err)
	assert.Nil(e.t, out.Late)
	assert.Equal(e.t, groupbuy.SeatPaid, out.Seat.State)
	assert.Equal(e.t, 1, e.team(r.Team.ID).SeatsPaid)
}

func testPreconditionOrder(e *env) {
	c := e.campaign(teamSize(2))
	r := e.open(c, "alice")
	bob := e.join(c, r.Team.ID, "bob")
	e.unchanged([]string{r.Team.ID}, []string{"bob"}, "member of a full team", func() {
		_, err := e.svc.Join(e.ctx, e.joinReq(c, r.Team.ID, "bob"))
		assert.ErrorIs(e.t, err, groupbuy.ErrAlreadyJoined, "already joined is checked before full")
	})
	e.clock.Set(r.Team.ExpiresAt)
	e.unchanged([]string{r.Team.ID}, []string{"bob", "carol"}, "expired full team", func() {
		_, err := e.svc.Join(e.ctx, e.joinReq(c, r.Team.ID, "carol"))
		assert.ErrorIs(e.t, err, groupbuy.ErrTeamClosed, "closed is checked before full")
		_, err = e.svc.Join(e.ctx, e.joinReq(c, r.Team.ID, "bob"))
		assert.ErrorIs(e.t, err, groupbuy.ErrTeamClosed, "closed is checked before already joined")
	})
	e.unchanged([]string{r.Team.ID}, []string{"bob"}, "lapsed seat, wrong amount", func() {
		req := payReq(bob.Seat)
		req.Amount = decimal.RequireFromString("1.00")
		_, err := e.svc.ConfirmPayment(e.ctx, req)
		assert.ErrorIs(e.t, err, groupbuy.ErrAmountMismatch, "the amount is checked before the reservation")
	})
}

// storeFixture is a campaign with one forming team of four: a reserved
// leader seat and a reserved seat of bob's.
type storeFixture struct {
	c            groupbuy.Campaign
	team         groupbuy.Team
	leader, bob  groupbuy.Seat
	t0, deadline time.Time
}

func (e *env) storeFixture() storeFixture {
	e.t.Helper()
	c := e.campaign(teamSize(4))
	t0 := e.clock.Now()
	_, leader := e.storeOpen(c, "tm-f", "st-lead", "alice", t0, t0.Add(lifetime))
	team, bob := e.storeJoin(c, "tm-f", "st-bob", "bob", t0)
	return storeFixture{c: c, team: team, leader: leader, bob: bob, t0: t0, deadline: t0.Add(lifetime)}
}

// oneEvent is an event attached to a write that must fail, so that a
// partial write shows in the outbox.
func (e *env) oneEvent() []storage.Event {
	return []storage.Event{event(e.id("ev"), "storagetest.must_not_exist", "st:none", e.clock.Now())}
}

// limited returns a campaign limiting each user to max teams opened and
// max teams joined, in which alice leads team teamID and bob holds a joined
// seat: the writes of a campaign pass its limits, which never change.
func (e *env) limited(f storeFixture, teamID string, max int) groupbuy.Campaign {
	e.t.Helper()
	c := e.campaign(teamSize(4), func(c *groupbuy.Campaign) {
		c.Limits.MaxTeamsOpenedPerUser, c.Limits.MaxTeamsJoinedPerUser = max, max
	})
	e.storeOpen(c, teamID, e.id("st"), "alice", f.t0, f.deadline)
	e.storeJoin(c, teamID, e.id("st"), "bob", f.t0)
	return c
}

func testStoreOpenTeamGuards(e *env) {
	f := e.storeFixture()
	write := func(c groupbuy.Campaign, user string, now time.Time) *groupbuy.OpenTeamWrite {
		team := groupbuy.Team{
			ID: "tm-new", CampaignID: c.ID, LeaderID: user, Capacity: 4, SeatsTaken: 1,
			State: groupbuy.TeamForming, OpenedAt: now, ExpiresAt: now.Add(time.Hour), Version: 1,
		}
		seat := craftSeat(c, "tm-new", "st-new", user, now, team.ExpiresAt)
		seat.Leader = true
		return &groupbuy.OpenTeamWrite{Team: team, Leader: seat, Now: now, MaxOpened: c.Limits.MaxTeamsOpenedPerUser, Events: e.oneEvent()}
	}
	check := func(w *groupbuy.OpenTeamWrite, want error, msg string) {
		e.t.Helper()
		e.unchanged([]string{"tm-new", f.team.ID}, []string{w.Team.LeaderID}, msg, func() {
			assert.ErrorIs(e.t, e.gb.OpenTeam(e.ctx, w), want, msg)
		})
	}
	missing := f.c
	missing.ID = "camp-missing"
	check(write(missing, "alice", f.t0), groupbuy.ErrNotFound, "unknown campaign")
	check(write(f.c, "alice", f.c.StartsAt.Add(-time.Microsecond)), groupbuy.ErrCampaignNotActive, "before the window")
	check(write(f.c, "alice", f.c.EndsAt), groupbuy.ErrCampaignNotActive, "at the end of the window")
	_, err := e.gb.SetCampaignStatus(e.ctx, f.c.ID, groupbuy.CampaignActive, groupbuy.CampaignPaused)
	require.NoError(e.t, err)
	check(write(f.c, "alice", f.t0), groupbuy.ErrCampaignNotActive, "paused")
	_, err = e.gb.SetCampaignStatus(e.ctx, f.c.ID, groupbuy.CampaignPaused, groupbuy.CampaignActive)
	require.NoError(e.t, err)
	// Without a limit alice opens a second team; with a limit of one she
	// cannot.
	lc := e.limited(f, "tm-l", 1)
	check(write(lc, "alice", f.t0), groupbuy.ErrLimitExceeded, "alice leads one team already")
	// At her limit and outside the campaign's window: the campaign's
	// precondition comes first.
	check(write(lc, "alice", lc.EndsAt), groupbuy.ErrCampaignNotActive, "at the limit, at the end of the window")
	_, err = e.gb.SetCampaignStatus(e.ctx, lc.ID, groupbuy.CampaignActive, groupbuy.CampaignPaused)
	require.NoError(e.t, err)
	check(write(lc, "alice", f.t0), groupbuy.ErrCampaignNotActive, "at the limit, the campaign paused")
	_, err = e.gb.SetCampaignStatus(e.ctx, lc.ID, groupbuy.CampaignPaused, groupbuy.CampaignActive)
	require.NoError(e.t, err)
	// The limit counts leader seats only: bob's joined seat does not count.
	require.NoError(e.t, e.gb.OpenTeam(e.ctx, write(lc, "bob", f.t0)))
	assert.Equal(e.t, groupbuy.TeamForming, e.team("tm-new").State)
}

func testStoreJoinTeamGuards(e *env) {
	f := e.storeFixture()
	other := e.campaign()
	write := func(teamID string, c groupbuy.Campaign, user string, now time.Time) *groupbuy.JoinTeamWrite {
		return &groupbuy.JoinTeamWrite{
			Seat: craftSeat(c, teamID, e.id("st"), user, now, now.Add(ttl)), Now: now,
			MaxJoined: c.Limits.MaxTeamsJoinedPerUser, Events: e.oneEvent(),
		}
	}
	check := func(w *groupbuy.JoinTeamWrite, want error, msg string) {
		e.t.Helper()
		e.unchanged([]string{f.team.ID, "tm-g"}, []string{w.Seat.UserID}, msg, func() {
			_, _, err := e.gb.JoinTeam(e.ctx, w)
			assert.ErrorIs(e.t, err, want, msg)
		})
	}
	check(write("tm-missing", f.c, "carol", f.t0), groupbuy.ErrNotFound, "unknown team")
	check(write(f.team.ID, other, "carol", f.t0), groupbuy.ErrNotFound, "team of another campaign")
	check(write(f.team.ID, f.c, "bob", f.t0), groupbuy.ErrAlreadyJoined, "bob holds a seat")
	check(write(f.team.ID, f.c, "alice", f.t0), groupbuy.ErrAlreadyJoined, "the leader")
	check(write(f.team.ID, f.c, "carol", f.deadline), groupbuy.ErrTeamClosed, "at the deadline")
	// bob's joined seats count against the limit of his campaign.
	lc := e.limited(f, "tm-l", 1)
	e.storeOpen(lc, "tm-g", "st-g", "dave", f.t0, f.deadline)
	check(write("tm-g", lc, "bob", f.t0), groupbuy.ErrLimitExceeded, "bob joined one team")
	// alice's leader seat does not count against it.
	_, joined, err := e.gb.JoinTeam(e.ctx, write("tm-g", lc, "alice", f.t0))
	require.NoError(e.t, err)
	assert.False(e.t, joined.Leader, "a joined seat is never the leader")
	_, err = e.gb.SetCampaignStatus(e.ctx, f.c.ID, groupbuy.CampaignActive, groupbuy.CampaignPaused)
	require.NoError(e.t, err)
	check(write(f.team.ID, f.c, "carol", f.t0), groupbuy.ErrCampaignNotActive, "paused")
}

func testStorePaySeatGuards(e *env) {
	f := e.storeFixture()
	write := func(seat groupbuy.Seat, teamID string, now time.Time) *groupbuy.PaySeatWrite {
		return &groupbuy.PaySeatWrite{
			TeamID: teamID, SeatID: seat.ID, PaymentRef: "ref-" + seat.ID, Amount: seat.Amount, Currency: seat.Currency,
			Now: now, Events: e.oneEvent(),
		}
	}
	check := func(w *groupbuy.PaySeatWrite, want error, msg string) {
		e.t.Helper()
		e.unchanged([]string{f.team.ID, "tm-g"}, []string{"alice", "bob"}, msg, func() {
			_, err := e.gb.PaySeat(e.ctx, w)
			assert.ErrorIs(e.t, err, want, msg)
		})
	}
	check(write(groupbuy.Seat{ID: "st-missing", Amount: priceA, Currency: "CNY"}, f.team.ID, f.t0), groupbuy.ErrNotFound, "unknown seat")
	e.storeOpen(f.c, "tm-g", "st-g", "dave", f.t0, f.deadline)
	check(write(f.bob, "tm-g", f.t0), groupbuy.ErrNotFound, "seat of another team")
	w := write(f.bob, f.team.ID, f.t0)
	w.Amount = decimal.RequireFromString("19.91")
	check(w, groupbuy.ErrAmountMismatch, "amount")
	w = write(f.bob, f.team.ID, f.t0)
	w.Currency = "USD"
	check(w, groupbuy.ErrAmountMismatch, "currency")
	check(write(f.bob, f.team.ID, f.bob.ReservedUntil), groupbuy.ErrSeatNotReserved, "at the end of the reservation")
	// The same instant on a clock in another zone (a host whose Now is
	// local time): stores must compare instants, whatever their location.
	cst := time.FixedZone("CST", 8*60*60)
	check(write(f.bob, f.team.ID, f.bob.ReservedUntil.In(cst)), groupbuy.ErrSeatNotReserved, "at the end of the reservation, in UTC+8")

	// A paid seat is not reserved any more.
	res, err := e.gb.PaySeat(e.ctx, write(f.bob, f.team.ID, f.t0))
	require.NoError(e.t, err)
	assert.False(e.t, res.Filled)
	check(write(f.bob, f.team.ID, f.t0), groupbuy.ErrSeatNotReserved, "paid already")

	// A seat left reserved in a closed team: the team guard.
	team := e.team(f.team.ID)
	require.NoError(e.t, e.gb.CloseTeam(e.ctx, &groupbuy.CloseTeamWrite{
		TeamID: f.team.ID, Version: team.Version, State: groupbuy.TeamCancelled, Now: f.t0, Refund: []string{f.bob.ID},
	}))
	check(write(f.leader, f.team.ID, f.t0), groupbuy.ErrTeamClosed, "team cancelled")
}

// testStorePayTeamDeadline: a reservation may outlive its team's deadline
// (OpenTeam stores the leader seat's ReservedUntil as given; only a join
// clamps it), and such a seat is refused with ErrTeamClosed once the team's
// ExpiresAt is reached, exactly at that instant too, although its own
// reservation still holds: the team's guard, not the seat's, decides.
func testStorePayTeamDeadline(e *env) {
	c := e.campaign(teamSize(4))
	t0 := e.clock.Now()
	expires := t0.Add(lifetime)
	team := groupbuy.Team{
		ID: "tm-dl", CampaignID: c.ID, LeaderID: "alice", Capacity: c.TeamSize, SeatsTaken: 1,
		State: groupbuy.TeamForming, OpenedAt: t0, ExpiresAt: expires, Version: 1,
	}
	leader := craftSeat(c, team.ID, "st-dl", "alice", t0, expires)
	leader.Leader = true
	leader.ReservedUntil = expires.Add(time.Hour) // past the team's deadline
	require.NoError(e.t, e.gb.OpenTeam(e.ctx, &groupbuy.OpenTeamWrite{
		Team: team, Leader: leader, Now: t0, MaxOpened: c.Limits.MaxTeamsOpenedPerUser,
		Events: []storage.Event{event(e.id("ev"), "storagetest.opened", "st:"+team.ID, t0)},
	}))
	stored := e.seat(leader.ID)
	require.True(e.t, stored.ReservedUntil.After(expires), "the leader's reservation is stored as given: %s", stored.ReservedUntil)
	write := func(now time.Time) *groupbuy.PaySeatWrite {
		return &groupbuy.PaySeatWrite{
			TeamID: team.ID, SeatID: leader.ID, PaymentRef: "ref-dl", Amount: leader.Amount, Currency: leader.Currency,
			Now: now, Events: e.oneEvent(),
		}
	}
	for _, c := range []struct {
		now time.Time
		msg string
	}{
		{expires, "at the team's deadline, the reservation still holding"},
		{expires.Add(30 * time.Minute), "past the team's deadline, the reservation still holding"},
	} {
		e.unchanged([]string{team.ID}, []string{"alice"}, c.msg, func() {
			_, err := e.gb.PaySeat(e.ctx, write(c.now))
			assert.ErrorIs(e.t, err, groupbuy.ErrTeamClosed, c.msg)
		})
	}
	// Once the reservation has lapsed too, both guards fail, and the seat's
	// comes first in the contract's order.
	e.unchanged([]string{team.ID}, []string{"alice"}, "past the deadline and the reservation", func() {
		_, err := e.gb.PaySeat(e.ctx, write(leader.ReservedUntil))
		assert.ErrorIs(e.t, err, groupbuy.ErrSeatNotReserved, "past the deadline and the reservation")
	})
	// A microsecond before the deadline the payment goes through.
	res, err := e.gb.PaySeat(e.ctx, write(expires.Add(-time.Microsecond)))
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.SeatPaid, res.Seat.State)
	assert.Equal(e.t, 1, res.Team.SeatsPaid)
}

func testStoreReleaseSeatGuards(e *env) {
	f := e.storeFixture()
	check := func(w *groupbuy.ReleaseSeatWrite, want error, msg string) {
		e.t.Helper()
		w.Events = e.oneEvent()
		e.unchanged([]string{f.team.ID}, []string{"alice", "bob"}, msg, func() {
			_, err := e.gb.ReleaseSeat(e.ctx, w)
			assert.ErrorIs(e.t, err, want, msg)
		})
	}
	check(&groupbuy.ReleaseSeatWrite{SeatID: "st-missing", Now: f.t0}, groupbuy.ErrNotFound, "unknown seat")
	check(&groupbuy.ReleaseSeatWrite{SeatID: f.bob.ID, UserID: "alice", Now: f.t0}, groupbuy.ErrNotOwner, "another user's seat")
	check(&groupbuy.ReleaseSeatWrite{SeatID: f.bob.ID, OnlyExpired: true, Now: f.bob.ReservedUntil.Add(-time.Microsecond)}, storage.ErrConflict, "not expired yet")

	// Exactly at ReservedUntil the reservation has lapsed.
	out, err := e.gb.ReleaseSeat(e.ctx, &groupbuy.ReleaseSeatWrite{SeatID: f.bob.ID, OnlyExpired: true, Now: f.bob.ReservedUntil})
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.SeatReleased, out.State)
	assert.Equal(e.t, f.bob.Version+1, out.Version)
	assert.Equal(e.t, sv(out), sv(e.seat(f.bob.ID)), "ReleaseSeat returns the seat as stored")
	team := e.team(f.team.ID)
	assert.Equal(e.t, 1, team.SeatsTaken)
	assert.Equal(e.t, f.team.Version+1, team.Version)
	check(&groupbuy.ReleaseSeatWrite{SeatID: f.bob.ID, Now: f.t0}, groupbuy.ErrSeatNotReserved, "released already")
}

func testStoreCloseTeamGuards(e *env) {
	f := e.storeFixture()
	_, err := e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{
		TeamID: f.team.ID, SeatID: f.leader.ID, PaymentRef: "ref-lead", Amount: priceA, Currency: "CNY", Now: f.t0,
	})
	require.NoError(e.t, err)
	team := e.team(f.team.ID)
	e.storeOpen(f.c, "tm-g", "st-g", "dave", f.t0, f.deadline)
	write := func() *groupbuy.CloseTeamWrite {
		return &groupbuy.CloseTeamWrite{
			TeamID: f.team.ID, Version: team.Version, State: groupbuy.TeamFailed, Now: f.deadline,
			Release: []string{f.bob.ID}, Refund: []string{f.leader.ID}, Events: e.oneEvent(),
		}
	}
	check := func(w *groupbuy.CloseTeamWrite, want error, msg string) {
		e.t.Helper()
		e.unchanged([]string{f.team.ID, "tm-g"}, []string{"alice", "bob", "dave"}, msg, func() {
			assert.ErrorIs(e.t, e.gb.CloseTeam(e.ctx, w), want, msg)
		})
	}
	w := write()
	w.TeamID = "tm-missing"
	check(w, groupbuy.ErrNotFound, "unknown team")
	w = write()
	w.Version--
	check(w, storage.ErrConflict, "stale version")
	w = write()
	w.Release = []string{f.bob.ID, f.leader.ID}
	w.Refund = nil
	check(w, storage.ErrConflict, "a paid seat listed as reserved (after a valid one)")
	w = write()
	w.Refund = []string{f.leader.ID, f.bob.ID}
	w.Release = nil
	check(w, storage.ErrConflict, "a reserved seat listed as paid")
	w = write()
	w.Release = []string{f.bob.ID, "st-g"}
	check(w, storage.ErrConflict, "a seat of another team")
	w = write()
	w.Release = append(w.Release, "st-missing")
	check(w, storage.ErrConflict, "an unknown seat")
	w = write()
	w.State = groupbuy.TeamSucceeded
	w.Refund = nil
	w.Confirm = []string{f.leader.ID}
	w.VirtualSeats = 1
	w.BotSeats = []groupbuy.Seat{{ID: "st-g", TeamID: f.team.ID, CampaignID: f.c.ID, Quantity: 1, Currency: "CNY", State: groupbuy.SeatConfirmed, Virtual: true, ReservedAt: f.t0, ReservedUntil: f.t0, PaidAt: f.t0, Version: 1}}
	check(w, storage.ErrConflict, "a bot seat with an existing seat ID")
	w.BotSeats[0].ID = "st-bot"
	w.BotSeats[0].Virtual = false
	check(w, storage.ErrConflict, "a bot seat that is not virtual")
	w.BotSeats[0].Virtual = true
	w.BotSeats[0].CampaignID = "camp-other"
	check(w, storage.ErrConflict, "a bot seat of another campaign")

	// The valid write applies every move at once.
	require.NoError(e.t, e.gb.CloseTeam(e.ctx, write()))
	closed := e.team(f.team.ID)
	assert.Equal(e.t, teamV{
		ID: f.team.ID, CampaignID: f.c.ID, LeaderID: "alice", Capacity: 4, SeatsTaken: 0, SeatsPaid: 0, SeatRows: 2,
		State: groupbuy.TeamFailed, OpenedAt: ts(f.t0), ExpiresAt: ts(f.deadline), ClosedAt: ts(f.deadline), Version: team.Version + 1,
	}, tv(closed))
	// TeamSeats order: st-bob before st-lead (same ReservedAt).
	assert.Equal(e.t, []groupbuy.SeatState{groupbuy.SeatReleased, groupbuy.SeatRefundRequested}, states(e.seats(f.team.ID)))
	evs := e.drain()
	assert.Len(e.t, withTopic(evs, "storagetest.must_not_exist"), 1, "the write's events are stored")

	// A closed team takes no second close.
	w = write()
	w.Version = closed.Version
	w.Release, w.Refund = nil, nil
	check(w, storage.ErrConflict, "team not forming")
}

func testStoreUpdateRefundGuards(e *env) {
	f := e.storeFixture()
	check := func(w *groupbuy.RefundWrite, want error, msg string) {
		e.t.Helper()
		w.Events = e.oneEvent()
		e.unchanged([]string{f.team.ID}, []string{"alice", "bob"}, msg, func() {
			_, err := e.gb.UpdateRefund(e.ctx, w)
			assert.ErrorIs(e.t, err, want, msg)
		})
	}
	check(&groupbuy.RefundWrite{SeatID: "st-missing", From: groupbuy.SeatRefundRequested, To: groupbuy.SeatRefunded, Now: f.t0}, groupbuy.ErrNotFound, "unknown seat")
	check(&groupbuy.RefundWrite{SeatID: f.bob.ID, From: groupbuy.SeatRefundRequested, To: groupbuy.SeatRefunded, Now: f.t0}, storage.ErrConflict, "seat not in From")

	_, err := e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{
		TeamID: f.team.ID, SeatID: f.bob.ID, PaymentRef: "ref-bob", Amount: priceA, Currency: "CNY", Now: f.t0,
	})
	require.NoError(e.t, err)
	team := e.team(f.team.ID)
	require.NoError(e.t, e.gb.CloseTeam(e.ctx, &groupbuy.CloseTeamWrite{
		TeamID: f.team.ID, Version: team.Version, State: groupbuy.TeamCancelled, Now: f.t0,
		Release: []string{f.leader.ID}, Refund: []string{f.bob.ID},
	}))
	before := e.seat(f.bob.ID)
	require.Equal(e.t, groupbuy.SeatRefundRequested, before.State)
	require.Equal(e.t, 1, before.RefundAttempt, "the close requested attempt 1")
	check(&groupbuy.RefundWrite{SeatID: f.bob.ID, From: groupbuy.SeatRefundFailed, To: groupbuy.SeatRefundRequested, Attempt: 1, Now: f.t0}, storage.ErrConflict, "seat not in From")
	for _, attempt := range []int{0, 2} {
		check(&groupbuy.RefundWrite{SeatID: f.bob.ID, From: groupbuy.SeatRefundRequested, To: groupbuy.SeatRefundFailed, Attempt: attempt, Now: f.t0},
			storage.ErrConflict, fmt.Sprintf("seat at attempt 1, not %d", attempt))
	}

	ev := event(e.id("ev"), "storagetest.refund", "st:refund", f.t0)
	out, err := e.gb.UpdateRefund(e.ctx, &groupbuy.RefundWrite{SeatID: f.bob.ID, From: groupbuy.SeatRefundRequested, To: groupbuy.SeatRefundFailed, Attempt: 1, Now: f.t0, Events: []storage.Event{ev}})
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.SeatRefundFailed, out.State)
	assert.Equal(e.t, 1, out.RefundAttempt, "a failure leaves the attempt")
	assert.Equal(e.t, before.Version+1, out.Version)
	assert.Equal(e.t, sv(out), sv(e.seat(f.bob.ID)), "UpdateRefund returns the seat as stored")
	assert.Equal(e.t, []string{ev.ID}, eventIDs(withTopic(e.drain(), "storagetest.refund")), "the write's events are stored")
	check(&groupbuy.RefundWrite{SeatID: f.bob.ID, From: groupbuy.SeatRefundRequested, To: groupbuy.SeatRefunded, Attempt: 1, Now: f.t0}, storage.ErrConflict, "moved on already")

	// A retry expects the attempt that failed and numbers the next; an
	// ABA (failed, retried, failed again since the read) is a conflict.
	check(&groupbuy.RefundWrite{SeatID: f.bob.ID, From: groupbuy.SeatRefundFailed, To: groupbuy.SeatRefundRequested, Attempt: 2, Now: f.t0}, storage.ErrConflict, "retry of attempt 2 at attempt 1")
	out, err = e.gb.UpdateRefund(e.ctx, &groupbuy.RefundWrite{SeatID: f.bob.ID, From: groupbuy.SeatRefundFailed, To: groupbuy.SeatRefundRequested, Attempt: 1, Now: f.t0})
	require.NoError(e.t, err)
	assert.Equal(e.t, 2, out.RefundAttempt, "a retry numbers the next attempt")
	out, err = e.gb.UpdateRefund(e.ctx, &groupbuy.RefundWrite{SeatID: f.bob.ID, From: groupbuy.SeatRefundRequested, To: groupbuy.SeatRefundFailed, Attempt: 2, Now: f.t0})
	require.NoError(e.t, err)
	check(&groupbuy.RefundWrite{SeatID: f.bob.ID, From: groupbuy.SeatRefundFailed, To: groupbuy.SeatRefundRequested, Attempt: 1, Now: f.t0}, storage.ErrConflict, "retry of attempt 1 after attempt 2 failed")
	assert.Equal(e.t, sv(out), sv(e.seat(f.bob.ID)), "the refused retry changed nothing")
}
