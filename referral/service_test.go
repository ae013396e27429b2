package referral_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/memory"
)

func newService(now time.Time) *referral.Service {
	store := memory.New(memory.WithClock(func() time.Time { return now }))
	svc, err := referral.New(store, referral.Config{Now: func() time.Time { return now }, TokenKey: tokenKey})
	if err != nil {
		panic(err)
	}
	return svc
}

func TestBindModesAndEligibility(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := now
	store := memory.New()
	newUsers := map[string]bool{"fresh": true}
	svc, err := referral.New(store, referral.Config{Now: func() time.Time { return clock },
		IsNewUser: func(_ context.Context, _, u string) (bool, error) { return newUsers[u], nil }})
	require.NoError(t, err)
	p, err := svc.CreateProgramme(ctx, referral.Programme{
		ID: "locked", Policy: referral.PolicyEU, Levels: 1, LevelRates: []float64{0.1}, BindMode: referral.BindFirstTouchLocked,
		LockPeriod: time.Hour, SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel,
		Approval: referral.ApproveManual, NewUsersOnly: true,
	})
	require.NoError(t, err)
	bind := func(u, r string) error {
		_, err := svc.Bind(ctx, referral.BindRequest{ProgrammeID: p.ID, UserID: u, ReferrerID: r, Source: referral.SourcePoster})
		return err
	}
	assert.ErrorIs(t, bind("old", "r1"), referral.ErrNotEligible)
	require.NoError(t, bind("fresh", "r1"))
	require.NoError(t, bind("fresh", "r1"), "a repeat is a no-op")
	assert.ErrorIs(t, bind("fresh", "r2"), referral.ErrBindingLocked)
	clock = clock.Add(time.Hour)
	require.NoError(t, bind("fresh", "r2"), "rebindable after the lock")
	b, err := svc.Binding(ctx, p.ID, "fresh")
	require.NoError(t, err)
	assert.Equal(t, "r2", b.ReferrerID)
	assert.ErrorIs(t, bind("x", "x"), referral.ErrSelfReferral)

	lt, err := svc.CreateProgramme(ctx, referral.Programme{
		ID: "last", Policy: referral.PolicyEU, Levels: 1, LevelRates: []float64{0.1}, BindMode: referral.BindLastTouch,
		AttributionWindow: 24 * time.Hour, SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel,
		Approval: referral.ApproveAuto,
	})
	require.NoError(t, err)
	_, err = svc.Apply(ctx, lt.ID, "r1")
	require.NoError(t, err)
	_, err = svc.Bind(ctx, referral.BindRequest{ProgrammeID: lt.ID, UserID: "u", ReferrerID: "r1", Source: referral.SourceLink})
	require.NoError(t, err)
	a, err := svc.Attribute(ctx, lt.ID, "o1", "u", clock.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, "r1", a.Beneficiaries()[0].UserID)
	a, err = svc.Attribute(ctx, lt.ID, "o2", "u", clock.Add(25*time.Hour))
	require.NoError(t, err)
	assert.Empty(t, a.Beneficiaries(), "outside the attribution window")
	assert.Equal(t, referral.DropExpired, a.Result[0].Drop)
}

// lastTouchProgramme is a Service on store with the clock *clock and a
// last-touch programme "last" (one level, an hour's attribution window)
// with "r" an approved distributor.
func lastTouchProgramme(t *testing.T, store referral.Store, clock *time.Time) (*referral.Service, *referral.Programme) {
	t.Helper()
	ctx := context.Background()
	svc, err := referral.New(store, referral.Config{Now: func() time.Time { return *clock }})
	require.NoError(t, err)
	p, err := svc.CreateProgramme(ctx, referral.Programme{
		ID: "last", Policy: referral.PolicyEU, Levels: 1, LevelRates: []float64{0.1}, BindMode: referral.BindLastTouch,
		AttributionWindow: time.Hour, SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel,
		Approval: referral.ApproveAuto,
	})
	require.NoError(t, err)
	_, err = svc.Apply(ctx, p.ID, "r")
	require.NoError(t, err)
	return svc, &p
}

// Under last touch, a user clicking the current referrer's link again and
// again extends the binding's window each time, in place: one binding
// change, so one history entry, one version and one event, however many
// clicks; the window ends at the last click plus AttributionWindow.
func TestBindLastTouchRefreshInPlace(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store := memory.New()
	svc, p := lastTouchProgramme(t, store, &clock)
	bound := clock
	for range 100 {
		b, err := svc.Bind(ctx, referral.BindRequest{ProgrammeID: p.ID, UserID: "u", ReferrerID: "r", Source: referral.SourceLink})
		require.NoError(t, err)
		assert.Equal(t, int64(1), b.Version)
		assert.Equal(t, bound, b.BoundAt)
		assert.Equal(t, clock.Add(time.Hour), b.ExpiresAt)
		clock = clock.Add(time.Minute)
	}
	h, err := svc.BindingHistory(ctx, p.ID, "u", "", referral.MaxListLimit)
	require.NoError(t, err)
	assert.Len(t, h.Changes, 1, "one binding change")
	evs, err := store.Claim(ctx, 1000, time.Minute)
	require.NoError(t, err)
	assert.Len(t, withTopicBound(evs), 1, "one binding event")
	a, err := svc.Attribute(ctx, p.ID, "o", "u", bound.Add(90*time.Minute))
	require.NoError(t, err)
	assert.Len(t, a.Beneficiaries(), 1, "inside the extended window")
}

func withTopicBound(evs []storage.Event) []storage.Event {
	var out []storage.Event
	for _, e := range evs {
		if e.Topic == referral.TopicBound {
			out = append(out, e)
		}
	}
	return out
}

// A user is issued at most the programme's MaxCodesPerUser codes, revoked
// ones included; beyond it IssueCode is ErrCodeLimit and stores nothing.
// 0 is DefaultMaxCodesPerUser; a limit below 0 or above
// MaxCodesPerUserCeiling is a *ValidationError and creates no programme.
func TestIssueCodeLimit(t *testing.T) {
	ctx := context.Background()
	svc := newService(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	base := referral.Programme{
		ID: "p", Policy: referral.PolicyEU, Levels: 1, LevelRates: []float64{0.1}, BindMode: referral.BindFirstTouch,
		SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel, Approval: referral.ApproveAuto,
	}
	for _, bad := range []int{-1, referral.MaxCodesPerUserCeiling + 1} {
		p := base
		p.MaxCodesPerUser = bad
		_, err := svc.CreateProgramme(ctx, p)
		var ve *referral.ValidationError
		require.ErrorAs(t, err, &ve, "limit %d", bad)
		assert.Equal(t, "MaxCodesPerUser", ve.Field)
		_, err = svc.Programme(ctx, "p")
		assert.ErrorIs(t, err, referral.ErrNotFound, "limit %d: nothing stored", bad)
	}
	p := base
	p.MaxCodesPerUser = 2
	_, err := svc.CreateProgramme(ctx, p)
	require.NoError(t, err)
	c1, err := svc.IssueCode(ctx, "p", "u", "")
	require.NoError(t, err)
	_, err = svc.IssueCode(ctx, "p", "u", "")
	require.NoError(t, err)
	_, err = svc.IssueCode(ctx, "p", "u", "")
	assert.ErrorIs(t, err, referral.ErrCodeLimit)
	_, err = svc.RevokeCode(ctx, c1.Code)
	require.NoError(t, err)
	_, err = svc.IssueCode(ctx, "p", "u", "")
	assert.ErrorIs(t, err, referral.ErrCodeLimit, "a revoked code counts")
	page, err := svc.UserCodes(ctx, "p", "u", "", referral.MaxListLimit)
	require.NoError(t, err)
	assert.Len(t, page.Codes, 2, "nothing stored beyond the limit")

	d := base
	d.ID = "d"
	_, err = svc.CreateProgramme(ctx, d)
	require.NoError(t, err)
	for i := range referral.DefaultMaxCodesPerUser {
		_, err := svc.IssueCode(ctx, "d", "u", "")
		require.NoError(t, err, "code %d", i)
	}
	_, err = svc.IssueCode(ctx, "d", "u", "")
	assert.ErrorIs(t, err, referral.ErrCodeLimit, "the default limit")
}

// refreshCounter counts the refresh writes that reach the store.
type refreshCounter struct {
	referral.Store
	refreshes int
}

func (c *refreshCounter) Bind(ctx context.Context, w *referral.BindWrite) (referral.Binding, error) {
	if w.Refresh {
		c.refreshes++
	}
	return c.Store.Bind(ctx, w)
}

// A last-touch repeat that would not move the window later (one repeated
// at the same instant, or a binding without an end, which never expires)
// is answered by the Service from the binding it read: no refresh write
// reaches the store, and the binding comes back as it is.
func TestBindRefreshSkipsWriteThatMovesNothing(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store := &refreshCounter{Store: memory.New()}
	svc, p := lastTouchProgramme(t, store, &clock)
	bind := func(user string) referral.Binding {
		t.Helper()
		b, err := svc.Bind(ctx, referral.BindRequest{ProgrammeID: p.ID, UserID: user, ReferrerID: "r", Source: referral.SourceLink})
		require.NoError(t, err)
		return b
	}

	first := bind("u")
	assert.Equal(t, first, bind("u"), "a repeat at the same instant")
	assert.Zero(t, store.refreshes, "a window that would not move later is not written")
	clock = clock.Add(time.Minute)
	assert.Equal(t, clock.Add(time.Hour), bind("u").ExpiresAt)
	assert.Equal(t, 1, store.refreshes, "a later window is written")

	// A binding without an end, as a host's import writes it.
	forever := referral.Binding{ProgrammeID: p.ID, UserID: "v", ReferrerID: "r", Source: referral.SourceLink, BoundAt: clock, Version: 1}
	_, err := store.Bind(ctx, &referral.BindWrite{Binding: forever,
		Change: referral.BindingChange{ProgrammeID: p.ID, UserID: "v", ToReferrer: "r", Source: referral.SourceLink, At: clock, Version: 1}})
	require.NoError(t, err)
	clock = clock.Add(time.Minute)
	got := bind("v")
	assert.True(t, got.ExpiresAt.IsZero(), "a binding without an end keeps none: %v", got.ExpiresAt)
	assert.Equal(t, 1, store.refreshes, "and its repeat writes nothing")
}
