package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// TestWithTxStaleCampaignStatusIsRetryable: a Service on a Store bound to
// a REPEATABLE READ host transaction reads the campaign in the
// transaction's snapshot; when another command changed its status after
// that snapshot, the Store's guarded UPDATE (WHERE status = from) matches
// no row. PostgreSQL reports a serialization failure (retryable); MySQL
// reported a plain ErrConflict, the Service re-read the same snapshot and
// lost again until its rereads ran out: only a rerun of the host's
// transaction can see the change, as for the close and refund steps of
// TestWithTxStaleSnapshotConflictIsRetryable.
func TestWithTxStaleCampaignStatusIsRetryable(t *testing.T) {
	for _, c := range dbs[:2] {
		t.Run(c.name, func(t *testing.T) {
			db := c.open(t)
			w := newRaceWorld(t, db, c.d, raceDirect, nil)

			tx, ts := repeatableRead(t, db, w.s)
			svc, err := groupbuy.New(ts, w.cfg(w.clk.Now))
			require.NoError(t, err)
			_, err = svc.Campaign(w.ctx, w.camp.ID) // the snapshot: active
			require.NoError(t, err)

			_, err = w.setup.SetCampaignStatus(w.ctx, w.camp.ID, groupbuy.CampaignPaused)
			require.NoError(t, err)

			_, err = svc.SetCampaignStatus(w.ctx, w.camp.ID, groupbuy.CampaignEnded)
			require.Error(t, err)
			require.True(t, storage.IsRetryable(err), "a status change on a stale snapshot: %v", err)
			require.NoError(t, tx.Rollback())

			// The host's rerun sees the pause and ends the campaign.
			tx2, ts2 := repeatableRead(t, db, w.s)
			svc2, err := groupbuy.New(ts2, w.cfg(w.clk.Now))
			require.NoError(t, err)
			got, err := svc2.SetCampaignStatus(w.ctx, w.camp.ID, groupbuy.CampaignEnded)
			require.NoError(t, err, "the rerun")
			require.Equal(t, groupbuy.CampaignEnded, got.Status)
			require.NoError(t, tx2.Commit())
		})
	}
}

// waitBlocked waits until a statement on prefix's tables waits for a lock
// (PostgreSQL) or runs (MySQL, whose process list shows a statement that
// waits for a row lock as running).
func waitBlocked(t *testing.T, db *sql.DB, d sqlstore.Dialect, prefix string) {
	t.Helper()
	q := `SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()
		AND pid <> pg_backend_pid() AND query LIKE $1`
	if d == sqlstore.MySQL {
		q = `SELECT COUNT(*) FROM information_schema.processlist WHERE command <> 'Sleep' AND id <> CONNECTION_ID() AND info LIKE ?`
	}
	require.Eventually(t, func() bool {
		var n int
		err := db.QueryRowContext(t.Context(), q, "%"+prefix+"%").Scan(&n)
		return err == nil && n > 0
	}, 10*time.Second, 5*time.Millisecond, "the command never waited")
}

// TestKeyedRequestWaitingForItsTwin: a keyed join (or match) that takes
// the team's last seat runs in a host transaction; the same request (same
// key and fingerprint, new seat and event IDs, as the Service builds a
// retry) arrives meanwhile and waits for the team's lock (the match: skips
// the held team and opens one, waiting on the record's key). When the
// first commits, the second must come back as its replay, not as
// ErrTeamFull: on PostgreSQL its statement's snapshot predates the record
// (NOT EXISTS holds) and the team's guard fails on the latest version, so
// the refusal row of the statement's second branch, or the record's
// unique key, must lead to the diagnosis; on MySQL the record's count in
// the locking read may come from a snapshot taken before the wait.
func TestKeyedRequestWaitingForItsTwin(t *testing.T) {
	for _, c := range dbs[:2] {
		t.Run(c.name, func(t *testing.T) {
			db := c.open(t)
			s, prefix := newStorePrefixed(t, db, c.d)
			f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize, c.Limits.MaxTeamsJoinedPerUser = 2, 3 })
			keyed := func(w *groupbuy.JoinTeamWrite, key string) *groupbuy.JoinTeamWrite {
				w.Idem = &groupbuy.IdempotencyRecord{Scope: "groupbuy.join", Key: key, Fingerprint: "fp-" + key,
					Result: []byte(`{"k":"` + key + `"}`), CreatedAt: t0}
				return w
			}
			twin := func(first func(s *sqlstore.Store) error, second func() error) error {
				t.Helper()
				tx, err := db.BeginTx(t.Context(), nil)
				require.NoError(t, err)
				defer func() { _ = tx.Rollback() }()
				require.NoError(t, first(s.WithTx(tx)))
				done := make(chan error, 1)
				go func() { done <- second() }()
				waitBlocked(t, db, c.d, prefix)
				require.NoError(t, tx.Commit())
				return <-done
			}

			team, _ := f.open("alice")
			err := twin(func(s *sqlstore.Store) error {
				_, _, err := s.JoinTeam(t.Context(), keyed(f.joinWrite(team.ID, "bob"), "k-join"))
				return err
			}, func() error {
				_, _, err := s.JoinTeam(context.Background(), keyed(f.joinWrite(team.ID, "bob"), "k-join"))
				return err
			})
			re, ok := errors.AsType[*groupbuy.ReplayError](err)
			require.True(t, ok, "join: want the first join's replay, got %v", err)
			assert.Equal(t, "fp-k-join", re.Record.Fingerprint)

			other, _ := f.open("dave")
			err = twin(func(s *sqlstore.Store) error {
				_, _, err := s.MatchTeam(t.Context(), f.matchWrite("erin", "k-match", groupbuy.MatchFullest))
				return err
			}, func() error {
				_, _, err := s.MatchTeam(context.Background(), f.matchWrite("erin", "k-match", groupbuy.MatchFullest))
				return err
			})
			re, ok = errors.AsType[*groupbuy.ReplayError](err)
			require.True(t, ok, "match: want the first match's replay, got %v", err)
			assert.Equal(t, "fp-k-match", re.Record.Fingerprint)
			got, err := s.GetTeam(t.Context(), other.ID)
			require.NoError(t, err)
			assert.Equal(t, 2, got.SeatsTaken, "the first match took the last seat")
			seats, err := s.UserSeats(t.Context(), "erin", groupbuy.SeatPosition{}, 10)
			require.NoError(t, err)
			assert.Len(t, seats, 1, "the second match left no team or seat")
		})
	}
}

// TestWithTxStaleReferralWritesAreRetryable: the referral Service's
// guarded writes on a REPEATABLE READ host transaction whose snapshot
// predates a concurrent change: a distributor move (state and version read
// in the snapshot) and the first binding of a user bound meanwhile. The
// Store's locking read sees the change; PostgreSQL reports a serialization
// failure (retryable); MySQL reported a plain conflict (ErrAlreadyBound for
// the bind), and the Service re-read the same snapshot until its rereads
// ran out (referral: conflict). Only a rerun of the host's transaction can
// see the change, as for groupbuy's writes.
func TestWithTxStaleReferralWritesAreRetryable(t *testing.T) {
	forEachSnapshotDB(t, func(t *testing.T, db *sql.DB, s *sqlstore.Store) {
		ctx := t.Context()
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		cfg := referral.Config{Now: func() time.Time { return now }}
		svc := staleProgramme(t, s, cfg)
		for _, u := range []string{"a", "b"} {
			_, err := svc.Apply(ctx, "p", u)
			require.NoError(t, err)
		}

		// stale runs f on a Service in a REPEATABLE READ host transaction
		// whose snapshot is taken before change commits; the
		// transaction is rolled back.
		stale := func(change func(), f func(svc *referral.Service) error) error {
			tx, ts := repeatableRead(t, db, s)
			defer func() { _ = tx.Rollback() }() // before the next change: MySQL's locks
			hsvc, err := referral.New(ts, cfg)
			require.NoError(t, err)
			_, err = hsvc.Programme(ctx, "p")
			require.NoError(t, err)
			_, err = hsvc.Distributor(ctx, "p", "a") // the snapshot
			require.NoError(t, err)
			_, _ = hsvc.Binding(ctx, "p", "u")
			change()
			return f(hsvc)
		}

		err := stale(func() {
			_, err := svc.Freeze(ctx, "p", "a", "ops", "check")
			require.NoError(t, err)
		}, func(hsvc *referral.Service) error {
			_, err := hsvc.Revoke(ctx, "p", "a", "ops", "fraud")
			return err
		})
		require.Error(t, err)
		assert.True(t, storage.IsRetryable(err), "a distributor move on a stale snapshot: %v", err)

		err = stale(func() {
			_, err := svc.Bind(ctx, referral.BindRequest{ProgrammeID: "p", UserID: "u", ReferrerID: "a", Source: referral.SourceLink})
			require.NoError(t, err)
		}, func(hsvc *referral.Service) error {
			_, err := hsvc.Bind(ctx, referral.BindRequest{ProgrammeID: "p", UserID: "u", ReferrerID: "b", Source: referral.SourceLink})
			return err
		})
		require.Error(t, err)
		assert.True(t, storage.IsRetryable(err), "a first binding on a stale snapshot: %v", err)

		// A first application, of a user who applied after the snapshot:
		// PostgreSQL's REPEATABLE READ does not show the new row to the
		// locking read either, and the INSERT hits its key.
		err = stale(func() {
			_, err := svc.Apply(ctx, "p", "c")
			require.NoError(t, err)
		}, func(hsvc *referral.Service) error {
			_, err := hsvc.Apply(ctx, "p", "c")
			return err
		})
		require.Error(t, err)
		assert.True(t, storage.IsRetryable(err), "an application on a stale snapshot: %v", err)
	})
}

// TestWithTxAttributionNewerThanSnapshot: an attribution saved by another
// command after a REPEATABLE READ host transaction's snapshot makes the
// host's save of the same order a repeat, whose answer is the stored
// attribution (or, when it cannot be read, a retryable error). MySQL's
// INSERT hit the unique key of the row committed meanwhile, and the read of
// the stored row ran in the host's snapshot, which lacks it: ErrNotFound,
// for an attribution that exists. PostgreSQL reports a serialization
// failure (retryable).
func TestWithTxAttributionNewerThanSnapshot(t *testing.T) {
	forEachSnapshotDB(t, func(t *testing.T, db *sql.DB, s *sqlstore.Store) {
		ctx := t.Context()
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		cfg := referral.Config{Now: func() time.Time { return now }}
		svc := staleProgramme(t, s, cfg)
		_, err := svc.Apply(ctx, "p", "a")
		require.NoError(t, err)
		_, err = svc.Bind(ctx, referral.BindRequest{ProgrammeID: "p", UserID: "buyer", ReferrerID: "a", Source: referral.SourceLink})
		require.NoError(t, err)

		_, ts := repeatableRead(t, db, s)
		hsvc, err := referral.New(ts, cfg)
		require.NoError(t, err)
		_, err = hsvc.Programme(ctx, "p")
		require.NoError(t, err)
		_, err = ts.GetAttribution(ctx, "p", "o1") // the snapshot
		require.ErrorIs(t, err, storage.ErrNotFound)

		first, err := svc.Attribute(ctx, "p", "o1", "buyer", now)
		require.NoError(t, err)

		got, err := hsvc.Attribute(ctx, "p", "o1", "buyer", now)
		if err != nil {
			require.True(t, storage.IsRetryable(err), "a repeat of an attribution newer than the snapshot: %v", err)
			return
		}
		assert.Equal(t, first.Result, got.Result, "the stored attribution")
		assert.True(t, first.CreatedAt.Equal(got.CreatedAt))
	})
}

// staleProgramme is a referral Service on s with cfg and programme "p"
// (two levels, auto-approved distributors), for the stale-snapshot tests.
func staleProgramme(t *testing.T, s *sqlstore.Store, cfg referral.Config) *referral.Service {
	t.Helper()
	svc, err := referral.New(s, cfg)
	require.NoError(t, err)
	_, err = svc.CreateProgramme(t.Context(), referral.Programme{
		ID: "p", Policy: referral.PolicyChina, Levels: 2, LevelRates: []float64{0.1, 0.05}, BindMode: referral.BindFirstTouch,
		SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel, Approval: referral.ApproveAuto,
	})
	require.NoError(t, err)
	return svc
}
