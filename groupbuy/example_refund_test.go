package groupbuy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/memory"
)

// A team failed and its paid seat's refund was requested. The provider
// refuses the first attempt: the relay reports it with MarkRefundFailed,
// naming the attempt, which writes a refund_failed event, and RetryRefund
// asks again with a new refund_requested event under the same key (the
// seat's refund key, which WeChat Pay and Alipay expect on a retry of one
// refund; a provider that wants a key per attempt gets Key + ":" +
// Attempt) and the next attempt number. A redelivered answer of the first
// attempt, reported after the retry, is refused with
// ErrStaleRefundAttempt and changes nothing. The second attempt succeeds
// and MarkRefunded settles the seat.
// A duplicate charge of the seat, refunded as a late payment, is no part of
// the seat's refund: the relay tells the two apart with ForSeat and settles
// the late payment's refund by its key alone.
func ExampleService_RetryRefund() {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	n := 0
	store := memory.New(memory.WithClock(clock))
	svc, _ := groupbuy.New(store, groupbuy.Config{
		Now:   clock,
		NewID: func() string { n++; return "id" + strconv.Itoa(n) },
	})
	price := decimal.RequireFromString("9.90")
	_, err := svc.CreateCampaign(ctx, groupbuy.Campaign{
		ID: "tea", ProductRef: "spu-1", Currency: "CNY",
		Prices:   []groupbuy.SKUPrice{{SKU: "500g", Price: price}},
		TeamSize: 2, TeamLifetime: time.Hour, ReservationTTL: 15 * time.Minute,
		StartsAt: now, EndsAt: now.Add(7 * 24 * time.Hour), Status: groupbuy.CampaignActive,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	opened, _ := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "tea", UserID: "alice", SKU: "500g"})
	_, err = svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{
		TeamID: opened.Team.ID, SeatID: opened.Seat.ID, PaymentRef: "pay-alice", Amount: price, Currency: "CNY",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	drained, _ := store.Claim(ctx, 100, time.Minute)
	_ = store.Ack(ctx, eventIDs(drained)) // earlier events, already handled
	now = now.Add(2 * time.Hour)          // nobody joined: the team fails
	if _, err := svc.ProcessDue(ctx); err != nil {
		fmt.Println(err)
		return
	}
	// A duplicate charge of alice's seat reports in after the team failed:
	// the late payment is refunded under a key of its own, apart from the
	// seat's refund.
	if _, err := svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{
		TeamID: opened.Team.ID, SeatID: opened.Seat.ID, PaymentRef: "pay-alice-dup", Amount: price, Currency: "CNY",
	}); err != nil {
		fmt.Println(err)
		return
	}

	// The relay: the provider refuses the first refund and accepts the
	// second.
	attempts := 0
	for range 3 {
		events, _ := store.Claim(ctx, 100, time.Minute)
		for _, e := range events {
			fmt.Println("event", e.ID, e.Topic, e.Key)
			if e.Topic != groupbuy.TopicRefundRequested {
				continue
			}
			var p groupbuy.RefundRequestedPayload
			_ = json.Unmarshal(e.Payload, &p)
			if !p.ForSeat() {
				// A late payment's refund: the relay settles it by its
				// key alone. It is not the seat's refund, and reporting
				// it on the seat would record the seat's own refund as
				// done, or as failed, whatever became of it.
				fmt.Println("  a late payment's refund, settled by its key")
				continue
			}
			attempts++
			// Here the relay asks the provider to refund p.PaymentRef
			// under the key e.Key (or e.Key + ":" + p.Attempt), mapped
			// with ProviderRefundNo where the provider's refund numbers
			// are short (WeChat Pay, Alipay).
			fmt.Println("  attempt", p.Attempt)
			var seat groupbuy.Seat
			if attempts == 1 {
				seat, err = svc.MarkRefundFailed(ctx, p.SeatID, p.Attempt, "provider: SYSTEMERROR")
				if err == nil {
					fmt.Println("  refund failed: seat", seat.State)
					seat, err = svc.RetryRefund(ctx, p.SeatID)
					fmt.Println("  retried: seat", seat.State, "attempt", seat.RefundAttempt)
				}
				if err == nil {
					// The provider's answer to attempt 1 comes again.
					_, stale := svc.MarkRefundFailed(ctx, p.SeatID, p.Attempt, "provider: SYSTEMERROR")
					fmt.Println("  redelivered failure of attempt", p.Attempt, "stale:", errors.Is(stale, groupbuy.ErrStaleRefundAttempt))
				}
			} else {
				seat, err = svc.MarkRefunded(ctx, p.SeatID, p.Attempt)
				fmt.Println("  refunded: seat", seat.State)
			}
			if err != nil {
				fmt.Println(err)
				return
			}
		}
		_ = store.Ack(ctx, eventIDs(events))
	}
	// Output:
	// event id6 groupbuy.refund_requested gb:id1:id2:refund
	//   attempt 1
	//   refund failed: seat refund_failed
	//   retried: seat refund_requested attempt 2
	//   redelivered failure of attempt 1 stale: true
	// event id7 groupbuy.team_failed gb:id1:failed
	// event id10 groupbuy.late_payment_handled gb:late:pay-alice-dup
	// event id9 groupbuy.refund_requested gb:id1:id2:refund:late:pay-alice-dup
	//   a late payment's refund, settled by its key
	// event id11 groupbuy.refund_failed gb:id1:id2:refund_failed:id11
	// event id12 groupbuy.refund_requested gb:id1:id2:refund
	//   attempt 2
	//   refunded: seat refunded
}
