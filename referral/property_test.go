package referral_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/referral"
)

// seed returns the seed of a property test: SCSDK_SEED when set, else a
// fresh one; it is logged so that a failure can be replayed.
func seed(t *testing.T) uint64 {
	s := uint64(time.Now().UnixNano())
	if v := os.Getenv("SCSDK_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err)
		s = n
	}
	t.Logf("seed %d (rerun with SCSDK_SEED=%d)", s, s)
	return s
}

// TestPropertyRandomForest binds random users to random referrers in a
// random order through the pure rules, then attributes random purchases:
// the forest stays acyclic, no paid level exceeds the programme's levels
// nor sits deeper than them, and Decide is reproducible from its inputs.
func TestPropertyRandomForest(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed(t), 7))
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	states := []referral.DistributorState{"", "pending", "active", "active", "active", "frozen", "revoked"}
	for round := range 200 {
		n := 2 + rng.IntN(60)
		parent := map[string]string{}
		state := map[string]referral.DistributorState{}
		user := func(i int) string { return fmt.Sprintf("u%d", i) }
		for i := range n {
			state[user(i)] = states[rng.IntN(len(states))]
		}
		ancestors := func(u string) []string {
			var out []string
			for p, ok := parent[u]; ok; p, ok = parent[p] {
				out = append(out, p)
				require.LessOrEqual(t, len(out), n, "round %d: cycle through %s", round, u)
			}
			return out
		}
		for range 3 * n {
			u, r := user(rng.IntN(n)), user(rng.IntN(n))
			if _, bound := parent[u]; bound {
				continue
			}
			if err := referral.CheckNoCycle(u, r, ancestors(r)); err != nil {
				continue
			}
			parent[u] = r
		}
		levels := 1 + rng.IntN(3)
		rates := make([]float64, levels)
		selfRules := []referral.SelfPurchaseRule{referral.SelfPurchaseSelfLevel1, referral.SelfPurchaseNone, referral.SelfPurchaseReferrer}
		self := selfRules[rng.IntN(3)]
		frozen := []referral.FrozenRule{referral.FrozenSkipLevel, referral.FrozenStopChain}[rng.IntN(2)]
		for i := range n {
			b := user(i)
			chain := []referral.Link{{UserID: b, State: state[b]}}
			for _, a := range ancestors(b) {
				if len(chain) > levels+1 {
					break
				}
				chain = append(chain, referral.Link{UserID: a, State: state[a]})
			}
			got := referral.Decide(levels, rates, self, frozen, chain, at)
			require.Equal(t, got, referral.Decide(levels, rates, self, frozen, chain, at), "reproducible")
			paid := map[int]bool{}
			for _, l := range got {
				if l.Level == 0 {
					require.NotEqual(t, referral.DropNone, l.Drop)
					continue
				}
				require.LessOrEqual(t, l.Level, levels, "round %d buyer %s: level above policy", round, b)
				require.False(t, paid[l.Level], "one beneficiary per level")
				paid[l.Level] = true
				require.Equal(t, referral.DistributorActive, chain[l.Depth].State, "only active distributors are paid")
				require.LessOrEqual(t, l.Depth, levels, "never deeper than the levels")
			}
		}
	}
}

// TestPropertyServiceRandomBinds drives the Service on the memory store
// with binds of random users to random referrers, in random order and in
// parallel, random freezes, and attributions: the store never holds a
// cycle, no attribution pays deeper than the programme allows, and every
// stored snapshot replays to its own result.
func TestPropertyServiceRandomBinds(t *testing.T) {
	s := seed(t)
	ctx := t.Context()
	for round := range 20 {
		rng := rand.New(rand.NewPCG(s, uint64(round)))
		svc := newService(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		levels := 1 + rng.IntN(2)
		rates := []float64{0.1, 0.05}[:levels]
		p, err := svc.CreateProgramme(ctx, referral.Programme{
			ID: "p", Policy: referral.PolicyChina, Levels: levels, LevelRates: rates, BindMode: referral.BindFirstTouch,
			SelfPurchase: []referral.SelfPurchaseRule{referral.SelfPurchaseSelfLevel1, referral.SelfPurchaseNone, referral.SelfPurchaseReferrer}[rng.IntN(3)],
			Frozen:       []referral.FrozenRule{referral.FrozenSkipLevel, referral.FrozenStopChain}[rng.IntN(2)],
			Approval:     referral.ApproveAuto,
		})
		require.NoError(t, err)
		n := 5 + rng.IntN(40)
		user := func(i int) string { return fmt.Sprintf("u%d", i) }
		for i := range n {
			if rng.IntN(4) > 0 {
				_, err := svc.Apply(ctx, p.ID, user(i))
				require.NoError(t, err)
			}
		}
		pairs := make([][2]string, 3*n)
		for i := range pairs {
			pairs[i] = [2]string{user(rng.IntN(n)), user(rng.IntN(n))}
		}
		done := make(chan struct{})
		for w := range 4 {
			go func() {
				defer func() { done <- struct{}{} }()
				for i := w; i < len(pairs); i += 4 {
					_, _ = svc.Bind(ctx, referral.BindRequest{ProgrammeID: p.ID, UserID: pairs[i][0], ReferrerID: pairs[i][1], Source: referral.SourceLink})
				}
			}()
		}
		for range 4 {
			<-done
		}
		for i := range n {
			if rng.IntN(5) == 0 {
				_, _ = svc.Freeze(ctx, p.ID, user(i), "ops", "random")
			}
		}
		for i := range n {
			// No cycle: the walk up from every user ends within n steps.
			u, steps := user(i), 0
			for {
				b, err := svc.Binding(ctx, p.ID, u)
				if err != nil {
					break
				}
				u = b.ReferrerID
				steps++
				require.LessOrEqual(t, steps, n, "round %d: cycle through %s", round, user(i))
			}
			a, err := svc.Attribute(ctx, p.ID, "o-"+user(i), user(i), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			require.NoError(t, err)
			require.Equal(t, a.Result, referral.Replay(&a), "reproducible from its snapshot")
			for _, l := range a.Result {
				require.LessOrEqual(t, l.Level, levels)
				require.LessOrEqual(t, l.Depth, levels+1, "read one beyond the cap, to name it")
				if l.Level > 0 {
					require.LessOrEqual(t, l.Depth, levels, "never paid deeper than the levels")
				}
			}
		}
	}
}
