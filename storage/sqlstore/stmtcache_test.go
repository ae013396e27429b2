package sqlstore_test

import (
	"context"
	"database/sql"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// groupBuyRound opens a team of two, joins and pays both seats (the team
// succeeds), and drains the outbox, through a Service on s.
func groupBuyRound(ctx context.Context, t *testing.T, s *sqlstore.Store, round int) {
	t.Helper()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	n := 0
	svc, err := groupbuy.New(s, groupbuy.Config{
		Now:   func() time.Time { return now },
		NewID: func() string { n++; return "r" + strconv.Itoa(round) + "-" + strconv.Itoa(n) },
	})
	require.NoError(t, err)
	campaign := "c" + strconv.Itoa(round)
	_, err = svc.CreateCampaign(ctx, groupbuy.Campaign{
		ID: campaign, ProductRef: "spu", Currency: "CNY",
		Prices:   []groupbuy.SKUPrice{{SKU: "s", Price: decimal.RequireFromString("9.90")}},
		TeamSize: 2, TeamLifetime: time.Hour, ReservationTTL: 15 * time.Minute,
		StartsAt: now, EndsAt: now.Add(24 * time.Hour), Status: groupbuy.CampaignActive,
		Limits:      groupbuy.Limits{MaxTeamsOpenedPerUser: 3, MaxTeamsJoinedPerUser: 3},
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
	})
	require.NoError(t, err)
	opened, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: campaign, UserID: "alice", SKU: "s"})
	require.NoError(t, err)
	joined, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: campaign, TeamID: opened.Team.ID, UserID: "bob", SKU: "s"})
	require.NoError(t, err)
	for i, r := range []groupbuy.SeatResult{opened, joined} {
		_, err := svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{TeamID: r.Team.ID,
			SeatID: r.Seat.ID, PaymentRef: "pay-" + strconv.Itoa(round) + "-" + strconv.Itoa(i),
			Amount: r.Seat.Amount, Currency: "CNY",
		})
		require.NoError(t, err)
	}
	team, err := svc.Team(ctx, opened.Team.ID)
	require.NoError(t, err)
	require.Equal(t, groupbuy.TeamSucceeded, team.Team.State)
	evs, err := s.Claim(ctx, 100, time.Minute)
	require.NoError(t, err)
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	require.NoError(t, s.Ack(ctx, ids))
}

// With one connection in the pool, a statement first used inside the
// Store's own transaction must not be prepared there on the pool: that
// would wait for the connection the transaction holds. The rounds finish,
// and from the second on the commands run on prepared statements (on MySQL
// and SQLite; PostgreSQL's driver keeps its own).
func TestPreparedStatementsOneConnection(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		db.SetMaxOpenConns(1)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		groupBuyRound(ctx, t, s, 1)
		first := sqlstore.PreparedStatements(s)
		groupBuyRound(ctx, t, s, 2)
		groupBuyRound(ctx, t, s, 3)
		if d == sqlstore.Postgres {
			require.Zero(t, sqlstore.PreparedStatements(s))
			return
		}
		// The first round's transactions want their statements prepared;
		// the next round's transactions prepare them before they begin.
		require.Greater(t, sqlstore.PreparedStatements(s), first)
		require.Greater(t, sqlstore.PreparedStatements(s), 10)
		require.Less(t, sqlstore.PreparedStatements(s), 96)
	})
}

// Close releases the prepared statements; the Store still works, sending
// its statements as text.
func TestCloseReleasesStatements(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		ctx := t.Context()
		groupBuyRound(ctx, t, s, 1)
		groupBuyRound(ctx, t, s, 2)
		require.NoError(t, s.Close())
		require.Zero(t, sqlstore.PreparedStatements(s))
		groupBuyRound(ctx, t, s, 3)
		require.Zero(t, sqlstore.PreparedStatements(s))
		require.NoError(t, s.Close(), "Close twice")
	})
}

// A read before Migrate fails to prepare (no table yet); Migrate lets it be
// prepared once the tables exist.
func TestStatementsPreparedAfterMigrate(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		prefix := randomPrefix()
		s, err := sqlstore.New(db, d, sqlstore.WithTablePrefix(prefix))
		require.NoError(t, err)
		t.Cleanup(func() { dropTables(t, db, d, prefix) })
		ctx := t.Context()
		_, err = s.GetTeam(ctx, "team-1")
		require.Error(t, err)
		require.NotErrorIs(t, err, groupbuy.ErrNotFound)
		require.Zero(t, sqlstore.PreparedStatements(s))
		require.NoError(t, s.Migrate(ctx))
		_, err = s.GetTeam(ctx, "team-1")
		require.ErrorIs(t, err, groupbuy.ErrNotFound)
		if d != sqlstore.Postgres {
			require.Equal(t, 1, sqlstore.PreparedStatements(s))
		}
	})
}
