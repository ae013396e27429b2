package groupbuy_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/memory"
)

// poisonStore fails every CloseTeam of the teams and every ReleaseSeat of
// the seats it names, as a store does whose database keeps refusing one
// row's write (an event over its packet limit, a corrupt row).
type poisonStore struct {
	groupbuy.Store
	teams, seats map[string]bool
}

var errPoison = errors.New("poison row")

func (p *poisonStore) CloseTeam(ctx context.Context, w *groupbuy.CloseTeamWrite) error {
	if p.teams[w.TeamID] {
		return errPoison
	}
	return p.Store.CloseTeam(ctx, w)
}

func (p *poisonStore) ReleaseSeat(ctx context.Context, w *groupbuy.ReleaseSeatWrite) (groupbuy.Seat, error) {
	if p.seats[w.SeatID] {
		return groupbuy.Seat{}, errPoison
	}
	return p.Store.ReleaseSeat(ctx, w)
}

// TestProcessDueSkipsFailingRows: a team or reservation whose close or
// release keeps failing used to stop ProcessDue at once, and, being first
// in deadline order, at every later run too, so no other team ever closed
// and no other reservation was released (their refunds never asked for).
// Now the failing rows are skipped for the run and their errors returned
// joined after the others were handled, across several passes of DueBatch.
func TestProcessDueSkipsFailingRows(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	mem := memory.New(memory.WithClock(clock))
	poison := &poisonStore{Store: mem, teams: map[string]bool{}, seats: map[string]bool{}}
	svc, err := groupbuy.New(poison, groupbuy.Config{Now: clock, DueBatch: 3})
	require.NoError(t, err)
	_, err = svc.CreateCampaign(ctx, groupbuy.Campaign{
		ID: "c", ProductRef: "p", Currency: "CNY", Prices: []groupbuy.SKUPrice{{SKU: "s", Price: decimal.NewFromInt(10)}},
		TeamSize: 3, TeamLifetime: time.Hour, ReservationTTL: 10 * time.Minute, StartsAt: now, EndsAt: now.Add(24 * time.Hour),
		Status: groupbuy.CampaignActive, VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
	})
	require.NoError(t, err)

	// Eight teams opened a minute apart, each with a paid leader and a
	// member who never pays; the first team and the first member's seat
	// are poisoned.
	var teams, members []string
	for i := range 8 {
		lead, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: fmt.Sprintf("lead-%d", i), SKU: "s"})
		require.NoError(t, err)
		_, err = svc.ConfirmPayment(ctx, payFor(lead.Seat, fmt.Sprintf("ref-%d", i)))
		require.NoError(t, err)
		m, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: lead.Team.ID, UserID: fmt.Sprintf("member-%d", i), SKU: "s"})
		require.NoError(t, err)
		teams, members = append(teams, lead.Team.ID), append(members, m.Seat.ID)
		now = now.Add(time.Minute)
	}
	poison.teams[teams[0]] = true
	poison.seats[members[0]] = true

	now = now.Add(20 * time.Minute) // every reservation lapsed
	rep, err := svc.ProcessDue(ctx)
	require.ErrorIs(t, err, errPoison)
	require.Equal(t, 7, rep.Released, "the other members' reservations are released")
	require.Equal(t, 1, rep.Skipped)

	now = now.Add(2 * time.Hour) // every team's deadline passed
	rep, err = svc.ProcessDue(ctx)
	require.ErrorIs(t, err, errPoison)
	require.Equal(t, 7, rep.Failed, "the other teams fail, and their leaders' refunds are asked for")
	require.Equal(t, 2, rep.Skipped, "the poisoned reservation and team")
	for _, id := range teams[1:] {
		v, err := svc.Team(ctx, id)
		require.NoError(t, err)
		require.Equal(t, groupbuy.TeamFailed, v.Team.State, id)
	}
	v, err := svc.Team(ctx, teams[0])
	require.NoError(t, err)
	require.Equal(t, groupbuy.TeamForming, v.Team.State)

	// Once the row can be written again, a run closes it.
	delete(poison.teams, teams[0])
	delete(poison.seats, members[0])
	rep, err = svc.ProcessDue(ctx)
	require.NoError(t, err)
	require.Equal(t, groupbuy.DueReport{Released: 1, Failed: 1}, rep)

	// A cancelled context stops the run with its error.
	poison.teams["none"] = true
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = svc.ProcessDue(cctx)
	require.ErrorIs(t, err, context.Canceled)
}
