package storagetest

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// The cases of this file hold promises of groupbuy.Store, storage.Outbox
// and referral.Store that the other cases left unchecked: what the caller
// may keep of a read and what an adapter must not keep of a write, the
// per-user limits' scope, the order of JoinTeam's and PaySeat's
// preconditions checked in the store itself, unique IDs, the sizes every
// store keeps whole, and the referral store's guards.

// scribble overwrites every byte of bs, as a caller reusing its buffers
// does.
func scribble(bs ...[]byte) {
	for _, b := range bs {
		for i := range b {
			b[i] = 'X'
		}
	}
}

// testContractReadsNotShared: reads return plain values the caller may keep
// (storage's package doc): changing a returned campaign's prices, a
// returned record's Result (read or in a *ReplayError), a claimed event's
// Payload or a returned list changes nothing stored.
func testContractReadsNotShared(e *env) {
	c := e.campaign()
	want := cv(c)
	got, err := e.gb.GetCampaign(e.ctx, c.ID)
	require.NoError(e.t, err)
	require.Len(e.t, got.Prices, 2)
	got.Prices[0] = groupbuy.SKUPrice{SKU: "sku-x", Price: decimal.RequireFromString("0.01")}
	got.Prices[1].Price = decimal.RequireFromString("0.02")
	again, err := e.gb.GetCampaign(e.ctx, c.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, want, cv(again), "GetCampaign after changing the prices it returned")
	set, err := e.gb.SetCampaignStatus(e.ctx, c.ID, groupbuy.CampaignActive, groupbuy.CampaignPaused)
	require.NoError(e.t, err)
	require.Len(e.t, set.Prices, 2)
	set.Prices[0] = groupbuy.SKUPrice{SKU: "sku-y", Price: decimal.RequireFromString("0.03")}
	want.Status, want.Version = groupbuy.CampaignPaused, want.Version+1
	again, err = e.gb.GetCampaign(e.ctx, c.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, want, cv(again), "GetCampaign after changing the prices SetCampaignStatus returned")

	rec := &groupbuy.IdempotencyRecord{Scope: "storagetest.reads", Key: "k-1", Fingerprint: "fp", Result: []byte(`{"a":1}`), CreatedAt: start}
	require.NoError(e.t, e.gb.RecordOutcome(e.ctx, rec, nil))
	r1, err := e.gb.GetIdempotency(e.ctx, rec.Scope, rec.Key)
	require.NoError(e.t, err)
	scribble(r1.Result)
	r2, err := e.gb.GetIdempotency(e.ctx, rec.Scope, rec.Key)
	require.NoError(e.t, err)
	assert.JSONEq(e.t, `{"a":1}`, string(r2.Result), "GetIdempotency after changing the Result it returned")
	dup := &groupbuy.IdempotencyRecord{Scope: rec.Scope, Key: rec.Key, Fingerprint: "fp-2", Result: []byte(`{"b":2}`), CreatedAt: start}
	re, ok := asReplay(e.gb.RecordOutcome(e.ctx, dup, nil))
	if assert.True(e.t, ok, "want *groupbuy.ReplayError") {
		assert.JSONEq(e.t, `{"a":1}`, string(re.Record.Result))
		scribble(re.Record.Result)
	}
	r3, err := e.gb.GetIdempotency(e.ctx, rec.Scope, rec.Key)
	require.NoError(e.t, err)
	assert.JSONEq(e.t, `{"a":1}`, string(r3.Result), "GetIdempotency after changing the Result a *ReplayError held")

	// A claimed event's payload, changed by the consumer, comes back as
	// written when the lease runs out.
	e.drain()
	ev := event(e.id("ev"), "storagetest.reads", "st:reads", e.clock.Now())
	e.record(ev)
	claimed := e.claim(10, time.Minute)
	e.assertEvents([]storage.Event{ev}, claimed, 1, "first claim")
	for i := range claimed {
		scribble(claimed[i].Payload)
	}
	e.clock.Advance(2 * time.Minute)
	e.assertEvents([]storage.Event{ev}, e.claim(10, time.Minute), 2, "redelivered after the consumer changed the payload it was handed")

	// Lists are the caller's too.
	_, err = e.gb.SetCampaignStatus(e.ctx, c.ID, groupbuy.CampaignPaused, groupbuy.CampaignActive)
	require.NoError(e.t, err)
	r := e.open(c, "alice")
	e.join(c, r.Team.ID, "bob")
	before := e.snapshot([]string{r.Team.ID}, []string{"alice", "bob"})
	seats := e.seats(r.Team.ID)
	for i := range seats {
		seats[i].State, seats[i].UserID = groupbuy.SeatRefunded, "mallory"
	}
	mine := e.userSeats("alice")
	for i := range mine {
		mine[i].State, mine[i].TeamID = groupbuy.SeatRefunded, "tm-other"
	}
	open, err := e.gb.OpenTeams(e.ctx, c.ID, e.clock.Now(), groupbuy.MatchFullest, 10)
	require.NoError(e.t, err)
	for i := range open {
		open[i].SeatsTaken, open[i].State = 0, groupbuy.TeamFailed
	}
	assert.Equal(e.t, before, e.snapshot([]string{r.Team.ID}, []string{"alice", "bob"}), "lists after the caller changed them")
	again2, err := e.gb.OpenTeams(e.ctx, c.ID, e.clock.Now(), groupbuy.MatchFullest, 10)
	require.NoError(e.t, err)
	assert.Equal(e.t, []string{r.Team.ID}, teamIDs(again2))
	if len(again2) == 1 {
		assert.Equal(e.t, before.Teams[r.Team.ID], tv(again2[0]), "OpenTeams after the caller changed the list it returned")
	}
}

// cloneOpenWrite copies an OpenTeamWrite deeply enough that a change an
// adapter makes to it shows.
func cloneOpenWrite(w *groupbuy.OpenTeamWrite) *groupbuy.OpenTeamWrite {
	c := *w
	c.Events, c.Idem = cloneEvents(w.Events), cloneRecord(w.Idem)
	return &c
}

// cloneCloseWrite copies a CloseTeamWrite's lists, bot seats and events.
func cloneCloseWrite(w *groupbuy.CloseTeamWrite) *groupbuy.CloseTeamWrite {
	c := *w
	c.Release, c.Refund, c.Confirm = slices.Clone(w.Release), slices.Clone(w.Refund), slices.Clone(w.Confirm)
	c.BotSeats, c.Events = slices.Clone(w.BotSeats), cloneEvents(w.Events)
	return &c
}

// testContractWritesNotRetained: every write is lent for the call only (Store's
// doc), not only JoinTeam, PaySeat and MatchTeam's join, which
// Idempotency/WritesNotRetained and Match/HoleFilled hold: CreateCampaign,
// OpenTeam, RecordOutcome, ReleaseSeat, CloseTeam (its seat lists, given
// out of order, and its bot seats), UpdateRefund and MatchTeam's Open leave
// their write as handed, and what they stored reads back as handed after
// the caller scribbled over the write.
func testContractWritesNotRetained(e *env) {
	camp := fullCampaign(e.id("camp"))
	camp.Status = groupbuy.CampaignActive
	wantCamp := cv(camp)
	require.NoError(e.t, e.gb.CreateCampaign(e.ctx, &camp))
	assert.Equal(e.t, wantCamp, cv(camp), "CreateCampaign modified its campaign")
	camp.Prices[0] = groupbuy.SKUPrice{SKU: "sku-x", Price: decimal.RequireFromString("0.05")}
	camp.Prices[2].Price = decimal.RequireFromString("0.06")
	got, err := e.gb.GetCampaign(e.ctx, camp.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, wantCamp, cv(got), "the campaign after its caller changed the prices it handed")
	c, err := e.gb.GetCampaign(e.ctx, camp.ID)
	require.NoError(e.t, err)

	e.drain()
	t0 := e.clock.Now()
	payloads := map[string]string{} // event ID → payload as handed
	lent := func(evs ...storage.Event) []storage.Event {
		for _, ev := range evs {
			payloads[ev.ID] = string(ev.Payload)
		}
		return evs
	}
	records := map[string]string{} // record key → result as handed
	record := func(key, result string) *groupbuy.IdempotencyRecord {
		records[key] = result
		return &groupbuy.IdempotencyRecord{Scope: "storagetest.lent", Key: key, Fingerprint: "fp-" + key, Result: []byte(result), CreatedAt: t0}
	}

	team := groupbuy.Team{ID: "tm-q1", CampaignID: c.ID, LeaderID: "alice", Capacity: c.TeamSize, SeatsTaken: 1,
		State: groupbuy.TeamForming, OpenedAt: t0, ExpiresAt: t0.Add(lifetime), Version: 1}
	leader := craftSeat(c, team.ID, "st-q1l", "alice", t0, team.ExpiresAt)
	leader.Leader = true
	ow := &groupbuy.OpenTeamWrite{Team: team, Leader: leader, Now: t0,
		Events: lent(event(e.id("ev"), "storagetest.opened", "st:open", t0)), Idem: record("k-open", `{"team_id":"tm-q1"}`)}
	handedOpen := cloneOpenWrite(ow)
	require.NoError(e.t, e.gb.OpenTeam(e.ctx, ow))
	assert.Equal(e.t, handedOpen, ow, "OpenTeam modified its write")
	scribble(ow.Events[0].Payload, ow.Idem.Result)

	orec := record("k-outcome", `{"late":"refund"}`)
	oevs := lent(event(e.id("ev"), "storagetest.outcome", "st:outcome", t0))
	handedRec, handedEvs := cloneRecord(orec), cloneEvents(oevs)
	require.NoError(e.t, e.gb.RecordOutcome(e.ctx, orec, oevs))
	assert.Equal(e.t, handedRec, orec, "RecordOutcome modified its record")
	assert.Equal(e.t, handedEvs, oevs, "RecordOutcome modified its events")
	scribble(orec.Result, oevs[0].Payload)

	// Seats: bob, carol and dave paid with the leader, erin and fay
	// reserved, gus's released.
	for _, u := range []string{"bob", "carol", "dave", "erin", "fay", "gus"} {
		e.storeJoin(c, team.ID, "st-q1"+u, u, t0)
	}
	rw := &groupbuy.ReleaseSeatWrite{SeatID: "st-q1gus", UserID: "gus", Now: t0, Events: lent(event(e.id("ev"), "storagetest.released", "st:released", t0))}
	handedRelease := *rw
	handedRelease.Events = cloneEvents(rw.Events)
	_, err = e.gb.ReleaseSeat(e.ctx, rw)
	require.NoError(e.t, err)
	assert.Equal(e.t, &handedRelease, rw, "ReleaseSeat modified its write")
	scribble(rw.Events[0].Payload)
	for _, id := range []string{"st-q1l", "st-q1bob", "st-q1carol", "st-q1dave"} {
		_, err := e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{TeamID: team.ID, SeatID: id, PaymentRef: "ref-" + id, Amount: priceA, Currency: c.Currency, Now: t0})
		require.NoError(e.t, err)
	}
	cw := &groupbuy.CloseTeamWrite{
		TeamID: team.ID, Version: e.team(team.ID).Version, State: groupbuy.TeamCancelled, Now: t0,
		Release: []string{"st-q1fay", "st-q1erin"}, Refund: []string{"st-q1dave", "st-q1l", "st-q1carol", "st-q1bob"},
		Events: lent(event(e.id("ev"), "storagetest.closed", "st:closed", t0)),
	}
	handedClose := cloneCloseWrite(cw)
	require.NoError(e.t, e.gb.CloseTeam(e.ctx, cw))
	assert.Equal(e.t, handedClose, cw, "CloseTeam modified its write (its seat lists are not the adapter's to sort)")
	scribble(cw.Events[0].Payload)

	uw := &groupbuy.RefundWrite{SeatID: "st-q1bob", From: groupbuy.SeatRefundRequested, To: groupbuy.SeatRefundFailed, Attempt: 1, Now: t0,
		Events: lent(event(e.id("ev"), "storagetest.refund_failed", "st:refund_failed", t0))}
	handedRefund := *uw
	handedRefund.Events = cloneEvents(uw.Events)
	_, err = e.gb.UpdateRefund(e.ctx, uw)
	require.NoError(e.t, err)
	assert.Equal(e.t, &handedRefund, uw, "UpdateRefund modified its write")
	scribble(uw.Events[0].Payload)

	// A succeeding close with bot seats, handed out of ID order; the
	// caller reuses the bot seats' slice afterwards.
	e.storeOpen(c, "tm-q2", "st-q2l", "hana", t0, t0.Add(lifetime))
	_, err = e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{TeamID: "tm-q2", SeatID: "st-q2l", PaymentRef: "ref-q2l", Amount: priceA, Currency: c.Currency, Now: t0})
	require.NoError(e.t, err)
	bot := func(id string) groupbuy.Seat {
		return groupbuy.Seat{ID: id, TeamID: "tm-q2", CampaignID: c.ID, Quantity: 1, Currency: c.Currency,
			State: groupbuy.SeatConfirmed, Virtual: true, ReservedAt: t0, ReservedUntil: t0, PaidAt: t0, Version: 1}
	}
	bw := &groupbuy.CloseTeamWrite{
		TeamID: "tm-q2", Version: e.team("tm-q2").Version, State: groupbuy.TeamSucceeded, Now: t0,
		Confirm: []string{"st-q2l"}, VirtualSeats: 2, BotSeats: []groupbuy.Seat{bot("bt-q2z"), bot("bt-q2a")},
	}
	handedBots := cloneCloseWrite(bw)
	require.NoError(e.t, e.gb.CloseTeam(e.ctx, bw))
	assert.Equal(e.t, handedBots, bw, "CloseTeam modified its write")
	for i := range bw.BotSeats {
		bw.BotSeats[i].UserID, bw.BotSeats[i].State, bw.BotSeats[i].Quantity = "mallory", groupbuy.SeatRefunded, 9
	}
	botsNow := e.seats("tm-q2")
	if assert.Len(e.t, botsNow, 3) {
		assert.Equal(e.t, []seatV{sv(bot("bt-q2a")), sv(bot("bt-q2z"))}, svs(botsNow[1:]), "bot seats after the caller reused their slice")
	}

	// MatchTeam opening Open's team: Open's events and record are lent too.
	mw := e.orOpen(c, withIdem(e.matchWrite(c, "st-q3m", "olga", groupbuy.MatchFullest, t0), "k-q3"), "tm-q3", "st-q3l")
	for _, ev := range mw.Open.Events {
		payloads[ev.ID] = string(ev.Payload)
	}
	openRec := string(mw.Open.Idem.Result)
	handedMatch := cloneMatchWrite(mw)
	_, seat, err := e.gb.MatchTeam(e.ctx, mw)
	require.NoError(e.t, err)
	assert.Equal(e.t, handedMatch, mw, "MatchTeam modified its write")
	assert.True(e.t, mw.Opened(&seat), "no team qualifies: Open's team is opened")
	scribble(mw.Idem.Result, mw.Open.Idem.Result)
	for _, ev := range append(slices.Clone(mw.Events), mw.Open.Events...) {
		scribble(ev.Payload)
	}

	evs := e.drain()
	seen := map[string]bool{}
	for _, ev := range evs {
		if p, ok := payloads[ev.ID]; ok {
			seen[ev.ID] = true
			assert.Equal(e.t, p, string(ev.Payload), "payload of %s %s, stored as handed", ev.Topic, ev.ID)
		}
	}
	assert.Len(e.t, seen, len(payloads), "every lent write's events are stored")
	for key, result := range records {
		got, err := e.gb.GetIdempotency(e.ctx, "storagetest.lent", key)
		if assert.NoError(e.t, err, "record %s", key) {
			assert.JSONEq(e.t, result, string(got.Result), "record %s, stored as handed", key)
		}
	}
	got3, err := e.gb.GetIdempotency(e.ctx, matchScope, "k-q3")
	if assert.NoError(e.t, err, "the match's record") {
		assert.JSONEq(e.t, openRec, string(got3.Result), "Open's record, stored as handed")
	}
}

// limitedCampaign is an active campaign of teams of size with both team
// limits at one.
func (e *env) limitedCampaign(size int) groupbuy.Campaign {
	return e.campaign(teamSize(size), func(c *groupbuy.Campaign) {
		c.Limits.MaxTeamsOpenedPerUser, c.Limits.MaxTeamsJoinedPerUser = 1, 1
	})
}

// testContractLimitsPerCampaign: the per-user limits count a user's seats per
// campaign (seats in another campaign never count), count confirmed seats
// as they count reserved and paid ones, and stop counting a seat whose
// refund was requested, also once its refund moves on (refund_failed).
func testContractLimitsPerCampaign(e *env) {
	t0 := e.clock.Now()
	exp := t0.Add(lifetime)
	openW := func(c groupbuy.Campaign, teamID, user string) *groupbuy.OpenTeamWrite {
		t := groupbuy.Team{ID: teamID, CampaignID: c.ID, LeaderID: user, Capacity: c.TeamSize, SeatsTaken: 1,
			State: groupbuy.TeamForming, OpenedAt: t0, ExpiresAt: exp, Version: 1}
		s := craftSeat(c, teamID, e.id("st"), user, t0, exp)
		s.Leader = true
		return &groupbuy.OpenTeamWrite{Team: t, Leader: s, Now: t0, MaxOpened: c.Limits.MaxTeamsOpenedPerUser, Events: e.oneEvent()}
	}
	joinW := func(c groupbuy.Campaign, teamID, user string) *groupbuy.JoinTeamWrite {
		return &groupbuy.JoinTeamWrite{Seat: craftSeat(c, teamID, e.id("st"), user, t0, t0.Add(ttl)), Now: t0,
			MaxJoined: c.Limits.MaxTeamsJoinedPerUser, Events: e.oneEvent()}
	}
	refused := func(teams []string, user, msg string, call func() error) {
		e.t.Helper()
		e.unchanged(teams, []string{user}, msg, func() {
			assert.ErrorIs(e.t, call(), groupbuy.ErrLimitExceeded, msg)
		})
	}

	// In a, ulla leads a team and holds a seat in another: she is at both
	// limits there.
	a := e.limitedCampaign(3)
	e.storeOpen(a, "tm-qa1", e.id("st"), "ulla", t0, exp)
	e.storeOpen(a, "tm-qa2", e.id("st"), "vera", t0, exp)
	e.storeJoin(a, "tm-qa2", e.id("st"), "ulla", t0)
	e.storeOpen(a, "tm-qa3", e.id("st"), "wim", t0, exp)
	refused([]string{"tm-qa4"}, "ulla", "a second team opened in a", func() error { return e.gb.OpenTeam(e.ctx, openW(a, "tm-qa4", "ulla")) })
	refused([]string{"tm-qa3"}, "ulla", "a second team joined in a", func() error { _, _, err := e.gb.JoinTeam(e.ctx, joinW(a, "tm-qa3", "ulla")); return err })
	refused([]string{"tm-qa3"}, "ulla", "a second team matched in a", func() error {
		_, _, err := e.gb.MatchTeam(e.ctx, e.matchWrite(a, e.id("st"), "ulla", groupbuy.MatchFullest, t0))
		return err
	})
	// In b and d her seats in a do not count.
	b := e.limitedCampaign(3)
	require.NoError(e.t, e.gb.OpenTeam(e.ctx, openW(b, "tm-qb1", "ulla")), "ulla opens in b: her team in a does not count")
	e.storeOpen(b, "tm-qb2", e.id("st"), "xena", t0, exp)
	_, _, err := e.gb.JoinTeam(e.ctx, joinW(b, "tm-qb2", "ulla"))
	require.NoError(e.t, err, "ulla joins in b: her seat in a does not count")
	d := e.limitedCampaign(3)
	e.storeOpen(d, "tm-qd1", e.id("st"), "yuri", t0, exp)
	e.expectMatch(e.matchWrite(d, e.id("st"), "ulla", groupbuy.MatchFullest, t0), "tm-qd1", "ulla matches in d: her seats in a and b do not count")

	// Confirmed seats count: in cc, zoe led and vic joined a team that
	// succeeded.
	cc := e.limitedCampaign(2)
	_, lead := e.storeOpen(cc, "tm-qc1", e.id("st"), "zoe", t0, exp)
	_, joined := e.storeJoin(cc, "tm-qc1", e.id("st"), "vic", t0)
	for _, s := range []groupbuy.Seat{lead, joined} {
		_, err := e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{TeamID: s.TeamID, SeatID: s.ID, PaymentRef: "ref-" + s.ID, Amount: s.Amount, Currency: s.Currency, Now: t0})
		require.NoError(e.t, err)
	}
	require.Equal(e.t, []groupbuy.SeatState{groupbuy.SeatConfirmed, groupbuy.SeatConfirmed}, states(e.seats("tm-qc1")))
	e.storeOpen(cc, "tm-qc2", e.id("st"), "abe", t0, exp)
	refused([]string{"tm-qc3"}, "zoe", "zoe's confirmed leader seat counts", func() error { return e.gb.OpenTeam(e.ctx, openW(cc, "tm-qc3", "zoe")) })
	refused([]string{"tm-qc2"}, "vic", "vic's confirmed seat counts (join)", func() error { _, _, err := e.gb.JoinTeam(e.ctx, joinW(cc, "tm-qc2", "vic")); return err })
	refused([]string{"tm-qc2"}, "vic", "vic's confirmed seat counts (match)", func() error {
		_, _, err := e.gb.MatchTeam(e.ctx, e.matchWrite(cc, e.id("st"), "vic", groupbuy.MatchFullest, t0))
		return err
	})

	// A seat whose refund was requested, then failed, does not count.
	rc := e.limitedCampaign(3)
	_, lead = e.storeOpen(rc, "tm-qr1", e.id("st"), "zoe", t0, exp)
	_, joined = e.storeJoin(rc, "tm-qr1", e.id("st"), "vic", t0)
	for _, s := range []groupbuy.Seat{lead, joined} {
		_, err := e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{TeamID: s.TeamID, SeatID: s.ID, PaymentRef: "ref-" + s.ID, Amount: s.Amount, Currency: s.Currency, Now: t0})
		require.NoError(e.t, err)
	}
	require.NoError(e.t, e.gb.CloseTeam(e.ctx, &groupbuy.CloseTeamWrite{TeamID: "tm-qr1", Version: e.team("tm-qr1").Version,
		State: groupbuy.TeamCancelled, Now: t0, Refund: []string{lead.ID, joined.ID}}))
	for _, s := range []groupbuy.Seat{lead, joined} {
		_, err := e.gb.UpdateRefund(e.ctx, &groupbuy.RefundWrite{SeatID: s.ID, From: groupbuy.SeatRefundRequested, To: groupbuy.SeatRefundFailed, Attempt: 1, Now: t0})
		require.NoError(e.t, err)
	}
	require.NoError(e.t, e.gb.OpenTeam(e.ctx, openW(rc, "tm-qr2", "zoe")), "zoe's refund_failed leader seat does not count")
	_, _, err = e.gb.JoinTeam(e.ctx, joinW(rc, "tm-qr2", "vic"))
	require.NoError(e.t, err, "vic's refund_failed seat does not count")
}

// testContractJoinTeamOrder: JoinTeam's preconditions in their order, checked by
// the store itself (Guard/PreconditionOrder goes through the Service, which
// may refuse before the store is asked): the team (ErrNotFound), the
// campaign active (ErrCampaignNotActive), the team forming and not expired
// (ErrTeamClosed), the user not in it (ErrAlreadyJoined), a free seat
// (ErrTeamFull), the user's limit (ErrLimitExceeded).
func testContractJoinTeamOrder(e *env) {
	c := e.campaign(teamSize(2), func(c *groupbuy.Campaign) { c.Limits.MaxTeamsJoinedPerUser = 1 })
	other := e.campaign()
	t0 := e.clock.Now()
	dl := t0.Add(lifetime)
	e.storeOpen(c, "tm-qf", "st-qf", "alice", t0, dl)
	e.storeJoin(c, "tm-qf", "st-qfb", "bob", t0) // tm-qf is full; bob is at his limit
	e.storeOpen(c, "tm-qo", "st-qo", "erin", t0, dl)
	e.storeJoin(c, "tm-qo", "st-qoc", "carol", t0) // carol is at her limit
	write := func(camp groupbuy.Campaign, teamID, user string, now time.Time) *groupbuy.JoinTeamWrite {
		return &groupbuy.JoinTeamWrite{Seat: craftSeat(camp, teamID, e.id("st"), user, now, now.Add(ttl)), Now: now,
			MaxJoined: c.Limits.MaxTeamsJoinedPerUser, Events: e.oneEvent()}
	}
	check := func(w *groupbuy.JoinTeamWrite, want error, msg string) {
		e.t.Helper()
		e.unchanged([]string{"tm-qf", "tm-qo"}, []string{w.Seat.UserID}, msg, func() {
			_, _, err := e.gb.JoinTeam(e.ctx, w)
			assert.ErrorIs(e.t, err, want, msg)
		})
	}
	check(write(c, "tm-qf", "bob", t0), groupbuy.ErrAlreadyJoined, "bob, at his limit, in the full team: already joined before full and the limit")
	check(write(c, "tm-qf", "carol", t0), groupbuy.ErrTeamFull, "carol, at her limit, the team full: full before the limit")
	check(write(c, "tm-qf", "bob", dl), groupbuy.ErrTeamClosed, "bob in the full team at its deadline: closed before already joined")
	check(write(c, "tm-qf", "carol", dl), groupbuy.ErrTeamClosed, "carol at the full team's deadline: closed before full")
	_, err := e.gb.SetCampaignStatus(e.ctx, c.ID, groupbuy.CampaignActive, groupbuy.CampaignPaused)
	require.NoError(e.t, err)
	check(write(c, "tm-qf", "carol", dl), groupbuy.ErrCampaignNotActive, "paused, at the team's deadline: the campaign before the team")
	check(write(c, "tm-qf", "bob", t0), groupbuy.ErrCampaignNotActive, "paused, bob in the team: the campaign before already joined")
	check(write(c, "tm-missing", "carol", t0), groupbuy.ErrNotFound, "an unknown team of a paused campaign: the team first")
	check(write(other, "tm-qf", "carol", t0), groupbuy.ErrNotFound, "a team of the paused campaign named as the other's: the team first")
}

// testContractPaySeatOrder: PaySeat's preconditions in their order, checked by the
// store itself: the seat in TeamID (ErrNotFound) before the amount, the
// amount and currency (ErrAmountMismatch) before the seat's state and
// reservation; and an amount no seat can have (more than 4 decimals,
// beyond the money columns, negative) is ErrAmountMismatch, not bad input.
func testContractPaySeatOrder(e *env) {
	f := e.storeFixture()
	e.storeOpen(f.c, "tm-g", "st-g", "dave", f.t0, f.deadline)
	write := func(teamID, seatID, amount, currency string, now time.Time) *groupbuy.PaySeatWrite {
		return &groupbuy.PaySeatWrite{TeamID: teamID, SeatID: seatID, PaymentRef: e.id("ref"), Amount: decimal.RequireFromString(amount),
			Currency: currency, Now: now, Events: e.oneEvent()}
	}
	check := func(w *groupbuy.PaySeatWrite, want error, msg string) {
		e.t.Helper()
		e.unchanged([]string{f.team.ID, "tm-g"}, []string{"alice", "bob", "dave"}, msg, func() {
			_, err := e.gb.PaySeat(e.ctx, w)
			assert.ErrorIs(e.t, err, want, msg)
			assert.False(e.t, isValidation(err), "%s: not bad input, got %v", msg, err)
		})
	}
	check(write("tm-g", f.bob.ID, "1.00", "CNY", f.t0), groupbuy.ErrNotFound, "a seat of another team, the wrong amount: not found first")
	check(write(f.team.ID, "st-missing", "1.00", "USD", f.t0), groupbuy.ErrNotFound, "an unknown seat, the wrong amount")
	check(write(f.team.ID, f.bob.ID, "19.91", "CNY", f.bob.ReservedUntil), groupbuy.ErrAmountMismatch, "a lapsed reservation, the wrong amount: the amount first")
	check(write(f.team.ID, f.bob.ID, "19.90", "USD", f.deadline), groupbuy.ErrAmountMismatch, "at the team's deadline, the wrong currency: the currency first")
	for _, amount := range []string{"19.90001", "19.9000000001", "100000000000000000", "-19.90", "0"} {
		check(write(f.team.ID, f.bob.ID, amount, "CNY", f.t0), groupbuy.ErrAmountMismatch, "an amount of "+amount)
	}
	// Exponents beyond what decimal parses by default (decimal.New takes
	// any): comparing such an amount with the seat's rescales it by a
	// power of ten as large, hours of work; no seat has such an amount,
	// and the answer comes at once.
	for _, d := range []decimal.Decimal{decimal.New(7, math.MinInt32), decimal.New(7, math.MaxInt32), decimal.New(199, -100_000_000)} {
		amount := strconv.FormatInt(d.CoefficientInt64(), 10) + "E" + strconv.Itoa(int(d.Exponent()))
		w := write(f.team.ID, f.bob.ID, "1", "CNY", f.t0)
		w.Amount = d
		e.unchanged([]string{f.team.ID, "tm-g"}, []string{"alice", "bob", "dave"}, "an amount of "+amount, func() {
			done := make(chan error, 1)
			go func() {
				_, err := e.gb.PaySeat(e.ctx, w)
				done <- err
			}()
			select {
			case err := <-done:
				assert.ErrorIs(e.t, err, groupbuy.ErrAmountMismatch, "an amount of "+amount)
			case <-time.After(10 * time.Second):
				e.t.Fatalf("PaySeat with an amount of %s did not return within 10s", amount)
			}
		})
	}
	_, err := e.gb.PaySeat(e.ctx, write(f.team.ID, f.bob.ID, "19.9000", "CNY", f.t0))
	require.NoError(e.t, err)
	check(write(f.team.ID, f.bob.ID, "19.91", "CNY", f.t0), groupbuy.ErrAmountMismatch, "a paid seat, the wrong amount: the amount first")
	team := e.team(f.team.ID)
	require.NoError(e.t, e.gb.CloseTeam(e.ctx, &groupbuy.CloseTeamWrite{TeamID: f.team.ID, Version: team.Version,
		State: groupbuy.TeamCancelled, Now: f.t0, Refund: []string{f.bob.ID}}))
	check(write(f.team.ID, f.leader.ID, "5.05", "CNY", f.t0), groupbuy.ErrAmountMismatch, "a reserved seat of a cancelled team, the wrong amount: the amount first")
}

// testContractDueLimits: DueReservations and DueTeams take a limit of
// 1..MaxProcessDue; above it is bad input, at it is fine.
func testContractDueLimits(e *env) {
	f := e.inputFixture()
	now := e.clock.Now()
	e.expectValidation(f, []badCall{
		{"DueReservations above MaxProcessDue", func() error {
			_, err := e.gb.DueReservations(e.ctx, now, groupbuy.MaxProcessDue+1)
			return err
		}},
		{"DueTeams above MaxProcessDue", func() error {
			_, err := e.gb.DueTeams(e.ctx, now, groupbuy.MaxProcessDue+1)
			return err
		}},
	})
	later := f.team.ExpiresAt
	seats, err := e.gb.DueReservations(e.ctx, later, groupbuy.MaxProcessDue)
	require.NoError(e.t, err)
	assert.Equal(e.t, []string{f.bob.ID}, ids(seats), "at MaxProcessDue")
	teams, err := e.gb.DueTeams(e.ctx, later, groupbuy.MaxProcessDue)
	require.NoError(e.t, err)
	assert.Equal(e.t, []string{f.team.ID}, teamIDs(teams), "at MaxProcessDue")
}

// testContractRefundAndConfirmGuards: CloseTeam refuses a Confirm list naming a
// seat that is not paid (ErrConflict, changing nothing); UpdateRefund
// changes the seat only: no counter, no version of its team, no other
// seat.
func testContractRefundAndConfirmGuards(e *env) {
	f := e.storeFixture()
	_, err := e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{TeamID: f.team.ID, SeatID: f.leader.ID, PaymentRef: "ref-lead", Amount: priceA, Currency: "CNY", Now: f.t0})
	require.NoError(e.t, err)
	team := e.team(f.team.ID)
	for _, confirm := range [][]string{{f.leader.ID, f.bob.ID}, {f.bob.ID}} {
		msg := fmt.Sprintf("Confirm %v: %s is reserved", confirm, f.bob.ID)
		e.unchanged([]string{f.team.ID}, []string{"alice", "bob"}, msg, func() {
			err := e.gb.CloseTeam(e.ctx, &groupbuy.CloseTeamWrite{TeamID: f.team.ID, Version: team.Version, State: groupbuy.TeamSucceeded,
				Now: f.t0, Confirm: confirm, VirtualSeats: 2, Events: e.oneEvent()})
			assert.ErrorIs(e.t, err, storage.ErrConflict, msg)
		})
	}
	require.NoError(e.t, e.gb.CloseTeam(e.ctx, &groupbuy.CloseTeamWrite{TeamID: f.team.ID, Version: team.Version,
		State: groupbuy.TeamCancelled, Now: f.t0, Release: []string{f.bob.ID}, Refund: []string{f.leader.ID}}))
	before := e.snapshot([]string{f.team.ID}, []string{"alice", "bob"})
	assert.Equal(e.t, 1, e.seat(f.leader.ID).RefundAttempt, "a refund the close requested is attempt 1")
	for _, m := range []struct {
		from, to         groupbuy.SeatState
		attempt, becomes int
	}{
		{groupbuy.SeatRefundRequested, groupbuy.SeatRefundFailed, 1, 1},
		{groupbuy.SeatRefundFailed, groupbuy.SeatRefundRequested, 1, 2},
		{groupbuy.SeatRefundRequested, groupbuy.SeatRefunded, 2, 2},
	} {
		out, err := e.gb.UpdateRefund(e.ctx, &groupbuy.RefundWrite{SeatID: f.leader.ID, From: m.from, To: m.to, Attempt: m.attempt, Now: f.t0})
		require.NoError(e.t, err, "%s → %s", m.from, m.to)
		assert.Equal(e.t, m.to, out.State)
		assert.Equal(e.t, m.becomes, out.RefundAttempt, "%s → %s at attempt %d", m.from, m.to, m.attempt)
	}
	after := e.snapshot([]string{f.team.ID}, []string{"alice", "bob"})
	assert.Equal(e.t, before.Teams, after.Teams, "UpdateRefund changes no team: no counter, no version")
	assert.Equal(e.t, before.Users["bob"], after.Users["bob"], "UpdateRefund changes no other seat")
	lead := e.seat(f.leader.ID)
	assert.Equal(e.t, groupbuy.SeatRefunded, lead.State)
	assert.Equal(e.t, e.seatIn(before, f.leader.ID).Version+3, lead.Version, "three moves, three versions")
}

// seatIn finds seat id in a snapshot's team seats.
func (e *env) seatIn(s snapshot, id string) seatV {
	e.t.Helper()
	for _, seats := range s.Seats {
		for _, st := range seats {
			if st.ID == id {
				return st
			}
		}
	}
	e.t.Fatalf("seat %s not in the snapshot", id)
	return seatV{}
}

// testContractDuplicateIDs: a write whose team or seat ID is taken fails with
// storage.ErrConflict ("a unique key already existed", storage's doc) and
// changes nothing: no row, no event, no idempotency record.
func testContractDuplicateIDs(e *env) {
	f := e.storeFixture()
	now := f.t0
	rec := func() *groupbuy.IdempotencyRecord {
		return &groupbuy.IdempotencyRecord{Scope: "storagetest.dup", Key: e.id("k"), Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: now}
	}
	openW := func(teamID, seatID string) *groupbuy.OpenTeamWrite {
		t := groupbuy.Team{ID: teamID, CampaignID: f.c.ID, LeaderID: "carol", Capacity: 4, SeatsTaken: 1, State: groupbuy.TeamForming,
			OpenedAt: now, ExpiresAt: now.Add(lifetime), Version: 1}
		s := craftSeat(f.c, teamID, seatID, "carol", now, t.ExpiresAt)
		s.Leader = true
		return &groupbuy.OpenTeamWrite{Team: t, Leader: s, Now: now, Events: e.oneEvent(), Idem: rec()}
	}
	joinW := func(seatID string) *groupbuy.JoinTeamWrite {
		return &groupbuy.JoinTeamWrite{Seat: craftSeat(f.c, f.team.ID, seatID, "carol", now, now.Add(ttl)), Now: now, Events: e.oneEvent(), Idem: rec()}
	}
	check := func(msg string, key string, call func() error) {
		e.t.Helper()
		e.unchanged([]string{f.team.ID, "tm-qn"}, []string{"alice", "bob", "carol"}, msg, func() {
			assert.ErrorIs(e.t, call(), storage.ErrConflict, msg)
		})
		_, err := e.gb.GetTeam(e.ctx, "tm-qn")
		assert.True(e.t, isNotFound(err), "%s: no team stored, got %v", msg, err)
		_, err = e.gb.GetIdempotency(e.ctx, "storagetest.dup", key)
		assert.True(e.t, isNotFound(err), "%s: no record stored, got %v", msg, err)
	}
	w := openW(f.team.ID, "st-qn")
	check("OpenTeam with a taken team ID", w.Idem.Key, func() error { return e.gb.OpenTeam(e.ctx, w) })
	w2 := openW("tm-qn", f.bob.ID)
	check("OpenTeam with a taken seat ID", w2.Idem.Key, func() error { return e.gb.OpenTeam(e.ctx, w2) })
	j := joinW(f.leader.ID)
	check("JoinTeam with a taken seat ID", j.Idem.Key, func() error { _, _, err := e.gb.JoinTeam(e.ctx, j); return err })
	// The same writes with fresh IDs go through.
	require.NoError(e.t, e.gb.OpenTeam(e.ctx, openW("tm-qn", "st-qn")))
	_, _, err := e.gb.JoinTeam(e.ctx, joinW("st-qj"))
	require.NoError(e.t, err)
}

// testContractInputSizes: the sizes Store's doc names are kept whole at their
// bounds (an adapter never truncates: IDs of MaxIDLength bytes, a payment
// reference of MaxPaymentRefLength, record scope and key, fingerprint,
// event topic and key at theirs, money just below 10^16 with 4 decimals,
// multi-byte text measured in bytes) and refused one beyond, as are the
// rules the Input groups leave out: Now on an open and a match, a
// negative quantity, a capacity of 0, more than MaxWriteBatch events or
// seats in a write.
func testContractInputSizes(e *env) {
	c := e.campaign()
	now := e.clock.Now()
	id := func(prefix string, n int) string { return prefix + strings.Repeat("x", n-len(prefix)) }
	money := decimal.RequireFromString("9999999999999999.9999")
	teamID, seatID, user := id("tm-", groupbuy.MaxIDLength), id("st-", groupbuy.MaxIDLength), id("u-", groupbuy.MaxIDLength)
	sku := strings.Repeat("é", groupbuy.MaxIDLength/2)
	currency := strings.Repeat("C", groupbuy.MaxCurrencyLength)
	team := groupbuy.Team{ID: teamID, CampaignID: c.ID, LeaderID: user, Capacity: 3, SeatsTaken: 1, SeatRows: 1, State: groupbuy.TeamForming,
		OpenedAt: now, ExpiresAt: now.Add(lifetime), Version: 1}
	leader := groupbuy.Seat{ID: seatID, TeamID: teamID, CampaignID: c.ID, UserID: user, SKU: sku, Quantity: groupbuy.MaxQuantity,
		UnitPrice: money, Amount: money, Currency: currency, State: groupbuy.SeatReserved, Leader: true,
		ReservedAt: now, ReservedUntil: now.Add(ttl), Version: 1}
	ev := storage.Event{ID: id("ev-", groupbuy.MaxIDLength), Topic: strings.Repeat("é", groupbuy.MaxEventTopicLength/2),
		Key: strings.Repeat("ü", groupbuy.MaxEventKeyLength/2), Payload: []byte(`{"max":true}`), CreatedAt: now}
	idem := &groupbuy.IdempotencyRecord{Scope: id("s.", groupbuy.MaxRecordScopeLength), Key: id("k-", groupbuy.MaxRecordKeyLength),
		Fingerprint: strings.Repeat("f", groupbuy.MaxFingerprintLength), Result: []byte(`{"team_id":"` + teamID + `"}`), CreatedAt: now}
	e.drain()
	require.NoError(e.t, e.gb.OpenTeam(e.ctx, &groupbuy.OpenTeamWrite{Team: team, Leader: leader, Now: now, Events: []storage.Event{ev}, Idem: idem}),
		"every field at its bound")
	assert.Equal(e.t, tv(team), tv(e.team(teamID)), "the team at its bounds")
	assert.Equal(e.t, sv(leader), sv(e.seat(seatID)), "the seat at its bounds")
	got, err := e.gb.GetIdempotency(e.ctx, idem.Scope, idem.Key)
	if assert.NoError(e.t, err) {
		assertRecord(e, *idem, got)
	}
	if evs := e.drain(); assert.Len(e.t, evs, 1) {
		assert.Equal(e.t, ev.ID, evs[0].ID)
		assert.Equal(e.t, ev.Topic, evs[0].Topic, "the topic at its bound")
		assert.Equal(e.t, ev.Key, evs[0].Key, "the key at its bound")
	}
	ref := id("ref-", groupbuy.MaxPaymentRefLength)
	res, err := e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{TeamID: teamID, SeatID: seatID, PaymentRef: ref, Amount: money, Currency: currency, Now: now})
	require.NoError(e.t, err, "a payment reference at its bound, the largest amount")
	assert.Equal(e.t, ref, res.Seat.PaymentRef)
	assert.Equal(e.t, ref, e.seat(seatID).PaymentRef, "the payment reference at its bound")

	f := e.inputFixture()
	openW := func(mod func(w *groupbuy.OpenTeamWrite)) func() error {
		return func() error {
			t := groupbuy.Team{ID: "tm-qi", CampaignID: f.c.ID, LeaderID: "carol", Capacity: 3, SeatsTaken: 1, State: groupbuy.TeamForming,
				OpenedAt: now, ExpiresAt: now.Add(lifetime), Version: 1}
			s := craftSeat(f.c, t.ID, "st-qi", "carol", now, t.ExpiresAt)
			s.Leader = true
			w := &groupbuy.OpenTeamWrite{Team: t, Leader: s, Now: now, Events: e.oneEvent()}
			mod(w)
			return e.gb.OpenTeam(e.ctx, w)
		}
	}
	joinW := func(mod func(w *groupbuy.JoinTeamWrite)) func() error {
		return func() error {
			w := &groupbuy.JoinTeamWrite{Seat: craftSeat(f.c, f.team.ID, "st-qi", "carol", now, now.Add(ttl)), Now: now, Events: e.oneEvent()}
			mod(w)
			_, _, err := e.gb.JoinTeam(e.ctx, w)
			return err
		}
	}
	outcome := func(mod func(r *groupbuy.IdempotencyRecord, evs []storage.Event) []storage.Event) func() error {
		return func() error {
			r := &groupbuy.IdempotencyRecord{Scope: "storagetest.sizes", Key: "k-1", Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: now}
			evs := mod(r, e.oneEvent())
			return e.gb.RecordOutcome(e.ctx, r, evs)
		}
	}
	closeW := func(mod func(w *groupbuy.CloseTeamWrite)) func() error {
		return func() error {
			w := &groupbuy.CloseTeamWrite{TeamID: f.team.ID, Version: f.team.Version, State: groupbuy.TeamCancelled, Now: now,
				Release: []string{f.bob.ID}, Refund: []string{f.alice.ID}, Events: e.oneEvent()}
			mod(w)
			return e.gb.CloseTeam(e.ctx, w)
		}
	}
	many := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	tooLongID := strings.Repeat("x", groupbuy.MaxIDLength+1)
	e.expectValidation(f, []badCall{
		{"OpenTeam with a team ID over MaxIDLength", openW(func(w *groupbuy.OpenTeamWrite) { w.Team.ID, w.Leader.TeamID = tooLongID, tooLongID })},
		{"OpenTeam with a seat ID over MaxIDLength", openW(func(w *groupbuy.OpenTeamWrite) { w.Leader.ID = tooLongID })},
		{"OpenTeam without Now", openW(func(w *groupbuy.OpenTeamWrite) { w.Now = time.Time{} })},
		{"OpenTeam with a capacity of 0", openW(func(w *groupbuy.OpenTeamWrite) { w.Team.Capacity = 0 })},
		{"OpenTeam with a record key over MaxRecordKeyLength", openW(func(w *groupbuy.OpenTeamWrite) {
			w.Idem = &groupbuy.IdempotencyRecord{Scope: "storagetest.sizes", Key: strings.Repeat("k", groupbuy.MaxRecordKeyLength+1), Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: now}
		})},
		{"JoinTeam with a user ID over MaxIDLength", joinW(func(w *groupbuy.JoinTeamWrite) { w.Seat.UserID = tooLongID })},
		{"JoinTeam with a SKU over MaxIDLength bytes", joinW(func(w *groupbuy.JoinTeamWrite) { w.Seat.SKU = strings.Repeat("é", groupbuy.MaxIDLength/2) + "x" })},
		{"JoinTeam with a currency over MaxCurrencyLength", joinW(func(w *groupbuy.JoinTeamWrite) { w.Seat.Currency = strings.Repeat("C", groupbuy.MaxCurrencyLength+1) })},
		{"JoinTeam with a negative quantity", joinW(func(w *groupbuy.JoinTeamWrite) { w.Seat.Quantity = -1 })},
		{"JoinTeam with an amount of 10^16", joinW(func(w *groupbuy.JoinTeamWrite) { w.Seat.Amount = decimal.New(1, 16) })},
		{"JoinTeam with an amount of -10^16", joinW(func(w *groupbuy.JoinTeamWrite) { w.Seat.Amount = decimal.New(-1, 16) })},
		{"JoinTeam with an event topic over MaxEventTopicLength bytes", joinW(func(w *groupbuy.JoinTeamWrite) {
			w.Events[0].Topic = strings.Repeat("é", groupbuy.MaxEventTopicLength/2) + "x"
		})},
		{"JoinTeam with an event key over MaxEventKeyLength bytes", joinW(func(w *groupbuy.JoinTeamWrite) {
			w.Events[0].Key = strings.Repeat("ü", groupbuy.MaxEventKeyLength/2) + "x"
		})},
		{"JoinTeam with an event ID over MaxIDLength", joinW(func(w *groupbuy.JoinTeamWrite) { w.Events[0].ID = tooLongID })},
		{"JoinTeam with more than MaxWriteBatch events", joinW(func(w *groupbuy.JoinTeamWrite) {
			for len(w.Events) <= groupbuy.MaxWriteBatch {
				w.Events = append(w.Events, event(fmt.Sprintf("ev-qi-%05d", len(w.Events)), "storagetest.many", "k", now))
			}
		})},
		{"MatchTeam without Now", func() error {
			w := e.matchWrite(f.c, "st-qi", "carol", groupbuy.MatchFullest, now)
			w.Now = time.Time{}
			_, _, err := e.gb.MatchTeam(e.ctx, w)
			return err
		}},
		{"PaySeat with a payment reference over MaxPaymentRefLength", func() error {
			_, err := e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{TeamID: f.team.ID, SeatID: f.bob.ID, PaymentRef: strings.Repeat("r", groupbuy.MaxPaymentRefLength+1),
				Amount: f.bob.Amount, Currency: f.bob.Currency, Now: now, Events: e.oneEvent()})
			return err
		}},
		{"RecordOutcome with a scope over MaxRecordScopeLength", outcome(func(r *groupbuy.IdempotencyRecord, evs []storage.Event) []storage.Event {
			r.Scope = strings.Repeat("s", groupbuy.MaxRecordScopeLength+1)
			return evs
		})},
		{"RecordOutcome with a fingerprint over MaxFingerprintLength", outcome(func(r *groupbuy.IdempotencyRecord, evs []storage.Event) []storage.Event {
			r.Fingerprint = strings.Repeat("f", groupbuy.MaxFingerprintLength+1)
			return evs
		})},
		{"RecordOutcome with invalid UTF-8 in the fingerprint", outcome(func(r *groupbuy.IdempotencyRecord, evs []storage.Event) []storage.Event {
			r.Fingerprint = "fp\xff"
			return evs
		})},
		{"CloseTeam with more than MaxWriteBatch seats in a list", closeW(func(w *groupbuy.CloseTeamWrite) {
			w.Release = append(w.Release, many(groupbuy.MaxWriteBatch, func(i int) string { return fmt.Sprintf("st-qi-%05d", i) })...)
		})},
		{"CloseTeam with more than MaxWriteBatch bot seats", closeW(func(w *groupbuy.CloseTeamWrite) {
			w.State, w.Release, w.Refund, w.Confirm, w.VirtualSeats = groupbuy.TeamSucceeded, []string{f.bob.ID}, nil, []string{f.alice.ID}, groupbuy.MaxWriteBatch+1
			w.BotSeats = make([]groupbuy.Seat, groupbuy.MaxWriteBatch+1)
			for i := range w.BotSeats {
				w.BotSeats[i] = groupbuy.Seat{ID: fmt.Sprintf("bt-qi-%05d", i), TeamID: f.team.ID, CampaignID: f.c.ID, Quantity: 1, Currency: f.c.Currency,
					State: groupbuy.SeatConfirmed, Virtual: true, ReservedAt: now, ReservedUntil: now, PaidAt: now, Version: 1}
			}
		})},
	})
}

// testContractRefReadsNotShared: the referral store's reads are the caller's to
// keep (referral.Store's doc), read from the store itself: a programme's
// rates, a snapshot's rates, chain and result, a user's history and codes.
func testContractRefReadsNotShared(e *env) {
	r := e.referral()
	r.line("buyer", "p1", "p2")
	_, err := r.svc.IssueCode(r.ctx, r.prog.ID, "p1", "wechat")
	require.NoError(r.t, err)
	_, err = r.svc.Attribute(r.ctx, r.prog.ID, "order-1", "buyer", r.clock.Now())
	require.NoError(r.t, err)

	p, err := r.ref.GetProgramme(r.ctx, r.prog.ID)
	require.NoError(r.t, err)
	wantRates := slices.Clone(p.LevelRates)
	p.LevelRates[0] = 0.9
	p2, err := r.ref.GetProgramme(r.ctx, r.prog.ID)
	require.NoError(r.t, err)
	assert.Equal(r.t, wantRates, p2.LevelRates, "GetProgramme after changing the rates it returned")

	a, err := r.ref.GetAttribution(r.ctx, r.prog.ID, "order-1")
	require.NoError(r.t, err)
	require.NotEmpty(r.t, a.Result)
	require.NotEmpty(r.t, a.Chain)
	wantA := struct {
		Rates  []float64
		Chain  []referral.Link
		Result []referral.Level
	}{slices.Clone(a.LevelRates), slices.Clone(a.Chain), slices.Clone(a.Result)}
	a.LevelRates[0], a.Chain[0].UserID, a.Result[0].UserID, a.Result[0].Rate = 0.9, "mallory", "mallory", 0.9
	a2, err := r.ref.GetAttribution(r.ctx, r.prog.ID, "order-1")
	require.NoError(r.t, err)
	assert.Equal(r.t, wantA.Rates, a2.LevelRates, "GetAttribution after changing the rates it returned")
	assert.Equal(r.t, wantA.Chain, a2.Chain, "GetAttribution after changing the chain it returned")
	assert.Equal(r.t, wantA.Result, a2.Result, "GetAttribution after changing the result it returned")

	h, err := r.ref.BindingHistory(r.ctx, r.prog.ID, "buyer", 0, referral.MaxListLimit)
	require.NoError(r.t, err)
	require.Len(r.t, h, 1)
	want := h[0]
	h[0].ToReferrer = "mallory"
	h2, err := r.ref.BindingHistory(r.ctx, r.prog.ID, "buyer", 0, referral.MaxListLimit)
	require.NoError(r.t, err)
	assert.Equal(r.t, []referral.BindingChange{want}, h2, "BindingHistory after changing the list it returned")

	codes, err := r.ref.UserCodes(r.ctx, r.prog.ID, "p1", referral.CodePosition{}, referral.MaxListLimit)
	require.NoError(r.t, err)
	require.Len(r.t, codes, 1)
	wantCode := codes[0]
	codes[0].UserID = "mallory"
	codes2, err := r.ref.UserCodes(r.ctx, r.prog.ID, "p1", referral.CodePosition{}, referral.MaxListLimit)
	require.NoError(r.t, err)
	assert.Equal(r.t, []referral.InviteCode{wantCode}, codes2, "UserCodes after changing the list it returned")
}

// testContractRefCodes: an invite code is unique across programmes (ErrCodeTaken
// for another programme's code too); UserCodes lists one programme's codes
// of a user, by CreatedAt then Code; RevokeCode stores the given instant,
// refuses an unknown code (ErrCodeNotFound) and a second revoke
// (ErrCodeRevoked), which keeps the first instant; a programme created now
// holds no ':' in its ID.
func testContractRefCodes(e *env) {
	r := e.referral()
	other := e.referral()
	now := r.clock.Now()
	code := func(prog, user, c string, at time.Time) *referral.InviteCode {
		return &referral.InviteCode{Code: c, ProgrammeID: prog, UserID: user, Channel: "ch", CreatedAt: at}
	}
	require.NoError(r.t, r.ref.CreateCode(r.ctx, code(r.prog.ID, "ann", "QCODEB", now)))
	require.NoError(r.t, r.ref.CreateCode(r.ctx, code(r.prog.ID, "ann", "QCODEA", now)))
	require.NoError(r.t, r.ref.CreateCode(r.ctx, code(r.prog.ID, "ann", "QCODE0", now.Add(time.Second))))
	require.NoError(r.t, r.ref.CreateCode(r.ctx, code(other.prog.ID, "ann", "QCODEZ", now.Add(-time.Second))))
	assert.ErrorIs(r.t, r.ref.CreateCode(r.ctx, code(other.prog.ID, "bea", "QCODEA", now)), referral.ErrCodeTaken, "a code of another programme")
	got, err := r.ref.GetCode(r.ctx, "QCODEA")
	require.NoError(r.t, err)
	assert.Equal(r.t, r.prog.ID, got.ProgrammeID, "the first code is kept")
	assert.Equal(r.t, "ann", got.UserID)
	list, err := r.ref.UserCodes(r.ctx, r.prog.ID, "ann", referral.CodePosition{}, referral.MaxListLimit)
	require.NoError(r.t, err)
	var listed []string
	for _, c := range list {
		listed = append(listed, c.Code)
	}
	assert.Equal(r.t, []string{"QCODEA", "QCODEB", "QCODE0"}, listed, "one programme's codes, by CreatedAt, then Code")

	_, err = r.ref.RevokeCode(r.ctx, "QNOPE", now)
	assert.ErrorIs(r.t, err, referral.ErrCodeNotFound, "revoking an unknown code")
	_, err = r.ref.GetCode(r.ctx, "QNOPE")
	assert.ErrorIs(r.t, err, referral.ErrCodeNotFound, "RevokeCode creates no code")
	at := now.Add(time.Minute)
	rev, err := r.ref.RevokeCode(r.ctx, "QCODEB", at)
	require.NoError(r.t, err)
	assert.Equal(r.t, ts(at), ts(rev.RevokedAt), "RevokeCode returns the instant")
	_, err = r.ref.RevokeCode(r.ctx, "QCODEB", at.Add(time.Hour))
	assert.ErrorIs(r.t, err, referral.ErrCodeRevoked)
	got, err = r.ref.GetCode(r.ctx, "QCODEB")
	require.NoError(r.t, err)
	assert.Equal(r.t, ts(at), ts(got.RevokedAt), "GetCode returns a revoked code, revoked at the first instant")

	colon := r.prog
	colon.ID = "prog:q"
	r.assertValidation(r.ref.CreateProgramme(r.ctx, &colon), "a programme ID holding ':'")
	_, err = r.ref.GetProgramme(r.ctx, colon.ID)
	assert.ErrorIs(r.t, err, referral.ErrNotFound, "nothing stored")
}

// testContractRefDistributorGuards: SetDistributor refuses an unknown programme
// (ErrNotFound) and a stale Version (ErrConflict), changing nothing and
// storing no event; it stores the version as the stored one plus one,
// whatever Next.Version says.
func testContractRefDistributorGuards(e *env) {
	r := e.referral()
	now := r.clock.Now()
	next := func(prog string, state referral.DistributorState, version int64) referral.Distributor {
		return referral.Distributor{ProgrammeID: prog, UserID: "dina", State: state, AppliedAt: now, UpdatedAt: now, Actor: "ops", Version: version}
	}
	ev := func() []storage.Event {
		return []storage.Event{event(r.id("ev"), "storagetest.distributor", "st:dist", now)}
	}
	r.drain()
	_, err := r.ref.SetDistributor(r.ctx, &referral.DistributorWrite{From: referral.DistributorNone, Next: next("prog-missing", referral.DistributorActive, 1), Events: ev()})
	assert.ErrorIs(r.t, err, referral.ErrNotFound, "an unknown programme")
	d, err := r.ref.SetDistributor(r.ctx, &referral.DistributorWrite{From: referral.DistributorNone, Next: next(r.prog.ID, referral.DistributorPending, 42), Events: ev()})
	require.NoError(r.t, err)
	assert.Equal(r.t, int64(1), d.Version, "a new record's version is 1, whatever Next.Version says")
	d, err = r.ref.SetDistributor(r.ctx, &referral.DistributorWrite{From: referral.DistributorPending, Version: 1, Next: next(r.prog.ID, referral.DistributorActive, 7), Events: ev()})
	require.NoError(r.t, err)
	assert.Equal(r.t, int64(2), d.Version, "the stored version plus one")
	assert.Len(r.t, r.drain(), 2, "the writes' events")
	_, err = r.ref.SetDistributor(r.ctx, &referral.DistributorWrite{From: referral.DistributorActive, Version: 1, Next: next(r.prog.ID, referral.DistributorFrozen, 2), Events: ev()})
	assert.ErrorIs(r.t, err, storage.ErrConflict, "the right state, a stale version")
	_, err = r.ref.SetDistributor(r.ctx, &referral.DistributorWrite{From: referral.DistributorActive, Version: 3, Next: next(r.prog.ID, referral.DistributorFrozen, 4), Events: ev()})
	assert.ErrorIs(r.t, err, storage.ErrConflict, "the right state, a version ahead")
	got, err := r.ref.GetDistributor(r.ctx, r.prog.ID, "dina")
	require.NoError(r.t, err)
	assert.Equal(r.t, referral.DistributorActive, got.State, "the refused writes changed nothing")
	assert.Equal(r.t, int64(2), got.Version)
	r.expectNoEvents("refused SetDistributor")
	d, err = r.ref.SetDistributor(r.ctx, &referral.DistributorWrite{From: referral.DistributorActive, Version: 2, Next: next(r.prog.ID, referral.DistributorFrozen, 0)})
	require.NoError(r.t, err)
	assert.Equal(r.t, int64(3), d.Version)
}

// testContractRefBindOrder: Bind's preconditions in their order beyond the pairs
// Referral/StoreBindGuards holds (the programme before self-referral, the
// version before the referrer's state, the referrer's state before the
// cycle), each refusal changing nothing: no binding, no history entry, no
// event.
func testContractRefBindOrder(e *env) {
	r := e.referral()
	r.line("a", "b", "c") // a → b → c
	r.distributor("d")
	_, err := r.svc.Freeze(r.ctx, r.prog.ID, "d", "ops", "x")
	require.NoError(r.t, err)
	_, err = r.svc.Freeze(r.ctx, r.prog.ID, "a", "ops", "x")
	require.NoError(r.t, err)
	users := []string{"a", "b", "c", "d", "q"}
	type state struct {
		Bindings map[string]referral.Binding
		History  map[string][]referral.BindingChange
	}
	read := func() state {
		s := state{map[string]referral.Binding{}, map[string][]referral.BindingChange{}}
		for _, u := range users {
			if b, err := r.ref.GetBinding(r.ctx, r.prog.ID, u); err == nil {
				s.Bindings[u] = b
			}
			h, err := r.ref.BindingHistory(r.ctx, r.prog.ID, u, 0, referral.MaxListLimit)
			require.NoError(r.t, err)
			s.History[u] = h
		}
		return s
	}
	check := func(w *referral.BindWrite, want error, msg string) {
		r.t.Helper()
		w.Events = []storage.Event{event(r.id("ev"), "storagetest.bound", "st:bound", r.clock.Now())}
		r.drain()
		before := read()
		_, err := r.ref.Bind(r.ctx, w)
		assert.ErrorIs(r.t, err, want, msg)
		assert.Equal(r.t, before, read(), "%s: a refused bind changes nothing", msg)
		r.expectNoEvents(msg)
	}
	w := r.bindWrite("q", "q", 0, true)
	w.Binding.ProgrammeID, w.Change.ProgrammeID = "prog-missing", "prog-missing"
	check(w, referral.ErrNotFound, "an unknown programme, a self-referral: the programme first")
	check(r.bindWrite("a", "d", 0, true), referral.ErrAlreadyBound, "a is bound, d frozen: already bound first")
	check(r.bindWrite("a", "d", 5, true), storage.ErrConflict, "a stale version, d frozen: the version first")
	check(r.bindWrite("c", "a", 0, true), referral.ErrNotDistributor, "c → a would close a cycle, a frozen: the referrer's state first")
	check(r.bindWrite("c", "a", 0, false), referral.ErrCycle, "c → a would close a cycle")
	check(r.bindWrite("q", "d", 0, true), referral.ErrNotDistributor, "d frozen")
}

// testContractPayOnFill: a filling PaySeat whose write sets OnFill and no
// FillEventID (a host's own Service, or a caller of the store) calls
// OnFill once, with the team and all its seats in their final states in
// TeamSeats order, and stores what it returns with the payment's events; a
// payment that fills nothing stores none of OnFill's events.
func testContractPayOnFill(e *env) {
	c := e.campaign(teamSize(3))
	t0 := e.clock.Now()
	e.storeOpen(c, "tm-qp", "st-qp0", "alice", t0, t0.Add(lifetime))
	e.storeJoin(c, "tm-qp", "st-qp2", "bob", t0.Add(time.Second))
	e.storeJoin(c, "tm-qp", "st-qp1", "carol", t0.Add(time.Second))
	e.drain()
	calls := 0
	var gotTeam groupbuy.Team
	var gotSeats []groupbuy.Seat
	onFill := func(team *groupbuy.Team, seats []groupbuy.Seat) []storage.Event {
		calls++
		gotTeam, gotSeats = *team, slices.Clone(seats)
		return []storage.Event{
			event(e.id("ev"), "storagetest.filled", "st:filled:"+team.ID, t0),
			event(e.id("ev"), "storagetest.filled_too", "st:filled_too:"+team.ID, t0),
		}
	}
	pay := func(seatID string, now time.Time) groupbuy.PaySeatResult {
		e.t.Helper()
		res, err := e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{TeamID: "tm-qp", SeatID: seatID, PaymentRef: "ref-" + seatID, Amount: priceA,
			Currency: c.Currency, Now: now, Events: []storage.Event{event(e.id("ev"), "storagetest.paid", "st:paid:"+seatID, now)}, OnFill: onFill})
		require.NoError(e.t, err, "pay %s", seatID)
		return res
	}
	for _, id := range []string{"st-qp1", "st-qp0"} {
		res := pay(id, t0.Add(time.Minute))
		assert.False(e.t, res.Filled, "paying %s fills nothing", id)
	}
	assert.Equal(e.t, []string{"storagetest.paid", "storagetest.paid"}, topics(e.drain()), "no OnFill event before the team fills")
	now := t0.Add(2 * time.Minute)
	res := pay("st-qp2", now)
	require.True(e.t, res.Filled, "the last payment fills the team")
	assert.True(e.t, calls >= 1, "OnFill is called for the filling payment")
	team := e.team("tm-qp")
	assert.Equal(e.t, tv(team), tv(res.Team), "PaySeat returns the team as stored")
	assert.Equal(e.t, groupbuy.TeamSucceeded, team.State)
	assert.Equal(e.t, ts(now), ts(team.ClosedAt))
	assert.Equal(e.t, tv(team), tv(gotTeam), "OnFill sees the team in its final state")
	seats := e.seats("tm-qp")
	assert.Equal(e.t, []string{"st-qp0", "st-qp1", "st-qp2"}, ids(seats), "TeamSeats order")
	assert.Equal(e.t, svs(seats), svs(gotSeats), "OnFill sees every seat in its final state, in TeamSeats order")
	evs := e.drain()
	assert.ElementsMatch(e.t, []string{"storagetest.paid", "storagetest.filled", "storagetest.filled_too"}, topics(evs), "the payment's and OnFill's events")
	for _, k := range []string{"st:filled:tm-qp", "st:filled_too:tm-qp"} {
		assert.Len(e.t, withKey(evs, k), 1, "OnFill's event %s, once", k)
	}
}

// testContractCampaignStates: the campaign guards checked by the store itself
// at their edges: OpenTeam takes a team at the window's start (Now equal
// to StartsAt), refuses one in a draft or ended campaign
// (ErrCampaignNotActive), as JoinTeam does; JoinTeam checks the
// campaign's status but not its window (OpenTeam's precondition only), so
// a join after EndsAt into a team still forming before its deadline goes
// through. ReleaseSeat refuses a paid seat (ErrSeatNotReserved).
func testContractCampaignStates(e *env) {
	t0 := e.clock.Now()
	c := e.campaign(func(c *groupbuy.Campaign) { c.StartsAt, c.EndsAt = t0.Add(time.Hour), t0.Add(3*time.Hour) })
	openW := func(camp groupbuy.Campaign, teamID, user string, now time.Time) *groupbuy.OpenTeamWrite {
		t := groupbuy.Team{ID: teamID, CampaignID: camp.ID, LeaderID: user, Capacity: camp.TeamSize, SeatsTaken: 1, State: groupbuy.TeamForming,
			OpenedAt: now, ExpiresAt: now.Add(lifetime), Version: 1}
		s := craftSeat(camp, teamID, e.id("st"), user, now, t.ExpiresAt)
		s.Leader = true
		return &groupbuy.OpenTeamWrite{Team: t, Leader: s, Now: now, Events: e.oneEvent()}
	}
	joinW := func(camp groupbuy.Campaign, teamID, user string, now time.Time) *groupbuy.JoinTeamWrite {
		return &groupbuy.JoinTeamWrite{Seat: craftSeat(camp, teamID, e.id("st"), user, now, now.Add(ttl)), Now: now, Events: e.oneEvent()}
	}
	require.NoError(e.t, e.gb.OpenTeam(e.ctx, openW(c, "tm-qs", "alice", c.StartsAt)), "OpenTeam at the window's start")
	// The team runs a lifetime past the campaign's end (the store keeps
	// ExpiresAt as given): a join after EndsAt, the campaign still
	// active, goes through.
	_, seat, err := e.gb.JoinTeam(e.ctx, joinW(c, "tm-qs", "bob", c.EndsAt.Add(time.Minute)))
	require.NoError(e.t, err, "JoinTeam after the campaign's window, the campaign active and the team forming")
	_, err = e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{TeamID: "tm-qs", SeatID: seat.ID, PaymentRef: "ref-qs", Amount: seat.Amount, Currency: seat.Currency, Now: c.EndsAt.Add(time.Minute)})
	require.NoError(e.t, err)
	e.unchanged([]string{"tm-qs"}, []string{"bob"}, "release a paid seat", func() {
		_, err := e.gb.ReleaseSeat(e.ctx, &groupbuy.ReleaseSeatWrite{SeatID: seat.ID, Now: c.EndsAt, Events: e.oneEvent()})
		assert.ErrorIs(e.t, err, groupbuy.ErrSeatNotReserved, "release a paid seat")
	})
	for _, tc := range []struct {
		from, to groupbuy.CampaignStatus
	}{{groupbuy.CampaignActive, groupbuy.CampaignPaused}, {groupbuy.CampaignPaused, groupbuy.CampaignEnded}} {
		_, err := e.gb.SetCampaignStatus(e.ctx, c.ID, tc.from, tc.to)
		require.NoError(e.t, err)
		msg := string(tc.to)
		e.unchanged([]string{"tm-qs", "tm-qs2"}, []string{"carol"}, msg, func() {
			assert.ErrorIs(e.t, e.gb.OpenTeam(e.ctx, openW(c, "tm-qs2", "carol", c.StartsAt.Add(time.Minute))), groupbuy.ErrCampaignNotActive, "OpenTeam, "+msg)
			_, _, err := e.gb.JoinTeam(e.ctx, joinW(c, "tm-qs", "carol", c.StartsAt.Add(time.Minute)))
			assert.ErrorIs(e.t, err, groupbuy.ErrCampaignNotActive, "JoinTeam, "+msg)
		})
	}
	draft := e.campaign(func(c *groupbuy.Campaign) { c.Status = groupbuy.CampaignDraft })
	e.unchanged([]string{"tm-qd"}, []string{"carol"}, "draft", func() {
		assert.ErrorIs(e.t, e.gb.OpenTeam(e.ctx, openW(draft, "tm-qd", "carol", t0)), groupbuy.ErrCampaignNotActive, "OpenTeam, draft")
	})
}
