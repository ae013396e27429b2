package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
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
)

// diffSide is one store under a Service, with the IDs it handed out in the
// order they appeared (IDs differ between stores: an adapter may draw
// IDs it does not use).
type diffSide struct {
	svc   *groupbuy.Service
	store groupbuy.Store
	teams []string
	seats []string
	idx   map[string]string
}

func (d *diffSide) note(t groupbuy.Team, st groupbuy.Seat) {
	if t.ID != "" {
		if _, ok := d.idx[t.ID]; !ok {
			d.idx[t.ID] = "T" + strconv.Itoa(len(d.teams))
			d.teams = append(d.teams, t.ID)
		}
	}
	if st.ID != "" {
		if _, ok := d.idx[st.ID]; !ok {
			d.idx[st.ID] = "S" + strconv.Itoa(len(d.seats))
			d.seats = append(d.seats, st.ID)
		}
	}
}

func errClass(err error) string {
	if err == nil {
		return "ok"
	}
	for _, s := range []error{groupbuy.ErrNotFound, groupbuy.ErrCampaignNotActive, groupbuy.ErrTeamChurned, groupbuy.ErrTeamFull, groupbuy.ErrTeamClosed,
		groupbuy.ErrAlreadyJoined, groupbuy.ErrLimitExceeded, groupbuy.ErrSeatNotReserved, groupbuy.ErrAmountMismatch,
		groupbuy.ErrNotOwner, groupbuy.ErrIdempotencyKeyReused, groupbuy.ErrConflict, groupbuy.ErrIllegalTransition, groupbuy.ErrStaleRefundAttempt} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	if _, ok := errors.AsType[*storage.ValidationError](err); ok {
		return "validation: " + err.Error()
	}
	return "other: " + err.Error()
}

func (d *diffSide) teamV(t groupbuy.Team) string {
	return fmt.Sprintf("%s %s cap=%d taken=%d paid=%d virt=%d rows=%d exp=%s closed=%s v=%d", d.idx[t.ID], t.State, t.Capacity, t.SeatsTaken,
		t.SeatsPaid, t.VirtualSeats, t.SeatRows, t.ExpiresAt.Truncate(time.Microsecond).Format(time.RFC3339Nano),
		t.ClosedAt.Truncate(time.Microsecond).Format(time.RFC3339Nano), t.Version)
}

func (d *diffSide) seatV(st groupbuy.Seat) string {
	return fmt.Sprintf("%s %s team=%s user=%s %s leader=%v virt=%v until=%s paid=%s ref=%s v=%d attempt=%d", d.idx[st.ID], st.State, d.idx[st.TeamID], st.UserID,
		st.Amount, st.Leader, st.Virtual, st.ReservedUntil.Truncate(time.Microsecond).Format(time.RFC3339Nano),
		st.PaidAt.Truncate(time.Microsecond).Format(time.RFC3339Nano), st.PaymentRef, st.Version, st.RefundAttempt)
}

func (d *diffSide) snapshot(ctx context.Context) string {
	out := ""
	for _, id := range d.teams {
		t, err := d.store.GetTeam(ctx, id)
		if err != nil {
			out += "team err " + errClass(err) + "\n"
			continue
		}
		out += d.teamV(t) + "\n"
		seats, err := d.store.TeamSeats(ctx, id)
		if err != nil {
			out += "seats err " + errClass(err) + "\n"
		}
		for _, st := range seats {
			d.note(groupbuy.Team{}, st)
			out += "  " + d.seatV(st) + "\n"
		}
	}
	return out
}

// reviewRounds is the number of seeded sequences a differential test
// runs: SCSDK_DIFF_ROUNDS when set, else def.
func reviewRounds(t *testing.T, def int) int {
	s := os.Getenv("SCSDK_DIFF_ROUNDS")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("SCSDK_DIFF_ROUNDS=%q: want a whole number of at least 1", s)
	}
	return n
}

func TestDifferential(t *testing.T) {
	rounds := reviewRounds(t, 4)
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		for seed := range uint64(rounds) {
			t.Run(strconv.Itoa(int(seed)), func(t *testing.T) {
				diffRun(t, seed, newStore(t, db, d))
			})
		}
	})
}

// TestDifferentialWithTx is TestDifferential with every
// store call in a host transaction of its own.
func TestDifferentialWithTx(t *testing.T) {
	rounds := reviewRounds(t, 2)
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		for seed := range uint64(rounds) {
			t.Run(strconv.Itoa(int(seed)), func(t *testing.T) {
				diffRun(t, 1000+seed, &txPerCall{t: t, db: db, s: newStore(t, db, d)})
			})
		}
	})
}

func diffRun(t *testing.T, seed uint64, sqlStore groupbuy.Store) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 99))
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 123456000+int(rng.IntN(1000)), time.UTC)
	clk := &nsClock{t: t0}
	sides := make([]*diffSide, 2)
	for i, st := range []groupbuy.Store{memory.New(), sqlStore} {
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
		StartsAt: t0.Add(-time.Hour).Truncate(time.Second), EndsAt: t0.Add(time.Duration(2+rng.IntN(5)) * time.Hour).Truncate(time.Second),
		Status: groupbuy.CampaignActive, VirtualFill: vf, LatePayment: lates[rng.IntN(len(lates))],
		RecordVirtualSeats: rng.IntN(2) == 0,
		Limits:             groupbuy.Limits{MaxTeamsOpenedPerUser: rng.IntN(3), MaxTeamsJoinedPerUser: rng.IntN(3)},
	}
	for _, s := range sides {
		_, err := s.svc.CreateCampaign(ctx, camp)
		require.NoError(t, err)
	}
	users := []string{"u1", "u2", "u3", "u4", "u5"}
	var log []string
	refs := 0
	for step := range 120 {
		op := rng.IntN(14)
		user := users[rng.IntN(len(users))]
		sku := []string{"a", "b"}[rng.IntN(2)]
		ti, si := rng.IntN(1000), rng.IntN(1000)
		key := ""
		if rng.IntN(3) == 0 {
			key = "k" + strconv.Itoa(rng.IntN(6))
		}
		wrongAmount := rng.IntN(8) == 0
		reuseRef := rng.IntN(6) == 0
		if !reuseRef {
			refs++
		}
		ref := "pay-" + strconv.Itoa(refs)
		adv := time.Duration(rng.IntN(20*60)) * time.Second
		ownerFlip, refundChoice, attempt := rng.IntN(2), rng.IntN(3), rng.IntN(4) // attempt 0 is unchecked
		strategy := []groupbuy.MatchStrategy{groupbuy.MatchFullest, groupbuy.MatchOldest, groupbuy.MatchRandom}[rng.IntN(3)]
		var results [2]string
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
				desc = "open " + user
				r, err := s.svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "camp", UserID: user, SKU: sku, IdempotencyKey: key})
				s.note(r.Team, r.Seat)
				res = errClass(err) + " " + s.teamV(r.Team) + " | " + s.seatV(r.Seat)
			case 2, 3:
				desc = "join " + user
				r, err := s.svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "camp", TeamID: team(), UserID: user, SKU: sku, IdempotencyKey: key})
				s.note(r.Team, r.Seat)
				res = errClass(err) + " " + s.teamV(r.Team) + " | " + s.seatV(r.Seat)
			case 4:
				desc = "match " + user + " " + string(strategy)
				r, err := s.svc.Match(ctx, groupbuy.MatchRequest{CampaignID: "camp", UserID: user, SKU: sku, Strategy: strategy, IdempotencyKey: key})
				s.note(r.Team, r.Seat)
				res = errClass(err) + " " + s.teamV(r.Team) + " | " + s.seatV(r.Seat) + fmt.Sprint(r.Opened)
			case 5, 6, 7:
				desc = "pay " + ref
				id := seat()
				st, err := s.store.GetSeat(ctx, id)
				amount := st.Amount
				if wrongAmount {
					amount = amount.Add(decimal.NewFromInt(1))
				}
				if err != nil {
					res = "noseat"
					break
				}
				r, err := s.svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{TeamID: st.TeamID, SeatID: id, PaymentRef: ref, Amount: amount, Currency: "CNY"})
				s.note(r.Team, r.Seat)
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
				if st, err := s.store.GetSeat(ctx, id); err == nil && ownerFlip == 0 {
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
				}
				res = errClass(err) + " " + s.seatV(st)
			case 13:
				desc = "advance " + adv.String()
			}
			results[i] = res
		}
		if op == 13 {
			clk.Set(clk.Now().Add(adv))
		}
		log = append(log, fmt.Sprintf("%d %s: %s", step, desc, results[0]))
		if results[0] != results[1] {
			t.Fatalf("seed %d step %d %s: memory and sql differ\nmemory: %s\nsql:    %s\nlog:\n%s", seed, step, desc, results[0], results[1], joinLines(log))
		}
		if a, b := sides[0].snapshot(ctx), sides[1].snapshot(ctx); a != b {
			t.Fatalf("seed %d step %d %s: state differs\nmemory:\n%s\nsql:\n%s\nlog:\n%s", seed, step, desc, a, b, joinLines(log))
		}
	}
}

func joinLines(l []string) string {
	out := ""
	for _, s := range l {
		out += s + "\n"
	}
	return out
}
