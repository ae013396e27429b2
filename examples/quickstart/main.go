// Command quickstart walks through group buying on the in-memory store and
// narrates what happens: a campaign, a leader opening a team, friends joining
// and paying until the team succeeds; another team that expires, whose paid
// seat gets exactly one refund request, whose settlement the host reports
// back; and the outbox events a host would act on, printed as they are
// drained.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/memory"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// clock is a hand-driven clock so the walk-through can jump past deadlines.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func run() error {
	ctx := context.Background()
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	store := memory.New(memory.WithClock(clk.now))
	svc, err := groupbuy.New(store, groupbuy.Config{Now: clk.now})
	if err != nil {
		return err
	}

	price := decimal.RequireFromString("19.90")
	c, err := svc.CreateCampaign(ctx, groupbuy.Campaign{
		ID: "mooncake-2026", ProductRef: "spu-mooncake", Currency: "CNY",
		Prices:   []groupbuy.SKUPrice{{SKU: "box-6", Price: price}},
		TeamSize: 3, TeamLifetime: 24 * time.Hour, ReservationTTL: 15 * time.Minute,
		StartsAt: clk.t, EndsAt: clk.t.Add(7 * 24 * time.Hour), Status: groupbuy.CampaignDraft,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone},
		LatePayment: groupbuy.LateRefund,
	})
	if err != nil {
		return err
	}
	if _, err := svc.SetCampaignStatus(ctx, c.ID, groupbuy.CampaignActive); err != nil {
		return err
	}
	fmt.Printf("Campaign %s: teams of %d at %s %s, %s to fill.\n", c.ID, c.TeamSize, price.StringFixed(groupbuy.MinorUnits(c.Currency)), c.Currency, c.TeamLifetime)

	// Team 1: Alice opens, Bob and Carol join, all three pay.
	pay := func(s groupbuy.Seat, ref string) (groupbuy.PaymentResult, error) {
		return svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{
			TeamID: s.TeamID, SeatID: s.ID, PaymentRef: ref, Amount: s.Amount, Currency: s.Currency,
		})
	}
	opened, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: c.ID, UserID: "alice", SKU: "box-6", IdempotencyKey: "alice-open-1"})
	if err != nil {
		return err
	}
	team := opened.Team
	fmt.Printf("Alice opens team %s (1 of %d seats, reserved until %s).\n", short(team.ID), team.Capacity, opened.Seat.ReservedUntil.Format(time.Kitchen))
	seats := []groupbuy.Seat{opened.Seat}
	for _, friend := range []string{"bob", "carol"} {
		r, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: c.ID, TeamID: team.ID, UserID: friend, SKU: "box-6"})
		if err != nil {
			return err
		}
		fmt.Printf("%s joins: %d of %d seats taken.\n", friend, r.Team.SeatsTaken, r.Team.Capacity)
		seats = append(seats, r.Seat)
	}
	if _, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: c.ID, TeamID: team.ID, UserID: "dave", SKU: "box-6"}); err != nil {
		fmt.Printf("dave tries to join too: %v.\n", err)
	}
	for i, s := range seats {
		r, err := pay(s, "wxpay-"+strconv.Itoa(i+1))
		if err != nil {
			return err
		}
		fmt.Printf("%s pays %s: team is %s.\n", s.UserID, s.Amount.StringFixed(groupbuy.MinorUnits(s.Currency)), r.Team.State)
	}
	// The payment provider calls back twice: the repeat changes nothing.
	if _, err := pay(seats[2], "wxpay-3"); err != nil {
		return err
	}
	fmt.Println("Carol's payment callback arrives again: same result, no second payment recorded.")
	may, err := svc.MayShip(ctx, seats[0].ID)
	if err != nil {
		return err
	}
	fmt.Printf("May the shop ship Alice's box? %v.\n", may)
	if err := drain(ctx, store, svc); err != nil {
		return err
	}

	// Team 2: Erin opens and pays, Frank joins but never pays; the day ends.
	second, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: c.ID, UserID: "erin", SKU: "box-6"})
	if err != nil {
		return err
	}
	if _, err := pay(second.Seat, "wxpay-4"); err != nil {
		return err
	}
	if _, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: c.ID, TeamID: second.Team.ID, UserID: "frank", SKU: "box-6"}); err != nil {
		return err
	}
	fmt.Printf("\nErin opens team %s and pays; Frank joins but does not pay.\n", short(second.Team.ID))
	clk.t = clk.t.Add(25 * time.Hour)
	rep, err := svc.ProcessDue(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("25 hours later ProcessDue runs: %d reservation released, %d team failed.\n", rep.Released, rep.Failed)
	rep, err = svc.ProcessDue(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("It runs again (as a second instance would): %d released, %d failed: nothing twice.\n", rep.Released, rep.Failed)
	return drain(ctx, store, svc)
}

// drain claims and acks every pending outbox event, printing each. A
// refund request is what a host hands its payment provider; the provider's
// answer for a seat's own refund goes back through MarkRefunded (or
// MarkRefundFailed, then RetryRefund).
func drain(ctx context.Context, store *memory.Store, svc *groupbuy.Service) error {
	fmt.Println("Outbox:")
	for {
		events, err := store.Claim(ctx, 10, time.Minute)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			return nil
		}
		ids := make([]string, 0, len(events))
		for _, e := range events {
			fmt.Printf("  %-32s key=%s\n", e.Topic, e.Key)
			if e.Topic == groupbuy.TopicRefundRequested {
				var p groupbuy.RefundRequestedPayload
				if err := json.Unmarshal(e.Payload, &p); err != nil {
					return err
				}
				fmt.Printf("    -> the host refunds %s %s of payment %s with idempotency key %s\n", p.Amount.StringFixed(groupbuy.MinorUnits(p.Currency)), p.Currency, p.PaymentRef, e.Key)
				if p.ForSeat() { // a late payment's refund is settled by its key alone
					seat, err := svc.MarkRefunded(ctx, p.SeatID, p.Attempt)
					if err != nil {
						return err
					}
					fmt.Printf("    -> the provider confirms: MarkRefunded, the seat is %s\n", seat.State)
				}
			}
			ids = append(ids, e.ID)
		}
		if err := store.Ack(ctx, ids); err != nil {
			return err
		}
	}
}

func short(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}
