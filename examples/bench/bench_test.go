package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/storage/memory"
)

func TestRunGroupbuyMemory(t *testing.T) {
	res, err := Run(context.Background(), Target{Name: "memory", Store: memory.New()},
		Options{Scenario: ScenarioGroupbuy, Clients: 4, Duration: time.Second})
	require.NoError(t, err)
	assert.Positive(t, res.Transactions)
	assert.Zero(t, res.Check.Overfilled)
	assert.Zero(t, res.Check.Mismatched)
	assert.Zero(t, res.Errors, res.ErrorSamples)
	assert.Positive(t, res.Pays)
	assert.LessOrEqual(t, res.Pays, res.Opens+res.Joins, "one payment per seat at most")
	assert.LessOrEqual(t, res.Check.MaxActive, 5)
}

func TestRunHotMemory(t *testing.T) {
	res, err := Run(context.Background(), Target{Name: "memory", Store: memory.New()},
		Options{Scenario: ScenarioHot, Clients: 16, Duration: 300 * time.Millisecond})
	require.NoError(t, err)
	assert.Positive(t, res.Transactions)
	assert.Zero(t, res.Check.Overfilled)
	assert.Zero(t, res.Check.Mismatched)
	assert.Zero(t, res.Errors, res.ErrorSamples)
	assert.LessOrEqual(t, res.Check.MaxActive, 3)
}

func TestRank(t *testing.T) {
	d := make([]time.Duration, 100)
	for i := range d {
		d[i] = time.Duration(i + 1)
	}
	l := summarize(d)
	assert.Equal(t, time.Duration(50), l.P50)
	assert.Equal(t, time.Duration(99), l.P99)
	assert.Equal(t, time.Duration(100), l.Max)
	assert.Equal(t, time.Duration(1), summarize([]time.Duration{1}).P99)
}
