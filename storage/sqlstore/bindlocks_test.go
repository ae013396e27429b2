package sqlstore_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// TestBindUnderBusyReferrer: while a host transaction holds an uncommitted
// bind of x under r (r → top), binds of y under r and of z under r's child
// c, from another connection that waits at most a second for a row lock,
// commit: binds lock their referrer's chain shared, so binds under one
// popular referrer do not queue for its row. SQLite has one writer, so
// binds serialise there by design.
func TestBindUnderBusyReferrer(t *testing.T) {
	for _, c := range dbs {
		if c.d == sqlstore.SQLite {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			db := c.open(t)
			s, prefix := newStorePrefixed(t, db, c.d)
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			cfg := referral.Config{Now: func() time.Time { return now }}
			svc, err := referral.New(s, cfg)
			require.NoError(t, err)
			_, err = svc.CreateProgramme(ctx, referral.Programme{
				ID: "p", Policy: referral.PolicyChina, Levels: 2, LevelRates: []float64{0.1, 0.05}, BindMode: referral.BindFirstTouch,
				SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel, Approval: referral.ApproveAuto,
				ReferrerMustBeDistributor: true,
			})
			require.NoError(t, err)
			for _, u := range []string{"top", "r", "c"} {
				_, err := svc.Apply(ctx, "p", u)
				require.NoError(t, err)
			}
			bind := func(svc *referral.Service, user, ref string) error {
				_, err := svc.Bind(ctx, referral.BindRequest{ProgrammeID: "p", UserID: user, ReferrerID: ref, Source: referral.SourceLink})
				return err
			}
			require.NoError(t, bind(svc, "r", "top"))
			require.NoError(t, bind(svc, "c", "r"))

			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback() }()
			host, err := referral.New(s.WithTx(tx), cfg)
			require.NoError(t, err)
			require.NoError(t, bind(host, "x", "r"))

			// A lock wait longer than a second fails the bind (no retry).
			dsn, param := os.Getenv("SCSDK_POSTGRES_DSN"), "lock_timeout=1000"
			if c.d == sqlstore.MySQL {
				dsn, param = os.Getenv("SCSDK_MYSQL_DSN"), "innodb_lock_wait_timeout=1"
			}
			other, err := sqlstore.New(openAndPing(t, driverOf(c.d), withParam(dsn, param)), c.d,
				sqlstore.WithTablePrefix(prefix), sqlstore.WithMaxRetries(0))
			require.NoError(t, err)
			osvc, err := referral.New(other, cfg)
			require.NoError(t, err)
			octx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			_, err = osvc.Bind(octx, referral.BindRequest{ProgrammeID: "p", UserID: "y", ReferrerID: "r", Source: referral.SourceLink})
			require.NoError(t, err, "bind under r while another bind under r is open")
			_, err = osvc.Bind(octx, referral.BindRequest{ProgrammeID: "p", UserID: "z", ReferrerID: "c", Source: referral.SourceLink})
			require.NoError(t, err, "bind under r's child while a bind under r is open")

			require.NoError(t, tx.Commit())
			for user, ref := range map[string]string{"x": "r", "y": "r", "z": "c"} {
				b, err := s.GetBinding(ctx, "p", user)
				require.NoError(t, err)
				assert.Equal(t, ref, b.ReferrerID, user)
				h, err := s.BindingHistory(ctx, "p", user, 0, referral.MaxListLimit)
				require.NoError(t, err)
				assert.Len(t, h, 1, user)
			}
		})
	}
}

// driverOf names d's database/sql driver in these tests.
func driverOf(d sqlstore.Dialect) string {
	switch d {
	case sqlstore.Postgres:
		return "pgx"
	case sqlstore.MySQL:
		return "mysql"
	}
	return "sqlite"
}
