package groupbuy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/memory"
)

func twoSeatWorld(t *testing.T, late groupbuy.LatePaymentPolicy) (*groupbuy.Service, *memory.Store, *time.Time) {
	return world(t, 2, late, 0)
}

// failedPaidSeat opens a team of two whose leader pays ("ref-1") and lets
// it fail, so that the leader's seat has its refund requested.
func failedPaidSeat(t *testing.T) (*groupbuy.Service, *memory.Store, groupbuy.SeatResult) {
	svc, store, now := twoSeatWorld(t, groupbuy.LateRefund)
	return svc, store, failPaidSeat(t, svc, now)
}

// failPaidSeat opens a team on svc (campaign "c", clock now) whose leader
// pays ("ref-1"), and lets it fail.
func failPaidSeat(t *testing.T, svc *groupbuy.Service, now *time.Time) groupbuy.SeatResult {
	ctx := context.Background()
	a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(ctx, payFor(a.Seat, "ref-1"))
	require.NoError(t, err)
	*now = now.Add(2 * time.Hour) // the team fails
	_, err = svc.ProcessDue(ctx)
	require.NoError(t, err)
	return a
}

// world is a memory store with one active campaign "c" (SKU "s" at 10 CNY,
// teams of size, reservations of 10 minutes) and a Service on it seeded
// with seed; the returned time is the clock of both.
func world(t *testing.T, size int, late groupbuy.LatePaymentPolicy, seed uint64) (*groupbuy.Service, *memory.Store, *time.Time) {
	return worldOf(t, seed, nil, func(c *groupbuy.Campaign) { c.TeamSize, c.LatePayment = size, late })
}

// worldOf is world (teams of 3, LateRefund) with the campaign changed by
// edit before it is created and, when wrap is not nil, the Service on
// wrap's Store around the memory store.
func worldOf(t *testing.T, seed uint64, wrap func(groupbuy.Store) groupbuy.Store, edit func(*groupbuy.Campaign)) (*groupbuy.Service, *memory.Store, *time.Time) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	store := memory.New(memory.WithClock(func() time.Time { return now }))
	var gb groupbuy.Store = store
	if wrap != nil {
		gb = wrap(store)
	}
	svc, err := groupbuy.New(gb, groupbuy.Config{Now: func() time.Time { return now }, Seed: seed})
	require.NoError(t, err)
	c := groupbuy.Campaign{
		ID: "c", ProductRef: "p", Currency: "CNY", Prices: []groupbuy.SKUPrice{{SKU: "s", Price: decimal.NewFromInt(10)}},
		TeamSize: 3, TeamLifetime: time.Hour, ReservationTTL: 10 * time.Minute, StartsAt: now, EndsAt: now.Add(24 * time.Hour),
		Status: groupbuy.CampaignActive, VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
	}
	if edit != nil {
		edit(&c)
	}
	_, err = svc.CreateCampaign(context.Background(), c)
	require.NoError(t, err)
	return svc, store, &now
}

func payFor(s groupbuy.Seat, ref string) groupbuy.PaymentRequest {
	return groupbuy.PaymentRequest{TeamID: s.TeamID, SeatID: s.ID, PaymentRef: ref, Amount: s.Amount, Currency: s.Currency}
}

func TestReplayOfFillingPaymentReportsFill(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := twoSeatWorld(t, groupbuy.LateRefund)
	a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
	require.NoError(t, err)
	b, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: a.Team.ID, UserID: "b", SKU: "s"})
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(ctx, payFor(a.Seat, "p1"))
	require.NoError(t, err)
	first, err := svc.ConfirmPayment(ctx, payFor(b.Seat, "p2"))
	require.NoError(t, err)
	require.True(t, first.Filled)
	again, err := svc.ConfirmPayment(ctx, payFor(b.Seat, "p2"))
	require.NoError(t, err)
	assert.True(t, again.Filled, "a repeat returns the first result")
	assert.Equal(t, groupbuy.TeamSucceeded, again.Team.State)
	other, err := svc.ConfirmPayment(ctx, payFor(a.Seat, "p1"))
	require.NoError(t, err)
	assert.False(t, other.Filled)
}

func TestSucceededEventListsOnlyTheTeam(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := twoSeatWorld(t, groupbuy.LateRefund)
	a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "alice", SKU: "s"})
	require.NoError(t, err)
	bob, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: a.Team.ID, UserID: "bob", SKU: "s"})
	require.NoError(t, err)
	_, err = svc.CancelReservation(ctx, bob.Seat.ID, "bob")
	require.NoError(t, err)
	carol, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: a.Team.ID, UserID: "carol", SKU: "s"})
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(ctx, payFor(a.Seat, "p1"))
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(ctx, payFor(carol.Seat, "p2"))
	require.NoError(t, err)
	evs, err := store.Claim(ctx, 100, time.Minute)
	require.NoError(t, err)
	var found bool
	for _, e := range evs {
		if e.Topic != groupbuy.TopicTeamSucceeded {
			continue
		}
		found = true
		var p groupbuy.TeamClosedPayload
		require.NoError(t, json.Unmarshal(e.Payload, &p))
		var users []string
		for _, s := range p.Seats {
			users = append(users, s.UserID)
			assert.Equal(t, groupbuy.SeatConfirmed, s.State)
		}
		assert.ElementsMatch(t, []string{"alice", "carol"}, users)
	}
	assert.True(t, found)
}

func TestLatePaymentReportsPolicy(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []groupbuy.LatePaymentPolicy{groupbuy.LateRefund, groupbuy.LateJoinOther, groupbuy.LateOpenNew} {
		t.Run(string(policy), func(t *testing.T) {
			svc, store, now := twoSeatWorld(t, policy)
			a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
			require.NoError(t, err)
			*now = now.Add(11 * time.Minute) // the reservation lapses
			r, err := svc.ConfirmPayment(ctx, payFor(a.Seat, "late-1"))
			require.NoError(t, err)
			require.NotNil(t, r.Late)
			assert.Equal(t, policy, r.Late.Policy)
			if policy == groupbuy.LateRefund {
				assert.Equal(t, groupbuy.LateActionRefund, r.Late.Action)
			} else {
				assert.Equal(t, groupbuy.LateActionOpened, r.Late.Action, "no other team is open")
				assert.Equal(t, groupbuy.SeatPaid, r.Seat.State)
			}
			again, err := svc.ConfirmPayment(ctx, payFor(a.Seat, "late-1"))
			require.NoError(t, err)
			assert.Equal(t, r.Late, again.Late)
			assert.Equal(t, r.Seat.ID, again.Seat.ID)
			evs, err := store.Claim(ctx, 100, time.Minute)
			require.NoError(t, err)
			n := 0
			for _, e := range evs {
				if e.Topic == groupbuy.TopicLatePaymentHandled {
					n++
					var p groupbuy.LatePaymentHandledPayload
					require.NoError(t, json.Unmarshal(e.Payload, &p))
					assert.Equal(t, policy, p.Policy)
				}
			}
			assert.Equal(t, 1, n)
		})
	}
}

// TestMatchChoosesAmongTheStrategysCandidates: MatchOldest and MatchFullest
// join the team the strategy ranks first (the memory store holds no row
// locks, so it never skips one); MatchRandom joins one of its 32
// candidates, different ones for different users (so concurrent matchers
// spread). Each returns the same seat for a repeated request, and Match
// opens a team when no team has room.
func TestMatchChoosesAmongTheStrategysCandidates(t *testing.T) {
	ctx := context.Background()
	for _, strategy := range []groupbuy.MatchStrategy{groupbuy.MatchOldest, groupbuy.MatchFullest, groupbuy.MatchRandom} {
		t.Run(string(strategy), func(t *testing.T) {
			now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			store := memory.New(memory.WithClock(clock))
			svc, err := groupbuy.New(store, groupbuy.Config{Now: clock, Seed: 7})
			require.NoError(t, err)
			_, err = svc.CreateCampaign(ctx, groupbuy.Campaign{
				ID: "c", ProductRef: "p", Currency: "CNY", Prices: []groupbuy.SKUPrice{{SKU: "s", Price: decimal.NewFromInt(10)}},
				TeamSize: groupbuy.MaxTeamSize, TeamLifetime: time.Hour, ReservationTTL: 10 * time.Minute, StartsAt: now, EndsAt: now.Add(24 * time.Hour),
				Status: groupbuy.CampaignActive, VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
			})
			require.NoError(t, err)
			// Teams opened a minute apart, team i holding i%3 joiners.
			for i := range 12 {
				r, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: fmt.Sprintf("leader%d", i), SKU: "s"})
				require.NoError(t, err)
				for j := range i % 3 {
					_, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: r.Team.ID, UserID: fmt.Sprintf("member%d-%d", i, j), SKU: "s"})
					require.NoError(t, err)
				}
				now = now.Add(time.Minute)
			}
			chosen := map[string]bool{}
			for i := range 40 {
				// The users are new, so the store's first open team in the
				// strategy's order is the one MatchOldest and MatchFullest
				// must take.
				first, err := store.OpenTeams(ctx, "c", now, strategy, 32)
				require.NoError(t, err)
				require.NotEmpty(t, first)
				allowed := map[string]bool{first[0].ID: true}
				if strategy == groupbuy.MatchRandom {
					for _, tm := range first {
						allowed[tm.ID] = true
					}
				}
				req := groupbuy.MatchRequest{CampaignID: "c", UserID: fmt.Sprintf("u%d", i), SKU: "s", Strategy: strategy}
				// A second Service with the same seed over its own copy of
				// the world would choose the same: the choice is a hash of
				// the request. Here the repeat is checked with a key.
				req.IdempotencyKey = fmt.Sprintf("k%d", i)
				r, err := svc.Match(ctx, req)
				require.NoError(t, err)
				require.False(t, r.Opened, "every candidate has room")
				assert.True(t, allowed[r.Team.ID], "%s joined %s, not one of the strategy's candidates", req.UserID, r.Team.ID)
				chosen[r.Team.ID] = true
				again, err := svc.Match(ctx, req)
				require.NoError(t, err)
				assert.Equal(t, r.Seat.ID, again.Seat.ID, "a repeat returns the first result")
			}
			if strategy == groupbuy.MatchRandom {
				assert.GreaterOrEqual(t, len(chosen), 6, "40 matchers spread over the candidates")
			}
			// Every seat event names its seat's team: no hole is left.
			events, err := store.Claim(ctx, 1000, time.Minute)
			require.NoError(t, err)
			reserved := 0
			for _, ev := range events {
				if ev.Topic != groupbuy.TopicSeatReserved {
					continue
				}
				reserved++
				var p groupbuy.SeatPayload
				require.NoError(t, json.Unmarshal(ev.Payload, &p))
				seat, err := store.GetSeat(ctx, p.SeatID)
				require.NoError(t, err)
				assert.Equal(t, seat.TeamID, p.TeamID)
				assert.Equal(t, "gb:"+seat.TeamID+":"+seat.ID+":reserved", ev.Key)
			}
			assert.Equal(t, 12+12+40, reserved, "12 leaders, 12 joiners, 40 matchers")
		})
	}
	t.Run("opens when no team has room", func(t *testing.T) {
		svc, _, _ := twoSeatWorld(t, groupbuy.LateRefund)
		a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
		require.NoError(t, err)
		_, err = svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: a.Team.ID, UserID: "b", SKU: "s"})
		require.NoError(t, err)
		r, err := svc.Match(ctx, groupbuy.MatchRequest{CampaignID: "c", UserID: "c", SKU: "s"})
		require.NoError(t, err)
		assert.True(t, r.Opened)
		assert.NotEqual(t, a.Team.ID, r.Team.ID)
	})
}

// TestLatePaymentsKeepApart: two late payments for one released seat are
// refunded under two keys (a host's payment provider refunds a key once),
// and a caller's Match key that equals a late payment's reference does not
// take the record of the seat the late payment is placed in.
func TestLatePaymentsKeepApart(t *testing.T) {
	ctx := context.Background()
	t.Run("two refunds, two keys", func(t *testing.T) {
		svc, store, now := twoSeatWorld(t, groupbuy.LateRefund)
		a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
		require.NoError(t, err)
		*now = now.Add(11 * time.Minute) // the reservation lapses
		_, err = svc.ProcessDue(ctx)
		require.NoError(t, err)
		r1, err := svc.ConfirmPayment(ctx, payFor(a.Seat, "late-1"))
		require.NoError(t, err)
		r2, err := svc.ConfirmPayment(ctx, payFor(a.Seat, "late-2"))
		require.NoError(t, err)
		require.NotNil(t, r1.Late)
		require.NotNil(t, r2.Late)
		assert.Equal(t, groupbuy.LateRefundKey(a.Team.ID, a.Seat.ID, "late-1"), r1.Late.RefundKey)
		assert.Equal(t, groupbuy.LateRefundKey(a.Team.ID, a.Seat.ID, "late-2"), r2.Late.RefundKey)
		evs, err := store.Claim(ctx, 100, time.Minute)
		require.NoError(t, err)
		refs := map[string]string{}
		for _, e := range evs {
			if e.Topic == groupbuy.TopicRefundRequested {
				var p groupbuy.RefundRequestedPayload
				require.NoError(t, json.Unmarshal(e.Payload, &p))
				refs[e.Key] = p.PaymentRef
			}
		}
		assert.Equal(t, map[string]string{r1.Late.RefundKey: "late-1", r2.Late.RefundKey: "late-2"}, refs)
	})
	for _, key := range []string{"late-1", "late:late-1"} { // the reference; what once keyed its placement
		t.Run("Match key "+key, func(t *testing.T) {
			svc, _, now := twoSeatWorld(t, groupbuy.LateOpenNew)
			a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
			require.NoError(t, err)
			m, err := svc.Match(ctx, groupbuy.MatchRequest{CampaignID: "c", UserID: "m", SKU: "s", IdempotencyKey: key})
			require.NoError(t, err)
			*now = now.Add(11 * time.Minute)
			r, err := svc.ConfirmPayment(ctx, payFor(a.Seat, "late-1"))
			require.NoError(t, err)
			require.NotNil(t, r.Late)
			assert.Equal(t, groupbuy.LateActionOpened, r.Late.Action, "placed, not refunded for a reused key")
			assert.NotEqual(t, m.Seat.ID, r.Seat.ID)
			assert.Equal(t, groupbuy.SeatPaid, r.Seat.State)
			again, err := svc.Match(ctx, groupbuy.MatchRequest{CampaignID: "c", UserID: "m", SKU: "s", IdempotencyKey: key})
			require.NoError(t, err)
			assert.Equal(t, m.Seat.ID, again.Seat.ID, "the caller's Match replays its own seat")
		})
	}
}

// TestMatchSkipsTheUsersOwnTeams: teams the user is already in are not
// crowding, so Match goes on to a team with room instead of opening one.
func TestMatchSkipsTheUsersOwnTeams(t *testing.T) {
	ctx := context.Background()
	for seed := range 30 {
		svc, _, _ := world(t, 3, groupbuy.LateRefund, uint64(seed))
		var teams []string
		for _, leader := range []string{"l1", "l2", "l3"} {
			r, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: leader, SKU: "s"})
			require.NoError(t, err)
			teams = append(teams, r.Team.ID)
		}
		for _, tm := range teams[:2] {
			_, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: tm, UserID: "u", SKU: "s"})
			require.NoError(t, err)
		}
		r, err := svc.Match(ctx, groupbuy.MatchRequest{CampaignID: "c", UserID: "u", SKU: "s", IdempotencyKey: fmt.Sprint("k", seed)})
		require.NoError(t, err)
		assert.False(t, r.Opened, "seed %d: a team had room", seed)
		assert.Equal(t, teams[2], r.Team.ID, "seed %d", seed)
	}
}

// TestReplayAfterTheWindowCloses: a keyed Open, Join or Match repeated once
// the campaign's window has closed returns its first result, as the store
// would before the window closed; a key reused for another request is
// still ErrIdempotencyKeyReused, and a new key gets ErrCampaignNotActive.
func TestReplayAfterTheWindowCloses(t *testing.T) {
	ctx := context.Background()
	svc, _, now := world(t, 3, groupbuy.LateRefund, 0)
	open := groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s", IdempotencyKey: "k-open"}
	opened, err := svc.Open(ctx, open)
	require.NoError(t, err)
	join := groupbuy.JoinRequest{CampaignID: "c", TeamID: opened.Team.ID, UserID: "b", SKU: "s", IdempotencyKey: "k-join"}
	joined, err := svc.Join(ctx, join)
	require.NoError(t, err)
	matches := map[groupbuy.MatchStrategy]groupbuy.SeatResult{}
	for i, st := range []groupbuy.MatchStrategy{groupbuy.MatchFullest, groupbuy.MatchRandom} {
		r, err := svc.Match(ctx, groupbuy.MatchRequest{CampaignID: "c", UserID: fmt.Sprintf("m%d", i), SKU: "s", Strategy: st, IdempotencyKey: "k-" + string(st)})
		require.NoError(t, err, st)
		matches[st] = r
	}

	*now = now.Add(25 * time.Hour) // past EndsAt
	again, err := svc.Open(ctx, open)
	require.NoError(t, err, "open")
	assert.Equal(t, opened.Seat.ID, again.Seat.ID)
	assert.True(t, again.Opened)
	againJoin, err := svc.Join(ctx, join)
	require.NoError(t, err, "join")
	assert.Equal(t, joined.Seat.ID, againJoin.Seat.ID)
	for i, st := range []groupbuy.MatchStrategy{groupbuy.MatchFullest, groupbuy.MatchRandom} {
		r, err := svc.Match(ctx, groupbuy.MatchRequest{CampaignID: "c", UserID: fmt.Sprintf("m%d", i), SKU: "s", Strategy: st, IdempotencyKey: "k-" + string(st)})
		require.NoError(t, err, st)
		assert.Equal(t, matches[st].Seat.ID, r.Seat.ID, st)
		assert.Equal(t, matches[st].Opened, r.Opened, st)
	}
	_, err = svc.Match(ctx, groupbuy.MatchRequest{CampaignID: "c", UserID: "other", SKU: "s", IdempotencyKey: "k-fullest"})
	assert.ErrorIs(t, err, groupbuy.ErrIdempotencyKeyReused, "the key with another request")
	_, err = svc.Match(ctx, groupbuy.MatchRequest{CampaignID: "c", UserID: "new", SKU: "s", IdempotencyKey: "k-new"})
	assert.ErrorIs(t, err, groupbuy.ErrCampaignNotActive, "a new key")
}

// TestPaymentRefsCompareExactly: a reference that a store could compare
// equal to another one (MySQL's PAD SPACE collations ignore trailing
// spaces) is refused before anything is written, so that two payments can
// never be taken for one and a second charge never passes as a replay.
func TestPaymentRefsCompareExactly(t *testing.T) {
	ctx := context.Background()
	_, store, now := world(t, 3, groupbuy.LateRefund, 0)
	// The Service refuses them itself, whatever its Store would do.
	counted := &payCounter{Store: store}
	svc, err := groupbuy.New(counted, groupbuy.Config{Now: func() time.Time { return *now }})
	require.NoError(t, err)
	a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(ctx, payFor(a.Seat, "ref-1"))
	require.NoError(t, err)
	b, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: a.Team.ID, UserID: "b", SKU: "s"})
	require.NoError(t, err)
	before := snapshot(t, store, a.Team.ID)
	for _, ref := range []string{"ref-1 ", " ref-1", "ref 1", "ref-1\t", "ref-1\x00", "ref-\xff"} {
		for _, seat := range []groupbuy.Seat{a.Seat, b.Seat} {
			_, err := svc.ConfirmPayment(ctx, payFor(seat, ref))
			var ve *groupbuy.ValidationError
			require.ErrorAs(t, err, &ve, "payment ref %q for seat of %s", ref, seat.UserID)
			assert.Equal(t, "PaymentRef", ve.Field)
		}
	}
	assert.Equal(t, before, snapshot(t, store, a.Team.ID), "refused payments change nothing")
	assert.Equal(t, 1, counted.pays, "no refused payment reaches the store")
	paid, err := svc.ConfirmPayment(ctx, payFor(b.Seat, "ref-2"))
	require.NoError(t, err)
	assert.Equal(t, groupbuy.SeatPaid, paid.Seat.State)
}

// TestRefundForSeat: a failed team's refund is its seat's own; a second
// payment for the same seat is refunded under its own key and is not, so a
// relay that marks only ForSeat refunds keeps the seat's refund open until
// the provider answers for it.
func TestRefundForSeat(t *testing.T) {
	ctx := context.Background()
	svc, store, a := failedPaidSeat(t)
	late, err := svc.ConfirmPayment(ctx, payFor(a.Seat, "ref-2"))
	require.NoError(t, err)
	require.NotNil(t, late.Late)
	evs, err := store.Claim(ctx, 100, time.Minute)
	require.NoError(t, err)
	forSeat := map[string]bool{}
	for _, e := range evs {
		if e.Topic == groupbuy.TopicRefundRequested {
			var p groupbuy.RefundRequestedPayload
			require.NoError(t, json.Unmarshal(e.Payload, &p))
			assert.Equal(t, a.Seat.ID, p.SeatID)
			forSeat[p.PaymentRef] = p.ForSeat()
		}
	}
	assert.Equal(t, map[string]bool{"ref-1": true, "ref-2": false}, forSeat)
	seat, err := svc.MarkRefundFailed(ctx, a.Seat.ID, 1, "declined")
	require.NoError(t, err, "the seat's own refund is still open")
	assert.Equal(t, groupbuy.SeatRefundFailed, seat.State)
}

// payCounter counts the PaySeat calls that reach its Store.
type payCounter struct {
	groupbuy.Store
	pays int
}

func (p *payCounter) PaySeat(ctx context.Context, w *groupbuy.PaySeatWrite) (groupbuy.PaySeatResult, error) {
	p.pays++
	return p.Store.PaySeat(ctx, w)
}

// TestSeatAmountsArePayable: an order whose amount, price × quantity, is
// above the largest amount ConfirmPayment takes (10^12) is refused with a
// ValidationError on Quantity by Open, Join and Match, changing nothing,
// and every seat that is reserved can be paid its exact amount.
func TestSeatAmountsArePayable(t *testing.T) {
	ctx := context.Background()
	tera := decimal.New(1, 12)
	tests := []struct {
		name     string
		price    decimal.Decimal
		currency string
		quantity int
		ok       bool
	}{
		{"the largest price, one unit", tera, "CNY", 1, true},
		{"the largest price, two units", tera, "CNY", 2, false},
		{"half the largest, two units", tera.Div(decimal.NewFromInt(2)), "CNY", 2, true},
		{"a cent over, two units", decimal.RequireFromString("500000000000.01"), "CNY", 2, false},
		{"the largest quantity at its largest price", decimal.NewFromInt(100010001), "JPY", groupbuy.MaxQuantity, true},
		{"the largest quantity, one yen over", decimal.NewFromInt(100010002), "JPY", groupbuy.MaxQuantity, false},
		{"a small price", decimal.RequireFromString("0.01"), "CNY", groupbuy.MaxQuantity, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
			store := memory.New(memory.WithClock(func() time.Time { return now }))
			svc, err := groupbuy.New(store, groupbuy.Config{Now: func() time.Time { return now }})
			require.NoError(t, err)
			_, err = svc.CreateCampaign(ctx, groupbuy.Campaign{
				ID: "c", ProductRef: "p", Currency: tc.currency, Prices: []groupbuy.SKUPrice{{SKU: "s", Price: tc.price}},
				TeamSize: 3, TeamLifetime: time.Hour, ReservationTTL: 10 * time.Minute, StartsAt: now, EndsAt: now.Add(24 * time.Hour),
				Status: groupbuy.CampaignActive, VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
			})
			require.NoError(t, err)
			// A leader of one unit, whose team the Join below takes.
			lead, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "lead", SKU: "s"})
			require.NoError(t, err)
			before := snapshot(t, store, lead.Team.ID)
			orders := map[string]func(user string) (groupbuy.SeatResult, error){
				"open": func(user string) (groupbuy.SeatResult, error) {
					return svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: user, SKU: "s", Quantity: tc.quantity, IdempotencyKey: "k-" + user})
				},
				"join": func(user string) (groupbuy.SeatResult, error) {
					return svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: lead.Team.ID, UserID: user, SKU: "s", Quantity: tc.quantity, IdempotencyKey: "k-" + user})
				},
				"match": func(user string) (groupbuy.SeatResult, error) {
					return svc.Match(ctx, groupbuy.MatchRequest{CampaignID: "c", UserID: user, SKU: "s", Quantity: tc.quantity, IdempotencyKey: "k-" + user})
				},
			}
			for _, name := range []string{"open", "join", "match"} {
				r, err := orders[name](name)
				if !tc.ok {
					var ve *groupbuy.ValidationError
					require.ErrorAs(t, err, &ve, name)
					assert.Equal(t, "Quantity", ve.Field, name)
					assert.Equal(t, before, snapshot(t, store, lead.Team.ID), "%s: a refused order changes nothing", name)
					page, err := svc.UserSeats(ctx, name, "", 10)
					seats := page.Seats
					require.NoError(t, err)
					assert.Empty(t, seats, name)
					continue
				}
				require.NoError(t, err, name)
				assert.True(t, r.Seat.Amount.Equal(tc.price.Mul(decimal.NewFromInt(int64(tc.quantity)))), name)
				paid, err := svc.ConfirmPayment(ctx, payFor(r.Seat, "pay-"+name))
				require.NoError(t, err, "%s: a seat's exact amount is payable", name)
				assert.Nil(t, paid.Late, name)
				assert.Equal(t, groupbuy.SeatPaid, paid.Seat.State, name)
			}
		})
	}
}

// failingStore fails its store's PaySeat or OpenTeam once, on the call
// numbered failAt (counting from 1), with err.
type failingStore struct {
	groupbuy.Store
	method      string // "PaySeat" or "OpenTeam"
	failAt      int
	err         error
	pays, opens int
}

func (f *failingStore) PaySeat(ctx context.Context, w *groupbuy.PaySeatWrite) (groupbuy.PaySeatResult, error) {
	f.pays++
	if f.method == "PaySeat" && f.pays == f.failAt {
		return groupbuy.PaySeatResult{}, f.err
	}
	return f.Store.PaySeat(ctx, w)
}

func (f *failingStore) OpenTeam(ctx context.Context, w *groupbuy.OpenTeamWrite) error {
	f.opens++
	if f.method == "OpenTeam" && f.opens == f.failAt {
		return f.err
	}
	return f.Store.OpenTeam(ctx, w)
}

// TestLatePlacementFailures: a late payment whose placement fails
// transiently (a retryable store error, a cancelled context) returns the
// error, records no refund, and a retry places it in the seat placed the
// first time, leaving one seat for it; a definite refusal of the placed
// seat's payment refunds the payment and releases that seat, so no seat is
// left reserved for a payment that was refunded.
func TestLatePlacementFailures(t *testing.T) {
	ctx := context.Background()
	busy := storage.MarkRetryable(errors.New("database is locked"))
	tests := []struct {
		name     string
		policy   groupbuy.LatePaymentPolicy
		method   string
		failAt   int // PaySeat's first call is the lapsed seat's own
		err      error
		refunded bool
	}{
		{"open_new, PaySeat retryable", groupbuy.LateOpenNew, "PaySeat", 2, busy, false},
		{"open_new, PaySeat plain ErrRetryable", groupbuy.LateOpenNew, "PaySeat", 2, storage.ErrRetryable, false},
		{"open_new, PaySeat context cancelled", groupbuy.LateOpenNew, "PaySeat", 2, context.Canceled, false},
		{"join_other, PaySeat retryable", groupbuy.LateJoinOther, "PaySeat", 2, busy, false},
		{"open_new, OpenTeam retryable", groupbuy.LateOpenNew, "OpenTeam", 2, busy, false},
		{"open_new, PaySeat refuses", groupbuy.LateOpenNew, "PaySeat", 2, groupbuy.ErrTeamClosed, true},
		{"join_other, PaySeat refuses", groupbuy.LateJoinOther, "PaySeat", 2, groupbuy.ErrSeatNotReserved, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, store, now := twoSeatWorld(t, tc.policy)
			failing := &failingStore{Store: store, method: tc.method, failAt: tc.failAt, err: tc.err}
			svc, err := groupbuy.New(failing, groupbuy.Config{Now: func() time.Time { return *now }})
			require.NoError(t, err)
			a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
			require.NoError(t, err)
			*now = now.Add(11 * time.Minute) // the reservation lapses
			pay := payFor(a.Seat, "late-1")
			r, err := svc.ConfirmPayment(ctx, pay)
			if tc.refunded {
				require.NoError(t, err)
				require.NotNil(t, r.Late)
				assert.Equal(t, groupbuy.LateActionRefund, r.Late.Action)
			} else {
				require.ErrorIs(t, err, tc.err, "a transient failure is the host's to retry")
				assert.Nil(t, r.Late)
				_, err = store.GetIdempotency(ctx, "groupbuy.pay", "late-1")
				require.ErrorIs(t, err, storage.ErrNotFound, "no outcome is recorded for the payment")
				r, err = svc.ConfirmPayment(ctx, pay) // the host retries
				require.NoError(t, err)
				require.NotNil(t, r.Late)
				assert.Equal(t, groupbuy.LateActionOpened, r.Late.Action)
				assert.Equal(t, groupbuy.SeatPaid, r.Seat.State)
				assert.Equal(t, "late-1", r.Seat.PaymentRef)
			}
			again, err := svc.ConfirmPayment(ctx, pay)
			require.NoError(t, err)
			assert.Equal(t, r.Late, again.Late, "a repeat replays the outcome")
			assert.Equal(t, r.Seat.ID, again.Seat.ID)

			page, err := svc.UserSeats(ctx, "a", "", 10)
			seats := page.Seats
			require.NoError(t, err)
			var live, paid []groupbuy.Seat
			for _, st := range seats {
				if st.ID == a.Seat.ID {
					continue
				}
				if st.State == groupbuy.SeatReserved {
					live = append(live, st)
				}
				if st.State == groupbuy.SeatPaid {
					paid = append(paid, st)
				}
			}
			assert.Empty(t, live, "no seat placed for the payment stays reserved")
			if tc.refunded {
				assert.Empty(t, paid)
			} else {
				require.Len(t, paid, 1, "one seat for the payment")
				assert.Equal(t, r.Seat.ID, paid[0].ID)
			}
			evs, err := store.Claim(ctx, 100, time.Minute)
			require.NoError(t, err)
			refunds, handled := 0, 0
			for _, e := range evs {
				switch e.Topic {
				case groupbuy.TopicRefundRequested:
					refunds++
				case groupbuy.TopicLatePaymentHandled:
					handled++
				}
			}
			assert.Equal(t, map[bool]int{true: 1, false: 0}[tc.refunded], refunds)
			assert.Equal(t, 1, handled)
		})
	}
}

// TestLateOutcomeIgnoresTheTicker: a late payment for a lapsed
// reservation gets the same outcome whether or not ProcessDue released
// the reservation first; one not yet released no longer counts against
// the user's limits once its payment is late.
func TestLateOutcomeIgnoresTheTicker(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		policy groupbuy.LatePaymentPolicy
		limits groupbuy.Limits
		action string
	}{
		{groupbuy.LateOpenNew, groupbuy.Limits{MaxTeamsOpenedPerUser: 1}, groupbuy.LateActionOpened},
		{groupbuy.LateJoinOther, groupbuy.Limits{MaxTeamsOpenedPerUser: 1}, groupbuy.LateActionOpened},
		{groupbuy.LateJoinOther, groupbuy.Limits{MaxTeamsJoinedPerUser: 1}, groupbuy.LateActionJoined},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s %+v", tc.policy, tc.limits), func(t *testing.T) {
			outcomes := map[bool]*groupbuy.LateOutcome{}
			for _, tickerRan := range []bool{true, false} {
				now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
				store := memory.New(memory.WithClock(func() time.Time { return now }))
				svc, err := groupbuy.New(store, groupbuy.Config{Now: func() time.Time { return now }})
				require.NoError(t, err)
				_, err = svc.CreateCampaign(ctx, groupbuy.Campaign{
					ID: "c", ProductRef: "p", Currency: "CNY", Prices: []groupbuy.SKUPrice{{SKU: "s", Price: decimal.NewFromInt(10)}},
					TeamSize: 3, TeamLifetime: time.Hour, ReservationTTL: 10 * time.Minute, StartsAt: now, EndsAt: now.Add(24 * time.Hour),
					Status: groupbuy.CampaignActive, VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone},
					LatePayment: tc.policy, Limits: tc.limits,
				})
				require.NoError(t, err)
				var seat groupbuy.Seat
				if tc.action == groupbuy.LateActionJoined {
					// "a" joins one team and lets the seat lapse; another
					// team, opened after, still has room when she pays.
					first, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "l1", SKU: "s"})
					require.NoError(t, err)
					j, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: first.Team.ID, UserID: "a", SKU: "s"})
					require.NoError(t, err)
					seat = j.Seat
					now = now.Add(5 * time.Minute)
					_, err = svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "l2", SKU: "s"})
					require.NoError(t, err)
					now = now.Add(6 * time.Minute) // a's reservation lapses, l2's does not
				} else {
					a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
					require.NoError(t, err)
					seat = a.Seat
					now = now.Add(11 * time.Minute) // the reservation lapses
				}
				if tickerRan {
					rep, err := svc.ProcessDue(ctx)
					require.NoError(t, err)
					require.Positive(t, rep.Released)
				}
				r, err := svc.ConfirmPayment(ctx, payFor(seat, "late-1"))
				require.NoError(t, err, "ticker ran: %v", tickerRan)
				require.NotNil(t, r.Late, "ticker ran: %v", tickerRan)
				outcomes[tickerRan] = r.Late
				assert.Equal(t, tc.action, r.Late.Action, "ticker ran: %v", tickerRan)
				assert.Equal(t, groupbuy.SeatPaid, r.Seat.State, "ticker ran: %v", tickerRan)
				old, err := store.GetSeat(ctx, seat.ID)
				require.NoError(t, err)
				assert.Equal(t, groupbuy.SeatReleased, old.State, "ticker ran: %v", tickerRan)
				evs, err := store.Claim(ctx, 100, time.Minute)
				require.NoError(t, err)
				released := 0
				for _, e := range evs {
					if e.Topic == groupbuy.TopicSeatReleased && e.Key == "gb:"+seat.TeamID+":"+seat.ID+":released" {
						released++
						var p groupbuy.SeatPayload
						require.NoError(t, json.Unmarshal(e.Payload, &p))
						assert.Equal(t, "reservation expired", p.Reason)
					}
				}
				assert.Equal(t, 1, released, "ticker ran: %v: one release of the lapsed seat", tickerRan)
			}
			assert.Equal(t, outcomes[true], outcomes[false])
		})
	}
}

// TestRefundFailedReachesTheHost: MarkRefundFailed writes a refund_failed
// event with the seat, its team, the amount, the payment and the reason,
// once per failure (a repeat writes none) and under a key of its own per
// failure; a reason that is not valid UTF-8 or too long is refused,
// changing nothing.
func TestRefundFailedReachesTheHost(t *testing.T) {
	ctx := context.Background()
	svc, store, a := failedPaidSeat(t)
	drain := func() []storage.Event {
		evs, err := store.Claim(ctx, 100, time.Minute)
		require.NoError(t, err)
		ids := make([]string, len(evs))
		for i := range evs {
			ids[i] = evs[i].ID
		}
		require.NoError(t, store.Ack(ctx, ids))
		return evs
	}
	drain()

	keys := map[string]bool{}
	steps := []struct {
		name    string
		do      func() (groupbuy.Seat, error)
		field   string // of the ValidationError expected, or ""
		err     error  // the sentinel expected, or nil
		failed  string // the reason of the refund_failed event expected, or ""
		attempt int    // the attempt of the refund_failed event expected
		topics  []string
	}{
		{"invalid UTF-8", func() (groupbuy.Seat, error) { return svc.MarkRefundFailed(ctx, a.Seat.ID, 1, "bad \xff") }, "reason", nil, "", 0, nil},
		{"too long", func() (groupbuy.Seat, error) {
			return svc.MarkRefundFailed(ctx, a.Seat.ID, 1, string(make([]byte, 1025)))
		}, "reason", nil, "", 0, nil},
		{"negative attempt", func() (groupbuy.Seat, error) {
			return svc.MarkRefundFailed(ctx, a.Seat.ID, -1, "x")
		}, "attempt", nil, "", 0, nil},
		{"negative attempt refunded", func() (groupbuy.Seat, error) { return svc.MarkRefunded(ctx, a.Seat.ID, -1) }, "attempt", nil, "", 0, nil},
		{"another attempt", func() (groupbuy.Seat, error) {
			return svc.MarkRefundFailed(ctx, a.Seat.ID, 2, "x")
		}, "", groupbuy.ErrStaleRefundAttempt, "", 0, nil},
		{"declined", func() (groupbuy.Seat, error) {
			return svc.MarkRefundFailed(ctx, a.Seat.ID, 1, "card declined: 卡已过期")
		}, "", nil, "card declined: 卡已过期", 1, []string{groupbuy.TopicRefundFailed}},
		{"repeat", func() (groupbuy.Seat, error) {
			return svc.MarkRefundFailed(ctx, a.Seat.ID, 1, "card declined: 卡已过期")
		}, "", nil, "", 0, nil},
		{"repeat naming no attempt", func() (groupbuy.Seat, error) {
			return svc.MarkRefundFailed(ctx, a.Seat.ID, 0, "card declined: 卡已过期")
		}, "attempt", nil, "", 0, nil},
		{"repeat of another attempt", func() (groupbuy.Seat, error) {
			return svc.MarkRefundFailed(ctx, a.Seat.ID, 2, "card declined: 卡已过期")
		}, "", groupbuy.ErrStaleRefundAttempt, "", 0, nil},
		{"retry", func() (groupbuy.Seat, error) { return svc.RetryRefund(ctx, a.Seat.ID) }, "", nil, "", 0, []string{groupbuy.TopicRefundRequested}},
		{"stale failure", func() (groupbuy.Seat, error) {
			return svc.MarkRefundFailed(ctx, a.Seat.ID, 1, "card declined: 卡已过期")
		}, "", groupbuy.ErrStaleRefundAttempt, "", 0, nil},
		{"stale success", func() (groupbuy.Seat, error) { return svc.MarkRefunded(ctx, a.Seat.ID, 1) }, "", groupbuy.ErrStaleRefundAttempt, "", 0, nil},
		{"failed again", func() (groupbuy.Seat, error) { return svc.MarkRefundFailed(ctx, a.Seat.ID, 2, "timeout") }, "", nil, "timeout", 2, []string{groupbuy.TopicRefundFailed}},
		{"empty reason", func() (groupbuy.Seat, error) {
			if _, err := svc.RetryRefund(ctx, a.Seat.ID); err != nil {
				return groupbuy.Seat{}, err
			}
			drain()
			return svc.MarkRefundFailed(ctx, a.Seat.ID, 3, "")
		}, "", nil, "", 3, []string{groupbuy.TopicRefundFailed}},
	}
	for _, st := range steps {
		before, err := store.GetSeat(ctx, a.Seat.ID)
		require.NoError(t, err)
		_, err = st.do()
		switch {
		case st.field != "" || st.err != nil:
			if st.field != "" {
				var ve *groupbuy.ValidationError
				require.ErrorAs(t, err, &ve, st.name)
				assert.Equal(t, st.field, ve.Field, st.name)
			} else {
				require.ErrorIs(t, err, st.err, st.name)
			}
			after, err := store.GetSeat(ctx, a.Seat.ID)
			require.NoError(t, err)
			assert.Equal(t, before, after, "%s: changes nothing", st.name)
		default:
			require.NoError(t, err, st.name)
		}
		evs := drain()
		var topics []string
		for _, e := range evs {
			topics = append(topics, e.Topic)
			if e.Topic != groupbuy.TopicRefundFailed {
				continue
			}
			assert.Equal(t, "gb:"+a.Team.ID+":"+a.Seat.ID+":refund_failed:"+e.ID, e.Key, st.name)
			assert.False(t, keys[e.Key], "%s: a key per failure", st.name)
			keys[e.Key] = true
			var p groupbuy.RefundFailedPayload
			require.NoError(t, json.Unmarshal(e.Payload, &p))
			assert.Equal(t, groupbuy.RefundFailedPayload{
				Key: groupbuy.RefundKey(a.Team.ID, a.Seat.ID), TeamID: a.Team.ID, SeatID: a.Seat.ID, UserID: "a",
				Amount: p.Amount, Currency: "CNY", PaymentRef: "ref-1", Reason: st.failed, Attempt: st.attempt,
			}, p, st.name)
			assert.True(t, a.Seat.Amount.Equal(p.Amount), st.name)
		}
		assert.Equal(t, st.topics, topics, st.name)
	}
	assert.Len(t, keys, 3)
}

// TestLateRetryAfterPlacedSeatLapsed: a late payment under LateOpenNew whose
// placed seat's payment failed transiently, retried only after that seat's
// reservation lapsed, is refunded; the team opened for it is cancelled
// rather than left forming with no seat, and nothing is paid twice.
func TestLateRetryAfterPlacedSeatLapsed(t *testing.T) {
	ctx := context.Background()
	_, store, now := world(t, 3, groupbuy.LateOpenNew, 0)
	failing := &failingStore{Store: store, method: "PaySeat", failAt: 2, err: storage.MarkRetryable(storage.ErrRetryable)}
	svc, err := groupbuy.New(failing, groupbuy.Config{Now: func() time.Time { return *now }})
	require.NoError(t, err)
	a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
	require.NoError(t, err)
	*now = now.Add(11 * time.Minute) // a's reservation lapses
	pay := payFor(a.Seat, "late-1")
	_, err = svc.ConfirmPayment(ctx, pay)
	require.True(t, storage.IsRetryable(err), "the transient failure is returned: %v", err)
	*now = now.Add(11 * time.Minute) // the host retries after the placed seat lapsed too
	r, err := svc.ConfirmPayment(ctx, pay)
	require.NoError(t, err)
	require.NotNil(t, r.Late)
	assert.Equal(t, groupbuy.LateActionRefund, r.Late.Action)

	open, err := store.OpenTeams(ctx, "c", *now, groupbuy.MatchOldest, 100)
	require.NoError(t, err)
	for _, tm := range open {
		assert.False(t, tm.ID != a.Team.ID && tm.SeatsTaken == 0, "team %s is listed with no seat", tm.ID)
	}
	page, err := svc.UserSeats(ctx, "a", "", 10)
	seats := page.Seats
	require.NoError(t, err)
	require.Len(t, seats, 2, "the lapsed seat and the one placed for the payment")
	for _, st := range seats {
		assert.Contains(t, []groupbuy.SeatState{groupbuy.SeatReleased}, st.State, "seat %s", st.ID)
		if st.TeamID != a.Team.ID {
			tm, err := store.GetTeam(ctx, st.TeamID)
			require.NoError(t, err)
			assert.Equal(t, groupbuy.TeamCancelled, tm.State, "the team opened for the payment")
		}
	}
	again, err := svc.ConfirmPayment(ctx, pay)
	require.NoError(t, err)
	assert.Equal(t, r.Late, again.Late, "a replay returns the refund")
}

// racingStore runs hook once, right after the PaySeat call numbered at
// (counting from 1) returns: what another instance does between a
// payment's PaySeat and the Service's next read.
type racingStore struct {
	groupbuy.Store
	at, pays int
	hook     func()
}

func (r *racingStore) PaySeat(ctx context.Context, w *groupbuy.PaySeatWrite) (groupbuy.PaySeatResult, error) {
	res, err := r.Store.PaySeat(ctx, w)
	r.pays++
	if r.pays == r.at && r.hook != nil {
		hook := r.hook
		r.hook = nil
		hook()
	}
	return res, err
}

// TestLateCallbackRacingItsOutcome: a payment callback delivered twice at
// once, for a released seat: the first delivery refunds it (its campaign
// was paused, so placing it failed), and records that outcome after the
// second delivery's PaySeat found no record but before the second reads
// one. The second returns the first's refund and places nothing, although
// the campaign has resumed meanwhile and a placement would now succeed.
func TestLateCallbackRacingItsOutcome(t *testing.T) {
	ctx := context.Background()
	other, store, now := twoSeatWorld(t, groupbuy.LateOpenNew) // the other instance
	racing := &racingStore{Store: store, at: 1}
	svc, err := groupbuy.New(racing, groupbuy.Config{Now: func() time.Time { return *now }})
	require.NoError(t, err)
	a, err := other.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
	require.NoError(t, err)
	*now = now.Add(11 * time.Minute) // the reservation lapses
	_, err = other.ProcessDue(ctx)
	require.NoError(t, err)
	_, err = other.SetCampaignStatus(ctx, "c", groupbuy.CampaignPaused)
	require.NoError(t, err)
	_, err = store.Claim(ctx, 100, time.Hour)
	require.NoError(t, err)

	pay := payFor(a.Seat, "late-1")
	var first groupbuy.PaymentResult
	racing.hook = func() {
		first, err = other.ConfirmPayment(ctx, pay)
		require.NoError(t, err)
		_, err = other.SetCampaignStatus(ctx, "c", groupbuy.CampaignActive)
		require.NoError(t, err)
	}
	second, err := svc.ConfirmPayment(ctx, pay)
	require.NoError(t, err)
	require.NotNil(t, first.Late, "the hook ran")
	assert.Equal(t, groupbuy.LateActionRefund, first.Late.Action)
	assert.Equal(t, first.Late, second.Late, "the second delivery returns the first's outcome")

	page, err := svc.UserSeats(ctx, "a", "", 10)
	seats := page.Seats
	require.NoError(t, err)
	require.Len(t, seats, 1, "no seat placed for a refunded payment")
	assert.Equal(t, a.Seat.ID, seats[0].ID)
	evs, err := store.Claim(ctx, 100, time.Hour)
	require.NoError(t, err)
	var got []string
	for _, e := range evs {
		got = append(got, e.Topic)
	}
	assert.ElementsMatch(t, []string{groupbuy.TopicLatePaymentHandled, groupbuy.TopicRefundRequested}, got, "one outcome's events")
}

// TestLateJoinOtherRefusedByLimit: under LateJoinOther, a late payment
// whose join the user's MaxTeamsJoinedPerUser refuses is refunded; no team
// is opened for it instead, although the user could open one.
func TestLateJoinOtherRefusedByLimit(t *testing.T) {
	ctx := context.Background()
	svc, store, now := worldOf(t, 0, nil, func(c *groupbuy.Campaign) {
		c.LatePayment, c.Limits = groupbuy.LateJoinOther, groupbuy.Limits{MaxTeamsJoinedPerUser: 1}
	})
	t1, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "l1", SKU: "s"})
	require.NoError(t, err)
	lapsed, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: t1.Team.ID, UserID: "a", SKU: "s"})
	require.NoError(t, err)
	*now = now.Add(11 * time.Minute) // a's reservation lapses
	_, err = svc.ProcessDue(ctx)
	require.NoError(t, err)
	t2, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "l2", SKU: "s"})
	require.NoError(t, err)
	j, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: t2.Team.ID, UserID: "a", SKU: "s"})
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(ctx, payFor(j.Seat, "pay-2"))
	require.NoError(t, err)
	_, err = svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "l3", SKU: "s"}) // room a's limit refuses
	require.NoError(t, err)
	before, err := store.OpenTeams(ctx, "c", *now, groupbuy.MatchOldest, 100)
	require.NoError(t, err)

	r, err := svc.ConfirmPayment(ctx, payFor(lapsed.Seat, "pay-1"))
	require.NoError(t, err)
	require.NotNil(t, r.Late)
	assert.Equal(t, groupbuy.LateActionRefund, r.Late.Action)
	assert.Contains(t, r.Late.Reason, "placing failed")
	after, err := store.OpenTeams(ctx, "c", *now, groupbuy.MatchOldest, 100)
	require.NoError(t, err)
	assert.Len(t, after, len(before), "no team opened for the refunded payment")
	seats, err := store.UserSeats(ctx, "a", groupbuy.SeatPosition{}, 100)
	require.NoError(t, err)
	live := 0
	for _, st := range seats {
		if st.State == groupbuy.SeatReserved || st.State == groupbuy.SeatPaid {
			live++
		}
	}
	assert.Equal(t, 1, live, "a holds only the seat she paid for in t2")
}

// replayRowsStore attaches rows to a payment's ReplayError, as an adapter
// that reads them with the record does, changed by edit, and counts the
// reads of teams and seats that reach it.
type replayRowsStore struct {
	groupbuy.Store
	edit  func(*groupbuy.Team, *groupbuy.Seat)
	reads int
}

func (s *replayRowsStore) PaySeat(ctx context.Context, w *groupbuy.PaySeatWrite) (groupbuy.PaySeatResult, error) {
	r, err := s.Store.PaySeat(ctx, w)
	if re, ok := errors.AsType[*groupbuy.ReplayError](err); ok {
		team, terr := s.Store.GetTeam(ctx, w.TeamID)
		seat, serr := s.Store.GetSeat(ctx, w.SeatID)
		if terr != nil || serr != nil {
			return r, errors.Join(terr, serr)
		}
		team.Version += 1000 // marks the rows the store handed over
		s.edit(&team, &seat)
		re.Team, re.Seat = &team, &seat
	}
	return r, err
}

func (s *replayRowsStore) GetTeam(ctx context.Context, id string) (groupbuy.Team, error) {
	s.reads++
	return s.Store.GetTeam(ctx, id)
}

func (s *replayRowsStore) GetSeat(ctx context.Context, id string) (groupbuy.Seat, error) {
	s.reads++
	return s.Store.GetSeat(ctx, id)
}

// TestReplayUsesStoreRows: a replayed payment is built from the team and
// seat its ReplayError carries when they are the ones its record names,
// without reading them again; rows of another team or seat are ignored and
// read afresh.
func TestReplayUsesStoreRows(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*groupbuy.Team, *groupbuy.Seat)
		given bool
	}{
		{"the record's rows", func(*groupbuy.Team, *groupbuy.Seat) {}, true},
		{"another seat", func(_ *groupbuy.Team, st *groupbuy.Seat) { st.ID = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b" }, false},
		{"another team", func(tm *groupbuy.Team, _ *groupbuy.Seat) { tm.ID = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b" }, false},
		{"a seat of another team", func(_ *groupbuy.Team, st *groupbuy.Seat) { st.TeamID = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var store *replayRowsStore
			svc, _, _ := worldOf(t, 0, func(mem groupbuy.Store) groupbuy.Store {
				store = &replayRowsStore{Store: mem, edit: tc.edit}
				return store
			}, nil)
			a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
			require.NoError(t, err)
			first, err := svc.ConfirmPayment(ctx, payFor(a.Seat, "ref-1"))
			require.NoError(t, err)

			store.reads = 0
			again, err := svc.ConfirmPayment(ctx, payFor(a.Seat, "ref-1"))
			require.NoError(t, err)
			assert.Equal(t, first.Seat, again.Seat)
			if tc.given {
				assert.Equal(t, 0, store.reads, "no read: the replay's rows serve")
				assert.Equal(t, first.Team.Version+1000, again.Team.Version)
			} else {
				assert.Equal(t, 2, store.reads, "the team and the seat read afresh")
				assert.Equal(t, first.Team, again.Team)
			}
		})
	}
}

// TestUserSeatsPages: the Service pages a user's seats with cursors: full
// pages carry Next, a short page ends the list, a seat reserved while
// paging waits for a new first page, and a cursor that is not one of
// UserSeats' is a ValidationError.
func TestUserSeatsPages(t *testing.T) {
	ctx := context.Background()
	svc, _, now := world(t, 3, groupbuy.LateRefund, 0)
	var want []string
	for range 5 {
		r, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
		require.NoError(t, err)
		want = append([]string{r.Seat.ID}, want...) // newest first
		*now = now.Add(time.Second)
	}
	var got []string
	var sizes []int
	cursor := ""
	for {
		page, err := svc.UserSeats(ctx, "a", cursor, 2)
		require.NoError(t, err)
		sizes = append(sizes, len(page.Seats))
		for _, st := range page.Seats {
			got = append(got, st.ID)
		}
		if len(got) == 2 {
			_, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"}) // reserved while paging
			require.NoError(t, err)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	assert.Equal(t, want, got)
	assert.Equal(t, []int{2, 2, 1}, sizes)

	// Six seats now: pages of 3 end with the second, which is full; no
	// empty page follows it.
	first, err := svc.UserSeats(ctx, "a", "", 3)
	require.NoError(t, err)
	require.Len(t, first.Seats, 3)
	require.NotEmpty(t, first.Next)
	second, err := svc.UserSeats(ctx, "a", first.Next, 3)
	require.NoError(t, err)
	assert.Len(t, second.Seats, 3)
	assert.Empty(t, second.Next, "the last page, full, says so")
	all, err := svc.UserSeats(ctx, "a", "", groupbuy.MaxListLimit)
	require.NoError(t, err)
	assert.Len(t, all.Seats, 6)
	assert.Empty(t, all.Next)

	for _, bad := range []string{"x", "not a cursor", strings.Repeat("A", 300)} {
		_, err := svc.UserSeats(ctx, "a", bad, 2)
		var ve *groupbuy.ValidationError
		require.ErrorAs(t, err, &ve, "cursor %q", bad)
		assert.Equal(t, "cursor", ve.Field)
	}
}

// TestCampaignWindowInMicroseconds: CreateCampaign rounds the window's
// ends up to whole microseconds, the precision every store keeps, so that
// the last nanoseconds of a window are open on every store or on none;
// a window that rounding empties is refused.
func TestCampaignWindowInMicroseconds(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	store := memory.New(memory.WithClock(func() time.Time { return now }))
	svc, err := groupbuy.New(store, groupbuy.Config{Now: func() time.Time { return now }})
	require.NoError(t, err)
	camp := groupbuy.Campaign{
		ID: "c", ProductRef: "p", Currency: "CNY", Prices: []groupbuy.SKUPrice{{SKU: "s", Price: decimal.NewFromInt(10)}},
		TeamSize: 3, TeamLifetime: time.Hour, ReservationTTL: 10 * time.Minute,
		StartsAt: now.Add(-time.Hour + 1), EndsAt: now.Add(500), // the window ends 500 ns after now
		Status: groupbuy.CampaignActive, VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
	}
	c, err := svc.CreateCampaign(ctx, camp)
	require.NoError(t, err)
	assert.Equal(t, now.Add(-time.Hour+time.Microsecond), c.StartsAt)
	assert.Equal(t, now.Add(time.Microsecond), c.EndsAt)
	stored, err := store.GetCampaign(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, c.EndsAt, stored.EndsAt)
	now = now.Add(900) // past the given end, before the stored one
	r, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
	require.NoError(t, err)
	assert.Equal(t, c.EndsAt, r.Team.ExpiresAt, "the team ends with the window")

	base := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	camp.ID, camp.StartsAt, camp.EndsAt = "empty", base.Add(100), base.Add(900) // one instant once rounded
	_, err = svc.CreateCampaign(ctx, camp)
	var ve *groupbuy.ValidationError
	require.ErrorAs(t, err, &ve)
}
