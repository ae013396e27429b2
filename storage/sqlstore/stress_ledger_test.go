package sqlstore_test

import (
	"database/sql"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/socialcommerce/sdk/storage/sqlstore"
	"github.com/socialcommerce/sdk/storage/storagetest"
)

// TestStressLedgerSQL runs storagetest.StressLedger, as groupbuy's
// TestStressLedger does on the memory store, on each SQL store: every
// command from several goroutines at once through two Services, with the
// clock moving, then the money checked in the outbox.
func TestStressLedgerSQL(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		for seed := range uint64(stressSeeds()) {
			t.Run(strconv.Itoa(int(seed)), func(t *testing.T) {
				clk := storagetest.NewStressClock(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
				s := newStore(t, db, d, sqlstore.WithClock(clk.Now))
				storagetest.StressLedger(t, seed, clk, s, s)
			})
		}
	})
}

// TestStressLedgerSQLWithTx is TestStressLedgerSQL with every store call
// in a host transaction of its own, rerun when it comes back retryable.
func TestStressLedgerSQLWithTx(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		for seed := range uint64(stressSeeds()) {
			t.Run(strconv.Itoa(int(seed)), func(t *testing.T) {
				clk := storagetest.NewStressClock(time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC))
				s := newStore(t, db, d, sqlstore.WithClock(clk.Now))
				storagetest.StressLedger(t, 100+seed, clk, &txPerCall{t: t, db: db, s: s}, s)
			})
		}
	})
}

// stressSeeds is SCSDK_STRESS_SEEDS when set, else 2.
func stressSeeds() int {
	if n, err := strconv.Atoi(os.Getenv("SCSDK_STRESS_SEEDS")); err == nil && n > 0 {
		return n
	}
	return 2
}
