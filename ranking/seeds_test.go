package ranking

import (
	"os"
	"strconv"
	"testing"
)

// seedRange returns the seeds a property test runs: n from 1 (n/5 under
// -short), or the one seed SCSDK_SEED names, to rerun a failure.
func seedRange(t *testing.T, n uint64) (first, count uint64) {
	t.Helper()
	if v := os.Getenv("SCSDK_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SCSDK_SEED: %v", err)
		}
		return seed, 1
	}
	if testing.Short() {
		return 1, n / 5
	}
	return 1, n
}

// SeedRange is seedRange for the external tests.
var SeedRange = seedRange
