package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// TestMatchInOneStatement: through the Service, a keyed Match (fullest or
// random) costs one round trip on PostgreSQL whether it joins a team or,
// when none has room, opens one; a replay of either returns the first
// result. On every database the outcomes are the same.
func TestMatchInOneStatement(t *testing.T) {
	for _, order := range []groupbuy.MatchStrategy{groupbuy.MatchFullest, groupbuy.MatchRandom} {
		t.Run(string(order), func(t *testing.T) { matchInOneStatement(t, order) })
	}
}

func matchInOneStatement(t *testing.T, order groupbuy.MatchStrategy) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 2 })
		svc, err := groupbuy.New(s, groupbuy.Config{})
		require.NoError(t, err)
		ctx := t.Context()
		match := func(user, key string) (groupbuy.SeatResult, int64) {
			t.Helper()
			n := s.RoundTrips()
			r, err := svc.Match(ctx, groupbuy.MatchRequest{CampaignID: f.c.ID, UserID: user, SKU: "sku", IdempotencyKey: key, Strategy: order})
			require.NoError(t, err, "%s's match", user)
			return r, s.RoundTrips() - n
		}
		// The first match reads the campaign into the Service's cache.
		first, _ := match("alice", "")
		require.True(t, first.Opened, "no team: alice opens one")

		joined, joinTrips := match("bob", "k-bob")
		assert.False(t, joined.Opened)
		assert.Equal(t, first.Team.ID, joined.Team.ID, "bob joins alice's team")
		assert.Equal(t, 2, joined.Team.SeatsTaken)

		opened, openTrips := match("carol", "k-carol")
		require.True(t, opened.Opened, "alice's team is full: carol opens one")
		assert.NotEqual(t, first.Team.ID, opened.Team.ID)
		assert.True(t, opened.Seat.Leader)
		assert.Equal(t, "carol", opened.Team.LeaderID)
		assert.Equal(t, groupbuy.SeatReserved, opened.Seat.State)
		stored, err := s.GetTeam(ctx, opened.Team.ID)
		require.NoError(t, err)
		assert.Equal(t, opened.Team.LeaderID, stored.LeaderID)
		assert.Equal(t, 1, stored.SeatsTaken)
		assert.WithinDuration(t, opened.Team.ExpiresAt, stored.ExpiresAt, time.Microsecond, "stored to the microsecond")
		if d == sqlstore.Postgres {
			assert.Equal(t, int64(1), joinTrips, "a match that joins")
			assert.Equal(t, int64(1), openTrips, "a match that opens")
		}
		t.Logf("%s round trips: match that joins %d, match that opens %d", d, joinTrips, openTrips)

		// Replays return the first results, also once the teams changed.
		again, _ := match("carol", "k-carol")
		assert.True(t, again.Opened, "the replay of an open says it opened")
		assert.Equal(t, opened.Team.ID, again.Team.ID)
		assert.Equal(t, opened.Seat.ID, again.Seat.ID)
		again, _ = match("bob", "k-bob")
		assert.False(t, again.Opened)
		assert.Equal(t, joined.Seat.ID, again.Seat.ID)
		_, err = svc.Match(ctx, groupbuy.MatchRequest{CampaignID: f.c.ID, UserID: "dave", SKU: "sku", IdempotencyKey: "k-carol", Strategy: order})
		assert.ErrorIs(t, err, groupbuy.ErrIdempotencyKeyReused, "the key with another request")
		seats, err := s.TeamSeats(ctx, opened.Team.ID)
		require.NoError(t, err)
		assert.Len(t, seats, 1, "no seat was added by the replays")
	})
}

// matchWrite is a MatchTeamWrite for a new user of the fixture's campaign,
// with a record under key, and the team to open when none can be taken.
func (f *fixture) matchWrite(user, key string, order groupbuy.MatchStrategy) *groupbuy.MatchTeamWrite {
	st := f.seat("", user, false)
	w := &groupbuy.MatchTeamWrite{
		JoinTeamWrite: groupbuy.JoinTeamWrite{Seat: st, Now: t0, MaxJoined: f.c.Limits.MaxTeamsJoinedPerUser,
			Events: []storage.Event{f.event(groupbuy.TopicSeatReserved, "res:"+st.ID)},
			Idem:   &groupbuy.IdempotencyRecord{Scope: "groupbuy.match", Key: key, Fingerprint: "fp-" + key, Result: []byte(`{"k":"` + key + `"}`), CreatedAt: t0}},
		Order: order,
	}
	team := groupbuy.Team{
		ID: f.id("team"), CampaignID: f.c.ID, LeaderID: user, Capacity: f.c.TeamSize, SeatsTaken: 1,
		State: groupbuy.TeamForming, OpenedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), Version: 1,
	}
	rec := *w.Idem
	rec.Result = []byte(`{"opened":"` + key + `"}`)
	w.Open = &groupbuy.OpenTeamWrite{Team: team, Leader: f.seat(team.ID, user, true), Now: t0, MaxOpened: f.c.Limits.MaxTeamsOpenedPerUser,
		Events: []storage.Event{f.event(groupbuy.TopicTeamOpened, "open:"+team.ID), f.event(groupbuy.TopicSeatReserved, "res:"+team.ID)},
		Idem:   &rec}
	return w
}

// holdTeam locks team id's row in a host transaction (a join through
// WithTx) until the test ends.
func holdTeam(t *testing.T, db *sql.DB, s *sqlstore.Store, f *fixture, id string) {
	tx, err := db.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })
	_, _, err = s.WithTx(tx).JoinTeam(t.Context(), f.joinWrite(id, "holder-"+id))
	require.NoError(t, err)
}

// TestMatchSkipsHeldTeams: on the databases that lock rows, a match passes
// over a team another transaction holds instead of waiting: MatchRandom
// takes its second pick; a match whose only team is held opens a team, and
// when the user may open no more teams it fails with ErrLimitExceeded (the
// diagnosis must not mistake the held team for one the match could take).
func TestMatchSkipsHeldTeams(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		if d == sqlstore.SQLite {
			t.Skip("SQLite locks the database, not rows")
		}
		s := newStore(t, db, d)
		f := newFixture(t, s, func(c *groupbuy.Campaign) { c.Limits.MaxTeamsOpenedPerUser = 1 })
		a, _ := f.open("alice")
		b, _ := f.open("bob")
		f.join(a.ID, "ann") // a is the fuller: candidate 0, b candidate 1
		pick := uint64(0)   // RandomPicks(0, 2): first 0 (a), second 1 (b)
		first, second := groupbuy.RandomPicks(pick, 2)
		require.Equal(t, [2]int{0, 1}, [2]int{first, second})

		holdTeam(t, db, s, f, a.ID)
		w := f.matchWrite("carol", "k-carol", groupbuy.MatchRandom)
		w.Pick = pick
		team, seat, err := s.MatchTeam(t.Context(), w)
		require.NoError(t, err)
		assert.Equal(t, b.ID, team.ID, "the second pick, the first being held")
		assert.False(t, w.Opened(&seat))

		holdTeam(t, db, s, f, b.ID)
		orders := []groupbuy.MatchStrategy{groupbuy.MatchFullest, groupbuy.MatchOldest, groupbuy.MatchRandom}
		for _, order := range orders {
			// alice leads a, which is held; b is held too.
			w = f.matchWrite("alice", "k-alice-"+string(order), order)
			_, _, err = s.MatchTeam(t.Context(), w)
			assert.ErrorIs(t, err, groupbuy.ErrLimitExceeded, "%s: alice may open no more teams", order)
			_, err = s.GetTeam(t.Context(), w.Open.Team.ID)
			assert.ErrorIs(t, err, groupbuy.ErrNotFound)
		}
		w = f.matchWrite("dora", "k-dora", groupbuy.MatchFullest)
		team, seat, err = s.MatchTeam(t.Context(), w)
		require.NoError(t, err)
		assert.True(t, w.Opened(&seat), "every team held: dora opens one")
		assert.Equal(t, w.Open.Team.ID, team.ID)
	})
}

// TestMatchOpenKeyTaken: a match that opens (every team held or full) but
// whose new team's ID is taken fails with ErrConflict naming the team, at
// once, rather than rerunning until it gives up.
func TestMatchOpenKeyTaken(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 2 })
		taken, _ := f.open("zed")
		f.join(taken.ID, "filler") // full: no candidate
		for _, order := range []groupbuy.MatchStrategy{groupbuy.MatchFullest, groupbuy.MatchRandom} {
			w := f.matchWrite("carol", "k-carol-"+string(order), order)
			w.Open.Team.ID, w.Open.Leader.TeamID = taken.ID, taken.ID
			n := s.Retries()
			_, _, err := s.MatchTeam(t.Context(), w)
			assert.ErrorIs(t, err, storage.ErrConflict, order)
			assert.ErrorContains(t, err, "team "+taken.ID+" exists", order)
			assert.Equal(t, n, s.Retries(), "%s: no rerun", order)
		}
	})
}

// TestMatchRerunStartsFromTheWritesSeat: a match whose first attempt picks
// a team and fails (here it waits on a seat another transaction inserts
// into that team for the same user, then hits its unique key) reruns and
// joins another team; the seat's ReservedUntil is clamped to the team it
// joins, not to the one the first attempt picked. MySQL, whose match runs
// the generic statements, waits on the uncommitted key.
func TestMatchRerunStartsFromTheWritesSeat(t *testing.T) {
	r := newLostMatchRace(t)
	s, f, a, b := r.s, r.f, r.a, r.b

	st := f.seat("", "u", false)
	st.ReservedUntil = t0.Add(2 * time.Hour) // after A's deadline, before B's
	type outcome struct {
		team groupbuy.Team
		seat groupbuy.Seat
		err  error
	}
	done := make(chan outcome, 1)
	go func() {
		team, seat, err := s.MatchTeam(context.Background(), &groupbuy.MatchTeamWrite{
			JoinTeamWrite: groupbuy.JoinTeamWrite{Seat: st, Now: t0}, Order: groupbuy.MatchFullest})
		done <- outcome{team, seat, err}
	}()
	retries := r.commitOnceWaiting(t)
	got := <-done
	require.NoError(t, got.err)
	require.Equal(t, b.ID, got.team.ID, "the rerun joined B")
	require.Greater(t, s.Retries(), retries, "the match ran again")
	stored, err := s.GetSeat(t.Context(), got.seat.ID)
	require.NoError(t, err)
	want := t0.Add(2 * time.Hour).Truncate(time.Microsecond)
	assert.True(t, stored.ReservedUntil.Equal(want), "stored reserved until %s, want %s (A expires %s)", stored.ReservedUntil, want, a.ExpiresAt)
	assert.True(t, got.seat.ReservedUntil.Equal(want), "returned reserved until %s, want %s", got.seat.ReservedUntil, want)
}

// TestMatchNotRerunUnderWithTx: the match of
// TestMatchRerunStartsFromTheWritesSeat, through a Store bound to a host
// transaction: its attempt loses the same race (a unique key another
// transaction took while it waited), and although every precondition
// holds again it is not rerun inside the host's transaction: it fails
// with ErrConflict, for the host to rerun its whole transaction, and the
// savepoint leaves the host's transaction as it was.
func TestMatchNotRerunUnderWithTx(t *testing.T) {
	r := newLostMatchRace(t)
	db, s, f, a, b := r.db, r.s, r.f, r.a, r.b

	host, err := db.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	defer func() { _ = host.Rollback() }()
	st := f.seat("", "u", false)
	done := make(chan error, 1)
	go func() {
		_, _, err := s.WithTx(host).MatchTeam(context.Background(), &groupbuy.MatchTeamWrite{
			JoinTeamWrite: groupbuy.JoinTeamWrite{Seat: st, Now: t0}, Order: groupbuy.MatchFullest})
		done <- err
	}()
	retries := r.commitOnceWaiting(t)
	err = <-done
	assert.ErrorIs(t, err, storage.ErrConflict, "lost to a concurrent change, not rerun in the host's transaction")
	assert.Equal(t, retries, s.Retries(), "no rerun under WithTx")
	require.NoError(t, host.Commit(), "the host's transaction is still usable")
	for _, id := range []string{a.ID, b.ID} {
		seats, err := s.TeamSeats(t.Context(), id)
		require.NoError(t, err)
		for _, seat := range seats {
			assert.NotEqual(t, st.ID, seat.ID, "the match left no seat in %s", id)
		}
	}
	got, err := s.GetTeam(t.Context(), b.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, got.SeatsTaken, "B untouched")
}

// lostMatchRace is the race of TestMatchRerunStartsFromTheWritesSeat and
// TestMatchNotRerunUnderWithTx, on MySQL: team A (the fuller, expiring in
// an hour) and team B (a day), and an open transaction tx holding an
// uncommitted live seat of user u in A, on whose key a match of u that
// picks A waits.
type lostMatchRace struct {
	db     *sql.DB
	s      *sqlstore.Store
	f      *fixture
	prefix string
	a, b   groupbuy.Team
	tx     *sql.Tx
}

func newLostMatchRace(t *testing.T) *lostMatchRace {
	r := &lostMatchRace{db: openMySQL(t)}
	r.s, r.prefix = newStorePrefixed(t, r.db, sqlstore.MySQL)
	r.f = newFixture(t, r.s)
	f := r.f
	openAt := func(user string, expires time.Time) groupbuy.Team {
		team := groupbuy.Team{ID: f.id("team"), CampaignID: f.c.ID, LeaderID: user, Capacity: 5, SeatsTaken: 1,
			State: groupbuy.TeamForming, OpenedAt: t0, ExpiresAt: expires, Version: 1}
		require.NoError(t, r.s.OpenTeam(t.Context(), &groupbuy.OpenTeamWrite{Team: team, Leader: f.seat(team.ID, user, true), Now: t0}))
		return team
	}
	r.a = openAt("alice", t0.Add(time.Hour))
	f.join(r.a.ID, "carol")
	r.b = openAt("bob", t0.Add(24*time.Hour))

	var err error
	r.tx, err = r.db.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.tx.Rollback() })
	other := f.seat(r.a.ID, "u", false)
	_, err = r.tx.ExecContext(t.Context(), `INSERT INTO `+r.prefix+`seats (id, team_id, campaign_id, user_id, sku, quantity, unit_price, amount,
		currency, state, is_leader, is_virtual, reserved_at, reserved_until, paid_at, payment_ref, version, active_user)
		VALUES (?, ?, ?, 'u', 'sku', 1, 19.9, 19.9, 'CNY', 'reserved', 0, 0, ?, ?, NULL, '', 1, 'u')`,
		other.ID, r.a.ID, f.c.ID, t0.Format("2006-01-02 15:04:05.000000"), t0.Add(time.Hour).Format("2006-01-02 15:04:05.000000"))
	require.NoError(t, err)
	return r
}

// commitOnceWaiting waits until a match's INSERT of its seat waits on the
// other seat's key (MariaDB lists a waiting statement in its process list,
// not always in innodb_trx), then commits tx; it returns the Store's
// retries before the commit.
func (r *lostMatchRace) commitOnceWaiting(t *testing.T) int64 {
	require.Eventually(t, func() bool {
		var waiting int
		err := r.db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM information_schema.processlist
			WHERE command <> 'Sleep' AND id <> CONNECTION_ID() AND info LIKE ?`, "INSERT INTO "+r.prefix+"seats%").Scan(&waiting)
		return err == nil && waiting > 0
	}, 10*time.Second, 5*time.Millisecond, "the match never waited on the other seat")
	retries := r.s.Retries()
	require.NoError(t, r.tx.Commit())
	return retries
}
