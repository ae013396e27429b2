package sqlstore_test

import (
	"context"
	"database/sql"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// txRef is txPerCall for the referral.Store: every call in a host
// transaction of its own, through Store.WithTx.
type txRef struct{ *txPerCall }

var _ referral.Store = txRef{}

func (w txRef) CreateProgramme(ctx context.Context, p *referral.Programme) error {
	return inTx0(ctx, w.txPerCall, func(s *sqlstore.Store) error { return s.CreateProgramme(ctx, p) })
}

func (w txRef) GetProgramme(ctx context.Context, id string) (referral.Programme, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.Programme, error) { return s.GetProgramme(ctx, id) })
}

func (w txRef) CreateCode(ctx context.Context, c *referral.InviteCode) error {
	return inTx0(ctx, w.txPerCall, func(s *sqlstore.Store) error { return s.CreateCode(ctx, c) })
}

func (w txRef) GetCode(ctx context.Context, code string) (referral.InviteCode, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.InviteCode, error) { return s.GetCode(ctx, code) })
}

func (w txRef) RevokeCode(ctx context.Context, code string, at time.Time) (referral.InviteCode, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.InviteCode, error) { return s.RevokeCode(ctx, code, at) })
}

func (w txRef) UserCodes(ctx context.Context, p, u string, after referral.CodePosition, limit int) ([]referral.InviteCode, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) ([]referral.InviteCode, error) { return s.UserCodes(ctx, p, u, after, limit) })
}

func (w txRef) SetDistributor(ctx context.Context, d *referral.DistributorWrite) (referral.Distributor, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.Distributor, error) { return s.SetDistributor(ctx, d) })
}

func (w txRef) GetDistributor(ctx context.Context, p, u string) (referral.Distributor, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.Distributor, error) { return s.GetDistributor(ctx, p, u) })
}

func (w txRef) Bind(ctx context.Context, b *referral.BindWrite) (referral.Binding, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.Binding, error) { return s.Bind(ctx, b) })
}

func (w txRef) GetBinding(ctx context.Context, p, u string) (referral.Binding, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.Binding, error) { return s.GetBinding(ctx, p, u) })
}

func (w txRef) BindingHistory(ctx context.Context, p, u string, after int64, limit int) ([]referral.BindingChange, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) ([]referral.BindingChange, error) {
		return s.BindingHistory(ctx, p, u, after, limit)
	})
}

func (w txRef) Chain(ctx context.Context, p, u string, depth int) ([]referral.Link, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) ([]referral.Link, error) { return s.Chain(ctx, p, u, depth) })
}

func (w txRef) Downline(ctx context.Context, p, u string, depth int) (referral.DownlineStats, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.DownlineStats, error) { return s.Downline(ctx, p, u, depth) })
}

type saved struct {
	a       referral.Attribution
	created bool
}

func (w txRef) SaveAttribution(ctx context.Context, a *referral.Attribution, evs []storage.Event) (referral.Attribution, bool, error) {
	r, err := inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (saved, error) {
		got, created, err := s.SaveAttribution(ctx, a, evs)
		return saved{got, created}, err
	})
	return r.a, r.created, err
}

func (w txRef) GetAttribution(ctx context.Context, p, o string) (referral.Attribution, error) {
	return inTx(ctx, w.txPerCall, func(s *sqlstore.Store) (referral.Attribution, error) { return s.GetAttribution(ctx, p, o) })
}

// TestAttributeRoundTrips counts the statements of Attribute. On
// PostgreSQL: two (chain, save) for a new order, whether or not the buyer
// has a node row; a repeat reads the stored snapshot (three); under WithTx
// the save adds its SAVEPOINT and RELEASE (four). The other dialects are
// checked for the same results.
func TestAttributeRoundTrips(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		ctx := t.Context()
		s := newStore(t, db, d)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		svc, err := referral.New(s, referral.Config{Now: func() time.Time { return now }})
		require.NoError(t, err)
		_, err = svc.CreateProgramme(ctx, referral.Programme{
			ID: "p", Policy: referral.PolicyChina, Levels: 2, LevelRates: []float64{0.1, 0.05}, BindMode: referral.BindFirstTouch,
			SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel, Approval: referral.ApproveAuto,
		})
		require.NoError(t, err)
		for _, u := range []string{"a", "b", "c", "loner"} {
			_, err := svc.Apply(ctx, "p", u)
			require.NoError(t, err)
		}
		for _, p := range [][2]string{{"a", "b"}, {"b", "c"}} {
			_, err := svc.Bind(ctx, referral.BindRequest{ProgrammeID: "p", UserID: p[0], ReferrerID: p[1], Source: referral.SourceLink})
			require.NoError(t, err)
		}
		trips := func(order, buyer string, st *sqlstore.Store) (referral.Attribution, int64) {
			t.Helper()
			sv, err := referral.New(st, referral.Config{Now: func() time.Time { return now }})
			require.NoError(t, err)
			_, err = sv.Programme(ctx, "p") // cached from here on
			require.NoError(t, err)
			before := s.RoundTrips()
			a, err := sv.Attribute(ctx, "p", order, buyer, now)
			require.NoError(t, err)
			return a, s.RoundTrips() - before
		}
		first, n := trips("o1", "a", s)
		require.Len(t, first.Beneficiaries(), 2)
		again, nAgain := trips("o1", "a", s)
		assert.Equal(t, first.Result, again.Result)
		assert.True(t, first.CreatedAt.Equal(again.CreatedAt))
		loner, nLoner := trips("o2", "loner", s)
		assert.Equal(t, []referral.Link{{UserID: "loner", State: referral.DistributorActive}}, loner.Chain)
		stranger, nStranger := trips("o3", "stranger", s)
		assert.Equal(t, []referral.Link{{UserID: "stranger"}}, stranger.Chain)

		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		inTx, nTx := trips("o4", "a", s.WithTx(tx))
		require.NoError(t, tx.Commit())
		assert.Equal(t, first.Result, inTx.Result)
		got, err := s.GetAttribution(ctx, "p", "o4")
		require.NoError(t, err)
		assert.Equal(t, inTx.Result, got.Result)

		t.Logf("%s: new %d, repeat %d, no node row %d/%d, WithTx %d", d, n, nAgain, nLoner, nStranger, nTx)
		if d == sqlstore.Postgres {
			assert.Equal(t, []int64{2, 3, 2, 2, 4}, []int64{n, nAgain, nLoner, nStranger, nTx})
		}
	})
}

// TestReferralCoveringKeys: on PostgreSQL the chain's primary keys carry the
// columns it reads (migration 0003), so that its probes can be index-only.
func TestReferralCoveringKeys(t *testing.T) {
	db := openPostgres(t)
	prefix := randomPrefix()
	s, err := sqlstore.New(db, sqlstore.Postgres, sqlstore.WithTablePrefix(prefix))
	require.NoError(t, err)
	t.Cleanup(func() { dropTables(t, db, sqlstore.Postgres, prefix) })
	require.NoError(t, s.Migrate(t.Context()))
	for table, include := range map[string]string{"ref_nodes": "INCLUDE (referrer_id, expires_at)", "ref_distributors": "INCLUDE (state)"} {
		var def string
		require.NoError(t, db.QueryRowContext(t.Context(), `SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
			WHERE i.indrelid = $1::regclass AND i.indisprimary`, prefix+table).Scan(&def))
		assert.Contains(t, def, "(programme_id, user_id) "+include, table)
	}
}

// TestReferralEventIDInUse: a referral write whose event has the ID of an
// event not acked yet is storage.ErrConflict (referral.ErrConflict) and
// stores nothing, as the memory store and the groupbuy writes refuse it.
// Before, SaveAttribution said "created" on MySQL and SQLite and stored
// nothing (its transaction rolled back on the outbox's key), returned
// PostgreSQL's unique violation as it was, and SetDistributor and Bind
// returned an internal guard error.
func TestReferralEventIDInUse(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		ctx := t.Context()
		s := newStore(t, db, d)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		n, reuse := 0, false
		svc, err := referral.New(s, referral.Config{Now: func() time.Time { return now }, NewID: func() string {
			if reuse {
				return "ev-taken"
			}
			n++
			return "ev-" + strconv.Itoa(n)
		}})
		require.NoError(t, err)
		_, err = svc.CreateProgramme(ctx, referral.Programme{
			ID: "p", Policy: referral.PolicyChina, Levels: 2, LevelRates: []float64{0.1, 0.05}, BindMode: referral.BindFirstTouch,
			SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel, Approval: referral.ApproveAuto,
		})
		require.NoError(t, err)
		_, err = svc.Apply(ctx, "p", "a")
		require.NoError(t, err)
		_, err = svc.Bind(ctx, referral.BindRequest{ProgrammeID: "p", UserID: "b", ReferrerID: "a", Source: referral.SourceLink})
		require.NoError(t, err)
		reuse = true
		_, err = svc.Apply(ctx, "p", "taker") // its event takes the ID
		require.NoError(t, err)

		_, err = svc.Apply(ctx, "p", "c")
		require.ErrorIs(t, err, storage.ErrConflict, "Apply")
		require.ErrorIs(t, err, referral.ErrConflict, "Apply")
		_, err = s.GetDistributor(ctx, "p", "c")
		require.ErrorIs(t, err, referral.ErrNotFound, "the refused Apply stored a distributor")

		_, err = svc.Bind(ctx, referral.BindRequest{ProgrammeID: "p", UserID: "d", ReferrerID: "a", Source: referral.SourceLink})
		require.ErrorIs(t, err, storage.ErrConflict, "Bind")
		_, err = s.GetBinding(ctx, "p", "d")
		require.ErrorIs(t, err, referral.ErrNotFound, "the refused Bind stored a binding")

		_, err = svc.Attribute(ctx, "p", "order-1", "b", now)
		require.ErrorIs(t, err, storage.ErrConflict, "Attribute")
		_, err = s.GetAttribution(ctx, "p", "order-1")
		require.ErrorIs(t, err, referral.ErrNotFound, "the refused Attribute stored an attribution")

		reuse = false
		a, err := svc.Attribute(ctx, "p", "order-1", "b", now)
		require.NoError(t, err, "the same order with a free event ID")
		assert.Equal(t, "order-1", a.OrderRef)
	})
}

// TestProgrammeStoredWithoutCodeLimit: a programme stored before
// MaxCodesPerUser existed (its definition has no such key) reads back with
// 0, and CreateCode holds its users to DefaultMaxCodesPerUser.
func TestProgrammeStoredWithoutCodeLimit(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		ctx := t.Context()
		s, prefix := newStorePrefixed(t, db, d)
		p := referral.Programme{
			ID: "old", Policy: referral.PolicyChina, Levels: 1, LevelRates: []float64{0.1}, BindMode: referral.BindFirstTouch,
			SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel, Approval: referral.ApproveAuto,
			MaxCodesPerUser: 2, CreatedAt: t0,
		}
		require.NoError(t, s.CreateProgramme(ctx, &p))
		_, err := db.ExecContext(ctx, `UPDATE `+prefix+`ref_programmes SET definition = REPLACE(definition, '"MaxCodesPerUser":2,', '')`)
		require.NoError(t, err)
		var def string
		require.NoError(t, db.QueryRowContext(ctx, `SELECT definition FROM `+prefix+`ref_programmes`).Scan(&def))
		require.NotContains(t, def, "MaxCodesPerUser", "a definition as an older release stored it")
		got, err := s.GetProgramme(ctx, "old")
		require.NoError(t, err)
		assert.Zero(t, got.MaxCodesPerUser)
		assert.Equal(t, referral.DefaultMaxCodesPerUser, got.CodeLimit())
		for i := range referral.DefaultMaxCodesPerUser {
			c := referral.InviteCode{Code: "OLD" + strconv.Itoa(i), ProgrammeID: "old", UserID: "u", CreatedAt: t0}
			require.NoError(t, s.CreateCode(ctx, &c), "code %d", i)
		}
		c := referral.InviteCode{Code: "OLDX", ProgrammeID: "old", UserID: "u", CreatedAt: t0}
		assert.ErrorIs(t, s.CreateCode(ctx, &c), referral.ErrCodeLimit)
	})
}
