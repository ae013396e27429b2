package sqlstore_test

import (
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/storage/sqlstore"
	"github.com/socialcommerce/sdk/storage/storagetest"
)

// TestConformance runs the shared conformance suite on every dialect; each
// subtest gets its own table prefix (and, for SQLite, its own file).
func TestConformance(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		storagetest.Run(t, func(t *testing.T, now func() time.Time) storagetest.Stores {
			s := newStore(t, db, d, sqlstore.WithClock(now))
			return storagetest.Stores{GroupBuy: s, Outbox: s, Referral: s}
		})
	})
}

// TestConformanceWithTx runs the suite's store-level contract through a
// Store bound to a host transaction per call: every method must behave the
// same inside a transaction that the host then commits.
func TestConformanceWithTx(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		storagetest.Run(t, func(t *testing.T, now func() time.Time) storagetest.Stores {
			s := newStore(t, db, d, sqlstore.WithClock(now))
			tx := &txPerCall{t: t, db: db, s: s}
			return storagetest.Stores{GroupBuy: tx, Outbox: s, Referral: txRef{tx}}
		})
	})
}

// TestConformanceWarm runs the suite on Stores whose commands' statements
// are prepared before the suite starts (MySQL and SQLite; PostgreSQL
// prepares nothing itself), so that the suite's transactions, guards and
// unique violations go through prepared statements, not only through text
// as on a fresh Store. The warm-up's rows are deleted first.
func TestConformanceWarm(t *testing.T) {
	for _, c := range dbs {
		if c.d == sqlstore.Postgres {
			continue // a PostgreSQL Store prepares nothing
		}
		t.Run(c.name, func(t *testing.T) { conformanceWarm(t, c.open(t), c.d) })
	}
}

func conformanceWarm(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
	var uses atomic.Int64
	t.Cleanup(func() {
		// The suite's commands went through prepared statements.
		t.Logf("%d statements sent prepared", uses.Load())
		if !t.Failed() && uses.Load() < 5000 {
			t.Errorf("only %d statements sent prepared", uses.Load())
		}
	})
	storagetest.Run(t, func(t *testing.T, now func() time.Time) storagetest.Stores {
		s, prefix := newStorePrefixed(t, db, d, sqlstore.WithClock(now))
		warm := int64(0)
		t.Cleanup(func() { uses.Add(sqlstore.PreparedUses(s) - warm) })
		for round := range 4 {
			groupBuyRound(t.Context(), t, s, round)
		}
		for _, table := range dataTables {
			_, err := db.ExecContext(t.Context(), `DELETE FROM `+prefix+table)
			require.NoError(t, err)
		}
		require.Greater(t, sqlstore.PreparedStatements(s), 15)
		warm = sqlstore.PreparedUses(s)
		return storagetest.Stores{GroupBuy: s, Outbox: s, Referral: s}
	})
}
