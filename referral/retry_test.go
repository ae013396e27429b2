package referral_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage/memory"
)

// TestApplyRetryAsksRuleOnce: a repeated Apply returns the record without
// asking the approval rule again (the rule may be a call to another
// system), and a rule's error leaves nothing behind.
func TestApplyRetryAsksRuleOnce(t *testing.T) {
	ctx := context.Background()
	asked := 0
	var ruleErr error
	svc, err := referral.New(memory.New(), referral.Config{
		Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) },
		ApproveRule: func(context.Context, string, string) (bool, error) {
			asked++
			return false, ruleErr
		},
	})
	require.NoError(t, err)
	p := programme(referral.PolicyChina, 0.1)
	p.Approval = referral.ApproveAuto
	_, err = svc.CreateProgramme(ctx, p)
	require.NoError(t, err)

	ruleErr = errors.New("rule down")
	_, err = svc.Apply(ctx, p.ID, "u")
	require.ErrorIs(t, err, ruleErr)
	_, err = svc.Distributor(ctx, p.ID, "u")
	require.ErrorIs(t, err, referral.ErrNotFound, "nothing written")

	ruleErr, asked = nil, 0
	d, err := svc.Apply(ctx, p.ID, "u")
	require.NoError(t, err)
	assert.Equal(t, referral.DistributorPending, d.State, "the rule said no: an operator decides")
	again, err := svc.Apply(ctx, p.ID, "u")
	require.NoError(t, err)
	assert.Equal(t, d, again)
	assert.Equal(t, 1, asked, "the rule is asked once")
}
