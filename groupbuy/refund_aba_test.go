package groupbuy_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
)

// abaStore runs before, once, between the Service's read of a seat and its
// refund write.
type abaStore struct {
	groupbuy.Store
	before func()
}

func (s *abaStore) UpdateRefund(ctx context.Context, w *groupbuy.RefundWrite) (groupbuy.Seat, error) {
	if f := s.before; f != nil {
		s.before = nil
		f()
	}
	return s.Store.UpdateRefund(ctx, w)
}

// TestRefundMarkAcrossFailAndRetry: a mark of attempt 1 reads the seat at
// refund_requested 1; before it writes, attempt 1 fails and is retried
// (refund_requested 2, the state read). The write's attempt guard refuses
// it, the re-read finds attempt 2 and the mark is stale: attempt 2 stays
// in flight and no event names attempt 1 twice. (A mark of attempt 0 once
// applied to attempt 2 here; it is a *ValidationError now, see
// TestRefundAttemptMustBeNamed.)
func TestRefundMarkAcrossFailAndRetry(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		attempt int
		refund  bool // MarkRefunded, else MarkRefundFailed
	}{
		{"failure of attempt 1", 1, false},
		{"success of attempt 1", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wrapped *abaStore
			svc, store, now := worldOf(t, 1, func(s groupbuy.Store) groupbuy.Store {
				wrapped = &abaStore{Store: s}
				return wrapped
			}, nil)
			other, err := groupbuy.New(store, groupbuy.Config{Now: func() time.Time { return *now }})
			require.NoError(t, err)
			a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
			require.NoError(t, err)
			_, err = svc.ConfirmPayment(ctx, payFor(a.Seat, "ref-1"))
			require.NoError(t, err)
			*now = now.Add(2 * time.Hour)
			_, err = svc.ProcessDue(ctx)
			require.NoError(t, err)
			_, err = store.Claim(ctx, 100, time.Minute) // set the close's events aside
			require.NoError(t, err)

			wrapped.before = func() {
				_, err := other.MarkRefundFailed(ctx, a.Seat.ID, 1, "declined")
				require.NoError(t, err)
				_, err = other.RetryRefund(ctx, a.Seat.ID)
				require.NoError(t, err)
			}
			if tc.refund {
				_, err = svc.MarkRefunded(ctx, a.Seat.ID, tc.attempt)
			} else {
				_, err = svc.MarkRefundFailed(ctx, a.Seat.ID, tc.attempt, "late answer")
			}
			seat, gerr := store.GetSeat(ctx, a.Seat.ID)
			require.NoError(t, gerr)
			assert.Equal(t, 2, seat.RefundAttempt)
			failed := map[int]int{}
			evs, cerr := store.Claim(ctx, 100, time.Minute)
			require.NoError(t, cerr)
			for _, e := range evs {
				if e.Topic == groupbuy.TopicRefundFailed {
					var p groupbuy.RefundFailedPayload
					require.NoError(t, json.Unmarshal(e.Payload, &p))
					failed[p.Attempt]++
				}
			}
			require.ErrorIs(t, err, groupbuy.ErrStaleRefundAttempt)
			assert.Equal(t, groupbuy.SeatRefundRequested, seat.State)
			assert.Equal(t, map[int]int{1: 1}, failed)
		})
	}
}

// TestStaleFailureAfterRefund: attempt 1 failed, attempt 2 settled; attempt
// 1's failure redelivered after that is a report of another attempt than
// the seat's current one, which MarkRefundFailed documents as
// ErrStaleRefundAttempt (a host drops it), not an illegal transition (which
// the host would treat as a real inconsistency). A failure of the current
// attempt after its success is still illegal.
func TestStaleFailureAfterRefund(t *testing.T) {
	ctx := context.Background()
	svc, store, a := failedPaidSeat(t)
	_, err := svc.MarkRefundFailed(ctx, a.Seat.ID, 1, "declined")
	require.NoError(t, err)
	_, err = svc.RetryRefund(ctx, a.Seat.ID)
	require.NoError(t, err)
	done, err := svc.MarkRefunded(ctx, a.Seat.ID, 2)
	require.NoError(t, err)
	require.Equal(t, groupbuy.SeatRefunded, done.State)

	_, err = svc.MarkRefundFailed(ctx, a.Seat.ID, 1, "declined")
	require.ErrorIs(t, err, groupbuy.ErrStaleRefundAttempt, "attempt 1's failure redelivered")
	_, err = svc.MarkRefundFailed(ctx, a.Seat.ID, 3, "declined")
	require.ErrorIs(t, err, groupbuy.ErrStaleRefundAttempt, "an attempt never asked for")
	_, err = svc.MarkRefundFailed(ctx, a.Seat.ID, 2, "declined")
	require.ErrorIs(t, err, groupbuy.ErrIllegalTransition, "the current attempt's failure after its success")
	after, err := store.GetSeat(ctx, a.Seat.ID)
	require.NoError(t, err)
	assert.Equal(t, done, after)
}
