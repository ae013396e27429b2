package referral_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/referral"
)

func programme(pol referral.Policy, rates ...float64) referral.Programme {
	return referral.Programme{
		ID: "p", Policy: pol, Levels: len(rates), LevelRates: rates, BindMode: referral.BindFirstTouch,
		SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel, Approval: referral.ApproveManual,
	}
}

func TestValidateProgramme(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(p *referral.Programme)
		field string
		rule  string // part of the reason naming the rule; "" when valid
	}{
		{"valid", func(p *referral.Programme) {}, "", ""},
		{"three levels in China", func(p *referral.Programme) { p.Levels, p.LevelRates = 3, []float64{0.1, 0.05, 0.01} }, "Levels", "max levels"},
		{"WeChat three levels", func(p *referral.Programme) {
			p.Policy, p.Levels, p.LevelRates = referral.PolicyWeChat, 3, []float64{0.1, 0.05, 0.01}
		}, "Levels", "policy wechat v1"},
		{"rate over level cap", func(p *referral.Programme) { p.LevelRates[0] = 0.6 }, "LevelRates[0]", "max level rate"},
		{"total over cap", func(p *referral.Programme) { p.LevelRates = []float64{0.3, 0.3} }, "LevelRates", "max total rate"},
		{"NaN rate", func(p *referral.Programme) { p.LevelRates[1] = math.NaN() }, "LevelRates[1]", "outside [0, 1]"},
		{"negative rate", func(p *referral.Programme) { p.LevelRates[1] = -0.01 }, "LevelRates[1]", "outside"},
		{"rate over 1", func(p *referral.Programme) { p.Policy.MaxLevelRate = 1.5 }, "Policy.MaxLevelRate", "outside"},
		{"signup reward", func(p *referral.Programme) { p.SignupReward = true }, "SignupReward", "recruitment rewards"},
		{"entry fee", func(p *referral.Programme) { p.EntryFee = true }, "EntryFee", "entry fee"},
		{"FTC self purchase", func(p *referral.Programme) { p.Policy = referral.PolicyFTC }, "SelfPurchase", "retail sales only"},
		{"FTC none ok", func(p *referral.Programme) { p.Policy, p.SelfPurchase = referral.PolicyFTC, referral.SelfPurchaseNone }, "", ""},
		{"unknown mode", func(p *referral.Programme) { p.BindMode = "x" }, "BindMode", "unknown"},
		{"locked without period", func(p *referral.Programme) { p.BindMode = referral.BindFirstTouchLocked }, "LockPeriod", "positive"},
		{"last touch without window", func(p *referral.Programme) { p.BindMode = referral.BindLastTouch }, "AttributionWindow", "positive"},
		{"empty ID", func(p *referral.Programme) { p.ID = "" }, "ID", "empty"},
		{"rates count", func(p *referral.Programme) { p.LevelRates = p.LevelRates[:1] }, "LevelRates", "one rate per level"},
		{"unknown frozen", func(p *referral.Programme) { p.Frozen = "" }, "Frozen", "unknown"},
		{"custom policy unnamed", func(p *referral.Programme) { p.Policy.Name = "" }, "Policy.Name", "empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := programme(referral.PolicyChina, 0.1, 0.05)
			c.edit(&p)
			err := referral.ValidateProgramme(&p)
			if c.field == "" {
				require.NoError(t, err)
				return
			}
			ve, ok := errors.AsType[*referral.ValidationError](err)
			require.True(t, ok, "want *ValidationError, got %v", err)
			assert.Equal(t, c.field, ve.Field)
			assert.Contains(t, ve.Reason, c.rule)
		})
	}
}

func TestPresets(t *testing.T) {
	for _, p := range []referral.Policy{referral.PolicyChina, referral.PolicyWeChat, referral.PolicyFTC, referral.PolicyEU} {
		require.NoError(t, referral.ValidatePolicy(&p), p.Name)
		assert.False(t, p.RecruitmentRewards, p.Name)
		assert.False(t, p.EntryFeeAllowed, p.Name)
	}
	assert.Equal(t, 2, referral.PolicyChina.MaxLevels)
	assert.Equal(t, 2, referral.PolicyWeChat.MaxLevels)
	assert.True(t, referral.PolicyFTC.RetailSalesOnly)
	assert.False(t, referral.PolicyFTC.SelfPurchase.Has(referral.SelfPurchaseSelfLevel1))
}

func TestDistributorTransitions(t *testing.T) {
	legal := [][2]referral.DistributorState{
		{"", "pending"}, {"", "active"}, {"pending", "active"}, {"pending", "rejected"},
		{"active", "frozen"}, {"frozen", "active"}, {"active", "revoked"}, {"frozen", "revoked"},
	}
	all := []referral.DistributorState{"", "pending", "active", "frozen", "rejected", "revoked"}
	for _, from := range all {
		for _, to := range all {
			want := false
			for _, l := range legal {
				want = want || (l[0] == from && l[1] == to)
			}
			err := referral.CheckDistributorTransition(from, to)
			if want {
				assert.NoError(t, err, "%q -> %q", from, to)
			} else {
				assert.ErrorIs(t, err, referral.ErrIllegalTransition, "%q -> %q", from, to)
			}
		}
	}
	assert.True(t, referral.DistributorRevoked.Final())
	assert.False(t, referral.DistributorFrozen.Final())
}

func TestCheckNoCycle(t *testing.T) {
	assert.ErrorIs(t, referral.CheckNoCycle("a", "a", nil), referral.ErrSelfReferral)
	assert.ErrorIs(t, referral.CheckNoCycle("a", "b", []string{"c", "a"}), referral.ErrCycle)
	assert.NoError(t, referral.CheckNoCycle("a", "b", []string{"c", "d"}))
}

func TestDecideBind(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := programme(referral.PolicyChina, 0.1)
	cur := &referral.Binding{ReferrerID: "r1", LockedUntil: now.Add(time.Hour)}

	d, err := referral.DecideBind(&p, nil, "r1", false, now)
	require.NoError(t, err)
	assert.False(t, d.Rebind)
	d, err = referral.DecideBind(&p, cur, "r1", false, now)
	require.NoError(t, err)
	assert.True(t, d.Noop)
	_, err = referral.DecideBind(&p, cur, "r2", false, now)
	assert.ErrorIs(t, err, referral.ErrAlreadyBound)
	d, err = referral.DecideBind(&p, cur, "r2", true, now)
	require.NoError(t, err)
	assert.True(t, d.Rebind)

	p.BindMode, p.LockPeriod = referral.BindFirstTouchLocked, time.Hour
	_, err = referral.DecideBind(&p, cur, "r2", false, now)
	assert.ErrorIs(t, err, referral.ErrBindingLocked)
	d, err = referral.DecideBind(&p, cur, "r2", false, now.Add(time.Hour))
	require.NoError(t, err)
	assert.True(t, d.Rebind)
	assert.Equal(t, now.Add(2*time.Hour), d.LockedUntil)

	p.BindMode, p.AttributionWindow = referral.BindLastTouch, 24*time.Hour
	d, err = referral.DecideBind(&p, cur, "r1", false, now)
	require.NoError(t, err)
	assert.Equal(t, referral.BindDecision{Refresh: true, ExpiresAt: now.Add(24 * time.Hour)}, d,
		"a repeat to the current referrer refreshes the window in place: no rebind")
	d, err = referral.DecideBind(&p, cur, "r2", false, now)
	require.NoError(t, err)
	assert.True(t, d.Rebind, "another referrer rebinds")
	assert.False(t, d.Refresh)
	d, err = referral.DecideBind(&p, cur, "r1", true, now)
	require.NoError(t, err)
	assert.True(t, d.Rebind, "an admin override to the current referrer is a change")
	assert.False(t, d.Refresh)
}

// summary renders a Decide result as "user:level" or "user-reason".
func summary(ls []referral.Level) string {
	var b strings.Builder
	for _, l := range ls {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(l.UserID)
		if l.Drop != referral.DropNone {
			b.WriteString("-" + string(l.Drop))
		} else {
			b.WriteString(":" + string(rune('0'+l.Level)))
		}
	}
	return b.String()
}

func TestDecide(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	A, F, N := referral.DistributorActive, referral.DistributorFrozen, referral.DistributorNone
	chain := func(states ...referral.DistributorState) []referral.Link {
		out := make([]referral.Link, len(states))
		for i, s := range states {
			out[i] = referral.Link{UserID: string(rune('a' + i)), State: s}
		}
		return out
	}
	cases := []struct {
		name   string
		self   referral.SelfPurchaseRule
		frozen referral.FrozenRule
		chain  []referral.Link
		want   string
	}{
		{"customer, two levels", referral.SelfPurchaseReferrer, referral.FrozenSkipLevel, chain(N, A, A, A), "b:1 c:2 d-over_cap"},
		{"no referrer", referral.SelfPurchaseReferrer, referral.FrozenSkipLevel, chain(N), ""},
		{"frozen skips its level", referral.SelfPurchaseReferrer, referral.FrozenSkipLevel, chain(N, F, A, A), "b-frozen c:2 d-over_cap"},
		{"frozen stops the chain", referral.SelfPurchaseReferrer, referral.FrozenStopChain, chain(N, F, A, A), "b-frozen c-chain_stopped d-over_cap"},
		{"not a distributor", referral.SelfPurchaseReferrer, referral.FrozenSkipLevel, chain(N, N, A), "b-not_distributor c:2"},
		{"self level 1", referral.SelfPurchaseSelfLevel1, referral.FrozenSkipLevel, chain(A, A, A), "a:1 b:2 c-over_cap"},
		{"self none", referral.SelfPurchaseNone, referral.FrozenSkipLevel, chain(A, A, A), "a-self_purchase b-self_purchase c-self_purchase"},
		{"self starts at referrer", referral.SelfPurchaseReferrer, referral.FrozenSkipLevel, chain(A, A, A, A), "a-self_purchase b:1 c:2 d-over_cap"},
		{"self rule ignored for a customer", referral.SelfPurchaseNone, referral.FrozenSkipLevel, chain(N, A), "b:1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := referral.Decide(2, []float64{0.1, 0.05}, c.self, c.frozen, c.chain, at)
			assert.Equal(t, c.want, summary(got))
			for _, l := range got {
				assert.LessOrEqual(t, l.Level, 2)
			}
		})
	}
	ch := chain(N, A, A)
	ch[2].BindingExpiresAt = at
	assert.Equal(t, "b:1 c-binding_expired", summary(referral.Decide(2, nil, referral.SelfPurchaseReferrer, referral.FrozenSkipLevel, ch, at)))
	got := referral.Decide(2, []float64{0.1, 0.05}, referral.SelfPurchaseReferrer, referral.FrozenSkipLevel, chain(N, A, A), at)
	assert.Equal(t, []float64{0.1, 0.05}, []float64{got[0].Rate, got[1].Rate})
}
