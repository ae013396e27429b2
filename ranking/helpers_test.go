package ranking_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/ranking"
)

var (
	t0      = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	testKey = []byte("test-cursor-key-0123456789abcdef")
)

// newRanker builds a Ranker from DefaultConfig changed by mod.
func newRanker(t testing.TB, mod func(*ranking.Config)) *ranking.Ranker {
	t.Helper()
	cfg := ranking.DefaultConfig("test-v1", testKey)
	if mod != nil {
		mod(&cfg)
	}
	r, err := ranking.New(cfg)
	require.NoError(t, err)
	return r
}

// gen makes random candidates.
type gen struct {
	rng      *rand.Rand
	authors  int
	sellers  int
	dim      int     // embedding length, 0 for none
	lanes    float64 // share of sponsored/KOL candidates
	oos      float64 // share out of stock
	negative float64 // share with negative feedback
	next     int
}

func newGen(seed uint64) *gen {
	return &gen{rng: rand.New(rand.NewPCG(seed, 0xfeed)), authors: 12, sellers: 6}
}

func (g *gen) candidate() ranking.Candidate {
	g.next++
	r := g.rng
	c := ranking.Candidate{
		ID:       fmt.Sprintf("item-%05d", g.next),
		Author:   fmt.Sprintf("author-%d", r.IntN(g.authors)),
		Seller:   fmt.Sprintf("seller-%d", r.IntN(g.sellers)),
		Product:  fmt.Sprintf("product-%d", r.IntN(40)),
		Category: fmt.Sprintf("cat-%d", r.IntN(5)),
		Created:  t0.Add(-time.Duration(r.Int64N(int64(72 * time.Hour)))),
		Affinity: float64(r.IntN(4)) * r.Float64(),
	}
	g.engage(&c)
	if r.Float64() < 0.5 {
		c.RatingCount = float64(r.IntN(200))
		c.RatingSum = c.RatingCount * (1 + 4*r.Float64())
	}
	if r.Float64() < g.oos {
		c.Stock = ranking.OutOfStock
	}
	if x := r.Float64(); x < g.lanes/2 {
		c.Lane = ranking.LaneSponsored
	} else if x < g.lanes {
		c.Lane = ranking.LaneKOL
	}
	if r.Float64() < g.negative {
		c.NegativeFeedbackAt = t0.Add(-time.Duration(r.Int64N(int64(200 * 24 * time.Hour))))
	}
	if g.dim > 0 && r.Float64() < 0.9 {
		c.Embedding = make([]float32, g.dim)
		for k := range c.Embedding {
			c.Embedding[k] = float32(r.NormFloat64())
		}
	}
	return c
}

// engage draws fresh engagement counts.
func (g *gen) engage(c *ranking.Candidate) {
	r := g.rng
	c.Engagement = [ranking.NumTiers]ranking.Counts{}
	c.Engagement[ranking.TierRegular][ranking.ActionLike] = float64(r.IntN(500))
	c.Engagement[ranking.TierRegular][ranking.ActionComment] = float64(r.IntN(30))
	c.Engagement[ranking.TierRegular][ranking.ActionShare] = float64(r.IntN(10))
	if r.IntN(4) == 0 {
		c.Engagement[ranking.TierSuspect][ranking.ActionLike] = float64(r.IntN(1000))
	}
	if r.IntN(8) == 0 {
		c.Engagement[ranking.TierRegular][ranking.ActionHide] = float64(r.IntN(5))
	}
}

func (g *gen) batch(t testing.TB, n int) (*ranking.Batch, []ranking.Candidate) {
	t.Helper()
	cs := make([]ranking.Candidate, n)
	b := ranking.NewBatch(n)
	for i := range cs {
		cs[i] = g.candidate()
		require.NoError(t, b.Add(&cs[i]))
	}
	return b, cs
}

func batchOf(t testing.TB, cs []ranking.Candidate) *ranking.Batch {
	t.Helper()
	b := ranking.NewBatch(len(cs))
	for i := range cs {
		require.NoError(t, b.Add(&cs[i]))
	}
	return b
}

func ids(items []ranking.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}
