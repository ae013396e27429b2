package main

import (
	"bytes"
	"context"
	"strings"
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
	assert.Zero(t, res.Check.PaidMismatched)
	assert.Zero(t, res.Check.RowsMismatched)
	assert.Zero(t, res.Check.OverRowBound)
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
	assert.Zero(t, res.Check.PaidMismatched)
	assert.Zero(t, res.Check.RowsMismatched)
	assert.Zero(t, res.Check.OverRowBound)
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

func TestRunReferralMemory(t *testing.T) {
	res, err := RunReferral(context.Background(), Target{Name: "memory", Store: memory.New()},
		RefOptions{Users: 2000, Clients: 4, Duration: 300 * time.Millisecond})
	require.NoError(t, err)
	assert.Positive(t, res.Attributes)
	assert.Zero(t, res.Errors, res.ErrorSamples)
	assert.Equal(t, 100, res.Sampled)
	assert.Zero(t, res.DepthViolations)
	assert.Zero(t, res.Inline)
	assert.LessOrEqual(t, res.MaxPaid, 2)
	assert.Positive(t, res.Attribute.P99)
	var out bytes.Buffer
	reportReferral(&out, res)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	assert.Regexp(t, `^referral ops/s=\d+ p99_ms=[\d.]+ depth_violations=0$`, lines[len(lines)-1])
}

func TestRunReferralRefusesLargeMemoryTree(t *testing.T) {
	_, err := RunReferral(context.Background(), Target{Name: "memory", Store: memory.New()},
		RefOptions{Users: 300_000, Clients: 1, Duration: time.Millisecond})
	require.ErrorContains(t, err, "at most 200000")
}

// TestBadFlags: flags that could only give an empty or meaningless run are
// refused with exit code 2 before any store is opened.
func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-duration", "-1s"},
		{"-duration", "0s"},
		{"-clients", "0"},
		{"-scenario", "nope"},
		{"extra"},
	} {
		var out, errOut bytes.Buffer
		assert.Equal(t, 2, mainErr(args, &out, &errOut), "%q", args)
		assert.Empty(t, out.String(), "%q: nothing on stdout", args)
		assert.NotEmpty(t, errOut.String(), "%q: says why", args)
	}
}
