package ranking

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"testing"
	"time"
)

// goldenBatch builds candidates from integer hashes only, so that the
// input is identical on every architecture.
func goldenBatch(t *testing.T, n int) *Batch {
	t.Helper()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	b := NewBatch(n)
	for i := range n {
		h := func(k uint64) uint64 { return mix64(uint64(i)*0x100 + k) }
		c := Candidate{
			ID:         fmt.Sprintf("g%04d", i),
			Author:     fmt.Sprintf("a%d", h(1)%40),
			Seller:     fmt.Sprintf("s%d", h(2)%15),
			Category:   fmt.Sprintf("c%d", h(3)%6),
			Created:    now.Add(-time.Duration(h(4)%(72*3600)) * time.Second),
			Affinity:   float64(h(5)%1000) / 250,
			PriceMinor: int64(h(6) % 100000),
			Lane:       Lane(h(7) % 20 / 18), // ~10 % sponsored
		}
		c.Engagement[TierRegular] = Counts{ActionLike: float64(h(8) % 5000), ActionComment: float64(h(9) % 90), ActionShare: float64(h(10) % 30), ActionHide: float64(h(11) % 3)}
		if h(12)%4 == 0 {
			c.Engagement[TierSuspect][ActionLike] = float64(h(13) % 2000)
		}
		if h(14)%2 == 0 {
			c.RatingCount = float64(h(15) % 300)
			c.RatingSum = c.RatingCount * float64(1+h(16)%4001) / 1000
		}
		if h(17)%25 == 0 {
			c.NegativeFeedbackAt = now.Add(-time.Duration(15+h(18)%150) * 24 * time.Hour)
		}
		c.Embedding = make([]float32, 16)
		for k := range c.Embedding {
			c.Embedding[k] = float32(int(h(uint64(100+k))%2001)-1000) / 1000
		}
		if err := b.Add(&c); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestGoldenDigest pins every score bit and cursor of a multi-page session
// under two configurations that use every built-in signal and stage. The
// digest must be the same on every architecture (scores avoid fused
// multiply-adds and platform logarithms; checked on amd64 and, under
// qemu-user, arm64) and changes only when the scoring intentionally
// changes: then update it and say why in the commit.
func TestGoldenDigest(t *testing.T) {
	const want = "928d8f19afa37c07876bcb1786f25defe1cc7c66418364cdc39592518781322b"
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	b := goldenBatch(t, 2000)
	key := []byte("golden-key-0123456789abcdef")
	cfgs := []Config{DefaultConfig("golden-a", key), DefaultConfig("golden-b", key)}
	cfgs[0].PageSize = 25
	cfgs[0].Signals = append(cfgs[0].Signals,
		Weighted{Signal: WilsonRating{Z: 1.281551565545}, Weight: 1.5},
		Weighted{Signal: Explore{Period: time.Hour, Seed: 7}, Weight: 0.4},
		Weighted{Signal: PriceFit{}, Weight: 0.3},
	)
	cfgs[0].Diversity.Penalties = append(cfgs[0].Diversity.Penalties, AxisPenalty{Axis: AxisCategory, Decay: 0.7, Floor: 0.4})
	cfgs[0].Diversity.MMR = MMR{Head: 8, Lambda: 0.6}
	cfgs[0].Slots = []Slot{{Position: 3, Lane: LaneSponsored}, {Position: 12, Lane: LaneSponsored}}
	cfgs[1].PageSize = 40
	cfgs[1].Signals = []Weighted{
		{Signal: Engagement{Weights: Counts{ActionLike: 0.9, ActionComment: 3.7, ActionShare: 5.3, ActionHide: -30.1}}, Weight: 0.8},
		{Signal: PowerDecay{}, Weight: 1},
		{Signal: LinearDecay{HalfLife: 20 * time.Hour}, Weight: 0.5, Name: "linear"},
		{Signal: GaussianDecay{HalfLife: 30 * time.Hour}, Weight: 0.5, Name: "gauss"},
		{Signal: Freshness{Window: 6 * time.Hour}, Weight: 0.7},
		{Signal: BayesianRating{PriorMean: 3.8, PriorCount: 25}, Weight: 2},
		{Signal: Affinity{}, Weight: 0.6},
	}
	h := sha256.New()
	var buf [8]byte
	put := func(x float64) {
		binary.BigEndian.PutUint64(buf[:], math.Float64bits(x))
		h.Write(buf[:])
	}
	// Every signal's value for every candidate, so that a one-ulp difference
	// anywhere shows.
	live := make([]int32, b.Len())
	for i := range live {
		live[i] = int32(i)
	}
	in := &Input{Batch: b, AsOf: now, Viewer: "golden-viewer", Live: live, PriceRef: 40000, asOf: now.UnixNano()}
	vals := make([]float64, b.Len())
	for _, cfg := range cfgs {
		for _, w := range cfg.Signals {
			if err := w.Signal.Score(in, vals); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				put(v)
			}
		}
	}
	for i := range b.Len() {
		for _, v := range b.Embedding(i) {
			put(float64(v))
		}
	}
	for _, cfg := range cfgs {
		r, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		req := Request{Now: now, Viewer: "golden-viewer", Scope: "home", PriceRef: 40000}
		var p Page
		for range 5 {
			if err := r.Rank(req, b, &p); err != nil {
				t.Fatal(err)
			}
			for _, it := range p.Items {
				h.Write([]byte(it.ID))
				put(it.Score)
				put(it.Base)
			}
			h.Write([]byte(p.Cursor))
			req.Cursor = p.Cursor
			req.Now = req.Now.Add(time.Minute)
		}
		ex, err := r.Explain(Request{Now: now, Viewer: "golden-viewer", Scope: "home", PriceRef: 40000}, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range ex.Items {
			for _, c := range it.Signals {
				put(c.Value)
			}
			for _, m := range it.Multipliers {
				put(m.Factor)
			}
		}
	}
	got := hex.EncodeToString(h.Sum(nil))
	if got != want {
		t.Fatalf("golden digest changed:\n got %s\nwant %s", got, want)
	}
}
