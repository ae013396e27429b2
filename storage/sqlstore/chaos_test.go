package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// TestChaos runs random commands concurrently through a Service
// while the clock moves, then checks what must hold whatever the
// interleaving: each team's counters equal its seats, each per-user
// counter equals the user's live seats, no effect's event was written
// twice.
func TestChaos(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		for round := range 1 {
			t.Run(strconv.Itoa(round), func(t *testing.T) {
				s, prefix := newStorePrefixed(t, db, d)
				chaos(t, db, s, prefix, uint64(round))
			})
		}
	})
}

// TestChaosWithTx is TestChaos with every store call in a
// host transaction of its own (txPerCall), at the database's default
// isolation (READ COMMITTED on PostgreSQL, REPEATABLE READ on MariaDB).
func TestChaosWithTx(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		for round := range 1 {
			t.Run(strconv.Itoa(round), func(t *testing.T) {
				s, prefix := newStorePrefixed(t, db, d)
				chaos(t, db, &txPerCall{t: t, db: db, s: s}, prefix, uint64(round))
			})
		}
	})
}

func chaos(t *testing.T, db *sql.DB, store groupbuy.Store, prefix string, seed uint64) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC)
	clk := &nsClock{t: t0}
	var ids atomic.Int64
	svc, err := groupbuy.New(store, groupbuy.Config{Now: clk.Now, NewID: func() string { return fmt.Sprintf("c%07d", ids.Add(1)) }})
	require.NoError(t, err)
	_, err = svc.CreateCampaign(ctx, groupbuy.Campaign{
		ID: "camp", ProductRef: "spu", Currency: "CNY",
		Prices:   []groupbuy.SKUPrice{{SKU: "a", Price: decimal.RequireFromString("9.90")}},
		TeamSize: 3, TeamLifetime: 30 * time.Minute, ReservationTTL: 5 * time.Minute,
		StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(10 * time.Hour),
		Status: groupbuy.CampaignActive, VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillMinPaid, MinPaidSeats: 2},
		RecordVirtualSeats: true, LatePayment: groupbuy.LateJoinOther,
		Limits: groupbuy.Limits{MaxTeamsOpenedPerUser: 2, MaxTeamsJoinedPerUser: 2},
	})
	require.NoError(t, err)

	var (
		mu    sync.Mutex
		seats []groupbuy.Seat
		teams []string
	)
	note := func(r groupbuy.SeatResult) {
		mu.Lock()
		defer mu.Unlock()
		if r.Seat.ID != "" {
			seats = append(seats, r.Seat)
		}
		if r.Team.ID != "" {
			teams = append(teams, r.Team.ID)
		}
	}
	pickSeat := func(rng *rand.Rand) (groupbuy.Seat, bool) {
		mu.Lock()
		defer mu.Unlock()
		if len(seats) == 0 {
			return groupbuy.Seat{}, false
		}
		return seats[rng.IntN(len(seats))], true
	}
	pickTeam := func(rng *rand.Rand) string {
		mu.Lock()
		defer mu.Unlock()
		if len(teams) == 0 {
			return "none"
		}
		return teams[rng.IntN(len(teams))]
	}
	// The clock moves with the commands, not with the wall clock: every
	// command advances it (about 3.5 hours over the run, within the
	// campaign's 10), so a slow machine runs the same commands in the same
	// span of the campaign as a fast one.
	var refs atomic.Int64
	var workers sync.WaitGroup
	for w := range 12 {
		workers.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			for range 150 {
				clk.Advance(7*time.Second + 333*time.Nanosecond)
				user := "u" + strconv.Itoa(rng.IntN(8))
				switch rng.IntN(10) {
				case 0:
					r, _ := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "camp", UserID: user, SKU: "a"})
					note(r)
				case 1, 2:
					r, _ := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "camp", TeamID: pickTeam(rng), UserID: user, SKU: "a"})
					note(r)
				case 3:
					r, _ := svc.Match(ctx, groupbuy.MatchRequest{CampaignID: "camp", UserID: user, SKU: "a", Strategy: groupbuy.MatchFullest})
					note(r)
				case 4, 5, 6:
					if st, ok := pickSeat(rng); ok {
						ref := "p" + strconv.Itoa(int(refs.Add(1)))
						if rng.IntN(4) == 0 {
							ref = "p" + strconv.Itoa(rng.IntN(int(refs.Load())+1))
						}
						r, _ := svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{TeamID: st.TeamID, SeatID: st.ID, PaymentRef: ref, Amount: st.Amount, Currency: "CNY"})
						note(groupbuy.SeatResult{Team: r.Team, Seat: r.Seat})
					}
				case 7:
					if st, ok := pickSeat(rng); ok {
						_, _ = svc.CancelReservation(ctx, st.ID, st.UserID)
					}
				case 8:
					_, _ = svc.ProcessDue(ctx)
				case 9:
					if rng.IntN(4) == 0 {
						_, _ = svc.CancelTeam(ctx, pickTeam(rng), "chaos")
					} else if st, ok := pickSeat(rng); ok {
						_, _ = svc.MarkRefunded(ctx, st.ID, max(st.RefundAttempt, 1))
					}
				}
			}
		})
	}
	workers.Wait()
	clk.Set(clk.Now().Add(24 * time.Hour))
	for {
		rep, err := svc.ProcessDue(ctx)
		require.NoError(t, err)
		if rep == (groupbuy.DueReport{}) {
			break
		}
	}
	checkInvariants(t, db, prefix)
}

func checkInvariants(t *testing.T, db *sql.DB, prefix string) {
	ctx := context.Background()
	q := func(query string) [][]string {
		rows, err := db.QueryContext(ctx, query)
		require.NoError(t, err)
		defer rows.Close()
		cols, _ := rows.Columns()
		var out [][]string
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			require.NoError(t, rows.Scan(ptrs...))
			row := make([]string, len(cols))
			for i, v := range vals {
				row[i] = v.String
			}
			out = append(out, row)
		}
		require.NoError(t, rows.Err())
		return out
	}
	live := `('reserved','paid','confirmed')`
	for _, r := range q(`SELECT t.id, t.state, t.seats_taken, t.seats_paid, t.capacity,
		(SELECT COUNT(*) FROM ` + prefix + `seats s WHERE s.team_id = t.id AND s.state IN ` + live + ` AND s.is_virtual = false),
		(SELECT COUNT(*) FROM ` + prefix + `seats s WHERE s.team_id = t.id AND s.state IN ('paid','confirmed') AND s.is_virtual = false),
		t.seat_rows, (SELECT COUNT(*) FROM ` + prefix + `seats s WHERE s.team_id = t.id AND s.is_virtual = false)
		FROM ` + prefix + `teams t`) {
		assert.Equal(t, r[2], r[5], "team %s (%s): seats_taken equals its live seats", r[0], r[1])
		assert.Equal(t, r[3], r[6], "team %s (%s): seats_paid equals its paid seats", r[0], r[1])
		assert.Equal(t, r[8], r[7], "team %s (%s): seat_rows equals its real seat rows", r[0], r[1])
		assert.NotEqual(t, "forming", r[1], "team %s still forming after its deadline", r[0])
	}
	for _, r := range q(`SELECT u.user_id, u.opened, u.joined,
		(SELECT COUNT(*) FROM ` + prefix + `seats s WHERE s.campaign_id = u.campaign_id AND s.user_id = u.user_id AND s.state IN ` + live + ` AND s.is_leader = true AND s.is_virtual = false),
		(SELECT COUNT(*) FROM ` + prefix + `seats s WHERE s.campaign_id = u.campaign_id AND s.user_id = u.user_id AND s.state IN ` + live + ` AND s.is_leader = false AND s.is_virtual = false)
		FROM ` + prefix + `user_limits u`) {
		assert.Equal(t, r[3], r[1], "user %s: opened counts the live leader seats", r[0])
		assert.Equal(t, r[4], r[2], "user %s: joined counts the live seats joined", r[0])
	}
	for _, r := range q(`SELECT event_key, COUNT(*) FROM ` + prefix + `outbox WHERE topic IN ('groupbuy.team_opened','groupbuy.seat_reserved','groupbuy.seat_paid',
		'groupbuy.seat_released','groupbuy.team_succeeded','groupbuy.team_failed','groupbuy.late_payment_handled') GROUP BY event_key HAVING COUNT(*) > 1`) {
		t.Errorf("event %s written %s times", r[0], r[1])
	}
	// A seat's refund is requested once (RetryRefund repeats it only after
	// a failure, which this test never reports).
	for _, r := range q(`SELECT event_key, COUNT(*) FROM ` + prefix + `outbox WHERE topic = 'groupbuy.refund_requested' GROUP BY event_key HAVING COUNT(*) > 1`) {
		t.Errorf("refund %s requested %s times", r[0], r[1])
	}
	n := q(`SELECT COUNT(*) FROM ` + prefix + `seats`)
	t.Logf("%s seats", n[0][0])
	assert.NotEqual(t, "0", n[0][0], "the commands took seats (else nothing above was checked)")
}
