package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// What end users can repeat without bound must not grow the store without
// bound: a click on the same referrer's link again, and issuing codes.

// testRefRefreshInPlace: under last touch, binding again to the current
// referrer extends the window in place: the binding keeps its version,
// BoundAt and source, its ExpiresAt moves to the last click's now plus
// the window, and no history row or event is written, however often the
// user clicks. A bind to another referrer is a change as before (the next
// version, a history row with the referrer replaced, an event), and an
// order inside the extended window is attributed.
func testRefRefreshInPlace(e *env) {
	r := e.referral(func(p *referral.Programme) { p.BindMode, p.AttributionWindow = referral.BindLastTouch, time.Hour })
	r.distributor("a", "b")
	r.drain()
	first := r.bind("u", "a")
	t0 := r.clock.Now()
	for range 5 {
		r.clock.Advance(10 * time.Minute)
		b, err := r.svc.Bind(r.ctx, referral.BindRequest{ProgrammeID: r.prog.ID, UserID: "u", ReferrerID: "a", Source: referral.SourcePoster, Code: "other"})
		require.NoError(r.t, err)
		assert.Equal(r.t, int64(1), b.Version, "a refresh is no new version")
		assert.True(r.t, b.ExpiresAt.Equal(r.clock.Now().Add(time.Hour)), "returned window ends %v", b.ExpiresAt)
	}
	stored, err := r.ref.GetBinding(r.ctx, r.prog.ID, "u")
	require.NoError(r.t, err)
	assert.Equal(r.t, int64(1), stored.Version)
	assert.Equal(r.t, "a", stored.ReferrerID)
	assert.Equal(r.t, referral.SourceLink, stored.Source, "the source of the change that bound the user")
	assert.Empty(r.t, stored.Code)
	assert.True(r.t, stored.BoundAt.Equal(first.BoundAt), "bound at %v, not at the last click", stored.BoundAt)
	assert.True(r.t, stored.ExpiresAt.Equal(r.clock.Now().Add(time.Hour)), "stored window ends %v", stored.ExpiresAt)
	h, err := r.ref.BindingHistory(r.ctx, r.prog.ID, "u", 0, referral.MaxListLimit)
	require.NoError(r.t, err)
	assert.Len(r.t, h, 1, "one history row for one binding change, not one per click")
	assert.Len(r.t, withTopic(r.drain(), referral.TopicBound), 1, "one event")

	a, err := r.svc.Attribute(r.ctx, r.prog.ID, "o-late", "u", t0.Add(80*time.Minute))
	require.NoError(r.t, err)
	if assert.Len(r.t, a.Beneficiaries(), 1, "inside the extended window: %+v", a.Result) {
		assert.Equal(r.t, "a", a.Beneficiaries()[0].UserID)
	}

	r.clock.Advance(time.Minute)
	b, err := r.svc.Bind(r.ctx, referral.BindRequest{ProgrammeID: r.prog.ID, UserID: "u", ReferrerID: "b", Source: referral.SourceLink})
	require.NoError(r.t, err)
	assert.Equal(r.t, int64(2), b.Version)
	h, err = r.ref.BindingHistory(r.ctx, r.prog.ID, "u", 0, referral.MaxListLimit)
	require.NoError(r.t, err)
	assert.Equal(r.t, []int64{1, 2}, historyVersions(h))
	if assert.Len(r.t, h, 2) {
		assert.Equal(r.t, "a", h[1].FromReferrer)
		assert.Equal(r.t, "b", h[1].ToReferrer)
	}
	assert.Len(r.t, withTopic(r.drain(), referral.TopicBound), 1, "the rebind's event")
}

// testRefRefreshGuards: the store's refresh write (BindWrite.Refresh)
// expects the binding's version and referrer (ErrConflict otherwise,
// nothing changed), checks RequireActiveReferrer, never moves the window
// earlier, never changes the version and never appends a history row.
func testRefRefreshGuards(e *env) {
	r := e.referral(func(p *referral.Programme) { p.BindMode, p.AttributionWindow = referral.BindLastTouch, time.Hour })
	r.distributor("a", "b")
	b := r.bind("u", "a")
	refresh := func(to string, version int64, exp time.Time, active bool) (referral.Binding, error) {
		w := r.bindWrite("u", to, version, active)
		w.Refresh, w.Binding.ExpiresAt = true, exp
		return r.ref.Bind(r.ctx, w)
	}
	later := b.ExpiresAt.Add(time.Hour)
	_, err := refresh("b", 1, later, false)
	assert.ErrorIs(r.t, err, storage.ErrConflict, "another referrer")
	_, err = refresh("a", 2, later, false)
	assert.ErrorIs(r.t, err, storage.ErrConflict, "another version")
	_, err = refresh("nobody", 1, later, true)
	assert.ErrorIs(r.t, err, storage.ErrConflict, "another referrer, inactive")
	w := r.bindWrite("u", "a", 0, false)
	w.Refresh, w.Binding.ExpiresAt = true, later
	_, err = r.ref.Bind(r.ctx, w)
	e.assertValidation(err, "a refresh without a version")
	w = r.bindWrite("u", "a", 1, false)
	w.Refresh = true
	_, err = r.ref.Bind(r.ctx, w)
	e.assertValidation(err, "a refresh without an end")
	got, err := r.ref.GetBinding(r.ctx, r.prog.ID, "u")
	require.NoError(r.t, err)
	assert.True(r.t, got.ExpiresAt.Equal(b.ExpiresAt), "refused refreshes changed nothing")

	_, err = r.svc.Freeze(r.ctx, r.prog.ID, "a", "ops", "audit")
	require.NoError(r.t, err)
	_, err = refresh("a", 1, later, true)
	assert.ErrorIs(r.t, err, referral.ErrNotDistributor, "a frozen referrer")
	_, err = r.svc.Unfreeze(r.ctx, r.prog.ID, "a", "ops", "audit done")
	require.NoError(r.t, err)

	got, err = refresh("a", 1, later, true)
	require.NoError(r.t, err)
	assert.True(r.t, got.ExpiresAt.Equal(later), "extended to %v", got.ExpiresAt)
	assert.Equal(r.t, int64(1), got.Version)
	assert.True(r.t, got.BoundAt.Equal(b.BoundAt), "BoundAt stays")
	assert.Equal(r.t, b.Source, got.Source)
	got, err = refresh("a", 1, b.ExpiresAt, false)
	require.NoError(r.t, err)
	assert.True(r.t, got.ExpiresAt.Equal(later), "an earlier end leaves the window as it is: %v", got.ExpiresAt)
	stored, err := r.ref.GetBinding(r.ctx, r.prog.ID, "u")
	require.NoError(r.t, err)
	assert.True(r.t, stored.ExpiresAt.Equal(later), "stored %v", stored.ExpiresAt)
	assert.Equal(r.t, int64(1), stored.Version)
	h, err := r.ref.BindingHistory(r.ctx, r.prog.ID, "u", 0, referral.MaxListLimit)
	require.NoError(r.t, err)
	assert.Len(r.t, h, 1, "no history row for a refresh")
}

// testRefRefreshKeepsNoEnd: a binding whose ExpiresAt is zero never
// expires (Binding.ExpiresAt), so it ends later than any window a refresh
// brings: neither the store's refresh write nor the Service's last-touch
// repeat may give it an end, which would move its end earlier and stop
// it attributing. Such a binding is a host's, written through the store
// (an import of bindings made before the window).
func testRefRefreshKeepsNoEnd(e *env) {
	r := e.referral(func(p *referral.Programme) { p.BindMode, p.AttributionWindow = referral.BindLastTouch, time.Hour })
	r.distributor("a")
	b, err := r.ref.Bind(r.ctx, r.bindWrite("u", "a", 0, true))
	require.NoError(r.t, err)
	require.True(r.t, b.ExpiresAt.IsZero(), "a binding that never expires")
	r.drain()

	w := r.bindWrite("u", "a", 1, true)
	w.Refresh, w.Binding.ExpiresAt = true, r.clock.Now().Add(time.Hour)
	got, err := r.ref.Bind(r.ctx, w)
	require.NoError(r.t, err)
	assert.True(r.t, got.ExpiresAt.IsZero(), "the store's refresh returned an end: %v", got.ExpiresAt)
	stored, err := r.ref.GetBinding(r.ctx, r.prog.ID, "u")
	require.NoError(r.t, err)
	assert.True(r.t, stored.ExpiresAt.IsZero(), "the store's refresh gave the binding an end: %v", stored.ExpiresAt)

	r.clock.Advance(time.Minute)
	got, err = r.svc.Bind(r.ctx, referral.BindRequest{ProgrammeID: r.prog.ID, UserID: "u", ReferrerID: "a", Source: referral.SourceLink})
	require.NoError(r.t, err)
	assert.True(r.t, got.ExpiresAt.IsZero(), "the Service's refresh returned an end: %v", got.ExpiresAt)
	assert.Equal(r.t, int64(1), got.Version)
	stored, err = r.ref.GetBinding(r.ctx, r.prog.ID, "u")
	require.NoError(r.t, err)
	assert.True(r.t, stored.ExpiresAt.IsZero(), "the Service's refresh gave the binding an end: %v", stored.ExpiresAt)
	a, err := r.svc.Attribute(r.ctx, r.prog.ID, "o-later", "u", r.clock.Now().Add(24*time.Hour))
	require.NoError(r.t, err)
	assert.Len(r.t, a.Beneficiaries(), 1, "a binding without an end attributes a day later: %+v", a.Result)
	assert.Empty(r.t, withTopic(r.drain(), referral.TopicBound), "no bound event")
}

// testRefCodeLimit: a user is issued at most the programme's
// MaxCodesPerUser codes, revoked ones included; one more is ErrCodeLimit
// and stores nothing, through the Service and through the store alike.
// Other users and other programmes have their own count. A programme
// without a limit (0) has DefaultMaxCodesPerUser.
func testRefCodeLimit(e *env) {
	const limit = 3
	r := e.referral(func(p *referral.Programme) { p.MaxCodesPerUser = limit })
	var codes []string
	for range limit {
		c, err := r.svc.IssueCode(r.ctx, r.prog.ID, "a", "")
		require.NoError(r.t, err)
		codes = append(codes, c.Code)
		r.clock.Advance(time.Millisecond)
	}
	_, err := r.svc.IssueCode(r.ctx, r.prog.ID, "a", "")
	assert.ErrorIs(r.t, err, referral.ErrCodeLimit)
	_, err = r.svc.RevokeCode(r.ctx, codes[0])
	require.NoError(r.t, err)
	_, err = r.svc.IssueCode(r.ctx, r.prog.ID, "a", "")
	assert.ErrorIs(r.t, err, referral.ErrCodeLimit, "a revoked code still counts")
	direct := referral.InviteCode{Code: "DIRECT1", ProgrammeID: r.prog.ID, UserID: "a", CreatedAt: r.clock.Now()}
	assert.ErrorIs(r.t, r.ref.CreateCode(r.ctx, &direct), referral.ErrCodeLimit, "the store enforces it")
	_, err = r.ref.GetCode(r.ctx, "DIRECT1")
	assert.ErrorIs(r.t, err, referral.ErrCodeNotFound, "nothing stored")
	list, err := r.ref.UserCodes(r.ctx, r.prog.ID, "a", referral.CodePosition{}, referral.MaxListLimit)
	require.NoError(r.t, err)
	assert.Equal(r.t, codes, codeNames(list))
	_, err = r.svc.IssueCode(r.ctx, r.prog.ID, "b", "")
	assert.NoError(r.t, err, "another user")

	d := e.referral()
	assert.Equal(r.t, referral.DefaultMaxCodesPerUser, d.prog.CodeLimit())
	for i := range referral.DefaultMaxCodesPerUser {
		c := referral.InviteCode{Code: fmt.Sprintf("DEF%d", i), ProgrammeID: d.prog.ID, UserID: "a", CreatedAt: r.clock.Now()}
		require.NoError(r.t, d.ref.CreateCode(d.ctx, &c), "code %d of the default limit", i)
	}
	_, err = d.svc.IssueCode(d.ctx, d.prog.ID, "a", "")
	assert.ErrorIs(r.t, err, referral.ErrCodeLimit, "beyond the default")
	taken := referral.InviteCode{Code: "DEF0", ProgrammeID: d.prog.ID, UserID: "b", CreatedAt: r.clock.Now()}
	assert.ErrorIs(r.t, d.ref.CreateCode(d.ctx, &taken), referral.ErrCodeTaken, "a code taken still is")
	// A code refused as taken counts nothing: e, one code short of the
	// limit, still gets its last one after the refusal.
	for i := range limit - 1 {
		c := referral.InviteCode{Code: fmt.Sprintf("EVE%d", i), ProgrammeID: r.prog.ID, UserID: "e", CreatedAt: r.clock.Now()}
		require.NoError(r.t, r.ref.CreateCode(r.ctx, &c), "e's code %d", i)
	}
	taken = referral.InviteCode{Code: codes[1], ProgrammeID: r.prog.ID, UserID: "e", CreatedAt: r.clock.Now()}
	assert.ErrorIs(r.t, r.ref.CreateCode(r.ctx, &taken), referral.ErrCodeTaken, "a's code, for e")
	c := referral.InviteCode{Code: "EVELAST", ProgrammeID: r.prog.ID, UserID: "e", CreatedAt: r.clock.Now()}
	assert.NoError(r.t, r.ref.CreateCode(r.ctx, &c), "the insert refused as taken did not count for e")
	c = referral.InviteCode{Code: "EVEMORE", ProgrammeID: r.prog.ID, UserID: "e", CreatedAt: r.clock.Now()}
	assert.ErrorIs(r.t, r.ref.CreateCode(r.ctx, &c), referral.ErrCodeLimit, "e at the limit")
	c = referral.InviteCode{Code: "DEF0X", ProgrammeID: d.prog.ID, UserID: "b", CreatedAt: r.clock.Now()}
	assert.NoError(r.t, d.ref.CreateCode(d.ctx, &c), "b's code in the default programme")
	for i := range limit - 1 {
		c := referral.InviteCode{Code: fmt.Sprintf("OTHER%d", i), ProgrammeID: r.prog.ID, UserID: "b", CreatedAt: r.clock.Now()}
		require.NoError(r.t, r.ref.CreateCode(r.ctx, &c), "b's code %d in the limited programme", i)
	}
	_, err = r.svc.IssueCode(r.ctx, r.prog.ID, "b", "")
	assert.ErrorIs(r.t, err, referral.ErrCodeLimit, "b's codes of the default programme are not counted here")
}

// testRefRaceCodeLimit: many issuers race for one user's last codes;
// exactly the limit is issued, the others get ErrCodeLimit.
func testRefRaceCodeLimit(e *env) {
	const racers, limit = 24, 4
	r := e.referral(func(p *referral.Programme) { p.MaxCodesPerUser = limit })
	for round := range 3 {
		user := fmt.Sprintf("issuer-%d", round)
		if round == 2 {
			// The user holds codes already: the race is for the rest.
			_, err := r.svc.IssueCode(r.ctx, r.prog.ID, user, "")
			require.NoError(r.t, err)
		}
		var (
			wg    sync.WaitGroup
			ready = make(chan struct{})
			errs  = make([]error, racers)
		)
		for i := range racers {
			wg.Go(func() {
				<-ready
				_, errs[i] = r.svc.IssueCode(r.ctx, r.prog.ID, user, fmt.Sprintf("c%d", i))
			})
		}
		close(ready)
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, referral.ErrCodeLimit):
			default:
				r.t.Errorf("round %d: issuer %d: %v", round, i, err)
			}
		}
		held := 0
		if round == 2 {
			held = 1
		}
		assert.Equal(r.t, limit-held, ok, "round %d: issued exactly up to the limit", round)
		list, err := r.ref.UserCodes(r.ctx, r.prog.ID, user, referral.CodePosition{}, referral.MaxListLimit)
		require.NoError(r.t, err)
		assert.Len(r.t, list, limit, "round %d: codes stored", round)
	}
}

// testRefRaceRefreshRetried: under last touch, a bind repeated while the
// first attempt runs (the same user, the same referrer, racing) binds
// once; the others refresh the window: every attempt succeeds, one
// history row, one event, version 1.
func testRefRaceRefreshRetried(e *env) {
	const racers = 16
	r := e.referral(func(p *referral.Programme) { p.BindMode, p.AttributionWindow = referral.BindLastTouch, time.Hour })
	r.distributor("ref")
	r.drain()
	for round := range 3 {
		user := fmt.Sprintf("click-%d", round)
		pairs := make([][2]string, racers)
		for i := range pairs {
			pairs[i] = [2]string{user, "ref"}
		}
		for i, err := range r.raceBinds(pairs...) {
			assert.NoError(r.t, err, "round %d: attempt %d", round, i)
		}
		h, err := r.ref.BindingHistory(r.ctx, r.prog.ID, user, 0, referral.MaxListLimit)
		require.NoError(r.t, err)
		assert.Len(r.t, h, 1, "round %d: one history entry", round)
		b, err := r.ref.GetBinding(r.ctx, r.prog.ID, user)
		require.NoError(r.t, err)
		assert.Equal(r.t, int64(1), b.Version, "round %d", round)
		assert.Len(r.t, r.drain(), 1, "round %d: one event", round)
	}
}
