package storagetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/assert"
	"github.com/socialcommerce/sdk/storage/storagetest/internal/require"
)

// Prices of the default campaign.
var (
	priceA = decimal.RequireFromString("19.90")
	priceB = decimal.RequireFromString("5.05")
)

const (
	skuA     = "sku-a"
	skuB     = "sku-b"
	lifetime = 24 * time.Hour
	ttl      = 15 * time.Minute
)

// id returns a fresh ID with a readable prefix, unique within the env.
func (e *env) id(prefix string) string {
	e.n++
	return fmt.Sprintf("%s-%04d", prefix, e.n)
}

// campaign creates an active campaign through the Service: team of 3, SKUs
// sku-a at 19.90 and sku-b at 5.05 CNY, 24h teams, 15m reservations, no
// virtual fill, late payments refunded; mods adjust it first.
func (e *env) campaign(mods ...func(*groupbuy.Campaign)) groupbuy.Campaign {
	e.t.Helper()
	c := groupbuy.Campaign{
		ID: e.id("camp"), ProductRef: "spu-1", Currency: "CNY",
		Prices:   []groupbuy.SKUPrice{{SKU: skuA, Price: priceA}, {SKU: skuB, Price: priceB}},
		TeamSize: 3, TeamLifetime: lifetime, ReservationTTL: ttl,
		StartsAt: start.Add(-time.Hour), EndsAt: start.Add(30 * 24 * time.Hour),
		Status:      groupbuy.CampaignActive,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone},
		LatePayment: groupbuy.LateRefund,
	}
	for _, m := range mods {
		m(&c)
	}
	out, err := e.svc.CreateCampaign(e.ctx, c)
	require.NoError(e.t, err, "create campaign")
	return out
}

func teamSize(n int) func(*groupbuy.Campaign) {
	return func(c *groupbuy.Campaign) { c.TeamSize = n }
}

func latePolicy(p groupbuy.LatePaymentPolicy) func(*groupbuy.Campaign) {
	return func(c *groupbuy.Campaign) { c.LatePayment = p }
}

// open opens a team in c for user with one unit of sku-a.
func (e *env) open(c groupbuy.Campaign, user string) groupbuy.SeatResult {
	e.t.Helper()
	r, err := e.svc.Open(e.ctx, groupbuy.OpenRequest{CampaignID: c.ID, UserID: user, SKU: skuA})
	require.NoError(e.t, err, "open team for %s", user)
	return r
}

// join takes a seat for user in team with one unit of sku-a.
func (e *env) join(c groupbuy.Campaign, teamID, user string) groupbuy.SeatResult {
	e.t.Helper()
	r, err := e.svc.Join(e.ctx, e.joinReq(c, teamID, user))
	require.NoError(e.t, err, "%s joins team %s", user, teamID)
	return r
}

func (e *env) joinReq(c groupbuy.Campaign, teamID, user string) groupbuy.JoinRequest {
	return groupbuy.JoinRequest{CampaignID: c.ID, TeamID: teamID, UserID: user, SKU: skuA}
}

// payReq is the payment of a seat's exact amount with reference "pay-<seat>".
func payReq(s groupbuy.Seat) groupbuy.PaymentRequest {
	return groupbuy.PaymentRequest{TeamID: s.TeamID, SeatID: s.ID, PaymentRef: "pay-" + s.ID, Amount: s.Amount, Currency: s.Currency}
}

// pay pays a seat in full; it must not be a late payment.
func (e *env) pay(s groupbuy.Seat) groupbuy.PaymentResult {
	e.t.Helper()
	r, err := e.svc.ConfirmPayment(e.ctx, payReq(s))
	require.NoError(e.t, err, "pay seat %s", s.ID)
	require.Nil(e.t, r.Late, "payment of seat %s was handled as late", s.ID)
	return r
}

func (e *env) team(id string) groupbuy.Team {
	e.t.Helper()
	t, err := e.gb.GetTeam(e.ctx, id)
	require.NoError(e.t, err, "get team %s", id)
	return t
}

func (e *env) seat(id string) groupbuy.Seat {
	e.t.Helper()
	s, err := e.gb.GetSeat(e.ctx, id)
	require.NoError(e.t, err, "get seat %s", id)
	return s
}

func (e *env) seats(teamID string) []groupbuy.Seat {
	e.t.Helper()
	s, err := e.gb.TeamSeats(e.ctx, teamID)
	require.NoError(e.t, err, "seats of team %s", teamID)
	return s
}

func (e *env) userSeats(user string) []groupbuy.Seat {
	e.t.Helper()
	s, err := e.gb.UserSeats(e.ctx, user, groupbuy.SeatPosition{}, groupbuy.MaxListLimit)
	require.NoError(e.t, err, "seats of user %s", user)
	return s
}

func (e *env) processDue() groupbuy.DueReport {
	e.t.Helper()
	r, err := e.svc.ProcessDue(e.ctx)
	require.NoError(e.t, err, "ProcessDue")
	return r
}

// drain claims and acks every pending event and returns them in claim order.
func (e *env) drain() []storage.Event {
	e.t.Helper()
	var all []storage.Event
	for range 100 {
		evs, err := e.ob.Claim(e.ctx, 1000, time.Hour)
		require.NoError(e.t, err, "claim")
		if len(evs) == 0 {
			return all
		}
		ids := make([]string, len(evs))
		for i := range evs {
			ids[i] = evs[i].ID
		}
		require.NoError(e.t, e.ob.Ack(e.ctx, ids), "ack")
		all = append(all, evs...)
	}
	e.t.Fatal("outbox does not drain")
	return nil
}

// expectNoEvents asserts that the outbox holds no pending event.
func (e *env) expectNoEvents(msg string) {
	e.t.Helper()
	evs := e.drain()
	assert.Empty(e.t, topics(evs), "%s: the outbox must not gain events", msg)
}

// snapshot is what unchanged compares: teams with their seats, users' seats.
type snapshot struct {
	Teams map[string]teamV
	Seats map[string][]seatV
	Users map[string][]seatV
}

func (e *env) snapshot(teamIDs, users []string) snapshot {
	e.t.Helper()
	s := snapshot{Teams: map[string]teamV{}, Seats: map[string][]seatV{}, Users: map[string][]seatV{}}
	for _, id := range teamIDs {
		t, err := e.gb.GetTeam(e.ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		require.NoError(e.t, err)
		s.Teams[id] = tv(t)
		s.Seats[id] = svs(e.seats(id))
	}
	for _, u := range users {
		s.Users[u] = svs(e.userSeats(u))
	}
	return s
}

// unchanged runs f, which must fail, and asserts that the teams, their
// seats and the users' seats are as before and that no event was written.
func (e *env) unchanged(teamIDs, users []string, msg string, f func()) {
	e.t.Helper()
	e.drain()
	before := e.snapshot(teamIDs, users)
	f()
	after := e.snapshot(teamIDs, users)
	assert.Equal(e.t, before, after, "%s: a failed write must change nothing", msg)
	e.expectNoEvents(msg)
}

// teamV is a Team in a form that compares by value across representations.
type teamV struct {
	ID, CampaignID, LeaderID                      string
	Capacity, SeatsTaken, SeatsPaid, VirtualSeats int
	SeatRows                                      int
	State                                         groupbuy.TeamState
	OpenedAt, ExpiresAt, ClosedAt                 string
	Version                                       int64
}

func tv(t groupbuy.Team) teamV {
	return teamV{
		ID: t.ID, CampaignID: t.CampaignID, LeaderID: t.LeaderID, Capacity: t.Capacity,
		SeatsTaken: t.SeatsTaken, SeatsPaid: t.SeatsPaid, VirtualSeats: t.VirtualSeats, SeatRows: t.SeatRows, State: t.State,
		OpenedAt: ts(t.OpenedAt), ExpiresAt: ts(t.ExpiresAt), ClosedAt: ts(t.ClosedAt), Version: t.Version,
	}
}

// seatV is a Seat in a form that compares by value across representations.
type seatV struct {
	ID, TeamID, CampaignID, UserID, SKU string
	Quantity                            int
	UnitPrice, Amount, Currency         string
	State                               groupbuy.SeatState
	Leader, Virtual                     bool
	ReservedAt, ReservedUntil, PaidAt   string
	PaymentRef                          string
	Version                             int64
	RefundAttempt                       int
}

func sv(s groupbuy.Seat) seatV {
	return seatV{
		ID: s.ID, TeamID: s.TeamID, CampaignID: s.CampaignID, UserID: s.UserID, SKU: s.SKU,
		Quantity: s.Quantity, UnitPrice: dec(s.UnitPrice), Amount: dec(s.Amount), Currency: s.Currency,
		State: s.State, Leader: s.Leader, Virtual: s.Virtual, ReservedAt: ts(s.ReservedAt),
		ReservedUntil: ts(s.ReservedUntil), PaidAt: ts(s.PaidAt), PaymentRef: s.PaymentRef, Version: s.Version,
		RefundAttempt: s.RefundAttempt,
	}
}

func svs(in []groupbuy.Seat) []seatV {
	out := make([]seatV, len(in))
	for i := range in {
		out[i] = sv(in[i])
	}
	return out
}

// campaignV is a Campaign in a form that compares by value.
type campaignV struct {
	ID, ProductRef, Currency string
	Prices                   []string
	TeamSize                 int
	TeamLifetime             time.Duration
	StartsAt, EndsAt         string
	Status                   groupbuy.CampaignStatus
	Limits                   groupbuy.Limits
	ReservationTTL           time.Duration
	VirtualFill              groupbuy.VirtualFill
	RecordVirtualSeats       bool
	LatePayment              groupbuy.LatePaymentPolicy
	CreatedAt                string
	Version                  int64
}

func cv(c groupbuy.Campaign) campaignV {
	prices := make([]string, len(c.Prices))
	for i, p := range c.Prices {
		prices[i] = p.SKU + "=" + dec(p.Price)
	}
	return campaignV{
		ID: c.ID, ProductRef: c.ProductRef, Currency: c.Currency, Prices: prices, TeamSize: c.TeamSize,
		TeamLifetime: c.TeamLifetime, StartsAt: ts(c.StartsAt), EndsAt: ts(c.EndsAt), Status: c.Status,
		Limits: c.Limits, ReservationTTL: c.ReservationTTL, VirtualFill: c.VirtualFill,
		RecordVirtualSeats: c.RecordVirtualSeats, LatePayment: c.LatePayment, CreatedAt: ts(c.CreatedAt),
		Version: c.Version,
	}
}

// ts formats a time as its UTC instant; the zero time as "".
func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// pluck returns one field of each element of list, in order (get reads
// it); the named pluckers below give the tests' lists their fields.
func pluck[T, V any](list []T, get func(*T) V) []V {
	out := make([]V, len(list))
	for i := range list {
		out[i] = get(&list[i])
	}
	return out
}

// dec formats a decimal by value: 19.90 and 19.9 format alike.
func dec(d decimal.Decimal) string { return d.String() }

func ids(seats []groupbuy.Seat) []string {
	return pluck(seats, func(x *groupbuy.Seat) string { return x.ID })
}

func teamIDs(teams []groupbuy.Team) []string {
	return pluck(teams, func(x *groupbuy.Team) string { return x.ID })
}

func topics(evs []storage.Event) []string {
	return pluck(evs, func(x *storage.Event) string { return x.Topic })
}

func eventIDs(evs []storage.Event) []string {
	return pluck(evs, func(x *storage.Event) string { return x.ID })
}

// withTopic returns the events of a topic, in order.
func withTopic(evs []storage.Event, topic string) []storage.Event {
	var out []storage.Event
	for _, ev := range evs {
		if ev.Topic == topic {
			out = append(out, ev)
		}
	}
	return out
}

// withKey returns the events with an idempotency key, in order.
func withKey(evs []storage.Event, key string) []storage.Event {
	var out []storage.Event
	for _, ev := range evs {
		if ev.Key == key {
			out = append(out, ev)
		}
	}
	return out
}

// payload decodes an event's JSON payload.
func payload[T any](e *env, ev storage.Event) T {
	e.t.Helper()
	var v T
	require.NoError(e.t, json.Unmarshal(ev.Payload, &v), "payload of %s %s: %s", ev.Topic, ev.ID, ev.Payload)
	return v
}

// seatKey is the key of a seat event, e.g. "gb:<team>:<seat>:paid".
func seatKey(s groupbuy.Seat, what string) string { return "gb:" + s.TeamID + ":" + s.ID + ":" + what }

// countActive counts seats that hold a place (reserved, paid, confirmed).
func countActive(seats []groupbuy.Seat) int {
	n := 0
	for i := range seats {
		if seats[i].Active() && !seats[i].Virtual {
			n++
		}
	}
	return n
}

func states(seats []groupbuy.Seat) []groupbuy.SeatState {
	return pluck(seats, func(x *groupbuy.Seat) groupbuy.SeatState { return x.State })
}

// isValidation reports whether err is a *storage.ValidationError.
func isValidation(err error) bool {
	_, ok := errors.AsType[*storage.ValidationError](err)
	return ok
}

// assertValidation asserts that err is a *storage.ValidationError.
func (e *env) assertValidation(err error, what string) {
	e.t.Helper()
	assert.Truef(e.t, isValidation(err), "%s: want *storage.ValidationError, got %T %v", what, err, err)
}

// users returns n user names with a prefix.
func users(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + "-" + strconv.Itoa(i)
	}
	return out
}

// sortedCopy returns a sorted copy of s.
func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// event builds an outbox event for direct store writes.
func event(id, topic, key string, at time.Time) storage.Event {
	return storage.Event{ID: id, Topic: topic, Key: key, Payload: []byte(`{"id":"` + id + `"}`), CreatedAt: at}
}

// isNotFound reports whether err matches storage.ErrNotFound.
func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }

func keys(evs []storage.Event) []string {
	return pluck(evs, func(x *storage.Event) string { return x.Key })
}
