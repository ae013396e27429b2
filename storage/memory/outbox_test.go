package memory

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage"
)

// addEvent puts one event in s's outbox, as a write would.
func addEvent(s *Store, ev storage.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addEvents([]storage.Event{ev})
}

// TestOutboxFreesExactTimes: a CreatedAt that takes no stamp (a local time
// with a monotonic reading, as time.Now gives) reads back exactly, and is
// let go with its event, whatever the number of claims and leases.
func TestOutboxFreesExactTimes(t *testing.T) {
	ctx := context.Background()
	s := New(WithClock(time.Now))
	for round := range 3 {
		var want []time.Time
		for i := range 500 {
			at := time.Now()
			want = append(want, at)
			addEvent(s, storage.Event{ID: strconv.Itoa(round*1000 + i), Topic: "t", Key: "k", CreatedAt: at})
		}
		evs, err := s.Claim(ctx, 1000, time.Nanosecond)
		if err != nil || len(evs) != 500 {
			t.Fatalf("round %d: claimed %d events, %v", round, len(evs), err)
		}
		time.Sleep(time.Millisecond)
		again, err := s.Claim(ctx, 1000, time.Minute) // every lease ended
		if err != nil || len(again) != 500 {
			t.Fatalf("round %d: claimed again %d events, %v", round, len(again), err)
		}
		ids := make([]string, len(again))
		for i, ev := range again {
			if ev.CreatedAt != want[i] {
				t.Fatalf("round %d: event %d CreatedAt %v, want %v", round, i, ev.CreatedAt, want[i])
			}
			ids[i] = ev.ID
		}
		if err := s.Ack(ctx, ids); err != nil {
			t.Fatal(err)
		}
		if n := len(s.out.exact); n != 0 {
			t.Fatalf("round %d: %d exact times kept after every event was acked", round, n)
		}
	}
}

// TestOutboxClockBefore1970: a new event is free to claim whatever the
// clock reads, the Unix epoch's past included.
func TestOutboxClockBefore1970(t *testing.T) {
	moon := time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC)
	s := New(WithClock(func() time.Time { return moon }))
	addEvent(s, storage.Event{ID: "e1", Topic: "t", Key: "k", CreatedAt: moon})
	evs, err := s.Claim(context.Background(), 10, time.Minute)
	if err != nil || len(evs) != 1 {
		t.Fatalf("claimed %d events, %v; want 1", len(evs), err)
	}
	if evs, _ := s.Claim(context.Background(), 10, time.Minute); len(evs) != 0 {
		t.Fatalf("claimed %d events under a running lease", len(evs))
	}
}

// TestOutboxManyTopics: topics are numbered without wrapping.
func TestOutboxManyTopics(t *testing.T) {
	s := New()
	const n = 1<<16 + 3
	for i := range n {
		addEvent(s, storage.Event{ID: strconv.Itoa(i), Topic: "t" + strconv.Itoa(i), Key: "k"})
	}
	var evs []storage.Event
	for len(evs) < n {
		got, err := s.Claim(context.Background(), 10000, time.Minute)
		if err != nil || len(got) == 0 {
			t.Fatalf("claimed %d events, then %v", len(evs), err)
		}
		evs = append(evs, got...)
	}
	for i, ev := range evs {
		if want := "t" + strconv.Itoa(i); ev.Topic != want {
			t.Fatalf("event %d: topic %q, want %q", i, ev.Topic, want)
		}
	}
}

// TestOutboxEmptyPayload: an empty payload reads back empty and non-nil, a
// nil one nil.
func TestOutboxEmptyPayload(t *testing.T) {
	s := New()
	addEvent(s, storage.Event{ID: "empty", Topic: "t", Key: "k", Payload: []byte{}})
	addEvent(s, storage.Event{ID: "nil", Topic: "t", Key: "k"})
	evs, err := s.Claim(context.Background(), 10, time.Minute)
	if err != nil || len(evs) != 2 {
		t.Fatalf("claimed %d events, %v", len(evs), err)
	}
	if evs[0].Payload == nil || len(evs[0].Payload) != 0 {
		t.Errorf("empty payload read back as %#v", evs[0].Payload)
	}
	if evs[1].Payload != nil {
		t.Errorf("nil payload read back as %#v", evs[1].Payload)
	}
}

// TestOutboxEventIDInUse: a write whose event has the ID of an event not
// acked yet is refused with storage.ErrConflict and writes nothing, as the
// SQL stores refuse it (their unique key on outbox.id; "an event ID is in
// use"). The memory store keeps both events: Ack of the ID then acks one
// of them, and the other comes back under an ID the consumer has seen
// already (consumers dedupe deliveries on ID), so its effect is dropped.
func TestOutboxEventIDInUse(t *testing.T) {
	ctx := context.Background()
	s := New()
	rec := func(key string) *groupbuy.IdempotencyRecord {
		return &groupbuy.IdempotencyRecord{Scope: "t", Key: key, Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: time.Unix(1, 0).UTC()}
	}
	ev := storage.Event{ID: "ev-1", Topic: "t", Key: "k1", Payload: []byte(`{}`), CreatedAt: time.Unix(1, 0).UTC()}
	if err := s.RecordOutcome(ctx, rec("k1"), []storage.Event{ev}); err != nil {
		t.Fatal(err)
	}
	ev.Key = "k2"
	if err := s.RecordOutcome(ctx, rec("k2"), []storage.Event{ev}); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("second event ev-1: got %v, want storage.ErrConflict", err)
	}
	if n := s.Pending(); n != 1 {
		t.Errorf("%d events pending, want 1", n)
	}
}

// TestOutboxAckRetriedIsLinear: an Ack of IDs that are gone already (a
// relay retrying an Ack whose answer it lost) costs a lookup per ID (the
// index of IDs not acked yet), not a scan of the pending events per ID:
// with 200,000 events pending, an Ack of MaxClaim such IDs once held the
// Store's lock, and every write, for seconds.
func TestOutboxAckRetriedIsLinear(t *testing.T) {
	ctx := context.Background()
	s := New()
	for i := range 200000 {
		addEvent(s, storage.Event{ID: "ev-" + strconv.Itoa(i), Topic: "t", Key: "k", CreatedAt: time.Unix(1, 0).UTC()})
	}
	ids := make([]string, storage.MaxClaim)
	for i := range ids {
		ids[i] = "gone-" + strconv.Itoa(i)
	}
	ids[len(ids)-1] = "ev-199999" // never claimed: acked by the scan
	start := time.Now()
	if err := s.Ack(ctx, ids); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Ack of %d IDs not claimed took %v", len(ids), d)
	}
	if n := s.Pending(); n != 199999 {
		t.Errorf("%d events pending, want 199999", n)
	}
	// An ID given twice acks its event once.
	if err := s.Ack(ctx, []string{"ev-0", "ev-0", "ev-1"}); err != nil {
		t.Fatal(err)
	}
	if n := s.Pending(); n != 199997 {
		t.Errorf("%d events pending, want 199997", n)
	}
}

// TestOutboxEventIDInUseOnFill: the memory store refuses a filling payment
// whose OnFill event has the ID of an event not acked yet whole: the seat
// stays reserved, the team forming, and neither the payment's event nor
// its record is stored. (An adapter may complete a team in a second step,
// which the conformance suite allows; this store never does.)
func TestOutboxEventIDInUseOnFill(t *testing.T) {
	s, pay := fillingPayment(t)
	now := s.now()
	addEvent(s, storage.Event{ID: "ev-taken", Topic: "t", Key: "k", CreatedAt: now})
	calls := 0
	err := pay(func(*groupbuy.Team, []groupbuy.Seat) []storage.Event {
		calls++
		return []storage.Event{{ID: "ev-taken", Topic: "t", Key: "k2", CreatedAt: now}}
	})
	if !errors.Is(err, storage.ErrConflict) || calls == 0 {
		t.Fatalf("PaySeat: %v after %d OnFill calls; want storage.ErrConflict from OnFill's event", err, calls)
	}
}

// TestOnFillEventsChecked: OnFill's events are checked as a write's own
// (check.Events), as the SQL stores check them: two of one ID, or one
// without a topic, is a *storage.ValidationError that changes nothing.
// fillEventsFree called two of one ID an ID in use (storage.ErrConflict)
// and stored an event without a topic.
func TestOnFillEventsChecked(t *testing.T) {
	for name, fill := range map[string][]storage.Event{
		"same ID":  {{ID: "ev-a", Topic: "t", Key: "k"}, {ID: "ev-a", Topic: "t", Key: "k2"}},
		"no topic": {{ID: "ev-a", Key: "k"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, pay := fillingPayment(t)
			err := pay(func(*groupbuy.Team, []groupbuy.Seat) []storage.Event { return fill })
			if _, ok := errors.AsType[*storage.ValidationError](err); !ok {
				t.Fatalf("PaySeat: %v, want a *storage.ValidationError", err)
			}
		})
	}
}

// fillingPayment returns a store with a team of 2 whose leader paid, and
// pay, which sends the payment that fills it with OnFill onFill and
// checks that a refused one changed nothing: the seat stays reserved, the
// team forming, and neither the payment's event nor its record is stored.
func fillingPayment(t *testing.T) (*Store, func(onFill func(*groupbuy.Team, []groupbuy.Seat) []storage.Event) error) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := New(WithClock(clock))
	svc, err := groupbuy.New(s, groupbuy.Config{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	price := decimal.RequireFromString("9.90")
	if _, err := svc.CreateCampaign(ctx, groupbuy.Campaign{
		ID: "c", ProductRef: "p", Currency: "CNY", Prices: []groupbuy.SKUPrice{{SKU: "s", Price: price}},
		TeamSize: 2, TeamLifetime: time.Hour, ReservationTTL: time.Minute,
		StartsAt: now, EndsAt: now.Add(time.Hour), Status: groupbuy.CampaignActive,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
	}); err != nil {
		t.Fatal(err)
	}
	lead, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "alice", SKU: "s"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: lead.Team.ID, UserID: "bob", SKU: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{TeamID: lead.Team.ID, SeatID: lead.Seat.ID, PaymentRef: "p1", Amount: price, Currency: "CNY"}); err != nil {
		t.Fatal(err)
	}
	return s, func(onFill func(*groupbuy.Team, []groupbuy.Seat) []storage.Event) error {
		t.Helper()
		pending := s.Pending()
		_, err := s.PaySeat(ctx, &groupbuy.PaySeatWrite{
			TeamID: lead.Team.ID, SeatID: bob.Seat.ID, PaymentRef: "p2", Amount: price, Currency: "CNY", Now: now,
			Events: []storage.Event{{ID: "ev-paid", Topic: "t", Key: "k", CreatedAt: now}},
			Idem:   &groupbuy.IdempotencyRecord{Scope: "t", Key: "p2", Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: now},
			OnFill: onFill,
		})
		if err == nil {
			return nil
		}
		if team, _ := s.GetTeam(ctx, lead.Team.ID); team.State != groupbuy.TeamForming || team.SeatsPaid != 1 {
			t.Errorf("team %s with %d paid, want forming with 1", team.State, team.SeatsPaid)
		}
		if seat, _ := s.GetSeat(ctx, bob.Seat.ID); seat.State != groupbuy.SeatReserved || seat.PaymentRef != "" {
			t.Errorf("seat %s, ref %q; want reserved without a reference", seat.State, seat.PaymentRef)
		}
		if _, err := s.GetIdempotency(ctx, "t", "p2"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("record: %v, want not found", err)
		}
		if n := s.Pending(); n != pending {
			t.Errorf("%d events pending, want %d", n, pending)
		}
		return err
	}
}

// TestOutboxEventIDInUseReferral: the referral writes (SetDistributor,
// Bind, SaveAttribution) refuse an event whose ID an event not acked yet
// has, with referral.ErrConflict (which matches storage.ErrConflict), and
// store nothing. The Service's NewID hands out the ID in use on demand.
func TestOutboxEventIDInUseReferral(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	s := New(WithClock(func() time.Time { return now }))
	n, reuse := 0, false
	svc, err := referral.New(s, referral.Config{Now: func() time.Time { return now }, TokenKey: []byte("memory-test-token-key-0123456789"),
		NewID: func() string {
			if reuse {
				return "ev-taken"
			}
			n++
			return "ev-" + strconv.Itoa(n)
		}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.CreateProgramme(ctx, referral.Programme{
		ID: "prog", Policy: referral.PolicyChina, Levels: 2, LevelRates: []float64{0.1, 0.05},
		BindMode: referral.BindFirstTouch, SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel,
		Approval: referral.ApproveAuto, ReferrerMustBeDistributor: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Apply(ctx, p.ID, "p1"); err != nil {
		t.Fatal(err)
	}
	addEvent(s, storage.Event{ID: "ev-taken", Topic: "t", Key: "k", CreatedAt: now})
	pending := s.Pending()
	reuse = true
	if _, err := svc.Apply(ctx, p.ID, "p2"); !errors.Is(err, storage.ErrConflict) || !errors.Is(err, referral.ErrConflict) {
		t.Errorf("Apply: %v, want referral.ErrConflict", err)
	}
	if _, err := s.GetDistributor(ctx, p.ID, "p2"); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("refused Apply stored a distributor: %v", err)
	}
	if _, err := svc.Bind(ctx, referral.BindRequest{ProgrammeID: p.ID, UserID: "buyer", ReferrerID: "p1", Source: referral.SourceLink}); !errors.Is(err, referral.ErrConflict) {
		t.Errorf("Bind: %v, want referral.ErrConflict", err)
	}
	if _, err := s.GetBinding(ctx, p.ID, "buyer"); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("refused Bind stored a binding: %v", err)
	}
	if got := s.Pending(); got != pending {
		t.Errorf("%d events pending after the refused Apply and Bind, want %d", got, pending)
	}
	reuse = false
	if _, err := svc.Bind(ctx, referral.BindRequest{ProgrammeID: p.ID, UserID: "buyer", ReferrerID: "p1", Source: referral.SourceLink}); err != nil {
		t.Fatal(err)
	}
	pending = s.Pending()
	reuse = true
	if _, err := svc.Attribute(ctx, p.ID, "order-1", "buyer", now); !errors.Is(err, referral.ErrConflict) {
		t.Errorf("Attribute: %v, want referral.ErrConflict", err)
	}
	if _, err := s.GetAttribution(ctx, p.ID, "order-1"); !errors.Is(err, referral.ErrNotFound) {
		t.Errorf("refused Attribute stored an attribution: %v", err)
	}
	if got := s.Pending(); got != pending {
		t.Errorf("%d events pending, want %d", got, pending)
	}
}
