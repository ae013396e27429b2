package groupbuy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/memory"
)

// sim drives the Service with random commands and checks the invariants of
// ARCHITECTURE.md after every step.
type sim struct {
	t      *testing.T
	seed   uint64
	rng    *rand.Rand
	now    time.Time
	store  *memory.Store
	svc    *groupbuy.Service
	ctx    context.Context
	camps  []groupbuy.Campaign
	teams  []string
	seats  []string
	refs   map[string]string // seat → a payment ref used for it
	nref   int
	nid    int
	log    []string
	prev   map[string]string // entity ID → last seen state
	events map[string]int    // event key → count
	topics map[string]int    // topic/team → count
	retry  map[string]int    // seat → RetryRefund calls that succeeded
	refund map[string]string // refund key → the payment it refunds
	badPay map[string]bool   // refs whose payment should have changed nothing
	// attempt is the Attempt of the newest refund_requested or
	// refund_failed event of each seat's own refund.
	attempt map[string]int
	// churned counts the joins refused with ErrTeamChurned.
	churned int
}

func (s *sim) fail(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("seed %d (rerun with SCSDK_SEED=%d): %s\nlast steps:\n%v", s.seed, s.seed, fmt.Sprintf(format, args...), tail(s.log, 15))
}

func tail(l []string, n int) []string {
	if len(l) > n {
		return l[len(l)-n:]
	}
	return l
}

func newSim(t *testing.T, seed uint64) *sim {
	s := &sim{
		t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x5eed)), ctx: context.Background(),
		now:  time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC),
		refs: map[string]string{}, prev: map[string]string{}, events: map[string]int{},
		topics: map[string]int{}, retry: map[string]int{}, refund: map[string]string{}, badPay: map[string]bool{}, attempt: map[string]int{},
	}
	s.store = memory.New(memory.WithClock(func() time.Time { return s.now }))
	svc, err := groupbuy.New(s.store, groupbuy.Config{
		Now:   func() time.Time { return s.now },
		NewID: func() string { s.nid++; return fmt.Sprintf("id%05d", s.nid) },
		Seed:  seed,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.svc = svc
	fills := []groupbuy.VirtualFill{
		{Mode: groupbuy.VirtualFillNone},
		{Mode: groupbuy.VirtualFillMinPaid, MinPaidSeats: 1},
		{Mode: groupbuy.VirtualFillMinPercent, MinPercent: 50},
	}
	lates := []groupbuy.LatePaymentPolicy{groupbuy.LateRefund, groupbuy.LateJoinOther, groupbuy.LateOpenNew}
	for i := range 2 {
		size := 2 + s.rng.IntN(3)
		c := groupbuy.Campaign{
			ID: "c" + strconv.Itoa(i), ProductRef: "p", Currency: "CNY",
			Prices:   []groupbuy.SKUPrice{{SKU: "a", Price: decimal.RequireFromString("9.90")}, {SKU: "b", Price: decimal.NewFromInt(25)}},
			TeamSize: size, TeamLifetime: time.Hour, ReservationTTL: time.Duration(5+s.rng.IntN(30)) * time.Minute,
			StartsAt: s.now, EndsAt: s.now.Add(time.Duration(2+s.rng.IntN(6)) * time.Hour), Status: groupbuy.CampaignDraft,
			VirtualFill: fills[s.rng.IntN(len(fills))], RecordVirtualSeats: s.rng.IntN(2) == 0,
			LatePayment: lates[s.rng.IntN(len(lates))],
			Limits:      groupbuy.Limits{MaxTeamsOpenedPerUser: s.rng.IntN(3), MaxTeamsJoinedPerUser: s.rng.IntN(4), MaxUnitsPerOrder: 2},
		}
		if c.VirtualFill.Mode == groupbuy.VirtualFillMinPaid {
			c.VirtualFill.MinPaidSeats = 1 + s.rng.IntN(size-1)
		}
		if _, err := svc.CreateCampaign(s.ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetCampaignStatus(s.ctx, c.ID, groupbuy.CampaignActive); err != nil {
			t.Fatal(err)
		}
		s.camps = append(s.camps, c)
	}
	return s
}

// expected are the errors a random command may legitimately meet.
var expected = []error{
	groupbuy.ErrTeamFull, groupbuy.ErrTeamChurned, groupbuy.ErrTeamClosed, groupbuy.ErrAlreadyJoined, groupbuy.ErrLimitExceeded,
	groupbuy.ErrCampaignNotActive, groupbuy.ErrSeatNotReserved, groupbuy.ErrNotOwner, groupbuy.ErrAmountMismatch,
	groupbuy.ErrIllegalTransition,
}

func (s *sim) check(op string, err error) {
	s.t.Helper()
	if err == nil {
		return
	}
	for _, e := range expected {
		if errors.Is(err, e) {
			return
		}
	}
	s.fail("%s: unexpected error %v", op, err)
}

func pick[T any](r *rand.Rand, xs []T) (T, bool) {
	var zero T
	if len(xs) == 0 {
		return zero, false
	}
	return xs[r.IntN(len(xs))], true
}

func (s *sim) addResult(r groupbuy.SeatResult) {
	if r.Opened {
		s.teams = append(s.teams, r.Team.ID)
	}
	s.seats = append(s.seats, r.Seat.ID)
}

func (s *sim) step() {
	user := "u" + strconv.Itoa(s.rng.IntN(6))
	camp := s.camps[s.rng.IntN(len(s.camps))]
	sku := []string{"a", "b"}[s.rng.IntN(2)]
	qty := 1 + s.rng.IntN(2)
	switch op := s.rng.IntN(100); {
	case op < 14:
		key := ""
		if s.rng.IntN(3) == 0 {
			key = "k" + strconv.Itoa(s.rng.IntN(5))
		}
		s.log = append(s.log, fmt.Sprintf("open %s %s key=%s", camp.ID, user, key))
		r, err := s.svc.Open(s.ctx, groupbuy.OpenRequest{CampaignID: camp.ID, UserID: user, SKU: sku, Quantity: qty, IdempotencyKey: key})
		if errors.Is(err, groupbuy.ErrIdempotencyKeyReused) {
			return
		}
		s.check("open", err)
		if err == nil {
			s.addResult(r)
		}
	case op < 34:
		team, ok := pick(s.rng, s.teams)
		if !ok {
			return
		}
		tv, _ := s.svc.Team(s.ctx, team)
		s.log = append(s.log, fmt.Sprintf("join %s %s", team, user))
		r, err := s.svc.Join(s.ctx, groupbuy.JoinRequest{CampaignID: tv.Team.CampaignID, TeamID: team, UserID: user, SKU: sku, Quantity: qty})
		s.check("join", err)
		if err == nil {
			s.addResult(r)
		}
		// u0 churns: cancels and joins again until refused, so that teams
		// reach their seat-row bound (groupbuy.MaxSeatRows: at most 24
		// rows for the sim's teams of 2 to 4).
		for i := 0; err == nil && user == "u0" && i < 30; i++ {
			s.log = append(s.log, fmt.Sprintf("churn %s %s", team, user))
			_, err = s.svc.CancelReservation(s.ctx, r.Seat.ID, user)
			s.check("churn cancel", err)
			if err != nil {
				break
			}
			r, err = s.svc.Join(s.ctx, groupbuy.JoinRequest{CampaignID: tv.Team.CampaignID, TeamID: team, UserID: user, SKU: sku, Quantity: qty})
			s.check("churn join", err)
			if err == nil {
				s.addResult(r)
			}
			if errors.Is(err, groupbuy.ErrTeamChurned) {
				s.churned++
			}
		}
	case op < 44:
		strat := []groupbuy.MatchStrategy{groupbuy.MatchOldest, groupbuy.MatchFullest, groupbuy.MatchRandom}[s.rng.IntN(3)]
		s.log = append(s.log, fmt.Sprintf("match %s %s %s", camp.ID, user, strat))
		r, err := s.svc.Match(s.ctx, groupbuy.MatchRequest{CampaignID: camp.ID, UserID: user, SKU: sku, Quantity: qty, Strategy: strat})
		s.check("match", err)
		if err == nil {
			s.addResult(r)
		}
	case op < 70:
		seatID, ok := pick(s.rng, s.seats)
		if !ok {
			return
		}
		seat, err := s.store.GetSeat(s.ctx, seatID)
		if err != nil {
			s.fail("get seat: %v", err)
		}
		ref, replay := s.refs[seatID]
		if !replay || s.rng.IntN(4) != 0 {
			s.nref++
			ref = "pay" + strconv.Itoa(s.nref)
		}
		amount := seat.Amount
		if s.rng.IntN(20) == 0 {
			amount = amount.Add(decimal.NewFromInt(1))
			s.badPay[ref] = true
		}
		s.log = append(s.log, fmt.Sprintf("pay %s (%s) ref=%s", seatID, seat.State, ref))
		_, err = s.svc.ConfirmPayment(s.ctx, groupbuy.PaymentRequest{TeamID: seat.TeamID, SeatID: seatID, PaymentRef: ref, Amount: amount, Currency: "CNY"})
		if errors.Is(err, groupbuy.ErrIdempotencyKeyReused) {
			return
		}
		s.check("pay", err)
		if err == nil && !s.badPay[ref] {
			s.refs[seatID] = ref
		}
	case op < 76:
		seatID, ok := pick(s.rng, s.seats)
		if !ok {
			return
		}
		seat, _ := s.store.GetSeat(s.ctx, seatID)
		s.log = append(s.log, "cancel reservation "+seatID)
		_, err := s.svc.CancelReservation(s.ctx, seatID, seat.UserID)
		s.check("cancel reservation", err)
	case op < 78:
		team, ok := pick(s.rng, s.teams)
		if !ok {
			return
		}
		s.log = append(s.log, "cancel team "+team)
		_, err := s.svc.CancelTeam(s.ctx, team, "operator")
		s.check("cancel team", err)
	case op < 88:
		d := time.Duration(s.rng.IntN(20)) * time.Minute
		if s.rng.IntN(8) == 0 {
			d = 2 * time.Hour
		}
		s.now = s.now.Add(d)
		s.log = append(s.log, fmt.Sprintf("advance %s; process due", d))
		if _, err := s.svc.ProcessDue(s.ctx); err != nil {
			s.fail("process due: %v", err)
		}
	case op < 96:
		seatID, ok := pick(s.rng, s.seats)
		if !ok {
			return
		}
		var err error
		before, gerr := s.store.GetSeat(s.ctx, seatID)
		if gerr != nil {
			s.fail("seat %s: %v", seatID, gerr)
		}
		// The attempt a report names: none (0, refused as bad input), the
		// current one, or a stale or future one.
		attempt := []int{0, before.RefundAttempt, before.RefundAttempt - 1, before.RefundAttempt + 1}[s.rng.IntN(4)]
		attempt = max(attempt, 0)
		retry := false
		switch s.rng.IntN(3) {
		case 0:
			s.log = append(s.log, fmt.Sprintf("refunded %s attempt %d", seatID, attempt))
			_, err = s.svc.MarkRefunded(s.ctx, seatID, attempt)
		case 1:
			s.log = append(s.log, fmt.Sprintf("refund failed %s attempt %d", seatID, attempt))
			_, err = s.svc.MarkRefundFailed(s.ctx, seatID, attempt, "bank down")
		default:
			s.log = append(s.log, "retry refund "+seatID)
			retry = true
			_, err = s.svc.RetryRefund(s.ctx, seatID)
			if err == nil {
				s.retry[seatID]++
			}
		}
		if !retry && attempt < 1 {
			if _, ok := errors.AsType[*groupbuy.ValidationError](err); !ok {
				s.fail("seat %s: a report of attempt %d: %v, want a *ValidationError", seatID, attempt, err)
			}
			if after, gerr := s.store.GetSeat(s.ctx, seatID); gerr != nil || after != before {
				s.fail("a report of attempt %d changed seat %s: %+v -> %+v (%v)", attempt, seatID, before, after, gerr)
			}
			err = nil
		}
		if errors.Is(err, groupbuy.ErrStaleRefundAttempt) {
			after, gerr := s.store.GetSeat(s.ctx, seatID)
			if gerr != nil || after != before {
				s.fail("stale report changed seat %s: %+v -> %+v (%v)", seatID, before, after, gerr)
			}
			if attempt == before.RefundAttempt {
				s.fail("seat %s at attempt %d: attempt %d refused as stale", seatID, before.RefundAttempt, attempt)
			}
			err = nil
		}
		s.check("refund step", err)
	default:
		c, err := s.svc.Campaign(s.ctx, camp.ID)
		if err != nil {
			s.fail("campaign: %v", err)
		}
		to := groupbuy.CampaignPaused
		if c.Status == groupbuy.CampaignPaused {
			to = groupbuy.CampaignActive
		}
		s.log = append(s.log, fmt.Sprintf("campaign %s -> %s", camp.ID, to))
		_, err = s.svc.SetCampaignStatus(s.ctx, camp.ID, to)
		s.check("campaign status", err)
	}
}

// reachable reports whether a seat may move from → to in zero or more legal
// transitions.
func reachable(from, to groupbuy.SeatState) bool {
	seen := map[groupbuy.SeatState]bool{from: true}
	queue := []groupbuy.SeatState{from}
	all := []groupbuy.SeatState{groupbuy.SeatReserved, groupbuy.SeatPaid, groupbuy.SeatConfirmed, groupbuy.SeatReleased, groupbuy.SeatRefundRequested, groupbuy.SeatRefunded, groupbuy.SeatRefundFailed}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == to {
			return true
		}
		for _, n := range all {
			if !seen[n] && groupbuy.CheckSeatTransition(cur, n) == nil {
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
	return false
}

func (s *sim) drain() {
	for {
		evs, err := s.store.Claim(s.ctx, 1000, time.Hour)
		if err != nil {
			s.fail("claim: %v", err)
		}
		if len(evs) == 0 {
			return
		}
		ids := make([]string, len(evs))
		for i, e := range evs {
			ids[i] = e.ID
			s.events[e.Key]++
			s.topics[e.Topic+"/"+e.Key]++
			if e.Topic == groupbuy.TopicRefundRequested {
				// One key per payment: a host passes it to its payment
				// provider, which refunds a key once.
				var p groupbuy.RefundRequestedPayload
				if err := json.Unmarshal(e.Payload, &p); err != nil || p.Key != e.Key || p.PaymentRef == "" {
					s.fail("refund event %s: payload %s (%v)", e.Key, e.Payload, err)
				}
				if ref, ok := s.refund[e.Key]; ok && ref != p.PaymentRef {
					s.fail("refund key %s serves payments %s and %s", e.Key, ref, p.PaymentRef)
				}
				s.refund[e.Key] = p.PaymentRef
				if p.ForSeat() {
					if p.Attempt < 1 {
						s.fail("seat refund event %s: attempt %d", e.Key, p.Attempt)
					}
					s.attempt[p.SeatID] = p.Attempt
				} else if p.Attempt != 0 {
					s.fail("late refund event %s: attempt %d", e.Key, p.Attempt)
				}
			}
			if e.Topic == groupbuy.TopicRefundFailed {
				var p groupbuy.RefundFailedPayload
				if err := json.Unmarshal(e.Payload, &p); err != nil {
					s.fail("refund failed event %s: %v", e.Key, err)
				}
				s.attempt[p.SeatID] = p.Attempt
			}
		}
		if err := s.store.Ack(s.ctx, ids); err != nil {
			s.fail("ack: %v", err)
		}
	}
}

func (s *sim) invariants() {
	s.t.Helper()
	s.drain()
	// Late payments may have opened teams the sim did not see.
	for _, c := range s.camps {
		open, err := s.store.OpenTeams(s.ctx, c.ID, s.now.Add(-24*time.Hour), groupbuy.MatchOldest, groupbuy.MaxListLimit)
		if err != nil {
			s.fail("open teams: %v", err)
		}
		for _, t := range open {
			if _, ok := s.prev[t.ID]; !ok {
				s.teams = append(s.teams, t.ID)
				s.prev[t.ID] = string(t.State)
			}
		}
	}
	for _, id := range s.teams {
		tv, err := s.svc.Team(s.ctx, id)
		if err != nil {
			s.fail("team %s: %v", id, err)
		}
		tm := tv.Team
		if prev := s.prev[id]; prev != "" && prev != string(tm.State) && groupbuy.TeamState(prev).Final() {
			s.fail("team %s left final state %s for %s", id, prev, tm.State)
		}
		s.prev[id] = string(tm.State)
		var active, paid, confirmed, bots int
		for _, st := range tv.Seats {
			if prev := s.prev[st.ID]; prev != "" && !reachable(groupbuy.SeatState(prev), st.State) {
				s.fail("seat %s moved %s -> %s illegally", st.ID, prev, st.State)
			}
			if _, ok := s.prev[st.ID]; !ok && !st.Virtual {
				s.seats = append(s.seats, st.ID)
			}
			s.prev[st.ID] = string(st.State)
			if st.Virtual {
				bots++
				continue
			}
			switch st.State {
			case groupbuy.SeatReserved:
				active++
			case groupbuy.SeatPaid:
				active++
				paid++
			case groupbuy.SeatConfirmed:
				active++
				paid++
				confirmed++
			case groupbuy.SeatRefundRequested, groupbuy.SeatRefundFailed, groupbuy.SeatRefunded:
				key := groupbuy.RefundKey(st.TeamID, st.ID)
				if got, want := s.topics[groupbuy.TopicRefundRequested+"/"+key], 1+s.retry[st.ID]; got != want {
					s.fail("seat %s: %d refund requests, want %d", st.ID, got, want)
				}
				if st.RefundAttempt != 1+s.retry[st.ID] || s.attempt[st.ID] != st.RefundAttempt {
					s.fail("seat %s %s: refund attempt %d, %d retries, last event's attempt %d", st.ID, st.State,
						st.RefundAttempt, s.retry[st.ID], s.attempt[st.ID])
				}
			default:
				if st.RefundAttempt != 0 {
					s.fail("seat %s %s: refund attempt %d", st.ID, st.State, st.RefundAttempt)
				}
			}
			if n := s.events["gb:"+st.TeamID+":"+st.ID+":paid"]; n > 1 {
				s.fail("seat %s paid %d times", st.ID, n)
			}
		}
		if active > tm.Capacity || paid > tm.Capacity {
			s.fail("team %s overfilled: %d active, %d paid, capacity %d", id, active, paid, tm.Capacity)
		}
		if tm.SeatsTaken != active || tm.SeatsPaid != paid {
			s.fail("team %s counters %d/%d, seats say %d/%d", id, tm.SeatsTaken, tm.SeatsPaid, active, paid)
		}
		// Seat rows: counted on the team, bounded (bot rows come on top).
		if rows := len(tv.Seats) - bots; tm.SeatRows != rows || rows > groupbuy.MaxSeatRows(tm.Capacity) {
			s.fail("team %s: %d real seat rows, SeatRows %d, bound %d", id, rows, tm.SeatRows, groupbuy.MaxSeatRows(tm.Capacity))
		}
		succeeded := s.topics[groupbuy.TopicTeamSucceeded+"/gb:"+id+":succeeded"]
		switch tm.State {
		case groupbuy.TeamSucceeded:
			if confirmed+tm.VirtualSeats != tm.Capacity || active != confirmed {
				s.fail("succeeded team %s: %d confirmed + %d virtual != %d (active %d)", id, confirmed, tm.VirtualSeats, tm.Capacity, active)
			}
			if bots != 0 && bots != tm.VirtualSeats {
				s.fail("team %s: %d bot rows for %d virtual seats", id, bots, tm.VirtualSeats)
			}
			if succeeded != 1 {
				s.fail("team %s: %d TeamSucceeded events", id, succeeded)
			}
		case groupbuy.TeamFailed, groupbuy.TeamCancelled:
			if active != 0 {
				s.fail("closed team %s still holds %d active seats", id, active)
			}
			if succeeded != 0 || s.topics[groupbuy.TopicTeamFailed+"/gb:"+id+":failed"] != 1 {
				s.fail("team %s: wrong close events", id)
			}
		case groupbuy.TeamForming:
			if confirmed != 0 || succeeded != 0 {
				s.fail("forming team %s has confirmed seats or a success event", id)
			}
		}
	}
}

func TestPropertyRandomInterleavings(t *testing.T) {
	seeds, steps := uint64(1000), 80
	if testing.Short() {
		seeds = 100
	}
	first := uint64(1)
	if v := os.Getenv("SCSDK_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SCSDK_SEED: %v", err)
		}
		first, seeds = n, 1
	}
	seen := map[string]int{}
	churned := 0
	for seed := first; seed < first+seeds; seed++ {
		s := newSim(t, seed)
		for range steps {
			s.step()
			s.invariants()
		}
		// Run everything to its end: every team closes, nothing is stuck.
		s.now = s.now.Add(48 * time.Hour)
		if _, err := s.svc.ProcessDue(s.ctx); err != nil {
			s.fail("final process due: %v", err)
		}
		s.invariants()
		for _, id := range s.teams {
			tm, _ := s.store.GetTeam(s.ctx, id)
			if tm.State == groupbuy.TeamForming {
				s.fail("team %s still forming after every deadline", id)
			}
		}
		for k, n := range s.topics {
			for _, topic := range []string{groupbuy.TopicTeamSucceeded, groupbuy.TopicTeamFailed, groupbuy.TopicVirtualSeatsAdded, groupbuy.TopicLatePaymentHandled, groupbuy.TopicRefundRequested} {
				if len(k) > len(topic) && k[:len(topic)] == topic {
					seen[topic] += n
				}
			}
		}
		churned += s.churned
	}
	// The random walk must reach every outcome, or it proves little.
	if seeds >= 100 {
		for _, topic := range []string{groupbuy.TopicTeamSucceeded, groupbuy.TopicTeamFailed, groupbuy.TopicVirtualSeatsAdded, groupbuy.TopicLatePaymentHandled, groupbuy.TopicRefundRequested} {
			if seen[topic] == 0 {
				t.Errorf("no %s in %d seeds", topic, seeds)
			}
		}
		if churned == 0 {
			t.Errorf("no join refused at the seat-row bound in %d seeds", seeds)
		}
	}
	t.Logf("%d seeds: %v; %d joins refused at the seat-row bound", seeds, seen, churned)
}
