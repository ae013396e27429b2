package ranking_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/ranking"
)

// TestReviewExplainFatigueAtUnixEpoch: a NegativeFeedbackAt of exactly
// 1970-01-01T00:00:00Z is a valid time and its fatigue factor enters the
// score; Explain must list it so that Base = Σ contributions + ln(fatigue).
func TestReviewExplainFatigueAtUnixEpoch(t *testing.T) {
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
