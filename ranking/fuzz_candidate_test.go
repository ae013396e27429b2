package ranking_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/socialcommerce/sdk/ranking"
)

// FuzzCandidate feeds arbitrary candidates to Batch.Add, the check of the
// ranker's input, which had no fuzz target: Add never panics, refuses with
// a *ValidationError and an unchanged batch, or takes the candidate, and a
// batch it took ranks without error into items with finite scores. The
// pure formulas WilsonLowerBound and BayesianAverage stay in range on the
// candidate's own numbers when Add took them.
func FuzzCandidate(f *testing.F) {
	f.Add("a", "author", t0.UnixNano(), 3.0, 4.5, 1.0, 0.5, int64(1990), uint8(1), uint8(0), float32(1), float32(0), int64(0))
	f.Add("b", "", int64(0), math.NaN(), math.Inf(1), -1.0, math.NaN(), int64(-1), uint8(9), uint8(9), float32(math.NaN()), float32(0), int64(-1))
	f.Add("\xff", "x", t0.Add(time.Hour).UnixNano(), 1e12, 5e12, 1e12, 1e6, int64(math.MaxInt64), uint8(2), uint8(2), float32(math.MaxFloat32), float32(math.MaxFloat32), t0.UnixNano())
	f.Add("", "\x00", int64(math.MinInt64), 0.0, 0.0, 0.0, 0.0, int64(0), uint8(0), uint8(1), float32(0), float32(0), int64(math.MaxInt64))
	r := newRanker(f, nil)
	f.Fuzz(func(t *testing.T, id, author string, created int64, likes, rsum, rcount, affinity float64, price int64,
		stock, lane uint8, e0, e1 float32, negAt int64) {
		c := ranking.Candidate{
			ID: id, Author: author, Created: time.Unix(0, created).UTC(), RatingSum: rsum, RatingCount: rcount,
			Affinity: affinity, PriceMinor: price, Stock: ranking.Stock(stock), Lane: ranking.Lane(lane),
			Embedding: []float32{e0, e1},
		}
		if negAt != 0 {
			c.NegativeFeedbackAt = time.Unix(0, negAt).UTC()
		}
		c.Engagement[ranking.TierRegular][ranking.ActionLike] = likes
		b := ranking.NewBatch(2)
		if err := b.Add(&ranking.Candidate{ID: "fixed", Created: t0}); err != nil {
			t.Fatal(err)
		}
		if err := b.Add(&c); err != nil {
			var ve *ranking.ValidationError
			if !errors.As(err, &ve) || ve.Field == "" || ve.Reason == "" {
				t.Fatalf("want a *ValidationError, got %T %v", err, err)
			}
			if b.Len() != 1 || b.ID(0) != "fixed" || b.Index(id) >= 0 && id != "fixed" {
				t.Fatalf("a refused candidate changed the batch: len %d", b.Len())
			}
			return
		}
		if w := ranking.WilsonLowerBound(likes, likes+rcount, 1.96); math.IsNaN(w) || w < 0 || w > 1 {
			t.Fatalf("WilsonLowerBound(%v, %v) = %v", likes, likes+rcount, w)
		}
		if a := ranking.BayesianAverage(rsum, rcount, 3, 5); math.IsNaN(a) || math.IsInf(a, 0) {
			t.Fatalf("BayesianAverage(%v, %v) = %v", rsum, rcount, a)
		}
		var p ranking.Page
		if err := r.Rank(ranking.Request{Now: t0.Add(time.Hour), PriceRef: 1000}, b, &p); err != nil {
			t.Fatalf("Rank of an accepted batch: %v", err)
		}
		for _, it := range p.Items {
			if math.IsNaN(it.Score) || math.IsInf(it.Score, 0) {
				t.Fatalf("item %s scored %v", it.ID, it.Score)
			}
		}
	})
}
