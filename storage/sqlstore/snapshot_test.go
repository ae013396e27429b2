package sqlstore_test

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// TestWithTxWriteNewerThanSnapshot: every write of a Store bound to a
// REPEATABLE READ host transaction, on rows committed after the
// transaction's snapshot, either succeeds (MySQL's locking reads see the
// rows) or comes back a retryable conflict, and a rerun of the host's
// transaction succeeds; it is never the not-found of a read in the
// snapshot, which the host would take for a definitive answer about rows
// that exist. A write on rows that do not exist is still not-found, and not
// retryable.
func TestWithTxWriteNewerThanSnapshot(t *testing.T) {
	forEachSnapshotDB(t, func(t *testing.T, db *sql.DB, s *sqlstore.Store) {
		f := newFixture(t, s)
		ctx := t.Context()

		// refunding opens a team with a paid leader and cancels it, so
		// that the leader's refund is requested (attempt 1).
		refunding := func() groupbuy.Seat {
			team, leader := f.open(f.id("user"))
			_, err := s.PaySeat(ctx, f.payWrite(leader, ""))
			require.NoError(t, err)
			require.NoError(t, s.CloseTeam(ctx, &groupbuy.CloseTeamWrite{TeamID: team.ID, Version: team.Version + 1,
				State: groupbuy.TeamCancelled, Now: t0, Refund: []string{leader.ID}}))
			return leader
		}
		// lateCampaign creates, on s, a campaign of its own and returns its
		// fixture, whose IDs are f's.
		lateCampaign := func() *fixture {
			g := newFixture(t, s, func(c *groupbuy.Campaign) { c.ID = f.id("camp") })
			g.n = f.n
			return g
		}
		lateProgramme := func() string {
			p := snapshotProgramme(f.id("prog"), referral.ApproveAuto)
			require.NoError(t, s.CreateProgramme(ctx, p))
			return p.ID
		}
		// Each case commits its rows (after the snapshot) and returns the
		// write on them.
		cases := []struct {
			name string
			late func() func(ts *sqlstore.Store) error
		}{
			{"CloseTeam", func() func(ts *sqlstore.Store) error {
				team, leader := f.open(f.id("user"))
				return func(ts *sqlstore.Store) error {
					return ts.CloseTeam(ctx, &groupbuy.CloseTeamWrite{TeamID: team.ID, Version: team.Version,
						State: groupbuy.TeamCancelled, Now: t0, Release: []string{leader.ID}})
				}
			}},
			{"JoinTeam", func() func(ts *sqlstore.Store) error {
				team, _ := f.open(f.id("user"))
				w := f.joinWrite(team.ID, f.id("user"))
				return func(ts *sqlstore.Store) error { _, _, err := ts.JoinTeam(ctx, w); return err }
			}},
			{"PaySeat", func() func(ts *sqlstore.Store) error {
				_, leader := f.open(f.id("user"))
				w := f.payWrite(leader, f.id("key"))
				return func(ts *sqlstore.Store) error { _, err := ts.PaySeat(ctx, w); return err }
			}},
			{"ReleaseSeat", func() func(ts *sqlstore.Store) error {
				team, _ := f.open(f.id("user"))
				st := f.join(team.ID, f.id("user"))
				return func(ts *sqlstore.Store) error {
					_, err := ts.ReleaseSeat(ctx, &groupbuy.ReleaseSeatWrite{SeatID: st.ID, Now: t0})
					return err
				}
			}},
			{"UpdateRefund", func() func(ts *sqlstore.Store) error {
				st := refunding()
				return func(ts *sqlstore.Store) error {
					_, err := ts.UpdateRefund(ctx, &groupbuy.RefundWrite{SeatID: st.ID, From: groupbuy.SeatRefundRequested,
						To: groupbuy.SeatRefunded, Attempt: 1, Now: t0})
					return err
				}
			}},
			{"OpenTeam", func() func(ts *sqlstore.Store) error {
				g := lateCampaign()
				user := g.id("user")
				team := groupbuy.Team{ID: g.id("team"), CampaignID: g.c.ID, LeaderID: user, Capacity: g.c.TeamSize, SeatsTaken: 1,
					State: groupbuy.TeamForming, OpenedAt: t0, ExpiresAt: t0.Add(time.Hour), Version: 1}
				w := &groupbuy.OpenTeamWrite{Team: team, Leader: g.seat(team.ID, user, true), Now: t0,
					Events: []storage.Event{g.event(groupbuy.TopicTeamOpened, "open:"+team.ID)}}
				return func(ts *sqlstore.Store) error { return ts.OpenTeam(ctx, w) }
			}},
			{"MatchTeam", func() func(ts *sqlstore.Store) error {
				g := lateCampaign()
				w := g.matchWrite(g.id("user"), g.id("key"), groupbuy.MatchFullest)
				return func(ts *sqlstore.Store) error { _, _, err := ts.MatchTeam(ctx, w); return err }
			}},
			{"SetCampaignStatus", func() func(ts *sqlstore.Store) error {
				g := lateCampaign()
				return func(ts *sqlstore.Store) error {
					_, err := ts.SetCampaignStatus(ctx, g.c.ID, groupbuy.CampaignActive, groupbuy.CampaignPaused)
					return err
				}
			}},
			{"CreateCode", func() func(ts *sqlstore.Store) error {
				p := lateProgramme()
				return func(ts *sqlstore.Store) error {
					return ts.CreateCode(ctx, &referral.InviteCode{Code: f.id("CODE"), ProgrammeID: p, UserID: "u", CreatedAt: t0})
				}
			}},
			{"RevokeCode", func() func(ts *sqlstore.Store) error {
				code := &referral.InviteCode{Code: f.id("CODE"), ProgrammeID: lateProgramme(), UserID: "u", CreatedAt: t0}
				require.NoError(t, s.CreateCode(ctx, code))
				return func(ts *sqlstore.Store) error { _, err := ts.RevokeCode(ctx, code.Code, t0); return err }
			}},
			{"SetDistributor", func() func(ts *sqlstore.Store) error {
				p := lateProgramme()
				return func(ts *sqlstore.Store) error {
					_, err := ts.SetDistributor(ctx, &referral.DistributorWrite{From: referral.DistributorNone,
						Next: referral.Distributor{ProgrammeID: p, UserID: "u", State: referral.DistributorPending, AppliedAt: t0, UpdatedAt: t0}})
					return err
				}
			}},
			{"Bind", func() func(ts *sqlstore.Store) error {
				p := lateProgramme()
				return func(ts *sqlstore.Store) error {
					_, err := ts.Bind(ctx, &referral.BindWrite{Binding: referral.Binding{ProgrammeID: p, UserID: "u", ReferrerID: "r",
						Source: referral.SourceCode, BoundAt: t0}})
					return err
				}
			}},
		}
		for _, k := range cases {
			t.Run(k.name, func(t *testing.T) {
				tx, ts := snapshotTx(t, db, s, f.c.ID)

				write := k.late()
				if err := write(ts); err != nil {
					require.ErrorIs(t, err, storage.ErrConflict, "a write on rows newer than the snapshot")
					require.True(t, storage.IsRetryable(err), "%v", err)
				}
				require.NoError(t, tx.Rollback())

				// The host's rerun sees the rows.
				tx2, ts2 := repeatableRead(t, db, s)
				require.NoError(t, write(ts2), "the rerun")
				require.NoError(t, tx2.Commit())
			})
		}

		// Rows that exist nowhere are still not found, for good.
		_, ts := repeatableRead(t, db, s)
		requireNotFound(t, map[string]error{
			"CloseTeam": ts.CloseTeam(ctx, &groupbuy.CloseTeamWrite{TeamID: "no-such-team", Version: 1,
				State: groupbuy.TeamCancelled, Now: t0}),
			"UpdateRefund": second(ts.UpdateRefund(ctx, &groupbuy.RefundWrite{SeatID: "no-such-seat", From: groupbuy.SeatRefundRequested,
				To: groupbuy.SeatRefunded, Now: t0})),
			"JoinTeam":          third(ts.JoinTeam(ctx, f.joinWrite("no-such-team", "u"))),
			"SetCampaignStatus": second(ts.SetCampaignStatus(ctx, "no-such-campaign", groupbuy.CampaignActive, groupbuy.CampaignPaused)),
			"CreateCode":        ts.CreateCode(ctx, &referral.InviteCode{Code: "NOPROG", ProgrammeID: "no-such-programme", UserID: "u", CreatedAt: t0}),
			"RevokeCode":        second(ts.RevokeCode(ctx, "NO-SUCH-CODE", t0)),
			"PaySeat":           second(ts.PaySeat(ctx, f.payWrite(f.seat("no-such-team", "u", false), ""))),
		})
	})
}

// forEachSnapshotDB runs f as a subtest on PostgreSQL and on MySQL, each
// with a Store of its own. SQLite is left out: its host transaction holds
// the write lock, so that nothing commits after its snapshot.
func forEachSnapshotDB(t *testing.T, f func(t *testing.T, db *sql.DB, s *sqlstore.Store)) {
	t.Helper()
	for _, c := range dbs[:2] {
		t.Run(c.name, func(t *testing.T) {
			db := c.open(t)
			f(t, db, newStore(t, db, c.d))
		})
	}
}

// repeatableRead begins a REPEATABLE READ transaction on db, rolled back
// when the test ends unless committed, and returns s bound to it.
func repeatableRead(t *testing.T, db *sql.DB, s *sqlstore.Store) (*sql.Tx, *sqlstore.Store) {
	t.Helper()
	tx, err := db.BeginTx(t.Context(), &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })
	return tx, s.WithTx(tx)
}

// snapshotTx is repeatableRead with the transaction's snapshot taken, by a
// read of campaign id.
func snapshotTx(t *testing.T, db *sql.DB, s *sqlstore.Store, id string) (*sql.Tx, *sqlstore.Store) {
	t.Helper()
	tx, ts := repeatableRead(t, db, s)
	_, err := ts.GetCampaign(t.Context(), id)
	require.NoError(t, err)
	return tx, ts
}

// snapshotProgramme is a referral programme of the tests here.
func snapshotProgramme(id string, a referral.Approval) *referral.Programme {
	return &referral.Programme{ID: id, Policy: referral.PolicyFTC, Levels: 1, LevelRates: []float64{0.1},
		BindMode: referral.BindFirstTouch, SelfPurchase: referral.SelfPurchaseNone, Frozen: referral.FrozenSkipLevel,
		Approval: a, CreatedAt: t0}
}

// requireNotFound checks that each error, of a call on a row that does
// not exist, is a not-found that no rerun cures.
func requireNotFound(t *testing.T, errs map[string]error) {
	t.Helper()
	for name, err := range errs {
		require.True(t, errors.Is(err, groupbuy.ErrNotFound) || errors.Is(err, referral.ErrNotFound) ||
			errors.Is(err, referral.ErrCodeNotFound), "%s: %v", name, err)
		require.False(t, storage.IsRetryable(err), "%s: %v", name, err)
	}
}

func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }

// TestWithTxPreconditionNewerThanSnapshot: a write of a Store bound to a
// REPEATABLE READ host transaction whose precondition was changed by a
// commit after the transaction's snapshot, which still shows the
// precondition holding, must not answer from the snapshot nor from a read
// that misses the committed row: it answers as the latest rows say, or
// with a retryable conflict, for the host to rerun its transaction; not
// with a plain conflict, on which a Service re-reads the same snapshot and
// loses again.
func TestWithTxPreconditionNewerThanSnapshot(t *testing.T) {
	forEachSnapshotDB(t, func(t *testing.T, db *sql.DB, s *sqlstore.Store) {
		f := newFixture(t, s)
		ctx := t.Context()
		prog := snapshotProgramme("prog", referral.ApproveAuto)
		require.NoError(t, s.CreateProgramme(ctx, prog))
		dist := func(user string, from, to referral.DistributorState) *referral.DistributorWrite {
			return &referral.DistributorWrite{From: from,
				Next: referral.Distributor{ProgrammeID: prog.ID, UserID: user, State: to, AppliedAt: t0, UpdatedAt: t0}}
		}
		bind := func(user, referrer string, active bool) *referral.BindWrite {
			return &referral.BindWrite{Binding: referral.Binding{ProgrammeID: prog.ID, UserID: user, ReferrerID: referrer,
				Source: referral.SourceCode, BoundAt: t0}, RequireActiveReferrer: active}
		}
		attribution := func(order string) *referral.Attribution {
			return &referral.Attribution{ProgrammeID: prog.ID, OrderRef: order, BuyerID: "buyer", At: t0, CreatedAt: t0}
		}

		outcome := func() *groupbuy.IdempotencyRecord {
			return &groupbuy.IdempotencyRecord{Scope: "groupbuy.cancel", Key: "k1", Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: t0}
		}

		cases := []struct {
			name   string
			change func() // committed after the snapshot
			write  func(ts *sqlstore.Store) error
			now    error // the answer of the latest rows, or nil
		}{
			{"SetCampaignStatus", func() {
				_, err := s.SetCampaignStatus(ctx, f.c.ID, groupbuy.CampaignActive, groupbuy.CampaignPaused)
				require.NoError(t, err)
			}, func(ts *sqlstore.Store) error {
				_, err := ts.SetCampaignStatus(ctx, f.c.ID, groupbuy.CampaignActive, groupbuy.CampaignPaused)
				return err
			}, storage.ErrConflict},
			{"SetDistributor", func() {
				_, err := s.SetDistributor(ctx, dist("d1", referral.DistributorNone, referral.DistributorPending))
				require.NoError(t, err)
			}, func(ts *sqlstore.Store) error {
				_, err := ts.SetDistributor(ctx, dist("d1", referral.DistributorNone, referral.DistributorPending))
				return err
			}, storage.ErrConflict},
			{"BindActiveReferrer", func() {
				_, err := s.SetDistributor(ctx, dist("d2", referral.DistributorNone, referral.DistributorActive))
				require.NoError(t, err)
			}, func(ts *sqlstore.Store) error { _, err := ts.Bind(ctx, bind("u2", "d2", true)); return err }, nil},
			{"BindBound", func() {
				_, err := s.Bind(ctx, bind("u3", "r3", false))
				require.NoError(t, err)
			}, func(ts *sqlstore.Store) error {
				_, err := ts.Bind(ctx, bind("u3", "r4", false))
				return err
			}, referral.ErrAlreadyBound},
			{"RecordOutcome", func() {
				require.NoError(t, s.RecordOutcome(ctx, outcome(), nil))
			}, func(ts *sqlstore.Store) error {
				err := ts.RecordOutcome(ctx, outcome(), nil)
				if _, ok := errors.AsType[*groupbuy.ReplayError](err); ok {
					return nil // the latest rows' answer
				}
				return err
			}, nil},
			{"SaveAttribution", func() {
				_, created, err := s.SaveAttribution(ctx, attribution("o1"), nil)
				require.NoError(t, err)
				require.True(t, created)
			}, func(ts *sqlstore.Store) error {
				_, created, err := ts.SaveAttribution(ctx, attribution("o1"), nil)
				if err == nil && created {
					return errors.New("created a second attribution")
				}
				return err
			}, nil},
		}
		for _, k := range cases {
			t.Run(k.name, func(t *testing.T) {
				tx, ts := snapshotTx(t, db, s, f.c.ID)
				_, err := ts.GetProgramme(ctx, prog.ID)
				require.NoError(t, err)

				k.change()
				err = k.write(ts)
				switch {
				case storage.IsRetryable(err):
				case errors.Is(err, storage.ErrConflict):
					t.Fatalf("a plain conflict, on which a Service re-reads the snapshot: %v", err)
				case err != nil:
					require.Error(t, k.now, "%v", err)
					require.ErrorIs(t, err, k.now)
				}
				require.NoError(t, tx.Rollback())

				_, ts2 := repeatableRead(t, db, s)
				err = k.write(ts2)
				if k.now == nil {
					require.NoError(t, err, "the rerun")
				} else {
					require.ErrorIs(t, err, k.now, "the rerun")
					require.False(t, storage.IsRetryable(err), "the rerun: %v", err)
				}
			})
		}
	})
}

// TestWithTxServiceStaleConflictIsRetryable: a Service on a Store bound to
// a REPEATABLE READ host transaction returns the retryable conflict of a
// write that lost to a change committed after the snapshot, instead of
// re-reading the same snapshot until its re-reads run out and returning a
// plain ErrConflict that no host reruns: groupbuy's SetCampaignStatus (on
// MySQL; PostgreSQL's UPDATE fails retryably itself) and referral's
// distributor moves.
func TestWithTxServiceStaleConflictIsRetryable(t *testing.T) {
	forEachSnapshotDB(t, func(t *testing.T, db *sql.DB, s *sqlstore.Store) {
		ctx := t.Context()
		gb, err := groupbuy.New(s, groupbuy.Config{})
		require.NoError(t, err)
		ref, err := referral.New(s, referral.Config{})
		require.NoError(t, err)
		camp := newFixture(t, s).c
		_, err = ref.CreateProgramme(ctx, *snapshotProgramme("prog", referral.ApproveManual))
		require.NoError(t, err)

		// stale runs f on Services bound to a REPEATABLE READ transaction
		// whose snapshot is taken before change commits.
		stale := func(change func(), f func(gb *groupbuy.Service, ref *referral.Service) error) error {
			tx, ts := snapshotTx(t, db, s, camp.ID)
			defer func() { _ = tx.Rollback() }()
			tgb, err := groupbuy.New(ts, groupbuy.Config{})
			require.NoError(t, err)
			tref, err := referral.New(ts, referral.Config{})
			require.NoError(t, err)
			change()
			return f(tgb, tref)
		}

		err = stale(func() {
			_, err := gb.SetCampaignStatus(ctx, camp.ID, groupbuy.CampaignPaused)
			require.NoError(t, err)
		}, func(gb *groupbuy.Service, _ *referral.Service) error {
			_, err := gb.SetCampaignStatus(ctx, camp.ID, groupbuy.CampaignPaused)
			return err
		})
		require.True(t, storage.IsRetryable(err), "SetCampaignStatus: %v", err)

		_, err = ref.Apply(ctx, "prog", "d1")
		require.NoError(t, err)
		err = stale(func() {
			_, err := ref.Approve(ctx, "prog", "d1", "ops", "ok")
			require.NoError(t, err)
		}, func(_ *groupbuy.Service, ref *referral.Service) error {
			_, err := ref.Reject(ctx, "prog", "d1", "ops", "no")
			return err
		})
		require.True(t, storage.IsRetryable(err), "Reject of an approved application: %v", err)
	})
}

// TestWithTxReadNewerThanSnapshot: a read of a Store bound to a REPEATABLE
// READ host transaction, of a row committed after the transaction's
// snapshot, comes back a retryable conflict, not the snapshot's not-found:
// the Services read before they write (CancelTeam reads the team,
// CancelReservation the seat), and answered ErrNotFound for rows that
// exist, whatever the Store's writes would have said. A row that does not
// exist is still not found, and not retryable.
func TestWithTxReadNewerThanSnapshot(t *testing.T) {
	forEachSnapshotDB(t, func(t *testing.T, db *sql.DB, s *sqlstore.Store) {
		f := newFixture(t, s)
		ctx := t.Context()
		cfg := groupbuy.Config{Now: func() time.Time { return t0 }}

		tx, ts := snapshotTx(t, db, s, f.c.ID)

		// After the snapshot:
		g := newFixture(t, s, func(c *groupbuy.Campaign) { c.ID = f.id("camp") })
		team, leader := f.open(f.id("user"))
		member := f.join(team.ID, "member")
		prog := snapshotProgramme("prog", referral.ApproveAuto)
		require.NoError(t, s.CreateProgramme(ctx, prog))
		code := &referral.InviteCode{Code: "LATE", ProgrammeID: prog.ID, UserID: "u", CreatedAt: t0}
		require.NoError(t, s.CreateCode(ctx, code))

		svc, err := groupbuy.New(ts, cfg)
		require.NoError(t, err)
		newer := map[string]error{
			"GetCampaign":       second(ts.GetCampaign(ctx, g.c.ID)),
			"GetTeam":           second(ts.GetTeam(ctx, team.ID)),
			"GetSeat":           second(ts.GetSeat(ctx, leader.ID)),
			"TeamSeats":         second(ts.TeamSeats(ctx, team.ID)),
			"GetProgramme":      second(ts.GetProgramme(ctx, prog.ID)),
			"GetCode":           second(ts.GetCode(ctx, code.Code)),
			"CancelTeam":        second(svc.CancelTeam(ctx, team.ID, "gone")),
			"CancelReservation": second(svc.CancelReservation(ctx, member.ID, member.UserID)),
		}
		for name, err := range newer {
			require.ErrorIs(t, err, storage.ErrConflict, name)
			require.True(t, storage.IsRetryable(err), "%s: %v", name, err)
		}
		requireNotFound(t, map[string]error{
			"GetCampaign":  second(ts.GetCampaign(ctx, "no-such-campaign")),
			"GetTeam":      second(ts.GetTeam(ctx, "no-such-team")),
			"GetSeat":      second(ts.GetSeat(ctx, "no-such-seat")),
			"TeamSeats":    second(ts.TeamSeats(ctx, "no-such-team")),
			"GetProgramme": second(ts.GetProgramme(ctx, "no-such-programme")),
			"GetCode":      second(ts.GetCode(ctx, "NO-SUCH-CODE")),
		})
		require.NoError(t, tx.Rollback())

		// The host's rerun sees the rows.
		tx2, ts2 := repeatableRead(t, db, s)
		svc, err = groupbuy.New(ts2, cfg)
		require.NoError(t, err)
		_, err = svc.CancelReservation(ctx, member.ID, member.UserID)
		require.NoError(t, err)
		_, err = svc.CancelTeam(ctx, team.ID, "gone")
		require.NoError(t, err)
		require.NoError(t, tx2.Commit())
	})
}
