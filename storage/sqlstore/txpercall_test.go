package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// txPerCall is a groupbuy.Store that runs every call in a host transaction
// of its own, through Store.WithTx, and commits it even when the call
// failed: a failed write must have left the transaction as it found it. A
// call that fails retryably is rerun in a new transaction, as a host would.
// It is how the conformance suite exercises the savepoints on every
// dialect, with PostgreSQL's single statements and the other dialects'
// lock-first statements inside a host transaction.
type txPerCall struct {
	t  *testing.T
	db *sql.DB
	s  *sqlstore.Store
}

var _ groupbuy.Store = (*txPerCall)(nil)

func inTx[T any](ctx context.Context, w *txPerCall, f func(s *sqlstore.Store) (T, error)) (T, error) {
	for attempt := 0; ; attempt++ {
		var zero T
		tx, err := w.db.BeginTx(ctx, nil)
		if err != nil {
			return zero, err
		}
		v, err := f(w.s.WithTx(tx))
		if storage.IsRetryable(err) && attempt < 50 {
			_ = tx.Rollback()
			time.Sleep(time.Duration(attempt+1) * time.Millisecond)
			continue
		}
		if cerr := tx.Commit(); cerr != nil {
			w.t.Errorf("commit after %v: %v", err, cerr)
			return zero, cerr
		}
		return v, err
	}
}

func inTx0(ctx context.Context, w *txPerCall, f func(s *sqlstore.Store) error) error {
	_, err := inTx(ctx, w, func(s *sqlstore.Store) (struct{}, error) { return struct{}{}, f(s) })
	return err
}

func (w *txPerCall) CreateCampaign(ctx context.Context, c *groupbuy.Campaign) error {
	return inTx0(ctx, w, func(s *sqlstore.Store) error { return s.CreateCampaign(ctx, c) })
}

func (w *txPerCall) SetCampaignStatus(ctx context.Context, id string, from, to groupbuy.CampaignStatus) (groupbuy.Campaign, error) {
	return inTx(ctx, w, func(s *sqlstore.Store) (groupbuy.Campaign, error) { return s.SetCampaignStatus(ctx, id, from, to) })
}

func (w *txPerCall) GetCampaign(ctx context.Context, id string) (groupbuy.Campaign, error) {
	return inTx(ctx, w, func(s *sqlstore.Store) (groupbuy.Campaign, error) { return s.GetCampaign(ctx, id) })
}

func (w *txPerCall) OpenTeam(ctx context.Context, wr *groupbuy.OpenTeamWrite) error {
	return inTx0(ctx, w, func(s *sqlstore.Store) error { return s.OpenTeam(ctx, wr) })
}

type teamSeat struct {
	t groupbuy.Team
	s groupbuy.Seat
}

func (w *txPerCall) MatchTeam(ctx context.Context, wr *groupbuy.MatchTeamWrite) (groupbuy.Team, groupbuy.Seat, error) {
	ts, err := inTx(ctx, w, func(s *sqlstore.Store) (teamSeat, error) {
		t, st, err := s.MatchTeam(ctx, wr)
		return teamSeat{t, st}, err
	})
	return ts.t, ts.s, err
}

func (w *txPerCall) JoinTeam(ctx context.Context, wr *groupbuy.JoinTeamWrite) (groupbuy.Team, groupbuy.Seat, error) {
	ts, err := inTx(ctx, w, func(s *sqlstore.Store) (teamSeat, error) {
		t, st, err := s.JoinTeam(ctx, wr)
		return teamSeat{t, st}, err
	})
	return ts.t, ts.s, err
}

func (w *txPerCall) PaySeat(ctx context.Context, wr *groupbuy.PaySeatWrite) (groupbuy.PaySeatResult, error) {
	return inTx(ctx, w, func(s *sqlstore.Store) (groupbuy.PaySeatResult, error) { return s.PaySeat(ctx, wr) })
}

func (w *txPerCall) ReleaseSeat(ctx context.Context, wr *groupbuy.ReleaseSeatWrite) (groupbuy.Seat, error) {
	return inTx(ctx, w, func(s *sqlstore.Store) (groupbuy.Seat, error) { return s.ReleaseSeat(ctx, wr) })
}

func (w *txPerCall) CloseTeam(ctx context.Context, wr *groupbuy.CloseTeamWrite) error {
	return inTx0(ctx, w, func(s *sqlstore.Store) error { return s.CloseTeam(ctx, wr) })
}

func (w *txPerCall) UpdateRefund(ctx context.Context, wr *groupbuy.RefundWrite) (groupbuy.Seat, error) {
	return inTx(ctx, w, func(s *sqlstore.Store) (groupbuy.Seat, error) { return s.UpdateRefund(ctx, wr) })
}

func (w *txPerCall) RecordOutcome(ctx context.Context, idem *groupbuy.IdempotencyRecord, events []storage.Event) error {
	return inTx0(ctx, w, func(s *sqlstore.Store) error { return s.RecordOutcome(ctx, idem, events) })
}

func (w *txPerCall) GetTeam(ctx context.Context, id string) (groupbuy.Team, error) {
	return inTx(ctx, w, func(s *sqlstore.Store) (groupbuy.Team, error) { return s.GetTeam(ctx, id) })
}

func (w *txPerCall) TeamSeats(ctx context.Context, teamID string) ([]groupbuy.Seat, error) {
	return inTx(ctx, w, func(s *sqlstore.Store) ([]groupbuy.Seat, error) { return s.TeamSeats(ctx, teamID) })
}

func (w *txPerCall) GetSeat(ctx context.Context, id string) (groupbuy.Seat, error) {
	return inTx(ctx, w, func(s *sqlstore.Store) (groupbuy.Seat, error) { return s.GetSeat(ctx, id) })
}

func (w *txPerCall) OpenTeams(ctx context.Context, campaignID string, now time.Time, order groupbuy.MatchStrategy, limit int) ([]groupbuy.Team, error) {
	return inTx(ctx, w, func(s *sqlstore.Store) ([]groupbuy.Team, error) {
		return s.OpenTeams(ctx, campaignID, now, order, limit)
	})
}

func (w *txPerCall) UserSeats(ctx context.Context, userID string, after groupbuy.SeatPosition, limit int) ([]groupbuy.Seat, error) {
	return inTx(ctx, w, func(s *sqlstore.Store) ([]groupbuy.Seat, error) { return s.UserSeats(ctx, userID, after, limit) })
}

func (w *txPerCall) DueReservations(ctx context.Context, now time.Time, limit int) ([]groupbuy.Seat, error) {
	return inTx(ctx, w, func(s *sqlstore.Store) ([]groupbuy.Seat, error) { return s.DueReservations(ctx, now, limit) })
}

func (w *txPerCall) DueTeams(ctx context.Context, now time.Time, limit int) ([]groupbuy.Team, error) {
	return inTx(ctx, w, func(s *sqlstore.Store) ([]groupbuy.Team, error) { return s.DueTeams(ctx, now, limit) })
}

func (w *txPerCall) GetIdempotency(ctx context.Context, scope, key string) (groupbuy.IdempotencyRecord, error) {
	return inTx(ctx, w, func(s *sqlstore.Store) (groupbuy.IdempotencyRecord, error) {
		return s.GetIdempotency(ctx, scope, key)
	})
}

// On PostgreSQL a command runs as its single statement under a savepoint
// of the host's transaction. Under REPEATABLE READ, a team changed since
// the transaction's snapshot fails the statement with a serialization
// failure, which comes back retryable and leaves the transaction usable
// up to the savepoint; a rerun in a new transaction succeeds.
func TestWithTxRepeatableReadPostgres(t *testing.T) {
	db := openPostgres(t)
	s := newStore(t, db, sqlstore.Postgres)
	f := newFixture(t, s)
	ctx := t.Context()
	team, _ := f.open("leader")

	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	var one int
	require.NoError(t, tx.QueryRowContext(ctx, `SELECT 1`).Scan(&one)) // the snapshot
	f.join(team.ID, "early")                                           // changes the team since

	w := f.joinWrite(team.ID, "late")
	_, _, err = s.WithTx(tx).JoinTeam(ctx, w)
	require.Error(t, err)
	require.True(t, storage.IsRetryable(err), "%v", err)
	require.NoError(t, tx.QueryRowContext(ctx, `SELECT 1`).Scan(&one), "the host's transaction is still usable")
	require.NoError(t, tx.Rollback())

	tx, err = db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	require.NoError(t, err)
	got, _, err := s.WithTx(tx).JoinTeam(ctx, w)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())
	require.Equal(t, 3, got.SeatsTaken)
}

// TestWithTxFailedPayLeavesTxUnchanged: a payment under WithTx whose
// completion of the team it filled fails (here TeamSucceeded's ID is
// taken) returns the error and leaves the host's transaction as it was:
// the seat is still reserved in it, on every dialect. In autocommit
// PostgreSQL keeps the payment (TestFillingPayCompletionConflict).
func TestWithTxFailedPayLeavesTxUnchanged(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		f, team, bob, w := failingCompletion(t, s)

		tx, err := db.BeginTx(t.Context(), nil)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback() }()
		in := s.WithTx(tx)
		_, payErr := in.PaySeat(t.Context(), w)
		require.Error(t, payErr)
		got, err := in.GetSeat(t.Context(), bob.ID)
		require.NoError(t, err, "the host's transaction is usable")
		require.Equal(t, groupbuy.SeatReserved, got.State, "the failed PaySeat (%v) left the seat paid in the host's transaction", payErr)
		tm, err := in.GetTeam(t.Context(), team.ID)
		require.NoError(t, err)
		require.Equal(t, 1, tm.SeatsPaid)
		require.NoError(t, tx.Commit())

		// Paid again, with a usable event, the team succeeds once.
		res, err := s.PaySeat(t.Context(), fillWrite(f, bob, f.id("ev")))
		require.NoError(t, err)
		require.True(t, res.Filled)
	})
}

// TestFillingPayStaleSnapshotWithTx is TestFillingPayStaleSnapshot with the
// completing payment in a host transaction: its first statement fails on
// purpose inside the payment's savepoint, which is rolled back to before
// the plain payment and the completion run in the same transaction.
func TestFillingPayStaleSnapshotWithTx(t *testing.T) {
	db := openPostgres(t)
	s := newStore(t, db, sqlstore.Postgres)
	f, team, carol, tx := staleFill(t, db, s)

	host, err := db.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	defer func() { _ = host.Rollback() }()
	sqlstore.MarkLastPay(s, team.ID)
	w := fillWrite(f, carol, f.id("ev"))
	n := s.RoundTrips()
	done := payWaitingForLock(t, db, s.WithTx(host), w)
	require.NoError(t, tx.Commit())
	got := <-done
	require.NoError(t, got.err)
	require.NoError(t, host.Commit())
	// SAVEPOINT, the completing statement (stale), ROLLBACK TO, the plain
	// payment, the completion under a savepoint of its own (3), RELEASE.
	assert.Equal(t, int64(8), s.RoundTrips()-n, "statements")
	checkFilled(t, s, got.res, team.ID, w.FillEventID(), w.Now)
}

// TestWithTxLosingIsRetryable: under WithTx a write whose guard fails while
// the diagnosis, reading the host's older snapshot, finds every
// precondition holding (MySQL's REPEATABLE READ: the team filled after the
// host's first read) returns ErrConflict marked retryable; the host's rerun
// then gets the true answer, ErrTeamFull.
func TestWithTxLosingIsRetryable(t *testing.T) {
	db := openMySQL(t)
	s := newStore(t, db, sqlstore.MySQL)
	f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 2 })
	team, _ := f.open("alice")

	tx, err := db.BeginTx(t.Context(), nil) // REPEATABLE READ, MySQL's default
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	in := s.WithTx(tx)
	_, err = in.GetTeam(t.Context(), team.ID) // the snapshot: one seat taken
	require.NoError(t, err)
	f.join(team.ID, "bob") // fills the team, committed meanwhile

	_, _, err = in.JoinTeam(t.Context(), f.joinWrite(team.ID, "carol"))
	require.ErrorIs(t, err, storage.ErrConflict)
	require.True(t, storage.IsRetryable(err), "a host's rerun may tell: %v", err)
	require.NoError(t, tx.Rollback())

	tx, err = db.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	_, _, err = s.WithTx(tx).JoinTeam(t.Context(), f.joinWrite(team.ID, "carol"))
	require.ErrorIs(t, err, groupbuy.ErrTeamFull, "the rerun")
}
