package storagetest

import (
	"fmt"
	"sync"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// testRaceJoin: 64 goroutines race for the 4 free seats of a team of 5.
func testRaceJoin(e *env) {
	const racers, size = 64, 5
	c := e.campaign(teamSize(size))
	for round := range 3 {
		r := e.open(c, fmt.Sprintf("lead-%d", round))
		e.drain()
		names := users(fmt.Sprintf("r%d", round), racers)
		var (
			wg    sync.WaitGroup
			ready = make(chan struct{})
			errs  = make([]error, racers)
			won   = make([]groupbuy.SeatResult, racers)
		)
		for i, u := range names {
			wg.Go(func() {
				<-ready
				won[i], errs[i] = e.svc.Join(e.ctx, e.joinReq(c, r.Team.ID, u))
			})
		}
		close(ready)
		wg.Wait()

		var winners []string
		for i, err := range errs {
			if err == nil {
				winners = append(winners, won[i].Seat.ID)
				continue
			}
			assert.ErrorIs(e.t, err, groupbuy.ErrTeamFull, "round %d: loser %s gets ErrTeamFull and nothing else", round, names[i])
		}
		assert.Len(e.t, winners, size-1, "round %d: exactly the free seats are taken", round)
		team := e.team(r.Team.ID)
		seats := e.seats(r.Team.ID)
		assert.Equal(e.t, size, team.SeatsTaken, "round %d: SeatsTaken", round)
		assert.Equal(e.t, team.SeatsTaken, countActive(seats), "round %d: SeatsTaken equals the active seats", round)
		assert.Len(e.t, seats, size, "round %d: no seat row beyond capacity", round)
		assert.Equal(e.t, int64(1+len(winners)), team.Version, "round %d: one version per successful join", round)
		assert.ElementsMatch(e.t, append([]string{r.Seat.ID}, winners...), ids(seats), "round %d: the winners' seats", round)
		evs := e.drain()
		assert.Len(e.t, withTopic(evs, groupbuy.TopicSeatReserved), len(winners), "round %d: one seat_reserved per winner", round)
		assert.Len(e.t, evs, len(winners), "round %d: no event from a loser", round)
		for i, u := range names {
			if errs[i] != nil {
				assert.Empty(e.t, e.userSeats(u), "round %d: loser %s holds no seat", round, u)
			}
		}
	}
}

// testRacePay: the last two unpaid seats of a full team are paid at the
// same instant; the team succeeds exactly once.
func testRacePay(e *env) {
	c := e.campaign()
	for round := range 20 {
		r := e.open(c, fmt.Sprintf("a-%d", round))
		e.pay(r.Seat)
		b := e.join(c, r.Team.ID, fmt.Sprintf("b-%d", round)).Seat
		d := e.join(c, r.Team.ID, fmt.Sprintf("c-%d", round)).Seat
		e.drain()
		var (
			wg    sync.WaitGroup
			ready = make(chan struct{})
			outs  [2]groupbuy.PaymentResult
			errs  [2]error
		)
		for i, s := range []groupbuy.Seat{b, d} {
			wg.Go(func() {
				<-ready
				outs[i], errs[i] = e.svc.ConfirmPayment(e.ctx, payReq(s))
			})
		}
		close(ready)
		wg.Wait()
		filled := 0
		for i := range outs {
			if assert.NoError(e.t, errs[i], "round %d: payment %d", round, i) {
				assert.Nil(e.t, outs[i].Late, "round %d: payment %d is not late", round, i)
				if outs[i].Filled {
					filled++
				}
			}
		}
		assert.Equal(e.t, 1, filled, "round %d: exactly one payment fills the team", round)
		team := e.team(r.Team.ID)
		assert.Equal(e.t, groupbuy.TeamSucceeded, team.State, "round %d", round)
		assert.Equal(e.t, 3, team.SeatsPaid, "round %d", round)
		assert.Equal(e.t, int64(6), team.Version, "round %d", round)
		seats := e.seats(r.Team.ID)
		for _, s := range seats {
			assert.Equal(e.t, groupbuy.SeatConfirmed, s.State, "round %d: seat %s", round, s.ID)
		}
		evs := e.drain()
		assert.Len(e.t, withTopic(evs, groupbuy.TopicSeatPaid), 2, "round %d", round)
		succ := withTopic(evs, groupbuy.TopicTeamSucceeded)
		if assert.Len(e.t, succ, 1, "round %d: one team_succeeded", round) {
			p := payload[groupbuy.TeamClosedPayload](e, succ[0])
			var got []string
			for _, s := range p.Seats {
				got = append(got, s.SeatID)
				assert.Equal(e.t, "pay-"+s.SeatID, s.PaymentRef, "round %d: team_succeeded sees every payment", round)
			}
			assert.ElementsMatch(e.t, ids(seats), got, "round %d: team_succeeded lists all %d seats", round, c.TeamSize)
		}
	}
}

// testRaceProcessDue: four instances run ProcessDue at once over expired
// teams; each team closes once and each paid seat gets one refund request.
func testRaceProcessDue(e *env) {
	const teams = 6
	c := e.campaign()
	var all []groupbuy.Team
	var paid, reserved []groupbuy.Seat
	for i := range teams {
		r := e.open(c, fmt.Sprintf("a-%d", i))
		e.pay(r.Seat)
		b := e.join(c, r.Team.ID, fmt.Sprintf("b-%d", i)).Seat
		e.pay(b)
		d := e.join(c, r.Team.ID, fmt.Sprintf("c-%d", i)).Seat
		all = append(all, r.Team)
		paid = append(paid, r.Seat, b)
		reserved = append(reserved, d)
		e.clock.Advance(time.Second)
	}
	e.drain()
	e.clock.Set(all[teams-1].ExpiresAt)

	const instances = 4
	var (
		wg    sync.WaitGroup
		ready = make(chan struct{})
		reps  [instances]groupbuy.DueReport
		errs  [instances]error
	)
	for i := range instances {
		wg.Go(func() {
			<-ready
			reps[i], errs[i] = e.svc.ProcessDue(e.ctx)
		})
	}
	close(ready)
	wg.Wait()
	failed := 0
	for i := range instances {
		assert.NoError(e.t, errs[i], "instance %d", i)
		failed += reps[i].Failed
		assert.Zero(e.t, reps[i].Succeeded, "instance %d", i)
	}
	assert.Equal(e.t, teams, failed, "each team is closed once")
	evs := e.drain()
	for _, t := range all {
		got := e.team(t.ID)
		assert.Equal(e.t, groupbuy.TeamFailed, got.State, "team %s", t.ID)
		assert.Zero(e.t, got.SeatsTaken, "team %s", t.ID)
		assert.Zero(e.t, got.SeatsPaid, "team %s", t.ID)
		assert.Len(e.t, withKey(evs, "gb:"+t.ID+":failed"), 1, "one team_failed for %s", t.ID)
	}
	for _, s := range paid {
		assert.Len(e.t, withKey(evs, groupbuy.RefundKey(s.TeamID, s.ID)), 1, "one refund request for seat %s", s.ID)
		assert.Equal(e.t, groupbuy.SeatRefundRequested, e.seat(s.ID).State)
	}
	for _, s := range reserved {
		assert.Len(e.t, withKey(evs, seatKey(s, "released")), 1, "one seat_released for seat %s", s.ID)
		assert.Equal(e.t, groupbuy.SeatReleased, e.seat(s.ID).State)
	}
	assert.Len(e.t, withTopic(evs, groupbuy.TopicRefundRequested), len(paid))
	assert.Len(e.t, withTopic(evs, groupbuy.TopicSeatReleased), len(reserved))
	assert.Len(e.t, withTopic(evs, groupbuy.TopicTeamFailed), teams)
	assert.Len(e.t, evs, len(paid)+len(reserved)+teams, "no other event")

	rep := e.processDue()
	assert.Equal(e.t, groupbuy.DueReport{}, rep, "nothing left to do")
	e.expectNoEvents("second ProcessDue")
	require.NotEmpty(e.t, all)
}
