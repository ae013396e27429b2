package storagetest

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

func testIdemOpen(e *env) {
	c := e.campaign()
	req := groupbuy.OpenRequest{CampaignID: c.ID, UserID: "alice", SKU: skuA, IdempotencyKey: "k-open"}
	first, err := e.svc.Open(e.ctx, req)
	require.NoError(e.t, err)
	assert.Len(e.t, e.drain(), 2, "team_opened and seat_reserved")

	e.clock.Advance(time.Second)
	second, err := e.svc.Open(e.ctx, req)
	require.NoError(e.t, err)
	assert.True(e.t, second.Opened)
	assert.Equal(e.t, tv(first.Team), tv(second.Team), "a replay returns the first result")
	assert.Equal(e.t, sv(first.Seat), sv(second.Seat))
	e.expectNoEvents("replayed open")
	assert.Len(e.t, e.userSeats("alice"), 1, "one seat")

	// The same key in another command's scope is another command.
	j, err := e.svc.Join(e.ctx, groupbuy.JoinRequest{CampaignID: c.ID, TeamID: first.Team.ID, UserID: "bob", SKU: skuA, IdempotencyKey: "k-open"})
	require.NoError(e.t, err)
	assert.Equal(e.t, "bob", j.Seat.UserID)

	// The replay check comes before every other precondition.
	_, err = e.svc.SetCampaignStatus(e.ctx, c.ID, groupbuy.CampaignPaused)
	require.NoError(e.t, err)
	e.drain()
	third, err := e.svc.Open(e.ctx, req)
	require.NoError(e.t, err, "a replay succeeds while the campaign is paused")
	assert.Equal(e.t, first.Seat.ID, third.Seat.ID)
	e.expectNoEvents("replayed open")
}

func testIdemJoin(e *env) {
	c := e.campaign()
	team := e.open(c, "alice").Team
	req := groupbuy.JoinRequest{CampaignID: c.ID, TeamID: team.ID, UserID: "bob", SKU: skuA, IdempotencyKey: "k-join"}
	first, err := e.svc.Join(e.ctx, req)
	require.NoError(e.t, err)
	e.drain()
	second, err := e.svc.Join(e.ctx, req)
	require.NoError(e.t, err)
	assert.Equal(e.t, sv(first.Seat), sv(second.Seat), "a replay returns the first result")
	assert.Equal(e.t, tv(first.Team), tv(second.Team))
	e.expectNoEvents("replayed join")
	got := e.team(team.ID)
	assert.Equal(e.t, 2, got.SeatsTaken, "one seat")
	assert.Equal(e.t, int64(2), got.Version)
	assert.Len(e.t, e.userSeats("bob"), 1)

	// Still a replay, not ErrTeamFull, once the team is full.
	e.join(c, team.ID, "carol")
	e.drain()
	third, err := e.svc.Join(e.ctx, req)
	require.NoError(e.t, err)
	assert.Equal(e.t, first.Seat.ID, third.Seat.ID)
	assert.Equal(e.t, 3, third.Team.SeatsTaken)
	e.expectNoEvents("replayed join")
}

func testIdemKeyReused(e *env) {
	c := e.campaign()
	r, err := e.svc.Open(e.ctx, groupbuy.OpenRequest{CampaignID: c.ID, UserID: "alice", SKU: skuA, IdempotencyKey: "k1"})
	require.NoError(e.t, err)
	t2 := e.open(c, "carol").Team
	j, err := e.svc.Join(e.ctx, groupbuy.JoinRequest{CampaignID: c.ID, TeamID: r.Team.ID, UserID: "bob", SKU: skuA, IdempotencyKey: "kj"})
	require.NoError(e.t, err)
	e.pay(j.Seat)
	_, err = e.svc.Match(e.ctx, groupbuy.MatchRequest{CampaignID: c.ID, UserID: "erin", SKU: skuA, Strategy: groupbuy.MatchOldest, IdempotencyKey: "km"})
	require.NoError(e.t, err)
	e.unchanged([]string{r.Team.ID, t2.ID}, []string{"alice", "bob", "dave", "erin"}, "key reused", func() {
		_, err := e.svc.Match(e.ctx, groupbuy.MatchRequest{CampaignID: c.ID, UserID: "erin", SKU: skuA, Strategy: groupbuy.MatchFullest, IdempotencyKey: "km"})
		assert.ErrorIs(e.t, err, groupbuy.ErrIdempotencyKeyReused, "match by another strategy")
		for _, req := range []groupbuy.OpenRequest{
			{CampaignID: c.ID, UserID: "alice", SKU: skuB, IdempotencyKey: "k1"},
			{CampaignID: c.ID, UserID: "alice", SKU: skuA, Quantity: 2, IdempotencyKey: "k1"},
			{CampaignID: c.ID, UserID: "dave", SKU: skuA, IdempotencyKey: "k1"},
		} {
			_, err := e.svc.Open(e.ctx, req)
			assert.ErrorIs(e.t, err, groupbuy.ErrIdempotencyKeyReused, "open %+v", req)
		}
		_, err = e.svc.Join(e.ctx, groupbuy.JoinRequest{CampaignID: c.ID, TeamID: t2.ID, UserID: "bob", SKU: skuA, IdempotencyKey: "kj"})
		assert.ErrorIs(e.t, err, groupbuy.ErrIdempotencyKeyReused, "join another team")
		// A payment reference reused for another seat.
		req := payReq(r.Seat)
		req.PaymentRef = "pay-" + j.Seat.ID
		_, err = e.svc.ConfirmPayment(e.ctx, req)
		assert.ErrorIs(e.t, err, groupbuy.ErrIdempotencyKeyReused, "payment reference reused")
	})
}

func testIdemPaySequential(e *env) {
	c := e.campaign()
	r := e.open(c, "alice")
	bob := e.join(c, r.Team.ID, "bob")
	e.drain()
	req := payReq(bob.Seat)
	var first groupbuy.PaymentResult
	for i := range 10 {
		out, err := e.svc.ConfirmPayment(e.ctx, req)
		require.NoError(e.t, err, "callback %d", i)
		assert.Nil(e.t, out.Late, "callback %d", i)
		if i == 0 {
			first = out
		}
		assert.Equal(e.t, sv(first.Seat), sv(out.Seat), "callback %d returns the first result", i)
		e.clock.Advance(time.Second)
	}
	evs := e.drain()
	assert.Len(e.t, withTopic(evs, groupbuy.TopicSeatPaid), 1, "exactly one seat_paid")
	assert.Len(e.t, evs, 1)
	team := e.team(r.Team.ID)
	assert.Equal(e.t, 1, team.SeatsPaid, "SeatsPaid incremented once")
	assert.Equal(e.t, int64(3), team.Version, "open, join, one payment: the version is bumped once")
	assert.Equal(e.t, int64(2), e.seat(bob.Seat.ID).Version)
}

func testIdemPayConcurrent(e *env) {
	c := e.campaign(teamSize(2))
	r := e.open(c, "alice")
	e.pay(r.Seat)
	bob := e.join(c, r.Team.ID, "bob")
	e.drain()
	req := payReq(bob.Seat)
	const n = 10
	var (
		wg    sync.WaitGroup
		ready = make(chan struct{})
		outs  [n]groupbuy.PaymentResult
		errs  [n]error
	)
	for i := range n {
		wg.Go(func() {
			<-ready
			outs[i], errs[i] = e.svc.ConfirmPayment(e.ctx, req)
		})
	}
	close(ready)
	wg.Wait()
	filled := 0
	for i := range n {
		if !assert.NoError(e.t, errs[i], "callback %d", i) {
			continue
		}
		assert.Nil(e.t, outs[i].Late, "callback %d", i)
		assert.Equal(e.t, bob.Seat.ID, outs[i].Seat.ID, "callback %d", i)
		if outs[i].Filled {
			filled++
		}
	}
	assert.GreaterOrEqual(e.t, filled, 1, "the first payment filled the team")
	evs := e.drain()
	assert.Len(e.t, withKey(evs, seatKey(bob.Seat, "paid")), 1, "exactly one seat_paid")
	assert.Len(e.t, withTopic(evs, groupbuy.TopicTeamSucceeded), 1, "exactly one team_succeeded")
	assert.Len(e.t, evs, 2)
	team := e.team(r.Team.ID)
	assert.Equal(e.t, 2, team.SeatsPaid, "SeatsPaid incremented once")
	assert.Equal(e.t, groupbuy.TeamSucceeded, team.State)
	assert.Equal(e.t, int64(4), team.Version)
	for _, s := range e.seats(r.Team.ID) {
		assert.Equal(e.t, groupbuy.SeatConfirmed, s.State)
	}
}

// testIdemConcurrentFirst: the first request under a key sent
// many times at once, as a client's retries racing each other, with no
// record yet to find: an Open (no team row to lock, so only the record's
// key can tell the racers apart) and a Match (whose racers may pick
// different teams). Exactly one of them writes; the others get its result
// as a replay, and the user ends up with one seat.
func testIdemConcurrentFirst(e *env) {
	const n = 10
	race := func(f func() (groupbuy.SeatResult, error)) (outs [n]groupbuy.SeatResult) {
		var (
			wg    sync.WaitGroup
			ready = make(chan struct{})
			errs  [n]error
		)
		for i := range n {
			wg.Go(func() {
				<-ready
				outs[i], errs[i] = f()
			})
		}
		close(ready)
		wg.Wait()
		for i := range n {
			require.NoError(e.t, errs[i], "request %d", i)
		}
		return outs
	}
	c := e.campaign(teamSize(4))
	opens := race(func() (groupbuy.SeatResult, error) {
		return e.svc.Open(e.ctx, groupbuy.OpenRequest{CampaignID: c.ID, UserID: "alice", SKU: skuA, IdempotencyKey: "k-open-race"})
	})
	for i, o := range opens {
		assert.Equal(e.t, opens[0].Team.ID, o.Team.ID, "open %d: the one team opened", i)
		assert.Equal(e.t, opens[0].Seat.ID, o.Seat.ID, "open %d: the one seat", i)
	}
	assert.Len(e.t, e.userSeats("alice"), 1, "one open under one key")
	assert.Len(e.t, e.drain(), 2, "team_opened and seat_reserved, once")

	// Two teams bob may join.
	for _, u := range []string{"dave", "erin"} {
		e.open(c, u)
	}
	e.drain()
	matches := race(func() (groupbuy.SeatResult, error) {
		return e.svc.Match(e.ctx, groupbuy.MatchRequest{CampaignID: c.ID, UserID: "bob", SKU: skuA, Strategy: groupbuy.MatchFullest, IdempotencyKey: "k-match-race"})
	})
	for i, m := range matches {
		assert.Equal(e.t, matches[0].Seat.ID, m.Seat.ID, "match %d: the one seat", i)
	}
	assert.Len(e.t, e.userSeats("bob"), 1, "one match under one key")
	assert.Len(e.t, withTopic(e.drain(), groupbuy.TopicSeatReserved), 1, "one seat_reserved")
}

// record stores events with a fresh idempotency record.
func (e *env) record(evs ...storage.Event) {
	e.t.Helper()
	rec := &groupbuy.IdempotencyRecord{Scope: "storagetest.outbox", Key: e.id("k"), Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: e.clock.Now()}
	require.NoError(e.t, e.gb.RecordOutcome(e.ctx, rec, evs))
}

func testIdemStoreRecords(e *env) {
	rec := &groupbuy.IdempotencyRecord{
		Scope: "storagetest.scope", Key: "k-1", Fingerprint: "fp-1\x1fpart",
		Result: []byte(`{"team_id":"t-1","seat_id":"s-1","n":1}`), CreatedAt: start.Add(time.Microsecond),
	}
	ev1 := event("ev-1", "storagetest.first", "st:1", start)
	require.NoError(e.t, e.gb.RecordOutcome(e.ctx, rec, []storage.Event{ev1}))
	got, err := e.gb.GetIdempotency(e.ctx, rec.Scope, rec.Key)
	require.NoError(e.t, err)
	assertRecord(e, *rec, got)

	dup := &groupbuy.IdempotencyRecord{Scope: rec.Scope, Key: rec.Key, Fingerprint: "fp-2", Result: []byte(`{"other":true}`), CreatedAt: start.Add(time.Second)}
	ev2 := event("ev-2", "storagetest.second", "st:2", start.Add(time.Second))
	err = e.gb.RecordOutcome(e.ctx, dup, []storage.Event{ev2})
	re, ok := asReplay(err)
	if assert.True(e.t, ok, "want *groupbuy.ReplayError, got %v", err) {
		assertRecord(e, *rec, re.Record)
	}
	got, err = e.gb.GetIdempotency(e.ctx, rec.Scope, rec.Key)
	require.NoError(e.t, err)
	assertRecord(e, *rec, got)

	// Keys are per scope.
	other := &groupbuy.IdempotencyRecord{Scope: "storagetest.other", Key: rec.Key, Fingerprint: "fp-3", Result: []byte(`{}`), CreatedAt: start}
	ev3 := event("ev-3", "storagetest.third", "st:3", start.Add(2*time.Second))
	require.NoError(e.t, e.gb.RecordOutcome(e.ctx, other, []storage.Event{ev3}))
	got, err = e.gb.GetIdempotency(e.ctx, other.Scope, other.Key)
	require.NoError(e.t, err)
	assertRecord(e, *other, got)

	assert.Equal(e.t, []string{"ev-1", "ev-3"}, eventIDs(e.drain()), "the replayed write stored no event")
}

func assertRecord(e *env, want, got groupbuy.IdempotencyRecord) {
	e.t.Helper()
	assert.Equal(e.t, want.Scope, got.Scope)
	assert.Equal(e.t, want.Key, got.Key)
	assert.Equal(e.t, want.Fingerprint, got.Fingerprint)
	assert.JSONEq(e.t, string(want.Result), string(got.Result))
	assert.Equal(e.t, ts(want.CreatedAt), ts(got.CreatedAt))
}

// asReplay unwraps a *groupbuy.ReplayError.
func asReplay(err error) (*groupbuy.ReplayError, bool) {
	return errors.AsType[*groupbuy.ReplayError](err)
}

func testIdemReplayFirst(e *env) {
	c := e.campaign()
	rec := &groupbuy.IdempotencyRecord{Scope: "storagetest.replay", Key: "k", Fingerprint: "fp", Result: []byte(`{"x":1}`), CreatedAt: start}
	require.NoError(e.t, e.gb.RecordOutcome(e.ctx, rec, nil))
	again := func() *groupbuy.IdempotencyRecord {
		r := *rec
		r.Fingerprint = "other"
		return &r
	}
	wantReplay := func(err error, what string) {
		e.t.Helper()
		re, ok := asReplay(err)
		if assert.True(e.t, ok, "%s: want *groupbuy.ReplayError, got %v", what, err) {
			assert.Equal(e.t, "fp", re.Record.Fingerprint, "%s: the stored record", what)
		}
	}
	now := e.clock.Now()
	e.unchanged([]string{"tm-x"}, []string{"alice", "bob"}, "replays", func() {
		seat := craftSeat(c, "tm-x", "st-x", "alice", now, now.Add(time.Hour))
		seat.Leader, seat.CampaignID = true, "camp-missing"
		err := e.gb.OpenTeam(e.ctx, &groupbuy.OpenTeamWrite{
			Team:   groupbuy.Team{ID: "tm-x", CampaignID: "camp-missing", LeaderID: "alice", Capacity: 3, SeatsTaken: 1, State: groupbuy.TeamForming, OpenedAt: now, ExpiresAt: now.Add(time.Hour), Version: 1},
			Leader: seat, Now: now, Events: e.oneEvent(), Idem: again(),
		})
		wantReplay(err, "OpenTeam into an unknown campaign")
		_, _, err = e.gb.JoinTeam(e.ctx, &groupbuy.JoinTeamWrite{
			Seat: craftSeat(c, "tm-missing", "st-y", "bob", now, now.Add(time.Hour)), Now: now, Events: e.oneEvent(), Idem: again(),
		})
		wantReplay(err, "JoinTeam into an unknown team")
		_, err = e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{
			TeamID: "tm-missing", SeatID: "st-missing", PaymentRef: "ref", Amount: priceA, Currency: "CNY", Now: now,
			Events: e.oneEvent(), Idem: again(),
		})
		wantReplay(err, "PaySeat of an unknown seat")
		wantReplay(e.gb.RecordOutcome(e.ctx, again(), e.oneEvent()), "RecordOutcome")
	})
}

// testIdemPayFilledReplay: a replay of the payment that completed a team
// reports the fill too, because the adapter stored FilledResult.
func testIdemPayFilledReplay(e *env) {
	c := e.campaign(teamSize(2))
	r := e.open(c, "alice")
	e.pay(r.Seat)
	bob := e.join(c, r.Team.ID, "bob")
	first, err := e.svc.ConfirmPayment(e.ctx, payReq(bob.Seat))
	require.NoError(e.t, err)
	require.True(e.t, first.Filled, "the last payment fills the team")
	again, err := e.svc.ConfirmPayment(e.ctx, payReq(bob.Seat))
	require.NoError(e.t, err)
	assert.True(e.t, again.Filled, "a replay returns the first result, fill included")
	assert.Equal(e.t, groupbuy.TeamSucceeded, again.Team.State)
	lead, err := e.svc.ConfirmPayment(e.ctx, payReq(r.Seat))
	require.NoError(e.t, err)
	assert.False(e.t, lead.Filled, "the leader's payment did not fill the team")
}

// testWritesNotRetained checks that an adapter leaves a write as handed and
// copies what it keeps of it: the Service reuses a write and its buffers
// for the next command as soon as the call returns, so payloads and results
// scribbled over afterwards must read back as they were handed.
func testWritesNotRetained(e *env) {
	c := e.campaign(teamSize(2))
	t0 := e.clock.Now()
	e.storeOpen(c, "tm-r", "st-r1", "alice", t0, t0.Add(lifetime))
	e.drain()
	scribble := func(bs ...[]byte) {
		for _, b := range bs {
			for i := range b {
				b[i] = 'X'
			}
		}
	}
	joinEv := event("ev-join", "storagetest.joined", "st:join", t0)
	joinRec := &groupbuy.IdempotencyRecord{
		Scope: "storagetest.join", Key: "k-join", Fingerprint: "fp-join", Result: []byte(`{"seat_id":"st-r2"}`), CreatedAt: t0,
	}
	w := &groupbuy.JoinTeamWrite{
		Seat: craftSeat(c, "tm-r", "st-r2", "bob", t0, t0.Add(lifetime)), Now: t0,
		Events: []storage.Event{joinEv}, Idem: joinRec,
	}
	wantJoinRec := *joinRec
	wantJoinRec.Result = slices.Clone(joinRec.Result)
	wantJoin := string(joinEv.Payload)
	handedJoin := cloneJoinWrite(w)
	_, seat, err := e.gb.JoinTeam(e.ctx, w)
	require.NoError(e.t, err)
	assert.Equal(e.t, handedJoin, w, "JoinTeam modified its write")
	scribble(joinEv.Payload, joinRec.Result)

	_, err = e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{
		TeamID: "tm-r", SeatID: "st-r1", PaymentRef: "ref-r1", Amount: seat.Amount, Currency: seat.Currency, Now: t0,
	})
	require.NoError(e.t, err)
	payEv := event("ev-pay", "storagetest.paid", "st:pay", t0)
	payRec := &groupbuy.IdempotencyRecord{
		Scope: "storagetest.pay", Key: "ref-r2", Fingerprint: "fp-pay", Result: []byte(`{"filled":false}`), CreatedAt: t0,
	}
	filled := []byte(`{"filled":true}`)
	wantPay := string(payEv.Payload)
	pw := &groupbuy.PaySeatWrite{
		TeamID: "tm-r", SeatID: seat.ID, PaymentRef: "ref-r2", Amount: seat.Amount, Currency: seat.Currency,
		Now: t0, Events: []storage.Event{payEv}, Idem: payRec, FilledResult: filled,
	}
	handedPay := clonePayWrite(pw)
	res, err := e.gb.PaySeat(e.ctx, pw)
	require.NoError(e.t, err)
	require.True(e.t, res.Filled, "bob's payment fills the team of two")
	assert.Equal(e.t, handedPay, pw, "PaySeat modified its write")
	scribble(payEv.Payload, payRec.Result, filled)

	evs := e.drain()
	if assert.Len(e.t, evs, 2) {
		assert.Equal(e.t, wantJoin, string(evs[0].Payload), "join event payload")
		assert.Equal(e.t, wantPay, string(evs[1].Payload), "pay event payload")
	}
	got, err := e.gb.GetIdempotency(e.ctx, joinRec.Scope, joinRec.Key)
	require.NoError(e.t, err)
	assertRecord(e, wantJoinRec, got)
	got, err = e.gb.GetIdempotency(e.ctx, payRec.Scope, payRec.Key)
	require.NoError(e.t, err)
	assert.JSONEq(e.t, `{"filled":true}`, string(got.Result), "the filling payment keeps FilledResult")
}

// cloneJoinWrite copies w deeply enough that a change an adapter makes to w,
// its events or its record shows as a difference.
func cloneJoinWrite(w *groupbuy.JoinTeamWrite) *groupbuy.JoinTeamWrite {
	c := *w
	c.Events, c.Idem = cloneEvents(w.Events), cloneRecord(w.Idem)
	return &c
}

// clonePayWrite is cloneJoinWrite for a payment without OnFill (a func
// compares unequal to itself).
func clonePayWrite(w *groupbuy.PaySeatWrite) *groupbuy.PaySeatWrite {
	c := *w
	c.Events, c.Idem, c.FilledResult = cloneEvents(w.Events), cloneRecord(w.Idem), slices.Clone(w.FilledResult)
	return &c
}

func cloneEvents(evs []storage.Event) []storage.Event {
	c := slices.Clone(evs)
	for i := range c {
		c[i].Payload = slices.Clone(c[i].Payload)
	}
	return c
}

func cloneRecord(r *groupbuy.IdempotencyRecord) *groupbuy.IdempotencyRecord {
	if r == nil {
		return nil
	}
	c := *r
	c.Result = slices.Clone(r.Result)
	return &c
}
