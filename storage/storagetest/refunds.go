package storagetest

import (
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

	failed, err := e.svc.MarkRefundFailed(e.ctx, seat.ID, "card expired")
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.SeatRefundFailed, failed.State)
	v := e.seat(seat.ID).Version
	assert.Equal(e.t, failed.Version, v)
	if evs := e.drain(); assert.Len(e.t, evs, 1, "refund failed: one event") {
		assert.Equal(e.t, groupbuy.TopicRefundFailed, evs[0].Topic)
		assert.Equal(e.t, seatKey(seat, "refund_failed:"+evs[0].ID), evs[0].Key, "a key per failure")
		p := payload[groupbuy.RefundFailedPayload](e, evs[0])
		assert.Equal(e.t, groupbuy.RefundKey(ct.team.ID, seat.ID), p.Key)
		assert.Equal(e.t, seat.PaymentRef, p.PaymentRef)
		assert.Equal(e.t, "card expired", p.Reason, "the host's reason reaches the outbox")
	}
	again, err := e.svc.MarkRefundFailed(e.ctx, seat.ID, "card expired")
	require.NoError(e.t, err, "repeating MarkRefundFailed is a no-op")
	assert.Equal(e.t, v, again.Version)
	e.expectNoEvents("refund failed twice")

	retried, err := e.svc.RetryRefund(e.ctx, seat.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.SeatRefundRequested, retried.State)
	assert.Equal(e.t, v+1, retried.Version)
	evs := e.drain()
	if assert.Len(e.t, evs, 1) {
		key := groupbuy.RefundKey(ct.team.ID, seat.ID)
		assert.Equal(e.t, groupbuy.TopicRefundRequested, evs[0].Topic)
		assert.Equal(e.t, key, evs[0].Key, "the retry asks again under the same key")
		assert.NotEqual(e.t, ct.refundA, evs[0].ID, "a new event")
		p := payload[groupbuy.RefundRequestedPayload](e, evs[0])
		assert.Equal(e.t, key, p.Key)
		assert.Equal(e.t, seat.PaymentRef, p.PaymentRef)
	}

	done, err := e.svc.MarkRefunded(e.ctx, seat.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.SeatRefunded, done.State)
	assert.Equal(e.t, sv(done), sv(e.seat(seat.ID)))
	e.expectNoEvents("refunded")
	e.unchanged([]string{ct.team.ID}, []string{"alice"}, "MarkRefunded twice", func() {
		twice, err := e.svc.MarkRefunded(e.ctx, seat.ID)
		require.NoError(e.t, err, "repeating MarkRefunded is a no-op")
		assert.Equal(e.t, sv(done), sv(twice))
	})

	// Straight from refund_requested.
	b, err := e.svc.MarkRefunded(e.ctx, ct.bob.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.SeatRefunded, b.State)
	// refund_failed → refunded is legal too (settled after all).
	c := e.cancelledTeam()
	_, err = e.svc.MarkRefundFailed(e.ctx, c.alice.ID, "timeout")
	require.NoError(e.t, err)
	settled, err := e.svc.MarkRefunded(e.ctx, c.alice.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.SeatRefunded, settled.State)
}

func testIllegalTransitions(e *env) {
	ct := e.cancelledTeam()
	_, err := e.svc.MarkRefunded(e.ctx, ct.bob.ID)
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
			{"MarkRefunded reserved", func() error { _, err := e.svc.MarkRefunded(e.ctx, reserved.ID); return err }},
			{"MarkRefundFailed reserved", func() error { _, err := e.svc.MarkRefundFailed(e.ctx, reserved.ID, "x"); return err }},
			{"RetryRefund reserved", func() error { _, err := e.svc.RetryRefund(e.ctx, reserved.ID); return err }},
			{"MarkRefunded paid", func() error { _, err := e.svc.MarkRefunded(e.ctx, paid.ID); return err }},
			{"RetryRefund released", func() error { _, err := e.svc.RetryRefund(e.ctx, ct.carol.ID); return err }},
			{"MarkRefunded released", func() error { _, err := e.svc.MarkRefunded(e.ctx, ct.carol.ID); return err }},
			{"RetryRefund refund_requested", func() error { _, err := e.svc.RetryRefund(e.ctx, ct.alice.ID); return err }},
			{"RetryRefund refunded", func() error { _, err := e.svc.RetryRefund(e.ctx, ct.bob.ID); return err }},
			{"MarkRefundFailed refunded", func() error { _, err := e.svc.MarkRefundFailed(e.ctx, ct.bob.ID, "x"); return err }},
			{"MarkRefunded confirmed", func() error { _, err := e.svc.MarkRefunded(e.ctx, d.Seat.ID); return err }},
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
