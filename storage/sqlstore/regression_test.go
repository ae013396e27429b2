package sqlstore_test

import (
	"context"
	"database/sql"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/memory"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// nsClock is a hand-driven clock whose times carry nanoseconds, as
// time.Now's do: the Service's default clock.
type nsClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *nsClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *nsClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *nsClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// nsCampaign is a Service on store whose clock (returned) starts at t0,
// with campaign "camp": SKU "a" at 9.90 CNY, teams of size for an hour,
// reservations of 15 minutes.
func nsCampaign(t *testing.T, store groupbuy.Store, t0 time.Time, size int) (*groupbuy.Service, *nsClock) {
	t.Helper()
	clk := &nsClock{t: t0}
	n := 0
	svc, err := groupbuy.New(store, groupbuy.Config{
		Now:   clk.Now,
		NewID: func() string { n++; return "q" + strconv.Itoa(n) },
	})
	require.NoError(t, err)
	_, err = svc.CreateCampaign(context.Background(), groupbuy.Campaign{
		ID: "camp", ProductRef: "spu", Currency: "CNY",
		Prices:   []groupbuy.SKUPrice{{SKU: "a", Price: decimal.RequireFromString("9.90")}},
		TeamSize: size, TeamLifetime: time.Hour, ReservationTTL: 15 * time.Minute,
		StartsAt: t0.Add(-time.Hour).Truncate(time.Second), EndsAt: t0.Add(48 * time.Hour).Truncate(time.Second),
		Status:      groupbuy.CampaignActive,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
	})
	require.NoError(t, err)
	return svc, clk
}

// TestDeadlinesKeepTheirFullPeriod: a reservation (and a team) lasts
// its full TTL (lifetime) on every store. The Service computes deadlines
// from a clock with nanoseconds; the SQL stores keep microseconds and
// truncate, so a deadline that is not a whole microsecond ended up to
// 999 ns early there, and a payment made within the reservation, which the
// memory store pays, was handled as late (refunded) on SQL.
func TestDeadlinesKeepTheirFullPeriod(t *testing.T) {
	run := func(t *testing.T, store groupbuy.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 27, 12, 0, 0, 123456700, time.UTC) // 700 ns past a microsecond
		svc, clk := nsCampaign(t, store, t0, 3)
		opened, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "camp", UserID: "alice", SKU: "a"})
		require.NoError(t, err)

		// 200 ns before the reservation's full TTL has run.
		clk.Set(t0.Add(15*time.Minute - 200*time.Nanosecond))
		paid, err := svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{
			TeamID: opened.Team.ID, SeatID: opened.Seat.ID, PaymentRef: "pay-1",
			Amount: opened.Seat.Amount, Currency: "CNY",
		})
		require.NoError(t, err)
		require.Nil(t, paid.Late, "a payment within the reservation's TTL is on time")
		require.Equal(t, groupbuy.SeatPaid, paid.Seat.State)

		// The team lasts its full lifetime too: bob's reservation ends with it.
		clk.Set(t0.Add(50 * time.Minute))
		joined, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "camp", TeamID: opened.Team.ID, UserID: "bob", SKU: "a"})
		require.NoError(t, err)
		clk.Set(t0.Add(time.Hour - 200*time.Nanosecond))
		paid, err = svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{
			TeamID: opened.Team.ID, SeatID: joined.Seat.ID, PaymentRef: "pay-2",
			Amount: joined.Seat.Amount, Currency: "CNY",
		})
		require.NoError(t, err)
		require.Nil(t, paid.Late, "a payment within the team's lifetime is on time")
	}
	t.Run("memory", func(t *testing.T) { run(t, memory.New()) })
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		run(t, newStore(t, db, d))
	})
}

// TestLeaseNotCutShort: an event claimed with a lease is not handed
// to another claimer before the lease ends by the Store's clock, also when
// that clock has nanoseconds (time.Now, the default). The SQL stores keep
// lease_until in microseconds and truncated it, so the event came back up
// to 999 ns early: with a lease under a microsecond, to a second claimer at
// the very instant of the first claim.
func TestLeaseNotCutShort(t *testing.T) {
	run := func(t *testing.T, clk *nsClock, gb groupbuy.Store, ob storage.Outbox) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 27, 12, 0, 0, 123456200, time.UTC) // 200 ns past a microsecond
		clk.Set(t0)
		rec := &groupbuy.IdempotencyRecord{Scope: "review.q", Key: "k1", Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: t0}
		ev := storage.Event{ID: "ev-q1", Topic: "review.q", Key: "q:1", Payload: []byte(`{}`), CreatedAt: t0}
		require.NoError(t, gb.RecordOutcome(ctx, rec, []storage.Event{ev}))

		got, err := ob.Claim(ctx, 10, 500*time.Nanosecond)
		require.NoError(t, err)
		require.Len(t, got, 1)
		got, err = ob.Claim(ctx, 10, time.Minute)
		require.NoError(t, err)
		require.Empty(t, got, "the lease of 500 ns has not ended: a second claimer at the same instant gets nothing")

		clk.Set(t0.Add(time.Microsecond)) // the first lease has ended
		got, err = ob.Claim(ctx, 10, time.Minute)
		require.NoError(t, err)
		require.Len(t, got, 1, "the lease ended")
		clk.Set(t0.Add(time.Microsecond + time.Minute - 100*time.Nanosecond))
		got, err = ob.Claim(ctx, 10, time.Minute)
		require.NoError(t, err)
		require.Empty(t, got, "100 ns before the lease of a minute ends")
		clk.Set(t0.Add(2*time.Microsecond + time.Minute))
		got, err = ob.Claim(ctx, 10, time.Minute)
		require.NoError(t, err)
		require.Len(t, got, 1, "the lease ended")
		require.Equal(t, 3, got[0].Attempts)
	}
	t.Run("memory", func(t *testing.T) {
		clk := &nsClock{}
		s := memory.New(memory.WithClock(clk.Now))
		run(t, clk, s, s)
	})
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		clk := &nsClock{}
		s := newStore(t, db, d, sqlstore.WithClock(clk.Now))
		run(t, clk, s, s)
	})
}

// TestOpenTeamsAtZeroTime: OpenTeams lists the forming teams with a
// free seat whose ExpiresAt is after now; every team's ExpiresAt is after
// the zero time, so at the zero time it lists them all, as the memory
// store does. The SQL stores sent the zero time as NULL, which no
// comparison holds, and listed none.
func TestOpenTeamsAtZeroTime(t *testing.T) {
	run := func(t *testing.T, store groupbuy.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		n := 0
		svc, err := groupbuy.New(store, groupbuy.Config{
			Now:   func() time.Time { return t0 },
			NewID: func() string { n++; return "z" + strconv.Itoa(n) },
		})
		require.NoError(t, err)
		_, err = svc.CreateCampaign(ctx, groupbuy.Campaign{
			ID: "camp", ProductRef: "spu", Currency: "CNY",
			Prices:   []groupbuy.SKUPrice{{SKU: "a", Price: decimal.RequireFromString("9.90")}},
			TeamSize: 3, TeamLifetime: time.Hour, ReservationTTL: 15 * time.Minute,
			StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(48 * time.Hour),
			Status:      groupbuy.CampaignActive,
			VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
		})
		require.NoError(t, err)
		opened, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "camp", UserID: "alice", SKU: "a"})
		require.NoError(t, err)
		for _, order := range []groupbuy.MatchStrategy{groupbuy.MatchOldest, groupbuy.MatchFullest} {
			teams, err := store.OpenTeams(ctx, "camp", time.Time{}, order, 10)
			require.NoError(t, err)
			require.Len(t, teams, 1, "%s: the team expires after the zero time", order)
			require.Equal(t, opened.Team.ID, teams[0].ID)
		}
		teams, err := store.OpenTeams(ctx, "camp", t0.Add(2*time.Hour), groupbuy.MatchOldest, 10)
		require.NoError(t, err)
		require.Empty(t, teams, "expired")
	}
	t.Run("memory", func(t *testing.T) { run(t, memory.New()) })
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		run(t, newStore(t, db, d))
	})
}
