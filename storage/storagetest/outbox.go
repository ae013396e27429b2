package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// recordSequence stores n events, one write each, one second apart; their
// IDs do not sort in creation order.
func (e *env) recordSequence(n int) []storage.Event {
	e.t.Helper()
	var out []storage.Event
	for i := range n {
		ev := storage.Event{
			ID:        fmt.Sprintf("ev-%02d", (i*7+3)%n),
			Topic:     fmt.Sprintf("storagetest.topic_%d", i),
			Key:       fmt.Sprintf("st:key:%d", i),
			Payload:   []byte(fmt.Sprintf(`{"n": %d, "text": "héllo \"%d\""}`, i, i)),
			CreatedAt: e.clock.Now(),
		}
		e.record(ev)
		out = append(out, ev)
		e.clock.Advance(time.Second)
	}
	return out
}

func (e *env) claim(limit int, lease time.Duration) []storage.Event {
	e.t.Helper()
	evs, err := e.ob.Claim(e.ctx, limit, lease)
	require.NoError(e.t, err, "Claim(%d, %s)", limit, lease)
	return evs
}

// assertEvents checks claimed events against the written ones, field by
// field, with the Attempts expected.
func (e *env) assertEvents(want, got []storage.Event, attempts int, msg string) {
	e.t.Helper()
	if !assert.Equal(e.t, eventIDs(want), eventIDs(got), "%s: IDs, oldest first", msg) {
		return
	}
	for i := range want {
		w, g := want[i], got[i]
		assert.Equal(e.t, w.Topic, g.Topic, "%s: Topic of %s", msg, w.ID)
		assert.Equal(e.t, w.Key, g.Key, "%s: Key of %s", msg, w.ID)
		assert.JSONEq(e.t, string(w.Payload), string(g.Payload), "%s: Payload of %s", msg, w.ID)
		assert.Equal(e.t, ts(w.CreatedAt), ts(g.CreatedAt), "%s: CreatedAt of %s", msg, w.ID)
		assert.Equal(e.t, attempts, g.Attempts, "%s: Attempts of %s", msg, w.ID)
	}
}

func testOutboxOrder(e *env) {
	evs := e.recordSequence(5)
	e.assertEvents(evs[:1], e.claim(1, time.Minute), 1, "limit 1")
	e.assertEvents(evs[1:3], e.claim(2, time.Minute), 1, "second claim")
	e.assertEvents(evs[3:5], e.claim(2, time.Minute), 1, "third claim")
	assert.Empty(e.t, e.claim(2, time.Minute), "all leased")

	// Several events of one write come back in the order written.
	now := e.clock.Now()
	batch := []storage.Event{event("b-3", "storagetest.b", "st:b3", now), event("b-1", "storagetest.b", "st:b1", now), event("b-2", "storagetest.b", "st:b2", now)}
	e.record(batch...)
	e.assertEvents(batch, e.claim(10, time.Minute), 1, "one write")
}

func testOutboxLease(e *env) {
	evs := e.recordSequence(3)
	e.assertEvents(evs, e.claim(10, 30*time.Second), 1, "first claim")
	assert.Empty(e.t, e.claim(10, 30*time.Second), "leased events are not handed out again")
	e.clock.Advance(29 * time.Second)
	assert.Empty(e.t, e.claim(10, 30*time.Second), "not before the lease ends")
	e.clock.Advance(2 * time.Second)
	e.assertEvents(evs, e.claim(10, 30*time.Second), 2, "after the lease")
	assert.Empty(e.t, e.claim(10, 30*time.Second), "leased again")
	e.clock.Advance(31 * time.Second)
	e.assertEvents(evs[:1], e.claim(1, time.Minute), 3, "limit on redelivery")
	e.assertEvents(evs[1:], e.claim(10, 5*time.Second), 3, "the rest")
	// Each event keeps its own lease: evs[1:] were leased for 5s.
	e.clock.Advance(6 * time.Second)
	e.assertEvents(evs[1:], e.claim(10, time.Minute), 4, "short lease ran out")
}

// testOutboxLeaseInstant: a lease of d taken at t has run out at t+d
// exactly, so a Claim at that instant hands the event out again (the SQL
// stores claim where lease_until <= now).
func testOutboxLeaseInstant(e *env) {
	evs := e.recordSequence(2)
	e.assertEvents(evs, e.claim(10, 30*time.Second), 1, "first claim")
	e.clock.Advance(30*time.Second - time.Microsecond)
	assert.Empty(e.t, e.claim(10, 30*time.Second), "a microsecond before the lease ends")
	e.clock.Advance(time.Microsecond)
	e.assertEvents(evs, e.claim(10, 30*time.Second), 2, "at the instant the lease ends")
}

// testOutboxAckRetried: an Ack retried after other events were acked and
// claimed since (a relay that lost the answer to its Ack and sends it
// again) acks no other event: the one not acked keeps coming back.
func testOutboxAckRetried(e *env) {
	evs := e.recordSequence(4)
	e.assertEvents(evs, e.claim(10, 30*time.Second), 1, "claim")
	require.NoError(e.t, e.ob.Ack(e.ctx, eventIDs(evs[:3])))
	e.clock.Advance(31 * time.Second)
	e.assertEvents(evs[3:], e.claim(10, 30*time.Second), 2, "the event not acked returns")
	require.NoError(e.t, e.ob.Ack(e.ctx, eventIDs(evs[:3])), "the Ack is retried")
	e.clock.Advance(31 * time.Second)
	e.assertEvents(evs[3:], e.claim(10, 30*time.Second), 3, "a retried Ack acks no other event")
}

func testOutboxAck(e *env) {
	evs := e.recordSequence(4)
	e.assertEvents(evs[:3], e.claim(3, 30*time.Second), 1, "claim")
	require.NoError(e.t, e.ob.Ack(e.ctx, []string{evs[1].ID}))
	require.NoError(e.t, e.ob.Ack(e.ctx, []string{evs[1].ID}), "an Ack can be retried")
	require.NoError(e.t, e.ob.Ack(e.ctx, []string{"ev-unknown", "other-unknown"}), "unknown IDs are ignored")
	require.NoError(e.t, e.ob.Ack(e.ctx, nil), "nothing to ack")
	require.NoError(e.t, e.ob.Ack(e.ctx, []string{}), "nothing to ack")
	// An event acked before it was ever claimed is gone too.
	require.NoError(e.t, e.ob.Ack(e.ctx, []string{evs[3].ID}))
	e.clock.Advance(31 * time.Second)
	got := e.claim(10, 30*time.Second)
	e.assertEvents([]storage.Event{evs[0], evs[2]}, got, 2, "un-acked events return after the lease")
	require.NoError(e.t, e.ob.Ack(e.ctx, eventIDs(got)))
	e.clock.Advance(time.Hour)
	assert.Empty(e.t, e.claim(10, 30*time.Second), "acked events never return")
}

func testOutboxBadArgs(e *env) {
	evs := e.recordSequence(2)
	for _, tc := range []struct {
		limit int
		lease time.Duration
	}{
		{0, time.Minute}, {-1, time.Minute}, {storage.MaxClaim + 1, time.Minute},
		{1, 0}, {1, -time.Second},
	} {
		got, err := e.ob.Claim(e.ctx, tc.limit, tc.lease)
		e.assertValidation(err, fmt.Sprintf("Claim(%d, %s)", tc.limit, tc.lease))
		assert.Empty(e.t, got)
	}
	e.assertValidation(e.ob.Ack(e.ctx, []string{evs[0].ID, ""}), "Ack with an empty ID")
	tooMany := make([]string, storage.MaxClaim+1)
	for i := range tooMany {
		tooMany[i] = evs[0].ID
	}
	e.assertValidation(e.ob.Ack(e.ctx, tooMany), "Ack of more than MaxClaim IDs")
	e.assertEvents(evs, e.claim(storage.MaxClaim, time.Minute), 1, "bad calls claimed and acked nothing")
}

func testOutboxConcurrentClaim(e *env) {
	const writes, perWrite, claimers = 4, 30, 4
	var want []string
	for w := range writes {
		var batch []storage.Event
		for i := range perWrite {
			id := fmt.Sprintf("cc-%d-%02d", w, i)
			batch = append(batch, event(id, "storagetest.concurrent", "st:"+id, e.clock.Now()))
			want = append(want, id)
		}
		e.record(batch...)
		e.clock.Advance(time.Millisecond)
	}
	var (
		wg    sync.WaitGroup
		ready = make(chan struct{})
		got   [claimers][]storage.Event
		errs  [claimers]error
	)
	for c := range claimers {
		wg.Go(func() {
			<-ready
			for range writes * perWrite {
				evs, err := e.ob.Claim(e.ctx, 7, time.Hour)
				if err != nil {
					errs[c] = err
					return
				}
				if len(evs) == 0 {
					return
				}
				got[c] = append(got[c], evs...)
			}
		})
	}
	close(ready)
	wg.Wait()
	var all []string
	for c := range claimers {
		assert.NoError(e.t, errs[c], "claimer %d", c)
		for _, ev := range got[c] {
			all = append(all, ev.ID)
			assert.Equal(e.t, 1, ev.Attempts, "event %s", ev.ID)
		}
	}
	slices.Sort(all)
	assert.Equal(e.t, sortedCopy(want), all, "every event handed to exactly one claimer within its lease")
	assert.Empty(e.t, e.claim(10, time.Hour))
}

// testOutboxDuplicateIDs: a write whose events share an ID is bad input,
// refused with a *storage.ValidationError before anything is written, by
// every store alike. Ack takes IDs, so two live events with one ID could
// not be acked apart (the SQL stores' unique key on the ID refused such a
// write only after their retries, as a conflict; the memory store kept
// both events).
func testOutboxDuplicateIDs(e *env) {
	now := e.clock.Now()
	rec := &groupbuy.IdempotencyRecord{Scope: "storagetest.outbox", Key: e.id("dup"), Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: now}
	evs := []storage.Event{event("dup-1", "storagetest.dup", "st:d1", now), event("dup-2", "storagetest.dup", "st:d2", now), event("dup-1", "storagetest.dup", "st:d3", now)}
	e.assertValidation(e.gb.RecordOutcome(e.ctx, rec, evs), "RecordOutcome with two events of one ID")
	_, err := e.gb.GetIdempotency(e.ctx, rec.Scope, rec.Key)
	assert.True(e.t, isNotFound(err), "the refused write stored no record: %v", err)
	assert.Empty(e.t, e.claim(10, time.Minute), "the refused write stored no event")
}

// testOutboxEventIDInUse: a write whose event has the ID of an event not
// acked yet is refused with storage.ErrConflict and changes nothing (no
// row, no record, no event), on every write that stores events, as the SQL
// stores' unique key on the outbox's ID refuses it: kept, Ack of the ID
// would ack one of the two and a consumer deduping on ID would drop the
// other. Acked, the ID is free again.
func testOutboxEventIDInUse(e *env) {
	f := e.storeFixture() // alice leads tm-f, bob joined; capacity 4
	now := f.t0
	// A team of 2 whose leader paid: the payment of its second seat fills it.
	c2 := e.campaign(teamSize(2))
	e.storeOpen(c2, "tm-in2", "st-in2-lead", "dave", now, f.deadline)
	_, erin := e.storeJoin(c2, "tm-in2", "st-in2-erin", "erin", now)
	_, err := e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{TeamID: "tm-in2", SeatID: "st-in2-lead", PaymentRef: e.id("ref"),
		Amount: priceA, Currency: c2.Currency, Now: now})
	require.NoError(e.t, err)
	// A paid seat of a cancelled team, whose refund is requested.
	e.storeOpen(c2, "tm-in3", "st-in3-lead", "dave", now, f.deadline)
	_, err = e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{TeamID: "tm-in3", SeatID: "st-in3-lead", PaymentRef: e.id("ref"),
		Amount: priceA, Currency: c2.Currency, Now: now})
	require.NoError(e.t, err)
	require.NoError(e.t, e.gb.CloseTeam(e.ctx, &groupbuy.CloseTeamWrite{TeamID: "tm-in3", Version: e.team("tm-in3").Version,
		State: groupbuy.TeamCancelled, Now: now, Refund: []string{"st-in3-lead"}}))
	e.drain()
	e.record(event("ev-taken", "storagetest.taken", "st:taken", now))

	taken := func() []storage.Event {
		return []storage.Event{event("ev-taken", "storagetest.must_not_exist", "st:none", now)}
	}
	rec := func() *groupbuy.IdempotencyRecord {
		return &groupbuy.IdempotencyRecord{Scope: "storagetest.inuse", Key: e.id("k"), Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: now}
	}
	teams := []string{f.team.ID, "tm-in", "tm-in2", "tm-in3"}
	people := []string{"alice", "bob", "carol", "dave", "erin"}
	check := func(msg string, idem *groupbuy.IdempotencyRecord, call func() error) {
		e.t.Helper()
		before := e.snapshot(teams, people)
		assert.ErrorIs(e.t, call(), storage.ErrConflict, msg)
		assert.Equal(e.t, before, e.snapshot(teams, people), "%s: a refused write changes nothing", msg)
		if idem != nil {
			_, err := e.gb.GetIdempotency(e.ctx, idem.Scope, idem.Key)
			assert.True(e.t, isNotFound(err), "%s: no record stored, got %v", msg, err)
		}
	}
	openW := func() *groupbuy.OpenTeamWrite {
		t := groupbuy.Team{ID: "tm-in", CampaignID: f.c.ID, LeaderID: "carol", Capacity: 4, SeatsTaken: 1, State: groupbuy.TeamForming,
			OpenedAt: now, ExpiresAt: f.deadline, Version: 1}
		s := craftSeat(f.c, "tm-in", "st-in", "carol", now, t.ExpiresAt)
		s.Leader = true
		return &groupbuy.OpenTeamWrite{Team: t, Leader: s, Now: now, Events: taken(), Idem: rec()}
	}
	joinW := func() *groupbuy.JoinTeamWrite {
		return &groupbuy.JoinTeamWrite{Seat: craftSeat(f.c, f.team.ID, "st-in", "carol", now, f.deadline), Now: now, Events: taken(), Idem: rec()}
	}
	ow := openW()
	check("OpenTeam", ow.Idem, func() error { return e.gb.OpenTeam(e.ctx, ow) })
	jw := joinW()
	check("JoinTeam", jw.Idem, func() error { _, _, err := e.gb.JoinTeam(e.ctx, jw); return err })
	mw := &groupbuy.MatchTeamWrite{JoinTeamWrite: *joinW(), Order: groupbuy.MatchOldest}
	mw.Seat.TeamID = ""
	check("MatchTeam joining", mw.Idem, func() error { _, _, err := e.gb.MatchTeam(e.ctx, mw); return err })
	mo := &groupbuy.MatchTeamWrite{JoinTeamWrite: *joinW(), Order: groupbuy.MatchOldest, Exclude: f.team.ID, Open: openW()}
	mo.Events, mo.Seat.TeamID, mo.Idem = nil, "", mo.Open.Idem
	check("MatchTeam opening", mo.Open.Idem, func() error { _, _, err := e.gb.MatchTeam(e.ctx, mo); return err })
	pw := &groupbuy.PaySeatWrite{TeamID: f.team.ID, SeatID: f.bob.ID, PaymentRef: e.id("ref"), Amount: priceA, Currency: f.c.Currency,
		Now: now, Events: taken(), Idem: rec()}
	check("PaySeat", pw.Idem, func() error { _, err := e.gb.PaySeat(e.ctx, pw); return err })
	rw := &groupbuy.ReleaseSeatWrite{SeatID: f.bob.ID, Now: now, Events: taken()}
	check("ReleaseSeat", nil, func() error { _, err := e.gb.ReleaseSeat(e.ctx, rw); return err })
	cw := &groupbuy.CloseTeamWrite{TeamID: f.team.ID, Version: f.team.Version, State: groupbuy.TeamCancelled, Now: now,
		Release: []string{f.leader.ID, f.bob.ID}, Events: taken()}
	check("CloseTeam", nil, func() error { return e.gb.CloseTeam(e.ctx, cw) })
	uw := &groupbuy.RefundWrite{SeatID: "st-in3-lead", From: groupbuy.SeatRefundRequested, To: groupbuy.SeatRefunded, Attempt: 1,
		Now: now, Events: taken()}
	check("UpdateRefund", nil, func() error { _, err := e.gb.UpdateRefund(e.ctx, uw); return err })
	orec := rec()
	check("RecordOutcome", orec, func() error { return e.gb.RecordOutcome(e.ctx, orec, taken()) })
	// A payment whose OnFill event has the ID is refused whole, or, where
	// the adapter completes the team in a second atomic step (see
	// PaySeatWrite), stands while that step fails and leaves the team
	// forming.
	fill := func(*groupbuy.Team, []groupbuy.Seat) []storage.Event { return taken() }
	fw := &groupbuy.PaySeatWrite{TeamID: "tm-in2", SeatID: erin.ID, PaymentRef: e.id("ref"), Amount: priceA, Currency: c2.Currency,
		Now: now, Events: []storage.Event{event(e.id("ev"), "storagetest.paid", "st:paid", now)}, Idem: rec(), OnFill: fill}
	before := e.snapshot(teams, people)
	_, err = e.gb.PaySeat(e.ctx, fw)
	if errors.Is(err, storage.ErrConflict) {
		assert.Equal(e.t, before, e.snapshot(teams, people), "PaySeat filling, OnFill's event: a refused write changes nothing")
	} else {
		assert.True(e.t, err != nil, "PaySeat filling, OnFill's event: an error")
		assert.Equal(e.t, groupbuy.TeamForming, e.team("tm-in2").State, "PaySeat filling, OnFill's event: the team is not completed")
	}
	evs := e.drain()
	assert.Equal(e.t, 1, len(withTopic(evs, "storagetest.taken")), "the event that took the ID, once")
	assert.Empty(e.t, withTopic(evs, "storagetest.must_not_exist"), "no event of a refused write")

	// Acked, the ID is free again.
	e.record(taken()...)
	assert.Equal(e.t, []string{"storagetest.must_not_exist"}, topics(e.drain()), "an acked event's ID is free again")
}
