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
