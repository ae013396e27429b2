package storagetest

import (
	"strings"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// cancelledTeam is a team of four whose leader alice and bob paid and whose
// carol holds a reservation, cancelled by the operator.
type cancelledTeam struct {
	team               groupbuy.Team
	alice, bob, carol  groupbuy.Seat
	refundA            string // ID of alice's refund request event
	cancelledAt        time.Time
	eventsOfCancelling []string
}

func (e *env) cancelledTeam() cancelledTeam {
	e.t.Helper()
	c := e.campaign(teamSize(4))
	r := e.open(c, "alice")
	alice := e.pay(r.Seat).Seat
	e.clock.Advance(time.Second)
	bob := e.pay(e.join(c, r.Team.ID, "bob").Seat).Seat
	e.clock.Advance(time.Second)
	carol := e.join(c, r.Team.ID, "carol").Seat
	e.drain()
	e.clock.Advance(time.Minute)
	now := e.clock.Now()
	team, err := e.svc.CancelTeam(e.ctx, r.Team.ID, "out of stock")
	require.NoError(e.t, err)
	evs := e.drain()
	ra := withKey(evs, groupbuy.RefundKey(r.Team.ID, alice.ID))
	require.Len(e.t, ra, 1, "one refund request for alice")
	require.Len(e.t, withKey(evs, groupbuy.RefundKey(r.Team.ID, bob.ID)), 1, "one refund request for bob")
	return cancelledTeam{team: team, alice: alice, bob: bob, carol: carol, refundA: ra[0].ID, cancelledAt: now, eventsOfCancelling: topics(evs)}
}

func testCancelTeam(e *env) {
	ct := e.cancelledTeam()
	team := e.team(ct.team.ID)
	assert.Equal(e.t, tv(ct.team), tv(team), "CancelTeam returns the stored team")
	assert.Equal(e.t, groupbuy.TeamCancelled, team.State)
	assert.Equal(e.t, ts(ct.cancelledAt), ts(team.ClosedAt))
	assert.Zero(e.t, team.SeatsTaken)
	assert.Zero(e.t, team.SeatsPaid)
	assert.Equal(e.t, []groupbuy.SeatState{groupbuy.SeatRefundRequested, groupbuy.SeatRefundRequested, groupbuy.SeatReleased}, states(e.seats(team.ID)))
	assert.ElementsMatch(e.t, []string{
		groupbuy.TopicRefundRequested, groupbuy.TopicRefundRequested, groupbuy.TopicSeatReleased, groupbuy.TopicTeamFailed,
	}, ct.eventsOfCancelling)

	e.unchanged([]string{team.ID}, []string{"alice", "bob", "carol"}, "cancel twice", func() {
		again, err := e.svc.CancelTeam(e.ctx, team.ID, "again")
		require.NoError(e.t, err, "cancelling a cancelled team is a no-op")
		assert.Equal(e.t, tv(team), tv(again))
	})
	assert.Equal(e.t, groupbuy.DueReport{}, e.processDue(), "a cancelled team is not due")
}

func testRefundPath(e *env) {
	ct := e.cancelledTeam()
	seat := ct.alice

	assert.Equal(e.t, 1, e.seat(seat.ID).RefundAttempt, "the cancel requested attempt 1")
	failed, err := e.svc.MarkRefundFailed(e.ctx, seat.ID, 1, "card expired")
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.SeatRefundFailed, failed.State)
	assert.Equal(e.t, 1, failed.RefundAttempt)
	v := e.seat(seat.ID).Version
	assert.Equal(e.t, failed.Version, v)
	if evs := e.drain(); assert.Len(e.t, evs, 1, "refund failed: one event") {
		assert.Equal(e.t, groupbuy.TopicRefundFailed, evs[0].Topic)
		assert.Equal(e.t, seatKey(seat, "refund_failed:"+evs[0].ID), evs[0].Key, "a key per failure")
		p := payload[groupbuy.RefundFailedPayload](e, evs[0])
		assert.Equal(e.t, groupbuy.RefundKey(ct.team.ID, seat.ID), p.Key)
		assert.Equal(e.t, seat.PaymentRef, p.PaymentRef)
		assert.Equal(e.t, "card expired", p.Reason, "the host's reason reaches the outbox")
		assert.Equal(e.t, 1, p.Attempt, "the attempt that failed")
	}
	again, err := e.svc.MarkRefundFailed(e.ctx, seat.ID, 1, "card expired")
	require.NoError(e.t, err, "repeating MarkRefundFailed is a no-op")
	assert.Equal(e.t, v, again.Version)
	e.expectNoEvents("refund failed twice")

	retried, err := e.svc.RetryRefund(e.ctx, seat.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.SeatRefundRequested, retried.State)
	assert.Equal(e.t, v+1, retried.Version)
	assert.Equal(e.t, 2, retried.RefundAttempt, "the retry is attempt 2")
	assert.Equal(e.t, sv(retried), sv(e.seat(seat.ID)), "RetryRefund returns the seat as stored")
	evs := e.drain()
	if assert.Len(e.t, evs, 1) {
		key := groupbuy.RefundKey(ct.team.ID, seat.ID)
		assert.Equal(e.t, groupbuy.TopicRefundRequested, evs[0].Topic)
		assert.Equal(e.t, key, evs[0].Key, "the retry asks again under the same key")
		assert.NotEqual(e.t, ct.refundA, evs[0].ID, "a new event")
		p := payload[groupbuy.RefundRequestedPayload](e, evs[0])
		assert.Equal(e.t, key, p.Key)
		assert.Equal(e.t, seat.PaymentRef, p.PaymentRef)
		assert.Equal(e.t, 2, p.Attempt, "the retry's event carries its attempt")
	}

	done, err := e.svc.MarkRefunded(e.ctx, seat.ID, 2)
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.SeatRefunded, done.State)
	assert.Equal(e.t, sv(done), sv(e.seat(seat.ID)))
	e.expectNoEvents("refunded")
	e.unchanged([]string{ct.team.ID}, []string{"alice"}, "MarkRefunded twice", func() {
		twice, err := e.svc.MarkRefunded(e.ctx, seat.ID, 2)
		require.NoError(e.t, err, "repeating MarkRefunded is a no-op")
		assert.Equal(e.t, sv(done), sv(twice))
		_, err = e.svc.MarkRefunded(e.ctx, seat.ID, 0)
		e.assertValidation(err, "a repeat naming no attempt")
		_, err = e.svc.MarkRefunded(e.ctx, seat.ID, 1)
		assert.ErrorIs(e.t, err, groupbuy.ErrStaleRefundAttempt, "a repeat naming another attempt")
	})

	// Straight from refund_requested.
	b, err := e.svc.MarkRefunded(e.ctx, ct.bob.ID, 1)
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.SeatRefunded, b.State)
	// refund_failed → refunded is legal too (settled after all).
	c := e.cancelledTeam()
	_, err = e.svc.MarkRefundFailed(e.ctx, c.alice.ID, 1, "timeout")
	require.NoError(e.t, err)
	settled, err := e.svc.MarkRefunded(e.ctx, c.alice.ID, 1)
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.SeatRefunded, settled.State)
}

// testStaleRefundAttempt: a host giving its provider a key per attempt
// (Key + ":" + Attempt) reports attempt 1's failure, the operator retries
// (attempt 2, under a new provider key), and attempt 1's failure comes
// again (a redelivered or late webhook). Reported with its attempt, it is
// refused and changes nothing: the seat stays refund_requested at attempt
// 2, no refund_failed event is written, and no further retry (attempt 3,
// a third key, which could refund the payment a second time alongside
// attempt 2) is possible. Attempt 2's answer then settles the seat.
func testStaleRefundAttempt(e *env) {
	ct := e.cancelledTeam()
	seat := ct.alice
	_, err := e.svc.MarkRefundFailed(e.ctx, seat.ID, 1, "provider: SYSTEMERROR")
	require.NoError(e.t, err)
	retried, err := e.svc.RetryRefund(e.ctx, seat.ID)
	require.NoError(e.t, err)
	require.Equal(e.t, 2, retried.RefundAttempt)
	e.drain()

	e.unchanged([]string{ct.team.ID}, []string{"alice", "bob", "carol"}, "stale reports", func() {
		_, err := e.svc.MarkRefundFailed(e.ctx, seat.ID, 1, "provider: SYSTEMERROR")
		assert.ErrorIs(e.t, err, groupbuy.ErrStaleRefundAttempt, "attempt 1's failure after the retry")
		_, err = e.svc.MarkRefunded(e.ctx, seat.ID, 1)
		assert.ErrorIs(e.t, err, groupbuy.ErrStaleRefundAttempt, "attempt 1's success after the retry")
		_, err = e.svc.MarkRefundFailed(e.ctx, seat.ID, 3, "provider: SYSTEMERROR")
		assert.ErrorIs(e.t, err, groupbuy.ErrStaleRefundAttempt, "an attempt not yet asked for")
		_, err = e.svc.RetryRefund(e.ctx, seat.ID)
		assert.ErrorIs(e.t, err, groupbuy.ErrIllegalTransition, "no third attempt while the second is in flight")
	})
	e.expectNoEvents("stale reports")
	st := e.seat(seat.ID)
	assert.Equal(e.t, groupbuy.SeatRefundRequested, st.State)
	assert.Equal(e.t, 2, st.RefundAttempt)

	done, err := e.svc.MarkRefunded(e.ctx, seat.ID, 2)
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.SeatRefunded, done.State)
	assert.Equal(e.t, 2, done.RefundAttempt)
	e.expectNoEvents("refunded")
	// Once refunded, attempt 1's failure is still a stale report, not an
	// illegal transition; the settled attempt's own failure is illegal.
	e.unchanged([]string{ct.team.ID}, []string{"alice", "bob", "carol"}, "reports after the refund", func() {
		_, err := e.svc.MarkRefundFailed(e.ctx, seat.ID, 1, "provider: SYSTEMERROR")
		assert.ErrorIs(e.t, err, groupbuy.ErrStaleRefundAttempt, "attempt 1's failure after attempt 2 settled")
		_, err = e.svc.MarkRefundFailed(e.ctx, seat.ID, 2, "provider: SYSTEMERROR")
		assert.ErrorIs(e.t, err, groupbuy.ErrIllegalTransition, "attempt 2's failure after its success")
	})
	e.expectNoEvents("reports after the refund")

	// A failure of attempt 2 reported twice: once failed, the retry is
	// attempt 3, and attempt 2's redelivered failure is stale.
	c := e.cancelledTeam()
	_, err = e.svc.MarkRefundFailed(e.ctx, c.bob.ID, 1, "no")
	require.NoError(e.t, err)
	_, err = e.svc.RetryRefund(e.ctx, c.bob.ID)
	require.NoError(e.t, err)
	_, err = e.svc.MarkRefundFailed(e.ctx, c.bob.ID, 2, "no")
	require.NoError(e.t, err)
	third, err := e.svc.RetryRefund(e.ctx, c.bob.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, 3, third.RefundAttempt)
	evs := e.drain()
	if r := withTopic(evs, groupbuy.TopicRefundRequested); assert.Len(e.t, r, 2) {
		assert.Equal(e.t, 2, payload[groupbuy.RefundRequestedPayload](e, r[0]).Attempt)
		assert.Equal(e.t, 3, payload[groupbuy.RefundRequestedPayload](e, r[1]).Attempt)
	}
	if f := withTopic(evs, groupbuy.TopicRefundFailed); assert.Len(e.t, f, 2) {
		assert.Equal(e.t, 1, payload[groupbuy.RefundFailedPayload](e, f[0]).Attempt)
		assert.Equal(e.t, 2, payload[groupbuy.RefundFailedPayload](e, f[1]).Attempt)
	}
	_, err = e.svc.MarkRefundFailed(e.ctx, c.bob.ID, 2, "no")
	assert.ErrorIs(e.t, err, groupbuy.ErrStaleRefundAttempt)
	e.expectNoEvents("attempt 2's failure again")
	assert.Equal(e.t, groupbuy.SeatRefundRequested, e.seat(c.bob.ID).State)
}

// testRefundAttemptsOnClose: every path that moves a paid seat to
// refund_requested makes it attempt 1, with an event saying so; seats that
// are never refunded stay at 0, and a late payment's refund (not the
// seat's own) leaves the seat's attempt alone and carries none.
func testRefundAttemptsOnClose(e *env) {
	refunded := func(what string, teamID string, seatIDs ...string) {
		e.t.Helper()
		evs := e.drain()
		for _, id := range seatIDs {
			st := e.seat(id)
			assert.Equal(e.t, groupbuy.SeatRefundRequested, st.State, what)
			assert.Equal(e.t, 1, st.RefundAttempt, "%s: seat %s", what, id)
			if r := withKey(evs, groupbuy.RefundKey(teamID, id)); assert.Len(e.t, r, 1, what) {
				assert.Equal(e.t, 1, payload[groupbuy.RefundRequestedPayload](e, r[0]).Attempt, what)
			}
		}
		for _, st := range e.seats(teamID) {
			if st.State != groupbuy.SeatRefundRequested {
				assert.Zero(e.t, st.RefundAttempt, "%s: %s seat %s", what, st.State, st.ID)
			}
		}
	}

	// CancelTeam.
	ct := e.cancelledTeam()
	for _, st := range []groupbuy.Seat{ct.alice, ct.bob} {
		assert.Equal(e.t, 1, e.seat(st.ID).RefundAttempt, "cancelled")
	}
	assert.Zero(e.t, e.seat(ct.carol.ID).RefundAttempt, "a released seat has no refund")

	// ProcessDue at the deadline.
	c := e.campaign()
	r := e.open(c, "dan")
	dan := e.pay(r.Seat).Seat
	eve := e.join(c, r.Team.ID, "eve").Seat
	e.drain()
	assert.Zero(e.t, e.seat(dan.ID).RefundAttempt, "a paid seat has no refund")
	e.clock.Set(r.Team.ExpiresAt)
	assert.Equal(e.t, 1, e.processDue().Failed)
	refunded("failed at the deadline", r.Team.ID, dan.ID)
	assert.Zero(e.t, e.seat(eve.ID).RefundAttempt)

	// CancelTeam after the deadline, before ProcessDue: closed as
	// ProcessDue closes it.
	c = e.campaign()
	r = e.open(c, "fay")
	fay := e.pay(r.Seat).Seat
	e.drain()
	e.clock.Set(r.Team.ExpiresAt)
	_, err := e.svc.CancelTeam(e.ctx, r.Team.ID, "late")
	assert.ErrorIs(e.t, err, groupbuy.ErrIllegalTransition)
	refunded("cancel after the deadline", r.Team.ID, fay.ID)

	// A succeeded team's seats are never refunded.
	c = e.campaign(teamSize(2))
	r = e.open(c, "gus")
	e.pay(r.Seat)
	e.pay(e.join(c, r.Team.ID, "hal").Seat)
	for _, st := range e.seats(r.Team.ID) {
		assert.Equal(e.t, groupbuy.SeatConfirmed, st.State)
		assert.Zero(e.t, st.RefundAttempt)
	}
	e.drain()

	// A late payment's refund is not the seat's.
	lc := e.campaign(latePolicy(groupbuy.LateRefund))
	_, released := e.releasedSeat(lc)
	e.drain()
	_, err = e.svc.ConfirmPayment(e.ctx, payReq(released))
	require.NoError(e.t, err)
	if r := withTopic(e.drain(), groupbuy.TopicRefundRequested); assert.Len(e.t, r, 1) {
		p := payload[groupbuy.RefundRequestedPayload](e, r[0])
		assert.False(e.t, p.ForSeat())
		assert.Zero(e.t, p.Attempt, "a late payment's refund has no attempt")
		assert.False(e.t, strings.Contains(string(r[0].Payload), `"attempt"`), "its JSON has no attempt")
	}
	assert.Zero(e.t, e.seat(released.ID).RefundAttempt, "the late payment's refund leaves the seat's attempt")
}

func testIllegalTransitions(e *env) {
	ct := e.cancelledTeam()
	_, err := e.svc.MarkRefunded(e.ctx, ct.bob.ID, 1)
	require.NoError(e.t, err)
	c := e.campaign(teamSize(2))
	r := e.open(c, "dave")
	paid := e.pay(r.Seat).Seat
	reserved := e.join(c, r.Team.ID, "erin").Seat
	done := e.campaign(teamSize(2))
	d := e.open(done, "fay")
	e.pay(d.Seat)
	e.pay(e.join(done, d.Team.ID, "gus").Seat)
	_, err = e.svc.SetCampaignStatus(e.ctx, done.ID, groupbuy.CampaignEnded)
	require.NoError(e.t, err)

	e.unchanged([]string{ct.team.ID, r.Team.ID, d.Team.ID}, []string{"alice", "bob", "carol", "dave", "erin", "fay"}, "illegal transitions", func() {
		for _, tc := range []struct {
			name string
			f    func() error
		}{
			{"MarkRefunded reserved", func() error { _, err := e.svc.MarkRefunded(e.ctx, reserved.ID, 1); return err }},
			{"MarkRefundFailed reserved", func() error { _, err := e.svc.MarkRefundFailed(e.ctx, reserved.ID, 1, "x"); return err }},
			{"RetryRefund reserved", func() error { _, err := e.svc.RetryRefund(e.ctx, reserved.ID); return err }},
			{"MarkRefunded paid", func() error { _, err := e.svc.MarkRefunded(e.ctx, paid.ID, 1); return err }},
			{"RetryRefund released", func() error { _, err := e.svc.RetryRefund(e.ctx, ct.carol.ID); return err }},
			{"MarkRefunded released", func() error { _, err := e.svc.MarkRefunded(e.ctx, ct.carol.ID, 1); return err }},
			{"RetryRefund refund_requested", func() error { _, err := e.svc.RetryRefund(e.ctx, ct.alice.ID); return err }},
			{"RetryRefund refunded", func() error { _, err := e.svc.RetryRefund(e.ctx, ct.bob.ID); return err }},
			{"MarkRefundFailed refunded", func() error { _, err := e.svc.MarkRefundFailed(e.ctx, ct.bob.ID, 1, "x"); return err }},
			{"MarkRefunded confirmed", func() error { _, err := e.svc.MarkRefunded(e.ctx, d.Seat.ID, 1); return err }},
			{"CancelTeam succeeded", func() error { _, err := e.svc.CancelTeam(e.ctx, d.Team.ID, "x"); return err }},
			{"campaign ended → active", func() error {
				_, err := e.svc.SetCampaignStatus(e.ctx, done.ID, groupbuy.CampaignActive)
				return err
			}},
		} {
			assert.ErrorIs(e.t, tc.f(), groupbuy.ErrIllegalTransition, tc.name)
		}
	})
	got, err := e.gb.GetCampaign(e.ctx, done.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.CampaignEnded, got.Status)
}
