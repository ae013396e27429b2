package groupbuy_test

import (
	"context"
	"encoding/json"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
)

// within runs f and fails t unless it returns within d: a call that
// validates its input must not spend minutes on it.
func within(t *testing.T, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s did not return within %s", what, d)
		return nil
	}
}

// TestHostileAmountExponents sends amounts with extreme exponents
// (decimal.New takes any; NewFromString only up to MaxDecodeExponent,
// which a host may raise): validating them compared the amount with its
// truncation, or with the largest amount, through a rescale by a power of
// ten as large as the exponent (10^2147483648), which took hours and
// gigabytes; exponent -10^7 already took a second. They are a
// *ValidationError at once, and nothing is stored.
func TestHostileAmountExponents(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := twoSeatWorld(t, groupbuy.LateRefund)
	a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
	require.NoError(t, err)
	evs, err := store.Claim(ctx, 100, time.Minute)
	require.NoError(t, err)
	for _, amount := range []decimal.Decimal{
		decimal.New(7, math.MinInt32), decimal.New(7, math.MaxInt32), decimal.New(7, -100_000_000),
		decimal.New(1000, math.MinInt32), decimal.New(7, 100_000_000),
	} {
		req := payFor(a.Seat, "ref-1")
		req.Amount = amount
		err := within(t, 5*time.Second, "ConfirmPayment", func() error {
			_, err := svc.ConfirmPayment(ctx, req)
			return err
		})
		var ve *storage.ValidationError
		require.ErrorAs(t, err, &ve, "amount 7E%d", amount.Exponent())
		assert.Equal(t, "Amount", ve.Field)

		c := auditCampaign(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), func(c *groupbuy.Campaign) {
			c.ID = "c2"
			c.Prices[0].Price = amount
		})
		err = within(t, 5*time.Second, "CreateCampaign", func() error {
			_, err := svc.CreateCampaign(ctx, c)
			return err
		})
		require.ErrorAs(t, err, &ve, "price 7E%d", amount.Exponent())
	}
	seat, err := store.GetSeat(ctx, a.Seat.ID)
	require.NoError(t, err)
	assert.Equal(t, groupbuy.SeatReserved, seat.State)
	more, err := store.Claim(ctx, 100, time.Minute)
	require.NoError(t, err)
	assert.Empty(t, more, "no event written (%d before)", len(evs))
}

// TestRefundProviderKeysApart follows the documented provider keys: a
// seat's own refund is handed to a provider that keeps a key per attempt as
// Key + ":" + Attempt, a late payment's refund (not ForSeat) by its Key
// alone. The late key was RefundKey + ":" + payment reference, so a late
// payment whose reference is "1" or "2" (references a host numbers itself)
// got the very key of its seat's own attempt 1 or 2: the provider, which
// answers a repeated key with the first answer, would never refund the
// second payment. Every refund must reach the provider under a key of its
// own.
func TestRefundProviderKeysApart(t *testing.T) {
	ctx := context.Background()
	svc, store, now := twoSeatWorld(t, groupbuy.LateRefund)
	a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(ctx, payFor(a.Seat, "7"))
	require.NoError(t, err)
	*now = now.Add(2 * time.Hour) // the team fails: attempt 1
	_, err = svc.ProcessDue(ctx)
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(ctx, payFor(a.Seat, "1")) // the buyer paid twice
	require.NoError(t, err)
	_, err = svc.MarkRefundFailed(ctx, a.Seat.ID, 1, "bank down")
	require.NoError(t, err)
	_, err = svc.RetryRefund(ctx, a.Seat.ID) // attempt 2
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(ctx, payFor(a.Seat, "2"))
	require.NoError(t, err)

	evs, err := store.Claim(ctx, 100, time.Minute)
	require.NoError(t, err)
	keys := map[string]string{} // provider key → the refund it names
	n := 0
	for _, e := range evs {
		if e.Topic != groupbuy.TopicRefundRequested {
			continue
		}
		var p groupbuy.RefundRequestedPayload
		require.NoError(t, json.Unmarshal(e.Payload, &p))
		key, what := p.Key, "late payment "+p.PaymentRef
		if p.ForSeat() {
			key, what = p.Key+":"+strconv.Itoa(p.Attempt), "seat's attempt "+strconv.Itoa(p.Attempt)
		}
		n++
		if other, ok := keys[key]; ok {
			t.Errorf("provider key %s names both the %s and the %s", key, other, what)
		}
		keys[key] = what
	}
	assert.Equal(t, 4, n, "two attempts of the seat's own refund, two late refunds")
}
