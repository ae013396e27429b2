package ranking_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/socialcommerce/sdk/ranking"
)

// FuzzDecodeCursor feeds arbitrary strings to Rank as cursors: it must
// never panic, and must either accept the cursor or return one of the
// cursor errors.
func FuzzDecodeCursor(f *testing.F) {
	g := newGen(1)
	g.lanes = 0.2
	b, _ := g.batch(f, 200)
	r := newRanker(f, func(c *ranking.Config) {
		c.Slots = []ranking.Slot{{Position: 2, Lane: ranking.LaneSponsored}, {Position: 5, Lane: ranking.LaneKOL}}
	})
	var p ranking.Page
	req := ranking.Request{Now: t0, Viewer: "v"}
	for range 3 {
		if err := r.Rank(req, b, &p); err != nil {
			f.Fatal(err)
		}
		f.Add(p.Cursor)
		req.Cursor = p.Cursor
	}
	f.Add("")
	f.Add("AAAA")
	f.Add("not a cursor")
	f.Fuzz(func(t *testing.T, cursor string) {
		var p ranking.Page
		err := r.Rank(ranking.Request{Now: t0.Add(time.Minute), Viewer: "v", Cursor: cursor}, b, &p)
		if err == nil {
			return
		}
		for _, e := range []error{ranking.ErrCursorTampered, ranking.ErrCursorExpired, ranking.ErrCursorForeignConfig, ranking.ErrCursorMismatch} {
			if errors.Is(err, e) {
				if len(p.Items) != 0 {
					t.Fatalf("items on error")
				}
				return
			}
		}
		t.Fatalf("unexpected error type %T: %v", err, err)
	})
}

// FuzzConfigValidate builds configs from arbitrary numbers: New must never
// panic, must reject NaN/Inf weights, non-positive half-lives and k <= 0
// with a *ValidationError, and a Ranker it accepts must rank.
func FuzzConfigValidate(f *testing.F) {
	f.Add(20, 60, 1.0, 1.0, int64(12*time.Hour), 0.5, 0.25, 1.96, 3, 0.7, 3, int64(time.Hour), 500)
	f.Add(0, 0, math.NaN(), 1.0, int64(time.Hour), 0.5, 0.25, 0.0, 0, 0.0, 0, int64(0), 0)
	f.Add(5, 5, 1.0, math.Inf(1), int64(-time.Hour), 2.0, 0.0, -1.0, -1, 9.0, 7, int64(-1), -1)
	f.Add(-1, 10, 1.0, 1.0, int64(0), 0.5, 1.0, 1.0, 1, 1.0, 1, int64(time.Minute), 10001)
	g := newGen(3)
	g.dim, g.lanes = 4, 0.2
	b, _ := g.batch(f, 100)
	f.Fuzz(func(t *testing.T, k, pool int, w0, w1 float64, halfLife int64, decay, floor, z float64, head int, lambda float64, slot int, maxAge int64, maxServed int) {
		cfg := ranking.DefaultConfig("fuzz", testKey)
		cfg.PageSize, cfg.Pool = k, pool
		cfg.Signals = []ranking.Weighted{
			{Signal: ranking.Engagement{}, Weight: w0},
			{Signal: ranking.ExponentialDecay{HalfLife: time.Duration(halfLife)}, Weight: w1},
			{Signal: ranking.WilsonRating{Z: z}, Weight: 1},
		}
		cfg.Diversity.Penalties = []ranking.AxisPenalty{{Axis: ranking.AxisAuthor, Decay: decay, Floor: floor}}
		cfg.Diversity.MMR = ranking.MMR{Head: head, Lambda: lambda}
		cfg.Slots = []ranking.Slot{{Position: slot, Lane: ranking.LaneSponsored}}
		cfg.Cursor.MaxAge, cfg.Cursor.MaxServed = time.Duration(maxAge), maxServed
		r, err := ranking.New(cfg)
		mustFail := k <= 0 || math.IsNaN(w0) || math.IsInf(w0, 0) || math.IsNaN(w1) || math.IsInf(w1, 0) || halfLife <= 0
		if err != nil {
			var ve *ranking.ValidationError
			if !errors.As(err, &ve) || ve.Field == "" || ve.Reason == "" {
				t.Fatalf("want a *ValidationError, got %T %v", err, err)
			}
			return
		}
		if mustFail {
			t.Fatalf("accepted k=%d w=%v,%v halfLife=%v", k, w0, w1, halfLife)
		}
		var p ranking.Page
		if err := r.Rank(ranking.Request{Now: t0, Viewer: "v"}, b, &p); err != nil {
			t.Fatalf("valid config failed to rank: %v", err)
		}
		if len(p.Items) == 0 || len(p.Items) > k {
			t.Fatalf("page of %d for k=%d", len(p.Items), k)
		}
		for _, it := range p.Items {
			if math.IsNaN(it.Score) {
				t.Fatalf("NaN score")
			}
		}
	})
}
