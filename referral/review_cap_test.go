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

// TestPresetNameCarriesPresetLimits: a Policy is a plain value that a
// programme carries, and attributions record only its Name and Version.
// A copy of PolicyChina with MaxLevels 3 (or an assignment to the exported
// variable) passed as "china v1": a 3-level programme was accepted and its
// snapshots said that the 2-level Chinese policy applied. A policy named
// and versioned as a preset must now hold the preset's limits; a policy of
// the host's own, under another name, may hold others.
func TestPresetNameCarriesPresetLimits(t *testing.T) {
	for _, pol := range []referral.Policy{referral.PolicyChina, referral.PolicyWeChat, referral.PolicyFTC, referral.PolicyEU} {
		forged := pol
		forged.MaxLevels++
		p := programme(forged, 0.1, 0.05, 0.01)
		if forged.RetailSalesOnly {
			p.SelfPurchase = referral.SelfPurchaseNone
		}
		p.Levels, p.LevelRates = forged.MaxLevels, make([]float64, forged.MaxLevels)
		err := referral.ValidateProgramme(&p)
		ve, ok := errors.AsType[*referral.ValidationError](err)
		require.True(t, ok, "%s with %d levels: want *ValidationError, got %v", pol.Name, forged.MaxLevels, err)
		assert.Equal(t, "Policy", ve.Field)
		assert.Contains(t, ve.Reason, "preset")

		forged = pol
		forged.RecruitmentRewards, forged.RetailSalesOnly = true, false
		p = programme(forged, 0.1)
		_, ok = errors.AsType[*referral.ValidationError](referral.ValidateProgramme(&p))
		assert.True(t, ok, "%s allowing recruitment rewards", pol.Name)
	}

	store := memory.New()
	svc, err := referral.New(store, referral.Config{Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }})
	require.NoError(t, err)
	forged := referral.PolicyChina
	forged.MaxLevels = 3
	_, err = svc.CreateProgramme(context.Background(), programme(forged, 0.1, 0.05, 0.01))
	_, ok := errors.AsType[*referral.ValidationError](err)
	assert.True(t, ok, "a 3-level programme under a forged china v1: %v", err)

	own := forged
	own.Name = "shop-own"
	p := programme(own, 0.1, 0.05, 0.01)
	require.NoError(t, referral.ValidateProgramme(&p), "a policy of the host's own, under its own name")
	for _, pol := range []referral.Policy{referral.PolicyChina, referral.PolicyWeChat, referral.PolicyFTC, referral.PolicyEU} {
		require.NoError(t, referral.ValidatePolicy(&pol), "the preset %s itself", pol.Name)
	}
}

// TestTotalRateCapExact: the total of the level rates was compared with
// the policy's cap plus 1e-12, so rates summing to just above the cap
// passed (0.3 + 0.2000000000001 under a cap of 0.5). The sum is now taken
// on the rates as written (their shortest decimals), exactly: 0.1 + 0.2
// is 0.3 and passes a cap of 0.3, and anything above the cap is refused.
func TestTotalRateCapExact(t *testing.T) {
	p := programme(referral.PolicyChina, 0.3, 0.2000000000001)
	ve, ok := errors.AsType[*referral.ValidationError](referral.ValidateProgramme(&p))
	require.True(t, ok, "a total above the cap")
	assert.Equal(t, "LevelRates", ve.Field)
	assert.Contains(t, ve.Reason, "max total rate")

	p = programme(referral.PolicyChina, 0.25, 0.25)
	require.NoError(t, referral.ValidateProgramme(&p), "a total at the cap")
	own := referral.PolicyChina
	own.Name, own.MaxTotalRate = "shop-own", 0.3
	p = programme(own, 0.1, 0.2)
	require.NoError(t, referral.ValidateProgramme(&p), "0.1 + 0.2 is 0.3")
	own.MaxLevels, own.MaxTotalRate = 3, 0.6
	p = programme(own, 0.1, 0.2, 0.3)
	require.NoError(t, referral.ValidateProgramme(&p), "0.1 + 0.2 + 0.3 is 0.6")
}
