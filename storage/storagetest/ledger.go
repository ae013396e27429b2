package storagetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
)

// StressClock is StressLedger's clock: safe for concurrent use, and every
// reading a little later than the one before.
type StressClock struct {
	mu sync.Mutex
	t  time.Time
}

// NewStressClock returns a StressClock that starts at start.
func NewStressClock(start time.Time) *StressClock { return &StressClock{t: start} }

// Now returns the clock's time, 1 µs and 17 ns after its last reading.
func (c *StressClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Microsecond + 17) // every reading a little later
	return c.t
}

// Advance moves the clock d forward.
func (c *StressClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// StressLedger runs every groupbuy command from 8 goroutines at once
// through two Services on store (two instances of a host), with clk moving,
// for the run that seed picks; then it drains out and checks the money:
// every payment ConfirmPayment took has exactly one home (the seat it paid,
// or the refund of a late payment), every seat whose refund was requested
// has one refund_requested event under its own key per attempt (attempts
// 1..n, n the seat's RefundAttempt), and every succeeded team has one
// team_succeeded event listing its confirmed seats. store and out are
// usually the same adapter; out may be the adapter itself where store
// wraps it (a transaction per call, for instance).
func StressLedger(t *testing.T, seed uint64, clk *StressClock, store groupbuy.Store, out storage.Outbox) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 42))
	var svcs [2]*groupbuy.Service
	for i := range svcs {
		svc, err := groupbuy.New(store, groupbuy.Config{Now: clk.Now, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		svcs[i] = svc
	}
	fills := []groupbuy.VirtualFill{{Mode: groupbuy.VirtualFillNone}, {Mode: groupbuy.VirtualFillMinPaid, MinPaidSeats: 1}, {Mode: groupbuy.VirtualFillMinPercent, MinPercent: 50}}
	lates := []groupbuy.LatePaymentPolicy{groupbuy.LateRefund, groupbuy.LateJoinOther, groupbuy.LateOpenNew}
	c := groupbuy.Campaign{
		ID: "c", ProductRef: "p", Currency: "CNY",
		Prices:   []groupbuy.SKUPrice{{SKU: "a", Price: decimal.RequireFromString("9.90")}},
		TeamSize: 3, TeamLifetime: 10 * time.Minute, ReservationTTL: 2 * time.Minute,
		StartsAt: clk.t.Add(-time.Hour), EndsAt: clk.t.Add(2 * time.Hour), Status: groupbuy.CampaignActive,
		VirtualFill: fills[rng.IntN(len(fills))], RecordVirtualSeats: rng.IntN(2) == 0, LatePayment: lates[rng.IntN(len(lates))],
		Limits: groupbuy.Limits{MaxTeamsOpenedPerUser: rng.IntN(3), MaxTeamsJoinedPerUser: rng.IntN(3)},
	}
	if _, err := svcs[0].CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		teams    []string
		seats    []string
		accepted = map[string]bool{}
		retried  = map[string]int{}
		refs     []groupbuy.PaymentRequest
	)
	note := func(r groupbuy.SeatResult) {
		mu.Lock()
		defer mu.Unlock()
		if r.Team.ID != "" && !slices.Contains(teams, r.Team.ID) {
			teams = append(teams, r.Team.ID)
		}
		if r.Seat.ID != "" && !slices.Contains(seats, r.Seat.ID) {
			seats = append(seats, r.Seat.ID)
		}
	}
	pick := func(r *rand.Rand, l *[]string) string {
		mu.Lock()
		defer mu.Unlock()
		if len(*l) == 0 {
			return "none"
		}
		return (*l)[r.IntN(len(*l))]
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			svc := svcs[w%2]
			for n := range 300 {
				user := "u" + strconv.Itoa(r.IntN(40))
				switch op := r.IntN(12); op {
				case 0:
					res, _ := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: user, SKU: "a"})
					note(res)
				case 1, 2:
					res, _ := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: pick(r, &teams), UserID: user, SKU: "a"})
					note(res)
				case 3:
					res, _ := svc.Match(ctx, groupbuy.MatchRequest{CampaignID: "c", UserID: user, SKU: "a"})
					note(res)
				case 4, 5, 6:
					var req groupbuy.PaymentRequest
					mu.Lock()
					if len(refs) > 0 && r.IntN(4) == 0 {
						req = refs[r.IntN(len(refs))] // a replayed callback
					}
					mu.Unlock()
					if req.PaymentRef == "" {
						// Mostly a reserved seat, some of them lapsed; now
						// and then any seat (a late payment).
						st, err := store.GetSeat(ctx, pick(r, &seats))
						for try := 0; try < 6 && err == nil && st.State != groupbuy.SeatReserved && r.IntN(5) != 0; try++ {
							st, err = store.GetSeat(ctx, pick(r, &seats))
						}
						if err != nil {
							continue
						}
						req = groupbuy.PaymentRequest{TeamID: st.TeamID, SeatID: st.ID, PaymentRef: fmt.Sprintf("p%d-%d", w, n), Amount: st.Amount, Currency: st.Currency}
						mu.Lock()
						refs = append(refs, req)
						mu.Unlock()
					}
					if res, err := svc.ConfirmPayment(ctx, req); err == nil {
						note(groupbuy.SeatResult{Team: res.Team, Seat: res.Seat})
						mu.Lock()
						accepted[req.PaymentRef] = true
						mu.Unlock()
					}
				case 7:
					id := pick(r, &seats)
					if st, err := store.GetSeat(ctx, id); err == nil {
						_, _ = svc.CancelReservation(ctx, id, st.UserID)
					}
				case 8:
					if r.IntN(4) == 0 {
						_, _ = svc.CancelTeam(ctx, pick(r, &teams), "ops")
					}
				case 9:
					_, _ = svc.ProcessDue(ctx)
				case 10:
					id := pick(r, &seats)
					switch r.IntN(3) {
					case 0:
						_, _ = svc.MarkRefunded(ctx, id, r.IntN(3)) // 0: refused as naming no attempt
					case 1:
						_, _ = svc.MarkRefundFailed(ctx, id, r.IntN(3), "no")
					default:
						if _, err := svc.RetryRefund(ctx, id); err == nil {
							mu.Lock()
							retried[id]++
							mu.Unlock()
						}
					}
				case 11:
					clk.Advance(time.Duration(r.IntN(25)) * time.Second)
				}
			}
		}()
	}
	wg.Wait()
	clk.Advance(3 * time.Hour)
	if _, err := svcs[0].ProcessDue(ctx); err != nil {
		t.Fatal(err)
	}
	var evs []storage.Event
	for {
		got, err := out.Claim(ctx, storage.MaxClaim, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		evs = append(evs, got...)
	}
	topicCount := map[string]int{}
	for _, ev := range evs {
		topicCount[ev.Topic]++
	}
	t.Logf("accepted %d payments; events %v", len(accepted), topicCount)
	for _, id := range teams {
		tm, err := store.GetTeam(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if tm.State == groupbuy.TeamForming {
			t.Errorf("team %s still forming after its deadline and ProcessDue", id)
		}
	}
	problems, err := CheckLedger(ctx, store, evs, teams, accepted, func(seatID string) int { return retried[seatID] })
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// CheckLedger checks the money of store against evs, its whole outbox so
// far, for the given teams, and returns the problems it finds: every
// payment in accepted (the references ConfirmPayment took) has exactly
// one home (a seat of the teams it paid, or the refund of a late payment)
// and no other reference has one; every paid seat has one seat_paid
// event; every seat whose refund was requested has one refund_requested
// event under its own key per attempt, attempts 1..n with n its
// RefundAttempt and 1 + retried(seat) (the RetryRefund calls that
// succeeded), and a seat whose refund was never requested has none; every
// succeeded team has one team_succeeded event listing exactly its
// confirmed seats, and no other team has one.
func CheckLedger(ctx context.Context, store groupbuy.Store, evs []storage.Event, teams []string, accepted map[string]bool, retried func(seatID string) int) ([]string, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	homes := map[string]int{}
	paidEvents := map[string]int{}
	ownAttempts := map[string][]int{} // seat → the Attempts of its own refund_requested events
	succeeded := map[string][]string{}
	for _, ev := range evs {
		switch ev.Topic {
		case groupbuy.TopicRefundRequested:
			var p groupbuy.RefundRequestedPayload
			if err := json.Unmarshal(ev.Payload, &p); err != nil {
				return nil, fmt.Errorf("event %s: %w", ev.ID, err)
			}
			if p.ForSeat() {
				ownAttempts[p.SeatID] = append(ownAttempts[p.SeatID], p.Attempt)
			} else {
				homes[p.PaymentRef]++
			}
		case groupbuy.TopicSeatPaid:
			var p groupbuy.SeatPayload
			if err := json.Unmarshal(ev.Payload, &p); err != nil {
				return nil, fmt.Errorf("event %s: %w", ev.ID, err)
			}
			paidEvents[p.SeatID]++
		case groupbuy.TopicTeamSucceeded:
			var p groupbuy.TeamClosedPayload
			if err := json.Unmarshal(ev.Payload, &p); err != nil {
				return nil, fmt.Errorf("event %s: %w", ev.ID, err)
			}
			if _, dup := succeeded[p.TeamID]; dup {
				bad("team %s: two team_succeeded events", p.TeamID)
			}
			ids := []string{}
			for _, st := range p.Seats {
				ids = append(ids, st.SeatID)
			}
			slices.Sort(ids)
			succeeded[p.TeamID] = ids
		}
	}
	for _, id := range teams {
		tm, err := store.GetTeam(ctx, id)
		if err != nil {
			return nil, err
		}
		seats, err := store.TeamSeats(ctx, id)
		if err != nil {
			return nil, err
		}
		confirmed := []string{}
		for _, st := range seats {
			if st.State == groupbuy.SeatConfirmed {
				confirmed = append(confirmed, st.ID)
			}
			if st.PaymentRef != "" {
				homes[st.PaymentRef]++
				if paidEvents[st.ID] != 1 {
					bad("seat %s paid by %s: %d seat_paid events", st.ID, st.PaymentRef, paidEvents[st.ID])
				}
			}
			want := 0
			switch st.State {
			case groupbuy.SeatRefundRequested, groupbuy.SeatRefundFailed, groupbuy.SeatRefunded:
				want = 1 + retried(st.ID)
			}
			attempts := ownAttempts[st.ID]
			if len(attempts) != want {
				bad("seat %s (%s): %d refund_requested events under its key, want %d", st.ID, st.State, len(attempts), want)
			}
			// The attempts are 1, 2, ..., the last the seat's.
			slices.Sort(attempts)
			for i, a := range attempts {
				if a != i+1 {
					bad("seat %s (%s): refund_requested attempts %v", st.ID, st.State, attempts)
					break
				}
			}
			if st.RefundAttempt != want {
				bad("seat %s (%s): refund attempt %d, want %d", st.ID, st.State, st.RefundAttempt, want)
			}
		}
		slices.Sort(confirmed)
		got, ok := succeeded[id]
		if (tm.State == groupbuy.TeamSucceeded) != ok || (ok && !slices.Equal(got, confirmed)) {
			bad("team %s (%s): team_succeeded %v (%v), confirmed seats %v", id, tm.State, got, ok, confirmed)
		}
	}
	for ref := range accepted {
		if homes[ref] != 1 {
			bad("payment %s taken, with %d homes", ref, homes[ref])
		}
	}
	for ref, n := range homes {
		if !accepted[ref] {
			bad("payment %s never taken, with %d homes", ref, n)
		}
	}
	return problems, nil
}
