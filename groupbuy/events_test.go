package groupbuy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/internal/jsonw"
	"github.com/socialcommerce/sdk/storage"
)

func FuzzSeatPayloadJSON(f *testing.F) {
	f.Add("t1", "s1", "c", "u", "9.90", "CNY", "", "")
	f.Add("t\"", "<s>", "", "", "-0.01", "", "pay\x00", "why\u2028")
	f.Fuzz(func(t *testing.T, team, seat, camp, user, amount, cur, ref, reason string) {
		d, err := decimal.NewFromString(amount)
		if err != nil {
			d = decimal.NewFromInt(1)
		}
		p := SeatPayload{TeamID: team, SeatID: seat, CampaignID: camp, UserID: user, Amount: d, Currency: cur, PaymentRef: ref, Reason: reason}
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		// With no field known plain, and with every field that is plain
		// marked so, as the Service marks the ones it checked.
		var known plainFields
		for _, f := range []struct {
			s   string
			bit plainFields
		}{{team, plainTeam}, {seat, plainSeat}, {camp, plainCampaign}, {user, plainUser}, {cur, plainCurrency}} {
			if jsonw.Plain(f.s) {
				known |= f.bit
			}
		}
		for _, plain := range []plainFields{0, known} {
			if got := p.appendJSON(nil, plain); string(got) != string(want) {
				t.Fatalf("appendJSON(%b) = %s\nencoding/json = %s", plain, got, want)
			}
		}
	})
}

func TestPayRecordMatchesEncodingJSON(t *testing.T) {
	s := &Service{}
	for _, r := range []payResultJSON{
		{TeamID: "t", SeatID: "s"},
		{TeamID: "t<", SeatID: "s\"", Filled: true},
		{TeamID: "t", SeatID: "s", Action: LateActionRefund, RefundKey: "k", Reason: "late"},
	} {
		want, _ := json.Marshal(r)
		if got := s.payRecord("ref", "fp", r, time.Time{}).Result; string(got) != string(want) {
			t.Errorf("payRecord(%+v) = %s, want %s", r, got, want)
		}
	}
}

// TestPayResultsMatchEncodingJSON: the two results a payment stores, as it
// is and with Filled set, are what encoding/json gives for each, whether
// they are built from the payload's head or encoded.
func TestPayResultsMatchEncodingJSON(t *testing.T) {
	for _, r := range []payResultJSON{
		{TeamID: "t", SeatID: "s"},
		{TeamID: "t<", SeatID: "s\"\u2028\xff"},
		{TeamID: "t", SeatID: "s", Filled: true},
		{TeamID: "t", SeatID: "s", Policy: string(LateJoinOther), Action: LateActionJoined, Reason: "late"},
	} {
		p := SeatPayload{TeamID: r.TeamID, SeatID: r.SeatID}
		want, _ := json.Marshal(r)
		f := r
		f.Filled = true
		wantFilled, _ := json.Marshal(f)
		for _, head := range [][]byte{nil, p.appendHead(nil, 0)} {
			got, at := r.appendBoth([]byte("prefix"), head)
			if string(got[len("prefix"):at]) != string(want) || string(got[at:]) != string(wantFilled) {
				t.Errorf("appendBoth(%+v, %q) = %s | %s, want %s | %s", r, head, got[len("prefix"):at], got[at:], want, wantFilled)
			}
		}
	}
}

// TestPaymentFingerprintMatchesFingerprint: the payment path's fingerprint
// is fingerprint(team, seat, amount, currency), byte for byte, so records
// stored before it existed still match their repeats.
func TestPaymentFingerprintMatchesFingerprint(t *testing.T) {
	for _, amount := range []string{"19.9", "19.90", "0.01", "1000", "123456789012345678901.5"} {
		req := PaymentRequest{TeamID: "team-1", SeatID: "seat-1", Amount: decimal.RequireFromString(amount), Currency: "CNY"}
		want := fingerprint(req.TeamID, req.SeatID, req.Amount.String(), req.Currency)
		if got := string(appendPaymentFingerprint([]byte("x"), &req)[1:]); got != want {
			t.Errorf("appendPaymentFingerprint(%s) = %q, want %q", amount, got, want)
		}
	}
}

// FuzzMatchTemplateFilled: a match's templates, filled for a team, are
// byte for byte what a join into that team writes: the event key, the
// payload (as encoding/json encodes it, whatever the team's ID holds) and
// the idempotency result. The hole is never found elsewhere: every other
// field is a checked ID (no control characters) or escaped.
func FuzzMatchTemplateFilled(f *testing.F) {
	f.Add("t1", "s1", "c", "u", "9.90", "CNY", "")
	f.Add(`t"\<`, "s\u2028", "c", "u\x01", "-0.01", "", "pay\x01")
	f.Fuzz(func(t *testing.T, team, seat, camp, user, amount, cur, ref string) {
		if check.ID("team", team) != nil || check.ID("seat", seat) != nil {
			return // the Service never makes such a team or seat
		}
		d, err := decimal.NewFromString(amount)
		if err != nil {
			d = decimal.NewFromInt(1)
		}
		p := SeatPayload{TeamID: TeamIDHole, SeatID: seat, CampaignID: camp, UserID: user, Amount: d, Currency: cur, PaymentRef: ref}
		result := jsonw.String([]byte(`{"team_id":"`+TeamIDHole+`","seat_id":`), seat)
		w := MatchTeamWrite{JoinTeamWrite: JoinTeamWrite{
			Events: []storage.Event{{ID: "e", Topic: TopicSeatReserved, Key: "gb:" + TeamIDHole + ":" + seat + ":reserved", Payload: p.appendJSON(nil, plainTeam)}},
			Idem:   &IdempotencyRecord{Scope: scopeMatch, Key: "k", Result: append(result, '}')},
		}}
		before := string(w.Events[0].Payload)
		events, idem := w.Filled(team)
		if string(w.Events[0].Payload) != before || !strings.Contains(w.Events[0].Key, TeamIDHole) {
			t.Fatal("Filled changed the write")
		}
		p.TeamID = team
		wantPayload, _ := json.Marshal(p)
		wantResult, _ := json.Marshal(seatResultJSON{TeamID: team, SeatID: seat})
		switch {
		case events[0].Key != "gb:"+team+":"+seat+":reserved":
			t.Fatalf("key %q", events[0].Key)
		case string(events[0].Payload) != string(wantPayload):
			t.Fatalf("payload %s\nwant    %s", events[0].Payload, wantPayload)
		case string(idem.Result) != string(wantResult):
			t.Fatalf("result %s\nwant   %s", idem.Result, wantResult)
		}
	})
}
