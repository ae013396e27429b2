package groupbuy

import (
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTeamTransitions(t *testing.T) {
	all := []TeamState{TeamForming, TeamSucceeded, TeamFailed, TeamCancelled}
	legal := map[[2]TeamState]bool{
		{TeamForming, TeamSucceeded}: true, {TeamForming, TeamFailed}: true, {TeamForming, TeamCancelled}: true,
	}
	for _, from := range all {
		for _, to := range all {
			err := CheckTeamTransition(from, to)
			if legal[[2]TeamState{from, to}] {
				assert.NoError(t, err, "%s -> %s", from, to)
				continue
			}
			var te *TransitionError
			require.ErrorAs(t, err, &te, "%s -> %s", from, to)
			assert.ErrorIs(t, err, ErrIllegalTransition)
			assert.Equal(t, "team", te.Entity)
		}
		assert.Equal(t, from != TeamForming, from.Final())
	}
}

func TestSeatTransitions(t *testing.T) {
	all := []SeatState{SeatReserved, SeatPaid, SeatConfirmed, SeatReleased, SeatRefundRequested, SeatRefunded, SeatRefundFailed}
	legal := map[[2]SeatState]bool{
		{SeatReserved, SeatPaid}: true, {SeatReserved, SeatReleased}: true,
		{SeatPaid, SeatConfirmed}: true, {SeatPaid, SeatRefundRequested}: true,
		{SeatRefundRequested, SeatRefunded}: true, {SeatRefundRequested, SeatRefundFailed}: true,
		{SeatRefundFailed, SeatRefundRequested}: true, {SeatRefundFailed, SeatRefunded}: true,
	}
	final := map[SeatState]bool{SeatConfirmed: true, SeatReleased: true, SeatRefunded: true}
	for _, from := range all {
		assert.True(t, from.Valid())
		assert.Equal(t, final[from], from.Final(), "%s", from)
		for _, to := range all {
			err := CheckSeatTransition(from, to)
			if legal[[2]SeatState{from, to}] {
				assert.NoError(t, err, "%s -> %s", from, to)
			} else {
				assert.ErrorIs(t, err, ErrIllegalTransition, "%s -> %s", from, to)
			}
		}
	}
	assert.False(t, SeatState("bogus").Valid())
	assert.ErrorIs(t, CheckSeatTransition("bogus", SeatPaid), ErrIllegalTransition)
}

func TestCampaignTransitions(t *testing.T) {
	cases := []struct {
		from, to CampaignStatus
		ok       bool
	}{
		{CampaignDraft, CampaignActive, true}, {CampaignDraft, CampaignEnded, true}, {CampaignDraft, CampaignPaused, false},
		{CampaignActive, CampaignPaused, true}, {CampaignActive, CampaignEnded, true}, {CampaignActive, CampaignDraft, false},
		{CampaignPaused, CampaignActive, true}, {CampaignPaused, CampaignEnded, true},
		{CampaignEnded, CampaignActive, false}, {CampaignEnded, CampaignDraft, false}, {CampaignActive, CampaignActive, false},
	}
	for _, c := range cases {
		err := CheckCampaignTransition(c.from, c.to)
		assert.Equal(t, c.ok, err == nil, "%s -> %s: %v", c.from, c.to, err)
	}
}

func validCampaign() Campaign {
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	return Campaign{
		ID: "c1", ProductRef: "p1", Currency: "CNY",
		Prices:   []SKUPrice{{SKU: "s1", Price: decimal.RequireFromString("9.90")}},
		TeamSize: 3, TeamLifetime: 24 * time.Hour, StartsAt: start, EndsAt: start.Add(72 * time.Hour),
		Status: CampaignDraft, ReservationTTL: 15 * time.Minute,
		VirtualFill: VirtualFill{Mode: VirtualFillNone}, LatePayment: LateRefund,
	}
}

func TestValidateCampaign(t *testing.T) {
	base := validCampaign()
	require.NoError(t, ValidateCampaign(&base))
	cases := []struct {
		name  string
		field string
		mod   func(*Campaign)
	}{
		{"empty id", "campaign.ID", func(c *Campaign) { c.ID = "" }},
		{"id with space", "campaign.ID", func(c *Campaign) { c.ID = "a b" }},
		{"long id", "campaign.ID", func(c *Campaign) { c.ID = string(make([]byte, MaxIDLength+1)) }},
		{"no product", "campaign.ProductRef", func(c *Campaign) { c.ProductRef = "" }},
		{"lower currency", "campaign.Currency", func(c *Campaign) { c.Currency = "cny" }},
		{"no prices", "campaign.Prices", func(c *Campaign) { c.Prices = nil }},
		{"zero price", "campaign.Prices[0].Price", func(c *Campaign) { c.Prices[0].Price = decimal.Zero }},
		{"negative price", "campaign.Prices[0].Price", func(c *Campaign) { c.Prices[0].Price = decimal.NewFromInt(-1) }},
		{"sub-cent price", "campaign.Prices[0].Price", func(c *Campaign) { c.Prices[0].Price = decimal.RequireFromString("9.999") }},
		{"fractional yen", "campaign.Prices[0].Price", func(c *Campaign) {
			c.Currency = "JPY"
			c.Prices[0].Price = decimal.RequireFromString("100.5")
		}},
		{"duplicate sku", "campaign.Prices[1].SKU", func(c *Campaign) { c.Prices = append(c.Prices, c.Prices[0]) }},
		{"size 1", "campaign.TeamSize", func(c *Campaign) { c.TeamSize = 1 }},
		{"size too big", "campaign.TeamSize", func(c *Campaign) { c.TeamSize = MaxTeamSize + 1 }},
		{"short lifetime", "campaign.TeamLifetime", func(c *Campaign) { c.TeamLifetime = time.Second }},
		{"window inverted", "campaign.EndsAt", func(c *Campaign) { c.EndsAt = c.StartsAt }},
		{"bad status", "campaign.Status", func(c *Campaign) { c.Status = "live" }},
		{"negative limit", "campaign.Limits", func(c *Campaign) { c.Limits.MaxTeamsJoinedPerUser = -1 }},
		{"ttl zero", "campaign.ReservationTTL", func(c *Campaign) { c.ReservationTTL = 0 }},
		{"ttl beyond lifetime", "campaign.ReservationTTL", func(c *Campaign) { c.ReservationTTL = 25 * time.Hour }},
		{"min paid = size", "campaign.VirtualFill.MinPaidSeats", func(c *Campaign) { c.VirtualFill = VirtualFill{Mode: VirtualFillMinPaid, MinPaidSeats: 3} }},
		{"percent 100", "campaign.VirtualFill.MinPercent", func(c *Campaign) { c.VirtualFill = VirtualFill{Mode: VirtualFillMinPercent, MinPercent: 100} }},
		{"min paid 0", "campaign.VirtualFill.MinPaidSeats", func(c *Campaign) { c.VirtualFill = VirtualFill{Mode: VirtualFillMinPaid} }},
		{"percent 0", "campaign.VirtualFill.MinPercent", func(c *Campaign) { c.VirtualFill = VirtualFill{Mode: VirtualFillMinPercent} }},
		{"percent rounding to the team", "campaign.VirtualFill.MinPercent", func(c *Campaign) {
			c.TeamSize, c.VirtualFill = 2, VirtualFill{Mode: VirtualFillMinPercent, MinPercent: 99}
		}},
		{"percent with seats", "campaign.VirtualFill.MinPaidSeats", func(c *Campaign) {
			c.VirtualFill = VirtualFill{Mode: VirtualFillMinPercent, MinPercent: 50, MinPaidSeats: 1}
		}},
		{"seats with percent", "campaign.VirtualFill.MinPercent", func(c *Campaign) {
			c.VirtualFill = VirtualFill{Mode: VirtualFillMinPaid, MinPaidSeats: 1, MinPercent: 50}
		}},
		{"long lifetime", "campaign.TeamLifetime", func(c *Campaign) { c.TeamLifetime = 30*24*time.Hour + time.Second }},
		{"no start", "campaign.EndsAt", func(c *Campaign) { c.StartsAt = time.Time{} }},
		{"negative opened limit", "campaign.Limits", func(c *Campaign) { c.Limits.MaxTeamsOpenedPerUser = -1 }},
		{"negative units limit", "campaign.Limits", func(c *Campaign) { c.Limits.MaxUnitsPerOrder = -1 }},
		{"units limit above max", "campaign.Limits.MaxUnitsPerOrder", func(c *Campaign) { c.Limits.MaxUnitsPerOrder = MaxQuantity + 1 }},
		{"unknown fill", "campaign.VirtualFill.Mode", func(c *Campaign) { c.VirtualFill.Mode = "always" }},
		{"threshold with none", "campaign.VirtualFill", func(c *Campaign) { c.VirtualFill.MinPercent = 10 }},
		{"unknown late policy", "campaign.LatePayment", func(c *Campaign) { c.LatePayment = "keep" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := validCampaign()
			c.Prices = append([]SKUPrice(nil), c.Prices...)
			tc.mod(&c)
			err := ValidateCampaign(&c)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field)
		})
	}
}

func TestVirtualSeatsAtDeadline(t *testing.T) {
	c := validCampaign()
	cases := []struct {
		fill           VirtualFill
		capacity, paid int
		want           int
	}{
		{VirtualFill{Mode: VirtualFillNone}, 5, 4, 0},
		{VirtualFill{Mode: VirtualFillMinPaid, MinPaidSeats: 2}, 5, 1, 0},
		{VirtualFill{Mode: VirtualFillMinPaid, MinPaidSeats: 2}, 5, 2, 3},
		{VirtualFill{Mode: VirtualFillMinPaid, MinPaidSeats: 2}, 5, 5, 0},
		{VirtualFill{Mode: VirtualFillMinPaid, MinPaidSeats: 2}, 5, 0, 0},
		// ceil(5*50/100) = 3: two paid seats are not enough.
		{VirtualFill{Mode: VirtualFillMinPercent, MinPercent: 50}, 5, 2, 0},
		{VirtualFill{Mode: VirtualFillMinPercent, MinPercent: 50}, 5, 3, 2},
		{VirtualFill{Mode: VirtualFillMinPercent, MinPercent: 50}, 4, 2, 2},
		{VirtualFill{Mode: VirtualFillMinPercent, MinPercent: 1}, 2, 1, 1},
		{VirtualFill{Mode: VirtualFillMinPercent, MinPercent: 99}, 100, 98, 0},
		{VirtualFill{Mode: VirtualFillMinPercent, MinPercent: 99}, 100, 99, 1},
	}
	for _, tc := range cases {
		c.VirtualFill = tc.fill
		assert.Equal(t, tc.want, VirtualSeatsAtDeadline(&c, tc.capacity, tc.paid), "%+v cap %d paid %d", tc.fill, tc.capacity, tc.paid)
	}
}

func TestDeadlines(t *testing.T) {
	c := validCampaign()
	now := c.StartsAt.Add(time.Hour)
	assert.Equal(t, now.Add(24*time.Hour), teamDeadline(&c, now))
	late := c.EndsAt.Add(-time.Hour)
	assert.Equal(t, c.EndsAt, teamDeadline(&c, late), "a team never outlives the campaign")
	exp := teamDeadline(&c, late)
	assert.Equal(t, late.Add(15*time.Minute), reservationDeadline(&c, exp, late))
	assert.Equal(t, exp, reservationDeadline(&c, exp, exp.Add(-time.Minute)), "a reservation never outlives its team")
}

func TestDecideClose(t *testing.T) {
	c := validCampaign()
	now := c.StartsAt.Add(48 * time.Hour)
	n := 0
	newID := func() string { n++; return "e" + strconv.Itoa(n) }
	seat := func(id string, st SeatState) Seat {
		return Seat{ID: id, TeamID: "t", UserID: "u" + id, State: st, Amount: decimal.NewFromInt(10), Currency: "CNY", PaymentRef: "pay-" + id}
	}
	team := Team{ID: "t", CampaignID: "c1", Capacity: 3, SeatsTaken: 3, SeatsPaid: 2, State: TeamForming, ExpiresAt: now.Add(-time.Second), Version: 7}
	seats := []Seat{seat("a", SeatPaid), seat("b", SeatPaid), seat("c", SeatReserved)}

	t.Run("not due", func(t *testing.T) {
		tm := team
		tm.ExpiresAt = now.Add(time.Second)
		_, ok := DecideClose(&c, &tm, seats, false, "", now, newID)
		assert.False(t, ok)
	})
	t.Run("final team", func(t *testing.T) {
		tm := team
		tm.State = TeamFailed
		_, ok := DecideClose(&c, &tm, seats, true, "", now, newID)
		assert.False(t, ok)
	})
	t.Run("fails", func(t *testing.T) {
		d, ok := DecideClose(&c, &team, seats, false, "", now, newID)
		require.True(t, ok)
		assert.Equal(t, TeamFailed, d.Outcome)
		assert.Equal(t, []string{"c"}, d.Write.Release)
		assert.Equal(t, []string{"a", "b"}, d.Write.Refund)
		assert.Empty(t, d.Write.Confirm)
		assert.Equal(t, int64(7), d.Write.Version)
		refunds := map[string]int{}
		for _, e := range d.Write.Events {
			if e.Topic == TopicRefundRequested {
				refunds[e.Key]++
			}
		}
		assert.Equal(t, map[string]int{RefundKey("t", "a"): 1, RefundKey("t", "b"): 1}, refunds)
	})
	t.Run("virtual fill", func(t *testing.T) {
		cv := c
		cv.VirtualFill = VirtualFill{Mode: VirtualFillMinPaid, MinPaidSeats: 2}
		cv.RecordVirtualSeats = true
		d, ok := DecideClose(&cv, &team, seats, false, "", now, newID)
		require.True(t, ok)
		assert.Equal(t, TeamSucceeded, d.Outcome)
		assert.Equal(t, []string{"a", "b"}, d.Write.Confirm)
		assert.Equal(t, []string{"c"}, d.Write.Release)
		assert.Equal(t, 1, d.Write.VirtualSeats)
		require.Len(t, d.Write.BotSeats, 1)
		assert.True(t, d.Write.BotSeats[0].Virtual)
		assert.False(t, MayShip(&d.Write.BotSeats[0]))
	})
	t.Run("cancel", func(t *testing.T) {
		tm := team
		tm.ExpiresAt = now.Add(time.Hour)
		d, ok := DecideClose(&c, &tm, seats, true, "fraud", now, newID)
		require.True(t, ok)
		assert.Equal(t, TeamCancelled, d.Outcome)
		assert.Len(t, d.Write.Refund, 2)
	})
	// A fully paid team succeeds, also when asked to cancel: a store that
	// completes a filled team in a second step can show it forming and
	// fully paid.
	for _, cancel := range []bool{false, true} {
		t.Run(fmt.Sprintf("fully paid, cancel %v", cancel), func(t *testing.T) {
			tm := team
			tm.SeatsPaid = 3
			tm.ExpiresAt = now.Add(time.Hour)
			all := []Seat{seat("a", SeatPaid), seat("b", SeatPaid), seat("c", SeatPaid)}
			d, ok := DecideClose(&c, &tm, all, cancel, "fraud", now, newID)
			require.True(t, ok)
			assert.Equal(t, TeamSucceeded, d.Outcome)
			assert.Len(t, d.Write.Confirm, 3)
			assert.Empty(t, d.Write.Refund)
		})
	}
}

func TestGates(t *testing.T) {
	for _, st := range []SeatState{SeatReserved, SeatPaid, SeatConfirmed, SeatReleased, SeatRefundRequested, SeatRefunded, SeatRefundFailed} {
		s := Seat{State: st}
		assert.Equal(t, st == SeatConfirmed, MayShip(&s), "%s", st)
		assert.Equal(t, st == SeatConfirmed, MayOpenAfterSale(&s), "%s", st)
		s.Virtual = true
		assert.False(t, MayShip(&s))
	}
}

func TestMinorUnits(t *testing.T) {
	assert.Equal(t, int32(0), MinorUnits("JPY"))
	assert.Equal(t, int32(3), MinorUnits("KWD"))
	assert.Equal(t, int32(2), MinorUnits("CNY"))
	// ISO 4217 gives CLF and UYW four decimals: a UF price such as
	// 1.2345 is exact in them, and was refused.
	for _, c := range []string{"CLF", "UYW"} {
		assert.Equal(t, int32(4), MinorUnits(c), c)
		assert.NoError(t, validatePrice("p", decimal.RequireFromString("1.2345"), c), c)
		assert.True(t, errors.As(validatePrice("p", decimal.RequireFromString("1.23456"), c), new(*ValidationError)), c)
	}
	assert.NoError(t, validatePrice("p", decimal.RequireFromString("100"), "JPY"))
	assert.True(t, errors.As(validatePrice("p", decimal.RequireFromString("1.001"), "CNY"), new(*ValidationError)))
}

// TestNilArguments: every exported function and method that takes a
// pointer answers a nil one without panicking: a *ValidationError where it
// returns an error, the safe zero answer otherwise.
func TestNilArguments(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	c := validCampaign()
	team := Team{ID: "t", CampaignID: c.ID, Capacity: 2, State: TeamForming, ExpiresAt: now.Add(-time.Minute), Version: 1}
	newID := func() string { return "id" }
	isValidation := func(t *testing.T, err error) {
		t.Helper()
		var ve *ValidationError
		require.ErrorAs(t, err, &ve)
	}
	tests := []struct {
		name string
		call func(t *testing.T)
	}{
		{"ValidateCampaign", func(t *testing.T) { isValidation(t, ValidateCampaign(nil)) }},
		{"MayShip", func(t *testing.T) { assert.False(t, MayShip(nil)) }},
		{"MayOpenAfterSale", func(t *testing.T) { assert.False(t, MayOpenAfterSale(nil)) }},
		{"VirtualSeatsAtDeadline", func(t *testing.T) { assert.Zero(t, VirtualSeatsAtDeadline(nil, 5, 3)) }},
		{"DecideClose campaign", func(t *testing.T) {
			_, ok := DecideClose(nil, &team, nil, false, "", now, newID)
			assert.False(t, ok)
		}},
		{"DecideClose team", func(t *testing.T) {
			_, ok := DecideClose(&c, nil, nil, false, "", now, newID)
			assert.False(t, ok)
		}},
		{"DecideClose newID", func(t *testing.T) {
			_, ok := DecideClose(&c, &team, nil, false, "", now, nil)
			assert.False(t, ok)
		}},
		{"CheckStoredCampaign", func(t *testing.T) { isValidation(t, CheckStoredCampaign(nil)) }},
		{"CheckOpenTeamWrite", func(t *testing.T) { isValidation(t, CheckOpenTeamWrite(nil)) }},
		{"CheckJoinTeamWrite", func(t *testing.T) { isValidation(t, CheckJoinTeamWrite(nil)) }},
		{"CheckMatchTeamWrite", func(t *testing.T) { isValidation(t, CheckMatchTeamWrite(nil)) }},
		{"CheckPaySeatWrite", func(t *testing.T) { isValidation(t, CheckPaySeatWrite(nil)) }},
		{"CheckReleaseSeatWrite", func(t *testing.T) { isValidation(t, CheckReleaseSeatWrite(nil)) }},
		{"CheckCloseTeamWrite", func(t *testing.T) { isValidation(t, CheckCloseTeamWrite(nil)) }},
		{"CheckRefundWrite", func(t *testing.T) { isValidation(t, CheckRefundWrite(nil)) }},
		{"CheckOutcome", func(t *testing.T) { isValidation(t, CheckOutcome(nil, nil)) }},
		{"OpenTeamWrite.problem", func(t *testing.T) {
			field, reason := (*OpenTeamWrite)(nil).problem()
			assert.Equal(t, "write", field)
			assert.NotEmpty(t, reason)
		}},
		{"MatchTeamWrite.openProblem", func(t *testing.T) {
			field, reason := (*MatchTeamWrite)(nil).openProblem()
			assert.Equal(t, "write", field)
			assert.NotEmpty(t, reason)
		}},
		{"MatchTeamWrite.Filled", func(t *testing.T) {
			evs, rec := (*MatchTeamWrite)(nil).Filled("t")
			assert.Nil(t, evs)
			assert.Nil(t, rec)
		}},
		{"MatchTeamWrite.Opened", func(t *testing.T) {
			assert.False(t, (*MatchTeamWrite)(nil).Opened(&Seat{Leader: true}))
			assert.False(t, (&MatchTeamWrite{Open: &OpenTeamWrite{}}).Opened(nil))
		}},
		{"CloseTeamWrite.Moves", func(t *testing.T) {
			moves := (*CloseTeamWrite)(nil).Moves()
			for _, m := range moves {
				assert.Empty(t, m.SeatIDs)
			}
			assert.Equal(t, SeatReserved, moves[0].From)
		}},
		{"Campaign.Price", func(t *testing.T) {
			_, ok := (*Campaign)(nil).Price("s")
			assert.False(t, ok)
		}},
		{"Campaign.AcceptsSeats", func(t *testing.T) { assert.False(t, (*Campaign)(nil).AcceptsSeats(now)) }},
		{"Seat.Active", func(t *testing.T) { assert.False(t, (*Seat)(nil).Active()) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.NotPanics(t, func() { tc.call(t) })
		})
	}
}
