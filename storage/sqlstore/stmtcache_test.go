package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
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
		for round := 2; round < 12; round++ {
			groupBuyRound(ctx, t, s, round)
		}
		t.Logf("%d statements prepared", sqlstore.PreparedStatements(s))
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

// sessionStatus returns a counter of MySQL's session status on db, whose
// pool has one connection.
func sessionStatus(t *testing.T, db *sql.DB, name string) int {
	var (
		got string
		n   int
	)
	require.NoError(t, db.QueryRowContext(t.Context(), `SHOW SESSION STATUS LIKE '`+name+`'`).Scan(&got, &n))
	return n
}

// Close releases the prepared statements (on MySQL the server hears of
// each); the Store still works, sending its statements as text. Close on a
// Store from WithTx leaves the statements alone.
func TestCloseReleasesStatements(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		db.SetMaxOpenConns(1) // one session, whose counters tell what it did
		ctx := t.Context()
		groupBuyRound(ctx, t, s, 1)
		groupBuyRound(ctx, t, s, 2)
		prepared := sqlstore.PreparedStatements(s)

		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		require.NoError(t, s.WithTx(tx).Close())
		require.NoError(t, tx.Rollback())
		require.Equal(t, prepared, sqlstore.PreparedStatements(s), "Close through WithTx")

		closed := 0
		if d == sqlstore.MySQL {
			closed = sessionStatus(t, db, "Com_stmt_close")
		}
		require.NoError(t, s.Close())
		require.Zero(t, sqlstore.PreparedStatements(s))
		if d == sqlstore.MySQL {
			require.Greater(t, prepared, 10)
			require.GreaterOrEqual(t, sessionStatus(t, db, "Com_stmt_close")-closed, prepared, "statements closed on the server")
		}
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

// twoPools opens two *sql.DB on one database: MySQL's test database, or
// one SQLite file.
func twoPools(t *testing.T, d sqlstore.Dialect) (*sql.DB, *sql.DB) {
	if d == sqlstore.MySQL {
		return openMySQL(t), openMySQL(t)
	}
	dsn := "file:" + filepath.Join(t.TempDir(), "two.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	return openAndPing(t, "sqlite", dsn), openAndPing(t, "sqlite", dsn)
}

// stmtCounts returns how many statements MySQL has prepared and executed
// on tx's connection.
func stmtCounts(t *testing.T, tx *sql.Tx) (prepared, executed int) {
	var name string
	rows, err := tx.QueryContext(t.Context(), `SHOW SESSION STATUS WHERE Variable_name IN ('Com_stmt_prepare', 'Com_stmt_execute')`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var n int
		require.NoError(t, rows.Scan(&name, &n))
		if name == "Com_stmt_prepare" {
			prepared = n
		} else {
			executed = n
		}
	}
	require.NoError(t, rows.Err())
	return prepared, executed
}

// In the host's transaction a Store uses its prepared statements when the
// transaction comes from the Store's own *sql.DB, and sends text when it
// comes from another (database/sql refuses the statements there before
// sending anything; errForeignTx pins its message).
func TestWithTxOfAnotherDB(t *testing.T) {
	for _, d := range []sqlstore.Dialect{sqlstore.MySQL, sqlstore.SQLite} {
		t.Run(d.String(), func(t *testing.T) {
			own, other := twoPools(t, d)
			ctx := t.Context()
			// A Store used only in host transactions prepares its
			// statements too, on the pool's idle connections.
			only := newStore(t, own, d)
			for round := range 2 {
				tx, err := own.BeginTx(ctx, nil)
				require.NoError(t, err)
				groupBuyRound(ctx, t, only.WithTx(tx), round)
				require.NoError(t, tx.Commit())
			}
			require.Greater(t, sqlstore.PreparedStatements(only), 10)

			s, prefix := newStorePrefixed(t, own, d)
			groupBuyRound(ctx, t, s, 1) // prepares the statements
			groupBuyRound(ctx, t, s, 2)

			tx, err := own.BeginTx(ctx, nil)
			require.NoError(t, err)
			groupBuyRound(ctx, t, s.WithTx(tx), 3) // prepares them on tx's connection
			if d == sqlstore.MySQL {
				// Sent as text, each statement with arguments would be
				// prepared again (go-sql-driver/mysql's default DSN).
				p0, e0 := stmtCounts(t, tx)
				groupBuyRound(ctx, t, s.WithTx(tx), 33)
				p1, e1 := stmtCounts(t, tx)
				require.GreaterOrEqual(t, e1-e0, 20, "statements executed")
				// Only the outbox's IN lists (Claim's locking read by
				// keys under WithTx, its UPDATE and SELECT, Ack's read of
				// the IDs under WithTx and its DELETE) run as text.
				require.LessOrEqual(t, p1-p0, 5, "statements prepared again")
			}
			require.NoError(t, tx.Commit())

			tx, err = other.BeginTx(ctx, nil)
			require.NoError(t, err)
			groupBuyRound(ctx, t, s.WithTx(tx), 4)
			require.NoError(t, tx.Commit())

			// Both rounds committed; the plain Store still uses its
			// statements after the foreign transaction.
			groupBuyRound(ctx, t, s, 5)
			rounds := 5
			if d == sqlstore.MySQL {
				rounds++ // round 33
			}
			var teams int
			require.NoError(t, own.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+prefix+`teams WHERE state = 'succeeded'`).Scan(&teams))
			require.Equal(t, rounds, teams)
		})
	}
}
