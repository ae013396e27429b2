package referral_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/memory"
)

// TestValidationAudit holds the exported functions that return an error to
// their contract on bad input: a *ValidationError naming the argument, never
// a panic.
func TestValidationAudit(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	// Times every store keeps are in the years 1 to 9999: MySQL refused
	// later ones with an untyped error, the memory store took them.
	y10000 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	bind := func(mod func(*referral.BindWrite)) *referral.BindWrite {
		w := &referral.BindWrite{Binding: referral.Binding{ProgrammeID: "p", UserID: "u", ReferrerID: "r", Source: referral.SourceCode, BoundAt: now}}
		mod(w)
		return w
	}
	code := referral.InviteCode{Code: "ABCD", ProgrammeID: "p", UserID: "u", CreatedAt: now}
	cases := []struct {
		name  string
		field string
		call  func() error
	}{
		{"ValidatePolicy(nil)", "Policy", func() error { return referral.ValidatePolicy(nil) }},
		{"ValidateProgramme(nil)", "programme", func() error { return referral.ValidateProgramme(nil) }},
		{"GenerateCode(nil reader)", "reader", func() error { _, err := referral.GenerateCode(nil, referral.DefaultCodeLength, false); return err }},
		{"CheckKeys with a field and no value", "kv", func() error { return referral.CheckKeys("ProgrammeID", "p", "UserID") }},
		{"DecideBind at the zero time", "now", func() error {
			p := auditProgramme()
			_, err := referral.DecideBind(&p, nil, "r", false, time.Time{})
			return err
		}},
		// A zero now would take every validly signed token, expired or not.
		{"VerifyToken at the zero time", "now", func() error {
			tok, err := referral.SignToken(tokenKey, referral.ShareToken{ProgrammeID: "p", SharerID: "u", ExpiresAt: now.Add(-time.Hour)})
			require.NoError(t, err)
			_, err = referral.VerifyToken(tokenKey, tok, time.Time{})
			return err
		}},
		{"CheckBindWrite bound in year 10000", "BoundAt", func() error {
			return referral.CheckBindWrite(bind(func(w *referral.BindWrite) { w.Binding.BoundAt = y10000 }))
		}},
		{"CheckBindWrite locked until year 10000", "LockedUntil", func() error {
			return referral.CheckBindWrite(bind(func(w *referral.BindWrite) { w.Binding.LockedUntil = y10000 }))
		}},
		{"CheckBindWrite expiring in year 10000", "ExpiresAt", func() error {
			return referral.CheckBindWrite(bind(func(w *referral.BindWrite) { w.Binding.ExpiresAt = y10000 }))
		}},
		{"CheckBindWrite with a change in year 10000", "Change.At", func() error {
			return referral.CheckBindWrite(bind(func(w *referral.BindWrite) { w.Change.At = y10000 }))
		}},
		{"CheckInviteCode created in year 10000", "CreatedAt", func() error {
			c := code
			c.CreatedAt = y10000
			return referral.CheckInviteCode(&c)
		}},
		{"CheckInviteCode revoked in year 10000", "RevokedAt", func() error {
			c := code
			c.RevokedAt = y10000
			return referral.CheckInviteCode(&c)
		}},
		{"CheckDistributorWrite updated in year 10000", "UpdatedAt", func() error {
			return referral.CheckDistributorWrite(&referral.DistributorWrite{Next: referral.Distributor{
				ProgrammeID: "p", UserID: "u", State: referral.DistributorPending, AppliedAt: now, UpdatedAt: y10000,
			}})
		}},
		{"CheckAttribution at year 10000", "At", func() error {
			return referral.CheckAttribution(&referral.Attribution{ProgrammeID: "p", OrderRef: "o", BuyerID: "b", At: y10000})
		}},
		{"CheckNewProgramme created in year 10000", "CreatedAt", func() error {
			p := auditProgramme()
			p.CreatedAt = y10000
			return referral.CheckNewProgramme(&p)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { err = c.call() })
			var ve *referral.ValidationError
			require.True(t, errors.As(err, &ve), "want a *ValidationError, got %T %v", err, err)
			assert.Equal(t, c.field, ve.Field)
			assert.NotEmpty(t, ve.Reason)
		})
	}
}

func auditProgramme() referral.Programme {
	return referral.Programme{ID: "p", Policy: referral.PolicyFTC, Levels: 1, LevelRates: []float64{0.1}, BindMode: referral.BindFirstTouch,
		SelfPurchase: referral.SelfPurchaseNone, Frozen: referral.FrozenSkipLevel, Approval: referral.ApproveAuto}
}

// TestTimesBeyondStores: the Service and the memory store refuse times no
// store keeps, and store nothing.
func TestTimesBeyondStores(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	y10000 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	m := memory.New(memory.WithClock(func() time.Time { return now }))
	s, err := referral.New(m, referral.Config{Now: func() time.Time { return now }})
	require.NoError(t, err)
	_, err = s.CreateProgramme(ctx, auditProgramme())
	require.NoError(t, err)
	code, err := s.IssueCode(ctx, "p", "u", "")
	require.NoError(t, err)

	var ve *referral.ValidationError
	_, err = s.Attribute(ctx, "p", "o", "b", y10000)
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "at", ve.Field)
	_, err = m.GetAttribution(ctx, "p", "o")
	assert.ErrorIs(t, err, storage.ErrNotFound, "nothing stored")

	_, err = m.RevokeCode(ctx, code.Code, y10000)
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "at", ve.Field)
	got, err := m.GetCode(ctx, code.Code)
	require.NoError(t, err)
	assert.False(t, got.Revoked(), "the code is not revoked")
}

// TestNilValues: the functions that return a value, not an error, answer
// a nil argument as groupbuy's do (MayShip(nil) is false), not with a
// panic.
func TestNilValues(t *testing.T) {
	var a *referral.Attribution
	var c *referral.InviteCode
	require.NotPanics(t, func() { assert.Nil(t, referral.Replay(nil)) }, "Replay(nil)")
	require.NotPanics(t, func() { assert.Nil(t, a.Beneficiaries()) }, "nil Beneficiaries")
	require.NotPanics(t, func() { assert.False(t, c.Revoked()) }, "nil Revoked")
	require.NotPanics(t, func() {
		d := referral.ChainDepth(nil)
		var ve *referral.ValidationError
		assert.ErrorAs(t, referral.CheckChainDepth(d), &ve, "a nil programme's depth is one Chain refuses")
	}, "ChainDepth(nil)")
}
