package groupbuy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/storage"
)

// checkCase is one call of a Check, and what it must answer: nil, or a
// *ValidationError naming field.
type checkCase struct {
	name   string
	check  func() error
	wantOK bool
	field  string
}

// TestChecks holds each exported Check to the rules Store's doc lists: a
// valid write passes, and each kind of bad field is refused as a
// *ValidationError naming that field. The conformance suite runs the same
// rules through every adapter.
func TestChecks(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	price := decimal.RequireFromString("9.90")
	seat := func() Seat {
		return Seat{ID: "s1", TeamID: "t1", CampaignID: "c1", UserID: "u1", SKU: "sku", Quantity: 1, UnitPrice: price, Amount: price,
			Currency: "CNY", State: SeatReserved, ReservedAt: now, ReservedUntil: now.Add(time.Minute)}
	}
	event := func() []storage.Event {
		return []storage.Event{{ID: "e1", Topic: TopicSeatReserved, Key: "gb:t1:s1:reserved", Payload: []byte(`{}`), CreatedAt: now}}
	}
	record := func() *IdempotencyRecord {
		return &IdempotencyRecord{Scope: "join", Key: "k1", Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: now}
	}
	open := func() *OpenTeamWrite {
		leader := seat()
		leader.Leader = true
		return &OpenTeamWrite{
			Team:   Team{ID: "t1", CampaignID: "c1", LeaderID: "u1", Capacity: 3, SeatsTaken: 1, State: TeamForming, OpenedAt: now, ExpiresAt: now.Add(time.Hour)},
			Leader: leader, Now: now, Events: event(), Idem: record(),
		}
	}
	join := func() *JoinTeamWrite { return &JoinTeamWrite{Seat: seat(), Now: now, Events: event(), Idem: record()} }
	match := func() *MatchTeamWrite {
		w := &MatchTeamWrite{JoinTeamWrite: *join(), Order: MatchFullest}
		w.Seat.TeamID = ""
		w.Events[0].Key = "gb:" + TeamIDHole + ":s1:reserved"
		return w
	}
	pay := func() *PaySeatWrite {
		return &PaySeatWrite{TeamID: "t1", SeatID: "s1", PaymentRef: "pay-1", Amount: price, Currency: "CNY", Now: now, Events: event(), Idem: record()}
	}
	closing := func() *CloseTeamWrite {
		return &CloseTeamWrite{TeamID: "t1", State: TeamFailed, Now: now, Release: []string{"s1"}, Refund: []string{"s2"}, Events: event()}
	}
	long := func(n int) string { return strings.Repeat("x", n) }
	cases := []checkCase{
		{"campaign", func() error {
			return CheckStoredCampaign(&Campaign{ID: "c1", Currency: "CNY", Status: CampaignActive, Prices: []SKUPrice{{SKU: "s", Price: price}}})
		}, true, ""},
		{"campaign currency with a space", func() error {
			return CheckStoredCampaign(&Campaign{ID: "c1", Currency: "CNY ", Status: CampaignActive})
		}, false, "campaign.Currency"},
		{"campaign price of 5 decimals", func() error {
			return CheckStoredCampaign(&Campaign{ID: "c1", Currency: "CNY", Status: CampaignActive, Prices: []SKUPrice{{SKU: "s", Price: decimal.RequireFromString("0.00001")}}})
		}, false, "campaign.Prices[0].Price"},
		{"open", func() error { return CheckOpenTeamWrite(open()) }, true, ""},
		{"open leader of another team", func() error { w := open(); w.Leader.TeamID = "t2"; return CheckOpenTeamWrite(w) }, false, "Leader.TeamID"},
		{"open capacity 0", func() error { w := open(); w.Team.Capacity = 0; return CheckOpenTeamWrite(w) }, false, "Team.Capacity"},
		{"open without Now", func() error { w := open(); w.Now = time.Time{}; return CheckOpenTeamWrite(w) }, false, "Now"},
		{"open event key too long", func() error { w := open(); w.Events[0].Key = long(MaxEventKeyLength + 1); return CheckOpenTeamWrite(w) }, false, "Events[0].Key"},
		{"open topic too long", func() error {
			w := open()
			w.Events[0].Topic = long(MaxEventTopicLength + 1)
			return CheckOpenTeamWrite(w)
		}, false, "Events[0].Topic"},
		{"open fingerprint too long", func() error {
			w := open()
			w.Idem.Fingerprint = long(MaxFingerprintLength + 1)
			return CheckOpenTeamWrite(w)
		}, false, "Idem.Fingerprint"},
		{"join", func() error { return CheckJoinTeamWrite(join()) }, true, ""},
		{"join amount of 17 digits", func() error {
			w := join()
			w.Seat.Amount = decimal.RequireFromString("10000000000000000")
			return CheckJoinTeamWrite(w)
		}, false, "Seat.Amount"},
		{"join currency too long", func() error { w := join(); w.Seat.Currency = long(MaxCurrencyLength + 1); return CheckJoinTeamWrite(w) }, false, "Seat.Currency"},
		{"join SKU with NUL", func() error { w := join(); w.Seat.SKU = "a\x00"; return CheckJoinTeamWrite(w) }, false, "Seat.SKU"},
		{"join user with a space", func() error { w := join(); w.Seat.UserID = "u 1"; return CheckJoinTeamWrite(w) }, false, "Seat.UserID"},
		{"join too many events", func() error {
			w := join()
			w.Events = make([]storage.Event, MaxWriteBatch+1)
			return CheckJoinTeamWrite(w)
		}, false, "Events"},
		{"match", func() error { return CheckMatchTeamWrite(match()) }, true, ""},
		{"match with a team", func() error { w := match(); w.Seat.TeamID = "t1"; return CheckMatchTeamWrite(w) }, false, "Seat.TeamID"},
		{"match unknown order", func() error { w := match(); w.Order = "newest"; return CheckMatchTeamWrite(w) }, false, "Order"},
		{"match key too long once filled", func() error {
			w := match()
			w.Events[0].Key = long(MaxEventKeyLength-MaxIDLength+1) + TeamIDHole
			return CheckMatchTeamWrite(w)
		}, false, "Events[0].Key"},
		{"pay", func() error { return CheckPaySeatWrite(pay()) }, true, ""},
		{"pay reference too long", func() error { w := pay(); w.PaymentRef = long(MaxPaymentRefLength + 1); return CheckPaySeatWrite(w) }, false, "PaymentRef"},
		{"pay record key with a space", func() error { w := pay(); w.Idem.Key = "k 1"; return CheckPaySeatWrite(w) }, false, "Idem.Key"},
		{"release", func() error { return CheckReleaseSeatWrite(&ReleaseSeatWrite{SeatID: "s1", Now: now}) }, true, ""},
		{"release bad user", func() error { return CheckReleaseSeatWrite(&ReleaseSeatWrite{SeatID: "s1", UserID: "u\x00"}) }, false, "UserID"},
		{"close", func() error { return CheckCloseTeamWrite(closing()) }, true, ""},
		{"close seat twice", func() error { w := closing(); w.Confirm = []string{"s1"}; return CheckCloseTeamWrite(w) }, false, "seats"},
		{"close to forming", func() error { w := closing(); w.State = TeamForming; return CheckCloseTeamWrite(w) }, false, "State"},
		{"refund", func() error {
			return CheckRefundWrite(&RefundWrite{SeatID: "s1", From: SeatRefundRequested, To: SeatRefunded, Now: now})
		}, true, ""},
		{"refund off its path", func() error {
			return CheckRefundWrite(&RefundWrite{SeatID: "s1", From: SeatReserved, To: SeatRefunded, Now: now})
		}, false, "state"},
		{"refund negative attempt", func() error {
			return CheckRefundWrite(&RefundWrite{SeatID: "s1", From: SeatRefundRequested, To: SeatRefunded, Attempt: -1, Now: now})
		}, false, "Attempt"},
		{"refund retry past the largest attempt", func() error {
			return CheckRefundWrite(&RefundWrite{SeatID: "s1", From: SeatRefundFailed, To: SeatRefundRequested, Attempt: 1<<31 - 1, Now: now})
		}, false, "Attempt"},
		{"refund at the largest attempt", func() error {
			return CheckRefundWrite(&RefundWrite{SeatID: "s1", From: SeatRefundFailed, To: SeatRefundRequested, Attempt: 1<<31 - 2, Now: now})
		}, true, ""},
		{"outcome", func() error { return CheckOutcome(record(), event()) }, true, ""},
		{"outcome without a record", func() error { return CheckOutcome(nil, event()) }, false, "idem"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.check()
			if c.wantOK {
				if err != nil {
					t.Fatalf("valid write refused: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *ValidationError", err)
			}
			if ve.Field != c.field {
				t.Errorf("field %q, want %q (%v)", ve.Field, c.field, err)
			}
		})
	}
}
