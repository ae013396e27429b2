package ranking_test

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/ranking"
)

// TestValidationAudit holds exported functions to their contract on bad
// input: a *ValidationError naming the argument, never a panic.
func TestValidationAudit(t *testing.T) {
	cases := []struct {
		name  string
		field string
		call  func() error
	}{
		{"(*Config)(nil).Validate", "config", func() error { var c *ranking.Config; return c.Validate() }},
		// A Ranker is built by New: a nil one (New's result when its error
		// is ignored) or a zero one panicked with a nil dereference or an
		// index out of range.
		{"(*Ranker)(nil).Rank", "Ranker", func() error {
			var r *ranking.Ranker
			return r.Rank(ranking.Request{Now: t0}, ranking.NewBatch(0), &ranking.Page{})
		}},
		{"(&Ranker{}).Rank", "Ranker", func() error {
			return (&ranking.Ranker{}).Rank(ranking.Request{Now: t0}, ranking.NewBatch(0), &ranking.Page{})
		}},
		{"(*Ranker)(nil).Explain", "Ranker", func() error {
			var r *ranking.Ranker
			_, err := r.Explain(ranking.Request{Now: t0}, ranking.NewBatch(0))
			return err
		}},
		{"(*Ranker)(nil).CheckCursor", "Ranker", func() error {
			var r *ranking.Ranker
			_, err := r.CheckCursor(ranking.Request{Now: t0, Cursor: "AAAA"})
			return err
		}},
		{"(&Ranker{}).CheckCursor", "Ranker", func() error {
			_, err := (&ranking.Ranker{}).CheckCursor(ranking.Request{Now: t0, Cursor: "AAAA"})
			return err
		}},
		// A nil *Batch: Add and Set panicked with a nil dereference.
		{"(*Batch)(nil).Add", "batch", func() error {
			var b *ranking.Batch
			return b.Add(&ranking.Candidate{ID: "a", Created: t0})
		}},
		{"(*Batch)(nil).Set", "batch", func() error {
			var b *ranking.Batch
			return b.Set(0, &ranking.Candidate{ID: "a", Created: t0})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { err = c.call() })
			var ve *ranking.ValidationError
			require.True(t, errors.As(err, &ve), "want a *ValidationError, got %T %v", err, err)
			assert.Equal(t, c.field, ve.Field)
			assert.NotEmpty(t, ve.Reason)
		})
	}
}

// TestNewBatchHugeCapacity: a capacity beyond MaxBatchSize, which no Batch
// can hold, is capped rather than panicking in make.
func TestNewBatchHugeCapacity(t *testing.T) {
	for _, n := range []int{math.MaxInt, -1, math.MinInt} {
		var b *ranking.Batch
		require.NotPanics(t, func() { b = ranking.NewBatch(n) }, "NewBatch(%d)", n)
		assert.Equal(t, 0, b.Len())
		require.NoError(t, b.Add(&ranking.Candidate{ID: "a", Created: t0}))
	}
}

// TestNilIDSetReset: a nil *IDSet is an empty set (Len 0, Has false), so
// Reset, which empties it, does nothing; it panicked.
func TestNilIDSetReset(t *testing.T) {
	var s *ranking.IDSet
	require.NotPanics(t, func() { s.Reset() })
	assert.Equal(t, 0, s.Len())
	assert.False(t, s.Has("a"))
}
