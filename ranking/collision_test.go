package ranking_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/ranking"
)

// These two IDs have the same 64-bit ID hash (FNV-1a; see
// hash_internal_test.go for how they were found): anyone who names items
// can make such pairs.
const collideA, collideB = "sku-tmElGPM1FKA", "sku-AYBJ0pbVf12"

// TestChosenIDCollision: the served set of a cursor held the unkeyed ID
// hashes alone, so an item whose ID collides with a served item's was
// taken as served. Without StaticSignals it was hidden for the rest of the
// session, though nothing about it changed; with StaticSignals, a
// colliding item posted after the key dropped the served item's entry,
// and that item was served again. The entries now carry a tag keyed by a
// secret per-session key, which chosen IDs cannot collide on.
func TestChosenIDCollision(t *testing.T) {
	type cand struct {
		id, author string
		likes      float64
		from       int // the first page whose batch holds it
	}
	tests := []struct {
		name   string
		static bool
		cands  []cand
		limits []int // per page; every item of the last batch must be served exactly once
	}{
		{
			// collideA is served on page 1; collideB, unchanged and after
			// the key, must come on a later page.
			name: "colliding item hidden",
			cands: []cand{
				{collideA, "a", 1000, 1}, {"x1", "b", 900, 1}, {"x2", "c", 800, 1},
				{"x3", "d", 700, 1}, {collideB, "e", 600, 1}, {"x4", "f", 500, 1},
			},
			limits: []int{2, 2, 2, 2},
		},
		{
			// Diversity demotes x1, so collideB is served beyond the key's
			// prefix on page 1 and enters the static served set. collideA,
			// posted before page 2 above the key, is before the key and
			// looked served: its entry, collideB's, was dropped while the
			// key (x1 after page 2) had not passed collideB.
			name:   "served item repeated",
			static: true,
			cands: []cand{
				{"x0", "a", 1000, 1}, {"x1", "a", 900, 1}, {collideB, "b", 850, 1},
				{"x2", "c", 800, 1}, {"x3", "d", 100, 1}, {"x4", "e", 90, 1},
				{collideA, "f", 5000, 2},
			},
			limits: []int{2, 1, 2, 2, 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRanker(t, func(c *ranking.Config) {
				c.PageSize = 2
				c.Signals = []ranking.Weighted{{Signal: ranking.Engagement{}, Weight: 1}}
				c.Diversity.Penalties = []ranking.AxisPenalty{{Axis: ranking.AxisAuthor, Decay: 0.5, Floor: 0.25}}
				c.Fatigue = ranking.Fatigue{}
				c.Cursor.StaticSignals = tt.static
			})
			servedOn := map[string]int{}
			req := ranking.Request{Now: t0, Viewer: "v"}
			var page ranking.Page
			var last []ranking.Candidate
			for p := 1; p <= len(tt.limits); p++ {
				req.Limit = tt.limits[p-1]
				var cs []ranking.Candidate
				for _, c := range tt.cands {
					if c.from <= p {
						x := ranking.Candidate{ID: c.id, Author: c.author, Created: t0}
						x.Engagement[ranking.TierRegular][ranking.ActionLike] = c.likes
						cs = append(cs, x)
					}
				}
				last = cs
				require.NoError(t, r.Rank(req, batchOf(t, cs), &page))
				for _, it := range page.Items {
					if q, ok := servedOn[it.ID]; ok {
						t.Fatalf("%s served on page %d and again on page %d", it.ID, q, p)
					}
					servedOn[it.ID] = p
				}
				req.Cursor = page.Cursor
			}
			for _, c := range last {
				if _, ok := servedOn[c.ID]; !ok && c.ID != collideA {
					t.Errorf("%s never served in %d pages (served: %v)", c.ID, len(tt.limits), servedOn)
				}
			}
		})
	}
}

// TestKeyRotationKeepsServedSet: the served set's tags are keyed by a
// session key that the cursor carries, so a session that goes on under a
// rotated CursorConfig.Key still recognises the items it served before
// the rotation: no repeats, nothing skipped.
func TestKeyRotationKeepsServedSet(t *testing.T) {
	b, cs := newGen(11).batch(t, 200)
	old := newRanker(t, func(c *ranking.Config) { c.KeepOutOfStock = true })
	rotated := newRanker(t, func(c *ranking.Config) {
		c.KeepOutOfStock = true
		c.Cursor.Key = []byte("the-next-key-0123456789abcdef!!")
		c.Cursor.OldKeys = [][]byte{testKey}
	})
	servedOn := map[string]int{}
	req := ranking.Request{Now: t0, Viewer: "v"}
	var page ranking.Page
	for p := 1; ; p++ {
		r := old
		if p > 2 {
			r = rotated
		}
		require.NoError(t, r.Rank(req, b, &page))
		for _, it := range page.Items {
			if q, ok := servedOn[it.ID]; ok {
				t.Fatalf("%s served on page %d and again on page %d", it.ID, q, p)
			}
			servedOn[it.ID] = p
		}
		if !page.More {
			break
		}
		req.Cursor = page.Cursor
	}
	require.Len(t, servedOn, len(cs))
}

// TestCursorBindingChosenCollision: a cursor's binding (viewer, scope,
// reference price) was checked by comparing an unkeyed 64-bit hash of the
// strings, built from the ID hash, so a viewer name chosen to collide with
// another's (collideA and collideB collide) was accepted with the other
// viewer's cursor: it saw the other's session (its as-of time and served
// set) and could page it on. The same for two scopes. The binding is now
// a hash keyed by CursorConfig.Key over the full strings, which chosen
// names cannot collide on.
func TestCursorBindingChosenCollision(t *testing.T) {
	b, _ := newGen(5).batch(t, 100)
	for _, static := range []bool{false, true} {
		r := newRanker(t, func(c *ranking.Config) { c.Cursor.StaticSignals = static })
		tests := []struct {
			name       string
			issue, use ranking.Request
		}{
			{"viewer", ranking.Request{Viewer: collideA, Scope: "home"}, ranking.Request{Viewer: collideB, Scope: "home"}},
			{"scope", ranking.Request{Viewer: "v", Scope: collideA}, ranking.Request{Viewer: "v", Scope: collideB}},
			{"viewer with price", ranking.Request{Viewer: collideA, PriceRef: 1999}, ranking.Request{Viewer: collideB, PriceRef: 1999}},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/static=%t", tt.name, static), func(t *testing.T) {
				var page ranking.Page
				issue := tt.issue
				issue.Now = t0
				require.NoError(t, r.Rank(issue, b, &page))
				// The cursor pages on for its own viewer and scope.
				own := issue
				own.Now, own.Cursor = t0.Add(time.Minute), page.Cursor
				_, err := r.CheckCursor(own)
				require.NoError(t, err)
				use := tt.use
				use.Now, use.Cursor = t0.Add(time.Minute), page.Cursor
				_, err = r.CheckCursor(use)
				require.ErrorIs(t, err, ranking.ErrCursorMismatch)
				var other ranking.Page
				require.ErrorIs(t, r.Rank(use, b, &other), ranking.ErrCursorMismatch)
			})
		}
	}
}

// TestChosenCollisionInSets: Request.Seen, Request.BlockedAuthors and the
// diversity counts compared unkeyed 64-bit hashes alone, so an item or
// author named to collide with another's (collideA and collideB) was taken
// for it: seeing one item hid the other, blocking one author hid the
// other's items, and one author's items were penalised as repeats of the
// other's. A hash match is now confirmed by comparing the IDs. Batches of
// 10 and 100 candidates take both ways a set is looked up (per candidate,
// and through the batch's ID index for a set much smaller than the batch).
func TestChosenCollisionInSets(t *testing.T) {
	r := newRanker(t, func(c *ranking.Config) {
		c.PageSize = 200
		c.Signals = []ranking.Weighted{{Signal: ranking.Engagement{}, Weight: 1}}
		c.Diversity.Penalties = []ranking.AxisPenalty{{Axis: ranking.AxisAuthor, Decay: 0.5, Floor: 0.25}}
		c.Fatigue = ranking.Fatigue{}
	})
	batch := func(n int, head ...ranking.Candidate) *ranking.Batch {
		cs := head
		for i := range n - len(head) {
			c := ranking.Candidate{ID: fmt.Sprintf("filler-%03d", i), Author: fmt.Sprintf("author-%03d", i), Created: t0}
			c.Engagement[ranking.TierRegular][ranking.ActionLike] = 1
			cs = append(cs, c)
		}
		return batchOf(t, cs)
	}
	item := func(id, author string, likes float64) ranking.Candidate {
		c := ranking.Candidate{ID: id, Author: author, Created: t0}
		c.Engagement[ranking.TierRegular][ranking.ActionLike] = likes
		return c
	}
	for _, n := range []int{10, 100} {
		t.Run(fmt.Sprintf("seen/%d", n), func(t *testing.T) {
			var page ranking.Page
			req := ranking.Request{Now: t0, Viewer: "v", Limit: n, Seen: ranking.NewIDSet(collideA)}
			require.NoError(t, r.Rank(req, batch(n, item(collideA, "x", 100), item(collideB, "y", 90)), &page))
			require.Equal(t, 1, page.Filtered[ranking.FilterSeen])
			require.Contains(t, ids(page.Items), collideB)
			require.NotContains(t, ids(page.Items), collideA)
		})
		t.Run(fmt.Sprintf("blocked/%d", n), func(t *testing.T) {
			var page ranking.Page
			req := ranking.Request{Now: t0, Viewer: "v", Limit: n, BlockedAuthors: ranking.NewIDSet(collideA)}
			require.NoError(t, r.Rank(req, batch(n, item("p1", collideA, 100), item("p2", collideB, 90)), &page))
			require.Equal(t, 1, page.Filtered[ranking.FilterBlockedAuthor])
			require.Contains(t, ids(page.Items), "p2")
			require.NotContains(t, ids(page.Items), "p1")
		})
		t.Run(fmt.Sprintf("diversity/%d", n), func(t *testing.T) {
			// Three authors, one item each: none is a repeat, so the order is
			// by engagement alone (a repeat's penalty would put p2 after p3).
			var page ranking.Page
			req := ranking.Request{Now: t0, Viewer: "v", Limit: 3}
			require.NoError(t, r.Rank(req, batch(n, item("p1", collideA, 100), item("p2", collideB, 90), item("p3", "z", 70)), &page))
			require.Equal(t, []string{"p1", "p2", "p3"}, ids(page.Items))
		})
	}
}

// TestIDSetChosenCollision: an IDSet holds IDs, not hashes: an ID whose
// hash collides with a member's is not a member, and both can be added.
func TestIDSetChosenCollision(t *testing.T) {
	set := ranking.NewIDSet(collideA)
	require.True(t, set.Has(collideA))
	require.False(t, set.Has(collideB), "a colliding ID is not in the set")
	set.Add(collideB)
	set.Add(collideB)
	require.Equal(t, 2, set.Len())
	for i := range 100 { // through several rehashes
		set.Add(fmt.Sprintf("id-%d", i))
	}
	require.True(t, set.Has(collideA) && set.Has(collideB))
	require.Equal(t, 102, set.Len())
	set.Reset()
	require.False(t, set.Has(collideA))
	var zero ranking.IDSet
	zero.Add(collideB)
	require.True(t, zero.Has(collideB))
	require.False(t, zero.Has(collideA))

}
