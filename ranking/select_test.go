package ranking

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFinalOrderSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, n := range []int{0, 1, 2, 5, 40, 300, 3000} {
		for _, shuffle := range []bool{false, true} {
			o := finalOrder{final: make([]float64, n), pool: make([]int32, n), ids: make([]string, n)}
			for i := range n {
				o.final[i] = float64(rng.IntN(n/2 + 1)) // ties on purpose
				o.pool[i] = int32(n - 1 - i)
				o.ids[i] = fmt.Sprintf("id-%06d", rng.IntN(1e6)) + fmt.Sprint(i)
			}
			x := make([]int32, n)
			for i := range x {
				x[i] = int32(i)
			}
			want := slices.Clone(x)
			slices.SortFunc(want, func(a, b int32) int {
				if o.final[a] != o.final[b] {
					return cmp.Compare(o.final[b], o.final[a])
				}
				return strings.Compare(o.ids[o.pool[a]], o.ids[o.pool[b]])
			})
			if shuffle { // far from sorted: the quicksort fallback
				rng.Shuffle(n, func(i, j int) { x[i], x[j] = x[j], x[i] })
			} else { // nearly sorted: insertion sort
				copy(x, want)
				if n > 3 {
					x[1], x[2] = x[2], x[1]
				}
			}
			o.sort(x)
			require.Equal(t, want, x, "n=%d shuffle=%v", n, shuffle)
		}
	}
}

// TestFullSortBaselineAgrees checks that the benchmark baseline (sort every
// eligible item) and the bounded heap give the same pages.
func TestFullSortBaselineAgrees(t *testing.T) {
	for _, n := range []int{10, 500, 3000} {
		b := benchBatch(t, n, 8)
		cfg := benchConfig()
		cfg.Diversity.MMR = MMR{Head: 5}
		heap, err := New(cfg)
		require.NoError(t, err)
		full, err := New(cfg)
		require.NoError(t, err)
		full.fullSort = true
		var p1, p2 Page
		req := Request{Now: benchNow, Viewer: "v"}
		for range 3 {
			require.NoError(t, heap.Rank(req, b, &p1))
			require.NoError(t, full.Rank(req, b, &p2))
			require.Equal(t, p1.Items, p2.Items, "n=%d", n)
			require.Equal(t, p1.Cursor, p2.Cursor)
			req.Cursor = p1.Cursor
		}
	}
}

func TestErrorMessages(t *testing.T) {
	se := &SignalError{Signal: "model", Err: errors.New("timeout")}
	assert.Equal(t, `ranking: signal "model": timeout`, se.Error())
	assert.Equal(t, "ranking: cursor issued under another ranking config: config fingerprint differs", foreign("config fingerprint differs").Error())
	assert.Equal(t, "ranking: cursor tampered or malformed: bad signature", tampered("bad signature").Error())
	assert.Equal(t, "invalid Now: must be set", invalid("Now", "must be set").Error())
	assert.Equal(t, "action(200)", fmt.Sprint(Action(200)))
	assert.Equal(t, "tier(9)", Tier(9).String())
	assert.Equal(t, "lane(9)", Lane(9).String())
	assert.Equal(t, "axis(9)", Axis(9).String())
}

func TestInputAccessors(t *testing.T) {
	var seen int64
	r, err := New(Config{
		Version: "v", PageSize: 2, Cursor: CursorConfig{Key: []byte("0123456789abcdef")},
		Signals: []Weighted{{Signal: probe{&seen}, Weight: 1}, {Signal: Freshness{Window: time.Hour}, Weight: 1}, {Signal: PriceFit{}, Weight: 1}},
	})
	require.NoError(t, err)
	assert.False(t, r.Stable())
	b := NewBatch(0)
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	require.NoError(t, b.Add(&Candidate{ID: "a", Created: now}))
	var p Page
	require.NoError(t, r.Rank(Request{Now: now}, b, &p))
	assert.Equal(t, now.UnixNano(), seen)
	assert.Equal(t, time.Time{}, b.NegativeFeedbackAt(0))
	assert.Equal(t, 0.0, b.Count(0, TierSuspect, ActionLike))
}

type probe struct{ asOf *int64 }

func (probe) Name() string { return "probe" }
func (p probe) Score(in *Input, out []float64) error {
	*p.asOf = in.AsOfUnixNano()
	for _, i := range in.Live {
		out[i] = 0
	}
	return nil
}
