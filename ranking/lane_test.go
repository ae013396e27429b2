package ranking_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/ranking"
)

// TestLaneChangeNoRepeat: a candidate's Lane is not a signal, and it
// changes within a session when a campaign starts or ends. Each lane pages
// by its own (score, ID) key, and a StaticSignals cursor left the items
// served in key order out of its served set, trusting their lane's key to
// keep them out: an item that moved to another lane after it was served
// was after that lane's key, in no served set, and was served again. No
// item may appear twice in a session, with or without StaticSignals.
func TestLaneChangeNoRepeat(t *testing.T) {
	const (
		org = ranking.LaneOrganic
		sp  = ranking.LaneSponsored
		kol = ranking.LaneKOL
	)
	tests := []struct {
		name  string
		likes map[string]float64        // candidate ID → likes (the score)
		lanes map[string]ranking.Lane   // lanes on page 1 (organic if absent)
		moves []map[string]ranking.Lane // lane changes before page 2, 3, ...
		slots []ranking.Slot
	}{
		{
			// s0 was served in the sponsored slot; its campaign ends and it
			// scores below the organic key.
			name:  "sponsored to organic",
			likes: map[string]float64{"o0": 900, "o1": 800, "o2": 700, "o3": 600, "s0": 10},
			lanes: map[string]ranking.Lane{"s0": sp},
			moves: []map[string]ranking.Lane{{"s0": org}},
			slots: []ranking.Slot{{Position: 1, Lane: sp}},
		},
		{
			// o0 was served organically (within the organic key); a
			// campaign starts for it and the sponsored lane has no key yet.
			name:  "organic to sponsored",
			likes: map[string]float64{"o0": 900, "o1": 800, "o2": 700, "o3": 600, "o4": 500},
			moves: []map[string]ranking.Lane{{"o0": sp}},
			slots: []ranking.Slot{{Position: 1, Lane: sp}},
		},
		{
			// o1 was served organically; it becomes sponsored and scores
			// below the sponsored key.
			name:  "organic to sponsored after the key",
			likes: map[string]float64{"s0": 2000, "s1": 50, "o0": 900, "o1": 800, "o2": 700, "o3": 600},
			lanes: map[string]ranking.Lane{"s0": sp, "s1": sp},
			moves: []map[string]ranking.Lane{{"o1": sp}},
			slots: []ranking.Slot{{Position: 1, Lane: sp}},
		},
		{
			name:  "sponsored to KOL",
			likes: map[string]float64{"o0": 900, "o1": 800, "o2": 700, "s0": 950, "s1": 900, "k0": 990},
			lanes: map[string]ranking.Lane{"s0": sp, "s1": sp, "k0": kol},
			moves: []map[string]ranking.Lane{{"s0": kol}},
			slots: []ranking.Slot{{Position: 1, Lane: sp}, {Position: 2, Lane: kol}},
		},
		{
			// s0, served in the sponsored slot, is organic on page 2 and
			// sponsored again on page 3, when the sponsored key has passed
			// it; then organic again.
			name:  "sponsored to organic and back",
			likes: map[string]float64{"o0": 900, "o1": 800, "o2": 700, "o3": 600, "o4": 500, "o5": 400, "o6": 300, "s0": 10, "s1": 5},
			lanes: map[string]ranking.Lane{"s0": sp, "s1": sp},
			moves: []map[string]ranking.Lane{{"s0": org}, {"s0": sp}, {"s0": org}},
			slots: []ranking.Slot{{Position: 1, Lane: sp}},
		},
	}
	for _, tt := range tests {
		for _, static := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/static=%t", tt.name, static), func(t *testing.T) {
				r := newRanker(t, func(c *ranking.Config) {
					c.PageSize = 3
					c.Signals = []ranking.Weighted{{Signal: ranking.Engagement{}, Weight: 1}}
					c.Diversity.Penalties = nil
					c.Fatigue = ranking.Fatigue{}
					c.Slots = tt.slots
					c.Cursor.StaticSignals = static
				})
				order := slices.Sorted(maps.Keys(tt.likes))
				cands := make([]ranking.Candidate, len(order))
				for i, id := range order {
					cands[i] = ranking.Candidate{ID: id, Created: t0, Lane: tt.lanes[id]}
					cands[i].Engagement[ranking.TierRegular][ranking.ActionLike] = tt.likes[id]
				}
				b := batchOf(t, cands)
				servedOn := map[string]int{}
				req := ranking.Request{Now: t0, Viewer: "v"}
				var page ranking.Page
				for p := 1; p <= 2*len(cands); p++ {
					if p >= 2 && p-2 < len(tt.moves) {
						for i := range cands {
							if l, ok := tt.moves[p-2][cands[i].ID]; ok {
								cands[i].Lane = l
								require.NoError(t, b.Set(b.Index(cands[i].ID), &cands[i]))
							}
						}
					}
					require.NoError(t, r.Rank(req, b, &page))
					for _, it := range page.Items {
						if q, ok := servedOn[it.ID]; ok {
							t.Fatalf("%s served on page %d and again on page %d (lane %v)", it.ID, q, p, it.Lane)
						}
						servedOn[it.ID] = p
					}
					if len(page.Items) == 0 {
						break
					}
					req.Cursor = page.Cursor
				}
			})
		}
	}
}
