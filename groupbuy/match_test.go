package groupbuy_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
)

// checkRandomPicks checks RandomPicks' contract for one pick and n.
func checkRandomPicks(t *testing.T, pick uint64, n int) {
	t.Helper()
	first, second := groupbuy.RandomPicks(pick, n)
	switch {
	case n <= 0:
		require.Equal(t, [2]int{-1, -1}, [2]int{first, second}, "n=%d", n)
	case n == 1:
		require.Equal(t, [2]int{0, -1}, [2]int{first, second}, "n=1")
	default:
		require.Equal(t, int(pick%uint64(n)), first, "first is pick mod n (pick %#x, n %d)", pick, n)
		require.True(t, second >= 0 && second < n, "second %d in [0, %d)", second, n)
		require.NotEqual(t, first, second, "pick %#x, n %d", pick, n)
	}
}

// TestRandomPicks: for every candidate count up to MatchRandomCandidates
// and random picks (the seed is printed), the first pick is pick mod n, the
// second another candidate; over many picks both spread over every
// candidate.
func TestRandomPicks(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for n := -1; n <= groupbuy.MatchRandomCandidates; n++ {
		firsts, seconds := make(map[int]bool), make(map[int]bool)
		for range 2000 {
			pick := rng.Uint64()
			checkRandomPicks(t, pick, n)
			f, s := groupbuy.RandomPicks(pick, n)
			firsts[f], seconds[s] = true, true
		}
		if n >= 2 {
			require.Len(t, firsts, n, "first picks spread over all %d candidates", n)
			require.Len(t, seconds, n, "second picks spread over all %d candidates", n)
		}
	}
}

func FuzzRandomPicks(f *testing.F) {
	f.Add(uint64(0), 0)
	f.Add(uint64(1<<32+7), 2)
	f.Add(^uint64(0), groupbuy.MatchRandomCandidates)
	f.Fuzz(func(t *testing.T, pick uint64, n int) {
		checkRandomPicks(t, pick, n)
	})
}
