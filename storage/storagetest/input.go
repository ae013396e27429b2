package storagetest

import (
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// inputFixture is a campaign with a team of alice's (paid) and bob's
// reserved seat, whose state the bad calls must leave alone.
type inputFixture struct {
	c           groupbuy.Campaign
	team        groupbuy.Team
	alice, bob  groupbuy.Seat
	teams, user []string
}

func (e *env) inputFixture() inputFixture {
	e.t.Helper()
	c := e.campaign()
	r := e.open(c, "alice")
	alice := e.pay(r.Seat).Seat
	bob := e.join(c, r.Team.ID, "bob").Seat
	return inputFixture{c: c, team: e.team(r.Team.ID), alice: alice, bob: bob, teams: []string{r.Team.ID}, user: []string{"alice", "bob", "carol"}}
}

// badCall is one call with bad input; it returns the call's error.
type badCall struct {
	name string
	call func() error
}

// expectValidation runs every call, expecting a *storage.ValidationError
// and no change at all.
func (e *env) expectValidation(f inputFixture, calls []badCall) {
	e.t.Helper()
	e.unchanged(f.teams, f.user, "bad input", func() {
		for _, c := range calls {
			e.assertValidation(c.call(), c.name)
		}
	})
	got, err := e.gb.GetCampaign(e.ctx, f.c.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, cv(f.c), cv(got), "the campaign is unchanged")
}

func testInputNil(e *env) {
	f := e.inputFixture()
	e.expectValidation(f, []badCall{
		{"CreateCampaign(nil)", func() error { return e.gb.CreateCampaign(e.ctx, nil) }},
		{"OpenTeam(nil)", func() error { return e.gb.OpenTeam(e.ctx, nil) }},
		{"JoinTeam(nil)", func() error { _, _, err := e.gb.JoinTeam(e.ctx, nil); return err }},
		{"PaySeat(nil)", func() error { _, err := e.gb.PaySeat(e.ctx, nil); return err }},
		{"ReleaseSeat(nil)", func() error { _, err := e.gb.ReleaseSeat(e.ctx, nil); return err }},
		{"CloseTeam(nil)", func() error { return e.gb.CloseTeam(e.ctx, nil) }},
		{"UpdateRefund(nil)", func() error { _, err := e.gb.UpdateRefund(e.ctx, nil); return err }},
		{"RecordOutcome(nil record)", func() error { return e.gb.RecordOutcome(e.ctx, nil, e.oneEvent()) }},
	})
}

func testInputEmptyIDs(e *env) {
	f := e.inputFixture()
	now := e.clock.Now()
	openW := func(teamID, seatID string) *groupbuy.OpenTeamWrite {
		t := groupbuy.Team{ID: teamID, CampaignID: f.c.ID, LeaderID: "carol", Capacity: 3, SeatsTaken: 1, State: groupbuy.TeamForming, OpenedAt: now, ExpiresAt: now.Add(lifetime), Version: 1}
		s := craftSeat(f.c, teamID, seatID, "carol", now, t.ExpiresAt)
		s.Leader = true
		return &groupbuy.OpenTeamWrite{Team: t, Leader: s, Now: now, Events: e.oneEvent()}
	}
	joinW := func(teamID, seatID, user string) *groupbuy.JoinTeamWrite {
		return &groupbuy.JoinTeamWrite{Seat: craftSeat(f.c, teamID, seatID, user, now, now.Add(ttl)), Now: now, Events: e.oneEvent()}
	}
	payW := func(teamID, seatID, ref string) *groupbuy.PaySeatWrite {
		return &groupbuy.PaySeatWrite{TeamID: teamID, SeatID: seatID, PaymentRef: ref, Amount: f.bob.Amount, Currency: f.bob.Currency, Now: now, Events: e.oneEvent()}
	}
	closeW := func(teamID string) *groupbuy.CloseTeamWrite {
		return &groupbuy.CloseTeamWrite{TeamID: teamID, Version: f.team.Version, State: groupbuy.TeamCancelled, Now: now, Release: []string{f.bob.ID}, Refund: []string{f.alice.ID}, Events: e.oneEvent()}
	}
	campaign := fullCampaign("")
	e.expectValidation(f, []badCall{
		{"CreateCampaign with empty ID", func() error { return e.gb.CreateCampaign(e.ctx, &campaign) }},
		{"SetCampaignStatus('')", func() error {
			_, err := e.gb.SetCampaignStatus(e.ctx, "", groupbuy.CampaignActive, groupbuy.CampaignPaused)
			return err
		}},
		{"GetCampaign('')", func() error { _, err := e.gb.GetCampaign(e.ctx, ""); return err }},
		{"GetTeam('')", func() error { _, err := e.gb.GetTeam(e.ctx, ""); return err }},
		{"GetSeat('')", func() error { _, err := e.gb.GetSeat(e.ctx, ""); return err }},
		{"TeamSeats('')", func() error { _, err := e.gb.TeamSeats(e.ctx, ""); return err }},
		{"OpenTeams('')", func() error {
			_, err := e.gb.OpenTeams(e.ctx, "", now, groupbuy.MatchFullest, 10)
			return err
		}},
		{"UserSeats('')", func() error { _, err := e.gb.UserSeats(e.ctx, "", groupbuy.SeatPosition{}, 10); return err }},
		{"UserSeats after a position without a time", func() error {
			_, err := e.gb.UserSeats(e.ctx, "alice", groupbuy.SeatPosition{ID: f.bob.ID}, 10)
			return err
		}},
		{"UserSeats after a position without an ID", func() error {
			_, err := e.gb.UserSeats(e.ctx, "alice", groupbuy.SeatPosition{ReservedAt: now}, 10)
			return err
		}},
		{"UserSeats after a position with a bad ID", func() error {
			_, err := e.gb.UserSeats(e.ctx, "alice", groupbuy.SeatPosition{ReservedAt: now, ID: "s 1"}, 10)
			return err
		}},
		{"UserSeats after a position in year 10000", func() error {
			_, err := e.gb.UserSeats(e.ctx, "alice", groupbuy.SeatPosition{ReservedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), ID: f.bob.ID}, 10)
			return err
		}},
		{"GetIdempotency('', key)", func() error { _, err := e.gb.GetIdempotency(e.ctx, "", "k"); return err }},
		{"GetIdempotency(scope, '')", func() error { _, err := e.gb.GetIdempotency(e.ctx, "groupbuy.join", ""); return err }},
		{"OpenTeam with empty team ID", func() error { return e.gb.OpenTeam(e.ctx, openW("", "st-new")) }},
		{"OpenTeam with empty seat ID", func() error { return e.gb.OpenTeam(e.ctx, openW("tm-new", "")) }},
		{"OpenTeam with the leader seat in another team", func() error {
			w := openW("tm-new", "st-new")
			w.Leader.TeamID = f.team.ID
			return e.gb.OpenTeam(e.ctx, w)
		}},
		{"OpenTeam with the leader seat in another campaign", func() error {
			w := openW("tm-new", "st-new")
			w.Leader.CampaignID = "camp-other"
			return e.gb.OpenTeam(e.ctx, w)
		}},
		{"OpenTeam with the leader seat of another user", func() error {
			w := openW("tm-new", "st-new")
			w.Leader.UserID = "mallory"
			return e.gb.OpenTeam(e.ctx, w)
		}},
		{"JoinTeam with empty seat ID", func() error { _, _, err := e.gb.JoinTeam(e.ctx, joinW(f.team.ID, "", "carol")); return err }},
		{"JoinTeam with empty team ID", func() error { _, _, err := e.gb.JoinTeam(e.ctx, joinW("", "st-new", "carol")); return err }},
		{"JoinTeam with empty user ID", func() error { _, _, err := e.gb.JoinTeam(e.ctx, joinW(f.team.ID, "st-new", "")); return err }},
		{"PaySeat with empty team ID", func() error { _, err := e.gb.PaySeat(e.ctx, payW("", f.bob.ID, "ref")); return err }},
		{"PaySeat with empty seat ID", func() error { _, err := e.gb.PaySeat(e.ctx, payW(f.team.ID, "", "ref")); return err }},
		{"PaySeat with empty payment ref", func() error { _, err := e.gb.PaySeat(e.ctx, payW(f.team.ID, f.bob.ID, "")); return err }},
		// MySQL's PAD SPACE collations would take "ref-1 " for "ref-1": two
		// payments as one. PostgreSQL refuses invalid UTF-8 and NUL.
		{"PaySeat with a trailing space in the payment ref", func() error { _, err := e.gb.PaySeat(e.ctx, payW(f.team.ID, f.bob.ID, "ref-1 ")); return err }},
		{"PaySeat with a space in the payment ref", func() error { _, err := e.gb.PaySeat(e.ctx, payW(f.team.ID, f.bob.ID, "ref 1")); return err }},
		{"PaySeat with a NUL in the payment ref", func() error { _, err := e.gb.PaySeat(e.ctx, payW(f.team.ID, f.bob.ID, "ref\x001")); return err }},
		{"PaySeat with invalid UTF-8 in the payment ref", func() error { _, err := e.gb.PaySeat(e.ctx, payW(f.team.ID, f.bob.ID, "ref\xff1")); return err }},
		{"ReleaseSeat with empty seat ID", func() error {
			_, err := e.gb.ReleaseSeat(e.ctx, &groupbuy.ReleaseSeatWrite{Now: now, Events: e.oneEvent()})
			return err
		}},
		{"CloseTeam with empty team ID", func() error { return e.gb.CloseTeam(e.ctx, closeW("")) }},
		{"UpdateRefund with empty seat ID", func() error {
			_, err := e.gb.UpdateRefund(e.ctx, &groupbuy.RefundWrite{From: groupbuy.SeatReserved, To: groupbuy.SeatReleased, Now: now, Events: e.oneEvent()})
			return err
		}},
	})
	_, err := e.gb.GetCampaign(e.ctx, "")
	assert.False(e.t, isNotFound(err), "an empty ID is bad input, not a missing record")
}

func testInputLimits(e *env) {
	f := e.inputFixture()
	now := e.clock.Now()
	var calls []badCall
	for _, limit := range []int{0, -1} {
		calls = append(calls,
			badCall{"OpenTeams limit", func() error {
				_, err := e.gb.OpenTeams(e.ctx, f.c.ID, now, groupbuy.MatchFullest, limit)
				return err
			}},
			badCall{"UserSeats limit", func() error { _, err := e.gb.UserSeats(e.ctx, "alice", groupbuy.SeatPosition{}, limit); return err }},
			badCall{"DueReservations limit", func() error { _, err := e.gb.DueReservations(e.ctx, now, limit); return err }},
			badCall{"DueTeams limit", func() error { _, err := e.gb.DueTeams(e.ctx, now, limit); return err }},
		)
	}
	calls = append(calls,
		badCall{"OpenTeams limit above MaxListLimit", func() error {
			_, err := e.gb.OpenTeams(e.ctx, f.c.ID, now, groupbuy.MatchFullest, groupbuy.MaxListLimit+1)
			return err
		}},
		badCall{"UserSeats limit above MaxListLimit", func() error {
			_, err := e.gb.UserSeats(e.ctx, "alice", groupbuy.SeatPosition{}, groupbuy.MaxListLimit+1)
			return err
		}},
	)
	e.expectValidation(f, calls)
	// Limits of 1 are fine.
	teams, err := e.gb.OpenTeams(e.ctx, f.c.ID, now, groupbuy.MatchFullest, 1)
	require.NoError(e.t, err)
	assert.Len(e.t, teams, 1)
	seats, err := e.gb.UserSeats(e.ctx, "alice", groupbuy.SeatPosition{}, 1)
	require.NoError(e.t, err)
	assert.Len(e.t, seats, 1)
}

func testInputEnums(e *env) {
	f := e.inputFixture()
	now := e.clock.Now()
	closeW := func(state groupbuy.TeamState, virtual int) *groupbuy.CloseTeamWrite {
		return &groupbuy.CloseTeamWrite{TeamID: f.team.ID, Version: f.team.Version, State: state, Now: now, Release: []string{f.bob.ID}, VirtualSeats: virtual, Events: e.oneEvent()}
	}
	e.expectValidation(f, []badCall{
		{"OpenTeams unknown order", func() error {
			_, err := e.gb.OpenTeams(e.ctx, f.c.ID, now, groupbuy.MatchStrategy("bogus"), 10)
			return err
		}},
		{"SetCampaignStatus unknown to", func() error {
			_, err := e.gb.SetCampaignStatus(e.ctx, f.c.ID, groupbuy.CampaignActive, groupbuy.CampaignStatus("bogus"))
			return err
		}},
		{"SetCampaignStatus unknown from", func() error {
			_, err := e.gb.SetCampaignStatus(e.ctx, f.c.ID, groupbuy.CampaignStatus("bogus"), groupbuy.CampaignPaused)
			return err
		}},
		{"CloseTeam to forming", func() error { return e.gb.CloseTeam(e.ctx, closeW(groupbuy.TeamForming, 0)) }},
		{"CloseTeam to an unknown state", func() error { return e.gb.CloseTeam(e.ctx, closeW("bogus", 0)) }},
		{"CloseTeam with negative virtual seats", func() error { return e.gb.CloseTeam(e.ctx, closeW(groupbuy.TeamSucceeded, -1)) }},
		{"UpdateRefund unknown state", func() error {
			_, err := e.gb.UpdateRefund(e.ctx, &groupbuy.RefundWrite{SeatID: f.bob.ID, From: groupbuy.SeatReserved, To: "bogus", Now: now, Events: e.oneEvent()})
			return err
		}},
		{"UpdateRefund off the refund path", func() error {
			_, err := e.gb.UpdateRefund(e.ctx, &groupbuy.RefundWrite{SeatID: f.bob.ID, From: groupbuy.SeatReserved, To: groupbuy.SeatReleased, Now: now, Events: e.oneEvent()})
			return err
		}},
		{"UpdateRefund illegal move", func() error {
			_, err := e.gb.UpdateRefund(e.ctx, &groupbuy.RefundWrite{SeatID: f.bob.ID, From: groupbuy.SeatRefundRequested, To: groupbuy.SeatPaid, Now: now, Events: e.oneEvent()})
			return err
		}},
		{"UpdateRefund negative attempt", func() error {
			_, err := e.gb.UpdateRefund(e.ctx, &groupbuy.RefundWrite{SeatID: f.bob.ID, From: groupbuy.SeatRefundRequested, To: groupbuy.SeatRefunded, Attempt: -1, Now: now, Events: e.oneEvent()})
			return err
		}},
		{"UpdateRefund attempt out of range", func() error {
			_, err := e.gb.UpdateRefund(e.ctx, &groupbuy.RefundWrite{SeatID: f.bob.ID, From: groupbuy.SeatRefundFailed, To: groupbuy.SeatRefundRequested, Attempt: 1<<31 - 1, Now: now, Events: e.oneEvent()})
			return err
		}},
	})
}

// testInputText: IDs, references and record keys hold no spaces or control
// characters and are valid UTF-8 on every adapter, so that no store merges
// two of them (MySQL's PAD SPACE collations take "k" and "k " for one key)
// or refuses to store one with an error of its own.
func testInputText(e *env) {
	f := e.inputFixture()
	now := e.clock.Now()
	openW := func(mod func(w *groupbuy.OpenTeamWrite)) func() error {
		return func() error {
			t := groupbuy.Team{ID: "tm-new", CampaignID: f.c.ID, LeaderID: "carol", Capacity: 3, SeatsTaken: 1, State: groupbuy.TeamForming, OpenedAt: now, ExpiresAt: now.Add(lifetime), Version: 1}
			s := craftSeat(f.c, t.ID, "st-new", "carol", now, t.ExpiresAt)
			s.Leader = true
			w := &groupbuy.OpenTeamWrite{Team: t, Leader: s, Now: now, Events: e.oneEvent()}
			mod(w)
			return e.gb.OpenTeam(e.ctx, w)
		}
	}
	record := func(scope, key string) *groupbuy.IdempotencyRecord {
		return &groupbuy.IdempotencyRecord{Scope: scope, Key: key, Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: now}
	}
	// The fixture's payment and a record to look up.
	require.NoError(e.t, e.gb.RecordOutcome(e.ctx, record("storagetest.text", "k-1"), nil))
	e.expectValidation(f, []badCall{
		{"OpenTeam with a space in the team ID", openW(func(w *groupbuy.OpenTeamWrite) { w.Team.ID, w.Leader.TeamID = "tm new", "tm new" })},
		{"OpenTeam with invalid UTF-8 in the leader's user ID", openW(func(w *groupbuy.OpenTeamWrite) { w.Team.LeaderID, w.Leader.UserID = "carol\xff", "carol\xff" })},
		{"OpenTeam with a space in the leader seat's payment ref", openW(func(w *groupbuy.OpenTeamWrite) { w.Leader.PaymentRef = "ref 9" })},
		{"OpenTeam with a trailing space in the record key", openW(func(w *groupbuy.OpenTeamWrite) { w.Idem = record("storagetest.text", "k-1 ") })},
		{"RecordOutcome with a trailing space in the key", func() error {
			return e.gb.RecordOutcome(e.ctx, record("storagetest.text", "k-1 "), nil)
		}},
		{"RecordOutcome with a trailing space in the scope", func() error {
			return e.gb.RecordOutcome(e.ctx, record("storagetest.text ", "k-1"), nil)
		}},
		{"GetIdempotency with a trailing space in the key", func() error {
			_, err := e.gb.GetIdempotency(e.ctx, "storagetest.text", "k-1 ")
			return err
		}},
		{"GetIdempotency with a trailing space in the scope", func() error {
			_, err := e.gb.GetIdempotency(e.ctx, "storagetest.text ", "k-1")
			return err
		}},
		// A write with bad IDs is bad input even when its record exists:
		// validation comes before the replay, on every adapter.
		{"PaySeat with an empty team ID and a stored record", func() error {
			_, err := e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{TeamID: "", SeatID: f.bob.ID, PaymentRef: "ref-x", Amount: f.bob.Amount, Currency: f.bob.Currency, Now: now, Events: e.oneEvent(), Idem: record("storagetest.text", "k-1")})
			return err
		}},
		{"PaySeat with a space in the seat ID and a stored record", func() error {
			_, err := e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{TeamID: f.team.ID, SeatID: "st x", PaymentRef: "ref-x", Amount: f.bob.Amount, Currency: f.bob.Currency, Now: now, Events: e.oneEvent(), Idem: record("storagetest.text", "k-1")})
			return err
		}},
		{"JoinTeam with an empty team ID and a stored record", func() error {
			w := &groupbuy.JoinTeamWrite{Seat: craftSeat(f.c, "", "st-new", "carol", now, now.Add(ttl)), Now: now, Events: e.oneEvent(), Idem: record("storagetest.text", "k-1")}
			_, _, err := e.gb.JoinTeam(e.ctx, w)
			return err
		}},
		{"JoinTeam with a space in the campaign ID", func() error {
			st := craftSeat(f.c, f.team.ID, "st-new", "carol", now, now.Add(ttl))
			st.CampaignID = f.c.ID + " "
			_, _, err := e.gb.JoinTeam(e.ctx, &groupbuy.JoinTeamWrite{Seat: st, Now: now, Events: e.oneEvent()})
			return err
		}},
		{"CloseTeam with a space in a bot seat's ID", func() error {
			bot := groupbuy.Seat{ID: "bt 1", TeamID: f.team.ID, CampaignID: f.c.ID, Quantity: 1, Currency: f.c.Currency, State: groupbuy.SeatConfirmed, Virtual: true, ReservedAt: now, ReservedUntil: now, PaidAt: now, Version: 1}
			return e.gb.CloseTeam(e.ctx, &groupbuy.CloseTeamWrite{TeamID: f.team.ID, Version: f.team.Version, State: groupbuy.TeamSucceeded, Now: now, VirtualSeats: 1, BotSeats: []groupbuy.Seat{bot}})
		}},
		{"MatchTeam excluding an ID with a space", func() error {
			w := e.matchWrite(f.c, "st-m", "dave", groupbuy.MatchFullest, now)
			w.Exclude = f.team.ID + " "
			_, _, err := e.gb.MatchTeam(e.ctx, w)
			return err
		}},
	})
	// An Ack of an ID no event can have is an Ack of an unknown ID: ignored.
	e.record(event(e.id("ev"), "storagetest.text", "k", now))
	evs, err := e.ob.Claim(e.ctx, storage.MaxClaim, time.Minute)
	require.NoError(e.t, err)
	require.NotEmpty(e.t, evs)
	last := evs[len(evs)-1]
	require.NoError(e.t, e.ob.Ack(e.ctx, []string{last.ID + " "}))
	e.clock.Advance(2 * time.Minute)
	again, err := e.ob.Claim(e.ctx, storage.MaxClaim, time.Minute)
	require.NoError(e.t, err)
	assert.Contains(e.t, eventIDs(again), last.ID, "Ack(id + \" \") acks nothing")
}

// testInputWrites: what a write carries beside its IDs is held to the same
// rules on every adapter (events, records, currencies, times, seat lists),
// so that the memory store, the reference, refuses what the SQL stores
// would: a NUL or invalid UTF-8 that PostgreSQL refuses, a currency that
// MySQL's PAD SPACE collations would compare equal to the seat's, a seat
// listed twice that would be counted off twice.
func testInputWrites(e *env) {
	f := e.inputFixture()
	now := e.clock.Now()
	withEvent := func(mod func(ev *storage.Event)) []storage.Event {
		evs := e.oneEvent()
		mod(&evs[0])
		return evs
	}
	record := func(fp string) *groupbuy.IdempotencyRecord {
		return &groupbuy.IdempotencyRecord{Scope: "storagetest.writes", Key: "k-1", Fingerprint: fp, Result: []byte(`{}`), CreatedAt: now}
	}
	joinW := func(mod func(w *groupbuy.JoinTeamWrite)) func() error {
		return func() error {
			w := &groupbuy.JoinTeamWrite{Seat: craftSeat(f.c, f.team.ID, "st-new", "carol", now, now.Add(ttl)), Now: now, Events: e.oneEvent()}
			mod(w)
			_, _, err := e.gb.JoinTeam(e.ctx, w)
			return err
		}
	}
	payW := func(mod func(w *groupbuy.PaySeatWrite)) func() error {
		return func() error {
			w := &groupbuy.PaySeatWrite{TeamID: f.team.ID, SeatID: f.bob.ID, PaymentRef: "ref-w", Amount: f.bob.Amount, Currency: f.bob.Currency, Now: now, Events: e.oneEvent()}
			mod(w)
			_, err := e.gb.PaySeat(e.ctx, w)
			return err
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
	e.expectValidation(f, []badCall{
		{"RecordOutcome with an event without ID", func() error {
			return e.gb.RecordOutcome(e.ctx, record("fp"), withEvent(func(ev *storage.Event) { ev.ID = "" }))
		}},
		{"RecordOutcome with an event without topic", func() error {
			return e.gb.RecordOutcome(e.ctx, record("fp"), withEvent(func(ev *storage.Event) { ev.Topic = "" }))
		}},
		{"RecordOutcome with a NUL in an event's topic", func() error {
			return e.gb.RecordOutcome(e.ctx, record("fp"), withEvent(func(ev *storage.Event) { ev.Topic = "t\x00x" }))
		}},
		{"RecordOutcome with invalid UTF-8 in an event's key", func() error {
			return e.gb.RecordOutcome(e.ctx, record("fp"), withEvent(func(ev *storage.Event) { ev.Key = "k\xff" }))
		}},
		{"RecordOutcome with a NUL in the fingerprint", func() error { return e.gb.RecordOutcome(e.ctx, record("a\x00b"), nil) }},
		{"JoinTeam with an event without ID", joinW(func(w *groupbuy.JoinTeamWrite) { w.Events[0].ID = "" })},
		{"JoinTeam with a NUL in the SKU", joinW(func(w *groupbuy.JoinTeamWrite) { w.Seat.SKU = "s\x00" })},
		{"JoinTeam with a space in the currency", joinW(func(w *groupbuy.JoinTeamWrite) { w.Seat.Currency += " " })},
		{"JoinTeam without Now", joinW(func(w *groupbuy.JoinTeamWrite) { w.Now = time.Time{} })},
		{"PaySeat with a trailing space in the currency", payW(func(w *groupbuy.PaySeatWrite) { w.Currency += " " })},
		{"PaySeat with invalid UTF-8 in an event's key", payW(func(w *groupbuy.PaySeatWrite) { w.Events[0].Key = "k\xff" })},
		{"PaySeat without Now", payW(func(w *groupbuy.PaySeatWrite) { w.Now = time.Time{} })},
		{"CloseTeam listing a seat twice", closeW(func(w *groupbuy.CloseTeamWrite) { w.Release = []string{f.bob.ID, f.bob.ID} })},
		{"CloseTeam listing a seat in two lists", closeW(func(w *groupbuy.CloseTeamWrite) { w.Refund = []string{f.alice.ID, f.bob.ID} })},
		{"CloseTeam without Now", closeW(func(w *groupbuy.CloseTeamWrite) { w.Now = time.Time{} })},
		{"CloseTeam with an event without topic", closeW(func(w *groupbuy.CloseTeamWrite) { w.Events[0].Topic = "" })},
		{"ReleaseSeat with a trailing space in the user ID", func() error {
			_, err := e.gb.ReleaseSeat(e.ctx, &groupbuy.ReleaseSeatWrite{SeatID: f.bob.ID, UserID: "bob ", Now: now, Events: e.oneEvent()})
			return err
		}},
		{"JoinTeam with an amount of 5 decimals", joinW(func(w *groupbuy.JoinTeamWrite) { w.Seat.Amount = decimal.RequireFromString("1.00001") })},
		{"JoinTeam with a unit price of 20 digits", joinW(func(w *groupbuy.JoinTeamWrite) {
			w.Seat.UnitPrice = decimal.RequireFromString("1" + strings.Repeat("0", 19))
		})},
		{"MatchTeam with an event key over its size once its hole is filled", func() error {
			w := e.matchWrite(f.c, "st-m", "dave", groupbuy.MatchFullest, now)
			w.Events[0].Key = strings.Repeat("k", groupbuy.MaxEventKeyLength-groupbuy.MaxIDLength+1) + groupbuy.TeamIDHole
			_, _, err := e.gb.MatchTeam(e.ctx, w)
			return err
		}},
		{"CloseTeam with a NUL in a bot seat's user ID", closeW(func(w *groupbuy.CloseTeamWrite) {
			w.State, w.Release, w.Refund, w.Confirm, w.VirtualSeats = groupbuy.TeamSucceeded, []string{f.bob.ID}, nil, []string{f.alice.ID}, 1
			w.BotSeats = []groupbuy.Seat{{ID: "bt-1", TeamID: f.team.ID, CampaignID: f.c.ID, UserID: "bot\x00", Quantity: 1, Currency: f.c.Currency,
				State: groupbuy.SeatConfirmed, Virtual: true, ReservedAt: now, ReservedUntil: now, PaidAt: now, Version: 1}}
		})},
		// Two bot seats of one ID would be two rows of one seat ID on an
		// adapter that checks each against the stored seats only.
		{"CloseTeam with two bot seats of one ID", closeW(func(w *groupbuy.CloseTeamWrite) {
			w.State, w.Release, w.Refund, w.Confirm, w.VirtualSeats = groupbuy.TeamSucceeded, []string{f.bob.ID}, nil, []string{f.alice.ID}, 2
			bot := groupbuy.Seat{ID: "bt-1", TeamID: f.team.ID, CampaignID: f.c.ID, Quantity: 1, Currency: f.c.Currency,
				State: groupbuy.SeatConfirmed, Virtual: true, ReservedAt: now, ReservedUntil: now, PaidAt: now, Version: 1}
			w.BotSeats = []groupbuy.Seat{bot, bot}
		})},
		{"CloseTeam with a bot seat of a listed seat's ID", closeW(func(w *groupbuy.CloseTeamWrite) {
			w.State, w.Release, w.Refund, w.Confirm, w.VirtualSeats = groupbuy.TeamSucceeded, []string{f.bob.ID}, nil, []string{f.alice.ID}, 1
			w.BotSeats = []groupbuy.Seat{{ID: f.bob.ID, TeamID: f.team.ID, CampaignID: f.c.ID, Quantity: 1, Currency: f.c.Currency,
				State: groupbuy.SeatConfirmed, Virtual: true, ReservedAt: now, ReservedUntil: now, PaidAt: now, Version: 1}}
		})},
		// PostgreSQL writes a match's events and its Open's in one
		// statement: together they are bounded as one write's.
		{"MatchTeam with Open and more events than one write carries", func() error {
			w := e.orOpen(f.c, e.matchWrite(f.c, "st-m", "dave", groupbuy.MatchFullest, now), "tm-m", "st-ml")
			half := groupbuy.MaxWriteBatch/2 + 1
			for len(w.Events) < half {
				w.Events = append(w.Events, event(e.id("ev"), "storagetest.many", "k", now))
			}
			for len(w.Open.Events) < half {
				w.Open.Events = append(w.Open.Events, event(e.id("ev"), "storagetest.many", "k", now))
			}
			_, _, err := e.gb.MatchTeam(e.ctx, w)
			return err
		}},
		{"UpdateRefund with an event without ID", func() error {
			_, err := e.gb.UpdateRefund(e.ctx, &groupbuy.RefundWrite{SeatID: f.alice.ID, From: groupbuy.SeatPaid, To: groupbuy.SeatRefundRequested, Now: now,
				Events: withEvent(func(ev *storage.Event) { ev.ID = "" })})
			return err
		}},
	})
}

// testInputRowsAsDocumented: OpenTeam and JoinTeam store their rows as
// OpenTeamWrite.Rows and JoinTeamWrite.Row say, whatever the write says of
// their states.
func testInputRowsAsDocumented(e *env) {
	c := e.campaign()
	now := e.clock.Now()
	team := groupbuy.Team{ID: e.id("tm"), CampaignID: c.ID, LeaderID: "alice", Capacity: 3, SeatsTaken: 7, SeatsPaid: 2, VirtualSeats: 1,
		State: groupbuy.TeamSucceeded, OpenedAt: now, ExpiresAt: now.Add(lifetime), ClosedAt: now, Version: 1}
	leader := craftSeat(c, team.ID, e.id("st"), "alice", now, team.ExpiresAt)
	leader.State, leader.Virtual, leader.PaidAt = groupbuy.SeatPaid, true, now
	require.NoError(e.t, e.gb.OpenTeam(e.ctx, &groupbuy.OpenTeamWrite{Team: team, Leader: leader, Now: now, Events: e.oneEvent()}))
	got := e.team(team.ID)
	assert.Equal(e.t, groupbuy.TeamForming, got.State)
	assert.Equal(e.t, 1, got.SeatsTaken)
	assert.Equal(e.t, 0, got.SeatsPaid)
	assert.Equal(e.t, 0, got.VirtualSeats)
	assert.True(e.t, got.ClosedAt.IsZero(), "ClosedAt")
	ls, err := e.gb.GetSeat(e.ctx, leader.ID)
	require.NoError(e.t, err)
	assert.Equal(e.t, groupbuy.SeatReserved, ls.State)
	assert.True(e.t, ls.Leader && !ls.Virtual && ls.PaidAt.IsZero(), "the leader seat is the leader's, real and unpaid")

	st := craftSeat(c, team.ID, e.id("st"), "bob", now, now.Add(ttl))
	st.State, st.Leader, st.Virtual, st.PaidAt = groupbuy.SeatPaid, true, true, now
	_, joined, err := e.gb.JoinTeam(e.ctx, &groupbuy.JoinTeamWrite{Seat: st, Now: now, Events: e.oneEvent()})
	require.NoError(e.t, err)
	stored, err := e.gb.GetSeat(e.ctx, st.ID)
	require.NoError(e.t, err)
	for _, s := range []groupbuy.Seat{joined, stored} {
		assert.Equal(e.t, groupbuy.SeatReserved, s.State)
		assert.True(e.t, !s.Leader && !s.Virtual && s.PaidAt.IsZero(), "the joined seat is reserved, not a leader, real and unpaid")
	}
	assert.Equal(e.t, 0, e.team(team.ID).SeatsPaid)
}

// testInputCampaignFields: a campaign is stored only when every adapter can
// keep it as given.
func testInputCampaignFields(e *env) {
	f := e.inputFixture()
	var calls []badCall
	for _, c := range []struct {
		name string
		mod  func(c *groupbuy.Campaign)
	}{
		{"a trailing space in the currency", func(c *groupbuy.Campaign) { c.Currency = "CNY " }},
		{"an empty currency", func(c *groupbuy.Campaign) { c.Currency = "" }},
		{"a NUL in the product ref", func(c *groupbuy.Campaign) { c.ProductRef = "spu\x00" }},
		{"an unknown status", func(c *groupbuy.Campaign) { c.Status = "bogus" }},
		{"a price of 5 decimals", func(c *groupbuy.Campaign) { c.Prices[0].Price = decimal.RequireFromString("0.00001") }},
		{"a price of 17 integer digits", func(c *groupbuy.Campaign) { c.Prices[0].Price = decimal.New(1, 16) }},
	} {
		camp := fullCampaign(e.id("camp"))
		c.mod(&camp)
		calls = append(calls, badCall{"CreateCampaign with " + c.name, func() error { return e.gb.CreateCampaign(e.ctx, &camp) }})
	}
	e.expectValidation(f, calls)
}
