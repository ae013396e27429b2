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

// TestWithTxCancelledWriteLeavesNothing: a write under WithTx whose ctx
// ends between two of its statements (here in OnFill, after the filling
// payment's UPDATE and before its events) fails, and the host's
// transaction, which lives on under the host's own ctx, holds nothing of
// it. The savepoint used to be rolled back on the write's ctx, which had
// ended, so the rollback was never sent: a host that went on and
// committed stored a succeeded team without its TeamSucceeded event
// (PostgreSQL, whose payment and completion under WithTx share one
// savepoint: a paid seat without its completion).
func TestWithTxCancelledWriteLeavesNothing(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		ctx, cancel := context.WithCancel(t.Context())
		team, bob, host, w := fillingPayInHostTx(t, db, s, cancel) // the request's ctx ends mid-write
		_, err := s.WithTx(host).PaySeat(ctx, w)
		require.ErrorIs(t, err, context.Canceled)
		require.NoError(t, host.Commit(), "the host goes on and commits its own work")

		got, err := s.GetTeam(t.Context(), team.ID)
		require.NoError(t, err)
		assert.Equal(t, groupbuy.TeamForming, got.State, "the payment was not applied")
		assert.Equal(t, 1, got.SeatsPaid)
		seat, err := s.GetSeat(t.Context(), bob.ID)
		require.NoError(t, err)
		assert.Equal(t, groupbuy.SeatReserved, seat.State)
		assert.Empty(t, drain(t, s))
	})
}

// TestWithTxSlowWriteReleasesSavepoint: a write under WithTx that takes
// longer than the savepoint's end timeout (here OnFill, between the
// filling payment's statements, outlasts it) succeeds and its changes are
// the host's to commit. The timeout's clock used to start with the
// savepoint, before the write ran, so the RELEASE of a write that had
// waited that long (on a row lock, say) was never sent: the write came
// back as an error while all of it stayed in the host's transaction.
func TestWithTxSlowWriteReleasesSavepoint(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		sqlstore.SetSavepointEndTimeout(s, 300*time.Millisecond)
		team, _, host, w := fillingPayInHostTx(t, db, s, func() {
			time.Sleep(time.Second) // the write outlasts the savepoint's end timeout
		})
		res, err := s.WithTx(host).PaySeat(t.Context(), w)
		require.NoError(t, err)
		assert.True(t, res.Filled)
		require.NoError(t, host.Commit())

		got, err := s.GetTeam(t.Context(), team.ID)
		require.NoError(t, err)
		assert.Equal(t, groupbuy.TeamSucceeded, got.State)
	})
}

// fillingPayInHostTx sets up a team of 2 whose leader paid, begins a host
// transaction (rolled back at the test's end unless committed) and
// returns the write of the filling payment of bob's seat, whose OnFill
// calls during first: between the payment's statements.
func fillingPayInHostTx(t *testing.T, db *sql.DB, s *sqlstore.Store, during func()) (groupbuy.Team, groupbuy.Seat, *sql.Tx, *groupbuy.PaySeatWrite) {
	t.Helper()
	f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 2 })
	team, alice := f.open("alice")
	bob := f.join(team.ID, "bob")
	_, err := s.PaySeat(t.Context(), f.payWrite(alice, ""))
	require.NoError(t, err)
	drain(t, s)

	host, err := db.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = host.Rollback() })
	w := f.payWrite(bob, "")
	onFill := w.OnFill
	w.OnFill = func(team *groupbuy.Team, seats []groupbuy.Seat) []storage.Event {
		during()
		return onFill(team, seats)
	}
	return team, bob, host, w
}
