package ranking_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/ranking"
)

// fpSignal is a host signal whose parameters are summed up by Fingerprint.
type fpSignal struct{ name, fp string }

func (s *fpSignal) Name() string        { return s.name }
func (s *fpSignal) Fingerprint() string { return s.fp }

func (s *fpSignal) Score(in *ranking.Input, out []float64) error {
	for _, i := range in.Live {
		out[i] = float64(len(s.fp) % 7)
	}
	return nil
}

// TestFingerprintInjective: the config fingerprint wrote a host signal's
// Fingerprint() into the hash as it was, with no length or delimiter, so a
// Fingerprint that spelled out what follows it in the hash (the next
// signal's name, type and weight, and its Fingerprint) made a config of
// one host signal hash like a config of two: a cursor of the one paged the
// other, whose scores and order differ, and was not refused as
// ErrCursorForeignConfig.
func TestFingerprintInjective(t *testing.T) {
	two := newRanker(t, func(c *ranking.Config) {
		c.Signals = append(c.Signals,
			ranking.Weighted{Signal: &fpSignal{name: "h1", fp: "x"}, Weight: 1},
			ranking.Weighted{Signal: &fpSignal{name: "h2", fp: "y"}, Weight: 1})
	})
	glued := "x" + fmt.Sprintf("sig|%q|%T|%s|", "h2", &fpSignal{}, "1") + "y"
	one := newRanker(t, func(c *ranking.Config) {
		c.Signals = append(c.Signals, ranking.Weighted{Signal: &fpSignal{name: "h1", fp: glued}, Weight: 1})
	})
	b, _ := newGen(1).batch(t, 30)
	var p, q ranking.Page
	require.NoError(t, two.Rank(ranking.Request{Now: t0, Viewer: "v"}, b, &p))
	err := one.Rank(ranking.Request{Now: t0, Viewer: "v", Cursor: p.Cursor}, b, &q)
	require.ErrorIs(t, err, ranking.ErrCursorForeignConfig, "a cursor of signals (h1 %q, h2 %q) paged a config of h1 %q alone", "x", "y", glued)

	// Fingerprints ("ab", "c") and ("a", "bc") of two host signals are two configs.
	pair := func(f1, f2 string) *ranking.Ranker {
		return newRanker(t, func(c *ranking.Config) {
			c.Signals = append(c.Signals,
				ranking.Weighted{Signal: &fpSignal{name: "h1", fp: f1}, Weight: 1},
				ranking.Weighted{Signal: &fpSignal{name: "h2", fp: f2}, Weight: 1})
		})
	}
	require.NoError(t, pair("ab", "c").Rank(ranking.Request{Now: t0, Viewer: "v"}, b, &p))
	err = pair("a", "bc").Rank(ranking.Request{Now: t0, Viewer: "v", Cursor: p.Cursor}, b, &q)
	require.ErrorIs(t, err, ranking.ErrCursorForeignConfig)
}
