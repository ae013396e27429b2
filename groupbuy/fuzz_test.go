package groupbuy_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/memory"
)

// fuzzWorld is a store with one active campaign, late payments handled by
// late, and one forming team; now is the clock of both.
func fuzzWorld(t testing.TB, late groupbuy.LatePaymentPolicy) (*groupbuy.Service, *memory.Store, groupbuy.SeatResult, *time.Time) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	store := memory.New(memory.WithClock(func() time.Time { return now }))
	svc, err := groupbuy.New(store, groupbuy.Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = svc.CreateCampaign(ctx, groupbuy.Campaign{
		ID: "c", ProductRef: "p", Currency: "CNY", Prices: []groupbuy.SKUPrice{{SKU: "s", Price: decimal.NewFromInt(10)}},
		TeamSize: 3, TeamLifetime: time.Hour, ReservationTTL: time.Minute, StartsAt: now, EndsAt: now.Add(time.Hour),
		Status: groupbuy.CampaignActive, VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: late,
		Limits: groupbuy.Limits{MaxUnitsPerOrder: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "leader", SKU: "s"})
	if err != nil {
		t.Fatal(err)
	}
	return svc, store, r, &now
}

// snapshot summarises everything a failed command must leave untouched.
func snapshot(t testing.TB, store *memory.Store, teamID string) string {
	ctx := context.Background()
	tm, err := store.GetTeam(ctx, teamID)
	if err != nil {
		t.Fatal(err)
	}
	seats, _ := store.TeamSeats(ctx, teamID)
	open, _ := store.OpenTeams(ctx, "c", time.Time{}, groupbuy.MatchOldest, groupbuy.MaxListLimit)
	c, err := store.GetCampaign(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	return fmtState(tm, seats, len(open), store.Pending()) + string(c.Status) + strconv.FormatInt(c.Version, 10)
}

func fmtState(tm groupbuy.Team, seats []groupbuy.Seat, open, pending int) string {
	b := []byte(string(tm.State))
	b = append(b, byte(tm.SeatsTaken), byte(tm.SeatsPaid), byte(tm.Version), byte(open), byte(pending))
	for _, s := range seats {
		b = append(b, s.ID...)
		b = append(b, s.State...)
	}
	return string(b)
}

// FuzzCommands feeds arbitrary input to every command, under each late
// payment policy: none may panic, and one that fails must change nothing.
func FuzzCommands(f *testing.F) {
	f.Add(0, "c", "", "u1", "s", 1, "k", "10", "CNY")
	f.Add(1, "c", "TEAM", "u2", "s", 2, "", "20", "CNY")
	f.Add(2, "c", "TEAM", "leader", "s", 0, "pay-1", "10", "CNY")
	f.Add(3, "", "x", "u\x00", "s s", -1, "k", "NaN", "cny")
	f.Add(4, "c", "TEAM", "leader", "s", 99999, "k", "1e400", "CN")
	f.Add(5, "c", "SEAT", "leader", "s", 1, "", "", "")
	f.Add(7, "c", "TEAM", "leader", "s", 1, "fraud", "", "")
	f.Add(10, "c", "", "", "", 0, "paused", "", "")
	f.Add(11, "c", "SEAT", "leader", "s", 1, "late-1", "10", "CNY")
	f.Add(11+12, "c", "SEAT", "leader", "s", 1, "late-2", "10", "CNY")
	f.Add(11+24, "c", "SEAT", "leader", "s", 1, "late-3", "10", "CNY")
	f.Fuzz(func(t *testing.T, op int, campaign, team, user, sku string, qty int, key, amount, currency string) {
		op = ((op % 36) + 36) % 36
		policies := [...]groupbuy.LatePaymentPolicy{groupbuy.LateRefund, groupbuy.LateJoinOther, groupbuy.LateOpenNew}
		svc, store, r, now := fuzzWorld(t, policies[op/12])
		ctx := context.Background()
		if team == "TEAM" {
			team = r.Team.ID
		}
		seat := team
		if team == "SEAT" {
			seat, team = r.Seat.ID, r.Team.ID
		}
		before := snapshot(t, store, r.Team.ID)
		var err error
		switch op % 12 {
		case 0:
			_, err = svc.Open(ctx, groupbuy.OpenRequest{CampaignID: campaign, UserID: user, SKU: sku, Quantity: qty, IdempotencyKey: key})
		case 1:
			_, err = svc.Join(ctx, groupbuy.JoinRequest{CampaignID: campaign, TeamID: team, UserID: user, SKU: sku, Quantity: qty, IdempotencyKey: key})
		case 2:
			d, derr := decimal.NewFromString(amount)
			if derr != nil {
				d = decimal.Decimal{}
			}
			_, err = svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{TeamID: team, SeatID: seat, PaymentRef: key, Amount: d, Currency: currency})
			if err == nil {
				return // a valid payment changes state by design
			}
		case 3:
			_, err = svc.Match(ctx, groupbuy.MatchRequest{CampaignID: campaign, UserID: user, SKU: sku, Quantity: qty, Strategy: groupbuy.MatchStrategy(key)})
		case 4:
			_, err = svc.CancelReservation(ctx, seat, user)
		case 5:
			_, err = svc.MarkRefundFailed(ctx, seat, qty, key) // qty as the attempt: negative, 0 (both refused), any
		case 6:
			_, err = svc.OpenTeams(ctx, campaign, qty)
			if err == nil {
				return
			}
		case 7:
			_, err = svc.CancelTeam(ctx, team, key)
			if err == nil {
				return // a cancel changes state by design
			}
		case 8:
			_, err = svc.MarkRefunded(ctx, seat, qty)
		case 9:
			_, err = svc.RetryRefund(ctx, seat)
		case 10:
			_, err = svc.SetCampaignStatus(ctx, campaign, groupbuy.CampaignStatus(key))
			if err == nil {
				return
			}
		case 11:
			// A payment after the reservation lapsed: late, by the policy.
			*now = now.Add(2 * time.Minute)
			before = snapshot(t, store, r.Team.ID)
			d, derr := decimal.NewFromString(amount)
			if derr != nil {
				d = decimal.Decimal{}
			}
			_, err = svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{TeamID: team, SeatID: seat, PaymentRef: key, Amount: d, Currency: currency})
			if err == nil {
				return
			}
		}
		if err == nil {
			return
		}
		var ve *groupbuy.ValidationError
		known := errors.As(err, &ve)
		for _, e := range expected {
			known = known || errors.Is(err, e)
		}
		known = known || errors.Is(err, groupbuy.ErrStaleRefundAttempt)
		if !known && !errors.Is(err, groupbuy.ErrNotFound) {
			t.Fatalf("op %d: error of no known kind: %v", op, err)
		}
		if after := snapshot(t, store, r.Team.ID); after != before {
			t.Fatalf("op %d failed with %v but changed state", op, err)
		}
	})
}

// FuzzCreateCampaign feeds arbitrary campaign definitions to CreateCampaign:
// none may panic, a refused one is a *ValidationError and stores nothing,
// and an accepted one has a virtual-fill rule that stays in range for every
// count of paid seats.
func FuzzCreateCampaign(f *testing.F) {
	f.Add("c", "p", "CNY", "s", "19.90", 3, int64(time.Hour), int64(time.Minute), 2, 0, 0, 0, 0, "min_paid", "refund", "active")
	f.Add("c", "p", "JPY", "s", "100", 2, int64(time.Minute), int64(time.Second), 0, 99, 1, 1, 1, "min_percent", "join_other", "draft")
	f.Add("", "p", "cny", "s s", "-1", 1, int64(0), int64(-1), -1, 100, -1, -1, 1000, "always", "keep", "live")
	f.Fuzz(func(t *testing.T, id, product, currency, sku, price string, size int, lifetime, ttl int64,
		minPaid, minPercent, opened, joined, units int, mode, late, status string) {
		now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		store := memory.New(memory.WithClock(func() time.Time { return now }))
		svc, err := groupbuy.New(store, groupbuy.Config{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		p, perr := decimal.NewFromString(price)
		if perr != nil {
			p = decimal.NewFromInt(1)
		}
		c := groupbuy.Campaign{
			ID: id, ProductRef: product, Currency: currency, Prices: []groupbuy.SKUPrice{{SKU: sku, Price: p}},
			TeamSize: size, TeamLifetime: time.Duration(lifetime), ReservationTTL: time.Duration(ttl),
			StartsAt: now, EndsAt: now.Add(24 * time.Hour), Status: groupbuy.CampaignStatus(status),
			VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillMode(mode), MinPaidSeats: minPaid, MinPercent: minPercent},
			LatePayment: groupbuy.LatePaymentPolicy(late),
			Limits:      groupbuy.Limits{MaxTeamsOpenedPerUser: opened, MaxTeamsJoinedPerUser: joined, MaxUnitsPerOrder: units},
		}
		ctx := context.Background()
		got, err := svc.CreateCampaign(ctx, c)
		if err != nil {
			if _, ok := errors.AsType[*groupbuy.ValidationError](err); !ok {
				t.Fatalf("refused with %T %v, want a *ValidationError", err, err)
			}
			if _, gerr := store.GetCampaign(ctx, id); gerr == nil {
				t.Fatal("a refused campaign was stored")
			}
			return
		}
		for paid := 0; paid <= got.TeamSize; paid++ {
			v := groupbuy.VirtualSeatsAtDeadline(&got, got.TeamSize, paid)
			if v < 0 || paid+v > got.TeamSize || (v > 0 && paid == 0) {
				t.Fatalf("%d paid of %d: %d virtual seats", paid, got.TeamSize, v)
			}
		}
	})
}
