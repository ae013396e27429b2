package ranking

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var ft0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestWilsonLowerBound(t *testing.T) {
	tests := []struct {
		name        string
		pos, n, z   float64
		want, delta float64
	}{
		{"5 of 10 at 95%", 5, 10, 1.96, 0.2366, 1e-4},
		{"Miller 209 up 50 down", 209, 259, 1.96, 0.7545, 1e-4},
		{"Miller 118 up 25 down", 118, 143, 1.96, 0.7546, 1e-4},
		{"Reddit z 80%: 1 of 1", 1, 1, 1.281551565545, 0.3784, 1e-4},
		{"all positive, many", 1000, 1000, 1.96, 0.99617, 1e-4},
		{"none positive", 0, 50, 1.96, 0, 0},
		{"no ratings", 0, 0, 1.96, 0, 0},
		{"negative n", 3, -1, 1.96, 0, 0},
		{"positive above n clamps", 20, 10, 1.96, 0.7225, 1e-4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := WilsonLowerBound(tt.pos, tt.n, tt.z)
			assert.InDelta(t, tt.want, got, tt.delta)
			assert.GreaterOrEqual(t, got, 0.0)
			assert.LessOrEqual(t, got, 1.0)
		})
	}
	// Confidence grows with evidence at the same share.
	assert.Less(t, WilsonLowerBound(5, 10, 1.96), WilsonLowerBound(50, 100, 1.96))
	assert.Less(t, WilsonLowerBound(50, 100, 1.96), WilsonLowerBound(500, 1000, 1.96))
}

func TestBayesianAverage(t *testing.T) {
	tests := []struct {
		name                    string
		sum, count, mean, prior float64
		want                    float64
	}{
		{"no ratings gives the prior", 0, 0, 3.5, 10, 3.5},
		{"one 5-star pulled to the prior", 5, 1, 3, 9, 3.2},
		{"many ratings dominate", 4.5 * 1000, 1000, 3, 10, (3*10 + 4500) / 1010.0},
		{"no prior is the plain mean", 8, 2, 3, 0, 4},
		{"nothing at all", 0, 0, 2, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.InDelta(t, tt.want, BayesianAverage(tt.sum, tt.count, tt.mean, tt.prior), 1e-12)
		})
	}
}

// score runs one signal over candidates as of asOf.
func score(t *testing.T, s Signal, asOf time.Time, viewer string, cs ...Candidate) []float64 {
	t.Helper()
	b := NewBatch(len(cs))
	for i := range cs {
		require.NoError(t, b.Add(&cs[i]))
	}
	live := make([]int32, len(cs))
	for i := range live {
		live[i] = int32(i)
	}
	in := &Input{Batch: b, AsOf: asOf, Viewer: viewer, Live: live, PriceRef: 1000, asOf: asOf.UnixNano(), tmp: make([]float64, len(cs))}
	out := make([]float64, len(cs))
	require.NoError(t, s.Score(in, out))
	if a, ok := s.(accumulator); ok {
		acc := make([]float64, len(cs))
		a.accumulate(in, 1, acc)
		for i := range out {
			require.Equal(t, math.Float64bits(out[i]), math.Float64bits(acc[i]), "accumulate must match Score bit for bit")
		}
	}
	return out
}

func at(age time.Duration) Candidate {
	return Candidate{ID: "x" + age.String(), Created: ft0.Add(-age)}
}

func TestEngagementFormula(t *testing.T) {
	var regular, suspect, mixed, negative, zero Candidate
	for _, c := range []*Candidate{&regular, &suspect, &mixed, &negative, &zero} {
		c.Created = ft0
	}
	regular.ID, suspect.ID, mixed.ID, negative.ID, zero.ID = "r", "s", "m", "n", "z"
	regular.Engagement[TierRegular] = Counts{ActionLike: 100, ActionComment: 5}
	suspect.Engagement[TierSuspect] = Counts{ActionLike: 100, ActionComment: 5}
	mixed.Engagement[TierRegular][ActionLike] = 10
	mixed.Engagement[TierNew][ActionLike] = 10
	negative.Engagement[TierRegular] = Counts{ActionLike: 10, ActionReport: 1}
	got := score(t, Engagement{}, ft0, "", regular, suspect, mixed, negative, zero)
	assert.InDelta(t, math.Log(1+100+4*5), got[0], 1e-12)
	assert.InDelta(t, math.Log(1+0.05*(100+4*5)), got[1], 1e-12, "bot likes count 5%")
	assert.InDelta(t, math.Log(1+10+0.5*10), got[2], 1e-12)
	assert.InDelta(t, -math.Log(1+90), got[3], 1e-12, "a report outweighs 10 likes: sign(E)·ln(1+|E|)")
	assert.Equal(t, 0.0, got[4])

	custom := Engagement{Weights: Counts{ActionLike: 2}, Credibility: [NumTiers]float64{1, 1, 0}}
	got = score(t, custom, ft0, "", regular, suspect)
	assert.InDelta(t, math.Log(1+200), got[0], 1e-12)
	assert.Equal(t, 0.0, got[1], "credibility 0 ignores the tier")
}

func TestDecayFormulas(t *testing.T) {
	h := 6 * time.Hour
	ages := []time.Duration{0, h, 2 * h, 3 * h, 100 * h}
	cs := make([]Candidate, len(ages))
	for i, a := range ages {
		cs[i] = at(a)
	}
	t.Run("exponential: ln2 per half-life, independent of as-of", func(t *testing.T) {
		d := ExponentialDecay{HalfLife: h}
		now := score(t, d, ft0, "", cs...)
		later := score(t, d, ft0.Add(72*time.Hour), "", cs...)
		for i := range ages {
			assert.Equal(t, now[i], later[i], "the value does not depend on the as-of time")
			assert.InDelta(t, -math.Ln2*float64(ages[i])/float64(h), now[i]-now[0], 1e-9)
		}
		assert.InDelta(t, math.Ln2*float64(ft0.Sub(DefaultEpoch()))/float64(h), now[0], 1e-9)
		e := ExponentialDecay{HalfLife: h, Epoch: ft0}
		assert.InDelta(t, 0, score(t, e, ft0, "", cs[0])[0], 1e-12)
	})
	t.Run("linear: 1/2 at half-life, floor after", func(t *testing.T) {
		got := score(t, LinearDecay{HalfLife: h}, ft0, "", cs...)
		want := []float64{1, 0.5, 0.01, 0.01, 0.01}
		for i := range ages {
			assert.InDelta(t, math.Log(want[i]), got[i], 1e-12, "age %v", ages[i])
		}
		got = score(t, LinearDecay{HalfLife: h, Floor: 0.3}, ft0, "", cs[2])
		assert.InDelta(t, math.Log(0.3), got[0], 1e-12)
	})
	t.Run("gaussian: 1/2 at half-life, 1/16 at two", func(t *testing.T) {
		got := score(t, GaussianDecay{HalfLife: h}, ft0, "", cs...)
		assert.InDelta(t, 0, got[0], 1e-12)
		assert.InDelta(t, math.Log(0.5), got[1], 1e-12)
		assert.InDelta(t, math.Log(1.0/16), got[2], 1e-12)
	})
	t.Run("power: HN gravity", func(t *testing.T) {
		got := score(t, PowerDecay{}, ft0, "", cs...)
		for i, a := range ages {
			assert.InDelta(t, -1.8*math.Log(1+a.Hours()/2), got[i], 1e-12)
		}
		got = score(t, PowerDecay{Base: time.Hour, Gravity: 1}, ft0, "", cs[1])
		assert.InDelta(t, -math.Log(7), got[0], 1e-12)
	})
	t.Run("freshness: 1/2 at window", func(t *testing.T) {
		got := score(t, Freshness{Window: h}, ft0, "", cs...)
		assert.InDelta(t, 1, got[0], 1e-12)
		assert.InDelta(t, 0.5, got[1], 1e-12)
		assert.InDelta(t, 1.0/3, got[2], 1e-12)
	})
	t.Run("future items count as new for the age-based decays", func(t *testing.T) {
		c := at(-time.Hour)
		assert.Equal(t, 0.0, score(t, GaussianDecay{HalfLife: h}, ft0, "", c)[0])
		assert.Equal(t, 1.0, score(t, Freshness{Window: h}, ft0, "", c)[0])
	})
}

func TestRatingSignals(t *testing.T) {
	mk := func(id string, sum, n float64) Candidate {
		return Candidate{ID: id, Created: ft0, RatingSum: sum, RatingCount: n}
	}
	cs := []Candidate{mk("none", 0, 0), mk("one-five", 5, 1), mk("many-four", 4000, 1000), mk("bad", 10, 10)}
	t.Run("wilson on stars", func(t *testing.T) {
		got := score(t, WilsonRating{}, ft0, "", cs...)
		assert.Equal(t, 0.0, got[0])
		assert.InDelta(t, WilsonLowerBound(1, 1, 1.96), got[1], 1e-12)
		assert.InDelta(t, WilsonLowerBound(750, 1000, 1.96), got[2], 1e-12, "mean 4 of 1..5 is p̂ = 0.75")
		assert.Equal(t, 0.0, got[3], "all 1-star")
		assert.Greater(t, got[2], got[1], "a thousand 4-star ratings beat one 5-star")
	})
	t.Run("wilson on thumbs", func(t *testing.T) {
		got := score(t, WilsonRating{Min: 0, Max: 1, Z: 1.281551565545}, ft0, "", mk("t", 5, 10))
		assert.InDelta(t, WilsonLowerBound(5, 10, 1.281551565545), got[0], 1e-12)
	})
	t.Run("bayesian", func(t *testing.T) {
		got := score(t, BayesianRating{PriorMean: 3.5, PriorCount: 20}, ft0, "", cs...)
		norm := func(v float64) float64 { return (v - 1) / 4 }
		assert.InDelta(t, norm(3.5), got[0], 1e-12)
		assert.InDelta(t, norm(BayesianAverage(5, 1, 3.5, 20)), got[1], 1e-12)
		assert.InDelta(t, norm(BayesianAverage(4000, 1000, 3.5, 20)), got[2], 1e-12)
		got = score(t, BayesianRating{}, ft0, "", cs[0])
		assert.InDelta(t, 0.5, got[0], 1e-12, "default prior: the middle of the scale")
	})
}

func TestViewerAndCommerceSignals(t *testing.T) {
	a := Candidate{ID: "a", Created: ft0, Affinity: 3, PriceMinor: 2000}
	b := Candidate{ID: "b", Created: ft0, PriceMinor: 1000}
	c := Candidate{ID: "c", Created: ft0}
	got0 := score(t, Affinity{}, ft0, "", a, b, c)
	assert.InDelta(t, math.Log(4), got0[0], 1e-15)
	assert.Equal(t, []float64{0, 0}, got0[1:])
	got := score(t, PriceFit{}, ft0, "", a, b, c) // PriceRef 1000
	assert.InDelta(t, -math.Ln2, got[0], 1e-12)
	assert.Equal(t, 0.0, got[1])
	assert.Equal(t, 0.0, got[2], "no price, no opinion")
}

func TestExploreNoise(t *testing.T) {
	cs := make([]Candidate, 200)
	for i := range cs {
		cs[i] = Candidate{ID: string(rune('A'+i%26)) + string(rune('a'+i/26)), Created: ft0}
	}
	e := Explore{Period: time.Hour, Seed: 42}
	v1 := score(t, e, ft0, "alice", cs...)
	assert.Equal(t, v1, score(t, e, ft0.Add(30*time.Minute), "alice", cs...), "same epoch, same noise")
	assert.NotEqual(t, v1, score(t, e, ft0.Add(time.Hour), "alice", cs...), "next epoch, new noise")
	assert.NotEqual(t, v1, score(t, e, ft0, "bob", cs...), "other viewer, other noise")
	assert.NotEqual(t, v1, score(t, Explore{Period: time.Hour, Seed: 43}, ft0, "alice", cs...), "other seed")
	var mean float64
	for _, v := range v1 {
		require.GreaterOrEqual(t, v, 0.0)
		require.Less(t, v, 1.0)
		mean += v / float64(len(v1))
	}
	assert.InDelta(t, 0.5, mean, 0.1)
	assert.True(t, Explore{}.TimeInvariant())
	assert.False(t, e.TimeInvariant())
}

func TestFatigueFactor(t *testing.T) {
	day := int64(24 * time.Hour)
	f := fatigueRule{on: true, mute: 14 * day, recovery: 140 * day, floor: 0.2}
	asOf := ft0.UnixNano()
	assert.True(t, f.muted(asOf-day, asOf))
	assert.True(t, f.muted(asOf+day, asOf), "feedback from the future is recent")
	assert.False(t, f.muted(asOf-14*day, asOf))
	assert.InDelta(t, 0.2, f.factor(asOf-14*day, asOf), 1e-12)
	assert.InDelta(t, 0.2+0.2*35.0/35, f.factor(asOf-49*day, asOf), 1e-12, "X: 0.2 + 0.2·(days−14)/35")
	assert.InDelta(t, 1, f.factor(asOf-154*day, asOf), 1e-12)
	assert.InDelta(t, 1, f.factor(asOf-400*day, asOf), 1e-12, "clamped at 1")
	g := fatigueRule{on: true, mute: day}
	assert.Equal(t, 1.0, g.factor(asOf-2*day, asOf))
}

func TestHashAndIDSet(t *testing.T) {
	assert.Equal(t, uint64(0), hashString(""))
	assert.NotEqual(t, hashString("a"), hashString("b"))
	s := NewIDSet("a", "b", "", "a")
	assert.Equal(t, 2, s.Len())
	assert.True(t, s.Has("a"))
	assert.False(t, s.Has("c"))
	assert.False(t, s.Has(""))
	for i := range 1000 {
		s.Add(time.Duration(i).String())
	}
	assert.Equal(t, 1002, s.Len())
	assert.True(t, s.Has("999ns"))
	s.Reset()
	assert.Equal(t, 0, s.Len())
	assert.False(t, s.Has("a"))
	var nilSet *IDSet
	assert.False(t, nilSet.Has("a"))
	assert.Equal(t, 0, nilSet.Len())
}

func TestAxisPenaltyFactor(t *testing.T) {
	p := AxisPenalty{Decay: 0.5, Floor: 0.25}
	f := p.factors(201)
	want := []float64{1, 0.625, 0.4375, 0.34375}
	for i, w := range want {
		assert.InDelta(t, w, f[i], 1e-12)
	}
	assert.InDelta(t, 0.25, f[200], 1e-12)
}
