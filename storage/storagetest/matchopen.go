package storagetest

import (
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// orOpen gives match write w the team to open when no team qualifies, as
// the Service builds it: team teamID led by w's user with leader seat
// seatID, two events, and, when w has a record, one under its scope and
// key whose result names the new team.
func (e *env) orOpen(c groupbuy.Campaign, w *groupbuy.MatchTeamWrite, teamID, seatID string) *groupbuy.MatchTeamWrite {
	now := w.Now
	team := groupbuy.Team{
		ID: teamID, CampaignID: c.ID, LeaderID: w.Seat.UserID, Capacity: c.TeamSize, SeatsTaken: 1,
		State: groupbuy.TeamForming, OpenedAt: now, ExpiresAt: now.Add(lifetime), Version: 1,
	}
	leader := craftSeat(c, teamID, seatID, w.Seat.UserID, now, team.ExpiresAt)
	leader.Leader = true
	w.Open = &groupbuy.OpenTeamWrite{
		Team: team, Leader: leader, Now: now, MaxOpened: c.Limits.MaxTeamsOpenedPerUser,
		Events: []storage.Event{
			event(e.id("ev"), groupbuy.TopicTeamOpened, "gb:"+teamID+":opened", now),
			event(e.id("ev"), groupbuy.TopicSeatReserved, "gb:"+teamID+":"+seatID+":reserved", now),
		},
	}
	if w.Idem != nil {
		r := *w.Idem
		r.Result = mustJSON(map[string]any{"team_id": teamID, "seat_id": seatID, "opened": true})
		w.Open.Idem = &r
	}
	return w
}

// expectOpened runs w, which must open w.Open's team, and checks what
// MatchTeam returns against the store: the team and its leader seat as
// OpenTeam stores them, Open's events and record and not the match's.
func (e *env) expectOpened(w *groupbuy.MatchTeamWrite, msg string) {
	e.t.Helper()
	e.drain()
	handed := cloneMatchWrite(w)
	team, seat, err := e.gb.MatchTeam(e.ctx, w)
	require.NoError(e.t, err, "%s: MatchTeam", msg)
	assert.Equal(e.t, handed, w, "%s: MatchTeam modified its write", msg)
	assert.True(e.t, w.Opened(&seat), "%s: the seat is the opened team's leader seat", msg)
	opened, _ := w.Open.Rows()
	assert.Equal(e.t, tv(opened), tv(team), "%s: MatchTeam returns the team as opened", msg)
	assert.Equal(e.t, tv(team), tv(e.team(w.Open.Team.ID)), "%s: GetTeam after MatchTeam", msg)
	assert.Equal(e.t, sv(w.Open.Leader), sv(seat), "%s: MatchTeam returns the leader seat as stored", msg)
	assert.Equal(e.t, sv(seat), sv(e.seat(w.Open.Leader.ID)), "%s: GetSeat after MatchTeam", msg)
	assert.Equal(e.t, []string{w.Open.Leader.ID}, ids(e.seats(w.Open.Team.ID)), "%s: the new team's seats", msg)
	_, err = e.gb.GetSeat(e.ctx, w.Seat.ID)
	assert.True(e.t, isNotFound(err), "%s: the match's seat is not stored, got %v", msg, err)
	assert.Equal(e.t, eventIDs(w.Open.Events), eventIDs(e.drain()), "%s: Open's events, in order, and not the match's", msg)
	if w.Idem != nil {
		got, err := e.gb.GetIdempotency(e.ctx, w.Idem.Scope, w.Idem.Key)
		require.NoError(e.t, err, "%s: the record", msg)
		assertRecord(e, *w.Open.Idem, got)
	}
}

// testMatchOrOpen: a MatchTeamWrite with Open opens Open's team, in the
// same step, when no team qualifies, and joins the first qualifying team
// otherwise (Open then leaves no trace). The open's preconditions follow
// the match's: a replay (of either outcome), the campaign, then the
// campaign's window and MaxOpened; a taken team ID is ErrConflict. Each
// failure changes nothing and stores no record.
func testMatchOrOpen(e *env) {
	c := e.campaign()
	t0 := e.clock.Now()
	all := []string{"tm-o1", "tm-o2", "tm-o3", "tm-full"}

	// No team: the match opens tm-o1.
	for _, order := range []groupbuy.MatchStrategy{groupbuy.MatchFullest, groupbuy.MatchOldest} {
		w := withIdem(e.matchWrite(c, "st-x-"+string(order), "olga", order, t0), "k-o-"+string(order))
		if order == groupbuy.MatchFullest {
			e.expectOpened(e.orOpen(c, w, "tm-o1", "st-o1"), "no team: opens")
			continue
		}
		// Now tm-o1 has room, and olga leads it: she opens tm-o2.
		e.expectOpened(e.orOpen(c, w, "tm-o2", "st-o2"), "only her own team: opens")
	}
	// A replay of the match that opened returns the open's record.
	first, err := e.gb.GetIdempotency(e.ctx, matchScope, "k-o-"+string(groupbuy.MatchFullest))
	require.NoError(e.t, err)
	w := e.orOpen(c, withIdem(e.matchWrite(c, "st-x-r", "olga", groupbuy.MatchFullest, t0), "k-o-"+string(groupbuy.MatchFullest)), "tm-o3", "st-o3")
	w.Idem.Fingerprint, w.Open.Idem.Fingerprint = "fp-other", "fp-other"
	e.unchanged(all, []string{"olga"}, "replay of an open", func() {
		_, _, err := e.gb.MatchTeam(e.ctx, w)
		re, ok := asReplay(err)
		if assert.True(e.t, ok, "replay of an open: want *groupbuy.ReplayError, got %v", err) {
			assertRecord(e, first, re.Record)
		}
	})

	// A team qualifies: the match joins it and Open leaves no trace.
	w = e.orOpen(c, withIdem(e.matchWrite(c, "st-p", "pia", groupbuy.MatchFullest, t0), "k-p"), "tm-o3", "st-o3")
	_, seat := e.expectMatch(w, "tm-o1", "a team qualifies")
	assert.False(e.t, w.Opened(&seat), "a joined seat is not an opened team's")
	_, err = e.gb.GetTeam(e.ctx, "tm-o3")
	assert.True(e.t, isNotFound(err), "Open's team is not stored, got %v", err)
	e.drain()

	// Fill tm-o1 and tm-o2 (size 3), so that no team qualifies again.
	e.storeJoin(c, "tm-o1", "st-f1", "fa", t0)
	e.storeJoin(c, "tm-o2", "st-f2", "fb", t0)
	e.storeJoin(c, "tm-o2", "st-f3", "fc", t0)
	check := func(w *groupbuy.MatchTeamWrite, want error, msg string) {
		e.t.Helper()
		teams := append([]string{w.Open.Team.ID}, all...)
		e.unchanged(teams, []string{w.Seat.UserID}, msg, func() {
			_, _, err := e.gb.MatchTeam(e.ctx, w)
			assert.ErrorIs(e.t, err, want, msg)
		})
		e.noRecord(w, msg)
		_, err := e.gb.GetSeat(e.ctx, w.Open.Leader.ID)
		assert.True(e.t, isNotFound(err), "%s: no leader seat, got %v", msg, err)
	}
	write := func(c groupbuy.Campaign, user, teamID string, now time.Time) *groupbuy.MatchTeamWrite {
		seat := e.id("st")
		w := withIdem(e.matchWrite(c, seat, user, groupbuy.MatchFullest, now), e.id("k"))
		return e.orOpen(c, w, teamID, seat+"-lead")
	}
	check(write(c, "quinn", "tm-o1", t0), storage.ErrConflict, "the open's team ID is taken")

	// The campaign's window is over (its status still active): a join
	// would pass, the open does not.
	ended := e.campaign()
	check(write(ended, "quinn", "tm-e", ended.EndsAt), groupbuy.ErrCampaignNotActive, "window over")

	// The leader's teams opened are at the campaign's limit.
	lc := e.campaign(func(c *groupbuy.Campaign) { c.Limits.MaxTeamsOpenedPerUser = 1 })
	e.storeOpen(lc, "tm-l1", "st-l1", "lena", t0, t0.Add(lifetime))
	check(write(lc, "lena", "tm-l2", t0), groupbuy.ErrLimitExceeded, "lena leads one team, her own has room")
	e.storeJoin(lc, "tm-l1", "st-l1a", "la", t0)
	e.storeJoin(lc, "tm-l1", "st-l1b", "lb", t0)
	check(write(lc, "lena", "tm-l2", t0), groupbuy.ErrLimitExceeded, "lena leads one team, a full one")
	e.expectOpened(write(lc, "mia", "tm-l3", t0), "mia is below the limit")

	// A paused campaign fails before the open's preconditions.
	_, err = e.gb.SetCampaignStatus(e.ctx, lc.ID, groupbuy.CampaignActive, groupbuy.CampaignPaused)
	require.NoError(e.t, err)
	check(write(lc, "lena", "tm-l4", t0), groupbuy.ErrCampaignNotActive, "paused: before lena's limit")
	check(write(lc, "nora", "tm-l5", t0), groupbuy.ErrCampaignNotActive, "paused")
}
