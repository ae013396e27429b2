package storagetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// referralGroups run after groups when Stores.Referral is set, and skip
// otherwise.
var referralGroups = []group{
	{"Referral", []testCase{
		{"RoundTrip", testRefRoundTrip},
		{"DistributorLifecycle", testRefDistributors},
		{"StoreBindGuards", testRefBindGuards},
		{"ChainDepthAndDownline", testRefChain},
		{"SnapshotIdempotent", testRefSnapshot},
		{"InputValidation", testRefInput},
		{"LockAndWindowBoundary", testRefLockBoundary},
		{"SnapshotOtherBuyer", testRefSnapshotOtherBuyer},
		{"ProgrammeBeyondPolicy", testRefProgrammeBeyondPolicy},
		{"ResultsNotShared", testRefResultsNotShared},
		{"DistributorRepeats", testRefDistributorRepeats},
		{"CodesPaging", testRefCodesPaging},
		{"HistoryPaging", testRefHistoryPaging},
		{"HistoryFromBinding", testRefHistoryFromBinding},
		{"ServicePaging", testRefServicePaging},
		{"LastTouchRefreshInPlace", testRefRefreshInPlace},
		{"RefreshGuards", testRefRefreshGuards},
		{"RefreshKeepsNoEnd", testRefRefreshKeepsNoEnd},
		{"CodeLimit", testRefCodeLimit},
	}},
	{"ReferralRace", []testCase{
		{"ReferrersForOneNewUser", testRefRaceReferrers},
		{"CycleAB", testRefRaceCycle},
		{"CycleRing", testRefRaceRing},
		{"CycleABRowsExist", testRefRaceCycleRows},
		{"SnapshotConcurrent", testRefRaceSnapshot},
		{"SameReferrerRetried", testRefRaceSameReferrer},
		{"ManyUnderOneReferrer", testRefRaceManyUnderOneReferrer},
		{"RandomRebinds", testRefRaceRandomRebinds},
		{"FreezeRetried", testRefRaceFreezeRetried},
		{"CodeLimit", testRefRaceCodeLimit},
		{"LastTouchRefreshRetried", testRefRaceRefreshRetried},
	}},
}

// refEnv is a referral Service on the adapter's referral store and one
// programme (China preset, two levels, first touch, distributors only).
type refEnv struct {
	*env
	svc  *referral.Service
	prog referral.Programme
}

func (e *env) referral(mods ...func(*referral.Programme)) *refEnv {
	if e.ref == nil {
		e.t.Skip("adapter has no referral store")
	}
	svc, err := referral.New(e.ref, referral.Config{Now: e.clock.Now, TokenKey: []byte("storagetest-token-key-0123456789")})
	require.NoError(e.t, err)
	p := referral.Programme{
		ID: e.id("prog"), Policy: referral.PolicyChina, Levels: 2, LevelRates: []float64{0.1, 0.05},
		BindMode: referral.BindFirstTouch, SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel,
		Approval: referral.ApproveAuto, ReferrerMustBeDistributor: true,
	}
	for _, m := range mods {
		m(&p)
	}
	p, err = svc.CreateProgramme(e.ctx, p)
	require.NoError(e.t, err)
	return &refEnv{env: e, svc: svc, prog: p}
}

func (r *refEnv) distributor(users ...string) {
	for _, u := range users {
		d, err := r.svc.Apply(r.ctx, r.prog.ID, u)
		require.NoError(r.t, err)
		require.Equal(r.t, referral.DistributorActive, d.State)
	}
}

func (r *refEnv) bind(user, referrer string) referral.Binding {
	b, err := r.svc.Bind(r.ctx, referral.BindRequest{ProgrammeID: r.prog.ID, UserID: user, ReferrerID: referrer, Source: referral.SourceLink})
	require.NoError(r.t, err, "bind %s -> %s", user, referrer)
	return b
}

// line binds users[i] to users[i+1], all distributors.
func (r *refEnv) line(users ...string) {
	r.distributor(users...)
	for i := 0; i+1 < len(users); i++ {
		r.bind(users[i], users[i+1])
	}
}

func testRefRoundTrip(e *env) {
	r := e.referral()
	got, err := r.ref.GetProgramme(r.ctx, r.prog.ID)
	require.NoError(r.t, err)
	assert.Equal(r.t, r.prog.Levels, got.Levels)
	assert.Equal(r.t, r.prog.LevelRates, got.LevelRates)
	assert.Equal(r.t, r.prog.Policy, got.Policy)
	assert.Equal(r.t, r.prog.BindMode, got.BindMode)
	assert.True(r.t, r.prog.CreatedAt.Equal(got.CreatedAt))
	assert.ErrorIs(r.t, r.ref.CreateProgramme(r.ctx, &got), storage.ErrConflict)
	_, err = r.ref.GetProgramme(r.ctx, "nope")
	assert.ErrorIs(r.t, err, referral.ErrNotFound)

	r.distributor("alice")
	c1, err := r.svc.IssueCode(r.ctx, r.prog.ID, "alice", "wechat")
	require.NoError(r.t, err)
	r.clock.Advance(time.Millisecond)
	c2, err := r.svc.IssueCode(r.ctx, r.prog.ID, "alice", "poster")
	require.NoError(r.t, err)
	codes, err := r.ref.UserCodes(r.ctx, r.prog.ID, "alice", referral.CodePosition{}, referral.MaxListLimit)
	require.NoError(r.t, err)
	require.Len(r.t, codes, 2)
	assert.Equal(r.t, []string{c1.Code, c2.Code}, []string{codes[0].Code, codes[1].Code})
	assert.ErrorIs(r.t, r.ref.CreateCode(r.ctx, &c1), referral.ErrCodeTaken)

	r.clock.Advance(time.Second)
	b, err := r.svc.BindCode(r.ctx, r.prog.ID, "bob", c1.Code)
	require.NoError(r.t, err)
	assert.Equal(r.t, "alice", b.ReferrerID)
	assert.Equal(r.t, referral.SourceCode, b.Source)
	assert.Equal(r.t, int64(1), b.Version)
	stored, err := r.ref.GetBinding(r.ctx, r.prog.ID, "bob")
	require.NoError(r.t, err)
	assert.True(r.t, stored.BoundAt.Equal(r.clock.Now()))
	assert.Equal(r.t, c1.Code, stored.Code)

	_, err = r.svc.RevokeCode(r.ctx, c2.Code)
	require.NoError(r.t, err)
	_, err = r.svc.BindCode(r.ctx, r.prog.ID, "carol", c2.Code)
	assert.ErrorIs(r.t, err, referral.ErrCodeRevoked)
	_, err = r.ref.RevokeCode(r.ctx, c2.Code, r.clock.Now())
	assert.ErrorIs(r.t, err, referral.ErrCodeRevoked)
	_, err = r.svc.ResolveCode(r.ctx, "ZZZZZZZZ")
	assert.ErrorIs(r.t, err, referral.ErrCodeNotFound)

	tok, err := r.svc.SignToken(referral.ShareToken{ProgrammeID: r.prog.ID, SharerID: "alice", TeamID: "t1"}, time.Hour)
	require.NoError(r.t, err)
	b, err = r.svc.BindToken(r.ctx, "dave", tok, referral.SourceGroupBuy)
	require.NoError(r.t, err)
	assert.Equal(r.t, "t1", b.Code)

	// An admin override rebinds and is recorded with who and why.
	r.distributor("zed")
	_, err = r.svc.Bind(r.ctx, referral.BindRequest{ProgrammeID: r.prog.ID, UserID: "bob", ReferrerID: "zed", Source: referral.SourceLink})
	assert.ErrorIs(r.t, err, referral.ErrAlreadyBound)
	b, err = r.svc.Bind(r.ctx, referral.BindRequest{ProgrammeID: r.prog.ID, UserID: "bob", ReferrerID: "zed",
		Source: referral.SourceAdmin, Override: true, Actor: "ops-1", Reason: "ticket 42"})
	require.NoError(r.t, err)
	assert.Equal(r.t, int64(2), b.Version)
	h, err := r.ref.BindingHistory(r.ctx, r.prog.ID, "bob", 0, referral.MaxListLimit)
	require.NoError(r.t, err)
	require.Len(r.t, h, 2)
	assert.Equal(r.t, "", h[0].FromReferrer)
	assert.Equal(r.t, "alice", h[1].FromReferrer)
	assert.Equal(r.t, "zed", h[1].ToReferrer)
	assert.Equal(r.t, "ops-1", h[1].Actor)
	assert.Equal(r.t, "ticket 42", h[1].Reason)
	assert.Equal(r.t, int64(2), h[1].Version)
	evs := r.drain()
	assert.Len(r.t, withTopic(evs, referral.TopicBound), 3)
}

func testRefDistributors(e *env) {
	r := e.referral(func(p *referral.Programme) { p.Approval = referral.ApproveManual })
	d, err := r.svc.Apply(r.ctx, r.prog.ID, "u")
	require.NoError(r.t, err)
	assert.Equal(r.t, referral.DistributorPending, d.State)
	again, err := r.svc.Apply(r.ctx, r.prog.ID, "u")
	require.NoError(r.t, err, "a repeated application returns the record")
	assert.Equal(r.t, d.Version, again.Version, "and writes nothing")
	_, err = r.svc.Freeze(r.ctx, r.prog.ID, "u", "ops", "x")
	assert.ErrorIs(r.t, err, referral.ErrIllegalTransition)
	d, err = r.svc.Approve(r.ctx, r.prog.ID, "u", "ops", "kyc ok")
	require.NoError(r.t, err)
	assert.Equal(r.t, referral.DistributorActive, d.State)
	d, err = r.svc.Freeze(r.ctx, r.prog.ID, "u", "ops", "fraud check")
	require.NoError(r.t, err)
	assert.Equal(r.t, referral.DistributorFrozen, d.State)
	assert.Equal(r.t, "fraud check", d.Reason)
	d, err = r.svc.Unfreeze(r.ctx, r.prog.ID, "u", "ops", "cleared")
	require.NoError(r.t, err)
	d, err = r.svc.Revoke(r.ctx, r.prog.ID, "u", "ops", "left")
	require.NoError(r.t, err)
	assert.Equal(r.t, referral.DistributorRevoked, d.State)
	assert.Equal(r.t, int64(5), d.Version)
	_, err = r.svc.Unfreeze(r.ctx, r.prog.ID, "u", "ops", "x")
	assert.ErrorIs(r.t, err, referral.ErrIllegalTransition)
	got, err := r.ref.GetDistributor(r.ctx, r.prog.ID, "u")
	require.NoError(r.t, err)
	assert.Equal(r.t, d.State, got.State)
	assert.Equal(r.t, d.Version, got.Version)
	assert.Equal(r.t, "ops", got.Actor)

	// Guarded on state and version.
	next := got
	next.State = referral.DistributorActive
	_, err = r.ref.SetDistributor(r.ctx, &referral.DistributorWrite{From: referral.DistributorFrozen, Next: next})
	assert.ErrorIs(r.t, err, storage.ErrConflict)
	_, err = r.ref.SetDistributor(r.ctx, &referral.DistributorWrite{From: referral.DistributorNone, Next: next})
	assert.ErrorIs(r.t, err, storage.ErrConflict, "a second record for the user")
	_, err = r.ref.GetDistributor(r.ctx, r.prog.ID, "nobody")
	assert.ErrorIs(r.t, err, referral.ErrNotFound)
	assert.Len(r.t, withTopic(r.drain(), referral.TopicDistributorChanged), 5)
}

func (r *refEnv) bindWrite(user, referrer string, expect int64, requireActive bool) *referral.BindWrite {
	now := r.clock.Now()
	return &referral.BindWrite{
		Binding: referral.Binding{ProgrammeID: r.prog.ID, UserID: user, ReferrerID: referrer, Source: referral.SourceCode,
			BoundAt: now, Version: expect + 1},
		ExpectVersion: expect, RequireActiveReferrer: requireActive,
		Change: referral.BindingChange{ProgrammeID: r.prog.ID, UserID: user, ToReferrer: referrer, Source: referral.SourceCode, At: now},
	}
}

func testRefBindGuards(e *env) {
	r := e.referral()
	r.line("a", "b", "c") // a → b → c
	_, err := r.ref.Bind(r.ctx, r.bindWrite("x", "x", 0, false))
	assert.ErrorIs(r.t, err, referral.ErrSelfReferral)
	_, err = r.ref.Bind(r.ctx, r.bindWrite("a", "c", 0, false))
	assert.ErrorIs(r.t, err, referral.ErrAlreadyBound)
	_, err = r.ref.Bind(r.ctx, r.bindWrite("a", "c", 7, false))
	assert.ErrorIs(r.t, err, storage.ErrConflict, "stale version")
	_, err = r.ref.Bind(r.ctx, r.bindWrite("n", "nobody", 0, true))
	assert.ErrorIs(r.t, err, referral.ErrNotDistributor)
	_, err = r.ref.Bind(r.ctx, r.bindWrite("c", "a", 0, true))
	assert.ErrorIs(r.t, err, referral.ErrCycle, "c → a closes a → b → c")
	_, err = r.ref.Bind(r.ctx, r.bindWrite("b", "a", 1, true))
	assert.ErrorIs(r.t, err, referral.ErrCycle, "rebinding b under a")
	w := r.bindWrite("q", "a", 0, true)
	w.Binding.ProgrammeID, w.Change.ProgrammeID = "nope", "nope"
	_, err = r.ref.Bind(r.ctx, w)
	assert.ErrorIs(r.t, err, referral.ErrNotFound)
	// The precondition order: self-referral before "already bound".
	_, err = r.ref.Bind(r.ctx, r.bindWrite("a", "a", 0, true))
	assert.ErrorIs(r.t, err, referral.ErrSelfReferral)

	// A rebind with the right version succeeds.
	b, err := r.ref.Bind(r.ctx, r.bindWrite("a", "c", 1, true))
	require.NoError(r.t, err)
	assert.Equal(r.t, int64(2), b.Version)
	d, err := r.ref.Downline(r.ctx, r.prog.ID, "c", 2)
	require.NoError(r.t, err)
	assert.Equal(r.t, referral.DownlineStats{Direct: 2, Second: 0}, d)
	h, err := r.ref.BindingHistory(r.ctx, r.prog.ID, "a", 0, referral.MaxListLimit)
	require.NoError(r.t, err)
	assert.Len(r.t, h, 2)
}

func testRefChain(e *env) {
	r := e.referral()
	us := users("c", 6) // c-0 → c-1 → ... → c-5
	r.line(us...)
	chain, err := r.ref.Chain(r.ctx, r.prog.ID, us[0], 3)
	require.NoError(r.t, err)
	require.Len(r.t, chain, 4, "the user and 3 ancestors")
	for i, l := range chain {
		assert.Equal(r.t, us[i], l.UserID)
		assert.Equal(r.t, referral.DistributorActive, l.State)
	}
	chain, err = r.ref.Chain(r.ctx, r.prog.ID, us[4], 3)
	require.NoError(r.t, err)
	assert.Len(r.t, chain, 2, "stops at the root")
	chain, err = r.ref.Chain(r.ctx, r.prog.ID, "stranger", 3)
	require.NoError(r.t, err)
	assert.Equal(r.t, []referral.Link{{UserID: "stranger"}}, chain)
	r.distributor("loner") // a distributor that never bound and brought nobody
	chain, err = r.ref.Chain(r.ctx, r.prog.ID, "loner", 3)
	require.NoError(r.t, err)
	assert.Equal(r.t, []referral.Link{{UserID: "loner", State: referral.DistributorActive}}, chain)

	_, err = r.svc.Freeze(r.ctx, r.prog.ID, us[2], "ops", "x")
	require.NoError(r.t, err)
	chain, err = r.ref.Chain(r.ctx, r.prog.ID, us[0], 2)
	require.NoError(r.t, err)
	assert.Equal(r.t, referral.DistributorFrozen, chain[2].State)

	for i := range 5 {
		r.distributor(fmt.Sprintf("kid-%d", i))
		r.bind(fmt.Sprintf("kid-%d", i), us[5])
		r.bind(fmt.Sprintf("grandkid-%d", i), fmt.Sprintf("kid-%d", i%2))
	}
	st, err := r.svc.Downline(r.ctx, r.prog.ID, us[5])
	require.NoError(r.t, err)
	assert.Equal(r.t, referral.DownlineStats{Direct: 6, Second: 6}, st) // c-4 and 5 kids; c-3 and 5 grandkids
	st, err = r.ref.Downline(r.ctx, r.prog.ID, us[5], 1)
	require.NoError(r.t, err)
	assert.Equal(r.t, referral.DownlineStats{Direct: 6, Second: -1}, st, "never deeper than asked")
}

func testRefSnapshot(e *env) {
	r := e.referral()
	r.line("buyer", "p1", "p2", "p3")
	at := r.clock.Now()
	a, err := r.svc.Attribute(r.ctx, r.prog.ID, "order-1", "buyer", at)
	require.NoError(r.t, err)
	assert.Equal(r.t, "china", a.PolicyName)
	assert.Equal(r.t, 1, a.PolicyVersion)
	ben := a.Beneficiaries()
	require.Len(r.t, ben, 2)
	assert.Equal(r.t, []string{"p1", "p2"}, []string{ben[0].UserID, ben[1].UserID})
	assert.Equal(r.t, referral.DropOverCap, a.Result[len(a.Result)-1].Drop)
	assert.Equal(r.t, a.Result, referral.Replay(&a), "reproducible from its snapshot")

	// The live tree changes; the snapshot does not.
	_, err = r.svc.Freeze(r.ctx, r.prog.ID, "p1", "ops", "x")
	require.NoError(r.t, err)
	r.clock.Advance(time.Minute)
	again, err := r.svc.Attribute(r.ctx, r.prog.ID, "order-1", "buyer", r.clock.Now())
	require.NoError(r.t, err)
	assert.Equal(r.t, a.Result, again.Result)
	assert.Equal(r.t, a.Chain, again.Chain)
	assert.True(r.t, a.At.Equal(again.At))
	stored, err := r.ref.GetAttribution(r.ctx, r.prog.ID, "order-1")
	require.NoError(r.t, err)
	assert.Equal(r.t, a.Result, stored.Result)
	assert.Equal(r.t, a.LevelRates, stored.LevelRates)
	assert.Equal(r.t, referral.CurrentRules, stored.Rules, "the rules version is stored: Replay decides by it")
	assert.Equal(r.t, stored.Result, referral.Replay(&stored))

	b, err := r.svc.Attribute(r.ctx, r.prog.ID, "order-2", "buyer", r.clock.Now())
	require.NoError(r.t, err)
	assert.Equal(r.t, referral.DropSelfPurchase, b.Result[0].Drop, "the buyer is a distributor: starts at its referrer")
	assert.Equal(r.t, referral.DropFrozen, b.Result[1].Drop, "a new order sees the frozen level")
	assert.Equal(r.t, "p2", b.Beneficiaries()[0].UserID)
	assert.Equal(r.t, 2, b.Beneficiaries()[0].Level, "the level is skipped, not compressed")
	assert.Len(r.t, withTopic(r.drain(), referral.TopicAttributionRecorded), 2, "one event per order")
	_, err = r.ref.GetAttribution(r.ctx, r.prog.ID, "order-3")
	assert.ErrorIs(r.t, err, referral.ErrNotFound)

	// The store takes any number of events, stored only with a new snapshot.
	for i, n := range []int{0, 2} {
		snap := b
		snap.OrderRef = fmt.Sprintf("order-ev-%d", i)
		var evs []storage.Event
		for j := range n {
			evs = append(evs, storage.Event{ID: r.id(fmt.Sprintf("ev-%d-%d", i, j)), Topic: "test.attributed", Key: fmt.Sprintf("k-%d-%d", i, j),
				Payload: []byte(`{}`), CreatedAt: r.clock.Now()})
		}
		got, created, err := r.ref.SaveAttribution(r.ctx, &snap, evs)
		require.NoError(r.t, err)
		assert.True(r.t, created, "%d events", n)
		assert.Equal(r.t, snap.Result, got.Result)
		again, created, err := r.ref.SaveAttribution(r.ctx, &snap, evs)
		require.NoError(r.t, err)
		assert.False(r.t, created, "%d events, repeat", n)
		assert.Equal(r.t, snap.Result, again.Result)
		assert.Len(r.t, withTopic(r.drain(), "test.attributed"), n, "events of a new snapshot only")
	}
}

func testRefInput(e *env) {
	r := e.referral()
	_, err := r.ref.Bind(r.ctx, nil)
	r.assertValidation(err, "nil bind")
	_, err = r.ref.Bind(r.ctx, r.bindWrite("", "a", 0, false))
	r.assertValidation(err, "empty user")
	_, err = r.ref.Chain(r.ctx, r.prog.ID, "a", 0)
	r.assertValidation(err, "depth 0")
	_, err = r.ref.Downline(r.ctx, r.prog.ID, "a", 3)
	r.assertValidation(err, "downline depth 3")
	_, _, err = r.ref.SaveAttribution(r.ctx, nil, nil)
	r.assertValidation(err, "nil attribution")
	_, err = r.ref.GetBinding(r.ctx, r.prog.ID, "")
	r.assertValidation(err, "empty user")

	// Text every store keeps whole (the SQL columns' sizes): longer text is
	// refused before anything changes, by every adapter alike.
	long := func(n int) string { return strings.Repeat("x", n+1) }
	now := r.clock.Now()
	code := func(edit func(c *referral.InviteCode)) *referral.InviteCode {
		c := &referral.InviteCode{Code: "TXT" + strings.ToUpper(r.id("c")), ProgrammeID: r.prog.ID, UserID: "a", CreatedAt: now}
		edit(c)
		return c
	}
	for _, tc := range []struct {
		name string
		c    *referral.InviteCode
	}{
		{"code too long", code(func(c *referral.InviteCode) { c.Code = strings.Repeat("A", referral.MaxStoredCodeLength+1) })},
		{"channel too long", code(func(c *referral.InviteCode) { c.Channel = long(referral.MaxChannelLength) })},
		{"channel with NUL", code(func(c *referral.InviteCode) { c.Channel = "a\x00" })},
		{"code without CreatedAt", code(func(c *referral.InviteCode) { c.CreatedAt = time.Time{} })},
	} {
		r.assertValidation(r.ref.CreateCode(r.ctx, tc.c), tc.name)
		_, err := r.ref.GetCode(r.ctx, tc.c.Code)
		assert.ErrorIs(r.t, err, referral.ErrCodeNotFound, tc.name+": nothing stored")
	}
	w := r.bindWrite("text-user", "a", 0, false)
	w.Binding.Actor = long(referral.MaxActorLength)
	_, err = r.ref.Bind(r.ctx, w)
	r.assertValidation(err, "binding actor too long")
	w = r.bindWrite("text-user", "a", 0, false)
	w.Binding.Code = long(referral.MaxBindingCodeLength)
	_, err = r.ref.Bind(r.ctx, w)
	r.assertValidation(err, "binding code too long")
	_, err = r.ref.GetBinding(r.ctx, r.prog.ID, "text-user")
	assert.ErrorIs(r.t, err, referral.ErrNotFound, "no binding stored")
	_, err = r.ref.SetDistributor(r.ctx, &referral.DistributorWrite{From: referral.DistributorNone, Next: referral.Distributor{
		ProgrammeID: r.prog.ID, UserID: "text-user", State: referral.DistributorActive, AppliedAt: now, UpdatedAt: now,
		Actor: long(referral.MaxActorLength), Version: 1,
	}})
	r.assertValidation(err, "distributor actor too long")
	_, err = r.ref.GetDistributor(r.ctx, r.prog.ID, "text-user")
	assert.ErrorIs(r.t, err, referral.ErrNotFound, "no distributor stored")
	_, _, err = r.ref.SaveAttribution(r.ctx, &referral.Attribution{ProgrammeID: r.prog.ID, OrderRef: "text-order", BuyerID: "a", At: now,
		PolicyName: long(referral.MaxIDLength)}, nil)
	r.assertValidation(err, "policy name too long")
	_, err = r.ref.GetAttribution(r.ctx, r.prog.ID, "text-order")
	assert.ErrorIs(r.t, err, referral.ErrNotFound, "no attribution stored")
}

func testRefRaceReferrers(e *env) {
	const racers = 64
	r := e.referral()
	refs := users("ref", racers)
	r.distributor(refs...)
	r.drain()
	for round := range 3 {
		user := fmt.Sprintf("newbie-%d", round)
		var (
			wg    sync.WaitGroup
			ready = make(chan struct{})
			errs  = make([]error, racers)
		)
		for i, ref := range refs {
			wg.Go(func() {
				<-ready
				_, errs[i] = r.svc.Bind(r.ctx, referral.BindRequest{ProgrammeID: r.prog.ID, UserID: user, ReferrerID: ref, Source: referral.SourceLink})
			})
		}
		close(ready)
		wg.Wait()
		winner := ""
		for i, err := range errs {
			if err == nil {
				require.Empty(r.t, winner, "round %d: two winners", round)
				winner = refs[i]
				continue
			}
			assert.ErrorIs(r.t, err, referral.ErrAlreadyBound, "round %d: loser %s", round, refs[i])
		}
		require.NotEmpty(r.t, winner, "round %d: exactly one winner", round)
		b, err := r.ref.GetBinding(r.ctx, r.prog.ID, user)
		require.NoError(r.t, err)
		assert.Equal(r.t, winner, b.ReferrerID)
		h, err := r.ref.BindingHistory(r.ctx, r.prog.ID, user, 0, referral.MaxListLimit)
		require.NoError(r.t, err)
		assert.Len(r.t, h, 1, "round %d: one history entry", round)
		assert.Len(r.t, r.drain(), 1, "round %d: one event", round)
	}
}

// raceBinds runs binds concurrently and returns their errors.
func (r *refEnv) raceBinds(pairs ...[2]string) []error {
	var (
		wg    sync.WaitGroup
		ready = make(chan struct{})
		errs  = make([]error, len(pairs))
	)
	for i, p := range pairs {
		wg.Go(func() {
			<-ready
			_, errs[i] = r.svc.Bind(r.ctx, referral.BindRequest{ProgrammeID: r.prog.ID, UserID: p[0], ReferrerID: p[1], Source: referral.SourceLink})
		})
	}
	close(ready)
	wg.Wait()
	return errs
}

// acyclic walks up from every user and fails on a cycle.
func (r *refEnv) acyclic(us ...string) {
	for _, u := range us {
		chain, err := r.ref.Chain(r.ctx, r.prog.ID, u, referral.MaxLevels+1)
		require.NoError(r.t, err)
		seen := map[string]bool{}
		for _, l := range chain {
			require.False(r.t, seen[l.UserID], "cycle through %s: %v", u, chain)
			seen[l.UserID] = true
		}
	}
}

func testRefRaceCycle(e *env) {
	r := e.referral()
	for round := range 20 {
		a, b := fmt.Sprintf("a%d", round), fmt.Sprintf("b%d", round)
		r.distributor(a, b)
		r.raceCycle(round, a, b)
	}
}

// testRefRaceCycleRows is testRefRaceCycle between users that are
// referrers already (each has a referee, so the adapter's rows exist, and
// neither bind creates the other's): exactly one of a → b and b → a wins.
func testRefRaceCycleRows(e *env) {
	r := e.referral()
	for round := range 6 {
		a, b := fmt.Sprintf("ea%d", round), fmt.Sprintf("eb%d", round)
		r.distributor(a, b)
		r.bind(a+"-fan", a)
		r.bind(b+"-fan", b)
		r.raceCycle(round, a, b)
		r.acyclic(a+"-fan", b+"-fan")
	}
}

// raceCycle races a → b and b → a: exactly one wins, the other is
// ErrCycle.
func (r *refEnv) raceCycle(round int, a, b string) {
	errs := r.raceBinds([2]string{a, b}, [2]string{b, a})
	ok, cyc := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, referral.ErrCycle):
			cyc++
		default:
			r.t.Errorf("round %d: unexpected %v", round, err)
		}
	}
	assert.Equal(r.t, 1, ok, "round %d: one bind wins", round)
	assert.Equal(r.t, 1, cyc, "round %d: the other is ErrCycle", round)
	r.acyclic(a, b)
}

// testRefRaceRing: existing b→c and d→a; a→b and c→d race. Each bind alone
// is fine, both together close the ring a→b→c→d→a: exactly one fails.
func testRefRaceRing(e *env) {
	r := e.referral()
	for round := range 10 {
		n := func(s string) string { return fmt.Sprintf("%s%d", s, round) }
		a, b, c, d := n("ra"), n("rb"), n("rc"), n("rd")
		r.distributor(a, b, c, d)
		r.bind(b, c)
		r.bind(d, a)
		errs := r.raceBinds([2]string{a, b}, [2]string{c, d})
		cyc := 0
		for _, err := range errs {
			if err != nil {
				require.ErrorIs(r.t, err, referral.ErrCycle, "round %d", round)
				cyc++
			}
		}
		assert.Equal(r.t, 1, cyc, "round %d: exactly one ErrCycle", round)
		r.acyclic(a, b, c, d)
	}
}

func testRefRaceSnapshot(e *env) {
	r := e.referral()
	r.line("buyer", "p1", "p2")
	r.drain()
	const racers = 16
	var (
		wg   sync.WaitGroup
		outs = make([]referral.Attribution, racers)
		errs = make([]error, racers)
	)
	for i := range racers {
		wg.Go(func() {
			if i%2 == 1 {
				_, _ = r.svc.Freeze(r.ctx, r.prog.ID, "p1", "ops", "race")
			}
			outs[i], errs[i] = r.svc.Attribute(r.ctx, r.prog.ID, "order-x", "buyer", r.clock.Now())
		})
	}
	wg.Wait()
	for i := range racers {
		require.NoError(r.t, errs[i])
		assert.Equal(r.t, outs[0].Result, outs[i].Result, "every caller gets the first snapshot")
		assert.True(r.t, outs[0].CreatedAt.Equal(outs[i].CreatedAt))
	}
	assert.Len(r.t, withTopic(r.drain(), referral.TopicAttributionRecorded), 1, "one event")
}

// testRefLockBoundary: a first-touch-locked binding holds for at least the
// programme's LockPeriod and a last-touch binding attributes for at least
// its AttributionWindow, on every adapter alike, even when the period has
// a part below the microsecond that SQL columns keep: the store must not
// end either early by truncating it.
func testRefLockBoundary(e *env) {
	const sub = 500 * time.Nanosecond
	r := e.referral(func(p *referral.Programme) {
		p.BindMode, p.LockPeriod = referral.BindFirstTouchLocked, time.Hour+sub
	})
	r.distributor("r1", "r2")
	t0 := r.clock.Now()
	b := r.bind("u", "r1")
	stored, err := r.ref.GetBinding(r.ctx, r.prog.ID, "u")
	require.NoError(r.t, err)
	assert.True(r.t, b.LockedUntil.Equal(stored.LockedUntil), "returned %v, stored %v", b.LockedUntil, stored.LockedUntil)
	assert.False(r.t, stored.LockedUntil.Before(t0.Add(r.prog.LockPeriod)), "lock ends at %v, before bound + LockPeriod", stored.LockedUntil)
	r.clock.Set(t0.Add(time.Hour)) // before t0 + LockPeriod
	_, err = r.svc.Bind(r.ctx, referral.BindRequest{ProgrammeID: r.prog.ID, UserID: "u", ReferrerID: "r2", Source: referral.SourceLink})
	assert.ErrorIs(r.t, err, referral.ErrBindingLocked, "rebind %v before the lock ends", r.prog.LockPeriod-time.Hour)
	r.clock.Set(stored.LockedUntil)
	_, err = r.svc.Bind(r.ctx, referral.BindRequest{ProgrammeID: r.prog.ID, UserID: "u", ReferrerID: "r2", Source: referral.SourceLink})
	assert.NoError(r.t, err, "rebind at the instant the lock ends")

	l := e.referral(func(p *referral.Programme) {
		p.BindMode, p.AttributionWindow = referral.BindLastTouch, 24*time.Hour+sub
	})
	l.distributor("s1")
	l.clock.Set(t0)
	b = l.bind("v", "s1")
	stored, err = l.ref.GetBinding(l.ctx, l.prog.ID, "v")
	require.NoError(l.t, err)
	assert.True(l.t, b.ExpiresAt.Equal(stored.ExpiresAt), "returned %v, stored %v", b.ExpiresAt, stored.ExpiresAt)
	at := t0.Add(24 * time.Hour) // inside the window
	a, err := l.svc.Attribute(l.ctx, l.prog.ID, "o-in", "v", at)
	require.NoError(l.t, err)
	if assert.Len(l.t, a.Beneficiaries(), 1, "attributed %v before the window ends: %+v", l.prog.AttributionWindow-24*time.Hour, a.Result) {
		assert.Equal(l.t, "s1", a.Beneficiaries()[0].UserID)
	}
	a, err = l.svc.Attribute(l.ctx, l.prog.ID, "o-out", "v", stored.ExpiresAt)
	require.NoError(l.t, err)
	assert.Empty(l.t, a.Beneficiaries(), "the window ends at ExpiresAt")
}

// testRefSnapshotOtherBuyer: an order reference names one order; a second
// Attribute under it for another buyer is refused (ErrConflict) instead
// of answering with the first buyer's snapshot, and writes nothing.
func testRefSnapshotOtherBuyer(e *env) {
	r := e.referral()
	r.line("buyer", "p1")
	r.line("other", "q1")
	r.drain()
	a, err := r.svc.Attribute(r.ctx, r.prog.ID, "order-1", "buyer", r.clock.Now())
	require.NoError(r.t, err)
	again, err := r.svc.Attribute(r.ctx, r.prog.ID, "order-1", "buyer", r.clock.Now().Add(time.Minute))
	require.NoError(r.t, err, "a repeat for the same buyer returns the first snapshot")
	assert.Equal(r.t, a.Result, again.Result)
	got, err := r.svc.Attribute(r.ctx, r.prog.ID, "order-1", "other", r.clock.Now())
	assert.ErrorIs(r.t, err, referral.ErrConflict, "order-1 reused for another buyer; got %+v", got.Result)
	assert.ErrorIs(r.t, err, storage.ErrConflict)
	stored, err := r.ref.GetAttribution(r.ctx, r.prog.ID, "order-1")
	require.NoError(r.t, err)
	assert.Equal(r.t, "buyer", stored.BuyerID)
	assert.Len(r.t, withTopic(r.drain(), referral.TopicAttributionRecorded), 1)
}

// testRefProgrammeBeyondPolicy: the store refuses a programme that its own
// policy forbids (three levels under WeChat's rules), so that no Service
// can ever read one back and pay a level the policy bans.
func testRefProgrammeBeyondPolicy(e *env) {
	r := e.referral()
	p := referral.Programme{
		ID: r.id("prog3"), Policy: referral.PolicyWeChat, Levels: 3, LevelRates: []float64{0.1, 0.05, 0.02},
		BindMode: referral.BindFirstTouch, SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel,
		Approval: referral.ApproveAuto, CreatedAt: r.clock.Now(),
	}
	r.assertValidation(r.ref.CreateProgramme(r.ctx, &p), "three levels under wechat")
	_, err := r.ref.GetProgramme(r.ctx, p.ID)
	assert.ErrorIs(r.t, err, referral.ErrNotFound, "nothing stored")
}

// testRefRaceSameReferrer: a bind retried while the first attempt is still
// running (the same user, the same referrer) succeeds every time under
// first touch, as a sequential repeat does: one binding, one history
// entry, one event.
func testRefRaceSameReferrer(e *env) {
	const racers = 16
	r := e.referral()
	r.distributor("ref")
	r.drain()
	for round := range 3 {
		user := fmt.Sprintf("dup-%d", round)
		errs := r.raceBinds(func() [][2]string {
			out := make([][2]string, racers)
			for i := range out {
				out[i] = [2]string{user, "ref"}
			}
			return out
		}()...)
		for i, err := range errs {
			assert.NoError(r.t, err, "round %d: attempt %d", round, i)
		}
		h, err := r.ref.BindingHistory(r.ctx, r.prog.ID, user, 0, referral.MaxListLimit)
		require.NoError(r.t, err)
		assert.Len(r.t, h, 1, "round %d: one history entry", round)
		assert.Len(r.t, r.drain(), 1, "round %d: one event", round)
	}
}

// testRefRaceManyUnderOneReferrer: many new users bind at once under one
// referrer (a popular distributor's launch) and under its child, in round
// 0 while the referrer has no binding and no referee yet: every bind
// succeeds, each user has one history entry and one event, and every
// chain leads up through the referrer.
func testRefRaceManyUnderOneReferrer(e *env) {
	const racers = 24
	r := e.referral()
	for round := range 2 {
		n := func(s string) string { return fmt.Sprintf("%s%d", s, round) }
		kol, child, top := n("kol"), n("kolchild"), n("koltop")
		r.distributor(kol, child, top)
		if round > 0 {
			r.bind(kol, top)
			r.bind(child, kol)
		}
		r.drain()
		fans := users(n("fan"), racers)
		pairs := make([][2]string, racers)
		for i, u := range fans {
			pairs[i] = [2]string{u, kol}
			if round > 0 && i%3 == 0 {
				pairs[i][1] = child
			}
		}
		for i, err := range r.raceBinds(pairs...) {
			require.NoError(r.t, err, "round %d: %s -> %s", round, pairs[i][0], pairs[i][1])
		}
		for _, p := range pairs {
			b, err := r.ref.GetBinding(r.ctx, r.prog.ID, p[0])
			require.NoError(r.t, err)
			assert.Equal(r.t, p[1], b.ReferrerID, "round %d: %s", round, p[0])
			h, err := r.ref.BindingHistory(r.ctx, r.prog.ID, p[0], 0, referral.MaxListLimit)
			require.NoError(r.t, err)
			if assert.Len(r.t, h, 1, "round %d: %s", round, p[0]) {
				assert.Equal(r.t, p[1], h[0].ToReferrer)
			}
			chain, err := r.ref.Chain(r.ctx, r.prog.ID, p[0], referral.MaxLevels)
			require.NoError(r.t, err)
			var ids []string
			for _, l := range chain {
				ids = append(ids, l.UserID)
			}
			want := []string{p[0], kol}
			if p[1] == child {
				want = []string{p[0], child, kol}
			}
			if round > 0 {
				want = append(want, top)
			}
			assert.Equal(r.t, want, ids, "round %d: chain of %s", round, p[0])
		}
		assert.Len(r.t, r.drain(), racers, "round %d: one event per bind", round)
		r.acyclic(append(fans, kol, child, top)...)
	}
}

// testRefRaceRandomRebinds: under last touch every bind rebinds, so racing
// random binds among a few users move existing edges as well as add new
// ones; whatever interleaving the adapter allows, the forest stays acyclic.
// A refusal is ErrCycle, or a conflict the caller may retry (a lost race
// beyond the Service's re-reads, a deadlock beyond the store's retries).
// The seed is printed.
func testRefRaceRandomRebinds(e *env) {
	seed := uint64(time.Now().UnixNano())
	e.t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	r := e.referral(func(p *referral.Programme) {
		p.BindMode, p.AttributionWindow, p.ReferrerMustBeDistributor = referral.BindLastTouch, time.Hour, false
	})
	us := users("rr", 10)
	for round := range 5 {
		pairs := make([][2]string, 5)
		for i := range pairs {
			a, b := rng.IntN(len(us)), rng.IntN(len(us)-1)
			if b >= a {
				b++
			}
			pairs[i] = [2]string{us[a], us[b]}
		}
		for i, err := range r.raceBinds(pairs...) {
			if err != nil && !errors.Is(err, referral.ErrCycle) && !errors.Is(err, storage.ErrConflict) && !storage.IsRetryable(err) {
				r.t.Errorf("seed %d round %d: bind %v: %v", seed, round, pairs[i], err)
			}
		}
		r.acyclic(us...)
		if r.t.Failed() {
			r.t.Fatalf("seed %d round %d", seed, round)
		}
	}
}

// testRefResultsNotShared: what the Service returns is the caller's to
// keep: changing a returned programme or attribution (its rates) changes
// nothing that a later attribution is computed from.
func testRefResultsNotShared(e *env) {
	r := e.referral()
	r.line("buyer", "p1", "p2")
	want := append([]float64(nil), r.prog.LevelRates...)
	a, err := r.svc.Attribute(r.ctx, r.prog.ID, "order-1", "buyer", r.clock.Now())
	require.NoError(r.t, err)
	require.Len(r.t, a.LevelRates, 2)
	a.LevelRates[0], a.LevelRates[1] = 0.9, 0.9
	p, err := r.svc.Programme(r.ctx, r.prog.ID)
	require.NoError(r.t, err)
	assert.Equal(r.t, want, p.LevelRates, "the programme after changing a returned attribution")
	p.Levels, p.LevelRates = 3, []float64{0.5, 0.5, 0.5}
	b, err := r.svc.Attribute(r.ctx, r.prog.ID, "order-2", "buyer", r.clock.Now())
	require.NoError(r.t, err)
	assert.Equal(r.t, want, b.LevelRates)
	assert.Equal(r.t, 2, b.Levels)
	for _, l := range b.Beneficiaries() {
		assert.Equal(r.t, want[l.Level-1], l.Rate, "level %d", l.Level)
	}
}

// testRefDistributorRepeats: a distributor move repeated after it succeeded
// (a network retry) returns the record as it stands, without a second
// write or event; the record keeps the actor and reason of the change that
// made it. A move to another state is still refused. Apply repeated
// returns a pending or active record; after a rejection or a revocation it
// is refused.
func testRefDistributorRepeats(e *env) {
	r := e.referral(func(p *referral.Programme) { p.Approval = referral.ApproveManual })
	r.drain()
	same := func(want referral.Distributor, got referral.Distributor, err error, what string) {
		r.t.Helper()
		require.NoError(r.t, err, what)
		assert.Equal(r.t, want.State, got.State, what)
		assert.Equal(r.t, want.Version, got.Version, what)
		assert.Equal(r.t, want.Actor, got.Actor, what)
		assert.Equal(r.t, want.Reason, got.Reason, what)
		assert.True(r.t, want.UpdatedAt.Equal(got.UpdatedAt), what)
	}
	refused := func(err error, what string) {
		r.t.Helper()
		assert.ErrorIs(r.t, err, referral.ErrIllegalTransition, what)
	}
	d, err := r.svc.Apply(r.ctx, r.prog.ID, "u")
	require.NoError(r.t, err)
	r.clock.Advance(time.Second)
	got, err := r.svc.Apply(r.ctx, r.prog.ID, "u")
	same(d, got, err, "Apply repeated")
	_, err = r.svc.Freeze(r.ctx, r.prog.ID, "u", "ops", "x")
	refused(err, "Freeze of a pending distributor")

	d, err = r.svc.Approve(r.ctx, r.prog.ID, "u", "ops", "kyc ok")
	require.NoError(r.t, err)
	r.clock.Advance(time.Second)
	got, err = r.svc.Approve(r.ctx, r.prog.ID, "u", "ops", "kyc ok")
	same(d, got, err, "Approve repeated")
	got, err = r.svc.Apply(r.ctx, r.prog.ID, "u")
	same(d, got, err, "Apply by an approved distributor")
	_, err = r.svc.Reject(r.ctx, r.prog.ID, "u", "ops", "x")
	refused(err, "Reject of an active distributor")

	d, err = r.svc.Freeze(r.ctx, r.prog.ID, "u", "ops", "fraud check")
	require.NoError(r.t, err)
	r.clock.Advance(time.Second)
	got, err = r.svc.Freeze(r.ctx, r.prog.ID, "u", "ops", "fraud check")
	same(d, got, err, "Freeze repeated")
	got, err = r.svc.Freeze(r.ctx, r.prog.ID, "u", "ops2", "another reason")
	same(d, got, err, "Freeze of a frozen distributor keeps the first freeze's record")
	_, err = r.svc.Apply(r.ctx, r.prog.ID, "u")
	refused(err, "Apply by a frozen distributor")

	d, err = r.svc.Unfreeze(r.ctx, r.prog.ID, "u", "ops", "cleared")
	require.NoError(r.t, err)
	got, err = r.svc.Unfreeze(r.ctx, r.prog.ID, "u", "ops", "cleared")
	same(d, got, err, "Unfreeze repeated")

	d, err = r.svc.Revoke(r.ctx, r.prog.ID, "u", "ops", "left")
	require.NoError(r.t, err)
	got, err = r.svc.Revoke(r.ctx, r.prog.ID, "u", "ops", "left")
	same(d, got, err, "Revoke repeated")
	_, err = r.svc.Apply(r.ctx, r.prog.ID, "u")
	refused(err, "Apply after a revocation")
	_, err = r.svc.Unfreeze(r.ctx, r.prog.ID, "u", "ops", "x")
	refused(err, "Unfreeze of a revoked distributor")
	assert.Equal(r.t, int64(5), d.Version)

	d, err = r.svc.Apply(r.ctx, r.prog.ID, "v")
	require.NoError(r.t, err)
	d, err = r.svc.Reject(r.ctx, r.prog.ID, "v", "ops", "no")
	require.NoError(r.t, err)
	got, err = r.svc.Reject(r.ctx, r.prog.ID, "v", "ops", "no")
	same(d, got, err, "Reject repeated")
	_, err = r.svc.Apply(r.ctx, r.prog.ID, "v")
	refused(err, "Apply after a rejection")
	_, err = r.svc.Approve(r.ctx, r.prog.ID, "v", "ops", "x")
	refused(err, "Approve of a rejected application")

	stored, err := r.ref.GetDistributor(r.ctx, r.prog.ID, "u")
	require.NoError(r.t, err)
	assert.Equal(r.t, int64(5), stored.Version, "no write for a repeat")
	assert.Len(r.t, withTopic(r.drain(), referral.TopicDistributorChanged), 7, "one event per change, none for a repeat")
}

// testRefRaceFreezeRetried: concurrent Freezes of one active distributor
// (a request and its retries racing) all succeed with the one frozen
// record; one change is written, with one event.
func testRefRaceFreezeRetried(e *env) {
	r := e.referral()
	r.distributor("f")
	r.drain()
	const n = 8
	var wg sync.WaitGroup
	got := make([]referral.Distributor, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { got[i], errs[i] = r.svc.Freeze(r.ctx, r.prog.ID, "f", "ops", "fraud check") })
	}
	wg.Wait()
	for i := range n {
		require.NoError(r.t, errs[i], "Freeze %d", i)
		assert.Equal(r.t, referral.DistributorFrozen, got[i].State)
		assert.Equal(r.t, int64(2), got[i].Version, "one write")
	}
	assert.Len(r.t, withTopic(r.drain(), referral.TopicDistributorChanged), 1, "one event")
}
