package storagetest

import (
	"encoding/json"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// releasedSeat opens a team of alice's in c, joins bob and releases bob's
// seat; it returns the team and bob's released seat, with the outbox drained.
func (e *env) releasedSeat(c groupbuy.Campaign) (groupbuy.Team, groupbuy.Seat) {
	e.t.Helper()
	r := e.open(c, "alice")
	bob := e.join(c, r.Team.ID, "bob")
	_, err := e.svc.CancelReservation(e.ctx, bob.Seat.ID, "bob")
	require.NoError(e.t, err)
	e.drain()
	return e.team(r.Team.ID), e.seat(bob.Seat.ID)
}

// assertLateRefund checks the two events of a late payment that was
// refunded under key.
func (e *env) assertLateRefund(evs []storage.Event, req groupbuy.PaymentRequest, seat groupbuy.Seat, key string) {
	e.t.Helper()
	assert.ElementsMatch(e.t, []string{groupbuy.TopicRefundRequested, groupbuy.TopicLatePaymentHandled}, topics(evs))
	refunds := withTopic(evs, groupbuy.TopicRefundRequested)
	if assert.Len(e.t, refunds, 1) {
		assert.Equal(e.t, key, refunds[0].Key)
		p := payload[groupbuy.RefundRequestedPayload](e, refunds[0])
		assert.Equal(e.t, key, p.Key)
		assert.Equal(e.t, seat.TeamID, p.TeamID)
		assert.Equal(e.t, seat.ID, p.SeatID)
		assert.Equal(e.t, seat.UserID, p.UserID)
		assert.Equal(e.t, dec(req.Amount), dec(p.Amount))
		assert.Equal(e.t, req.Currency, p.Currency)
		assert.Equal(e.t, req.PaymentRef, p.PaymentRef)
	}
	handled := withTopic(evs, groupbuy.TopicLatePaymentHandled)
	if assert.Len(e.t, handled, 1) {
		p := payload[groupbuy.LatePaymentHandledPayload](e, handled[0])
		assert.Equal(e.t, groupbuy.LateActionRefund, p.Action)
		assert.Equal(e.t, req.PaymentRef, p.PaymentRef)
		assert.Equal(e.t, seat.ID, p.SeatID)
	}
}

func testLateRefund(e *env) {
	c := e.campaign(latePolicy(groupbuy.LateRefund))
	team, seat := e.releasedSeat(c)
	before := e.snapshot([]string{team.ID}, []string{"bob"})
	req := payReq(seat)
	out, err := e.svc.ConfirmPayment(e.ctx, req)
	require.NoError(e.t, err)
	require.NotNil(e.t, out.Late, "a payment for a released seat is late")
	key := groupbuy.LateRefundKey(team.ID, seat.ID, req.PaymentRef)
	assert.Equal(e.t, groupbuy.LateActionRefund, out.Late.Action)
	assert.Equal(e.t, key, out.Late.RefundKey)
	assert.Equal(e.t, before, e.snapshot([]string{team.ID}, []string{"bob"}), "a refunded late payment changes no team or seat")
	e.assertLateRefund(e.drain(), req, seat, key)

	// The callback is retried: the same outcome, no second refund.
	again, err := e.svc.ConfirmPayment(e.ctx, req)
	require.NoError(e.t, err)
	require.NotNil(e.t, again.Late)
	assert.Equal(e.t, groupbuy.LateActionRefund, again.Late.Action)
	assert.Equal(e.t, key, again.Late.RefundKey)
	e.expectNoEvents("replayed late payment")
}

func testLateRefundLapsed(e *env) {
	c := e.campaign(latePolicy(groupbuy.LateRefund))
	r := e.open(c, "alice")
	bob := e.join(c, r.Team.ID, "bob")
	e.drain()
	// The reservation lapsed but no ProcessDue has released it yet.
	e.clock.Set(bob.Seat.ReservedUntil)
	req := payReq(bob.Seat)
	out, err := e.svc.ConfirmPayment(e.ctx, req)
	require.NoError(e.t, err)
	require.NotNil(e.t, out.Late)
	assert.Equal(e.t, groupbuy.LateActionRefund, out.Late.Action)
	e.assertLateRefund(e.drain(), req, bob.Seat, groupbuy.LateRefundKey(r.Team.ID, bob.Seat.ID, req.PaymentRef))
	assert.Equal(e.t, groupbuy.SeatReserved, e.seat(bob.Seat.ID).State, "the seat is left to ProcessDue")
	assert.Equal(e.t, 0, e.team(r.Team.ID).SeatsPaid)
	rep := e.processDue()
	assert.Equal(e.t, 2, rep.Released, "alice's and bob's reservations lapsed")
	assert.Equal(e.t, groupbuy.SeatReleased, e.seat(bob.Seat.ID).State)
}

func testLateJoinOther(e *env) {
	c := e.campaign(latePolicy(groupbuy.LateJoinOther))
	t1, seat := e.releasedSeat(c)
	t2 := e.open(c, "carol").Team
	e.drain()
	beforeT1 := e.snapshot([]string{t1.ID}, nil)
	req := payReq(seat)
	out, err := e.svc.ConfirmPayment(e.ctx, req)
	require.NoError(e.t, err)
	require.NotNil(e.t, out.Late)
	assert.Equal(e.t, groupbuy.LateActionJoined, out.Late.Action)
	assert.Equal(e.t, t2.ID, out.Team.ID, "the payment lands in the other open team")
	assert.Equal(e.t, t2.ID, out.Seat.TeamID)
	assert.NotEqual(e.t, seat.ID, out.Seat.ID)
	assert.Equal(e.t, "bob", out.Seat.UserID)
	assert.Equal(e.t, groupbuy.SeatPaid, out.Seat.State)
	assert.Equal(e.t, req.PaymentRef, out.Seat.PaymentRef)
	assert.False(e.t, out.Seat.Leader)
	assert.Equal(e.t, sv(out.Seat), sv(e.seat(out.Seat.ID)))
	got := e.team(t2.ID)
	assert.Equal(e.t, 2, got.SeatsTaken)
	assert.Equal(e.t, 1, got.SeatsPaid)
	assert.Equal(e.t, beforeT1, e.snapshot([]string{t1.ID}, nil), "the original team is untouched")
	evs := e.drain()
	assert.ElementsMatch(e.t, []string{groupbuy.TopicSeatReserved, groupbuy.TopicSeatPaid, groupbuy.TopicLatePaymentHandled}, topics(evs))
	if h := withTopic(evs, groupbuy.TopicLatePaymentHandled); assert.Len(e.t, h, 1) {
		p := payload[groupbuy.LatePaymentHandledPayload](e, h[0])
		assert.Equal(e.t, groupbuy.LateActionJoined, p.Action)
		assert.Equal(e.t, t2.ID, p.NewTeamID)
		assert.Equal(e.t, out.Seat.ID, p.NewSeatID)
	}
	assert.Len(e.t, e.userSeats("bob"), 2)

	again, err := e.svc.ConfirmPayment(e.ctx, req)
	require.NoError(e.t, err)
	assert.Equal(e.t, out.Seat.ID, again.Seat.ID, "a replay returns the first result")
	e.expectNoEvents("replayed late payment")
}

func testLateJoinOtherOpens(e *env) {
	c := e.campaign(latePolicy(groupbuy.LateJoinOther))
	t1, seat := e.releasedSeat(c)
	out, err := e.svc.ConfirmPayment(e.ctx, payReq(seat))
	require.NoError(e.t, err)
	require.NotNil(e.t, out.Late)
	assert.Equal(e.t, groupbuy.LateActionOpened, out.Late.Action, "no other open team: a new one")
	assert.NotEqual(e.t, t1.ID, out.Team.ID)
	assert.Equal(e.t, "bob", out.Team.LeaderID)
	assert.Equal(e.t, 1, out.Team.SeatsPaid)
	assert.True(e.t, out.Seat.Leader)
	assert.Equal(e.t, groupbuy.SeatPaid, e.seat(out.Seat.ID).State)
}

func testLateOpenNew(e *env) {
	c := e.campaign(latePolicy(groupbuy.LateOpenNew))
	t1, seat := e.releasedSeat(c)
	e.open(c, "carol") // an open team that open_new does not use
	e.drain()
	req := payReq(seat)
	out, err := e.svc.ConfirmPayment(e.ctx, req)
	require.NoError(e.t, err)
	require.NotNil(e.t, out.Late)
	assert.Equal(e.t, groupbuy.LateActionOpened, out.Late.Action)
	assert.NotEqual(e.t, t1.ID, out.Team.ID)
	got := e.team(out.Team.ID)
	assert.Equal(e.t, tv(out.Team), tv(got))
	assert.Equal(e.t, "bob", got.LeaderID)
	assert.Equal(e.t, groupbuy.TeamForming, got.State)
	assert.Equal(e.t, 1, got.SeatsTaken)
	assert.Equal(e.t, 1, got.SeatsPaid)
	st := e.seat(out.Seat.ID)
	assert.True(e.t, st.Leader)
	assert.Equal(e.t, groupbuy.SeatPaid, st.State)
	assert.Equal(e.t, req.PaymentRef, st.PaymentRef)
	evs := e.drain()
	assert.ElementsMatch(e.t, []string{groupbuy.TopicTeamOpened, groupbuy.TopicSeatReserved, groupbuy.TopicSeatPaid, groupbuy.TopicLatePaymentHandled}, topics(evs))
	assert.Empty(e.t, withTopic(evs, groupbuy.TopicRefundRequested))
}

func testLateDoublePayment(e *env) {
	c := e.campaign(latePolicy(groupbuy.LateJoinOther))
	r := e.open(c, "alice")
	e.pay(r.Seat)
	e.drain()
	before := e.snapshot([]string{r.Team.ID}, []string{"alice"})
	req := payReq(r.Seat)
	req.PaymentRef = "second-payment"
	out, err := e.svc.ConfirmPayment(e.ctx, req)
	require.NoError(e.t, err)
	require.NotNil(e.t, out.Late)
	key := groupbuy.LateRefundKey(r.Team.ID, r.Seat.ID, "second-payment")
	assert.Equal(e.t, groupbuy.LateActionRefund, out.Late.Action, "a paid seat cannot take a second payment")
	assert.Equal(e.t, key, out.Late.RefundKey, "the second payment is refunded under a key of its own")
	assert.Equal(e.t, before, e.snapshot([]string{r.Team.ID}, []string{"alice"}))
	e.assertLateRefund(e.drain(), req, r.Seat, key)
}

// testLateCampaignStopped: a late payment that its campaign refuses to
// place (paused: it takes no new seats) is refunded under a key of its own,
// not returned as an error that the host would retry forever; once the
// campaign resumes, the retried callback gets the same refund and places
// nothing.
func testLateCampaignStopped(e *env) {
	for _, policy := range []groupbuy.LatePaymentPolicy{groupbuy.LateOpenNew, groupbuy.LateJoinOther} {
		c := e.campaign(latePolicy(policy))
		team, seat := e.releasedSeat(c)
		e.open(c, "carol") // an open team join_other could take
		_, err := e.svc.SetCampaignStatus(e.ctx, c.ID, groupbuy.CampaignPaused)
		require.NoError(e.t, err)
		e.drain()
		before := e.snapshot([]string{team.ID}, []string{"alice", "bob", "carol"})
		req := payReq(seat)
		out, err := e.svc.ConfirmPayment(e.ctx, req)
		require.NoError(e.t, err, "%s: a payment the paused campaign will not place is refunded", policy)
		require.NotNil(e.t, out.Late, policy)
		key := groupbuy.LateRefundKey(team.ID, seat.ID, req.PaymentRef)
		assert.Equal(e.t, groupbuy.LateActionRefund, out.Late.Action, policy)
		assert.Equal(e.t, key, out.Late.RefundKey, policy)
		assert.Equal(e.t, before, e.snapshot([]string{team.ID}, []string{"alice", "bob", "carol"}), "%s: nothing placed", policy)
		e.assertLateRefund(e.drain(), req, seat, key)

		_, err = e.svc.SetCampaignStatus(e.ctx, c.ID, groupbuy.CampaignActive)
		require.NoError(e.t, err)
		e.drain()
		again, err := e.svc.ConfirmPayment(e.ctx, req)
		require.NoError(e.t, err, policy)
		require.NotNil(e.t, again.Late, policy)
		assert.Equal(e.t, *out.Late, *again.Late, "%s: a replay returns the refund", policy)
		assert.Equal(e.t, before, e.snapshot([]string{team.ID}, []string{"alice", "bob", "carol"}), "%s: a replay places nothing", policy)
		e.expectNoEvents(string(policy) + ": replayed refund")
	}
}

// testLateLegacyPlacement: before late placements were keyed by the lapsed
// seat (scope "groupbuy.late", key the seat's ID), they were keyed by the
// payment reference. A payment whose placement an older version recorded
// so, and whose own payment of the placed seat then failed with a
// retryable error, is retried after the upgrade: it must pay the seat
// placed for it, not place the buyer a second time. The older version's
// state is written through the Store: the placed seat (a join or an open)
// and its record under the payment reference.
func testLateLegacyPlacement(e *env) {
	for _, policy := range []groupbuy.LatePaymentPolicy{groupbuy.LateJoinOther, groupbuy.LateOpenNew} {
		c := e.campaign(latePolicy(policy))
		_, seat := e.releasedSeat(c)
		req := payReq(seat)

		// The payment's fingerprint, as the Service records it: that of a
		// probe payment of the same seat and amount (the reference is no
		// part of it), refunded while the campaign is paused.
		_, err := e.svc.SetCampaignStatus(e.ctx, c.ID, groupbuy.CampaignPaused)
		require.NoError(e.t, err)
		probe := req
		probe.PaymentRef = "probe-" + seat.ID
		_, err = e.svc.ConfirmPayment(e.ctx, probe)
		require.NoError(e.t, err, policy)
		probeRec, err := e.gb.GetIdempotency(e.ctx, "groupbuy.pay", probe.PaymentRef)
		require.NoError(e.t, err, policy)
		_, err = e.svc.SetCampaignStatus(e.ctx, c.ID, groupbuy.CampaignActive)
		require.NoError(e.t, err)

		// The older version's placement: a seat of bob's and its record
		// under the payment reference; then its payment failed.
		var placed groupbuy.SeatResult
		action := groupbuy.LateActionOpened
		if policy == groupbuy.LateJoinOther {
			action = groupbuy.LateActionJoined
			placed = e.join(c, e.open(c, "carol").Team.ID, "bob")
		} else {
			placed = e.open(c, "bob")
		}
		result, err := json.Marshal(struct {
			TeamID string `json:"team_id"`
			SeatID string `json:"seat_id"`
			Opened bool   `json:"opened,omitempty"`
		}{placed.Seat.TeamID, placed.Seat.ID, placed.Opened})
		require.NoError(e.t, err)
		require.NoError(e.t, e.gb.RecordOutcome(e.ctx, &groupbuy.IdempotencyRecord{
			Scope: "groupbuy.late", Key: req.PaymentRef, Fingerprint: probeRec.Fingerprint, Result: result, CreatedAt: e.clock.Now(),
		}, nil))
		e.drain()
		bobSeats := len(e.userSeats("bob"))

		out, err := e.svc.ConfirmPayment(e.ctx, req)
		require.NoError(e.t, err, policy)
		require.NotNil(e.t, out.Late, policy)
		assert.Equal(e.t, action, out.Late.Action, policy)
		assert.Equal(e.t, placed.Seat.ID, out.Seat.ID, "%s: the retry pays the seat placed for it", policy)
		assert.Equal(e.t, groupbuy.SeatPaid, e.seat(placed.Seat.ID).State, policy)
		assert.Equal(e.t, req.PaymentRef, e.seat(placed.Seat.ID).PaymentRef, policy)
		assert.Len(e.t, e.userSeats("bob"), bobSeats, "%s: no second placement", policy)
		evs := e.drain()
		assert.ElementsMatch(e.t, []string{groupbuy.TopicSeatPaid, groupbuy.TopicLatePaymentHandled}, topics(evs), policy)

		again, err := e.svc.ConfirmPayment(e.ctx, req)
		require.NoError(e.t, err, policy)
		assert.Equal(e.t, placed.Seat.ID, again.Seat.ID, "%s: a replay returns the first result", policy)
		e.expectNoEvents(string(policy) + ": replayed late payment")
	}
}
