package ranking

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// pruneCase is a random configuration, batch and session for
// TestPruneMatchesFullScoring.
type pruneCase struct {
	rng   *rand.Rand
	cfg   Config
	cs    []Candidate
	req   Request
	pages int
}

func newPruneCase(t *testing.T, seed uint64) *pruneCase {
	rng := rand.New(rand.NewPCG(seed, 0x9a11))
	pc := &pruneCase{rng: rng}
	cfg := DefaultConfig(fmt.Sprintf("prune-%d", seed), []byte("prune-test-key-0123456789"))
	cfg.PageSize = 1 + rng.IntN(30)
	if rng.IntN(2) == 0 {
		cfg.Pool = cfg.PageSize + rng.IntN(3*cfg.PageSize+1)
	}
	cfg.Cursor.MaxServed = MaxServedLimit
	cfg.Cursor.StaticSignals = rng.IntN(4) == 0
	cfg.KeepOutOfStock = rng.IntN(3) == 0
	weight := func() float64 {
		switch rng.IntN(8) {
		case 0:
			return 0
		case 1:
			return -rng.Float64() * 2
		case 2:
			return (rng.Float64()*2 - 1) * 1e3
		}
		return rng.Float64() * 3
	}
	all := []Signal{
		Engagement{},
		Engagement{Weights: Counts{ActionLike: 1, ActionComment: 3, ActionShare: 5, ActionSave: 2, ActionClick: 0.2, ActionCart: 4, ActionPurchase: 9, ActionHide: -25, ActionReport: -90}, Credibility: [NumTiers]float64{1, 0.3, 0.01}},
		Engagement{Weights: Counts{ActionLike: -1, ActionComment: 2}},
		ExponentialDecay{HalfLife: time.Duration(1+rng.IntN(48)) * time.Hour},
		LinearDecay{HalfLife: 20 * time.Hour},
		GaussianDecay{HalfLife: 30 * time.Hour},
		PowerDecay{},
		Freshness{Window: 6 * time.Hour},
		WilsonRating{},
		WilsonRating{Z: 1.28, Min: 0, Max: 1},
		BayesianRating{PriorMean: 3.8, PriorCount: 25},
		Affinity{},
		PriceFit{},
		Explore{Period: time.Hour, Seed: seed},
		Explore{},
	}
	cfg.Signals = nil
	for k, j := range rng.Perm(len(all))[:1+rng.IntN(6)] {
		cfg.Signals = append(cfg.Signals, Weighted{Signal: all[j], Weight: weight(), Name: fmt.Sprintf("s%d", k)})
	}
	switch rng.IntN(3) {
	case 0:
		cfg.Fatigue = Fatigue{}
	case 1:
		cfg.Fatigue = Fatigue{MuteFor: time.Duration(rng.IntN(10)) * 24 * time.Hour, RecoverOver: time.Duration(rng.IntN(100)) * 24 * time.Hour, Floor: 0.05 + 0.9*rng.Float64()}
	}
	cfg.Diversity.Penalties = nil
	for _, a := range rng.Perm(NumAxes)[:rng.IntN(NumAxes+1)] {
		cfg.Diversity.Penalties = append(cfg.Diversity.Penalties, AxisPenalty{Axis: Axis(a), Decay: rng.Float64(), Floor: 0.05 + 0.95*rng.Float64()})
	}
	dim := 0
	if rng.IntN(4) == 0 {
		dim = 4
		cfg.Diversity.MMR = MMR{Head: 1 + rng.IntN(cfg.PageSize), Lambda: 0.1 + 0.9*rng.Float64()}
	}
	lanes := rng.IntN(3) == 0
	if lanes {
		for _, pos := range rng.Perm(cfg.PageSize)[:rng.IntN(min(3, cfg.PageSize)+1)] {
			cfg.Slots = append(cfg.Slots, Slot{Position: pos + 1, Lane: Lane(1 + rng.IntN(2))})
		}
	}
	pc.cfg = cfg

	pool := cfg.Pool
	if pool == 0 {
		pool = 3 * cfg.PageSize
	}
	n := pool * (2 + rng.IntN(14))
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for i := range n {
		pc.cs = append(pc.cs, pc.candidate(i, now, dim, lanes))
	}
	req := Request{Now: now, Viewer: fmt.Sprintf("viewer-%d", seed%7), Scope: "s"}
	if rng.IntN(2) == 0 {
		req.Limit = 1 + rng.IntN(cfg.PageSize)
	}
	if rng.IntN(2) == 0 {
		req.PriceRef = 1 + rng.Int64N(100000)
	}
	switch rng.IntN(3) { // a seen set small or large relative to the batch
	case 0:
		req.Seen = NewIDSet()
		for range 1 + rng.IntN(n/10+1) {
			req.Seen.Add(pc.cs[rng.IntN(n)].ID)
		}
	case 1:
		req.Seen = NewIDSet()
		for range n / 2 {
			req.Seen.Add(pc.cs[rng.IntN(n)].ID)
		}
	}
	if rng.IntN(4) == 0 {
		req.BlockedAuthors = NewIDSet("author-1", "author-2")
	}
	if rng.IntN(4) == 0 {
		req.Allow = func(b *Batch, i int) bool { return b.idh[i]%11 != 0 }
	}
	pc.req = req
	pc.pages = 1 + rng.IntN(4)
	return pc
}

func (pc *pruneCase) candidate(i int, now time.Time, dim int, lanes bool) Candidate {
	rng := pc.rng
	c := Candidate{
		ID:       fmt.Sprintf("c%05d", i),
		Author:   fmt.Sprintf("author-%d", rng.IntN(20)),
		Seller:   fmt.Sprintf("seller-%d", rng.IntN(8)),
		Product:  fmt.Sprintf("product-%d", rng.IntN(50)),
		Category: fmt.Sprintf("cat-%d", rng.IntN(5)),
		Created:  now.Add(-time.Duration(rng.Int64N(int64(96*time.Hour))) + time.Hour),
	}
	pc.engage(&c)
	if rng.IntN(2) == 0 {
		c.RatingCount = float64(rng.IntN(300))
		c.RatingSum = c.RatingCount * (1 + 4*rng.Float64())
	}
	switch rng.IntN(4) {
	case 0:
		c.Affinity = rng.Float64()
	case 1:
		c.Affinity = rng.Float64() * MaxAffinity * float64(rng.IntN(2))
	}
	c.PriceMinor = rng.Int64N(200000) * int64(rng.IntN(2))
	if rng.IntN(20) == 0 {
		c.Stock = OutOfStock
	}
	if lanes && rng.IntN(8) == 0 {
		c.Lane = Lane(1 + rng.IntN(2))
	}
	if rng.IntN(10) == 0 {
		c.NegativeFeedbackAt = now.Add(-time.Duration(rng.Int64N(int64(120 * 24 * time.Hour))))
	}
	if dim > 0 && rng.IntN(8) != 0 {
		c.Embedding = make([]float32, dim)
		for k := range c.Embedding {
			c.Embedding[k] = float32(rng.NormFloat64())
		}
	}
	return c
}

// engage draws new engagement counts: a few actions per tier, sometimes
// the negative ones, sometimes huge counts.
func (pc *pruneCase) engage(c *Candidate) {
	rng := pc.rng
	c.Engagement = [NumTiers]Counts{}
	for t := range NumTiers {
		if t > 0 && rng.IntN(3) != 0 {
			continue
		}
		for range rng.IntN(4) {
			a := rng.IntN(NumActions)
			c.Engagement[t][a] = float64(rng.IntN(5000))
			if rng.IntN(50) == 0 {
				c.Engagement[t][a] = rng.Float64() * MaxCount
			}
		}
	}
}

// TestPruneMatchesFullScoring ranks random sessions under random
// configurations (every built-in signal, negative and zero weights, lanes,
// fatigue, diversity, MMR, static and changing signals, seen sets small and
// large, blocked authors, host predicates) twice, with and without
// bound-based pruning, and requires bit-identical pages: items, scores,
// cursors, More and every candidate's filter. It also checks that every
// bound is at least the candidate's score, and that every candidate pruned
// (never fully scored) scores below the final pool threshold. Rerun one
// case with SCSDK_SEED=<seed>.
func TestPruneMatchesFullScoring(t *testing.T) {
	first, seeds := seedRange(t, 300)
	var ranks, prunedRanks, pruned, candidates int
	for seed := first; seed < first+seeds; seed++ {
		pc := newPruneCase(t, seed)
		pr, err := New(pc.cfg)
		require.NoError(t, err, "seed %d", seed)
		require.True(t, pr.prune, "seed %d: built-in signals only", seed)
		full, err := New(pc.cfg)
		require.NoError(t, err)
		full.prune = false
		b := NewBatch(len(pc.cs))
		for i := range pc.cs {
			require.NoError(t, b.Add(&pc.cs[i]))
		}
		var pp, fp Page
		preq, freq := pc.req, pc.req
		for page := range pc.pages {
			msg := fmt.Sprintf("seed %d page %d (rerun with SCSDK_SEED=%d)", seed, page, seed)
			// Scores of candidates never fully scored stay NaN.
			if len(pp.s.score) < b.Len() {
				pp.s.score = make([]float64, b.Len())
			}
			for i := range pp.s.score {
				pp.s.score[i] = math.NaN()
			}
			require.NoError(t, pr.Rank(preq, b, &pp), msg)
			require.NoError(t, full.Rank(freq, b, &fp), msg)
			require.Equal(t, fp.Items, pp.Items, msg)
			for j := range fp.Items {
				require.Equal(t, math.Float64bits(fp.Items[j].Score), math.Float64bits(pp.Items[j].Score), msg)
				require.Equal(t, math.Float64bits(fp.Items[j].Base), math.Float64bits(pp.Items[j].Base), msg)
			}
			require.Equal(t, fp.Cursor, pp.Cursor, msg)
			require.Equal(t, fp.More, pp.More, msg)
			require.Equal(t, fp.Filtered, pp.Filtered, msg)
			require.Equal(t, fp.AsOf, pp.AsOf, msg)
			for i := range b.Len() {
				require.Equal(t, fp.FilterOf(i), pp.FilterOf(i), "%s: candidate %d", msg, i)
			}
			ranks++
			if n := b.Len(); n >= pruneMinFactor*max(pr.pool, cmpLimit(preq.Limit, pr.pageSize)) {
				prunedRanks++
				p, c := checkBounds(t, &pp, &fp, b, msg)
				pruned, candidates = pruned+p, candidates+c
			}
			if !fp.More {
				break
			}
			preq.Cursor, freq.Cursor = pp.Cursor, fp.Cursor
			preq.Now = preq.Now.Add(time.Minute)
			freq.Now = preq.Now
			if !pc.cfg.Cursor.StaticSignals {
				for range pc.rng.IntN(len(pc.cs)/4 + 1) {
					i := pc.rng.IntN(len(pc.cs))
					pc.engage(&pc.cs[i])
					require.NoError(t, b.Set(i, &pc.cs[i]))
				}
			}
		}
	}
	t.Logf("%d ranks, %d of them pruning: %d of %d candidates not fully scored", ranks, prunedRanks, pruned, candidates)
	if seeds > 1 { // one rerun seed may prune little
		require.Greater(t, pruned, candidates/2, "the test should exercise pruning")
	}
}

func cmpLimit(limit, pageSize int) int {
	if limit == 0 {
		return pageSize
	}
	return limit
}

// checkBounds checks, after a pruning Rank into pp and a full one into fp,
// that every candidate's bound is at least its score (computed by full
// scoring), and that every candidate pruned scores below the threshold of
// the final organic pool. It returns the number of candidates pruned and
// the number that no filter removed.
func checkBounds(t *testing.T, pp, fp *Page, b *Batch, msg string) (pruned, live int) {
	t.Helper()
	heap := &pp.s.heaps[LaneOrganic]
	thr := math.Inf(-1)
	if len(pp.s.pool) == heap.k && heap.k > 0 {
		thr = pp.s.score[pp.s.pool[len(pp.s.pool)-1]]
	}
	for i := range b.Len() {
		if pp.FilterOf(i) != FilterNone {
			continue
		}
		live++
		sc, ub := fp.s.score[i], pp.s.ub[i]
		if ub == math.Inf(-1) { // kept: scored fully
			require.False(t, math.IsNaN(pp.s.score[i]), "%s: kept candidate %d not scored", msg, i)
			continue
		}
		require.GreaterOrEqual(t, ub, sc, "%s: candidate %d: bound below score", msg, i)
		if math.IsNaN(pp.s.score[i]) {
			pruned++
			require.Less(t, sc, thr, "%s: candidate %d pruned but scores %v, threshold %v", msg, i, sc, thr)
			require.Equal(t, LaneOrganic, b.lane[i], msg)
		} else {
			require.Equal(t, math.Float64bits(sc), math.Float64bits(pp.s.score[i]), "%s: candidate %d", msg, i)
		}
	}
	return pruned, live
}

// TestPruneDisabledForHostSignals: a host signal has no known bound, so a
// Config with one is scored fully.
func TestPruneDisabledForHostSignals(t *testing.T) {
	cfg := benchConfig()
	var seen int64
	cfg.Signals = append(cfg.Signals, Weighted{Signal: probe{&seen}, Weight: 1})
	r, err := New(cfg)
	require.NoError(t, err)
	require.False(t, r.prune)
	r, err = New(benchConfig())
	require.NoError(t, err)
	require.True(t, r.prune)
}

// TestLnUp checks that lnUp bounds ln from above, with the relative 1e-13
// it promises on its argument, and that it is at most ln(1 + 1/256) above.
func TestLnUp(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	xs := []float64{1, math.Nextafter(1, 2), 2, math.Nextafter(2, 1), 1 + 1.0/256, math.Nextafter(1+1.0/256, 1), 1e21, MaxAffinity + 1, math.MaxFloat64 / 4}
	for k := range 80 {
		p := math.Ldexp(1, k)
		for j := range 257 {
			x := p * (1 + float64(j)/256)
			xs = append(xs, x, math.Nextafter(x, 0), math.Nextafter(x, math.Inf(1)))
		}
	}
	for range 200000 {
		xs = append(xs, math.Exp(rng.Float64()*60), 1+rng.Float64()*1e-3)
	}
	for _, x := range xs {
		if x < 1 { // outside the domain
			continue
		}
		u := lnUp(x)
		for _, y := range []float64{x, x * (1 + 1e-13)} {
			require.GreaterOrEqual(t, u, ln(y), "x = %v, y = %v", x, y)
			require.GreaterOrEqual(t, u, math.Log(y), "x = %v, y = %v", x, y)
		}
		require.LessOrEqual(t, u-ln(x), math.Log1p(1.0/256)+1e-9, "x = %v", x)
	}
	require.Equal(t, math.Inf(1), lnUp(math.Inf(1)))
}

// TestKthLargest compares the selection with sorting, with many ties.
func TestKthLargest(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, n := range []int{1, 2, 3, 10, 100, 1000} {
		for range 50 {
			x := make([]seed, n)
			for i := range x {
				x[i] = seed{float64(rng.IntN(n/3+2)) - float64(n)/6, int32(i)}
			}
			sorted := make([]float64, n)
			for i, e := range x {
				sorted[i] = e.u
			}
			slices.Sort(sorted)
			before := slices.Clone(x)
			sa, sb := make([]float64, n), make([]float64, n)
			for _, k := range []int{1, 1 + rng.IntN(n), n} {
				require.Equal(t, sorted[n-k], kthLargest(x, k, sa, sb), "n=%d k=%d", n, k)
				require.Equal(t, before, x, "kthLargest must not reorder x")
			}
		}
	}
}

func TestLess(t *testing.T) {
	vals := []float64{math.Inf(-1), -math.MaxFloat64, -1, -math.SmallestNonzeroFloat64, 0, math.SmallestNonzeroFloat64, 1, math.Nextafter(1, 2), math.MaxFloat64, math.Inf(1)}
	for _, x := range vals {
		for _, y := range vals {
			if math.IsInf(x, 0) && math.IsInf(y, 0) {
				continue
			}
			want := 0
			if x < y {
				want = 1
			}
			require.Equal(t, want, less(x, y), "less(%v, %v)", x, y)
		}
	}
}

// TestEngagementColumns checks that Engagement, which sums the count
// columns some candidate uses, gives the same bits as a sum over all nine
// actions of every tier in the candidate's mask (the row layout's sum),
// with negative weights and unused columns.
func TestEngagementColumns(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 13))
	e := Engagement{Weights: Counts{ActionLike: 1.1, ActionComment: 3.3, ActionShare: 0, ActionSave: 2, ActionClick: 0.1, ActionCart: 4, ActionPurchase: 9, ActionHide: -25, ActionReport: -90}}
	m := e.matrix()
	b := NewBatch(0)
	var cs []Candidate
	for i := range 3000 {
		c := Candidate{ID: fmt.Sprint(i), Created: time.Unix(1.7e9, 0)}
		for t := range NumTiers {
			for a := range NumActions {
				if rng.IntN(4) == 0 && !(a == int(ActionSave) && t != 1) { // save only in tier 1
					c.Engagement[t][a] = float64(rng.IntN(1000)) * float64(rng.IntN(2))
				}
			}
		}
		cs = append(cs, c)
		require.NoError(t, b.Add(&c))
	}
	live := make([]int32, b.Len())
	for i := range live {
		live[i] = int32(i)
	}
	out := make([]float64, b.Len())
	require.NoError(t, e.Score(&Input{Batch: b, Live: live}, out))
	for i, c := range cs {
		var sum float64
		for t := range NumTiers {
			if b.tiers[i]&(1<<t) == 0 {
				continue
			}
			row := &c.Engagement[t]
			d := float64(m[t][0] * float64(float32(row[0])))
			for a := 1; a < NumActions; a++ {
				d += float64(m[t][a] * float64(float32(row[a])))
			}
			sum += d
		}
		require.Equal(t, math.Float64bits(signedLog(sum)), math.Float64bits(out[i]), "candidate %d", i)
	}
}

// TestMarkIDs checks that marking through the batch's index finds the same
// candidates as testing each against the set, and that an earlier mark is
// kept.
func TestMarkIDs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	b := NewBatch(0)
	for i := range 5000 {
		require.NoError(t, b.Add(&Candidate{ID: fmt.Sprintf("id-%d", i), Created: time.Unix(1.7e9, 0)}))
	}
	seen, served := NewIDSet(), NewIDSet()
	for range 300 {
		seen.Add(fmt.Sprintf("id-%d", rng.IntN(6000))) // some not in the batch
		served.Add(fmt.Sprintf("id-%d", rng.IntN(6000)))
	}
	mark := make([]Filter, b.Len())
	b.markIDs(seen, mark, FilterSeen, nil)
	b.markIDs(served, mark, FilterServed, nil)
	for i := range b.Len() {
		want := FilterNone
		switch {
		case seen.hasID(b.idh[i], b.ids[i]):
			want = FilterSeen
		case served.hasID(b.idh[i], b.ids[i]):
			want = FilterServed
		}
		require.Equal(t, want, mark[i], "candidate %d", i)
	}
}
