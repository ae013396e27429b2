package ranking

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var benchNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// benchBatch builds n feed candidates: 2,000 authors, 300 sellers, ages up
// to 3 days, likes/comments/shares from regular accounts, bot likes on a
// quarter of them, 2 % out of stock, 1 % with old negative feedback, and
// dim-length embeddings when dim > 0.
func benchBatch(b testing.TB, n, dim int) *Batch {
	rng := rand.New(rand.NewPCG(uint64(n), 1))
	batch := NewBatch(n)
	for i := range n {
		c := Candidate{
			ID:       fmt.Sprintf("post-%08d", rng.Uint32()) + fmt.Sprint(i),
			Author:   fmt.Sprintf("author-%d", rng.IntN(2000)),
			Seller:   fmt.Sprintf("seller-%d", rng.IntN(300)),
			Created:  benchNow.Add(-time.Duration(rng.Int64N(int64(72 * time.Hour)))),
			Affinity: rng.Float64() * float64(rng.IntN(2)),
		}
		c.Engagement[TierRegular][ActionLike] = float64(rng.IntN(5000))
		c.Engagement[TierRegular][ActionComment] = float64(rng.IntN(100))
		c.Engagement[TierRegular][ActionShare] = float64(rng.IntN(50))
		if rng.IntN(4) == 0 {
			c.Engagement[TierSuspect][ActionLike] = float64(rng.IntN(3000))
		}
		if rng.IntN(50) == 0 {
			c.Stock = OutOfStock
		}
		if rng.IntN(100) == 0 {
			c.NegativeFeedbackAt = benchNow.Add(-time.Duration(20+rng.IntN(100)) * 24 * time.Hour)
		}
		if dim > 0 {
			c.Embedding = make([]float32, dim)
			for k := range c.Embedding {
				c.Embedding[k] = float32(rng.NormFloat64())
			}
		}
		if err := batch.Add(&c); err != nil {
			b.Fatal(err)
		}
	}
	return batch
}

// benchConfig is the feed configuration of the headline benchmark:
// engagement with credibility, exponential decay, affinity, exploration,
// fatigue, soft author and seller diversity, 50 items a page (pool 150).
func benchConfig() Config {
	cfg := DefaultConfig("bench", []byte("bench-key-0123456789abcdef"))
	cfg.PageSize = 50
	cfg.Signals = append(cfg.Signals, Weighted{Signal: Explore{Period: time.Hour, Seed: 1}, Weight: 0.2})
	return cfg
}

func benchRank(b *testing.B, n int, fullSort, nextPage bool) {
	batch := benchBatch(b, n, 0)
	r, err := New(benchConfig())
	if err != nil {
		b.Fatal(err)
	}
	r.fullSort = fullSort
	seen := NewIDSet()
	for i := range 200 {
		seen.Add(batch.ID(i * (n / 200)))
	}
	var p Page
	req := Request{Now: benchNow, Viewer: "viewer-1", Seen: seen}
	if err := r.Rank(req, batch, &p); err != nil {
		b.Fatal(err)
	}
	if nextPage {
		req.Cursor = p.Cursor
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Rank(req, batch, &p); err != nil {
			b.Fatal(err)
		}
	}
	if len(p.Items) != 50 {
		b.Fatalf("page of %d", len(p.Items))
	}
}

// BenchmarkRankTop50of1k and the next two: score (4 signals) + filter
// (seen set of 200, out of stock, fatigue) + top-50 + soft author/seller
// diversity + cursor, first page of a session.
func BenchmarkRankTop50of1k(b *testing.B)   { benchRank(b, 1_000, false, false) }
func BenchmarkRankTop50of10k(b *testing.B)  { benchRank(b, 10_000, false, false) }
func BenchmarkRankTop50of100k(b *testing.B) { benchRank(b, 100_000, false, false) }

// BenchmarkRankTop50of10kNextPage is the same on page 2: the cursor is
// verified and decoded, and the served set and key filter apply.
func BenchmarkRankTop50of10kNextPage(b *testing.B) { benchRank(b, 10_000, false, true) }

// BenchmarkFullSort10k is the baseline: the same pipeline, but every
// candidate is scored in full (no bound-based pruning) and selection sorts
// every eligible candidate instead of keeping a bounded heap.
func BenchmarkFullSort10k(b *testing.B) { benchRank(b, 10_000, true, false) }

// selectionInput returns 10k random scores and IDs.
func selectionInput(n int) ([]float64, []string) {
	rng := rand.New(rand.NewPCG(9, 9))
	score := make([]float64, n)
	ids := make([]string, n)
	for i := range n {
		score[i] = rng.NormFloat64()
		ids[i] = fmt.Sprintf("id-%08d", i)
	}
	return score, ids
}

// BenchmarkSelectTop50of10k isolates the selection step: bounded heap of
// 50 over 10k precomputed scores, then the 50 sorted.
func BenchmarkSelectTop50of10k(b *testing.B) {
	score, ids := selectionInput(10_000)
	var h topk
	b.ReportAllocs()
	for b.Loop() {
		h.reset(50, ids)
		thr := math.Inf(-1)
		for i, s := range score {
			if s >= thr {
				thr = h.offer(int32(i), s)
			}
		}
		h.sortedIdx()
	}
}

// BenchmarkSortAll10k is the selection baseline: sort all 10k indices by
// the same total order, keep 50.
func BenchmarkSortAll10k(b *testing.B) {
	score, ids := selectionInput(10_000)
	idx := make([]int32, len(score))
	b.ReportAllocs()
	for b.Loop() {
		for i := range idx {
			idx[i] = int32(i)
		}
		slices.SortFunc(idx, func(x, y int32) int {
			switch {
			case score[x] > score[y]:
				return -1
			case score[x] < score[y]:
				return 1
			}
			return strings.Compare(ids[x], ids[y])
		})
		_ = idx[:50]
	}
}

func benchMMR(b *testing.B, dim int) {
	batch := benchBatch(b, 1000, dim)
	cfg := benchConfig()
	cfg.Pool = 1000
	cfg.Diversity.MMR = MMR{Head: 50, Lambda: 0.7}
	r, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var p Page
	req := Request{Now: benchNow, Viewer: "viewer-1"}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Rank(req, batch, &p); err != nil {
			b.Fatal(err)
		}
	}
	if len(p.Items) != 50 {
		b.Fatalf("page of %d", len(p.Items))
	}
}

// BenchmarkMMR1000to50 is a whole Rank of 1,000 candidates with 32-dim
// embeddings where MMR picks all 50 positions from a pool of 1,000 (after
// the soft penalties), i.e. 50 × 1,000 similarity updates.
func BenchmarkMMR1000to50(b *testing.B) { benchMMR(b, 32) }

// BenchmarkMMR1000to50dim128 is the same with 128-dim embeddings.
func BenchmarkMMR1000to50dim128(b *testing.B) { benchMMR(b, 128) }

// BenchmarkBatchAdd10k measures building a batch of 10k candidates (host
// side, once per request or cached): validation, hashing, copying.
func BenchmarkBatchAdd10k(b *testing.B) {
	src := benchBatch(b, 10_000, 0)
	cs := make([]Candidate, src.Len())
	for i := range cs {
		cs[i] = Candidate{ID: src.ID(i), Author: src.Attr(i, AxisAuthor), Seller: src.Attr(i, AxisSeller), Created: src.Created(i)}
		cs[i].Engagement[TierRegular][ActionLike] = src.Count(i, TierRegular, ActionLike)
	}
	batch := NewBatch(len(cs))
	b.ReportAllocs()
	for b.Loop() {
		batch.Reset()
		for i := range cs {
			if err := batch.Add(&cs[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
}
