package groupbuy_test

import (
	"context"
	"math"
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
