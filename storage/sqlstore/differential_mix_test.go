package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/memory"
	"github.com/socialcommerce/sdk/storage/sqlstore"
	"github.com/socialcommerce/sdk/storage/storagetest"
)

// TestDifferentialMix runs memory and a SQL store side by side, as
// TestDifferential does, with the operations it lacks: two campaigns with
// their own limits and late policies, each paused, resumed and ended, the
// clock set exactly to a team's or a reservation's deadline (or a
// nanosecond or a microsecond either side of it), orders of several units
// under a per-order limit, and the outbox compared after every step
// (topics, keys and payloads, with IDs named by their order of
// appearance); after every step the money is checked too (ledger).
func TestDifferentialMix(t *testing.T) {
	rounds := reviewRounds(t, 6)
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		for seed := range uint64(rounds) {
			t.Run(strconv.Itoa(int(seed)), func(t *testing.T) {
				s := newStore(t, db, d)
				diffMixRun(t, 500+seed, s, s)
			})
		}
	})
}

// TestDifferentialMixWithTx is TestDifferentialMix with every store call
// in a host transaction of its own.
func TestDifferentialMixWithTx(t *testing.T) {
	rounds := reviewRounds(t, 3)
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		for seed := range uint64(rounds) {
			t.Run(strconv.Itoa(int(seed)), func(t *testing.T) {
				s := newStore(t, db, d)
				diffMixRun(t, 1500+seed, &txPerCall{t: t, db: db, s: s}, s)
			})
		}
	})
}

var (
	diffIDPattern = regexp.MustCompile(`x[01]-\d{5}`)
	// diffPlacing matches the error text a late payment's reason quotes,
	// which names the store that refused the placement.
	diffPlacing = regexp.MustCompile(`placing failed: [^"]*`)
)

// events claims and acks every event the side's outbox holds and returns
// them normalised and sorted: IDs the side handed out as teams or seats by
// their index, other IDs (events, bot seats) as "ID"; created_at left out.
func (d *diffSide) events(ctx context.Context, t *testing.T, out storage.Outbox, all *[]storage.Event) []string {
	evs, err := out.Claim(ctx, storage.MaxClaim, time.Hour)
	require.NoError(t, err)
	*all = append(*all, evs...)
	var ids []string
	var norm []string
	for _, ev := range evs {
		ids = append(ids, ev.ID)
		n := func(s string) string {
			return diffIDPattern.ReplaceAllStringFunc(s, func(id string) string {
				if v, ok := d.idx[id]; ok {
					return v
				}
				return "ID"
			})
		}
		payload := diffPlacing.ReplaceAllStringFunc(string(ev.Payload), func(m string) string {
			return "placing failed: " + m[strings.LastIndex(m, ": ")+2:]
		})
		norm = append(norm, ev.Topic+" "+n(ev.Key)+" "+n(payload))
	}
	if len(ids) > 0 {
		require.NoError(t, out.Ack(ctx, ids))
	}
	slices.Sort(norm)
	return norm
}

func diffMixRun(t *testing.T, seed uint64, sqlStore groupbuy.Store, sqlOut storage.Outbox) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 7))
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 123456000+int(rng.IntN(1000)), time.UTC)
	clk := &nsClock{t: t0}
	mem := memory.New()
	stores := []groupbuy.Store{mem, sqlStore}
	outs := []storage.Outbox{mem, sqlOut}
	sides := make([]*diffSide, 2)
	for i, st := range stores {
		n := 0
		svc, err := groupbuy.New(st, groupbuy.Config{Now: clk.Now, Seed: 7, NewID: func() string { n++; return fmt.Sprintf("x%d-%05d", i, n) }})
		require.NoError(t, err)
		sides[i] = &diffSide{svc: svc, store: st, idx: map[string]string{}}
	}
	modes := []groupbuy.VirtualFill{{Mode: groupbuy.VirtualFillNone}, {Mode: groupbuy.VirtualFillMinPaid, MinPaidSeats: 1}, {Mode: groupbuy.VirtualFillMinPercent, MinPercent: 50}}
	lates := []groupbuy.LatePaymentPolicy{groupbuy.LateRefund, groupbuy.LateJoinOther, groupbuy.LateOpenNew}
	size := 2 + rng.IntN(3)
	vf := modes[rng.IntN(len(modes))]
	if vf.Mode == groupbuy.VirtualFillMinPercent && size == 2 {
		vf = modes[0]
	}
	camp := groupbuy.Campaign{
		ID: "camp", ProductRef: "spu", Currency: "CNY",
		Prices:   []groupbuy.SKUPrice{{SKU: "a", Price: decimal.RequireFromString("9.90")}, {SKU: "b", Price: decimal.RequireFromString("5")}},
		TeamSize: size, TeamLifetime: time.Duration(20+rng.IntN(60)) * time.Minute, ReservationTTL: time.Duration(5+rng.IntN(15)) * time.Minute,
		StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(time.Duration(1+rng.IntN(3)) * time.Hour).Add(time.Duration(rng.IntN(1000))),
		Status: groupbuy.CampaignActive, VirtualFill: vf, LatePayment: lates[rng.IntN(len(lates))],
		RecordVirtualSeats: rng.IntN(2) == 0,
		Limits:             groupbuy.Limits{MaxTeamsOpenedPerUser: rng.IntN(3), MaxTeamsJoinedPerUser: rng.IntN(3), MaxUnitsPerOrder: rng.IntN(3)},
	}
	// A second campaign, so that a user's counts in one never bound the
	// other: its own late policy and limits.
	camp2 := camp
	camp2.ID, camp2.LatePayment = "camp2", lates[rng.IntN(len(lates))]
	camp2.Limits = groupbuy.Limits{MaxTeamsOpenedPerUser: rng.IntN(3), MaxTeamsJoinedPerUser: rng.IntN(3)}
	for _, s := range sides {
		for _, c := range []groupbuy.Campaign{camp, camp2} {
			_, err := s.svc.CreateCampaign(ctx, c)
			require.NoError(t, err)
		}
	}
	users := []string{"u1", "u2", "u3", "u4"}
	var log []string
	var all [2][]storage.Event
	accepted := map[string]bool{} // payment refs ConfirmPayment took
	retried := map[string]int{}   // seat index → RetryRefund calls that succeeded
	refs := 0
	for step := range 150 {
		op := rng.IntN(17)
		cid := []string{"camp", "camp2"}[rng.IntN(2)]
		user := users[rng.IntN(len(users))]
		sku := []string{"a", "b"}[rng.IntN(2)]
		qty := 1 + rng.IntN(3)
		ti, si := rng.IntN(1000), rng.IntN(1000)
		key := ""
		if rng.IntN(3) == 0 {
			key = "k" + strconv.Itoa(rng.IntN(6))
		}
		if rng.IntN(5) != 0 {
			refs++
		}
		ref := "pay-" + strconv.Itoa(refs)
		status := []groupbuy.CampaignStatus{groupbuy.CampaignPaused, groupbuy.CampaignActive, groupbuy.CampaignActive, groupbuy.CampaignEnded}[rng.IntN(4)]
		if rng.IntN(3) != 0 && status == groupbuy.CampaignEnded {
			status = groupbuy.CampaignPaused
		}
		offset := []time.Duration{0, 0, -1, 1, -time.Microsecond, time.Microsecond}[rng.IntN(6)]
		useTeam := rng.IntN(2) == 0
		refundChoice, attempt := rng.IntN(3), rng.IntN(4) // attempt 0 is unchecked
		strategy := []groupbuy.MatchStrategy{groupbuy.MatchFullest, groupbuy.MatchOldest, groupbuy.MatchRandom}[rng.IntN(3)]
		var results [2]string
		var to time.Time
		desc := ""
		for i, s := range sides {
			team := func() string {
				if len(s.teams) == 0 {
					return "none"
				}
				return s.teams[ti%len(s.teams)]
			}
			seat := func() string {
				if len(s.seats) == 0 {
					return "none"
				}
				return s.seats[si%len(s.seats)]
			}
			var res string
			switch op {
			case 0, 1:
				desc = fmt.Sprintf("open %s %s x%d", cid, user, qty)
				r, err := s.svc.Open(ctx, groupbuy.OpenRequest{CampaignID: cid, UserID: user, SKU: sku, Quantity: qty, IdempotencyKey: key})
				s.note(r.Team, r.Seat)
				res = errClass(err) + " " + s.teamV(r.Team) + " | " + s.seatV(r.Seat)
			case 2, 3:
				desc = fmt.Sprintf("join %s %s x%d", cid, user, qty)
				r, err := s.svc.Join(ctx, groupbuy.JoinRequest{CampaignID: cid, TeamID: team(), UserID: user, SKU: sku, Quantity: qty, IdempotencyKey: key})
				s.note(r.Team, r.Seat)
				res = errClass(err) + " " + s.teamV(r.Team) + " | " + s.seatV(r.Seat)
			case 4:
				desc = fmt.Sprintf("match %s %s x%d %s", cid, user, qty, strategy)
				r, err := s.svc.Match(ctx, groupbuy.MatchRequest{CampaignID: cid, UserID: user, SKU: sku, Quantity: qty, Strategy: strategy, IdempotencyKey: key})
				s.note(r.Team, r.Seat)
				res = errClass(err) + " " + s.teamV(r.Team) + " | " + s.seatV(r.Seat) + fmt.Sprint(r.Opened)
			case 5, 6, 7:
				desc = "pay " + ref
				id := seat()
				st, err := s.store.GetSeat(ctx, id)
				if err != nil {
					res = "noseat"
					break
				}
				r, err := s.svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{TeamID: st.TeamID, SeatID: id, PaymentRef: ref, Amount: st.Amount, Currency: "CNY"})
				s.note(r.Team, r.Seat)
				if err == nil {
					accepted[ref] = true
				}
				res = errClass(err) + " " + s.teamV(r.Team) + " | " + s.seatV(r.Seat) + fmt.Sprintf(" filled=%v", r.Filled)
				if r.Late != nil {
					reason := r.Late.Reason
					if i := strings.Index(reason, "placing failed: "); i >= 0 {
						reason = reason[:i] + "placing failed: " + reason[strings.LastIndex(reason, ": ")+2:]
					}
					res += fmt.Sprintf(" late=%s/%s %s", r.Late.Policy, r.Late.Action, reason)
				}
			case 8:
				desc = "cancel reservation"
				id := seat()
				owner := user
				if st, err := s.store.GetSeat(ctx, id); err == nil {
					owner = st.UserID
				}
				st, err := s.svc.CancelReservation(ctx, id, owner)
				res = errClass(err) + " " + s.seatV(st)
			case 9:
				desc = "cancel team"
				tm, err := s.svc.CancelTeam(ctx, team(), "why")
				res = errClass(err) + " " + s.teamV(tm)
			case 10, 11:
				desc = "process due"
				rep, err := s.svc.ProcessDue(ctx)
				res = errClass(err) + fmt.Sprintf(" %+v", rep)
			case 12:
				desc = "refund step"
				id := seat()
				var st groupbuy.Seat
				var err error
				switch refundChoice {
				case 0:
					st, err = s.svc.MarkRefunded(ctx, id, attempt)
				case 1:
					st, err = s.svc.MarkRefundFailed(ctx, id, attempt, "no")
				default:
					st, err = s.svc.RetryRefund(ctx, id)
					if err == nil && i == 0 {
						retried[s.idx[id]]++
					}
				}
				res = errClass(err) + " " + s.seatV(st)
			case 13:
				desc = "campaign " + cid + " " + string(status)
				c, err := s.svc.SetCampaignStatus(ctx, cid, status)
				res = errClass(err) + " " + string(c.Status)
			case 14, 15:
				// The clock to a deadline of the memory side (the sides'
				// deadlines are compared by the snapshots), off by offset.
				if i == 0 {
					var at time.Time
					if useTeam && len(s.teams) > 0 {
						tm, err := s.store.GetTeam(ctx, team())
						require.NoError(t, err)
						at = tm.ExpiresAt
					} else if len(s.seats) > 0 {
						st, err := s.store.GetSeat(ctx, seat())
						require.NoError(t, err)
						at = st.ReservedUntil
					}
					if !at.IsZero() && at.Add(offset).After(clk.Now()) {
						to = at.Add(offset)
					}
				}
				desc = fmt.Sprintf("clock to deadline%+v", offset)
			case 16:
				desc = "user seats " + user + ", open teams"
				page, err := s.svc.UserSeats(ctx, user, "", 50)
				res = errClass(err)
				for _, st := range page.Seats {
					res += " " + s.idx[st.ID] + "/" + string(st.State)
				}
				open, err := s.svc.OpenTeams(ctx, cid, 50)
				res += "; open teams of " + cid + ": " + errClass(err)
				for _, tm := range open {
					res += " " + s.teamV(tm)
				}
			}
			results[i] = res
		}
		if !to.IsZero() {
			clk.Set(to)
		}
		log = append(log, fmt.Sprintf("%d %s: %s", step, desc, results[0]))
		if results[0] != results[1] {
			t.Fatalf("seed %d step %d %s: memory and sql differ\nmemory: %s\nsql:    %s\nlog:\n%s", seed, step, desc, results[0], results[1], joinLines(log))
		}
		if a, b := sides[0].snapshot(ctx), sides[1].snapshot(ctx); a != b {
			t.Fatalf("seed %d step %d %s: state differs\nmemory:\n%s\nsql:\n%s\nlog:\n%s", seed, step, desc, a, b, joinLines(log))
		}
		ea, eb := sides[0].events(ctx, t, outs[0], &all[0]), sides[1].events(ctx, t, outs[1], &all[1])
		if !slices.Equal(ea, eb) {
			t.Fatalf("seed %d step %d %s: events differ\nmemory:\n%s\nsql:\n%s\nlog:\n%s", seed, step, desc, strings.Join(ea, "\n"), strings.Join(eb, "\n"), joinLines(log))
		}
		for i, s := range sides {
			if msg := s.ledger(ctx, t, all[i], accepted, retried); msg != "" {
				t.Fatalf("seed %d step %d %s: side %d: %s\nlog:\n%s", seed, step, desc, i, msg, joinLines(log))
			}
		}
	}
}

// ledger checks the money of a side against its whole outbox so far
// (storagetest.CheckLedger over the side's teams) and returns the first
// problem, naming IDs as the log does, or "".
func (d *diffSide) ledger(ctx context.Context, t *testing.T, evs []storage.Event, accepted map[string]bool, retried map[string]int) string {
	problems, err := storagetest.CheckLedger(ctx, d.store, evs, d.teams, accepted, func(seatID string) int { return retried[d.idx[seatID]] })
	require.NoError(t, err)
	if len(problems) == 0 {
		return ""
	}
	msg := problems[0]
	for id, name := range d.idx {
		msg = strings.ReplaceAll(msg, id, name)
	}
	return msg
}
