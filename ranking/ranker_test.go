package ranking_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/ranking"
)

func TestBatchValidation(t *testing.T) {
	ok := func() ranking.Candidate { return ranking.Candidate{ID: "a", Created: t0} }
	tests := []struct {
		name  string
		mod   func(c *ranking.Candidate)
		field string
	}{
		{"empty ID", func(c *ranking.Candidate) { c.ID = "" }, "candidates[0].ID"},
		{"long ID", func(c *ranking.Candidate) { c.ID = strings.Repeat("x", 257) }, "candidates[0].ID"},
		{"long author", func(c *ranking.Candidate) { c.Author = strings.Repeat("x", 257) }, "candidates[0].Author"},
		{"no created", func(c *ranking.Candidate) { c.Created = time.Time{} }, "candidates[0].Created"},
		{"created far future", func(c *ranking.Candidate) { c.Created = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }, "candidates[0].Created"},
		{"NaN count", func(c *ranking.Candidate) { c.Engagement[0][ranking.ActionLike] = math.NaN() }, "candidates[0].Engagement[regular][like]"},
		{"Inf count", func(c *ranking.Candidate) { c.Engagement[2][ranking.ActionShare] = math.Inf(1) }, "candidates[0].Engagement[suspect][share]"},
		{"negative count", func(c *ranking.Candidate) { c.Engagement[1][ranking.ActionHide] = -1 }, "candidates[0].Engagement[new][hide]"},
		{"negative rating count", func(c *ranking.Candidate) { c.RatingCount = -1 }, "candidates[0].RatingCount"},
		{"rating sum without count", func(c *ranking.Candidate) { c.RatingSum = 4 }, "candidates[0].RatingSum"},
		{"NaN rating sum", func(c *ranking.Candidate) { c.RatingCount, c.RatingSum = 1, math.NaN() }, "candidates[0].RatingSum"},
		{"negative price", func(c *ranking.Candidate) { c.PriceMinor = -1 }, "candidates[0].PriceMinor"},
		{"unknown stock", func(c *ranking.Candidate) { c.Stock = 9 }, "candidates[0].Stock"},
		{"unknown lane", func(c *ranking.Candidate) { c.Lane = 9 }, "candidates[0].Lane"},
		{"NaN affinity", func(c *ranking.Candidate) { c.Affinity = math.NaN() }, "candidates[0].Affinity"},
		{"negative affinity", func(c *ranking.Candidate) { c.Affinity = -0.5 }, "candidates[0].Affinity"},
		{"bad feedback time", func(c *ranking.Candidate) { c.NegativeFeedbackAt = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC) }, "candidates[0].NegativeFeedbackAt"},
		{"NaN embedding", func(c *ranking.Candidate) { c.Embedding = []float32{1, float32(math.NaN())} }, "candidates[0].Embedding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.mod(&c)
			b := ranking.NewBatch(1)
			err := b.Add(&c)
			var ve *ranking.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.field, ve.Field)
			assert.Equal(t, 0, b.Len(), "a rejected candidate changes nothing")
		})
	}
	t.Run("duplicate ID", func(t *testing.T) {
		b := ranking.NewBatch(0)
		c := ok()
		require.NoError(t, b.Add(&c))
		var ve *ranking.ValidationError
		require.ErrorAs(t, b.Add(&c), &ve)
		assert.Equal(t, "candidates[1].ID", ve.Field)
		assert.Equal(t, 1, b.Len())
	})
	t.Run("embedding length", func(t *testing.T) {
		b := ranking.NewBatch(0)
		c := ok()
		c.Embedding = []float32{1, 0}
		require.NoError(t, b.Add(&c))
		d := ranking.Candidate{ID: "b", Created: t0, Embedding: []float32{1, 0, 0}}
		require.Error(t, b.Add(&d))
		d.Embedding = nil
		require.NoError(t, b.Add(&d))
		assert.Nil(t, b.Embedding(1))
		assert.Equal(t, []float32{1, 0}, b.Embedding(0))
	})
	t.Run("set keeps the ID", func(t *testing.T) {
		b := ranking.NewBatch(0)
		c := ok()
		require.NoError(t, b.Add(&c))
		c.Engagement[0][ranking.ActionLike] = 7
		require.NoError(t, b.Set(0, &c))
		assert.Equal(t, 7.0, b.Count(0, ranking.TierRegular, ranking.ActionLike))
		c.ID = "other"
		require.Error(t, b.Set(0, &c))
		require.Error(t, b.Set(3, &c))
		require.Error(t, b.Add(nil))
	})
	t.Run("reset reuses", func(t *testing.T) {
		b := ranking.NewBatch(0)
		c := ok()
		require.NoError(t, b.Add(&c))
		b.Reset()
		require.Equal(t, 0, b.Len())
		require.NoError(t, b.Add(&c), "the ID is free again after Reset")
		assert.Equal(t, 0, b.Index("a"))
		assert.Equal(t, -1, b.Index("zzz"))
	})
}

func TestAccessors(t *testing.T) {
	c := ranking.Candidate{ID: "p1", Author: "au", Seller: "se", Product: "pr", Category: "ca", Created: t0,
		RatingSum: 9, RatingCount: 2, PriceMinor: 1299, Stock: ranking.InStock, Affinity: 0.5,
		Lane: ranking.LaneKOL, NegativeFeedbackAt: t0.Add(-time.Hour)}
	c.Engagement[ranking.TierNew][ranking.ActionSave] = 3
	b := batchOf(t, []ranking.Candidate{c})
	assert.Equal(t, "p1", b.ID(0))
	assert.Equal(t, []string{"au", "se", "pr", "ca"}, []string{b.Attr(0, ranking.AxisAuthor), b.Attr(0, ranking.AxisBrand), b.Attr(0, ranking.AxisProduct), b.Attr(0, ranking.AxisCategory)})
	assert.True(t, b.Created(0).Equal(t0))
	assert.Equal(t, t0.UnixNano(), b.CreatedUnixNano(0))
	assert.Equal(t, 3.0, b.Count(0, ranking.TierNew, ranking.ActionSave))
	s, n := b.Rating(0)
	assert.Equal(t, [2]float64{9, 2}, [2]float64{s, n})
	assert.Equal(t, int64(1299), b.PriceMinor(0))
	assert.Equal(t, ranking.InStock, b.Stock(0))
	assert.Equal(t, 0.5, b.Affinity(0))
	assert.Equal(t, ranking.LaneKOL, b.Lane(0))
	assert.True(t, b.NegativeFeedbackAt(0).Equal(t0.Add(-time.Hour)))
	assert.Equal(t, "like", ranking.ActionLike.String())
	assert.Equal(t, "suspect", ranking.TierSuspect.String())
	assert.Equal(t, "kol", ranking.LaneKOL.String())
	assert.Equal(t, "seller", ranking.AxisBrand.String())
	assert.Equal(t, "before-cursor", ranking.FilterBeforeCursor.String())
	assert.Equal(t, "filter(99)", ranking.Filter(99).String())
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(c *ranking.Config)
		field string
	}{
		{"no version", func(c *ranking.Config) { c.Version = "" }, "Version"},
		{"k = 0", func(c *ranking.Config) { c.PageSize = 0 }, "PageSize"},
		{"k < 0", func(c *ranking.Config) { c.PageSize = -3 }, "PageSize"},
		{"k too big", func(c *ranking.Config) { c.PageSize = ranking.MaxPageSize + 1 }, "PageSize"},
		{"pool smaller than page", func(c *ranking.Config) { c.Pool = 5 }, "Pool"},
		{"no signals", func(c *ranking.Config) { c.Signals = nil }, "Signals"},
		{"nil signal", func(c *ranking.Config) { c.Signals[0].Signal = nil }, "Signals[0].Signal"},
		{"NaN weight", func(c *ranking.Config) { c.Signals[0].Weight = math.NaN() }, "Signals[0].Weight"},
		{"Inf weight", func(c *ranking.Config) { c.Signals[2].Weight = math.Inf(-1) }, "Signals[2].Weight"},
		{"NaN action weight", func(c *ranking.Config) {
			c.Signals[0].Signal = ranking.Engagement{Weights: ranking.Counts{ranking.ActionLike: math.NaN()}}
		}, "Signals[0].Weights[like]"},
		{"negative half-life", func(c *ranking.Config) { c.Signals[1].Signal = ranking.ExponentialDecay{HalfLife: -time.Hour} }, "Signals[1].HalfLife"},
		{"zero half-life", func(c *ranking.Config) { c.Signals[1].Signal = ranking.ExponentialDecay{} }, "Signals[1].HalfLife"},
		{"linear floor 1", func(c *ranking.Config) { c.Signals[1].Signal = ranking.LinearDecay{HalfLife: time.Hour, Floor: 1} }, "Signals[1].Floor"},
		{"gaussian negative", func(c *ranking.Config) { c.Signals[1].Signal = ranking.GaussianDecay{HalfLife: -1} }, "Signals[1].HalfLife"},
		{"power gravity NaN", func(c *ranking.Config) { c.Signals[1].Signal = ranking.PowerDecay{Gravity: math.NaN()} }, "Signals[1].Gravity"},
		{"freshness window", func(c *ranking.Config) { c.Signals[1].Signal = ranking.Freshness{} }, "Signals[1].Window"},
		{"wilson z", func(c *ranking.Config) { c.Signals[1].Signal = ranking.WilsonRating{Z: -1} }, "Signals[1].Z"},
		{"wilson scale", func(c *ranking.Config) { c.Signals[1].Signal = ranking.WilsonRating{Min: 5, Max: 1} }, "Signals[1].Max"},
		{"bayes prior outside scale", func(c *ranking.Config) { c.Signals[1].Signal = ranking.BayesianRating{PriorMean: 9} }, "Signals[1].PriorMean"},
		{"explore period", func(c *ranking.Config) { c.Signals[1].Signal = ranking.Explore{Period: -1} }, "Signals[1].Period"},
		{"duplicate names", func(c *ranking.Config) {
			c.Signals = append(c.Signals, ranking.Weighted{Signal: ranking.GaussianDecay{HalfLife: 1}})
		}, "Signals[3].Name"},
		{"fatigue floor", func(c *ranking.Config) { c.Fatigue.Floor = 2 }, "Fatigue.Floor"},
		{"fatigue negative", func(c *ranking.Config) { c.Fatigue.MuteFor = -1 }, "Fatigue.MuteFor"},
		{"unknown axis", func(c *ranking.Config) { c.Diversity.Penalties[0].Axis = 9 }, "Diversity.Penalties[0].Axis"},
		{"duplicate axis", func(c *ranking.Config) { c.Diversity.Penalties[1].Axis = ranking.AxisAuthor }, "Diversity.Penalties[1].Axis"},
		{"penalty floor 0", func(c *ranking.Config) { c.Diversity.Penalties[0].Floor = 0 }, "Diversity.Penalties[0].Floor"},
		{"penalty decay NaN", func(c *ranking.Config) { c.Diversity.Penalties[0].Decay = math.NaN() }, "Diversity.Penalties[0].Decay"},
		{"mmr head", func(c *ranking.Config) { c.Diversity.MMR.Head = -1 }, "Diversity.MMR.Head"},
		{"mmr lambda", func(c *ranking.Config) { c.Diversity.MMR = ranking.MMR{Head: 3, Lambda: 1.5} }, "Diversity.MMR.Lambda"},
		{"slot position", func(c *ranking.Config) { c.Slots = []ranking.Slot{{Position: 21, Lane: ranking.LaneSponsored}} }, "Slots[0].Position"},
		{"slot lane", func(c *ranking.Config) { c.Slots = []ranking.Slot{{Position: 2, Lane: ranking.LaneOrganic}} }, "Slots[0].Lane"},
		{"duplicate slot", func(c *ranking.Config) {
			c.Slots = []ranking.Slot{{Position: 2, Lane: ranking.LaneSponsored}, {Position: 2, Lane: ranking.LaneKOL}}
		}, "Slots[1].Position"},
		{"short key", func(c *ranking.Config) { c.Cursor.Key = []byte("short") }, "Cursor.Key"},
		{"short old key", func(c *ranking.Config) { c.Cursor.OldKeys = [][]byte{[]byte("x")} }, "Cursor.OldKeys[0]"},
		{"negative max age", func(c *ranking.Config) { c.Cursor.MaxAge = -time.Second }, "Cursor.MaxAge"},
		{"negative max served", func(c *ranking.Config) { c.Cursor.MaxServed = -1 }, "Cursor.MaxServed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ranking.DefaultConfig("v", testKey)
			tt.mod(&cfg)
			_, err := ranking.New(cfg)
			var ve *ranking.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.field, ve.Field, ve.Error())
		})
	}
	cfg := ranking.DefaultConfig("v", testKey)
	require.NoError(t, cfg.Validate())
}

func TestRequestValidation(t *testing.T) {
	r := newRanker(t, nil)
	b, _ := newGen(1).batch(t, 5)
	var p ranking.Page
	for name, req := range map[string]ranking.Request{
		"Now":      {},
		"Limit":    {Now: t0, Limit: -1},
		"Viewer":   {Now: t0, Viewer: strings.Repeat("v", 300)},
		"Scope":    {Now: t0, Scope: strings.Repeat("s", 300)},
		"PriceRef": {Now: t0, PriceRef: -5},
	} {
		var ve *ranking.ValidationError
		require.ErrorAs(t, r.Rank(req, b, &p), &ve, name)
		assert.Equal(t, name, ve.Field)
		assert.Empty(t, p.Items)
	}
	require.ErrorAs(t, r.Rank(ranking.Request{Now: t0, Limit: ranking.MaxPageSize + 1}, b, &p), new(*ranking.ValidationError))
	require.Error(t, r.Rank(ranking.Request{Now: t0}, nil, &p))
	require.Error(t, r.Rank(ranking.Request{Now: t0}, b, nil))
}

func TestFilters(t *testing.T) {
	mk := func(id string) ranking.Candidate {
		c := ranking.Candidate{ID: id, Author: "author-" + id, Created: t0.Add(-time.Hour)}
		c.Engagement[0][ranking.ActionLike] = 10
		return c
	}
	cs := []ranking.Candidate{mk("ok"), mk("seen"), mk("blocked"), mk("oos"), mk("muted"), mk("host"), mk("ad"), mk("recovering")}
	cs[3].Stock = ranking.OutOfStock
	cs[4].NegativeFeedbackAt = t0.Add(-3 * 24 * time.Hour)
	cs[6].Lane = ranking.LaneSponsored
	cs[7].NegativeFeedbackAt = t0.Add(-84 * 24 * time.Hour)
	b := batchOf(t, cs)
	r := newRanker(t, nil)
	req := ranking.Request{
		Now: t0, Seen: ranking.NewIDSet("seen"), BlockedAuthors: ranking.NewIDSet("author-blocked"),
		Allow: func(b *ranking.Batch, i int) bool { return b.ID(i) != "host" },
	}
	var p ranking.Page
	require.NoError(t, r.Rank(req, b, &p))
	assert.Equal(t, []string{"ok", "recovering"}, ids(p.Items))
	want := map[string]ranking.Filter{
		"ok": ranking.FilterNone, "seen": ranking.FilterSeen, "blocked": ranking.FilterBlockedAuthor,
		"oos": ranking.FilterOutOfStock, "muted": ranking.FilterFatigue, "host": ranking.FilterHost,
		"ad": ranking.FilterNoSlot, "recovering": ranking.FilterNone,
	}
	for i, c := range cs {
		assert.Equal(t, want[c.ID], p.FilterOf(i), c.ID)
	}
	assert.Equal(t, ranking.FilterNone, p.FilterOf(-1))
	assert.Equal(t, ranking.FilterNone, p.FilterOf(99))
	assert.Equal(t, 6, sum(p.Filtered[:]))
	ex, err := r.Explain(req, b)
	require.NoError(t, err)
	got := map[string]ranking.Filter{}
	for _, f := range ex.Filtered {
		got[f.ID] = f.Filter
		assert.Equal(t, f.ID, b.ID(f.Index))
	}
	for id, f := range want {
		if f != ranking.FilterNone {
			assert.Equal(t, f, got[id], id)
		}
	}
	// Fatigue: the recovering item is demoted by X's ramp, 0.2 + 0.8·70/140.
	require.Len(t, ex.Items, 2)
	rec := ex.Items[1]
	require.Equal(t, "recovering", rec.ID)
	require.Len(t, rec.Multipliers, 1)
	assert.Equal(t, "fatigue", rec.Multipliers[0].Name)
	assert.InDelta(t, 0.6, rec.Multipliers[0].Factor, 1e-9)
	assert.InDelta(t, ex.Items[0].Base+math.Log(0.6), rec.Base, 1e-9, "same signals, times 0.6")

	cfg := r.Config()
	cfg.KeepOutOfStock = true
	r2, err := ranking.New(cfg)
	require.NoError(t, err)
	require.NoError(t, r2.Rank(req, b, &p))
	assert.Contains(t, ids(p.Items), "oos")
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// TestTopKMatchesFullOrder checks heap selection against the complete
// order: the first k of a page with Limit = N.
func TestTopKMatchesFullOrder(t *testing.T) {
	for seed := range uint64(30) {
		g := newGen(seed)
		n := 1 + int(seed*31%600)
		b, _ := g.batch(t, n)
		r := newRanker(t, func(c *ranking.Config) { c.Diversity.Penalties = nil; c.KeepOutOfStock = true })
		var all, page ranking.Page
		require.NoError(t, r.Rank(ranking.Request{Now: t0, Limit: min(n, ranking.MaxPageSize)}, b, &all))
		require.Len(t, all.Items, n)
		for j := 1; j < len(all.Items); j++ {
			a, c := all.Items[j-1], all.Items[j]
			require.True(t, a.Score > c.Score || (a.Score == c.Score && a.ID < c.ID), "total order at %d", j)
		}
		for _, k := range []int{1, 7, 50} {
			require.NoError(t, r.Rank(ranking.Request{Now: t0, Limit: k}, b, &page))
			assert.Equal(t, ids(all.Items[:min(k, n)]), ids(page.Items), "seed %d k %d", seed, k)
		}
	}
}

func TestTieBreakByID(t *testing.T) {
	var cs []ranking.Candidate
	for _, id := range []string{"d", "b", "a", "e", "c"} {
		cs = append(cs, ranking.Candidate{ID: id, Created: t0})
	}
	r := newRanker(t, nil)
	var p ranking.Page
	require.NoError(t, r.Rank(ranking.Request{Now: t0}, batchOf(t, cs), &p))
	assert.Equal(t, []string{"a", "b", "c", "d", "e"}, ids(p.Items))
	// Paging through ties with a page of 2 keeps the order.
	r2 := newRanker(t, func(c *ranking.Config) { c.PageSize = 2 })
	var got []string
	req := ranking.Request{Now: t0}
	for {
		require.NoError(t, r2.Rank(req, batchOf(t, cs), &p))
		got = append(got, ids(p.Items)...)
		if !p.More {
			break
		}
		req.Cursor = p.Cursor
	}
	assert.Equal(t, []string{"a", "b", "c", "d", "e"}, got)
}

// richConfig turns on every stage.
func richConfig(c *ranking.Config) {
	c.PageSize = 12
	c.Signals = append(c.Signals,
		ranking.Weighted{Signal: ranking.WilsonRating{}, Weight: 0.5},
		ranking.Weighted{Signal: ranking.Explore{Period: time.Hour, Seed: 9}, Weight: 0.3},
		ranking.Weighted{Signal: ranking.PriceFit{}, Weight: 0.2},
	)
	c.Diversity.Penalties = append(c.Diversity.Penalties, ranking.AxisPenalty{Axis: ranking.AxisCategory, Decay: 0.8, Floor: 0.5})
	c.Diversity.MMR = ranking.MMR{Head: 4, Lambda: 0.6}
	c.Slots = []ranking.Slot{{Position: 3, Lane: ranking.LaneSponsored}, {Position: 10, Lane: ranking.LaneKOL}}
}

func TestDeterministicAndOrderIndependent(t *testing.T) {
	g := newGen(11)
	g.dim, g.lanes, g.negative = 16, 0.2, 0.1
	_, cs := g.batch(t, 800)
	r := newRanker(t, richConfig)
	rng := rand.New(rand.NewPCG(1, 2))
	shuffled := slices.Clone(cs)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	b1, b2 := batchOf(t, cs), batchOf(t, shuffled)
	req1 := ranking.Request{Now: t0, Viewer: "alice", PriceRef: 5000}
	req2 := req1
	var p1, p2, p3 ranking.Page
	for page := range 6 {
		require.NoError(t, r.Rank(req1, b1, &p1))
		require.NoError(t, r.Rank(req1, b1, &p3)) // same request again
		require.NoError(t, r.Rank(req2, b2, &p2))
		require.NotEmpty(t, p1.Items)
		assert.Equal(t, ids(p1.Items), ids(p2.Items), "page %d", page)
		assert.Equal(t, ids(p1.Items), ids(p3.Items), "page %d", page)
		for j := range p1.Items {
			assert.Equal(t, math.Float64bits(p1.Items[j].Score), math.Float64bits(p2.Items[j].Score))
			assert.Equal(t, p1.Items[j].Lane, p2.Items[j].Lane)
		}
		assert.Equal(t, p1.Cursor, p2.Cursor, "page %d: identical cursors", page)
		assert.Equal(t, p1.Cursor, p3.Cursor)
		req1.Cursor, req2.Cursor = p1.Cursor, p2.Cursor
	}
}

func TestStableOrderUnderExponentialDecay(t *testing.T) {
	g := newGen(5)
	b, _ := g.batch(t, 400)
	r := newRanker(t, func(c *ranking.Config) {
		c.Diversity.Penalties = nil
		c.Fatigue = ranking.Fatigue{}
		c.KeepOutOfStock = true
	})
	require.True(t, r.Stable())
	var a, later ranking.Page
	require.NoError(t, r.Rank(ranking.Request{Now: t0, Limit: 400}, b, &a))
	for _, d := range []time.Duration{time.Minute, 7 * time.Hour, 30 * 24 * time.Hour, 3 * 365 * 24 * time.Hour} {
		require.NoError(t, r.Rank(ranking.Request{Now: t0.Add(d), Limit: 400}, b, &later))
		assert.Equal(t, ids(a.Items), ids(later.Items), "order after %v", d)
		for j := range a.Items {
			require.Equal(t, a.Items[j].Score, later.Items[j].Score, "scores do not depend on the as-of time")
		}
	}
}

// TestUnstableDecaysReorder shows why power-law (HN) decay is documented
// as unstable: the same two items swap places as time passes, which the
// exponential decay never does.
func TestUnstableDecaysReorder(t *testing.T) {
	old := ranking.Candidate{ID: "old-popular", Created: t0.Add(-10 * time.Hour)}
	old.Engagement[0][ranking.ActionLike] = 100
	fresh := ranking.Candidate{ID: "new-quiet", Created: t0}
	fresh.Engagement[0][ranking.ActionLike] = 10
	b := batchOf(t, []ranking.Candidate{old, fresh})
	order := func(decay ranking.Signal, at time.Time) []string {
		r := newRanker(t, func(c *ranking.Config) { c.Signals[1] = ranking.Weighted{Signal: decay, Weight: 1} })
		var p ranking.Page
		require.NoError(t, r.Rank(ranking.Request{Now: at}, b, &p))
		return ids(p.Items)
	}
	for _, d := range []ranking.Signal{ranking.PowerDecay{}, ranking.LinearDecay{HalfLife: 4 * time.Hour}, ranking.GaussianDecay{HalfLife: 8 * time.Hour}} {
		assert.NotEqual(t, order(d, t0), order(d, t0.Add(100*time.Hour)), "%T reorders with time alone", d)
		assert.False(t, newRanker(t, func(c *ranking.Config) { c.Signals[1].Signal = d }).Stable())
	}
	exp := ranking.ExponentialDecay{HalfLife: 3 * time.Hour}
	assert.Equal(t, order(exp, t0), order(exp, t0.Add(100*time.Hour)))

	// Within a session the cursor pins the as-of time, so even an unstable
	// decay pages consistently.
	r := newRanker(t, func(c *ranking.Config) { c.Signals[1].Signal = ranking.PowerDecay{}; c.PageSize = 1 })
	var p ranking.Page
	require.NoError(t, r.Rank(ranking.Request{Now: t0}, b, &p))
	first := p.Items[0].ID
	require.NoError(t, r.Rank(ranking.Request{Now: t0.Add(50 * time.Minute), Cursor: p.Cursor}, b, &p))
	assert.True(t, p.AsOf.Equal(t0))
	require.Len(t, p.Items, 1)
	assert.NotEqual(t, first, p.Items[0].ID)
}

func TestDiversityPenalty(t *testing.T) {
	var cs []ranking.Candidate
	for i := range 10 {
		c := ranking.Candidate{ID: fmt.Sprintf("star-%d", i), Author: "star", Created: t0}
		c.Engagement[0][ranking.ActionLike] = 1000 - float64(i)
		cs = append(cs, c)
	}
	for i := range 10 {
		c := ranking.Candidate{ID: fmt.Sprintf("other-%d", i), Author: fmt.Sprintf("o%d", i), Created: t0}
		c.Engagement[0][ranking.ActionLike] = 500
		cs = append(cs, c)
	}
	b := batchOf(t, cs)
	count := func(items []ranking.Item) int {
		n := 0
		for _, it := range items {
			if strings.HasPrefix(it.ID, "star") {
				n++
			}
		}
		return n
	}
	plain := newRanker(t, func(c *ranking.Config) { c.Diversity.Penalties = nil; c.PageSize = 10 })
	div := newRanker(t, func(c *ranking.Config) { c.PageSize = 10 })
	var p ranking.Page
	require.NoError(t, plain.Rank(ranking.Request{Now: t0}, b, &p))
	assert.Equal(t, 10, count(p.Items))
	require.NoError(t, div.Rank(ranking.Request{Now: t0}, b, &p))
	assert.Equal(t, 2, count(p.Items), "ln(1000)+ln(0.4375) < ln(500)")
	ex, err := div.Explain(ranking.Request{Now: t0}, b)
	require.NoError(t, err)
	assert.Equal(t, "star-0", ex.Items[0].ID)
	assert.Empty(t, ex.Items[0].Multipliers)
	assert.Equal(t, "star-1", ex.Items[1].ID)
	assert.Equal(t, []ranking.Multiplier{{Name: "diversity:author", Factor: 0.625}}, ex.Items[1].Multipliers)
	for _, it := range ex.Items {
		s := it.Base
		for _, m := range it.Multipliers {
			s += math.Log(m.Factor)
		}
		assert.InDelta(t, it.Score, s, 1e-9)
	}
}

func TestMMR(t *testing.T) {
	// Twenty near-copies with the best scores, and ten distinct items.
	var cs []ranking.Candidate
	for i := range 20 {
		c := ranking.Candidate{ID: fmt.Sprintf("dup-%02d", i), Created: t0, Embedding: []float32{1, 0.01 * float32(i), 0, 0}}
		c.Engagement[0][ranking.ActionLike] = 100 - float64(i)
		cs = append(cs, c)
	}
	for i := range 10 {
		e := make([]float32, 4)
		e[1+i%3] = 1
		e[0] = -0.2 * float32(i)
		c := ranking.Candidate{ID: fmt.Sprintf("new-%02d", i), Created: t0, Embedding: e}
		c.Engagement[0][ranking.ActionLike] = 60
		cs = append(cs, c)
	}
	b := batchOf(t, cs)
	r := newRanker(t, func(c *ranking.Config) {
		c.Diversity.Penalties = nil
		c.PageSize = 6
		c.Pool = 30
		c.Diversity.MMR = ranking.MMR{Head: 4, Lambda: 0.3}
	})
	ex, err := r.Explain(ranking.Request{Now: t0}, b)
	require.NoError(t, err)
	got := make([]string, len(ex.Items))
	for i, it := range ex.Items {
		got[i] = it.ID
	}
	assert.Equal(t, "dup-00", got[0], "the first pick is the most relevant")
	assert.True(t, strings.HasPrefix(got[1], "new-"), "then a dissimilar item: %v", got)
	dups := 0
	for _, id := range got[:4] {
		if strings.HasPrefix(id, "dup-") {
			dups++
		}
	}
	assert.LessOrEqual(t, dups, 2, "MMR spreads the head: %v", got)
	for i, it := range ex.Items {
		if i < 4 {
			require.NotNil(t, it.MMR, "slot %d chosen by MMR", i+1)
			assert.LessOrEqual(t, it.MMR.Relevance, 1.0)
		} else {
			assert.Nil(t, it.MMR)
		}
	}
	assert.Equal(t, 1.0, ex.Items[0].MMR.Relevance)
	assert.Equal(t, 0.0, ex.Items[0].MMR.MaxSimilarity)
	// Without MMR the near-copies take the page.
	plain := newRanker(t, func(c *ranking.Config) { c.Diversity.Penalties = nil; c.PageSize = 6 })
	var p ranking.Page
	require.NoError(t, plain.Rank(ranking.Request{Now: t0}, b, &p))
	assert.Equal(t, []string{"dup-00", "dup-01", "dup-02", "dup-03", "dup-04", "dup-05"}, ids(p.Items))
}

func TestSlots(t *testing.T) {
	var cs []ranking.Candidate
	for i := range 30 {
		c := ranking.Candidate{ID: fmt.Sprintf("org-%02d", i), Author: fmt.Sprintf("a%d", i), Created: t0}
		c.Engagement[0][ranking.ActionLike] = 100 - float64(i)
		cs = append(cs, c)
	}
	for i := range 3 {
		cs = append(cs, ranking.Candidate{ID: fmt.Sprintf("ad-%d", i), Lane: ranking.LaneSponsored, Created: t0.Add(-time.Duration(i) * time.Hour)})
	}
	cs = append(cs, ranking.Candidate{ID: "kol-0", Lane: ranking.LaneKOL, Created: t0})
	b := batchOf(t, cs)
	r := newRanker(t, func(c *ranking.Config) {
		c.PageSize = 10
		c.Slots = []ranking.Slot{{Position: 3, Lane: ranking.LaneSponsored}, {Position: 10, Lane: ranking.LaneSponsored}, {Position: 6, Lane: ranking.LaneKOL}}
	})
	ex, err := r.Explain(ranking.Request{Now: t0}, b)
	require.NoError(t, err)
	require.Len(t, ex.Items, 10)
	lanes := map[int]ranking.Lane{}
	for _, it := range ex.Items {
		lanes[it.Slot] = it.Lane
		assert.Equal(t, it.Lane == ranking.LaneSponsored, it.Sponsored)
	}
	assert.Equal(t, map[int]ranking.Lane{1: 0, 2: 0, 3: 1, 4: 0, 5: 0, 6: 2, 7: 0, 8: 0, 9: 0, 10: 1}, lanes)
	assert.Equal(t, "ad-0", ex.Items[2].ID, "the best sponsored item takes the first ad slot")
	assert.Equal(t, "ad-1", ex.Items[9].ID)
	assert.Equal(t, "kol-0", ex.Items[5].ID)

	// Page 2: one ad left for two ad slots, no KOL: organic fills the gaps.
	var p ranking.Page
	require.NoError(t, r.Rank(ranking.Request{Now: t0, Cursor: ex.Cursor}, b, &p))
	require.Len(t, p.Items, 10)
	assert.Equal(t, ranking.LaneSponsored, p.Items[2].Lane)
	assert.Equal(t, "ad-2", p.Items[2].ID)
	for j, it := range p.Items {
		if j != 2 {
			assert.Equal(t, ranking.LaneOrganic, it.Lane, "slot %d", j+1)
		}
	}
	// A short page: slots beyond the organic items stay empty.
	short := newRanker(t, func(c *ranking.Config) {
		c.PageSize = 10
		c.Slots = []ranking.Slot{{Position: 2, Lane: ranking.LaneSponsored}, {Position: 9, Lane: ranking.LaneSponsored}}
	})
	require.NoError(t, short.Rank(ranking.Request{Now: t0}, batchOf(t, append(slices.Clone(cs[:3]), cs[30:33]...)), &p))
	assert.Equal(t, []string{"org-00", "ad-0", "org-01", "org-02"}, ids(p.Items))
	// Limit 2 excludes the slot at position 3: ads are removed as no-slot.
	require.NoError(t, r.Rank(ranking.Request{Now: t0, Limit: 2}, b, &p))
	assert.Equal(t, []string{"org-00", "org-01"}, ids(p.Items))
	assert.Equal(t, ranking.FilterNoSlot, p.FilterOf(30))
}

func TestExplainMatchesRank(t *testing.T) {
	g := newGen(21)
	g.dim, g.lanes, g.negative = 8, 0.1, 0.2
	b, _ := g.batch(t, 500)
	r := newRanker(t, richConfig)
	req := ranking.Request{Now: t0, Viewer: "v", PriceRef: 3000}
	var p ranking.Page
	for range 3 {
		require.NoError(t, r.Rank(req, b, &p))
		ex, err := r.Explain(req, b)
		require.NoError(t, err)
		require.Len(t, ex.Items, len(p.Items))
		assert.Equal(t, p.Cursor, ex.Cursor)
		assert.Equal(t, p.More, ex.More)
		assert.True(t, ex.AsOf.Equal(p.AsOf))
		for j, it := range ex.Items {
			assert.Equal(t, p.Items[j].ID, it.ID)
			assert.Equal(t, j+1, it.Slot)
			assert.Equal(t, math.Float64bits(p.Items[j].Score), math.Float64bits(it.Score), "Explain scores exactly as Rank")
			require.Len(t, it.Signals, 6)
			base := 0.0
			for _, c := range it.Signals {
				assert.InDelta(t, c.Weight*c.Value, c.Contribution, 1e-12)
				base += c.Contribution
			}
			score := it.Base
			for _, m := range it.Multipliers {
				assert.Greater(t, m.Factor, 0.0)
				assert.LessOrEqual(t, m.Factor, 1.0)
				if m.Name == "fatigue" {
					base += math.Log(m.Factor)
				} else {
					score += math.Log(m.Factor)
				}
			}
			assert.InDelta(t, it.Base, base, 1e-9, "Base = Σ contributions + ln fatigue")
			assert.InDelta(t, it.Score, score, 1e-9, "Score = Base + Σ ln diversity")
		}
		filtered := 0
		for _, n := range p.Filtered {
			filtered += n
		}
		assert.Len(t, ex.Filtered, filtered)
		req.Cursor = p.Cursor
	}
}

// boost is a host signal: +1 for items whose category is in Params.
type boost struct{}

func (boost) Name() string { return "boost" }
func (boost) Score(in *ranking.Input, out []float64) error {
	want, _ := in.Params.(string)
	for _, i := range in.Live {
		out[i] = 0
		if in.Batch.Attr(int(i), ranking.AxisCategory) == want {
			out[i] = 1
		}
	}
	return nil
}

type broken struct {
	nan bool
	err error
}

func (broken) Name() string { return "broken" }
func (s broken) Score(in *ranking.Input, out []float64) error {
	for _, i := range in.Live {
		out[i] = 0
		if s.nan && in.Batch.ID(int(i)) == "b" {
			out[i] = math.NaN()
		}
		if s.nan && in.Batch.ID(int(i)) == "c" {
			out[i] = math.Inf(1)
		}
	}
	return s.err
}

func TestHostSignals(t *testing.T) {
	cs := []ranking.Candidate{
		{ID: "a", Category: "shoes", Created: t0},
		{ID: "b", Category: "hats", Created: t0},
		{ID: "c", Category: "hats", Created: t0},
	}
	b := batchOf(t, cs)
	r := newRanker(t, func(c *ranking.Config) { c.Signals = append(c.Signals, ranking.Weighted{Signal: boost{}, Weight: 2}) })
	assert.False(t, r.Stable(), "a host signal without TimeInvariant is assumed to depend on time")
	var p ranking.Page
	require.NoError(t, r.Rank(ranking.Request{Now: t0, Params: "hats"}, b, &p))
	assert.Equal(t, []string{"b", "c", "a"}, ids(p.Items))
	require.NoError(t, r.Rank(ranking.Request{Now: t0, Params: "shoes"}, b, &p))
	assert.Equal(t, []string{"a", "b", "c"}, ids(p.Items))

	nan := newRanker(t, func(c *ranking.Config) {
		c.Signals = append(c.Signals, ranking.Weighted{Signal: broken{nan: true}, Weight: 1})
	})
	require.NoError(t, nan.Rank(ranking.Request{Now: t0}, b, &p))
	assert.Equal(t, []string{"a"}, ids(p.Items), "NaN and ±Inf remove the item, not the page")
	assert.Equal(t, ranking.FilterInvalidScore, p.FilterOf(1))
	assert.Equal(t, ranking.FilterInvalidScore, p.FilterOf(2))
	assert.Equal(t, 2, p.Filtered[ranking.FilterInvalidScore])

	boom := errors.New("model unavailable")
	bad := newRanker(t, func(c *ranking.Config) {
		c.Signals = append(c.Signals, ranking.Weighted{Signal: broken{err: boom}, Weight: 1})
	})
	err := bad.Rank(ranking.Request{Now: t0}, b, &p)
	require.ErrorIs(t, err, ranking.ErrSignal)
	require.ErrorIs(t, err, boom)
	var se *ranking.SignalError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "broken", se.Signal)
	assert.Empty(t, p.Items)
	_, err = bad.Explain(ranking.Request{Now: t0}, b)
	require.ErrorIs(t, err, boom)
}

func TestCredibilityDiscountsBots(t *testing.T) {
	human := ranking.Candidate{ID: "human", Created: t0}
	human.Engagement[ranking.TierRegular][ranking.ActionLike] = 100
	bots := ranking.Candidate{ID: "bots", Created: t0}
	bots.Engagement[ranking.TierSuspect][ranking.ActionLike] = 1000
	r := newRanker(t, nil)
	var p ranking.Page
	require.NoError(t, r.Rank(ranking.Request{Now: t0}, batchOf(t, []ranking.Candidate{human, bots}), &p))
	assert.Equal(t, []string{"human", "bots"}, ids(p.Items), "1000 bot likes count as 50")
}

// TestAllocationsConstant checks that steady-state Rank allocates the same
// small number of objects whatever the number of candidates.
func TestAllocationsConstant(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	var counts []float64
	for _, n := range []int{1000, 10000, 50000} {
		g := newGen(uint64(n))
		g.dim = 8
		b, _ := g.batch(t, n)
		r := newRanker(t, richConfig)
		var p ranking.Page
		req := ranking.Request{Now: t0, Viewer: "v", Seen: ranking.NewIDSet("item-00001")}
		require.NoError(t, r.Rank(req, b, &p))
		first := testing.AllocsPerRun(20, func() { _ = r.Rank(req, b, &p) })
		req.Cursor = p.Cursor
		require.NoError(t, r.Rank(req, b, &p))
		next := testing.AllocsPerRun(20, func() { _ = r.Rank(req, b, &p) })
		counts = append(counts, first, next)
	}
	t.Logf("allocations per Rank (first page, next page) for 1k, 10k, 50k: %v", counts)
	for i := 2; i < len(counts); i++ {
		assert.Equal(t, counts[i%2], counts[i], "allocations must not grow with N: %v", counts)
	}
	assert.LessOrEqual(t, counts[0], 2.0)
	assert.LessOrEqual(t, counts[1], 5.0)
}

func TestSignalNameOverride(t *testing.T) {
	r := newRanker(t, func(c *ranking.Config) {
		c.Signals = append(c.Signals, ranking.Weighted{Signal: ranking.ExponentialDecay{HalfLife: 30 * 24 * time.Hour}, Weight: 0.5, Name: "decay-slow"})
	})
	assert.Equal(t, "decay-slow", r.Config().Signals[3].Name)
	ex, err := r.Explain(ranking.Request{Now: t0}, batchOf(t, []ranking.Candidate{{ID: "a", Created: t0}}))
	require.NoError(t, err)
	var names []string
	for _, s := range ex.Items[0].Signals {
		names = append(names, s.Name)
	}
	assert.Equal(t, []string{"engagement", "decay", "affinity", "decay-slow"}, names)
}
