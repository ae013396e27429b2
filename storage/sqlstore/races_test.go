package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// The race tests start money-moving commands for the same seats and teams
// at once (late payments with ProcessDue, refund reports with retries,
// cancels with the filling payment and the deadline's virtual fill,
// replayed callbacks) and then check, on the stored rows and the outbox,
// what must hold whatever the interleaving: counters equal seats, one
// home per payment (a paid seat or a late refund, never both, never two),
// each seat's refund events agree with its state, each team closes once.
// Each runs through a Service on the Store, on a Store per call in a host
// transaction (txPerCall), and with a Service per host transaction that
// the host commits, or rolls back (every third), at the database's default
// isolation and, on PostgreSQL, under REPEATABLE READ too.

// raceMode is how a race's commands reach the store.
type raceMode int

const (
	raceDirect     raceMode = iota // one Service on the Store
	raceTxPerCall                  // one Service on txPerCall
	raceHostTx                     // a Service per host transaction, committed
	raceHostTxUndo                 // the same, every third transaction rolled back
	raceHostTxRR                   // raceHostTx under REPEATABLE READ (PostgreSQL; MariaDB's default already)
)

func (m raceMode) String() string {
	return [...]string{"direct", "txPerCall", "hostTx", "hostTxRollback", "hostTxRepeatableRead"}[m]
}

var raceModes = []raceMode{raceDirect, raceTxPerCall, raceHostTx, raceHostTxUndo}

// raceWorld is one Store (its own tables), a campaign and the Services
// that race on it.
type raceWorld struct {
	t      *testing.T
	ctx    context.Context
	db     *sql.DB
	s      *sqlstore.Store
	prefix string
	mode   raceMode
	clk    *nsClock
	ids    atomic.Int64
	txs    atomic.Int64
	setup  *groupbuy.Service // on the Store, for the set-up
	shared *groupbuy.Service // raceDirect and raceTxPerCall
	camp   groupbuy.Campaign

	mu      sync.Mutex
	homed   map[string]bool // payment refs a committed ConfirmPayment accepted
	retries map[string]int  // committed RetryRefunds per seat
}

func newRaceWorld(t *testing.T, db *sql.DB, d sqlstore.Dialect, mode raceMode, edit func(c *groupbuy.Campaign)) *raceWorld {
	s, prefix := newStorePrefixed(t, db, d)
	w := &raceWorld{
		t: t, ctx: t.Context(), db: db, s: s, prefix: prefix, mode: mode,
		clk:   &nsClock{t: time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC)},
		homed: map[string]bool{}, retries: map[string]int{},
	}
	var err error
	w.setup, err = groupbuy.New(s, w.cfg(w.clk.Now))
	require.NoError(t, err)
	switch mode {
	case raceDirect:
		w.shared = w.setup
	case raceTxPerCall:
		w.shared, err = groupbuy.New(&txPerCall{t: t, db: db, s: s}, w.cfg(w.clk.Now))
		require.NoError(t, err)
	}
	t0 := w.clk.Now()
	c := groupbuy.Campaign{
		ID: "camp", ProductRef: "spu", Currency: "CNY",
		Prices:   []groupbuy.SKUPrice{{SKU: "a", Price: decimal.RequireFromString("9.90")}},
		TeamSize: 3, TeamLifetime: 30 * time.Minute, ReservationTTL: 5 * time.Minute,
		StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(10 * time.Hour),
		Status: groupbuy.CampaignActive, LatePayment: groupbuy.LateJoinOther,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillMinPaid, MinPaidSeats: 2}, RecordVirtualSeats: true,
		Limits: groupbuy.Limits{MaxTeamsOpenedPerUser: 2, MaxTeamsJoinedPerUser: 2},
	}
	if edit != nil {
		edit(&c)
	}
	w.camp, err = w.setup.CreateCampaign(w.ctx, c)
	require.NoError(t, err)
	return w
}

// forget has the race's commands go through a new Store on the same
// tables, which knows nothing of the set-up's payments: on PostgreSQL the
// payment that fills a team then takes the plain form, whose completion
// is a statement of its own that ProcessDue and a cancel can race.
func (w *raceWorld) forget(d sqlstore.Dialect) {
	s, err := sqlstore.New(w.db, d, sqlstore.WithTablePrefix(w.prefix))
	require.NoError(w.t, err)
	w.t.Cleanup(func() { _ = s.Close() })
	w.s = s
	switch w.mode {
	case raceDirect:
		w.shared, err = groupbuy.New(s, w.cfg(w.clk.Now))
	case raceTxPerCall:
		w.shared, err = groupbuy.New(&txPerCall{t: w.t, db: w.db, s: s}, w.cfg(w.clk.Now))
	}
	require.NoError(w.t, err)
}

func (w *raceWorld) cfg(now func() time.Time) groupbuy.Config {
	return groupbuy.Config{Now: now, NewID: func() string { return fmt.Sprintf("r%07d", w.ids.Add(1)) }}
}

// do runs f as one command of the race at the world's clock.
func (w *raceWorld) do(f func(svc *groupbuy.Service) error) (committed bool, err error) {
	return w.doAt(nil, f)
}

// doAt runs f through the world's mode, with a Service whose clock is now
// (nil: the world's clock). committed is false when the host rolled f's transaction back.
func (w *raceWorld) doAt(now func() time.Time, f func(svc *groupbuy.Service) error) (committed bool, err error) {
	if w.mode == raceDirect || w.mode == raceTxPerCall {
		if now == nil {
			return true, f(w.shared)
		}
		var svc *groupbuy.Service
		if w.mode == raceDirect {
			svc, err = groupbuy.New(w.s, w.cfg(now))
		} else {
			svc, err = groupbuy.New(&txPerCall{t: w.t, db: w.db, s: w.s}, w.cfg(now))
		}
		if err != nil {
			return false, err
		}
		return true, f(svc)
	}
	if now == nil {
		now = w.clk.Now
	}
	for attempt := 0; ; attempt++ {
		var opts *sql.TxOptions
		if w.mode == raceHostTxRR {
			opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead}
		}
		tx, err := w.db.BeginTx(w.ctx, opts)
		if err != nil {
			return false, err
		}
		svc, err := groupbuy.New(w.s.WithTx(tx), w.cfg(now))
		if err != nil {
			_ = tx.Rollback()
			return false, err
		}
		ferr := f(svc)
		if storage.IsRetryable(ferr) && attempt < 100 {
			_ = tx.Rollback()
			time.Sleep(time.Duration(attempt%10+1) * 100 * time.Microsecond)
			continue
		}
		if w.mode == raceHostTxUndo && w.txs.Add(1)%3 == 0 {
			_ = tx.Rollback()
			return false, ferr
		}
		if cerr := tx.Commit(); cerr != nil {
			return false, cerr
		}
		return true, ferr
	}
}

// race runs fs at once and waits for them.
func race(fs []func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, f := range fs {
		wg.Go(func() {
			<-start
			f()
		})
	}
	close(start)
	wg.Wait()
}

// open opens a team for leader and joins members, on the set-up Service.
func (w *raceWorld) open(leader string, members ...string) (groupbuy.Team, []groupbuy.Seat) {
	w.t.Helper()
	r, err := w.setup.Open(w.ctx, groupbuy.OpenRequest{CampaignID: w.camp.ID, UserID: leader, SKU: "a"})
	require.NoError(w.t, err)
	seats := []groupbuy.Seat{r.Seat}
	for _, m := range members {
		j, err := w.setup.Join(w.ctx, groupbuy.JoinRequest{CampaignID: w.camp.ID, TeamID: r.Team.ID, UserID: m, SKU: "a"})
		require.NoError(w.t, err)
		seats = append(seats, j.Seat)
	}
	return r.Team, seats
}

// paySetup pays seats on the set-up Service.
func (w *raceWorld) paySetup(seats ...groupbuy.Seat) {
	w.t.Helper()
	for _, st := range seats {
		r, err := w.setup.ConfirmPayment(w.ctx, payReq(st, "setup-"+st.ID))
		require.NoError(w.t, err)
		require.Nil(w.t, r.Late)
	}
}

func payReq(st groupbuy.Seat, ref string) groupbuy.PaymentRequest {
	return groupbuy.PaymentRequest{TeamID: st.TeamID, SeatID: st.ID, PaymentRef: ref, Amount: st.Amount, Currency: st.Currency}
}

// pay is a racing ConfirmPayment: a committed success must leave the
// payment a home (checkMoney).
func (w *raceWorld) pay(now func() time.Time, st groupbuy.Seat, ref string) func() {
	return func() {
		var res groupbuy.PaymentResult
		committed, err := w.doAt(now, func(svc *groupbuy.Service) error {
			var err error
			res, err = svc.ConfirmPayment(w.ctx, payReq(st, ref))
			return err
		})
		if err != nil || !committed {
			return
		}
		w.mu.Lock()
		w.homed[ref] = true
		w.mu.Unlock()
		switch {
		case res.Late != nil && res.Late.Action == groupbuy.LateActionRefund:
			assert.Equal(w.t, groupbuy.LateRefundKey(st.TeamID, st.ID, ref), res.Late.RefundKey, "payment %s", ref)
		default:
			assert.Equal(w.t, ref, res.Seat.PaymentRef, "payment %s: the seat it reports took it (%+v)", ref, res.Late)
		}
	}
}

func (w *raceWorld) processDue(now func() time.Time) func() {
	return func() {
		_, err := w.doAt(now, func(svc *groupbuy.Service) error {
			_, err := svc.ProcessDue(w.ctx)
			return err
		})
		assert.NoError(w.t, err, "ProcessDue")
	}
}

func (w *raceWorld) cancelTeam(now func() time.Time, teamID string) func() {
	return func() {
		_, _ = w.doAt(now, func(svc *groupbuy.Service) error {
			_, err := svc.CancelTeam(w.ctx, teamID, "race")
			return err
		})
	}
}

func (w *raceWorld) cancelSeat(st groupbuy.Seat) func() {
	return func() {
		_, _ = w.do(func(svc *groupbuy.Service) error {
			_, err := svc.CancelReservation(w.ctx, st.ID, st.UserID)
			return err
		})
	}
}

// refund is a racing refund report: "refunded", "failed" or "retry".
func (w *raceWorld) refund(st groupbuy.Seat, what string) func() {
	return func() {
		// A host reports on the attempt it last saw, which a racing retry
		// may have overtaken (ErrStaleRefundAttempt).
		attempt := w.refundAttempt(st)
		committed, err := w.do(func(svc *groupbuy.Service) error {
			var err error
			switch what {
			case "refunded":
				_, err = svc.MarkRefunded(w.ctx, st.ID, attempt)
			case "failed":
				_, err = svc.MarkRefundFailed(w.ctx, st.ID, attempt, "provider said no")
			default:
				_, err = svc.RetryRefund(w.ctx, st.ID)
			}
			return err
		})
		if what == "retry" && err == nil && committed {
			w.mu.Lock()
			w.retries[st.ID]++
			w.mu.Unlock()
		}
	}
}

// refundAttempt is the refund attempt of seat st as the set-up service
// reads it now (1 when the read fails or names none).
func (w *raceWorld) refundAttempt(st groupbuy.Seat) int {
	view, err := w.setup.Team(w.ctx, st.TeamID)
	if err == nil {
		for _, s := range view.Seats {
			if s.ID == st.ID {
				return max(s.RefundAttempt, 1)
			}
		}
	}
	return 1
}

// finish runs every deadline out and checks the invariants.
func (w *raceWorld) finish() {
	w.t.Helper()
	w.clk.Set(w.clk.Now().Add(24 * time.Hour))
	for range 20 {
		rep, err := w.setup.ProcessDue(w.ctx)
		require.NoError(w.t, err)
		if rep == (groupbuy.DueReport{}) {
			break
		}
	}
	if len(w.retries) == 0 {
		// It counts a retried refund's second request as a duplicate.
		checkInvariants(w.t, w.db, w.prefix)
	}
	w.checkMoney()
}

type raceSeat struct {
	id, team, user, state, ref string
	virtual                    bool
}

// checkMoney checks the stored seats against the outbox: each payment has
// one home (a seat it paid, with one seat_paid event, or one late refund),
// never two; a seat holds a payment only when paid or on the refund path;
// a seat's own refund events alternate requested, failed, requested, ...,
// agree with its state and count its committed retries; a succeeded team's
// event lists its confirmed seats, capacity of them.
func (w *raceWorld) checkMoney() {
	t := w.t
	rows, err := w.db.QueryContext(w.ctx, `SELECT id, team_id, user_id, state, payment_ref, is_virtual FROM `+w.prefix+`seats`)
	require.NoError(t, err)
	seats := map[string]*raceSeat{}
	for rows.Next() {
		var st raceSeat
		var virt sql.NullString
		require.NoError(t, rows.Scan(&st.id, &st.team, &st.user, &st.state, &st.ref, &virt))
		st.virtual = virt.String == "true" || virt.String == "1" || virt.String == "t"
		seats[st.id] = &st
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())

	evs, err := w.s.Claim(w.ctx, storage.MaxClaim, time.Hour)
	require.NoError(t, err)
	require.Less(t, len(evs), storage.MaxClaim)
	paidEvents := map[string]int{} // payment ref → seat_paid events
	lateRefunds := map[string]int{}
	own := map[string]string{} // seat → its refund events, R and F, in order
	for _, ev := range evs {
		switch ev.Topic {
		case groupbuy.TopicSeatPaid:
			var p groupbuy.SeatPayload
			require.NoError(t, json.Unmarshal(ev.Payload, &p))
			paidEvents[p.PaymentRef]++
			st := seats[p.SeatID]
			if assert.NotNil(t, st, "seat of %s", ev.Key) {
				assert.Equal(t, p.PaymentRef, st.ref, "seat %s (%s) holds the payment its seat_paid event names", st.id, st.state)
			}
		case groupbuy.TopicRefundRequested:
			var p groupbuy.RefundRequestedPayload
			require.NoError(t, json.Unmarshal(ev.Payload, &p))
			assert.Equal(t, p.Key, ev.Key)
			if p.ForSeat() {
				own[p.SeatID] += "R"
				if st := seats[p.SeatID]; assert.NotNil(t, st) {
					assert.Equal(t, st.ref, p.PaymentRef, "seat %s: its refund refunds its payment", st.id)
				}
			} else {
				lateRefunds[p.PaymentRef]++
				assert.Equal(t, groupbuy.LateRefundKey(p.TeamID, p.SeatID, p.PaymentRef), p.Key)
			}
		case groupbuy.TopicRefundFailed:
			var p groupbuy.RefundFailedPayload
			require.NoError(t, json.Unmarshal(ev.Payload, &p))
			own[p.SeatID] += "F"
		case groupbuy.TopicTeamSucceeded:
			var p groupbuy.TeamClosedPayload
			require.NoError(t, json.Unmarshal(ev.Payload, &p))
			assert.Len(t, p.Seats, p.Capacity, "team %s succeeded with its capacity of seats (%s)", p.TeamID, p.Reason)
			for _, ss := range p.Seats {
				if st := seats[ss.SeatID]; assert.NotNil(t, st) {
					assert.Equal(t, p.TeamID, st.team)
					assert.Contains(t, []string{"confirmed"}, st.state, "seat %s listed by team %s's success", st.id, p.TeamID)
				}
			}
			n := 0
			for _, st := range seats {
				if st.team == p.TeamID && st.state == "confirmed" {
					n++
				}
			}
			assert.Equal(t, len(p.Seats), n, "team %s: confirmed seats listed", p.TeamID)
		}
	}
	taken, paidN := map[string]int{}, map[string]int{}
	for _, st := range seats {
		if !st.virtual && (st.state == "reserved" || st.state == "paid" || st.state == "confirmed") {
			taken[st.team]++
		}
		if !st.virtual && (st.state == "paid" || st.state == "confirmed") {
			paidN[st.team]++
		}
	}
	trows, err := w.db.QueryContext(w.ctx, `SELECT id, seats_taken, seats_paid FROM `+w.prefix+`teams`)
	require.NoError(t, err)
	for trows.Next() {
		var id string
		var tk, pd int
		require.NoError(t, trows.Scan(&id, &tk, &pd))
		assert.Equal(t, taken[id], tk, "team %s: seats_taken", id)
		assert.Equal(t, paidN[id], pd, "team %s: seats_paid", id)
	}
	require.NoError(t, trows.Err())
	require.NoError(t, trows.Close())
	byRef := map[string]int{}
	for _, st := range seats {
		switch st.state {
		case "reserved", "released":
			assert.Empty(t, st.ref, "seat %s is %s but holds payment %s", st.id, st.state, st.ref)
			assert.Empty(t, own[st.id], "seat %s is %s but has refund events", st.id, st.state)
		case "paid", "confirmed":
			if !st.virtual {
				assert.NotEmpty(t, st.ref, "seat %s is %s without a payment", st.id, st.state)
			}
			assert.Empty(t, own[st.id], "seat %s is %s but has refund events %s", st.id, st.state, own[st.id])
		default: // the refund path
			seq := own[st.id]
			ok := seq != "" && strings.Count(seq, "RR") == 0 && strings.Count(seq, "FF") == 0 && seq[0] == 'R'
			assert.True(t, ok, "seat %s (%s): refund events %q", st.id, st.state, seq)
			last := seq[len(seq)-1:]
			switch st.state {
			case "refund_requested":
				assert.Equal(t, "R", last, "seat %s requested, events %q", st.id, seq)
			case "refund_failed":
				assert.Equal(t, "F", last, "seat %s failed, events %q", st.id, seq)
			}
			assert.Equal(t, 1+w.retries[st.id], strings.Count(seq, "R"), "seat %s: one request plus one per committed retry, events %q", st.id, seq)
		}
		if st.ref != "" {
			byRef[st.ref]++
			assert.Equal(t, 1, paidEvents[st.ref], "payment %s of seat %s: seat_paid events", st.ref, st.id)
		}
	}
	for ref, n := range paidEvents {
		assert.Equal(t, 1, n, "payment %s: seat_paid events", ref)
	}
	for ref, n := range lateRefunds {
		assert.Equal(t, 1, n, "payment %s: late refunds", ref)
		assert.Zero(t, byRef[ref], "payment %s is refunded as late and also holds a seat", ref)
	}
	for ref, n := range byRef {
		assert.Equal(t, 1, n, "payment %s held by %d seats", ref, n)
	}
	for ref := range w.homed {
		assert.Equal(t, 1, byRef[ref]+lateRefunds[ref], "payment %s accepted: one seat or one late refund", ref)
	}
	retried := 0
	for _, n := range w.retries {
		retried += n
	}
	t.Logf("%d seats, %d events, %d payments accepted, %d late refunds, %d seats on the refund path, %d retries",
		len(seats), len(evs), len(w.homed), len(lateRefunds), len(own), retried)
}

// userSeats counts the seats of user.
func (w *raceWorld) userSeats(user string) int {
	var n int
	require.NoError(w.t, w.db.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM `+w.prefix+`seats WHERE user_id = '`+user+`'`).Scan(&n))
	return n
}

func forEachRaceMode(t *testing.T, f func(t *testing.T, db *sql.DB, d sqlstore.Dialect, mode raceMode)) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		modes := raceModes
		if d == sqlstore.Postgres {
			modes = append(modes[:len(modes):len(modes)], raceHostTxRR)
		}
		for _, m := range modes {
			t.Run(m.String(), func(t *testing.T) { f(t, db, d, m) })
		}
	})
}

// raceGroups is how many seats or teams each race runs on at once: fewer
// on SQLite, whose write lock takes the commands one at a time anyway.
func raceGroups(d sqlstore.Dialect) int {
	if d == sqlstore.SQLite {
		return 2
	}
	return 6
}

// TestRaceLatePayments*: payments for a lapsed seat (one replayed at once,
// two others) race each other, ProcessDue and the user's cancel, under
// each late-payment policy. Each payment gets one home, the lapsed seat at
// most one placement.
func TestRaceLatePaymentsJoinOther(t *testing.T) { raceLatePayments(t, groupbuy.LateJoinOther) }
func TestRaceLatePaymentsOpenNew(t *testing.T)   { raceLatePayments(t, groupbuy.LateOpenNew) }
func TestRaceLatePaymentsRefund(t *testing.T)    { raceLatePayments(t, groupbuy.LateRefund) }

func raceLatePayments(t *testing.T, policy groupbuy.LatePaymentPolicy) {
	forEachRaceMode(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect, mode raceMode) {
		w := newRaceWorld(t, db, d, mode, func(c *groupbuy.Campaign) { c.LatePayment = policy })
		var fs []func()
		var lapsed []groupbuy.Seat
		for g := range raceGroups(d) {
			_, seats := w.open("l"+strconv.Itoa(g), "m"+strconv.Itoa(g))
			w.paySetup(seats[0])
			lapsed = append(lapsed, seats[1])
		}
		w.clk.Advance(6 * time.Minute) // the members' reservations lapsed; the teams live
		for g, st := range lapsed {
			a, b, c := "a"+strconv.Itoa(g), "b"+strconv.Itoa(g), "c"+strconv.Itoa(g)
			fs = append(fs, w.pay(nil, st, a), w.pay(nil, st, a), w.pay(nil, st, b), w.pay(nil, st, c), w.cancelSeat(st))
		}
		fs = append(fs, w.processDue(nil), w.processDue(nil))
		race(fs)
		for g := range lapsed {
			assert.LessOrEqual(t, w.userSeats("m"+strconv.Itoa(g)), 2, "a lapsed seat is placed once")
		}
		w.finish()
	})
}

// TestRaceRefundReports: the refund of each paid seat of a cancelled team
// is reported failed twice, retried twice and (for half of them) reported
// refunded, at once, with ProcessDue and a second cancel, over three
// rounds. Each seat's refund events agree with its state.
func TestRaceRefundReports(t *testing.T) {
	forEachRaceMode(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect, mode raceMode) {
		w := newRaceWorld(t, db, d, mode, nil)
		var paid []groupbuy.Seat
		var teams []string
		for g := range raceGroups(d) {
			team, seats := w.open("l"+strconv.Itoa(g), "m"+strconv.Itoa(g))
			w.paySetup(seats...)
			_, err := w.setup.CancelTeam(w.ctx, team.ID, "set-up")
			require.NoError(t, err)
			paid = append(paid, seats...)
			teams = append(teams, team.ID)
		}
		for round := range 3 {
			var fs []func()
			for i, st := range paid {
				fs = append(fs, w.refund(st, "failed"), w.refund(st, "failed"), w.refund(st, "retry"), w.refund(st, "retry"))
				if i%2 == 0 && round == 2 {
					fs = append(fs, w.refund(st, "refunded"))
				}
			}
			for _, id := range teams {
				fs = append(fs, w.cancelTeam(nil, id))
			}
			fs = append(fs, w.processDue(nil))
			race(fs)
		}
		w.finish()
	})
}

// TestRaceCloseAtDeadline: the payment that fills a team (replayed at
// once) races an operator's cancel, a minute before the deadline, and two
// ProcessDue instances whose clocks passed it (virtual fill), and a
// second payment for the seat after the deadline. The team closes once,
// and every payment is confirmed or refunded.
func TestRaceCloseAtDeadline(t *testing.T) {
	forEachRaceMode(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect, mode raceMode) {
		w := newRaceWorld(t, db, d, mode, func(c *groupbuy.Campaign) {
			c.TeamLifetime, c.ReservationTTL = 10*time.Minute, 10*time.Minute
		})
		var fs []func()
		before := w.clk.Now().Add(10*time.Minute - time.Minute)
		after := w.clk.Now().Add(10*time.Minute + time.Second)
		atBefore, atAfter := func() time.Time { return before }, func() time.Time { return after }
		for g := range raceGroups(d) {
			gs := strconv.Itoa(g)
			team, seats := w.open("l"+gs, "m"+gs, "n"+gs)
			w.paySetup(seats[0], seats[1])
			fs = append(fs, w.pay(atBefore, seats[2], "f"+gs), w.pay(atBefore, seats[2], "f"+gs), w.cancelTeam(atBefore, team.ID),
				w.pay(atAfter, seats[2], "g"+gs))
		}
		w.forget(d)
		fs = append(fs, w.processDue(atAfter), w.processDue(atAfter))
		race(fs)
		w.finish()
	})
}

// TestRaceCancelReservationAndPay: a user cancels a seat while its
// payment (replayed at once, and another one) comes in, with ProcessDue.
func TestRaceCancelReservationAndPay(t *testing.T) {
	forEachRaceMode(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect, mode raceMode) {
		w := newRaceWorld(t, db, d, mode, nil)
		var fs []func()
		for g := range raceGroups(d) {
			gs := strconv.Itoa(g)
			_, seats := w.open("l"+gs, "m"+gs)
			w.paySetup(seats[0])
			st := seats[1]
			fs = append(fs, w.cancelSeat(st), w.cancelSeat(st), w.pay(nil, st, "d"+gs), w.pay(nil, st, "d"+gs), w.pay(nil, st, "e"+gs))
		}
		fs = append(fs, w.processDue(nil))
		race(fs)
		for g := range raceGroups(d) {
			assert.LessOrEqual(t, w.userSeats("m"+strconv.Itoa(g)), 2, "a released seat is placed once")
		}
		w.finish()
	})
}

// TestRaceFillingPayAndProcessDue: the payment that fills a team, replayed
// three times at once, races two ProcessDue instances (which complete a
// fully paid forming team). The team succeeds once, with its three seats.
func TestRaceFillingPayAndProcessDue(t *testing.T) {
	forEachRaceMode(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect, mode raceMode) {
		w := newRaceWorld(t, db, d, mode, nil)
		var fs []func()
		var teams []string
		for g := range raceGroups(d) {
			gs := strconv.Itoa(g)
			team, seats := w.open("l"+gs, "m"+gs, "n"+gs)
			w.paySetup(seats[0], seats[1])
			teams = append(teams, team.ID)
			fs = append(fs, w.pay(nil, seats[2], "f"+gs), w.pay(nil, seats[2], "f"+gs), w.pay(nil, seats[2], "f"+gs))
		}
		w.forget(d)
		fs = append(fs, w.processDue(nil), w.processDue(nil))
		race(fs)
		if mode != raceHostTxUndo {
			for _, id := range teams {
				tm, err := w.s.GetTeam(w.ctx, id)
				require.NoError(t, err)
				assert.Equal(t, groupbuy.TeamSucceeded, tm.State, "team %s", id)
			}
		}
		w.finish()
	})
}

// TestWithTxStaleSnapshotConflictIsRetryable: a Service on a Store bound to
// a REPEATABLE READ host transaction reads a team or seat in the
// transaction's snapshot; a change committed since (a join, a refund
// report, a retry) makes its close or refund write lose, and re-reading in
// the same snapshot can never see why. The command must come back
// retryable, for the host to rerun its transaction (which then gets the
// true answer), not as a plain ErrConflict after its re-reads: on MariaDB
// CancelTeam, ProcessDue, MarkRefundFailed and RetryRefund returned
// "groupbuy: conflict", which no host reruns, and CancelReservation of a
// seat released meanwhile ErrSeatNotReserved, where a repeat returns the
// seat. SQLite's host transaction
// holds the write lock, so nothing commits meanwhile there.
func TestWithTxStaleSnapshotConflictIsRetryable(t *testing.T) {
	for _, c := range dbs[:2] {
		t.Run(c.name, func(t *testing.T) {
			db := c.open(t)
			w := newRaceWorld(t, db, c.d, raceDirect, nil)
			team, seats := w.open("l", "m")
			w.paySetup(seats[0])
			leader := seats[0]

			// stale runs f in a REPEATABLE READ host transaction whose snapshot
			// is taken before change commits, and returns f's error; the
			// transaction is rolled back.
			stale := func(change func(), f func(svc *groupbuy.Service) error) error {
				tx, ts := repeatableRead(t, db, w.s)
				defer func() { _ = tx.Rollback() }() // before the next change: MySQL's locks
				svc, err := groupbuy.New(ts, w.cfg(w.clk.Now))
				require.NoError(t, err)
				_, err = svc.Team(w.ctx, team.ID) // the snapshot
				require.NoError(t, err)
				change()
				return f(svc)
			}
			// rerun is the host's rerun, in a new transaction.
			rerun := func(f func(svc *groupbuy.Service) error) error {
				tx, ts := repeatableRead(t, db, w.s)
				svc, err := groupbuy.New(ts, w.cfg(w.clk.Now))
				require.NoError(t, err)
				ferr := f(svc)
				require.NoError(t, tx.Commit())
				return ferr
			}

			cancel := func(svc *groupbuy.Service) error { _, err := svc.CancelTeam(w.ctx, team.ID, "stale"); return err }
			err := stale(func() {
				_, _ = w.setup.Join(w.ctx, groupbuy.JoinRequest{CampaignID: w.camp.ID, TeamID: team.ID, UserID: "n", SKU: "a"})
			}, cancel)
			require.Error(t, err)
			require.True(t, storage.IsRetryable(err), "CancelTeam on a stale snapshot: %v", err)
			require.NoError(t, rerun(cancel))

			failed := func(svc *groupbuy.Service) error {
				_, err := svc.MarkRefundFailed(w.ctx, leader.ID, 1, "no")
				return err
			}
			err = stale(func() { _, err := w.setup.MarkRefundFailed(w.ctx, leader.ID, 1, "no"); require.NoError(t, err) }, failed)
			require.Error(t, err)
			require.True(t, storage.IsRetryable(err), "MarkRefundFailed on a stale snapshot: %v", err)
			require.NoError(t, rerun(failed), "a repeat")

			retry := func(svc *groupbuy.Service) error { _, err := svc.RetryRefund(w.ctx, leader.ID); return err }
			err = stale(func() { _, err := w.setup.RetryRefund(w.ctx, leader.ID); require.NoError(t, err) }, retry)
			require.Error(t, err)
			require.True(t, storage.IsRetryable(err), "RetryRefund on a stale snapshot: %v", err)
			require.ErrorIs(t, rerun(retry), groupbuy.ErrIllegalTransition, "the rerun sees the retry that won")

			_, other := w.open("l2", "m2")
			member := other[1]
			drop := func(svc *groupbuy.Service) error {
				_, err := svc.CancelReservation(w.ctx, member.ID, member.UserID)
				return err
			}
			err = stale(func() { _, err := w.setup.CancelReservation(w.ctx, member.ID, member.UserID); require.NoError(t, err) }, drop)
			require.Error(t, err)
			require.True(t, storage.IsRetryable(err), "CancelReservation on a stale snapshot: %v", err)
			require.NoError(t, rerun(drop), "a repeat returns the released seat")

			w.retries[leader.ID] = 1
			w.finish()
		})
	}
}

// TestRaceLatePaymentsOneUser: one user's payments for her lapsed seats
// in several teams come in at once (each replayed), with ProcessDue,
// under a limit of one team joined and one opened: the placements compete
// for her limits, and whatever is refused is refunded.
func TestRaceLatePaymentsOneUser(t *testing.T) {
	for _, policy := range []groupbuy.LatePaymentPolicy{groupbuy.LateJoinOther, groupbuy.LateOpenNew} {
		t.Run(string(policy), func(t *testing.T) {
			forEachRaceMode(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect, mode raceMode) {
				w := newRaceWorld(t, db, d, mode, func(c *groupbuy.Campaign) {
					c.LatePayment = policy
					c.Limits = groupbuy.Limits{MaxTeamsOpenedPerUser: 1, MaxTeamsJoinedPerUser: 1}
					c.ReservationTTL = time.Minute
				})
				var fs []func()
				var lapsed []groupbuy.Seat
				for g := range raceGroups(d) {
					_, seats := w.open("l" + strconv.Itoa(g))
					w.paySetup(seats[0])
				}
				for g := range raceGroups(d) {
					// Her limit holds one joined seat at a time: each lapses
					// before she joins the next team.
					_, seats := w.open("k"+strconv.Itoa(g), "u")
					w.paySetup(seats[0])
					lapsed = append(lapsed, seats[1])
					w.clk.Advance(time.Minute + time.Second)
					due, err := w.setup.ProcessDue(w.ctx)
					require.NoError(t, err)
					require.Equal(t, 1, due.Released)
				}
				for g, st := range lapsed {
					ref := "p" + strconv.Itoa(g)
					fs = append(fs, w.pay(nil, st, ref), w.pay(nil, st, ref))
				}
				fs = append(fs, w.processDue(nil))
				race(fs)
				assert.LessOrEqual(t, w.userSeats("u"), len(lapsed)+2, "at most one team joined and one opened")
				w.finish()
			})
		})
	}
}

// TestWithTxRowNewerThanSnapshot: on MySQL a Store bound to a REPEATABLE
// READ host transaction locks the latest row, which may have been inserted
// after the transaction's snapshot; a close or refund step of it that
// loses (the team closed, the refund reported meanwhile) must report that
// loss, not ErrNotFound from the snapshot read that asks whether the loss
// is stale (the row is in the database: the locking read found it).
func TestWithTxRowNewerThanSnapshot(t *testing.T) {
	db := dbs[1].open(t)
	w := newRaceWorld(t, db, dbs[1].d, raceDirect, nil)

	_, ts := snapshotTx(t, db, w.s, w.camp.ID)

	team, seats := w.open("l", "m") // after the snapshot
	w.paySetup(seats[0])
	closed, err := w.setup.CancelTeam(w.ctx, team.ID, "gone")
	require.NoError(t, err)
	_, err = w.setup.MarkRefunded(w.ctx, seats[0].ID, 1)
	require.NoError(t, err)

	err = ts.CloseTeam(w.ctx, &groupbuy.CloseTeamWrite{TeamID: team.ID, Version: closed.Version - 1,
		State: groupbuy.TeamCancelled, Now: w.clk.Now(), Release: []string{seats[1].ID}})
	require.ErrorIs(t, err, storage.ErrConflict)
	require.NotErrorIs(t, err, groupbuy.ErrNotFound)

	_, err = ts.UpdateRefund(w.ctx, &groupbuy.RefundWrite{SeatID: seats[0].ID,
		From: groupbuy.SeatRefundRequested, To: groupbuy.SeatRefunded, Attempt: 1, Now: w.clk.Now()})
	require.ErrorIs(t, err, storage.ErrConflict)
	require.NotErrorIs(t, err, groupbuy.ErrNotFound)
}

// TestWithTxReleaseSeatNewerThanSnapshot: ReleaseSeat on a Store bound to a
// REPEATABLE READ host transaction, of a seat inserted after the
// transaction's snapshot, found the seat's team through the snapshot and
// returned ErrNotFound, on MySQL and PostgreSQL alike; the seat exists, and
// a rerun of the host's transaction releases it, so the answer is a
// retryable conflict, as for the close and refund steps of
// TestWithTxRowNewerThanSnapshot. A seat that does not exist is still
// ErrNotFound, and one that exists before the snapshot is released.
func TestWithTxReleaseSeatNewerThanSnapshot(t *testing.T) {
	for _, c := range dbs[:2] {
		t.Run(c.name, func(t *testing.T) {
			db := c.open(t)
			w := newRaceWorld(t, db, c.d, raceDirect, nil)
			_, before := w.open("k", "j") // before the snapshot

			tx, ts := snapshotTx(t, db, w.s, w.camp.ID)

			_, seats := w.open("l", "m", "n") // after the snapshot
			release := func(s *sqlstore.Store, id string) (groupbuy.Seat, error) {
				return s.ReleaseSeat(w.ctx, &groupbuy.ReleaseSeatWrite{SeatID: id, Now: w.clk.Now()})
			}
			_, err := release(ts, seats[1].ID)
			require.ErrorIs(t, err, storage.ErrConflict, "a reserved seat newer than the snapshot")
			require.NotErrorIs(t, err, groupbuy.ErrNotFound)
			require.True(t, storage.IsRetryable(err), "%v", err)

			_, err = w.setup.CancelReservation(w.ctx, seats[2].ID, seats[2].UserID)
			require.NoError(t, err)
			_, err = release(ts, seats[2].ID)
			require.ErrorIs(t, err, storage.ErrConflict, "a released seat newer than the snapshot")
			require.NotErrorIs(t, err, groupbuy.ErrNotFound)
			require.True(t, storage.IsRetryable(err), "%v", err)

			_, err = release(ts, "no-such-seat")
			require.ErrorIs(t, err, groupbuy.ErrNotFound, "a seat that does not exist")
			require.False(t, storage.IsRetryable(err), "%v", err)

			st, err := release(ts, before[1].ID)
			require.NoError(t, err, "a seat in the snapshot")
			assert.Equal(t, groupbuy.SeatReleased, st.State)
			require.NoError(t, tx.Rollback())

			// The host's rerun sees the seat and releases it.
			tx2, ts2 := repeatableRead(t, db, w.s)
			st, err = release(ts2, seats[1].ID)
			require.NoError(t, err, "the rerun")
			assert.Equal(t, groupbuy.SeatReleased, st.State)
			require.NoError(t, tx2.Commit())
		})
	}
}

// TestRaceJoinsForLapsedPlaces: joiners race for a team whose two free
// places are held by lapsed reservations, with ProcessDue and a late
// payment for one of the lapsed seats (which may join another group's
// team as a paid seat, and two of them complete it). A join refused as full releases the lapsed seats and tries again
// while the team has room, so every team ends full (unless the host rolled
// a join back), and never overfull; each lapsed seat is released once.
func TestRaceJoinsForLapsedPlaces(t *testing.T) {
	forEachRaceMode(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect, mode raceMode) {
		w := newRaceWorld(t, db, d, mode, nil)
		after := w.clk.Now().Add(w.camp.ReservationTTL + time.Second)
		atAfter := func() time.Time { return after }
		var fs []func()
		var joined atomic.Int64
		teams := make([]string, 0, raceGroups(d))
		for g := range raceGroups(d) {
			gs := strconv.Itoa(g)
			team, seats := w.open("l"+gs, "m"+gs, "n"+gs)
			w.paySetup(seats[0])
			teams = append(teams, team.ID)
			for j := range 4 {
				user := "x" + gs + "-" + strconv.Itoa(j)
				fs = append(fs, func() {
					committed, err := w.doAt(atAfter, func(svc *groupbuy.Service) error {
						_, err := svc.Join(w.ctx, groupbuy.JoinRequest{CampaignID: w.camp.ID, TeamID: team.ID, UserID: user, SKU: "a"})
						return err
					})
					if err == nil && committed {
						joined.Add(1)
						return
					}
					// Closed: late payments of two other groups, placed
					// in this team as paid seats, completed it.
					if err != nil && !errors.Is(err, groupbuy.ErrTeamFull) && !errors.Is(err, groupbuy.ErrTeamClosed) {
						assert.NoError(t, err, "join of %s", user)
					}
				})
			}
			fs = append(fs, w.pay(atAfter, seats[1], "late"+gs))
		}
		fs = append(fs, w.processDue(atAfter), w.processDue(atAfter))
		race(fs)
		assert.LessOrEqual(t, int(joined.Load()), 2*len(teams), "two places a team")
		for _, id := range teams {
			var live, released int
			require.NoError(t, db.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM `+w.prefix+`seats WHERE team_id = '`+id+
				`' AND state IN ('reserved', 'paid', 'confirmed')`).Scan(&live))
			require.NoError(t, db.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM `+w.prefix+`seats WHERE team_id = '`+id+
				`' AND state = 'released'`).Scan(&released))
			assert.LessOrEqual(t, released, 2, "team %s: the two lapsed seats, released once each", id)
			if mode != raceHostTxUndo {
				assert.Equal(t, w.camp.TeamSize, live, "team %s: every lapsed place is taken", id)
			} else {
				assert.LessOrEqual(t, live, w.camp.TeamSize, "team %s", id)
			}
		}
		w.finish()
	})
}
