package sqlstore_test

import (
	"database/sql"
	"testing"
	"time"

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
