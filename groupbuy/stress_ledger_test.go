package groupbuy_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/socialcommerce/sdk/storage/memory"
	"github.com/socialcommerce/sdk/storage/storagetest"
)

// TestStressLedger runs storagetest.StressLedger on the memory store:
// every command from several goroutines at once (two Services on the
// store, as two instances of a host), with the clock moving, and then the
// money checked in the outbox: every payment ConfirmPayment took has
// exactly one home (the seat it paid, or the refund of a late payment),
// every seat whose refund was requested one refund_requested event under
// its own key per attempt, and every succeeded team one team_succeeded
// event listing its confirmed seats.
func TestStressLedger(t *testing.T) {
	for seed := range uint64(stressSeeds()) {
		t.Run(strconv.Itoa(int(seed)), func(t *testing.T) {
			clk := storagetest.NewStressClock(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
			store := memory.New(memory.WithClock(clk.Now))
			storagetest.StressLedger(t, seed, clk, store, store)
		})
	}
}

// stressSeeds is SCSDK_STRESS_SEEDS when set, else 12.
func stressSeeds() int {
	if n, err := strconv.Atoi(os.Getenv("SCSDK_STRESS_SEEDS")); err == nil && n > 0 {
		return n
	}
	return 12
}
