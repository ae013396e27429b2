package ranking_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/ranking"
)

// TestPriceRefBindsCursor: PriceRef decides PriceFit's values, so a
// page ranked under another PriceRef than the first page's orders the
// items differently from the cursor's key. In a StaticSignals session the
// items of the first page then come back on the second. The cursor must
// not page under another PriceRef (ErrCursorMismatch), and a session that
// keeps its PriceRef pages without repeats.
func TestPriceRefBindsCursor(t *testing.T) {
	r := newRanker(t, func(c *ranking.Config) {
		c.PageSize = 5
		c.Signals = []ranking.Weighted{{Signal: ranking.PriceFit{}, Weight: 1}}
		c.Diversity.Penalties = nil
		c.Fatigue = ranking.Fatigue{}
		c.Cursor.StaticSignals = true
	})
	b := ranking.NewBatch(20)
	for i := range 20 {
		require.NoError(t, b.Add(&ranking.Candidate{ID: fmt.Sprintf("p%02d", i), Created: t0, PriceMinor: int64(100 * (i + 1))}))
	}
	var p1, p2 ranking.Page
	req := ranking.Request{Now: t0, Viewer: "v", PriceRef: 100}
	require.NoError(t, r.Rank(req, b, &p1))
	req.Cursor, req.PriceRef = p1.Cursor, 2000
	err := r.Rank(req, b, &p2)
	if err == nil {
		first := map[string]bool{}
		for _, it := range p1.Items {
			first[it.ID] = true
		}
		for _, it := range p2.Items {
			if first[it.ID] {
				t.Fatalf("item %s served on page 1 (PriceRef 100) and again on page 2 (PriceRef 2000): %v then %v", it.ID, ids(p1.Items), ids(p2.Items))
			}
		}
		t.Fatalf("a cursor issued for PriceRef 100 paged under PriceRef 2000")
	}
	require.ErrorIs(t, err, ranking.ErrCursorMismatch)
	_, err = r.CheckCursor(req)
	require.ErrorIs(t, err, ranking.ErrCursorMismatch)
	req.PriceRef = 100
	require.NoError(t, r.Rank(req, b, &p2))
	require.NotEmpty(t, p2.Items)
}

// TestExplainFatigueAtUnixEpoch: a NegativeFeedbackAt of exactly
// 1970-01-01T00:00:00Z is a valid time and its fatigue factor enters the
// score; Explain must list it so that Base = Σ contributions + ln(fatigue).
func TestExplainFatigueAtUnixEpoch(t *testing.T) {
	r := newRanker(t, func(c *ranking.Config) {
		c.Diversity.Penalties = nil
		c.Fatigue = ranking.Fatigue{RecoverOver: 100 * 365 * 24 * time.Hour, Floor: 0.2}
	})
	now := time.Unix(0, 0).UTC().Add(24 * time.Hour)
	b := ranking.NewBatch(2)
	require.NoError(t, b.Add(&ranking.Candidate{ID: "a", Created: now, NegativeFeedbackAt: time.Unix(0, 0)}))
	require.NoError(t, b.Add(&ranking.Candidate{ID: "b", Created: now, NegativeFeedbackAt: time.Unix(0, 1)}))
	require.True(t, b.NegativeFeedbackAt(0).Equal(time.Unix(0, 0)), "Batch.NegativeFeedbackAt(0) = %v, want the Unix epoch", b.NegativeFeedbackAt(0))
	ex, err := r.Explain(ranking.Request{Now: now}, b)
	require.NoError(t, err)
	require.Len(t, ex.Items, 2)
	for _, it := range ex.Items {
		base := 0.0
		for _, c := range it.Signals {
			base += c.Contribution
		}
		for _, m := range it.Multipliers {
			if m.Name == "fatigue" {
				base += math.Log(m.Factor)
			}
		}
		if math.Abs(base-it.Base) > 1e-9 {
			t.Fatalf("%s: Base %v but contributions and multipliers %+v %+v add up to %v", it.ID, it.Base, it.Signals, it.Multipliers, base)
		}
	}
}

// TestEpochZoneKeepsCursors: ExponentialDecay.Epoch given as the
// same instant in another time zone (time.Unix returns local time, which
// differs between hosts) or with a monotonic clock reading gives the same
// scores bit for bit, so it is the same configuration: a cursor of one
// Ranker must page on the other, not fail as ErrCursorForeignConfig.
func TestEpochZoneKeepsCursors(t *testing.T) {
	epoch := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	mk := func(ep time.Time) *ranking.Ranker {
		return newRanker(t, func(c *ranking.Config) {
			c.Signals[1].Signal = ranking.ExponentialDecay{HalfLife: time.Hour, Epoch: ep}
		})
	}
	g := newGen(1)
	b, _ := g.batch(t, 50)
	var p, q ranking.Page
	require.NoError(t, mk(epoch).Rank(ranking.Request{Now: t0, Viewer: "v"}, b, &p))
	mono := time.Now()
	monoEpoch := mono.Add(epoch.Sub(mono)) // epoch's instant, with a monotonic reading
	require.True(t, monoEpoch.Equal(epoch))
	for name, ep := range map[string]time.Time{
		"CET":       epoch.In(time.FixedZone("CET", 3600)),
		"local":     time.Unix(0, epoch.UnixNano()),
		"monotonic": monoEpoch,
	} {
		err := mk(ep).Rank(ranking.Request{Now: t0, Viewer: "v", Cursor: p.Cursor}, b, &q)
		require.NoError(t, err, "Epoch %s (%v) is the same instant as %v", name, ep, epoch)
	}
}

// TestPointerSignals: a pointer to a built-in signal is a Signal too
// (the methods have value receivers). Its parameters must reach the config
// fingerprint like a value's, or a cursor issued under one HalfLife pages
// a Ranker with another; and the Ranker must not share the host's struct,
// which the host could change after New. A nil pointer is refused with a
// *ValidationError, not a panic.
func TestPointerSignals(t *testing.T) {
	g := newGen(1)
	b, _ := g.batch(t, 50)
	decay := &ranking.ExponentialDecay{HalfLife: time.Hour}
	r := newRanker(t, func(c *ranking.Config) { c.Signals[1].Signal = decay })
	var p, q, again ranking.Page
	require.NoError(t, r.Rank(ranking.Request{Now: t0, Viewer: "v"}, b, &p))

	other := newRanker(t, func(c *ranking.Config) {
		c.Signals[1].Signal = &ranking.ExponentialDecay{HalfLife: 1000 * time.Hour}
	})
	err := other.Rank(ranking.Request{Now: t0, Viewer: "v", Cursor: p.Cursor}, b, &q)
	require.ErrorIs(t, err, ranking.ErrCursorForeignConfig, "a cursor of HalfLife 1h paged a Ranker of HalfLife 1000h")
	value := newRanker(t, func(c *ranking.Config) { c.Signals[1].Signal = ranking.ExponentialDecay{HalfLife: time.Hour} })
	require.NoError(t, value.Rank(ranking.Request{Now: t0, Viewer: "v", Cursor: p.Cursor}, b, &q), "the pointer and the value are one config")

	decay.HalfLife = 1000 * time.Hour // the host reuses its struct
	require.NoError(t, r.Rank(ranking.Request{Now: t0, Viewer: "v"}, b, &again))
	require.Equal(t, ids(p.Items), ids(again.Items), "the Ranker changed with the host's struct")

	for name, sig := range map[string]ranking.Signal{
		"engagement": (*ranking.Engagement)(nil),
		"decay":      (*ranking.ExponentialDecay)(nil),
		"affinity":   (*ranking.Affinity)(nil),
		"explore":    (*ranking.Explore)(nil),
	} {
		cfg := ranking.DefaultConfig("nil", testKey)
		cfg.Signals[0].Signal = sig
		var ve *ranking.ValidationError
		func() {
			defer func() {
				if x := recover(); x != nil {
					t.Fatalf("%s: New panicked on a nil pointer signal: %v", name, x)
				}
			}()
			_, err = ranking.New(cfg)
		}()
		require.True(t, errors.As(err, &ve), "%s: got %v", name, err)
	}
}

// TestWilsonTinyCount: Batch accepts any finite RatingCount in
// [0, MaxCount], fractional ones included. Below about 1e-308 the Wilson
// bound's z²/2n and z²/4n² overflow and centre − margin was ∞ − ∞ = NaN,
// so a built-in signal (documented to give finite values only) removed the
// item with FilterInvalidScore.
func TestWilsonTinyCount(t *testing.T) {
	for _, n := range []float64{5e-324, 1e-310, 1e-200, 1e-100, 0.5} {
		v := ranking.WilsonLowerBound(0, n, 1.96)
		require.False(t, math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > 1, "WilsonLowerBound(0, %g, 1.96) = %v", n, v)
		v = ranking.WilsonLowerBound(n, n, 10)
		require.False(t, math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > 1, "WilsonLowerBound(%g, %g, 10) = %v", n, n, v)
	}
	r := newRanker(t, func(c *ranking.Config) {
		c.Signals = append(c.Signals, ranking.Weighted{Signal: ranking.WilsonRating{}, Weight: 1})
	})
	b := ranking.NewBatch(2)
	require.NoError(t, b.Add(&ranking.Candidate{ID: "tiny", Created: t0, RatingCount: 5e-324, RatingSum: 1e-320}))
	require.NoError(t, b.Add(&ranking.Candidate{ID: "none", Created: t0}))
	var p ranking.Page
	require.NoError(t, r.Rank(ranking.Request{Now: t0}, b, &p))
	require.Equal(t, 0, p.Filtered[ranking.FilterInvalidScore], "a built-in signal gave NaN: %v", p.FilterOf(0))
	require.Len(t, p.Items, 2)
}

// bigSignal is a host signal with huge finite values: +V for IDs with the
// prefix, −V for the others.
type bigSignal struct {
	prefix string
	v      float64
}

func (bigSignal) Name() string { return "big" }

func (s bigSignal) Score(in *ranking.Input, out []float64) error {
	for _, i := range in.Live {
		out[i] = -s.v
		if strings.HasPrefix(in.Batch.ID(int(i)), s.prefix) {
			out[i] = s.v
		}
	}
	return nil
}

// TestMMRHugeScoreRange: MMR rescales scores to [0, 1] by (s − lo)/(hi −
// lo). Finite scores near ±1.8e308 (a host signal's, within the weight
// limit) made hi − lo overflow to +Inf and the relevance ∞/∞ = NaN, so
// every comparison with the best pick failed: MMR took the pool in score
// order (near-copies at the head) and Explain reported a NaN relevance.
func TestMMRHugeScoreRange(t *testing.T) {
	var cs []ranking.Candidate
	for i := range 10 {
		cs = append(cs, ranking.Candidate{ID: fmt.Sprintf("dup-%02d", i), Created: t0, Embedding: []float32{1, 0.01 * float32(i), 0, 0}})
	}
	for i := range 5 {
		e := make([]float32, 4)
		e[1+i%3] = 1
		cs = append(cs, ranking.Candidate{ID: fmt.Sprintf("new-%02d", i), Created: t0, Embedding: e})
	}
	b := batchOf(t, cs)
	r := newRanker(t, func(c *ranking.Config) {
		c.Signals = append(c.Signals, ranking.Weighted{Signal: bigSignal{prefix: "dup-", v: 1e302}, Weight: 1e6})
		c.Diversity.Penalties = nil
		c.PageSize, c.Pool = 4, 15
		c.Diversity.MMR = ranking.MMR{Head: 4, Lambda: 0.3}
	})
	ex, err := r.Explain(ranking.Request{Now: t0}, b)
	require.NoError(t, err)
	require.Len(t, ex.Items, 4)
	assert.Equal(t, "dup-00", ex.Items[0].ID, "the first pick is the most relevant")
	assert.True(t, strings.HasPrefix(ex.Items[1].ID, "new-"), "then a dissimilar item, not the next near-copy: %s", ex.Items[1].ID)
	for _, it := range ex.Items {
		require.NotNil(t, it.MMR)
		assert.False(t, math.IsNaN(it.MMR.Relevance) || it.MMR.Relevance < 0 || it.MMR.Relevance > 1, "%s: relevance %v", it.ID, it.MMR.Relevance)
	}
	var p ranking.Page
	require.NoError(t, r.Rank(ranking.Request{Now: t0}, b, &p))
	assert.Equal(t, ids(p.Items), []string{ex.Items[0].ID, ex.Items[1].ID, ex.Items[2].ID, ex.Items[3].ID})
}

// TestSignalOnHostInput: a host may call a built-in signal itself (from
// its own signal, or in a test) with an Input it builds. The time decays
// and Explore read the as-of time and the viewer from fields only Rank
// set, so on such an Input they scored as of 1970 and for no viewer,
// silently: AsOf and Viewer are now what counts, as documented.
func TestSignalOnHostInput(t *testing.T) {
	b, _ := newGen(2).batch(t, 20)
	asOf := t0.Add(5 * time.Hour)
	sigs := []ranking.Weighted{
		{Signal: ranking.LinearDecay{HalfLife: time.Hour}, Weight: 1, Name: "linear"},
		{Signal: ranking.PowerDecay{}, Weight: 1, Name: "power"},
		{Signal: ranking.Explore{Seed: 9, Period: time.Hour}, Weight: 1},
	}
	r := newRanker(t, func(c *ranking.Config) {
		c.Signals = sigs
		c.Diversity.Penalties = nil
		c.Fatigue = ranking.Fatigue{}
		c.PageSize = 20
	})
	ex, err := r.Explain(ranking.Request{Now: asOf, Viewer: "alice"}, b)
	require.NoError(t, err)
	require.NotEmpty(t, ex.Items)
	live := make([]int32, b.Len())
	for i := range live {
		live[i] = int32(i)
	}
	in := &ranking.Input{Batch: b, AsOf: asOf, Viewer: "alice", Live: live}
	assert.Equal(t, asOf.UnixNano(), in.AsOfUnixNano())
	for k, w := range sigs {
		out := make([]float64, b.Len())
		require.NoError(t, w.Signal.Score(in, out))
		for _, it := range ex.Items {
			assert.Equal(t, it.Signals[k].Value, out[it.Index], "%s of %s on a host's Input", it.Signals[k].Name, it.ID)
		}
	}
}
