package ranking_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/socialcommerce/sdk/ranking"
)

// TestPagingProperty pages through random candidate sets under random
// configurations while engagement changes between pages (and new items
// arrive), and checks the session guarantee: no item is served twice, and
// every organic item whose inputs never changed is served before the
// session ends. Rerun one case with SCSDK_SEED=<seed>.
func TestPagingProperty(t *testing.T) {
	first, seeds := ranking.SeedRange(t, 400)
	var pages, served, changed int
	for seed := first; seed < first+seeds; seed++ {
		p, s, c := pagingSession(t, seed)
		pages, served, changed = pages+p, served+s, changed+c
	}
	t.Logf("%d sessions, %d pages, %d items served, %d inputs changed", seeds, pages, served, changed)
}

func pagingSession(t *testing.T, seed uint64) (pages, served, changed int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	var log []string
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d (rerun with SCSDK_SEED=%d): %s\nlast steps:\n%v", seed, seed, fmt.Sprintf(format, args...), log[max(0, len(log)-12):])
	}
	g := newGen(seed)
	g.authors, g.sellers = 1+rng.IntN(15), 1+rng.IntN(8)
	g.lanes, g.oos, g.negative = 0.15*rng.Float64(), 0.1*rng.Float64(), 0.1*rng.Float64()
	if rng.IntN(3) == 0 {
		g.dim = 8
	}
	static := rng.IntN(5) == 0 // no changes between pages, compact cursors

	cfg := ranking.DefaultConfig(fmt.Sprintf("prop-%d", seed), testKey)
	cfg.PageSize = 1 + rng.IntN(25)
	if rng.IntN(2) == 0 {
		cfg.Pool = cfg.PageSize + rng.IntN(4*cfg.PageSize+1)
	}
	cfg.Cursor.MaxServed = ranking.MaxServedLimit
	cfg.Cursor.MaxAge = ranking.MaxCursorAge
	cfg.Cursor.StaticSignals = static
	cfg.Signals = append(cfg.Signals, ranking.Weighted{Signal: ranking.WilsonRating{}, Weight: rng.Float64()})
	switch rng.IntN(4) {
	case 0:
		cfg.Signals[1] = ranking.Weighted{Signal: ranking.PowerDecay{}, Weight: 1}
	case 1:
		cfg.Signals = append(cfg.Signals, ranking.Weighted{Signal: ranking.Explore{Period: time.Hour, Seed: seed}, Weight: 2 * rng.Float64()})
	}
	cfg.Diversity.Penalties = nil
	for _, a := range rng.Perm(ranking.NumAxes)[:rng.IntN(ranking.NumAxes+1)] {
		cfg.Diversity.Penalties = append(cfg.Diversity.Penalties, ranking.AxisPenalty{Axis: ranking.Axis(a), Decay: rng.Float64(), Floor: 0.05 + 0.95*rng.Float64()})
	}
	if g.dim > 0 {
		cfg.Diversity.MMR = ranking.MMR{Head: 1 + rng.IntN(cfg.PageSize), Lambda: 0.1 + 0.9*rng.Float64()}
	}
	for _, pos := range rng.Perm(cfg.PageSize)[:rng.IntN(min(3, cfg.PageSize)+1)] {
		cfg.Slots = append(cfg.Slots, ranking.Slot{Position: pos + 1, Lane: ranking.Lane(1 + rng.IntN(2))})
	}
	r, err := ranking.New(cfg)
	if err != nil {
		fail("config: %v", err)
	}

	n := 1 + rng.IntN(400)
	cs := make([]ranking.Candidate, n)
	for i := range cs {
		cs[i] = g.candidate()
	}
	b := batchOf(t, cs)
	dirty := map[string]bool{} // inputs changed at some point
	seen := ranking.NewIDSet()
	for range rng.IntN(4) {
		seen.Add(cs[rng.IntN(n)].ID)
	}

	servedAt := map[string]int{}
	var page ranking.Page
	req := ranking.Request{Now: t0, Viewer: fmt.Sprintf("viewer-%d", seed%5), Scope: "home", Seen: seen}
	if rng.IntN(2) == 0 {
		req.Limit = 1 + rng.IntN(cfg.PageSize)
	}
	for pages = 0; ; pages++ {
		if pages > 2*len(cs)+10 {
			fail("session did not end after %d pages", pages)
		}
		if err := r.Rank(req, b, &page); err != nil {
			fail("page %d: %v", pages, err)
		}
		log = append(log, fmt.Sprintf("page %d: %v more=%v filtered=%v", pages, ids(page.Items), page.More, page.Filtered))
		if !page.AsOf.Equal(t0) {
			fail("page %d ranked as of %v, want the session's %v", pages, page.AsOf, t0)
		}
		for _, it := range page.Items {
			if p, dup := servedAt[it.ID]; dup {
				fail("item %s served on page %d and again on page %d", it.ID, p, pages)
			}
			servedAt[it.ID] = pages
		}
		if page.More && len(page.Items) == 0 {
			fail("page %d made no progress", pages)
		}
		if !page.More {
			break
		}
		req.Cursor = page.Cursor
		req.Now = req.Now.Add(time.Duration(rng.IntN(120)) * time.Second)
		if static {
			continue
		}
		// Engagement moves between pages, both ways; new items arrive.
		for range rng.IntN(n/4 + 2) {
			i := rng.IntN(len(cs))
			g.engage(&cs[i])
			if err := b.Set(i, &cs[i]); err != nil {
				fail("set: %v", err)
			}
			dirty[cs[i].ID] = true
			changed++
		}
		for range rng.IntN(3) {
			c := g.candidate()
			cs = append(cs, c)
			dirty[c.ID] = true
			if err := b.Add(&cs[len(cs)-1]); err != nil {
				fail("add: %v", err)
			}
		}
	}
	// Every unchanged organic item that no filter removes was served.
	for i, c := range cs {
		if dirty[c.ID] || c.Lane != ranking.LaneOrganic || seen.Has(c.ID) || c.Stock == ranking.OutOfStock {
			continue
		}
		if !c.NegativeFeedbackAt.IsZero() && t0.Sub(c.NegativeFeedbackAt) < cfg.Fatigue.MuteFor {
			continue
		}
		if _, ok := servedAt[c.ID]; !ok {
			fail("item %s (index %d) never served; its last filter: %v", c.ID, i, page.FilterOf(i))
		}
	}
	return pages + 1, len(servedAt), changed
}

// TestPagingStaticCompactCursor checks that StaticSignals keeps cursors
// short while paging a fixed list exhaustively and without repeats.
func TestPagingStaticCompactCursor(t *testing.T) {
	g := newGen(3)
	b, cs := g.batch(t, 500)
	r := newRanker(t, func(c *ranking.Config) { c.Cursor.StaticSignals = true; c.KeepOutOfStock = true })
	var page ranking.Page
	req := ranking.Request{Now: t0, Viewer: "v"}
	got := map[string]bool{}
	longest := 0
	for {
		if err := r.Rank(req, b, &page); err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			if got[it.ID] {
				t.Fatalf("repeat %s", it.ID)
			}
			got[it.ID] = true
		}
		longest = max(longest, len(page.Cursor))
		if !page.More {
			break
		}
		req.Cursor = page.Cursor
	}
	if len(got) != len(cs) {
		t.Fatalf("served %d of %d", len(got), len(cs))
	}
	if longest > 400 {
		t.Fatalf("static cursors should stay short, longest was %d characters", longest)
	}
	t.Logf("longest static cursor: %d characters", longest)
}

// TestPagingServedSetOverflow shows the documented limit: past MaxServed
// the oldest hashes are dropped, and cursors stop growing.
func TestPagingServedSetOverflow(t *testing.T) {
	g := newGen(4)
	b, _ := g.batch(t, 300)
	r := newRanker(t, func(c *ranking.Config) { c.Cursor.MaxServed = 50; c.PageSize = 20 })
	var page ranking.Page
	req := ranking.Request{Now: t0, Viewer: "v"}
	var sizes []int
	for range 8 {
		if err := r.Rank(req, b, &page); err != nil {
			t.Fatal(err)
		}
		info, err := r.CheckCursor(ranking.Request{Now: t0, Viewer: "v", Cursor: page.Cursor})
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, info.Served)
		req.Cursor = page.Cursor
	}
	if !slices.Equal(sizes, []int{20, 40, 50, 50, 50, 50, 50, 50}) {
		t.Fatalf("served set sizes %v", sizes)
	}
}
