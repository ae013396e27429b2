package groupbuy_test

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
)

// drainTopics claims every pending event and returns their topics and, for
// each SeatReleased, its payload's reason, in the order written.
func drainTopics(t *testing.T, o storage.Outbox) (topics, reasons []string) {
	t.Helper()
	ctx := context.Background()
	evs, err := o.Claim(ctx, 1000, time.Hour)
	require.NoError(t, err)
	ids := make([]string, 0, len(evs))
	for _, ev := range evs {
		ids = append(ids, ev.ID)
		topics = append(topics, ev.Topic)
		if ev.Topic == groupbuy.TopicSeatReleased {
			var p struct {
				Reason string `json:"reason"`
			}
			require.NoError(t, json.Unmarshal(ev.Payload, &p))
			reasons = append(reasons, p.Reason)
		}
	}
	if len(ids) > 0 {
		require.NoError(t, o.Ack(ctx, ids))
	}
	return topics, reasons
}

// openPaid opens a team of campaign "c" for leader a and pays a's seat.
func openPaid(t *testing.T, svc *groupbuy.Service) groupbuy.SeatResult {
	t.Helper()
	a, err := svc.Open(context.Background(), groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
	require.NoError(t, err)
	_, err = svc.ConfirmPayment(context.Background(), payFor(a.Seat, "ref-a"))
	require.NoError(t, err)
	return a
}

// join has user join team teamID of campaign "c".
func join(svc *groupbuy.Service, teamID, user string) (groupbuy.SeatResult, error) {
	return svc.Join(context.Background(), groupbuy.JoinRequest{CampaignID: "c", TeamID: teamID, UserID: user, SKU: "s"})
}

// TestJoinReleasesLapsedReservations: a team whose free places are held by
// reservations that lapsed, before ProcessDue has run, takes a new member:
// the join releases them as ProcessDue would (one SeatReleased each, the
// per-user count given back) and then reserves the seat. A reservation
// that has not lapsed keeps its place.
func TestJoinReleasesLapsedReservations(t *testing.T) {
	ctx := context.Background()
	svc, store, now := worldOf(t, 0, nil, func(c *groupbuy.Campaign) {
		c.TeamSize = 3
		c.Limits.MaxTeamsJoinedPerUser = 1
	})
	a := openPaid(t, svc)
	b, err := join(svc, a.Team.ID, "b")
	require.NoError(t, err)
	*now = now.Add(5 * time.Minute)
	c, err := join(svc, a.Team.ID, "c")
	require.NoError(t, err)
	drainTopics(t, store)

	// b's reservation lapses; c's still holds. The team is full.
	*now = now.Add(6 * time.Minute)
	d, err := join(svc, a.Team.ID, "d")
	require.NoError(t, err, "b's lapsed place is taken by d")
	assert.Equal(t, 3, d.Team.SeatsTaken)
	assert.Equal(t, groupbuy.SeatReserved, d.Seat.State)
	topics, reasons := drainTopics(t, store)
	assert.Equal(t, []string{groupbuy.TopicSeatReleased, groupbuy.TopicSeatReserved}, topics)
	assert.Equal(t, []string{"reservation expired"}, reasons)

	view, err := svc.Team(ctx, a.Team.ID)
	require.NoError(t, err)
	states := map[string]groupbuy.SeatState{}
	for _, st := range view.Seats {
		states[st.ID] = st.State
	}
	assert.Equal(t, groupbuy.SeatReleased, states[b.Seat.ID])
	assert.Equal(t, groupbuy.SeatReserved, states[c.Seat.ID], "a reservation that holds is kept")

	// The team is full of live seats: the next join is refused, and
	// changes nothing.
	_, err = join(svc, a.Team.ID, "e")
	require.ErrorIs(t, err, groupbuy.ErrTeamFull)
	topics, _ = drainTopics(t, store)
	assert.Empty(t, topics)

	// b's joined count was given back with the release: b may join
	// another team (the limit is one).
	f, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "f", SKU: "s"})
	require.NoError(t, err)
	_, err = join(svc, f.Team.ID, "b")
	require.NoError(t, err)

	// ProcessDue, later, finds nothing more of this team to release.
	rep, err := svc.ProcessDue(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, rep.Released)
}

// TestJoinAgainAfterOwnReservationLapsed: a user whose reservation lapsed
// (an abandoned checkout) joins the same team again before ProcessDue has
// run: the lapsed seat is released and a new one reserved, which the user
// can pay. A user whose reservation holds still gets ErrAlreadyJoined.
func TestJoinAgainAfterOwnReservationLapsed(t *testing.T) {
	ctx := context.Background()
	svc, store, now := world(t, 3, groupbuy.LateRefund, 0)
	a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "a", SKU: "s"})
	require.NoError(t, err)
	b, err := join(svc, a.Team.ID, "b")
	require.NoError(t, err)
	_, err = join(svc, a.Team.ID, "b")
	require.ErrorIs(t, err, groupbuy.ErrAlreadyJoined, "b's reservation holds")
	drainTopics(t, store)

	*now = now.Add(11 * time.Minute) // a's and b's reservations lapse
	again, err := join(svc, a.Team.ID, "b")
	require.NoError(t, err)
	assert.NotEqual(t, b.Seat.ID, again.Seat.ID)
	topics, reasons := drainTopics(t, store)
	assert.Equal(t, []string{groupbuy.TopicSeatReleased, groupbuy.TopicSeatReleased, groupbuy.TopicSeatReserved}, topics,
		"the team's lapsed reservations, a's and b's, are released")
	assert.Equal(t, []string{"reservation expired", "reservation expired"}, reasons)
	paid, err := svc.ConfirmPayment(ctx, payFor(again.Seat, "ref-b"))
	require.NoError(t, err)
	assert.Nil(t, paid.Late)
	assert.Equal(t, groupbuy.SeatPaid, paid.Seat.State)
	assert.Equal(t, 1, paid.Team.SeatsTaken, "only b's new seat is live")
}

// TestJoinWithKeyAfterLapsedRelease: a keyed join that first found the
// team full of lapsed reservations records its one result; its repeat
// returns that result and releases nothing more.
func TestJoinWithKeyAfterLapsedRelease(t *testing.T) {
	ctx := context.Background()
	svc, store, now := world(t, 2, groupbuy.LateRefund, 0)
	a := openPaid(t, svc)
	_, err := join(svc, a.Team.ID, "b")
	require.NoError(t, err)
	drainTopics(t, store)
	*now = now.Add(11 * time.Minute)
	req := groupbuy.JoinRequest{CampaignID: "c", TeamID: a.Team.ID, UserID: "c", SKU: "s", IdempotencyKey: "join-c"}
	first, err := svc.Join(ctx, req)
	require.NoError(t, err)
	topics, _ := drainTopics(t, store)
	assert.Equal(t, []string{groupbuy.TopicSeatReleased, groupbuy.TopicSeatReserved}, topics)
	again, err := svc.Join(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, first.Seat.ID, again.Seat.ID)
	topics, _ = drainTopics(t, store)
	assert.Empty(t, topics)
}

// refusedJoinHook runs hook once, right after a JoinTeam the store refused:
// what another instance does between the refusal and the Service's read.
type refusedJoinHook struct {
	groupbuy.Store
	hook func()
}

func (r *refusedJoinHook) JoinTeam(ctx context.Context, w *groupbuy.JoinTeamWrite) (groupbuy.Team, groupbuy.Seat, error) {
	team, seat, err := r.Store.JoinTeam(ctx, w)
	if err != nil && r.hook != nil {
		hook := r.hook
		r.hook = nil
		hook()
	}
	return team, seat, err
}

// TestJoinAfterAnotherInstanceReleased: the join is refused as full, and
// before it reads the team's seats ProcessDue, on another instance,
// releases the lapsed reservation. The join finds no lapsed seat left to
// release, but room in the team, and tries again.
func TestJoinAfterAnotherInstanceReleased(t *testing.T) {
	ctx := context.Background()
	hooked := &refusedJoinHook{}
	svc, store, now := worldOf(t, 0, func(s groupbuy.Store) groupbuy.Store { hooked.Store = s; return hooked },
		func(c *groupbuy.Campaign) { c.TeamSize = 2 })
	a := openPaid(t, svc)
	_, err := join(svc, a.Team.ID, "b")
	require.NoError(t, err)
	*now = now.Add(11 * time.Minute)
	other, err := groupbuy.New(store, groupbuy.Config{Now: func() time.Time { return *now }})
	require.NoError(t, err)
	hooked.hook = func() {
		rep, err := other.ProcessDue(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, rep.Released)
	}
	c, err := join(svc, a.Team.ID, "c")
	require.NoError(t, err, "b's place, released by the other instance")
	assert.Equal(t, 2, c.Team.SeatsTaken)
	assert.Nil(t, hooked.hook, "the first join was refused")
}

// TestJoinRefusedAsAlreadyJoinedReleasesNothing: a user whose own seat in
// the team holds asks to join it again. The join is refused
// (ErrAlreadyJoined) whatever becomes of the other members' lapsed
// reservations, so it releases none of them: a refused command changes
// nothing, and ProcessDue releases them later.
func TestJoinRefusedAsAlreadyJoinedReleasesNothing(t *testing.T) {
	ctx := context.Background()
	svc, store, now := world(t, 3, groupbuy.LateRefund, 0)
	a := openPaid(t, svc)
	b, err := join(svc, a.Team.ID, "b")
	require.NoError(t, err)
	*now = now.Add(5 * time.Minute)
	_, err = join(svc, a.Team.ID, "c")
	require.NoError(t, err)
	drainTopics(t, store)

	*now = now.Add(6 * time.Minute) // b's reservation lapses; c's holds
	_, err = svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: a.Team.ID, UserID: "c", SKU: "s", IdempotencyKey: "again-c"})
	require.ErrorIs(t, err, groupbuy.ErrAlreadyJoined)
	topics, _ := drainTopics(t, store)
	assert.Empty(t, topics, "the refused join wrote nothing")
	st, err := store.GetSeat(ctx, b.Seat.ID)
	require.NoError(t, err)
	assert.Equal(t, groupbuy.SeatReserved, st.State, "b's lapsed seat is left to ProcessDue")

	rep, err := svc.ProcessDue(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Released)
}

// TestJoinChurnedFullTeamReleasesNothing: a full team that has had its
// most seat rows, two of whose reservations lapsed, refuses a join: a
// retry after releasing them could only be ErrTeamChurned, so the join
// releases nothing and is refused as the store refused it.
func TestJoinChurnedFullTeamReleasesNothing(t *testing.T) {
	ctx := context.Background()
	svc, store, now := world(t, 3, groupbuy.LateRefund, 0)
	a := openPaid(t, svc)
	bound := groupbuy.MaxSeatRows(3)
	for i := 1; i < bound-2; i++ {
		user := "u" + strconv.Itoa(i%2)
		r, err := join(svc, a.Team.ID, user)
		require.NoError(t, err, "join %d", i)
		_, err = svc.CancelReservation(ctx, r.Seat.ID, user)
		require.NoError(t, err)
	}
	b, err := join(svc, a.Team.ID, "b")
	require.NoError(t, err)
	c, err := join(svc, a.Team.ID, "c")
	require.NoError(t, err)
	require.Equal(t, bound, c.Team.SeatRows)
	require.Equal(t, 3, c.Team.SeatsTaken)
	drainTopics(t, store)

	*now = now.Add(11 * time.Minute) // b's and c's reservations lapse
	_, err = join(svc, a.Team.ID, "d")
	require.ErrorIs(t, err, groupbuy.ErrTeamFull)
	topics, _ := drainTopics(t, store)
	assert.Empty(t, topics, "the refused join wrote nothing")
	for _, id := range []string{b.Seat.ID, c.Seat.ID} {
		st, err := store.GetSeat(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, groupbuy.SeatReserved, st.State, "seat %s is left to ProcessDue", id)
	}
}

// releaseFailing fails every ReleaseSeat with err.
type releaseFailing struct {
	groupbuy.Store
	err error
}

func (r *releaseFailing) ReleaseSeat(ctx context.Context, w *groupbuy.ReleaseSeatWrite) (groupbuy.Seat, error) {
	return groupbuy.Seat{}, r.err
}

// TestJoinReleaseFailureIsNotFull: when releasing the lapsed reservation
// of a full team fails transiently, Join returns that error, retryable,
// and not ErrTeamFull: the team may have room once the release goes
// through, and a host that offers another team on ErrTeamFull would send
// the user away from it.
func TestJoinReleaseFailureIsNotFull(t *testing.T) {
	failing := &releaseFailing{err: storage.MarkRetryable(storage.ErrRetryable)}
	svc, _, now := worldOf(t, 0, func(s groupbuy.Store) groupbuy.Store { failing.Store = s; return failing },
		func(c *groupbuy.Campaign) { c.TeamSize = 2 })
	a := openPaid(t, svc)
	_, err := join(svc, a.Team.ID, "b")
	require.NoError(t, err)
	*now = now.Add(11 * time.Minute)
	_, err = join(svc, a.Team.ID, "c")
	require.Error(t, err)
	assert.True(t, storage.IsRetryable(err), "%v", err)
	assert.NotErrorIs(t, err, groupbuy.ErrTeamFull)
}
