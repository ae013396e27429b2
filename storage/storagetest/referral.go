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
	}},
	{"ReferralRace", []testCase{
		{"ReferrersForOneNewUser", testRefRaceReferrers},
		{"CycleAB", testRefRaceCycle},
		{"CycleRing", testRefRaceRing},
		{"SnapshotConcurrent", testRefRaceSnapshot},
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
	codes, err := r.ref.UserCodes(r.ctx, r.prog.ID, "alice")
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
	h, err := r.ref.BindingHistory(r.ctx, r.prog.ID, "bob")
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
	_, err = r.svc.Apply(r.ctx, r.prog.ID, "u")
	assert.ErrorIs(r.t, err, referral.ErrIllegalTransition)
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
	h, err := r.ref.BindingHistory(r.ctx, r.prog.ID, "a")
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
		h, err := r.ref.BindingHistory(r.ctx, r.prog.ID, user)
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
