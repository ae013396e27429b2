package referral_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/socialcommerce/sdk/referral"
)

// FuzzProgrammeRules feeds arbitrary programmes to the pure rules:
// ValidateProgramme returns nil or a *ValidationError and never panics;
// for a valid programme DecideBind allows a bind or refuses it with one of
// its sentinels, and Decide pays no level deeper than Levels, each at its
// programme rate, within the policy's caps.
func FuzzProgrammeRules(f *testing.F) {
	f.Add("p", "ftc", 1, 3, 0.1, 0.0, 0.0, 0.5, 0.5, uint8(7), "first_touch", int64(0), int64(0), "none", "skip_level", "auto", false, "r", int64(0), byte(0xff), int64(0))
	f.Add("p", "eu", 2, 3, 0.1, 0.05, 0.0, 0.5, 0.5, uint8(7), "first_touch_locked", int64(time.Hour), int64(0), "self_level1", "stop_chain", "manual", true, "r", int64(time.Hour), byte(0x5a), int64(-time.Hour))
	f.Add("p:x", "china", 3, 2, 0.3, 0.3, 0.3, 0.3, 0.6, uint8(1), "last_touch", int64(0), int64(24*time.Hour), "referrer", "skip_level", "auto", false, "u", int64(-1), byte(1), int64(1<<62))
	f.Add("", "", -1, 0, -1.0, 2.0, 0.0, 2.0, -1.0, uint8(0), "bogus", int64(-1), int64(-1), "bogus", "bogus", "bogus", true, "", int64(0), byte(0), int64(0))
	f.Fuzz(func(t *testing.T, id, policy string, levels, maxLevels int, r1, r2, r3, maxLevel, maxTotal float64, self uint8,
		mode string, lock, window int64, selfRule, frozen, approval string, override bool, referrer string,
		currentLock int64, states byte, at int64) {
		now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		var rates []float64
		for i, r := range []float64{r1, r2, r3} {
			if i < levels {
				rates = append(rates, r)
			}
		}
		p := referral.Programme{
			ID: id, Levels: levels, LevelRates: rates, BindMode: referral.BindMode(mode),
			LockPeriod: time.Duration(lock), AttributionWindow: time.Duration(window),
			SelfPurchase: referral.SelfPurchaseRule(selfRule), Frozen: referral.FrozenRule(frozen), Approval: referral.Approval(approval),
			Policy: referral.Policy{Name: policy, Version: 1, MaxLevels: maxLevels, MaxLevelRate: maxLevel, MaxTotalRate: maxTotal,
				SelfPurchase: referral.SelfPurchaseSet(self)},
		}
		err := referral.ValidateProgramme(&p)
		if err != nil {
			var ve *referral.ValidationError
			if !errors.As(err, &ve) || ve.Field == "" || ve.Reason == "" {
				t.Fatalf("ValidateProgramme: want a *ValidationError, got %T %v", err, err)
			}
			return
		}
		// DecideBind, with and without a current binding.
		current := &referral.Binding{ReferrerID: "old", LockedUntil: now.Add(time.Duration(currentLock))}
		for _, cur := range []*referral.Binding{nil, current} {
			d, err := referral.DecideBind(&p, cur, referrer, override, now)
			switch {
			case err == nil:
				if cur == nil && (d.Rebind || d.Noop) {
					t.Fatalf("DecideBind without a binding: %+v", d)
				}
			case errors.Is(err, referral.ErrAlreadyBound), errors.Is(err, referral.ErrBindingLocked):
				if cur == nil || override {
					t.Fatalf("DecideBind refused (%v) with current %v, override %v", err, cur, override)
				}
			default:
				t.Fatalf("DecideBind: unexpected error %T %v", err, err)
			}
		}
		// Decide on a chain of five whose states come from the bits of states.
		all := []referral.DistributorState{referral.DistributorActive, referral.DistributorFrozen, referral.DistributorPending, referral.DistributorRevoked}
		chain := make([]referral.Link, 5)
		for i := range chain {
			chain[i] = referral.Link{UserID: fmt.Sprintf("u%d", i), State: all[(states>>(i%4*2))&3]}
			if i > 0 && at != 0 {
				chain[i].BindingExpiresAt = now.Add(time.Duration(at))
			}
		}
		total := 0.0
		for _, l := range referral.Decide(p.Levels, p.LevelRates, p.SelfPurchase, p.Frozen, chain, now) {
			if l.Level == 0 {
				if l.Rate != 0 {
					t.Fatalf("dropped level with a rate: %+v", l)
				}
				continue
			}
			if l.Level < 1 || l.Level > p.Levels || l.Rate != p.LevelRates[l.Level-1] || l.Rate > p.Policy.MaxLevelRate {
				t.Fatalf("paid level outside the programme: %+v (levels %d, rates %v)", l, p.Levels, p.LevelRates)
			}
			total += l.Rate
		}
		if total > p.Policy.MaxTotalRate+1e-9 {
			t.Fatalf("paid %v in total, over the policy's %v", total, p.Policy.MaxTotalRate)
		}
	})
}
