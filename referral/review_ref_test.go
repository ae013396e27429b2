package referral_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage/memory"
)

// constReader is a broken randomness source: it repeats one byte.
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// sparseReader keeps one usable byte (below 240) in every 32.
type sparseReader struct{ n int }

func (s *sparseReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0xFF
		if s.n%32 == 0 {
			p[i] = 0
		}
		s.n++
	}
	return len(p), nil
}

// TestGenerateCodeBrokenReaderBounded: a reader that only yields bytes of
// 240 or more (which GenerateCode discards to stay unbiased) made
// GenerateCode, and IssueCode on a Service with such a Config.Rand, loop
// forever. It must return a *ValidationError, and a reader that is merely
// wasteful must still work.
func TestGenerateCodeBrokenReaderBounded(t *testing.T) {
	done := make(chan error, 1)
	go func() {
		_, err := referral.GenerateCode(constReader(0xFF), referral.MaxCodeLength, true)
		done <- err
	}()
	select {
	case err := <-done:
		var ve *referral.ValidationError
		require.True(t, errors.As(err, &ve), "want a *ValidationError, got %v", err)
		assert.Equal(t, "reader", ve.Field)
	case <-time.After(5 * time.Second):
		t.Fatal("GenerateCode loops forever on a reader of bytes ≥ 240")
	}

	c, err := referral.GenerateCode(&sparseReader{}, 8, false)
	require.NoError(t, err)
	assert.Equal(t, "22222222", c)

	ctx := context.Background()
	store := memory.New()
	svc, err := referral.New(store, referral.Config{Rand: constReader(0xF0)})
	require.NoError(t, err)
	p, err := svc.CreateProgramme(ctx, referral.Programme{ID: "p", Policy: referral.PolicyChina, Levels: 1, LevelRates: []float64{0.1},
		BindMode: referral.BindFirstTouch, SelfPurchase: referral.SelfPurchaseNone, Frozen: referral.FrozenSkipLevel, Approval: referral.ApproveManual})
	require.NoError(t, err)
	go func() {
		_, err := svc.IssueCode(ctx, p.ID, "u", "")
		done <- err
	}()
	select {
	case err := <-done:
		var ve *referral.ValidationError
		require.True(t, errors.As(err, &ve), "want a *ValidationError, got %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("IssueCode loops forever on a Config.Rand of bytes ≥ 240")
	}
	codes, err := store.UserCodes(ctx, p.ID, "u", referral.CodePosition{}, referral.MaxListLimit)
	require.NoError(t, err)
	assert.Empty(t, codes, "nothing stored on error")
}

// TestDecideAnyLevelsNoPanic: Decide sized its result with levels+2, so a
// levels below -2 or near math.MaxInt (overflowing) panicked in make.
// Replay runs Decide on a stored snapshot, whose Levels a corrupt or
// hand-written row may hold; neither may panic, and neither pays anyone
// when levels is not positive.
func TestDecideAnyLevelsNoPanic(t *testing.T) {
	chain := []referral.Link{{UserID: "b"}, {UserID: "a", State: referral.DistributorActive}}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, levels := range []int{math.MinInt, -5, -3, 0, 1, referral.MaxLevels + 1, math.MaxInt - 1, math.MaxInt} {
		var got, replay []referral.Level
		require.NotPanics(t, func() {
			got = referral.Decide(levels, []float64{0.1}, referral.SelfPurchaseNone, referral.FrozenSkipLevel, chain, at)
			replay = referral.Replay(&referral.Attribution{Levels: levels, LevelRates: []float64{0.1},
				SelfPurchase: referral.SelfPurchaseNone, Frozen: referral.FrozenSkipLevel, Chain: chain, At: at})
		}, "levels %d", levels)
		assert.Equal(t, got, replay, "levels %d", levels)
		want := referral.Level{Depth: 1, UserID: "a", Level: 1, Rate: 0.1}
		if levels < 1 {
			want = referral.Level{Depth: 1, UserID: "a", Drop: referral.DropOverCap}
		}
		assert.Equal(t, []referral.Level{want}, got, "levels %d", levels)
	}
}

// TestGenerateCodeTypedNilReader: GenerateCode refused only an untyped nil
// reader; a typed nil such as (*bytes.Reader)(nil) (the hole New closed
// for Config.Rand) panicked in Read instead of being a *ValidationError.
func TestGenerateCodeTypedNilReader(t *testing.T) {
	var err error
	require.NotPanics(t, func() { _, err = referral.GenerateCode((*bytes.Reader)(nil), 8, false) })
	var ve *referral.ValidationError
	require.True(t, errors.As(err, &ve), "want a *ValidationError, got %v", err)
	assert.Equal(t, "reader", ve.Field)
}

// TestFrozenBuyerDoesNotRaiseUplinePay: freezing a distributor must never
// pay anyone more. Decide applied the self-purchase rule only to an active
// buyer, so a frozen buyer was treated as a plain customer:
//
//   - SelfPurchaseNone (the only rule of a RetailSalesOnly policy such as
//     PolicyFTC: "a participant's own purchase pays nobody"): c's own
//     purchase paid nobody while c was active, but once c was frozen it
//     paid b at level 1 and a at level 2;
//   - SelfPurchaseSelfLevel1 with FrozenSkipLevel: while c was active, b
//     was level 2; once c was frozen, b moved up to level 1 and a, over the
//     cap before, was paid level 2, which compresses levels upwards, against
//     the frozen rules' own documentation.
//
// Rules version 1 (CurrentRules) applies the self-purchase rule to a
// frozen buyer too; snapshots made before (Rules 0) replay as they were
// decided (TestReplayKeepsRulesOfSnapshot).
func TestFrozenBuyerDoesNotRaiseUplinePay(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	chain := func(buyer referral.DistributorState) []referral.Link {
		return []referral.Link{{UserID: "c", State: buyer}, {UserID: "b", State: referral.DistributorActive},
			{UserID: "a", State: referral.DistributorActive}}
	}
	paid := func(ls []referral.Level) map[string]int {
		m := map[string]int{}
		for _, l := range ls {
			if l.Level > 0 {
				m[l.UserID] = l.Level
			}
		}
		return m
	}
	for _, self := range []referral.SelfPurchaseRule{referral.SelfPurchaseNone, referral.SelfPurchaseSelfLevel1} {
		for _, frozen := range []referral.FrozenRule{referral.FrozenSkipLevel, referral.FrozenStopChain} {
			active := paid(referral.Decide(2, []float64{0.1, 0.05}, self, frozen, chain(referral.DistributorActive), at))
			froze := paid(referral.Decide(2, []float64{0.1, 0.05}, self, frozen, chain(referral.DistributorFrozen), at))
			for u, l := range froze {
				if al, ok := active[u]; !ok || l < al {
					t.Errorf("%s/%s: frozen buyer pays %s level %d; active buyer paid it level %d (0: nothing)", self, frozen, u, l, al)
				}
			}
		}
	}
}

// TestReplayKeepsRulesOfSnapshot: a snapshot stored before rules were
// versioned (Rules 0) with a frozen buyer replays to the result it was
// stored with, and one made now records CurrentRules; a snapshot naming
// rules newer than this version knows is refused.
func TestReplayKeepsRulesOfSnapshot(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	chain := []referral.Link{{UserID: "c", State: referral.DistributorFrozen}, {UserID: "b", State: referral.DistributorActive},
		{UserID: "a", State: referral.DistributorActive}}
	old := referral.Attribution{ProgrammeID: "p", OrderRef: "o", BuyerID: "c", At: at, Levels: 2, LevelRates: []float64{0.1, 0.05},
		SelfPurchase: referral.SelfPurchaseNone, Frozen: referral.FrozenSkipLevel, Chain: chain}
	// As version 0 decided it: the frozen buyer a plain customer, b and a paid.
	want := []referral.Level{{Depth: 1, UserID: "b", Level: 1, Rate: 0.1}, {Depth: 2, UserID: "a", Level: 2, Rate: 0.05}}
	assert.Equal(t, want, referral.Replay(&old))
	cur := old
	cur.Rules = referral.CurrentRules
	for _, l := range referral.Replay(&cur) {
		assert.Zero(t, l.Level, "%s is paid for a frozen distributor's own purchase", l.UserID)
	}
	bad := cur
	bad.Rules = referral.CurrentRules + 1
	var ve *referral.ValidationError
	require.True(t, errors.As(referral.CheckAttribution(&bad), &ve))
	assert.Equal(t, "Rules", ve.Field)

	svc, err := referral.New(memory.New(), referral.Config{Now: func() time.Time { return at }})
	require.NoError(t, err)
	_, err = svc.CreateProgramme(t.Context(), referral.Programme{ID: "p", Policy: referral.PolicyFTC, Levels: 1, LevelRates: []float64{0.1},
		BindMode: referral.BindFirstTouch, SelfPurchase: referral.SelfPurchaseNone, Frozen: referral.FrozenSkipLevel, Approval: referral.ApproveAuto})
	require.NoError(t, err)
	got, err := svc.Attribute(t.Context(), "p", "o1", "buyer", at)
	require.NoError(t, err)
	assert.Equal(t, referral.CurrentRules, got.Rules)
}
