package storagetest

import (
	"fmt"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// testMatchRandom: a MatchRandom write takes, among the first
// groupbuy.MatchRandomCandidates qualifying teams in MatchFullest's order
// (here 40 teams qualify, so the cut matters), the one
// groupbuy.RandomPicks(Pick, n) names first; teams the user holds a seat
// in and Exclude are no candidates; with one candidate it takes that one,
// with none it fails with ErrTeamFull or opens Open's team.
func testMatchRandom(e *env) {
	c := e.campaign(teamSize(groupbuy.MaxTeamSize))
	t0 := e.clock.Now()
	// 40 teams, opened a second apart, team i holding i%4 joiners: the
	// fullest order mixes fullness, deadline and ID.
	var all []string
	for i := range 40 {
		at := t0.Add(time.Duration(i) * time.Second)
		id := fmt.Sprintf("tm-r%02d", i)
		e.storeOpen(c, id, id+"-lead", id+"-leader", at, at.Add(lifetime))
		for j := range i % 4 {
			e.storeJoin(c, id, fmt.Sprintf("%s-j%d", id, j), fmt.Sprintf("%s-u%d", id, j), at)
		}
		all = append(all, id)
	}
	now := t0.Add(time.Minute)
	// candidates lists the qualifying teams for a user without seats, as
	// MatchRandom sees them.
	candidates := func(exclude string) []string {
		teams, err := e.gb.OpenTeams(e.ctx, c.ID, now, groupbuy.MatchFullest, 100)
		require.NoError(e.t, err)
		var out []string
		for _, t := range teams {
			if t.ID != exclude {
				out = append(out, t.ID)
			}
		}
		return out[:min(len(out), groupbuy.MatchRandomCandidates)]
	}
	picks := []uint64{0, 1, 31, 32, 33, 1<<32 + 5, 1<<63 + 12345, ^uint64(0), 0x9e3779b97f4a7c15}
	for i, pick := range picks {
		exclude := ""
		if i%3 == 2 {
			exclude = all[i] // no candidate, whatever its rank
		}
		cands := candidates(exclude)
		require.Len(e.t, cands, groupbuy.MatchRandomCandidates, "more teams qualify than are candidates")
		first, _ := groupbuy.RandomPicks(pick, len(cands))
		w := e.matchWrite(c, fmt.Sprintf("st-rand%d", i), fmt.Sprintf("rand%d", i), groupbuy.MatchRandom, now)
		w.Pick, w.Exclude = pick, exclude
		e.expectMatch(w, cands[first], fmt.Sprintf("pick %#x", pick))
		e.drain()
	}

	// One candidate: the team of another campaign the user is not in.
	one := e.campaign()
	e.storeOpen(one, "tm-one", "st-one", "ona", now, now.Add(lifetime))
	for _, pick := range []uint64{0, 7, ^uint64(0)} {
		w := e.matchWrite(one, e.id("st"), e.id("u"), groupbuy.MatchRandom, now)
		w.Pick = pick
		if _, seat := e.expectMatch(w, "tm-one", "the only candidate"); seat.TeamID == "tm-one" {
			_, err := e.gb.ReleaseSeat(e.ctx, &groupbuy.ReleaseSeatWrite{SeatID: seat.ID, UserID: seat.UserID, Now: now})
			require.NoError(e.t, err, "make room again")
		}
		e.drain()
	}
	// The only team is the user's own: no candidate.
	w := withIdem(e.matchWrite(one, "st-ona2", "ona", groupbuy.MatchRandom, now), "k-ona")
	e.unchanged([]string{"tm-one"}, []string{"ona"}, "no candidate", func() {
		_, _, err := e.gb.MatchTeam(e.ctx, w)
		assert.ErrorIs(e.t, err, groupbuy.ErrTeamFull, "no candidate")
	})
	e.noRecord(w, "no candidate")
	e.expectOpened(e.orOpen(one, w, "tm-ona2", "st-ona2-lead"), "no candidate: opens")
}
