package groupbuy_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
)

// TestRefundAttemptMustBeNamed: MarkRefunded and MarkRefundFailed take the
// attempt they report from 1. An attempt of 0 (once "unchecked": it
// settled whatever attempt was in flight, a late answer of an earlier one
// included) or below is a *ValidationError on the field "attempt" that
// changes nothing and writes no event, whatever the seat's refund state,
// repeats of a settled seat included.
func TestRefundAttemptMustBeNamed(t *testing.T) {
	ctx := context.Background()
	marks := []struct {
		name string
		mark func(svc *groupbuy.Service, seatID string, attempt int) (groupbuy.Seat, error)
	}{
		{"MarkRefunded", func(svc *groupbuy.Service, id string, n int) (groupbuy.Seat, error) {
			return svc.MarkRefunded(ctx, id, n)
		}},
		{"MarkRefundFailed", func(svc *groupbuy.Service, id string, n int) (groupbuy.Seat, error) {
			return svc.MarkRefundFailed(ctx, id, n, "declined")
		}},
	}
	// Each state is reached from a seat whose team failed (refund
	// requested, attempt 1).
	states := []struct {
		name string
		to   func(svc *groupbuy.Service, seatID string) error
	}{
		{"refund_requested", func(*groupbuy.Service, string) error { return nil }},
		{"refund_failed", func(svc *groupbuy.Service, id string) error {
			_, err := svc.MarkRefundFailed(ctx, id, 1, "x")
			return err
		}},
		{"refund_requested again", func(svc *groupbuy.Service, id string) error {
			if _, err := svc.MarkRefundFailed(ctx, id, 1, "x"); err != nil {
				return err
			}
			_, err := svc.RetryRefund(ctx, id)
			return err
		}},
		{"refunded", func(svc *groupbuy.Service, id string) error { _, err := svc.MarkRefunded(ctx, id, 1); return err }},
	}
	for _, st := range states {
		for _, m := range marks {
			for _, attempt := range []int{0, -1, math.MinInt} {
				svc, store, a := failedPaidSeat(t)
				require.NoError(t, st.to(svc, a.Seat.ID), st.name)
				for {
					evs, err := store.Claim(ctx, 100, time.Minute)
					require.NoError(t, err)
					if len(evs) == 0 {
						break
					}
					ids := make([]string, len(evs))
					for i := range evs {
						ids[i] = evs[i].ID
					}
					require.NoError(t, store.Ack(ctx, ids))
				}
				before, err := store.GetSeat(ctx, a.Seat.ID)
				require.NoError(t, err)
				_, err = m.mark(svc, a.Seat.ID, attempt)
				var ve *groupbuy.ValidationError
				if assert.ErrorAs(t, err, &ve, "%s %s attempt %d", st.name, m.name, attempt) {
					assert.Equal(t, "attempt", ve.Field, "%s %s attempt %d", st.name, m.name, attempt)
				}
				after, err := store.GetSeat(ctx, a.Seat.ID)
				require.NoError(t, err)
				assert.Equal(t, before, after, "%s %s attempt %d: changes nothing", st.name, m.name, attempt)
				assert.Zero(t, store.Pending(), "%s %s attempt %d: no event", st.name, m.name, attempt)
			}
		}
	}
}

// legacyAttempt is a store whose seats in a refund state read back at
// RefundAttempt 0, as a SQL store's do when a release before the attempt
// column moved them there after the migration (the column's default).
type legacyAttempt struct{ groupbuy.Store }

func (s legacyAttempt) GetSeat(ctx context.Context, id string) (groupbuy.Seat, error) {
	seat, err := s.Store.GetSeat(ctx, id)
	if seat.RefundAttempt == 1 {
		seat.RefundAttempt = 0
	}
	return seat, err
}

func (s legacyAttempt) UpdateRefund(ctx context.Context, w *groupbuy.RefundWrite) (groupbuy.Seat, error) {
	c := *w
	if c.Attempt == 0 {
		c.Attempt = 1
	}
	return s.Store.UpdateRefund(ctx, &c)
}

// TestRefundAttemptLegacySeat: a seat whose refund was requested at
// RefundAttempt 0 (by a release before the number was kept) is at attempt
// 1: a report of attempt 1 settles it, one of attempt 2 is stale.
func TestRefundAttemptLegacySeat(t *testing.T) {
	ctx := context.Background()
	svc, store, now := worldOf(t, 1, func(s groupbuy.Store) groupbuy.Store { return legacyAttempt{s} },
		func(c *groupbuy.Campaign) { c.TeamSize = 2 })
	a := failPaidSeat(t, svc, now)
	_, err := svc.MarkRefunded(ctx, a.Seat.ID, 2)
	require.ErrorIs(t, err, groupbuy.ErrStaleRefundAttempt)
	seat, err := svc.MarkRefunded(ctx, a.Seat.ID, 1)
	require.NoError(t, err)
	assert.Equal(t, groupbuy.SeatRefunded, seat.State)
	stored, err := store.GetSeat(ctx, a.Seat.ID)
	require.NoError(t, err)
	assert.Equal(t, groupbuy.SeatRefunded, stored.State)
}

// TestRefundAttemptLegacySeatRetry: the failure of a seat at RefundAttempt
// 0 is reported as attempt 1, and its retry is attempt 2 (event and seat),
// not a second attempt 1 whose per-attempt provider key would repeat the
// failed one's.
func TestRefundAttemptLegacySeatRetry(t *testing.T) {
	ctx := context.Background()
	svc, store, now := worldOf(t, 1, func(s groupbuy.Store) groupbuy.Store { return legacyAttempt{s} },
		func(c *groupbuy.Campaign) { c.TeamSize = 2 })
	a := failPaidSeat(t, svc, now)
	_, err := svc.MarkRefundFailed(ctx, a.Seat.ID, 1, "declined")
	require.NoError(t, err)
	retried, err := svc.RetryRefund(ctx, a.Seat.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, retried.RefundAttempt)

	evs, err := store.Claim(ctx, 100, time.Minute)
	require.NoError(t, err)
	attempts := map[string][]int{}
	for _, ev := range evs {
		switch ev.Topic {
		case groupbuy.TopicRefundRequested, groupbuy.TopicRefundFailed:
			var p groupbuy.RefundRequestedPayload
			require.NoError(t, json.Unmarshal(ev.Payload, &p))
			attempts[ev.Topic] = append(attempts[ev.Topic], p.Attempt)
		}
	}
	assert.Equal(t, []int{1}, attempts[groupbuy.TopicRefundFailed], "the failure names attempt 1")
	assert.Equal(t, []int{1, 2}, attempts[groupbuy.TopicRefundRequested], "the team's request, then the retry")
	_, err = svc.MarkRefunded(ctx, a.Seat.ID, 1)
	require.ErrorIs(t, err, groupbuy.ErrStaleRefundAttempt)
	_, err = svc.MarkRefunded(ctx, a.Seat.ID, 2)
	require.NoError(t, err)
}
