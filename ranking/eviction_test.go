package ranking_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/ranking"
)

// evictionSession pages through b until no organic item is left (or
// maxPages) and returns, for each repeat, the number of items served
// between the item's first serving and its repeat.
func evictionSession(t *testing.T, r *ranking.Ranker, b *ranking.Batch, maxPages int) (served int, repeatsAfter []int) {
	t.Helper()
	servedAt := map[string]int{} // ID → its position in the session's serving order
	req := ranking.Request{Now: t0, Viewer: "v"}
	var page ranking.Page
	for p := 1; p <= maxPages; p++ {
		require.NoError(t, r.Rank(req, b, &page))
		for _, it := range page.Items {
			if at, ok := servedAt[it.ID]; ok {
				repeatsAfter = append(repeatsAfter, served-at)
			}
			servedAt[it.ID] = served
			served++
		}
		if !page.More || len(page.Items) == 0 {
			break
		}
		req.Cursor = page.Cursor
	}
	return served, repeatsAfter
}

// TestMaxServedEviction: a cursor's served set holds at most
// CursorConfig.MaxServed entries, oldest dropped first. Every entry is an
// item served in the session, so nothing is dropped while the session has
// served at most MaxServed items: no repeat then, whatever the
// configuration (the worst case for StaticSignals is a slotted lane with
// no candidate, whose key never passes anything, so that every served item
// stays in the set). Beyond that, an item whose entry was dropped may come
// back, but only one served before the most recent MaxServed items. With
// StaticSignals, the entries of items found at or before their own lane's
// key go first, since those come back only if their lane changes: a
// session without lane changes then repeats nothing as long as the items
// served out of key order (by diversity) still fit.
func TestMaxServedEviction(t *testing.T) {
	// skewed: one author's items score highest; every 15th item has an
	// author of its own, and diversity serves it pages ahead of its key.
	skewed := func(t *testing.T, n int) *ranking.Batch {
		cs := make([]ranking.Candidate, n)
		likes := 1e5
		for i := range cs {
			cs[i] = ranking.Candidate{ID: fmt.Sprintf("item-%04d", i), Author: "a", Created: t0}
			if i%15 == 7 {
				cs[i].Author = fmt.Sprintf("u%d", i)
			}
			cs[i].Engagement[ranking.TierRegular][ranking.ActionLike] = likes
			likes *= 0.985
		}
		return batchOf(t, cs)
	}
	random := func(seed uint64) func(t *testing.T, n int) *ranking.Batch {
		return func(t *testing.T, n int) *ranking.Batch {
			g := newGen(seed)
			g.authors, g.sellers = 4, 3
			b, _ := g.batch(t, n) // no sponsored candidate: that lane never has a key
			return b
		}
	}
	tests := []struct {
		name                 string
		batch                func(t *testing.T, n int) *ranking.Batch
		pageSize, pool, maxS int
	}{
		{"skewed", skewed, 10, 100, 20},
		{"random-1", random(1), 20, 0, 40},
		{"random-2", random(2), 20, 0, 40},
		{"random-3", random(3), 10, 60, 20},
	}
	for _, tt := range tests {
		for _, static := range []bool{false, true} {
			for _, slots := range [][]ranking.Slot{nil, {{Position: 2, Lane: ranking.LaneSponsored}}} {
				name := fmt.Sprintf("%s/static=%t/slots=%d", tt.name, static, len(slots))
				b := tt.batch(t, 300)
				r := newRanker(t, func(c *ranking.Config) {
					c.PageSize, c.Pool = tt.pageSize, tt.pool
					c.Signals = []ranking.Weighted{{Signal: ranking.Engagement{}, Weight: 1}}
					c.Diversity.Penalties = []ranking.AxisPenalty{{Axis: ranking.AxisAuthor, Decay: 0.5, Floor: 0.25}}
					c.KeepOutOfStock = true
					c.Cursor.MaxServed = tt.maxS
					c.Cursor.StaticSignals = static
					c.Slots = slots
				})
				// need: the most entries a static session without slots holds at
				// once, with no bound: the served items still after the key.
				need := 0
				{
					r := newRanker(t, func(c *ranking.Config) {
						c.PageSize, c.Pool = tt.pageSize, tt.pool
						c.Signals = []ranking.Weighted{{Signal: ranking.Engagement{}, Weight: 1}}
						c.Diversity.Penalties = []ranking.AxisPenalty{{Axis: ranking.AxisAuthor, Decay: 0.5, Floor: 0.25}}
						c.KeepOutOfStock = true
						c.Cursor.MaxServed = ranking.MaxServedLimit
						c.Cursor.StaticSignals = true
					})
					req := ranking.Request{Now: t0, Viewer: "v"}
					var page ranking.Page
					for {
						require.NoError(t, r.Rank(req, b, &page))
						req.Cursor = page.Cursor
						info, err := r.CheckCursor(req)
						require.NoError(t, err)
						need = max(need, info.Served)
						if !page.More {
							break
						}
					}
				}
				t.Run("within/"+name, func(t *testing.T) {
					served, repeats := evictionSession(t, r, b, tt.maxS/tt.pageSize)
					require.Equal(t, tt.maxS, served)
					require.Empty(t, repeats)
				})
				t.Run("beyond/"+name, func(t *testing.T) {
					served, repeats := evictionSession(t, r, b, 1000)
					require.Greater(t, served, 2*tt.maxS)
					for _, after := range repeats {
						require.GreaterOrEqual(t, after, tt.maxS, "a repeat of an item within the most recent MaxServed")
					}
					t.Logf("%d served, %d repeats; at most %d items at once after the key", served, len(repeats), need)
					if static && need <= tt.maxS {
						require.Empty(t, repeats, "StaticSignals, no lane change: %d repeats in %d items served", len(repeats), served)
					}
				})
			}
		}
	}
}

// TestMaxServedEvictionLaneChange pins the limit of the StaticSignals
// eviction order: beyond MaxServed items, the entries of items at or
// before their lane's key are dropped first, and such an item comes back
// if its lane changes to one whose key has not passed it. Within
// MaxServed items it does not.
func TestMaxServedEvictionLaneChange(t *testing.T) {
	for _, maxServed := range []int{2, 6} {
		t.Run(fmt.Sprintf("MaxServed=%d", maxServed), func(t *testing.T) {
			r := newRanker(t, func(c *ranking.Config) {
				c.PageSize = 2
				c.Signals = []ranking.Weighted{{Signal: ranking.Engagement{}, Weight: 1}}
				c.Diversity.Penalties = nil
				c.Fatigue = ranking.Fatigue{}
				c.Slots = []ranking.Slot{{Position: 1, Lane: ranking.LaneSponsored}}
				c.Cursor.StaticSignals = true
				c.Cursor.MaxServed = maxServed
			})
			cs := make([]ranking.Candidate, 6)
			for i := range cs {
				cs[i] = ranking.Candidate{ID: fmt.Sprintf("o%d", i), Created: t0}
				cs[i].Engagement[ranking.TierRegular][ranking.ActionLike] = float64(900 - 100*i)
			}
			b := batchOf(t, cs)
			servedOn := map[string]int{}
			var repeats []string
			req := ranking.Request{Now: t0, Viewer: "v"}
			var page ranking.Page
			for p := 1; p <= 3; p++ {
				if p == 3 { // a campaign starts for o0, served on page 1
					cs[0].Lane = ranking.LaneSponsored
					require.NoError(t, b.Set(b.Index("o0"), &cs[0]))
				}
				require.NoError(t, r.Rank(req, b, &page))
				for _, it := range page.Items {
					if _, ok := servedOn[it.ID]; ok {
						repeats = append(repeats, it.ID)
					}
					servedOn[it.ID] = p
				}
				req.Cursor = page.Cursor
			}
			if maxServed >= 4 { // 4 items served before page 3
				require.Empty(t, repeats)
			} else {
				require.Equal(t, []string{"o0"}, repeats)
			}
		})
	}
}
