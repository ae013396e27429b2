package storagetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// matchScope is the idempotency scope of the suite's MatchTeam writes.
const matchScope = "storagetest.match"

// matchWrite builds a MatchTeamWrite the way the Service does: a reserved
// seat of one unit of sku-a for user without a team, and a seat_reserved
// event whose Key and Payload hold TeamIDHole where the picked team's ID
// goes (raw in the Key, as JSON string content in the Payload).
func (e *env) matchWrite(c groupbuy.Campaign, seatID, user string, order groupbuy.MatchStrategy, now time.Time) *groupbuy.MatchTeamWrite {
	hole := groupbuy.TeamIDHole
	p := `{"team_id":"` + hole + `","seat_id":"` + seatID + `","campaign_id":"` + c.ID +
		`","user_id":"` + user + `","amount":"19.90","currency":"` + c.Currency + `"}`
	return &groupbuy.MatchTeamWrite{
		JoinTeamWrite: groupbuy.JoinTeamWrite{
			Seat: craftSeat(c, "", seatID, user, now, c.EndsAt), Now: now, MaxJoined: c.Limits.MaxTeamsJoinedPerUser,
			Events: []storage.Event{{
				ID: e.id("ev"), Topic: groupbuy.TopicSeatReserved, Key: "gb:" + hole + ":" + seatID + ":reserved",
				Payload: []byte(p), CreatedAt: now,
			}},
		},
		Order: order,
	}
}

// withIdem gives w an idempotency record under matchScope and key whose
// Result is the Service's, {"team_id":"<hole>","seat_id":"<seat>"}.
func withIdem(w *groupbuy.MatchTeamWrite, key string) *groupbuy.MatchTeamWrite {
	w.Idem = &groupbuy.IdempotencyRecord{
		Scope: matchScope, Key: key, Fingerprint: "fp-" + key,
		Result:    []byte(`{"team_id":"` + groupbuy.TeamIDHole + `","seat_id":"` + w.Seat.ID + `"}`),
		CreatedAt: w.Now,
	}
	return w
}

// matchRecord is the record withIdem's write stores once it picked teamID.
func matchRecord(w *groupbuy.MatchTeamWrite, teamID string) groupbuy.IdempotencyRecord {
	r := *w.Idem
	r.Result = mustJSON(map[string]string{"team_id": teamID, "seat_id": w.Seat.ID})
	return r
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// cloneMatchWrite is cloneJoinWrite for a MatchTeamWrite.
func cloneMatchWrite(w *groupbuy.MatchTeamWrite) *groupbuy.MatchTeamWrite {
	c := *w
	c.Events, c.Idem = cloneEvents(w.Events), cloneRecord(w.Idem)
	if w.Open != nil {
		o := *w.Open
		o.Events, o.Idem = cloneEvents(w.Open.Events), cloneRecord(w.Open.Idem)
		c.Open = &o
	}
	return &c
}

// expectMatch runs w, which must join team want, and checks what MatchTeam
// returns against the store: the team as the join left it (one more seat
// taken, one more version, nothing else changed), the seat as stored (the
// write's seat in team want, its reservation clamped to the team's
// deadline), listed in TeamSeats; and that the write was left as handed.
func (e *env) expectMatch(w *groupbuy.MatchTeamWrite, want, msg string) (groupbuy.Team, groupbuy.Seat) {
	e.t.Helper()
	before := e.team(want)
	handed := cloneMatchWrite(w)
	team, seat, err := e.gb.MatchTeam(e.ctx, w)
	require.NoError(e.t, err, "%s: MatchTeam", msg)
	assert.Equal(e.t, handed, w, "%s: MatchTeam modified its write", msg)
	require.Equal(e.t, want, team.ID, "%s: the team picked", msg)
	wantTeam := tv(before)
	wantTeam.SeatsTaken++
	wantTeam.SeatRows++
	wantTeam.Version++
	assert.Equal(e.t, wantTeam, tv(team), "%s: MatchTeam returns the team as the join left it", msg)
	assert.Equal(e.t, tv(team), tv(e.team(want)), "%s: GetTeam after MatchTeam", msg)
	wantSeat := w.Seat
	wantSeat.TeamID = want
	if wantSeat.ReservedUntil.After(before.ExpiresAt) {
		wantSeat.ReservedUntil = before.ExpiresAt
	}
	assert.Equal(e.t, sv(wantSeat), sv(seat), "%s: MatchTeam returns the seat as stored", msg)
	assert.Equal(e.t, sv(seat), sv(e.seat(w.Seat.ID)), "%s: GetSeat after MatchTeam", msg)
	assert.Contains(e.t, ids(e.seats(want)), w.Seat.ID, "%s: TeamSeats lists the new seat", msg)
	return team, seat
}

// noRecord asserts that w stored no idempotency record.
func (e *env) noRecord(w *groupbuy.MatchTeamWrite, msg string) {
	e.t.Helper()
	if w == nil || w.Idem == nil {
		return
	}
	_, err := e.gb.GetIdempotency(e.ctx, w.Idem.Scope, w.Idem.Key)
	assert.True(e.t, isNotFound(err), "%s: a failed MatchTeam stores no idempotency record, got %v", msg, err)
}

// testMatchPicksFirstInOrder: MatchTeam joins the first qualifying team in
// the write's order, MatchFullest by SeatsTaken descending, then ExpiresAt,
// then ID, MatchOldest by OpenedAt, then ID, skipping Exclude; it returns
// the team after the join and the seat as stored (reservation clamped to
// the team's deadline), changes no other team, writes the events with the
// team's ID, and once every team is full fails with ErrTeamFull.
func testMatchPicksFirstInOrder(e *env) {
	c := e.campaign(teamSize(4), func(c *groupbuy.Campaign) { c.ReservationTTL = 90 * time.Minute })
	t0 := e.clock.Now()
	h := time.Hour
	open := func(id string, opened, expires time.Time, taken int) {
		e.storeOpen(c, id, id+"-s0", id+"-u0", opened, expires)
		for i := 1; i < taken; i++ {
			e.storeJoin(c, id, fmt.Sprintf("%s-s%d", id, i), fmt.Sprintf("%s-u%d", id, i), opened)
		}
	}
	// tm-0 would come first in either order and by ID, but its deadline is
	// the matches' now.
	open("tm-0", t0, t0.Add(h), 3)
	open("tm-a", t0.Add(time.Minute), t0.Add(3*h), 2)
	open("tm-c", t0.Add(2*time.Minute), t0.Add(2*h), 2)
	open("tm-b", t0.Add(2*time.Minute), t0.Add(2*h), 2)
	open("tm-d", t0, t0.Add(5*h), 1)
	open("tm-e", t0.Add(time.Minute), t0.Add(4*h), 1)
	all := []string{"tm-0", "tm-a", "tm-b", "tm-c", "tm-d", "tm-e"}
	now := t0.Add(h)

	for i, step := range []struct {
		order   groupbuy.MatchStrategy
		exclude string
		want    string
		why     string
	}{
		{groupbuy.MatchFullest, "", "tm-b", "b, c and a hold 2; b and c expire first; b < c"},
		{groupbuy.MatchFullest, "", "tm-b", "b holds 3 (its reservation is clamped to its deadline)"},
		{groupbuy.MatchFullest, "", "tm-c", "c and a hold 2; c expires first"},
		{groupbuy.MatchFullest, "", "tm-c", "c holds 3"},
		{groupbuy.MatchFullest, "", "tm-a", "a holds 2, d and e 1 (a's deadline is after the reservation)"},
		{groupbuy.MatchOldest, "", "tm-d", "d opened first"},
		{groupbuy.MatchOldest, "tm-d", "tm-a", "d excluded; a and e opened together; a < e"},
		{groupbuy.MatchOldest, "tm-d", "tm-e", "d excluded, a full"},
		{groupbuy.MatchFullest, "", "tm-e", "d and e hold 2; e expires first"},
		{groupbuy.MatchFullest, "", "tm-e", "e holds 3"},
		{groupbuy.MatchOldest, "", "tm-d", "d is the last with room"},
		{groupbuy.MatchFullest, "", "tm-d", "d is the last with room"},
	} {
		msg := fmt.Sprintf("step %d (%s, exclude %q): %s", i, step.order, step.exclude, step.why)
		e.drain()
		before := e.snapshot(all, nil)
		seatID, user := fmt.Sprintf("st-m%02d", i), fmt.Sprintf("m-%02d", i)
		w := e.matchWrite(c, seatID, user, step.order, now)
		w.Exclude = step.exclude
		_, seat := e.expectMatch(w, step.want, msg)
		assert.Equal(e.t, groupbuy.SeatReserved, seat.State, "%s: seat state", msg)
		assert.False(e.t, seat.Leader, "%s: a matched seat is never the leader", msg)
		after := e.snapshot(all, nil)
		for _, id := range all {
			if id != step.want {
				assert.Equal(e.t, before.Teams[id], after.Teams[id], "%s: team %s is untouched", msg, id)
				assert.Equal(e.t, before.Seats[id], after.Seats[id], "%s: seats of team %s are untouched", msg, id)
			}
		}
		evs := e.drain()
		assert.Equal(e.t, []string{"gb:" + step.want + ":" + seatID + ":reserved"}, keys(evs), "%s: the event, its key filled", msg)
		assert.Equal(e.t, []string{w.Events[0].ID}, eventIDs(evs), "%s: the event's ID", msg)
	}
	assert.Equal(e.t, ts(t0.Add(2*h)), ts(e.seat("st-m01").ReservedUntil), "clamped to tm-b's deadline")
	assert.Equal(e.t, ts(now.Add(90*time.Minute)), ts(e.seat("st-m04").ReservedUntil), "before tm-a's deadline: as asked")

	for _, order := range []groupbuy.MatchStrategy{groupbuy.MatchFullest, groupbuy.MatchOldest} {
		w := withIdem(e.matchWrite(c, "st-none", "m-none", order, now), "k-none-"+string(order))
		e.unchanged(all, []string{"m-none"}, "every team full or expired", func() {
			_, _, err := e.gb.MatchTeam(e.ctx, w)
			assert.ErrorIs(e.t, err, groupbuy.ErrTeamFull, "%s: no team has room", order)
		})
		e.noRecord(w, string(order))
	}
	for _, id := range all[1:] {
		team := e.team(id)
		assert.Equal(e.t, 4, team.SeatsTaken, "team %s is full", id)
		assert.Equal(e.t, 4, countActive(e.seats(id)), "team %s: SeatsTaken equals its live seats", id)
	}
}

// testMatchSkipsTeamsThatDoNotQualify: MatchTeam never picks a full team, a
// closed team (with free seats), a team whose ExpiresAt is not after Now, the
// excluded team, a team in which the user holds a reserved, paid or leader
// seat, or a team of another campaign; when only such teams exist it fails
// with ErrTeamFull (also for a campaign without teams) and changes nothing.
// A team qualifies again once the time or the user's seat changes.
func testMatchSkipsTeamsThatDoNotQualify(e *env) {
	c := e.campaign()
	other := e.campaign()
	t0 := e.clock.Now()
	exp := t0.Add(lifetime)
	// Full.
	e.storeOpen(c, "tm-full", "st-full0", "fa", t0, exp)
	e.storeJoin(c, "tm-full", "st-full1", "fb", t0)
	e.storeJoin(c, "tm-full", "st-full2", "fc", t0)
	// Closed with free seats: cancelled, failed.
	for _, tc := range []struct {
		id    string
		state groupbuy.TeamState
	}{{"tm-cancelled", groupbuy.TeamCancelled}, {"tm-failed", groupbuy.TeamFailed}} {
		e.storeOpen(c, tc.id, tc.id+"-s0", tc.id+"-u0", t0, exp)
		require.NoError(e.t, e.gb.CloseTeam(e.ctx, &groupbuy.CloseTeamWrite{
			TeamID: tc.id, Version: 1, State: tc.state, Now: t0, Release: []string{tc.id + "-s0"},
		}))
	}
	// Deadline exactly now.
	e.storeOpen(c, "tm-expired", "st-exp0", "ea", t0.Add(-30*time.Minute), t0)
	// Excluded.
	e.storeOpen(c, "tm-excluded", "st-excl0", "xa", t0, exp)
	// zed leads one team, holds a reserved seat in another and a paid seat
	// in a third.
	e.storeOpen(c, "tm-zlead", "st-zlead", "zed", t0, exp)
	e.storeOpen(c, "tm-zres", "st-zres0", "ra", t0, exp)
	e.storeJoin(c, "tm-zres", "st-zres", "zed", t0)
	e.storeOpen(c, "tm-zpaid", "st-zpaid0", "pa", t0, exp)
	e.storeJoin(c, "tm-zpaid", "st-zpaid", "zed", t0)
	_, err := e.gb.PaySeat(e.ctx, &groupbuy.PaySeatWrite{
		TeamID: "tm-zpaid", SeatID: "st-zpaid", PaymentRef: "ref-zpaid", Amount: priceA, Currency: c.Currency, Now: t0,
	})
	require.NoError(e.t, err)
	// Another campaign's team with room.
	e.storeOpen(other, "tm-other", "st-other0", "oa", t0, exp)
	all := []string{
		"tm-full", "tm-cancelled", "tm-failed", "tm-expired", "tm-excluded",
		"tm-zlead", "tm-zres", "tm-zpaid", "tm-other",
	}

	for _, order := range []groupbuy.MatchStrategy{groupbuy.MatchFullest, groupbuy.MatchOldest} {
		w := withIdem(e.matchWrite(c, "st-z", "zed", order, t0), "k-z-"+string(order))
		w.Exclude = "tm-excluded"
		msg := fmt.Sprintf("%s: no team qualifies", order)
		e.unchanged(all, []string{"zed"}, msg, func() {
			_, _, err := e.gb.MatchTeam(e.ctx, w)
			assert.ErrorIs(e.t, err, groupbuy.ErrTeamFull, msg)
		})
		e.noRecord(w, msg)
	}
	empty := e.campaign()
	w := withIdem(e.matchWrite(empty, "st-z", "zed", groupbuy.MatchFullest, t0), "k-empty")
	e.unchanged(all, []string{"zed"}, "a campaign without teams", func() {
		_, _, err := e.gb.MatchTeam(e.ctx, w)
		assert.ErrorIs(e.t, err, groupbuy.ErrTeamFull, "a campaign without teams")
	})
	e.noRecord(w, "a campaign without teams")

	// One microsecond before its deadline tm-expired qualifies, and is the
	// only team that does.
	w = e.matchWrite(c, "st-z1", "zed", groupbuy.MatchOldest, t0.Add(-time.Microsecond))
	w.Exclude = "tm-excluded"
	e.expectMatch(w, "tm-expired", "1µs before the deadline")
	// Once zed's reserved seat in tm-zres is released, tm-zres qualifies
	// for zed again.
	_, err = e.gb.ReleaseSeat(e.ctx, &groupbuy.ReleaseSeatWrite{SeatID: "st-zres", UserID: "zed", Now: t0})
	require.NoError(e.t, err)
	w = e.matchWrite(c, "st-z2", "zed", groupbuy.MatchFullest, t0)
	w.Exclude = "tm-excluded"
	e.expectMatch(w, "tm-zres", "zed's seat released")
	// Without Exclude, tm-excluded is a team like the others.
	w = e.matchWrite(c, "st-z3", "zed", groupbuy.MatchFullest, t0)
	e.expectMatch(w, "tm-excluded", "not excluded")
}

// testMatchHoleFilled: the adapter fills every TeamIDHole of the write's
// events and idempotency record with the picked team's ID, raw in a Key and
// escaped as JSON string content in a Payload and a Result (the team's ID
// here holds characters JSON escapes); events without a hole are stored as
// they are, in slice order; the write is left as handed and what was
// stored does not share its buffers.
func testMatchHoleFilled(e *env) {
	const team = `tm"q\x<&>`
	hole := groupbuy.TeamIDHole
	c := e.campaign()
	t0 := e.clock.Now()
	e.storeOpen(c, team, "st-lead", "alice", t0, t0.Add(lifetime))
	e.drain()
	w := withIdem(e.matchWrite(c, "st-m", "bob", groupbuy.MatchFullest, t0), "k-hole")
	w.Events = append(w.Events,
		storage.Event{
			ID: e.id("ev"), Topic: "storagetest.matched", Key: "st:" + hole + "/" + hole,
			Payload: []byte(`{"teams":["` + hole + `","x` + hole + `y"],"note":"team ` + hole + `!"}`), CreatedAt: t0,
		},
		storage.Event{ID: e.id("ev"), Topic: "storagetest.plain", Key: "st:plain", Payload: []byte(`{"x":"\u0001"}`), CreatedAt: t0},
	)
	handedIDs := eventIDs(w.Events)
	want := matchRecord(w, team)
	_, seat := e.expectMatch(w, team, "match into "+team)
	assert.Equal(e.t, team, seat.TeamID)
	// The store must have copied what it keeps.
	for _, ev := range w.Events {
		for i := range ev.Payload {
			ev.Payload[i] = 'X'
		}
	}
	for i := range w.Idem.Result {
		w.Idem.Result[i] = 'X'
	}

	evs := e.drain()
	require.Len(e.t, evs, 3, "the write's events")
	assert.Equal(e.t, handedIDs, eventIDs(evs), "the events, in slice order")
	assert.Equal(e.t, []string{groupbuy.TopicSeatReserved, "storagetest.matched", "storagetest.plain"}, topics(evs))
	assert.Equal(e.t, []string{"gb:" + team + ":st-m:reserved", "st:" + team + "/" + team, "st:plain"}, keys(evs),
		"the hole in a Key is the raw ID")
	for _, ev := range evs {
		assert.False(e.t, strings.Contains(ev.Key, hole), "key %q keeps a hole", ev.Key)
		assert.False(e.t, strings.Contains(string(ev.Payload), hole), "payload %s keeps a hole", ev.Payload)
		assert.True(e.t, json.Valid(ev.Payload), "payload %q is JSON", ev.Payload)
		assert.True(e.t, ev.CreatedAt.Equal(t0), "CreatedAt of %s: %s", ev.ID, ev.CreatedAt)
	}
	p := payload[groupbuy.SeatPayload](e, evs[0])
	assert.Equal(e.t, team, p.TeamID, "seat_reserved's team_id")
	assert.Equal(e.t, "st-m", p.SeatID)
	assert.Equal(e.t, "bob", p.UserID)
	assert.Equal(e.t, "19.9", dec(p.Amount))
	assert.JSONEq(e.t, string(mustJSON(map[string]any{"teams": []string{team, "x" + team + "y"}, "note": "team " + team + "!"})),
		string(evs[1].Payload), "every hole of a payload is filled")
	assert.JSONEq(e.t, `{"x":"\u0001"}`, string(evs[2].Payload), "an escaped \\u0001 is no hole")

	got, err := e.gb.GetIdempotency(e.ctx, matchScope, "k-hole")
	require.NoError(e.t, err)
	assertRecord(e, want, got)
	var res struct {
		TeamID string `json:"team_id"`
		SeatID string `json:"seat_id"`
	}
	require.NoError(e.t, json.Unmarshal(got.Result, &res), "stored result %q", got.Result)
	assert.Equal(e.t, team, res.TeamID, "the result's team_id")
	assert.Equal(e.t, "st-m", res.SeatID, "the result's seat_id")
}

// testMatchGuards: MatchTeam's preconditions, in their order: a replay
// returns a *ReplayError holding the first record, before every other
// precondition; an unknown campaign is ErrNotFound; a campaign not active is
// ErrCampaignNotActive, before ErrTeamFull and ErrLimitExceeded; no
// qualifying team is ErrTeamFull, before ErrLimitExceeded; the user's joined
// seats at MaxJoined are ErrLimitExceeded (leader seats do not count). Each
// failure changes nothing and stores no record.
func testMatchGuards(e *env) {
	f := e.storeFixture()
	now := f.t0
	teams := []string{f.team.ID, "tm-l", "tm-g"}
	n := 0
	write := func(c groupbuy.Campaign, user string) *groupbuy.MatchTeamWrite {
		n++
		return withIdem(e.matchWrite(c, fmt.Sprintf("st-g%02d", n), user, groupbuy.MatchFullest, now), fmt.Sprintf("k-%02d", n))
	}
	check := func(w *groupbuy.MatchTeamWrite, want error, msg string) {
		e.t.Helper()
		e.unchanged(teams, []string{w.Seat.UserID}, msg, func() {
			_, _, err := e.gb.MatchTeam(e.ctx, w)
			assert.ErrorIs(e.t, err, want, msg)
		})
		e.noRecord(w, msg)
	}

	first := write(f.c, "carol")
	firstRec := matchRecord(first, f.team.ID)
	e.expectMatch(first, f.team.ID, "carol's first match")
	got, err := e.gb.GetIdempotency(e.ctx, matchScope, first.Idem.Key)
	require.NoError(e.t, err)
	assertRecord(e, firstRec, got)
	checkReplay := func(w *groupbuy.MatchTeamWrite, msg string) {
		e.t.Helper()
		w.Idem.Key, w.Idem.Fingerprint = first.Idem.Key, "fp-other"
		e.unchanged(teams, []string{w.Seat.UserID}, msg, func() {
			_, _, err := e.gb.MatchTeam(e.ctx, w)
			re, ok := asReplay(err)
			if assert.True(e.t, ok, "%s: want *groupbuy.ReplayError, got %v", msg, err) {
				assertRecord(e, firstRec, re.Record)
			}
		})
		got, err := e.gb.GetIdempotency(e.ctx, matchScope, first.Idem.Key)
		require.NoError(e.t, err)
		assertRecord(e, firstRec, got)
	}
	checkReplay(write(f.c, "dave"), "replay")
	checkReplay(write(f.c, "carol"), "replay by the same user")
	missing := f.c
	missing.ID = "camp-missing"
	checkReplay(write(missing, "dave"), "replay into an unknown campaign")
	check(write(missing, "dave"), groupbuy.ErrNotFound, "unknown campaign")

	// Limits: in lc, alice leads tm-l and bob holds a seat in it; dave
	// leads tm-g, which has room.
	lc := e.limited(f, "tm-l", 1)
	e.storeOpen(lc, "tm-g", "st-g", "dave", f.t0, f.deadline)
	check(write(lc, "bob"), groupbuy.ErrLimitExceeded, "bob joined one team")
	w := write(lc, "bob")
	w.Exclude = "tm-g"
	check(w, groupbuy.ErrTeamFull, "no team for bob: before his limit")
	checkReplay(write(lc, "bob"), "replay: before bob's limit")
	// alice's leader seat does not count against the limit.
	e.expectMatch(write(lc, "alice"), "tm-g", "alice leads one team")

	// Paused campaigns.
	_, err = e.gb.SetCampaignStatus(e.ctx, f.c.ID, groupbuy.CampaignActive, groupbuy.CampaignPaused)
	require.NoError(e.t, err)
	check(write(f.c, "eve"), groupbuy.ErrCampaignNotActive, "paused")
	checkReplay(write(f.c, "eve"), "replay: before paused")
	w = write(f.c, "eve")
	w.Exclude = f.team.ID
	check(w, groupbuy.ErrCampaignNotActive, "paused: before no team")
	_, err = e.gb.SetCampaignStatus(e.ctx, lc.ID, groupbuy.CampaignActive, groupbuy.CampaignPaused)
	require.NoError(e.t, err)
	check(write(lc, "bob"), groupbuy.ErrCampaignNotActive, "paused: before bob's limit")
	_, err = e.gb.SetCampaignStatus(e.ctx, lc.ID, groupbuy.CampaignPaused, groupbuy.CampaignEnded)
	require.NoError(e.t, err)
	check(write(lc, "eve"), groupbuy.ErrCampaignNotActive, "ended")

	// Active again, f.c takes eve.
	_, err = e.gb.SetCampaignStatus(e.ctx, f.c.ID, groupbuy.CampaignPaused, groupbuy.CampaignActive)
	require.NoError(e.t, err)
	e.expectMatch(write(f.c, "eve"), f.team.ID, "active again")
}

// testMatchBadInput: a nil write, an empty seat, user or campaign ID, a
// team ID set by the caller, an order other than MatchFullest, MatchOldest
// and MatchRandom, or an Open that disagrees with the match (another
// campaign, leader, team, time or key) is a *storage.ValidationError and
// changes nothing.
func testMatchBadInput(e *env) {
	f := e.inputFixture()
	now := e.clock.Now()
	var writes []*groupbuy.MatchTeamWrite
	bad := func(name string, mod func(w *groupbuy.MatchTeamWrite)) badCall {
		w := withIdem(e.matchWrite(f.c, "st-new", "carol", groupbuy.MatchFullest, now), "k-bad-"+fmt.Sprint(len(writes)))
		mod(w)
		writes = append(writes, w)
		return badCall{name, func() error { _, _, err := e.gb.MatchTeam(e.ctx, w); return err }}
	}
	// badOpen is bad with the team to open, which mod then spoils.
	badOpen := func(name string, mod func(o *groupbuy.OpenTeamWrite)) badCall {
		return bad(name, func(w *groupbuy.MatchTeamWrite) { mod(e.orOpen(f.c, w, "tm-bad", "st-bad").Open) })
	}
	e.expectValidation(f, []badCall{
		{"MatchTeam(nil)", func() error { _, _, err := e.gb.MatchTeam(e.ctx, nil); return err }},
		bad("empty seat ID", func(w *groupbuy.MatchTeamWrite) { w.Seat.ID = "" }),
		bad("empty user ID", func(w *groupbuy.MatchTeamWrite) { w.Seat.UserID = "" }),
		bad("empty campaign ID", func(w *groupbuy.MatchTeamWrite) { w.Seat.CampaignID = "" }),
		bad("team ID set", func(w *groupbuy.MatchTeamWrite) { w.Seat.TeamID = f.team.ID }),
		bad("unknown order", func(w *groupbuy.MatchTeamWrite) { w.Order = "bogus" }),
		bad("empty order", func(w *groupbuy.MatchTeamWrite) { w.Order = "" }),
		badOpen("Open in another campaign", func(o *groupbuy.OpenTeamWrite) { o.Team.CampaignID, o.Leader.CampaignID = "camp-other", "camp-other" }),
		badOpen("Open's leader seat in another campaign", func(o *groupbuy.OpenTeamWrite) { o.Leader.CampaignID = "camp-other" }),
		badOpen("Open led by another user", func(o *groupbuy.OpenTeamWrite) { o.Team.LeaderID, o.Leader.UserID = "mallory", "mallory" }),
		badOpen("Open's team led by another user", func(o *groupbuy.OpenTeamWrite) { o.Team.LeaderID = "mallory" }),
		badOpen("Open's leader seat in another team", func(o *groupbuy.OpenTeamWrite) { o.Leader.TeamID = f.team.ID }),
		badOpen("Open at another time", func(o *groupbuy.OpenTeamWrite) { o.Now = o.Now.Add(time.Second) }),
		badOpen("Open without the record", func(o *groupbuy.OpenTeamWrite) { o.Idem = nil }),
		badOpen("Open's record under another key", func(o *groupbuy.OpenTeamWrite) { o.Idem.Key = "k-other" }),
		bad("Open with an empty team ID", func(w *groupbuy.MatchTeamWrite) {
			e.orOpen(f.c, w, "", "st-bad")
		}),
	})
	for _, w := range writes {
		e.noRecord(w, "bad input")
	}
	// The same write, valid, joins the fixture's team.
	e.expectMatch(withIdem(e.matchWrite(f.c, "st-new", "carol", groupbuy.MatchOldest, now), "k-good"), f.team.ID, "valid write")
}

// raceMatch runs the writes at the same instant, one goroutine each.
func (e *env) raceMatch(writes []*groupbuy.MatchTeamWrite) ([]groupbuy.Team, []groupbuy.Seat, []error) {
	var (
		wg    sync.WaitGroup
		ready = make(chan struct{})
		teams = make([]groupbuy.Team, len(writes))
		seats = make([]groupbuy.Seat, len(writes))
		errs  = make([]error, len(writes))
	)
	for i, w := range writes {
		wg.Go(func() {
			<-ready
			teams[i], seats[i], errs[i] = e.gb.MatchTeam(e.ctx, w)
		})
	}
	close(ready)
	wg.Wait()
	return teams, seats, errs
}

// matchRace is what a race left: the winners' writes, the team each joined,
// and the losers' writes.
type matchRace struct {
	won    []*groupbuy.MatchTeamWrite
	teamOf map[string]string // seat ID → team ID
	losers []*groupbuy.MatchTeamWrite
}

// checkMatchRace checks a race's outcomes against the contract: each
// winner got a seat in one of the teams, as returned (the seat in the team
// returned, the team within its capacity); each loser got ErrTeamFull.
// Under contention an adapter may skip a locked team, so the number of
// winners is only bounded by the free seats, and not every team need have
// been filled.
func (e *env) checkMatchRace(msg string, teams []string, free int, writes []*groupbuy.MatchTeamWrite, got []groupbuy.Team, seats []groupbuy.Seat, errs []error) matchRace {
	e.t.Helper()
	r := matchRace{teamOf: map[string]string{}}
	for i, err := range errs {
		w := writes[i]
		if err != nil {
			assert.ErrorIs(e.t, err, groupbuy.ErrTeamFull, "%s: loser %s gets ErrTeamFull and nothing else", msg, w.Seat.UserID)
			r.losers = append(r.losers, w)
			continue
		}
		assert.Contains(e.t, teams, got[i].ID, "%s: %s joined one of the campaign's teams", msg, w.Seat.UserID)
		assert.Equal(e.t, got[i].ID, seats[i].TeamID, "%s: %s's seat is in the team returned", msg, w.Seat.UserID)
		assert.Equal(e.t, w.Seat.ID, seats[i].ID, "%s: %s's seat", msg, w.Seat.UserID)
		assert.True(e.t, got[i].SeatsTaken <= got[i].Capacity, "%s: team %s returned over capacity: %d of %d",
			msg, got[i].ID, got[i].SeatsTaken, got[i].Capacity)
		r.won = append(r.won, w)
		r.teamOf[w.Seat.ID] = got[i].ID
	}
	assert.NotEmpty(e.t, r.won, "%s: at least one matcher wins", msg)
	assert.True(e.t, len(r.won) <= free, "%s: %d winners for %d free seats", msg, len(r.won), free)
	for _, id := range teams {
		team := e.team(id)
		seats := e.seats(id)
		assert.True(e.t, team.SeatsTaken <= team.Capacity, "%s: team %s over capacity: %d of %d", msg, id, team.SeatsTaken, team.Capacity)
		assert.Equal(e.t, team.SeatsTaken, countActive(seats), "%s: team %s: SeatsTaken equals its live seats", msg, id)
		assert.Equal(e.t, team.SeatsTaken, len(seats), "%s: team %s: no seat row beyond SeatsTaken", msg, id)
		assert.Equal(e.t, int64(team.SeatsTaken), team.Version, "%s: team %s: one version per seat", msg, id)
	}
	return r
}

// topUp matches user after user sequentially, with no contention, until
// ErrTeamFull, and adds the writes that succeeded to r; more than left
// successes fail the test.
func (e *env) topUp(c groupbuy.Campaign, prefix string, left int, now time.Time, r *matchRace) {
	e.t.Helper()
	for i := 0; ; i++ {
		w := e.matchWrite(c, fmt.Sprintf("st-%s-%02d", prefix, i), fmt.Sprintf("%s-%02d", prefix, i), groupbuy.MatchFullest, now)
		team, _, err := e.gb.MatchTeam(e.ctx, w)
		if err != nil {
			require.ErrorIs(e.t, err, groupbuy.ErrTeamFull, "top-up %d", i)
			return
		}
		require.True(e.t, i < left, "top-up: more than the %d seats left after the race taken", left)
		r.won = append(r.won, w)
		r.teamOf[w.Seat.ID] = team.ID
	}
}

// checkMatchFilled checks the teams after the race and the top-up: exactly
// the free seats were taken, each team is full with its leader and its
// winners' seats, each winner's event and record name its team, and no
// loser holds a seat or a record.
func (e *env) checkMatchFilled(msg string, leaders map[string]string, free int, r matchRace) {
	e.t.Helper()
	assert.Len(e.t, r.won, free, "%s: race and top-up took exactly the free seats", msg)
	want := map[string][]string{}
	for id, leader := range leaders {
		want[id] = []string{leader}
	}
	for _, w := range r.won {
		want[r.teamOf[w.Seat.ID]] = append(want[r.teamOf[w.Seat.ID]], w.Seat.ID)
	}
	for id := range leaders {
		team := e.team(id)
		seats := e.seats(id)
		assert.Equal(e.t, team.Capacity, team.SeatsTaken, "%s: team %s is full", msg, id)
		assert.Equal(e.t, int64(team.Capacity), team.Version, "%s: team %s: one version per seat", msg, id)
		assert.Equal(e.t, team.SeatsTaken, countActive(seats), "%s: team %s: SeatsTaken equals its live seats", msg, id)
		assert.ElementsMatch(e.t, want[id], ids(seats), "%s: team %s holds its leader and its winners", msg, id)
	}
	evs := e.drain()
	assert.Len(e.t, evs, free, "%s: one event per seat taken, none from a loser", msg)
	var wantKeys []string
	for _, w := range r.won {
		wantKeys = append(wantKeys, "gb:"+r.teamOf[w.Seat.ID]+":"+w.Seat.ID+":reserved")
		if w.Idem != nil {
			got, err := e.gb.GetIdempotency(e.ctx, w.Idem.Scope, w.Idem.Key)
			if assert.NoError(e.t, err, "%s: record of %s", msg, w.Seat.UserID) {
				assertRecord(e, matchRecord(w, r.teamOf[w.Seat.ID]), got)
			}
		}
	}
	assert.ElementsMatch(e.t, wantKeys, keys(evs), "%s: the events' keys name the teams joined", msg)
	for _, w := range r.losers {
		assert.Empty(e.t, e.userSeats(w.Seat.UserID), "%s: loser %s holds no seat", msg, w.Seat.UserID)
		e.noRecord(w, msg)
	}
}

// testMatchRaceOneTeam: 64 goroutines match into a campaign whose only
// team with room has 4 free seats of 5: the team never goes over capacity,
// every winner lands in it and every loser gets ErrTeamFull; matching
// sequentially afterwards fills exactly the seats left.
func testMatchRaceOneTeam(e *env) {
	const racers, size = 64, 5
	c := e.campaign(teamSize(size))
	for round := range 3 {
		now := e.clock.Now()
		teamID := fmt.Sprintf("tm-r%d", round)
		e.storeOpen(c, teamID, teamID+"-lead", fmt.Sprintf("lead-%d", round), now, now.Add(lifetime))
		e.drain()
		writes := make([]*groupbuy.MatchTeamWrite, racers)
		for i, u := range users(fmt.Sprintf("r%d", round), racers) {
			writes[i] = withIdem(e.matchWrite(c, fmt.Sprintf("st-r%d-%02d", round, i), u, groupbuy.MatchFullest, now), fmt.Sprintf("k-r%d-%02d", round, i))
		}
		msg := fmt.Sprintf("round %d", round)
		teams, seats, errs := e.raceMatch(writes)
		r := e.checkMatchRace(msg, []string{teamID}, size-1, writes, teams, seats, errs)
		e.topUp(c, fmt.Sprintf("top%d", round), size-1-len(r.won), now, &r)
		e.checkMatchFilled(msg, map[string]string{teamID: teamID + "-lead"}, size-1, r)
		e.clock.Advance(time.Second)
	}
}

// testMatchRaceManyTeams: 64 goroutines, half MatchFullest and half
// MatchOldest, match into four teams of three, each holding its leader (8
// free seats), next to a team of another campaign: no team goes over
// capacity, SeatsTaken equals each team's seat rows, every winner lands in
// one of the four, every loser gets ErrTeamFull, and the other campaign's
// team is untouched; matching sequentially afterwards fills exactly the
// seats left.
func testMatchRaceManyTeams(e *env) {
	const racers, nTeams, size = 64, 4, 3
	c := e.campaign(teamSize(size))
	other := e.campaign(teamSize(size))
	now := e.clock.Now()
	var teams []string
	leaders := map[string]string{}
	for i := range nTeams {
		id := fmt.Sprintf("tm-%d", i)
		e.storeOpen(c, id, id+"-lead", id+"-u", now.Add(-time.Duration(i)*time.Minute), now.Add(lifetime-time.Duration(i)*time.Minute))
		teams = append(teams, id)
		leaders[id] = id + "-lead"
	}
	e.storeOpen(other, "tm-other", "tm-other-lead", "other-u", now, now.Add(lifetime))
	before := tv(e.team("tm-other"))
	e.drain()
	writes := make([]*groupbuy.MatchTeamWrite, racers)
	for i, u := range users("m", racers) {
		order := groupbuy.MatchFullest
		if i%2 == 1 {
			order = groupbuy.MatchOldest
		}
		writes[i] = withIdem(e.matchWrite(c, fmt.Sprintf("st-m-%02d", i), u, order, now), fmt.Sprintf("k-m-%02d", i))
	}
	free := nTeams * (size - 1)
	got, seats, errs := e.raceMatch(writes)
	r := e.checkMatchRace("race", teams, free, writes, got, seats, errs)
	assert.Equal(e.t, before, tv(e.team("tm-other")), "the other campaign's team is untouched")
	e.topUp(c, "top", free-len(r.won), now, &r)
	e.checkMatchFilled("race", leaders, free, r)
	assert.Equal(e.t, before, tv(e.team("tm-other")), "the other campaign's team is untouched")
	assert.Len(e.t, e.seats("tm-other"), 1, "the other campaign's team holds its leader only")
}
