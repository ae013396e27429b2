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

// beyondPolicyStore answers GetProgramme with a programme that breaks its
// own policy, as a row written by hand or by another adapter could.
type beyondPolicyStore struct {
	*memory.Store
	edit func(*referral.Programme)
}

func (s beyondPolicyStore) GetProgramme(ctx context.Context, id string) (referral.Programme, error) {
	p, err := s.Store.GetProgramme(ctx, id)
	if err == nil {
		s.edit(&p)
	}
	return p, err
}

// A programme read back from a store is held to its policy again: three
// levels under WeChat's rules never pay a third level.
func TestServiceRefusesStoredProgrammeBeyondPolicy(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mem := memory.New(memory.WithClock(func() time.Time { return now }))
	setup, err := referral.New(mem, referral.Config{Now: func() time.Time { return now }})
	require.NoError(t, err)
	p := programme(referral.PolicyWeChat, 0.1, 0.05)
	p.Approval = referral.ApproveAuto
	_, err = setup.CreateProgramme(ctx, p)
	require.NoError(t, err)
	for _, u := range []string{"p1", "p2", "p3"} {
		_, err := setup.Apply(ctx, p.ID, u)
		require.NoError(t, err)
	}
	for _, e := range [][2]string{{"buyer", "p1"}, {"p1", "p2"}, {"p2", "p3"}} {
		_, err := setup.Bind(ctx, referral.BindRequest{ProgrammeID: p.ID, UserID: e[0], ReferrerID: e[1], Source: referral.SourceLink})
		require.NoError(t, err)
	}
	svc, err := referral.New(beyondPolicyStore{mem, func(p *referral.Programme) {
		p.Levels, p.LevelRates = 3, []float64{0.1, 0.05, 0.02}
	}}, referral.Config{Now: func() time.Time { return now }})
	require.NoError(t, err)
	a, err := svc.Attribute(ctx, p.ID, "o1", "buyer", now)
	_, isValidation := errors.AsType[*storage.ValidationError](err)
	assert.True(t, isValidation, "want a *ValidationError, got %v; paid %+v", err, a.Beneficiaries())
	for _, l := range a.Beneficiaries() {
		assert.LessOrEqual(t, l.Level, referral.PolicyWeChat.MaxLevels, "paid level %d under wechat", l.Level)
	}
	_, err = mem.GetAttribution(ctx, p.ID, "o1")
	assert.ErrorIs(t, err, referral.ErrNotFound, "nothing stored")
}

// DecideBind's lock and window end on a whole microsecond, never before
// now plus the full period; a nil programme is a *ValidationError.
func TestDecideBindRoundsPeriodsUp(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 123456789, time.UTC)
	for _, period := range []time.Duration{time.Hour, time.Hour + 1, time.Hour + 999, time.Hour + 1000, 1} {
		p := programme(referral.PolicyEU, 0.1)
		p.BindMode, p.LockPeriod = referral.BindFirstTouchLocked, period
		d, err := referral.DecideBind(&p, nil, "r", false, now)
		require.NoError(t, err)
		assert.False(t, d.LockedUntil.Before(now.Add(period)), "period %v: lock ends %v", period, d.LockedUntil)
		assert.Zero(t, d.LockedUntil.Nanosecond()%1000, "period %v: %v", period, d.LockedUntil)
		assert.Less(t, d.LockedUntil.Sub(now.Add(period)), time.Microsecond)
		p.BindMode, p.LockPeriod, p.AttributionWindow = referral.BindLastTouch, 0, period
		d, err = referral.DecideBind(&p, nil, "r", false, now)
		require.NoError(t, err)
		assert.False(t, d.ExpiresAt.Before(now.Add(period)), "window %v: ends %v", period, d.ExpiresAt)
		assert.Zero(t, d.ExpiresAt.Nanosecond()%1000, "window %v: %v", period, d.ExpiresAt)
	}
	_, err := referral.DecideBind(nil, nil, "r", false, now)
	_, isValidation := errors.AsType[*storage.ValidationError](err)
	assert.True(t, isValidation, "nil programme: %v", err)
}

// Every token SignToken returns verifies until it expires: an expiry that
// VerifyToken cannot read is refused when signing, and Service.SignToken
// never returns a token already expired.
func TestSignTokenOnlyWhatVerifies(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 900_000_000, time.UTC)
	tok := referral.ShareToken{ProgrammeID: "p", SharerID: "s"}
	for _, exp := range []time.Time{
		time.Unix(1<<40+1, 0), time.Date(40000, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(1<<62, 0),
	} {
		tok.ExpiresAt = exp
		s, err := referral.SignToken(tokenKey, tok)
		if err == nil {
			_, verr := referral.VerifyToken(tokenKey, s, now)
			assert.NoError(t, verr, "expiry %v signed, then refused", exp)
			continue
		}
		_, isValidation := errors.AsType[*storage.ValidationError](err)
		assert.True(t, isValidation, "expiry %v: %v", exp, err)
	}
	svc, err := referral.New(memory.New(), referral.Config{Now: func() time.Time { return now }, TokenKey: tokenKey})
	require.NoError(t, err)
	for _, ttl := range []time.Duration{time.Millisecond, 99 * time.Millisecond, 500 * time.Millisecond, time.Second} {
		s, err := svc.SignToken(tok, ttl)
		if err != nil {
			_, isValidation := errors.AsType[*storage.ValidationError](err)
			assert.True(t, isValidation, "ttl %v: %v", ttl, err)
			continue
		}
		_, err = svc.VerifyToken(s)
		assert.NoError(t, err, "ttl %v: signed a token that is expired already", ttl)
	}
}

// A new programme's ID holds no ':' ("a" with order "b:c" and "a:b" with
// order "c" would share the key ref:a:b:c:attributed), but a programme
// stored before that rule keeps working: reads hold it to its policy only.
func TestProgrammeIDColon(t *testing.T) {
	p := programme(referral.PolicyChina, 0.1)
	p.ID = "shop:main"
	err := referral.CheckNewProgramme(&p)
	ve, ok := errors.AsType[*storage.ValidationError](err)
	require.True(t, ok, "want a *ValidationError, got %v", err)
	assert.Equal(t, "ID", ve.Field)
	require.NoError(t, referral.ValidateProgramme(&p))
	_, isValidation := errors.AsType[*storage.ValidationError](referral.CheckNewProgramme(nil))
	assert.True(t, isValidation, "nil programme")

	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mem := memory.New(memory.WithClock(func() time.Time { return now }))
	svc, err := referral.New(mem, referral.Config{Now: func() time.Time { return now }})
	require.NoError(t, err)
	_, err = svc.CreateProgramme(ctx, p)
	_, isValidation = errors.AsType[*storage.ValidationError](err)
	assert.True(t, isValidation, "CreateProgramme took %q: %v", p.ID, err)
	_, err = mem.GetProgramme(ctx, p.ID)
	assert.ErrorIs(t, err, referral.ErrNotFound, "nothing stored")

	// An old programme, as a store created before the rule returns it.
	p.ID = "shop-main"
	p.Approval = referral.ApproveAuto
	_, err = svc.CreateProgramme(ctx, p)
	require.NoError(t, err)
	old, err := referral.New(beyondPolicyStore{mem, func(q *referral.Programme) { q.ID = "shop:main" }}, referral.Config{Now: func() time.Time { return now }})
	require.NoError(t, err)
	got, err := old.Programme(ctx, "shop-main")
	require.NoError(t, err, "a stored programme whose ID holds ':' is still read")
	assert.Equal(t, "shop:main", got.ID)
}
