package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC)

var price = decimal.RequireFromString("19.90")

// fixture writes through the store directly, with chosen IDs.
type fixture struct {
	t   testing.TB
	ctx context.Context
	s   *sqlstore.Store
	c   groupbuy.Campaign
	n   *atomic.Int64
}

func newFixture(t testing.TB, s *sqlstore.Store, mods ...func(*groupbuy.Campaign)) *fixture {
	f := &fixture{t: t, ctx: t.Context(), s: s, n: new(atomic.Int64)}
	f.c = groupbuy.Campaign{
		ID: f.id("camp"), ProductRef: "spu", Currency: "CNY",
		Prices:   []groupbuy.SKUPrice{{SKU: "sku", Price: price}},
		TeamSize: 5, TeamLifetime: 24 * time.Hour, ReservationTTL: 15 * time.Minute,
		StartsAt: t0.Add(-time.Hour), EndsAt: t0.Add(30 * 24 * time.Hour), Status: groupbuy.CampaignActive,
		VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
		CreatedAt: t0, Version: 1,
	}
	for _, m := range mods {
		m(&f.c)
	}
	require.NoError(t, s.CreateCampaign(f.ctx, &f.c))
	return f
}

func (f *fixture) id(prefix string) string { return fmt.Sprintf("%s-%04d", prefix, f.n.Add(1)) }

func (f *fixture) event(topic, key string) storage.Event {
	id := f.id("ev")
	return storage.Event{ID: id, Topic: topic, Key: key, Payload: []byte(`{"id":"` + id + `"}`), CreatedAt: t0}
}

func (f *fixture) seat(teamID, user string, leader bool) groupbuy.Seat {
	return groupbuy.Seat{
		ID: f.id("seat"), TeamID: teamID, CampaignID: f.c.ID, UserID: user, SKU: "sku", Quantity: 1,
		UnitPrice: price, Amount: price, Currency: "CNY", State: groupbuy.SeatReserved, Leader: leader,
		ReservedAt: t0, ReservedUntil: t0.Add(15 * time.Minute), Version: 1,
	}
}

// open opens a team of the campaign's size led by user.
func (f *fixture) open(user string) (groupbuy.Team, groupbuy.Seat) {
	f.t.Helper()
	team := groupbuy.Team{
		ID: f.id("team"), CampaignID: f.c.ID, LeaderID: user, Capacity: f.c.TeamSize, SeatsTaken: 1,
		State: groupbuy.TeamForming, OpenedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), Version: 1,
	}
	leader := f.seat(team.ID, user, true)
	require.NoError(f.t, f.s.OpenTeam(f.ctx, &groupbuy.OpenTeamWrite{
		Team: team, Leader: leader, Now: t0, MaxOpened: f.c.Limits.MaxTeamsOpenedPerUser,
		Events: []storage.Event{f.event(groupbuy.TopicTeamOpened, "open:"+team.ID)},
	}))
	return team, leader
}

func (f *fixture) joinWrite(teamID, user string) *groupbuy.JoinTeamWrite {
	st := f.seat(teamID, user, false)
	return &groupbuy.JoinTeamWrite{Seat: st, Now: t0, MaxJoined: f.c.Limits.MaxTeamsJoinedPerUser,
		Events: []storage.Event{f.event(groupbuy.TopicSeatReserved, "res:"+st.ID)}}
}

func (f *fixture) join(teamID, user string) groupbuy.Seat {
	f.t.Helper()
	_, st, err := f.s.JoinTeam(f.ctx, f.joinWrite(teamID, user))
	require.NoError(f.t, err)
	return st
}

func (f *fixture) payWrite(st groupbuy.Seat, key string) *groupbuy.PaySeatWrite {
	w := &groupbuy.PaySeatWrite{
		TeamID: st.TeamID, SeatID: st.ID, PaymentRef: "pay-" + st.ID, Amount: st.Amount, Currency: st.Currency,
		Now:    t0.Add(time.Minute),
		Events: []storage.Event{f.event(groupbuy.TopicSeatPaid, "paid:"+st.ID)},
		OnFill: func(team *groupbuy.Team, seats []groupbuy.Seat) []storage.Event {
			return []storage.Event{f.event(groupbuy.TopicTeamSucceeded, "gb:"+team.ID+":succeeded")}
		},
	}
	if key != "" {
		w.Idem = &groupbuy.IdempotencyRecord{Scope: "groupbuy.pay", Key: key, Fingerprint: "fp-" + st.ID, Result: []byte(`{"seat":"` + st.ID + `"}`), CreatedAt: t0}
	}
	return w
}

// drain claims and acks everything pending.
func drain(t testing.TB, s *sqlstore.Store) []storage.Event {
	t.Helper()
	var all []storage.Event
	for {
		evs, err := s.Claim(t.Context(), 1000, time.Hour)
		require.NoError(t, err)
		if len(evs) == 0 {
			return all
		}
		ids := make([]string, len(evs))
		for i := range evs {
			ids[i] = evs[i].ID
		}
		require.NoError(t, s.Ack(t.Context(), ids))
		all = append(all, evs...)
	}
}

func topicCount(evs []storage.Event, topic string) int {
	n := 0
	for _, e := range evs {
		if e.Topic == topic {
			n++
		}
	}
	return n
}

func TestNewValidates(t *testing.T) {
	db, err := sql.Open("sqlite", "file::memory:")
	require.NoError(t, err)
	defer db.Close()
	for name, f := range map[string]func() (*sqlstore.Store, error){
		"nil db":          func() (*sqlstore.Store, error) { return sqlstore.New(nil, sqlstore.SQLite) },
		"unknown dialect": func() (*sqlstore.Store, error) { return sqlstore.New(db, sqlstore.Dialect(42)) },
		"zero dialect":    func() (*sqlstore.Store, error) { return sqlstore.New(db, 0) },
		"upper prefix": func() (*sqlstore.Store, error) {
			return sqlstore.New(db, sqlstore.SQLite, sqlstore.WithTablePrefix("Bad_"))
		},
		"empty prefix": func() (*sqlstore.Store, error) {
			return sqlstore.New(db, sqlstore.SQLite, sqlstore.WithTablePrefix(""))
		},
		"quote in prefix": func() (*sqlstore.Store, error) {
			return sqlstore.New(db, sqlstore.SQLite, sqlstore.WithTablePrefix("a'b"))
		},
		"long prefix": func() (*sqlstore.Store, error) {
			return sqlstore.New(db, sqlstore.SQLite, sqlstore.WithTablePrefix("a234567890123456789012345678901_"))
		},
		"negative retries": func() (*sqlstore.Store, error) { return sqlstore.New(db, sqlstore.SQLite, sqlstore.WithMaxRetries(-1)) },
	} {
		s, err := f()
		assert.Nil(t, s, name)
		_, ok := errors.AsType[*storage.ValidationError](err)
		assert.True(t, ok, "%s: want ValidationError, got %v", name, err)
	}
	s, err := sqlstore.New(db, sqlstore.SQLite, sqlstore.WithTablePrefix("a23456789012345678901234567890_"))
	require.NoError(t, err)
	assert.Equal(t, sqlstore.SQLite, s.Dialect())
	assert.Equal(t, "sqlite", s.Dialect().String())
}

func TestMigrateConcurrently(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		// Two prefixes at once too: the migration lock of one must not
		// hold up, nor be taken for, the other's.
		prefixes := []string{randomPrefix(), randomPrefix()}
		for _, p := range prefixes {
			t.Cleanup(func() { dropTables(t, db, d, p) })
		}
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Go(func() {
				s, err := sqlstore.New(db, d, sqlstore.WithTablePrefix(prefixes[i%2]))
				if err == nil {
					err = s.Migrate(t.Context())
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "migrator %d", i)
		}
		prefix := prefixes[1]
		var other int
		require.NoError(t, db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+prefixes[0]+"schema_migrations").Scan(&other))
		s, err := sqlstore.New(db, d, sqlstore.WithTablePrefix(prefix))
		require.NoError(t, err)
		require.NoError(t, s.Migrate(t.Context()), "migrating again is a no-op")
		var n int
		require.NoError(t, db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+prefix+"schema_migrations").Scan(&n))
		files, err := os.ReadDir(filepath.Join("migrations", d.String()))
		require.NoError(t, err)
		assert.Equal(t, len(files), n, "each migration recorded once")
		assert.Equal(t, len(files), other, "each migration recorded once under the other prefix")
		// The schema works.
		f := newFixture(t, s)
		team, _ := f.open("alice")
		got, err := s.GetTeam(t.Context(), team.ID)
		require.NoError(t, err)
		assert.Equal(t, team.ID, got.ID)
	})
}

// TestMigrateMySQLRerunAfterIndex: MySQL's DDL is not transactional, so a
// crash can leave an index built (migration 3) or a column added
// (migration 4) without its version row; the next Migrate must take the
// index or column as applied and record the version.
func TestMigrateMySQLRerunAfterIndex(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		if d != sqlstore.MySQL {
			t.Skip("MySQL's migrations only")
		}
		prefix := randomPrefix()
		t.Cleanup(func() { dropTables(t, db, d, prefix) })
		s, err := sqlstore.New(db, d, sqlstore.WithTablePrefix(prefix))
		require.NoError(t, err)
		require.NoError(t, s.Migrate(t.Context()))
		_, err = db.ExecContext(t.Context(), "DELETE FROM "+prefix+"schema_migrations WHERE version IN (3, 4)")
		require.NoError(t, err)
		require.NoError(t, s.Migrate(t.Context()), "the index of migration 3 and the column of migration 4 exist: applied")
		var n int
		require.NoError(t, db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+prefix+"schema_migrations WHERE version IN (3, 4)").Scan(&n))
		assert.Equal(t, 2, n)
	})
}

func TestRoundTripTimesAndMoney(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		f := newFixture(t, s)
		got, err := s.GetCampaign(t.Context(), f.c.ID)
		require.NoError(t, err)
		assert.True(t, got.CreatedAt.Equal(t0.Truncate(time.Microsecond)), "CreatedAt %s", got.CreatedAt)
		assert.Equal(t, time.UTC, got.CreatedAt.Location())
		assert.Equal(t, "19.9", got.Prices[0].Price.String())
		assert.Equal(t, f.c.TeamLifetime, got.TeamLifetime)

		team, leader := f.open("alice")
		tm, err := s.GetTeam(t.Context(), team.ID)
		require.NoError(t, err)
		assert.True(t, tm.OpenedAt.Equal(t0.Truncate(time.Microsecond)))
		assert.True(t, tm.ClosedAt.IsZero())
		st, err := s.GetSeat(t.Context(), leader.ID)
		require.NoError(t, err)
		assert.True(t, st.Amount.Equal(price))
		assert.True(t, st.PaidAt.IsZero())
		assert.Equal(t, groupbuy.SeatReserved, st.State)
		assert.True(t, st.Leader)

		// A big amount with 4 decimals survives exactly.
		big := decimal.RequireFromString("999999999999.1234")
		w := f.joinWrite(team.ID, "bob")
		w.Seat.UnitPrice, w.Seat.Amount = big, big
		_, js, err := s.JoinTeam(t.Context(), w)
		require.NoError(t, err)
		got2, err := s.GetSeat(t.Context(), js.ID)
		require.NoError(t, err)
		assert.Equal(t, big.String(), got2.Amount.String())
		res, err := s.PaySeat(t.Context(), &groupbuy.PaySeatWrite{TeamID: team.ID, SeatID: js.ID, PaymentRef: "p", Amount: big, Currency: "CNY", Now: t0})
		require.NoError(t, err)
		assert.Equal(t, groupbuy.SeatPaid, res.Seat.State)
	})
}

// TestJoinRace: 64 goroutines race for the 4 free seats of a team of 5.
func TestJoinRace(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		f := newFixture(t, s)
		team, _ := f.open("leader")
		var ok, full atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 64 {
			wg.Go(func() {
				_, _, err := s.JoinTeam(t.Context(), f.joinWrite(team.ID, fmt.Sprintf("user-%02d", i)))
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, groupbuy.ErrTeamFull):
					full.Add(1)
				default:
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("unexpected join error: %v", err)
		}
		assert.Equal(t, int64(4), ok.Load(), "joins that got a seat")
		assert.Equal(t, int64(60), full.Load(), "joins told the team is full")
		got, err := s.GetTeam(t.Context(), team.ID)
		require.NoError(t, err)
		seats, err := s.TeamSeats(t.Context(), team.ID)
		require.NoError(t, err)
		assert.Len(t, seats, 5)
		active := 0
		for _, st := range seats {
			if st.Active() {
				active++
			}
		}
		assert.Equal(t, 5, got.SeatsTaken)
		assert.Equal(t, active, got.SeatsTaken, "SeatsTaken counts the active seats")
		assert.Equal(t, int64(5), got.Version)
		evs := drain(t, s)
		assert.Equal(t, 4, topicCount(evs, groupbuy.TopicSeatReserved), "one event per seat, none for a refused join")
	})
}

func TestJoinGuards(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		// Writes pass their campaign's limits, which never change.
		f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize, c.Limits.MaxTeamsJoinedPerUser = 3, 1 })
		team, _ := f.open("alice")
		f.join(team.ID, "bob")
		drain(t, s)

		_, _, err := s.JoinTeam(t.Context(), f.joinWrite(team.ID, "bob"))
		assert.ErrorIs(t, err, groupbuy.ErrAlreadyJoined)
		_, _, err = s.JoinTeam(t.Context(), f.joinWrite(team.ID, "alice"))
		assert.ErrorIs(t, err, groupbuy.ErrAlreadyJoined, "the leader holds a seat too")
		_, _, err = s.JoinTeam(t.Context(), f.joinWrite("team-missing", "carol"))
		assert.ErrorIs(t, err, groupbuy.ErrNotFound)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		// On PostgreSQL a join refused by its team's guard (closed, full,
		// the campaign not active) costs its one statement: the statement
		// reads what explains the refusal.
		oneTrip := func(w *groupbuy.JoinTeamWrite, want error) {
			t.Helper()
			n := s.RoundTrips()
			_, _, err := s.JoinTeam(t.Context(), w)
			assert.ErrorIs(t, err, want)
			if d == sqlstore.Postgres {
				assert.Equal(t, int64(1), s.RoundTrips()-n, "round trips of a join refused with %v", want)
			}
		}
		w := f.joinWrite(team.ID, "carol")
		w.Now = t0.Add(25 * time.Hour)
		oneTrip(w, groupbuy.ErrTeamClosed)

		// Per-user join limit.
		other, _ := f.open("dave")
		_, _, err = s.JoinTeam(t.Context(), f.joinWrite(other.ID, "bob"))
		assert.ErrorIs(t, err, groupbuy.ErrLimitExceeded)

		f.join(team.ID, "carol")
		oneTrip(f.joinWrite(team.ID, "erin"), groupbuy.ErrTeamFull)
		// A team at its seat-row bound (groupbuy.MaxSeatRows): joins
		// released until one row is left, then one held.
		churned, _ := f.open("fay")
		for i := 2; i < groupbuy.MaxSeatRows(churned.Capacity); i++ {
			st := f.join(churned.ID, fmt.Sprintf("churn-%d", i))
			_, err := s.ReleaseSeat(t.Context(), &groupbuy.ReleaseSeatWrite{SeatID: st.ID, Now: t0})
			require.NoError(t, err)
		}
		f.join(churned.ID, "gus")
		oneTrip(f.joinWrite(churned.ID, "hal"), groupbuy.ErrTeamChurned)
		// Full and already joined: already joined comes first.
		oneTrip(f.joinWrite(team.ID, "carol"), groupbuy.ErrAlreadyJoined)
		// A join of another campaign's team is not found.
		g := newFixture(t, s, func(c *groupbuy.Campaign) { c.ID, c.TeamSize = "camp-other", 3 })
		oneTrip(g.joinWrite(other.ID, "gina"), groupbuy.ErrNotFound)

		got, err := s.GetTeam(t.Context(), team.ID)
		require.NoError(t, err)
		assert.Equal(t, 3, got.SeatsTaken)
		assert.Equal(t, groupbuy.MaxSeatRows(churned.Capacity), topicCount(drain(t, s), groupbuy.TopicSeatReserved),
			"only carol's and the churned team's joins wrote a seat event")

		// The campaign is paused: no join, even into a forming team.
		_, err = s.SetCampaignStatus(t.Context(), f.c.ID, groupbuy.CampaignActive, groupbuy.CampaignPaused)
		require.NoError(t, err)
		oneTrip(f.joinWrite(other.ID, "frank"), groupbuy.ErrCampaignNotActive)
	})
}

func TestPayReplay(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		f := newFixture(t, s)
		team, leader := f.open("alice")
		drain(t, s)
		res, err := s.PaySeat(t.Context(), f.payWrite(leader, "ref-1"))
		require.NoError(t, err)
		assert.False(t, res.Filled)
		assert.Equal(t, groupbuy.SeatPaid, res.Seat.State)
		assert.Equal(t, "pay-"+leader.ID, res.Seat.PaymentRef)
		assert.Equal(t, 1, res.Team.SeatsPaid)
		assert.Equal(t, int64(2), res.Team.Version)

		// The same payment again, by key: a replay, whatever the seat's state.
		_, err = s.PaySeat(t.Context(), f.payWrite(leader, "ref-1"))
		re, ok := errors.AsType[*groupbuy.ReplayError](err)
		require.True(t, ok, "want ReplayError, got %v", err)
		assert.Equal(t, "fp-"+leader.ID, re.Record.Fingerprint)
		assert.JSONEq(t, `{"seat":"`+leader.ID+`"}`, string(re.Record.Result))
		assert.True(t, re.Record.CreatedAt.Equal(t0.Truncate(time.Microsecond)))

		// Concurrent replays of a fresh payment: one pays, the others replay.
		bob := f.join(team.ID, "bob")
		drain(t, s)
		var paid, replayed atomic.Int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				_, err := s.PaySeat(t.Context(), f.payWrite(bob, "ref-2"))
				if err == nil {
					paid.Add(1)
				} else if _, ok := errors.AsType[*groupbuy.ReplayError](err); ok {
					replayed.Add(1)
				} else {
					t.Errorf("pay: %v", err)
				}
			})
		}
		wg.Wait()
		assert.Equal(t, int64(1), paid.Load())
		assert.Equal(t, int64(15), replayed.Load())
		got, err := s.GetTeam(t.Context(), team.ID)
		require.NoError(t, err)
		assert.Equal(t, 2, got.SeatsPaid)
		assert.Equal(t, 1, topicCount(drain(t, s), groupbuy.TopicSeatPaid))

		// A second payment (other key) of a paid seat: not reserved.
		_, err = s.PaySeat(t.Context(), f.payWrite(bob, "ref-3"))
		assert.ErrorIs(t, err, groupbuy.ErrSeatNotReserved)
		w := f.payWrite(bob, "ref-4")
		w.Amount = decimal.RequireFromString("1")
		_, err = s.PaySeat(t.Context(), w)
		assert.ErrorIs(t, err, groupbuy.ErrAmountMismatch)
		w = f.payWrite(bob, "ref-5")
		w.TeamID = "team-other"
		_, err = s.PaySeat(t.Context(), w)
		assert.ErrorIs(t, err, groupbuy.ErrNotFound)
		_, err = s.GetIdempotency(t.Context(), "groupbuy.pay", "ref-3")
		assert.ErrorIs(t, err, storage.ErrNotFound, "a refused payment records nothing")
	})
}

// TestPayLastTwoConcurrently: the last two seats of many teams are paid at
// once; each team succeeds once, with one TeamSucceeded event, and every
// seat ends confirmed.
func TestPayLastTwoConcurrently(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		// completing: the Store expects the fill (on PostgreSQL one of the
		// two payments is sent in the completing form) and the writes let
		// it build TeamSucceeded itself.
		for _, completing := range []bool{false, true} {
			t.Run(fmt.Sprintf("completing=%t", completing), func(t *testing.T) {
				payLastTwoConcurrently(t, db, d, completing)
			})
		}
	})
}

func payLastTwoConcurrently(t *testing.T, db *sql.DB, d sqlstore.Dialect, completing bool) {
	s := newStore(t, db, d)
	f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 3 })
	const teams = 12
	type job struct {
		team  groupbuy.Team
		seats []groupbuy.Seat
	}
	jobs := make([]job, teams)
	for i := range jobs {
		team, leader := f.open(fmt.Sprintf("lead-%d", i))
		jobs[i] = job{team, []groupbuy.Seat{leader, f.join(team.ID, fmt.Sprintf("a-%d", i)), f.join(team.ID, fmt.Sprintf("b-%d", i))}}
		_, err := s.PaySeat(t.Context(), f.payWrite(leader, ""))
		require.NoError(t, err)
		if completing {
			sqlstore.MarkLastPay(s, team.ID)
		}
	}
	drain(t, s)
	var filled atomic.Int64
	var wg sync.WaitGroup
	for _, j := range jobs {
		for _, st := range j.seats[1:] {
			w := f.payWrite(st, "")
			if completing {
				w = fillWrite(f, st, f.id("ev"))
			}
			wg.Go(func() {
				res, err := s.PaySeat(t.Context(), w)
				if !assert.NoError(t, err) {
					return
				}
				if res.Filled {
					filled.Add(1)
					assert.Equal(t, groupbuy.TeamSucceeded, res.Team.State)
					assert.Equal(t, groupbuy.SeatConfirmed, res.Seat.State)
				}
			})
		}
	}
	wg.Wait()
	assert.Equal(t, int64(teams), filled.Load(), "one filling payment per team")
	evs := drain(t, s)
	assert.Equal(t, teams, topicCount(evs, groupbuy.TopicTeamSucceeded))
	assert.Equal(t, 2*teams, topicCount(evs, groupbuy.TopicSeatPaid))
	for _, j := range jobs {
		got, err := s.GetTeam(t.Context(), j.team.ID)
		require.NoError(t, err)
		assert.Equal(t, groupbuy.TeamSucceeded, got.State)
		assert.Equal(t, 3, got.SeatsPaid)
		assert.Equal(t, int64(1+2+3), got.Version, "open, two joins, three payments")
		seats, err := s.TeamSeats(t.Context(), j.team.ID)
		require.NoError(t, err)
		for _, st := range seats {
			assert.Equal(t, groupbuy.SeatConfirmed, st.State)
		}
		if completing {
			for _, ev := range evs {
				if ev.Key == "gb:"+j.team.ID+":succeeded" {
					want := groupbuy.TeamFilledEvent(ev.ID, &got, seats, "CNY", t0)
					assert.Equal(t, string(want.Payload), string(ev.Payload), "TeamSucceeded of %s", j.team.ID)
				}
			}
		}
	}
	due, err := s.DueTeams(t.Context(), t0.Add(time.Minute), 100)
	require.NoError(t, err)
	assert.Empty(t, due)
}

func TestOutboxLease(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		var mu sync.Mutex
		now := t0
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(dur time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(dur) }
		s := newStore(t, db, d, sqlstore.WithClock(clock))
		f := newFixture(t, s)
		f.open("alice")
		f.open("bob")
		f.open("carol")

		evs, err := s.Claim(t.Context(), 2, time.Minute)
		require.NoError(t, err)
		require.Len(t, evs, 2)
		assert.Equal(t, 1, evs[0].Attempts)
		assert.True(t, evs[0].CreatedAt.Equal(t0.Truncate(time.Microsecond)))
		first := []string{evs[0].ID, evs[1].ID}
		rest, err := s.Claim(t.Context(), 10, time.Minute)
		require.NoError(t, err)
		require.Len(t, rest, 1, "leased events are not handed out again")
		none, err := s.Claim(t.Context(), 10, time.Minute)
		require.NoError(t, err)
		assert.Empty(t, none)

		require.NoError(t, s.Ack(t.Context(), []string{first[1], "no-such-id"}))
		// The lease ends on a whole microsecond, rounded up (t0 has
		// nanoseconds): lease_until <= now, expired.
		advance(time.Minute + time.Microsecond)
		again, err := s.Claim(t.Context(), 10, time.Minute)
		require.NoError(t, err)
		require.Len(t, again, 2, "the un-acked events come back after their lease")
		assert.Equal(t, first[0], again[0].ID, "oldest first")
		assert.Equal(t, 2, again[0].Attempts)
		assert.Equal(t, rest[0].ID, again[1].ID)
		require.NoError(t, s.Ack(t.Context(), []string{again[0].ID, again[1].ID}))
		advance(time.Hour)
		none, err = s.Claim(t.Context(), 10, time.Minute)
		require.NoError(t, err)
		assert.Empty(t, none, "acked events are gone")

		_, err = s.Claim(t.Context(), 0, time.Minute)
		_, ok := errors.AsType[*storage.ValidationError](err)
		assert.True(t, ok)
		_, err = s.Claim(t.Context(), 1, 0)
		_, ok = errors.AsType[*storage.ValidationError](err)
		assert.True(t, ok)
		err = s.Ack(t.Context(), []string{""})
		_, ok = errors.AsType[*storage.ValidationError](err)
		assert.True(t, ok)
	})
}

func TestOutboxConcurrentClaim(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		f := newFixture(t, s)
		for i := range 40 {
			f.open(fmt.Sprintf("u%d", i))
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					evs, err := s.Claim(t.Context(), 3, time.Hour)
					if !assert.NoError(t, err) || len(evs) == 0 {
						return
					}
					mu.Lock()
					for _, e := range evs {
						seen[e.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		assert.Len(t, seen, 40)
		for id, n := range seen {
			assert.Equal(t, 1, n, "event %s claimed %d times", id, n)
		}
	})
}

// TestWithTx: a store bound to the host's transaction writes nothing the
// host rolls back, retries nothing, and a failed write leaves the host's
// transaction usable.
func TestWithTx(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 2 })
		full, _ := f.open("alice")
		f.join(full.ID, "bob")
		drain(t, s)

		tx, err := db.BeginTx(t.Context(), nil)
		require.NoError(t, err)
		ts := s.WithTx(tx)
		tf := *f
		tf.s = ts
		team, leader := tf.open("carol")
		_, _, err = ts.JoinTeam(t.Context(), f.joinWrite(full.ID, "dave"))
		assert.ErrorIs(t, err, groupbuy.ErrTeamFull, "a refused write inside the host's transaction")
		st := tf.join(team.ID, "dave") // the transaction is still usable
		res, err := ts.PaySeat(t.Context(), f.payWrite(leader, "k1"))
		require.NoError(t, err)
		assert.False(t, res.Filled)
		res, err = ts.PaySeat(t.Context(), f.payWrite(st, "k2"))
		require.NoError(t, err)
		assert.True(t, res.Filled)
		got, err := ts.GetTeam(t.Context(), team.ID)
		require.NoError(t, err, "reads see the host's transaction")
		assert.Equal(t, groupbuy.TeamSucceeded, got.State)
		require.NoError(t, tx.Rollback())

		_, err = s.GetTeam(t.Context(), team.ID)
		assert.ErrorIs(t, err, groupbuy.ErrNotFound, "rolled back with the host")
		_, err = s.GetSeat(t.Context(), st.ID)
		assert.ErrorIs(t, err, groupbuy.ErrNotFound)
		_, err = s.GetIdempotency(t.Context(), "groupbuy.pay", "k1")
		assert.ErrorIs(t, err, groupbuy.ErrNotFound)
		assert.Empty(t, drain(t, s), "no event survives the rollback")

		// Committed, it all lands.
		tx, err = db.BeginTx(t.Context(), nil)
		require.NoError(t, err)
		tf.s = s.WithTx(tx)
		team2, _ := tf.open("erin")
		require.NoError(t, tx.Commit())
		_, err = s.GetTeam(t.Context(), team2.ID)
		require.NoError(t, err)
		assert.Len(t, drain(t, s), 1)
	})
}

// TestBadInput: every method rejects bad arguments with a ValidationError
// and changes nothing.
func TestBadInput(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		f := newFixture(t, s)
		team, leader := f.open("alice")
		drain(t, s)
		before := s.RoundTrips()
		ctx := t.Context()
		long := string(make([]byte, 200))
		isValidation := func(err error, what string) {
			t.Helper()
			_, ok := errors.AsType[*storage.ValidationError](err)
			assert.True(t, ok, "%s: want ValidationError, got %v", what, err)
		}
		isValidation(s.CreateCampaign(ctx, nil), "CreateCampaign nil")
		isValidation(s.CreateCampaign(ctx, &groupbuy.Campaign{}), "CreateCampaign empty ID")
		_, err := s.SetCampaignStatus(ctx, f.c.ID, "nope", groupbuy.CampaignActive)
		isValidation(err, "SetCampaignStatus unknown status")
		_, err = s.GetCampaign(ctx, "")
		isValidation(err, "GetCampaign")
		isValidation(s.OpenTeam(ctx, nil), "OpenTeam nil")
		isValidation(s.OpenTeam(ctx, &groupbuy.OpenTeamWrite{}), "OpenTeam empty")
		_, _, err = s.JoinTeam(ctx, nil)
		isValidation(err, "JoinTeam nil")
		w := f.joinWrite(team.ID, "bob")
		w.Seat.UserID = ""
		_, _, err = s.JoinTeam(ctx, w)
		isValidation(err, "JoinTeam empty user")
		w = f.joinWrite(team.ID, long)
		_, _, err = s.JoinTeam(ctx, w)
		isValidation(err, "JoinTeam long user")
		w = f.joinWrite(team.ID, "bob")
		w.Seat.Amount = decimal.RequireFromString("0.00001")
		_, _, err = s.JoinTeam(ctx, w)
		isValidation(err, "JoinTeam amount with 5 decimals")
		w = f.joinWrite(team.ID, "bob")
		w.Events[0].ID = ""
		_, _, err = s.JoinTeam(ctx, w)
		isValidation(err, "JoinTeam event without ID")
		_, err = s.PaySeat(ctx, nil)
		isValidation(err, "PaySeat nil")
		pw := f.payWrite(leader, "")
		pw.SeatID = ""
		_, err = s.PaySeat(ctx, pw)
		isValidation(err, "PaySeat empty seat")
		_, err = s.ReleaseSeat(ctx, &groupbuy.ReleaseSeatWrite{})
		isValidation(err, "ReleaseSeat empty")
		isValidation(s.CloseTeam(ctx, &groupbuy.CloseTeamWrite{TeamID: team.ID, State: groupbuy.TeamForming, Now: t0}), "CloseTeam to forming")
		isValidation(s.CloseTeam(ctx, &groupbuy.CloseTeamWrite{TeamID: team.ID, State: groupbuy.TeamFailed, Now: t0,
			Release: []string{leader.ID}, Refund: []string{leader.ID}}), "CloseTeam seat listed twice")
		_, err = s.UpdateRefund(ctx, &groupbuy.RefundWrite{SeatID: leader.ID, From: "x", To: groupbuy.SeatRefunded})
		isValidation(err, "UpdateRefund unknown state")
		isValidation(s.RecordOutcome(ctx, nil, nil), "RecordOutcome nil")
		_, err = s.GetTeam(ctx, "")
		isValidation(err, "GetTeam")
		_, err = s.TeamSeats(ctx, "")
		isValidation(err, "TeamSeats")
		_, err = s.GetSeat(ctx, "")
		isValidation(err, "GetSeat")
		for _, limit := range []int{0, -1, groupbuy.MaxListLimit + 1} {
			_, err = s.OpenTeams(ctx, f.c.ID, t0, groupbuy.MatchOldest, limit)
			isValidation(err, "OpenTeams limit")
			_, err = s.UserSeats(ctx, "alice", groupbuy.SeatPosition{}, limit)
			isValidation(err, "UserSeats limit")
		}
		for _, limit := range []int{0, -1, groupbuy.MaxProcessDue + 1} {
			_, err = s.DueReservations(ctx, t0, limit)
			isValidation(err, "DueReservations limit")
			_, err = s.DueTeams(ctx, t0, limit)
			isValidation(err, "DueTeams limit")
		}
		_, err = s.OpenTeams(ctx, f.c.ID, t0, "best", 10)
		isValidation(err, "OpenTeams unknown order")
		_, err = s.GetIdempotency(ctx, "", "k")
		isValidation(err, "GetIdempotency")
		assert.Equal(t, before, s.RoundTrips(), "bad input never reaches the database")

		got, err := s.GetTeam(ctx, team.ID)
		require.NoError(t, err)
		assert.Equal(t, 1, got.SeatsTaken)
		assert.Equal(t, int64(1), got.Version)
		assert.Empty(t, drain(t, s))
	})
}

// TestReleaseAndClose covers ReleaseSeat, CloseTeam and UpdateRefund and
// the per-user counters they maintain.
func TestReleaseAndClose(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		ctx := t.Context()
		f := newFixture(t, s, func(c *groupbuy.Campaign) {
			c.TeamSize, c.Limits.MaxTeamsOpenedPerUser, c.Limits.MaxTeamsJoinedPerUser = 4, 1, 1
		})
		team, leader := f.open("alice")
		bob := f.join(team.ID, "bob")
		carol := f.join(team.ID, "carol")

		_, err := s.ReleaseSeat(ctx, &groupbuy.ReleaseSeatWrite{SeatID: bob.ID, UserID: "carol", Now: t0})
		assert.ErrorIs(t, err, groupbuy.ErrNotOwner)
		_, err = s.ReleaseSeat(ctx, &groupbuy.ReleaseSeatWrite{SeatID: bob.ID, OnlyExpired: true, Now: t0})
		assert.ErrorIs(t, err, storage.ErrConflict)
		_, err = s.ReleaseSeat(ctx, &groupbuy.ReleaseSeatWrite{SeatID: "seat-missing", Now: t0})
		assert.ErrorIs(t, err, groupbuy.ErrNotFound)
		rel, err := s.ReleaseSeat(ctx, &groupbuy.ReleaseSeatWrite{SeatID: bob.ID, UserID: "bob", Now: t0})
		require.NoError(t, err)
		assert.Equal(t, groupbuy.SeatReleased, rel.State)
		assert.Equal(t, int64(2), rel.Version)
		_, err = s.ReleaseSeat(ctx, &groupbuy.ReleaseSeatWrite{SeatID: bob.ID, Now: t0})
		assert.ErrorIs(t, err, groupbuy.ErrSeatNotReserved)
		// Released, bob may join again, and his limit counts one seat.
		w := f.joinWrite(team.ID, "bob")
		bob2, err := func() (groupbuy.Seat, error) { _, st, err := s.JoinTeam(ctx, w); return st, err }()
		require.NoError(t, err)

		_, err = s.PaySeat(ctx, f.payWrite(carol, ""))
		require.NoError(t, err)
		tm, err := s.GetTeam(ctx, team.ID)
		require.NoError(t, err)
		assert.Equal(t, 3, tm.SeatsTaken)

		// Stale version: conflict, nothing changes.
		err = s.CloseTeam(ctx, &groupbuy.CloseTeamWrite{TeamID: team.ID, Version: tm.Version - 1, State: groupbuy.TeamFailed, Now: t0})
		assert.ErrorIs(t, err, storage.ErrConflict)
		// A seat in the wrong list: conflict, nothing changes.
		err = s.CloseTeam(ctx, &groupbuy.CloseTeamWrite{TeamID: team.ID, Version: tm.Version, State: groupbuy.TeamFailed, Now: t0,
			Release: []string{leader.ID, carol.ID}})
		assert.ErrorIs(t, err, storage.ErrConflict)
		err = s.CloseTeam(ctx, &groupbuy.CloseTeamWrite{TeamID: "team-missing", Version: 1, State: groupbuy.TeamFailed, Now: t0})
		assert.ErrorIs(t, err, groupbuy.ErrNotFound)
		drain(t, s)
		closeAt := t0.Add(2 * time.Hour)
		require.NoError(t, s.CloseTeam(ctx, &groupbuy.CloseTeamWrite{TeamID: team.ID, Version: tm.Version, State: groupbuy.TeamFailed, Now: closeAt,
			Release: []string{leader.ID, bob2.ID}, Refund: []string{carol.ID},
			Events: []storage.Event{f.event(groupbuy.TopicTeamFailed, "failed"), f.event(groupbuy.TopicRefundRequested, "refund")}}))
		tm2, err := s.GetTeam(ctx, team.ID)
		require.NoError(t, err)
		assert.Equal(t, groupbuy.TeamFailed, tm2.State)
		assert.Equal(t, 0, tm2.SeatsTaken)
		assert.Equal(t, 0, tm2.SeatsPaid)
		assert.Equal(t, tm.Version+1, tm2.Version)
		assert.True(t, tm2.ClosedAt.Equal(closeAt.Truncate(time.Microsecond)), "ClosedAt %s", tm2.ClosedAt)
		assert.Len(t, drain(t, s), 2)

		c, err := s.GetSeat(ctx, carol.ID)
		require.NoError(t, err)
		assert.Equal(t, groupbuy.SeatRefundRequested, c.State)
		_, err = s.UpdateRefund(ctx, &groupbuy.RefundWrite{SeatID: carol.ID, From: groupbuy.SeatRefundFailed, To: groupbuy.SeatRefunded, Now: t0})
		assert.ErrorIs(t, err, storage.ErrConflict)
		_, err = s.UpdateRefund(ctx, &groupbuy.RefundWrite{SeatID: "seat-missing", From: groupbuy.SeatRefundFailed, To: groupbuy.SeatRefunded, Now: t0})
		assert.ErrorIs(t, err, groupbuy.ErrNotFound)
		assert.Equal(t, 1, c.RefundAttempt, "the close requested attempt 1")
		_, err = s.UpdateRefund(ctx, &groupbuy.RefundWrite{SeatID: carol.ID, From: groupbuy.SeatRefundRequested, To: groupbuy.SeatRefunded, Attempt: 2, Now: t0})
		assert.ErrorIs(t, err, storage.ErrConflict, "another attempt")
		c, err = s.UpdateRefund(ctx, &groupbuy.RefundWrite{SeatID: carol.ID, From: groupbuy.SeatRefundRequested, To: groupbuy.SeatRefunded, Attempt: 1, Now: t0})
		require.NoError(t, err)
		assert.Equal(t, groupbuy.SeatRefunded, c.State)
		assert.Equal(t, 1, c.RefundAttempt)

		// The users' counters dropped with their seats: each may join a new
		// team under a limit of one.
		other, _ := f.open("dave")
		for _, u := range []string{"bob", "carol"} {
			_, _, err := s.JoinTeam(ctx, f.joinWrite(other.ID, u))
			require.NoError(t, err, u)
		}
		ow := groupbuy.OpenTeamWrite{Team: groupbuy.Team{ID: f.id("team"), CampaignID: f.c.ID, LeaderID: "alice", Capacity: 4, SeatsTaken: 1,
			State: groupbuy.TeamForming, OpenedAt: t0, ExpiresAt: t0.Add(time.Hour), Version: 1}, Now: t0, MaxOpened: 1}
		ow.Leader = f.seat(ow.Team.ID, "alice", true)
		require.NoError(t, s.OpenTeam(ctx, &ow), "alice's first team no longer counts")
		ow2 := ow
		ow2.Team.ID = f.id("team")
		ow2.Leader = f.seat(ow2.Team.ID, "alice", true)
		assert.ErrorIs(t, s.OpenTeam(ctx, &ow2), groupbuy.ErrLimitExceeded)
	})
}

// TestRoundTrips: PostgreSQL's join and payment are one statement each.
func TestRoundTrips(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 3 })
		n := s.RoundTrips()
		team, leader := f.open("alice")
		open := s.RoundTrips() - n
		n = s.RoundTrips()
		st := f.join(team.ID, "bob")
		join := s.RoundTrips() - n
		n = s.RoundTrips()
		_, err := s.PaySeat(t.Context(), f.payWrite(st, "k"))
		require.NoError(t, err)
		pay := s.RoundTrips() - n
		// The payment again: its replay carries the team and seat, read
		// with the record, as GetTeam and GetSeat return them.
		n = s.RoundTrips()
		_, err = s.PaySeat(t.Context(), f.payWrite(st, "k"))
		replay := s.RoundTrips() - n
		re, ok := errors.AsType[*groupbuy.ReplayError](err)
		require.True(t, ok, "%v", err)
		require.NotNil(t, re.Team)
		require.NotNil(t, re.Seat)
		gotTeam, err := s.GetTeam(t.Context(), team.ID)
		require.NoError(t, err)
		gotSeat, err := s.GetSeat(t.Context(), st.ID)
		require.NoError(t, err)
		assert.Equal(t, gotTeam, *re.Team)
		assert.Equal(t, gotSeat, *re.Seat)
		assert.Equal(t, groupbuy.SeatPaid, re.Seat.State)
		carol := f.join(team.ID, "carol")
		_, err = s.PaySeat(t.Context(), f.payWrite(leader, "k2"))
		require.NoError(t, err)
		n = s.RoundTrips()
		_, _, err = s.JoinTeam(t.Context(), f.joinWrite(team.ID, "dave"))
		require.ErrorIs(t, err, groupbuy.ErrTeamFull)
		refused := s.RoundTrips() - n
		var onFill []groupbuy.Seat
		w := f.payWrite(carol, "k3")
		w.OnFill = func(team *groupbuy.Team, seats []groupbuy.Seat) []storage.Event {
			assert.Equal(t, groupbuy.TeamSucceeded, team.State)
			onFill = seats
			return []storage.Event{f.event(groupbuy.TopicTeamSucceeded, "gb:"+team.ID+":succeeded")}
		}
		n = s.RoundTrips()
		res, err := s.PaySeat(t.Context(), w)
		require.NoError(t, err)
		filling := s.RoundTrips() - n
		require.True(t, res.Filled)
		assert.Equal(t, groupbuy.TeamSucceeded, res.Team.State)
		assert.Equal(t, groupbuy.SeatConfirmed, res.Seat.State)
		// OnFill saw the seats exactly as they were stored, in TeamSeats order.
		stored, err := s.TeamSeats(t.Context(), team.ID)
		require.NoError(t, err)
		assert.Equal(t, stored, onFill)
		for _, st := range stored {
			assert.Equal(t, groupbuy.SeatConfirmed, st.State, st.UserID)
		}
		got, err := s.GetTeam(t.Context(), team.ID)
		require.NoError(t, err)
		assert.Equal(t, res.Team, got)
		t.Logf("%s round trips: open %d, join %d, pay %d, replayed pay %d, refused join %d, filling pay %d", d, open, join, pay, replay, refused, filling)
		if d == sqlstore.Postgres {
			assert.Equal(t, int64(1), open)
			assert.Equal(t, int64(1), join)
			assert.Equal(t, int64(1), refused)
			assert.Equal(t, int64(1), pay)
			assert.Equal(t, int64(2), replay, "the payment's statement, then the record read with the seat and team")
			// The payment, the seats read afresh, the completion.
			assert.Equal(t, int64(3), filling)
		}
	})
}

// TestFillingPayAfterLockWait: on PostgreSQL a payment that waited for the
// team's lock while the other last seat was paid has a snapshot without that
// payment. It must still complete the team exactly once, with every seat
// confirmed and TeamSucceeded listing both payers: the completion reads the
// seats in a statement of its own, which sees that payment.
func TestFillingPayAfterLockWait(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		if d != sqlstore.Postgres {
			t.Skip("the single-statement payment is PostgreSQL's")
		}
		s := newStore(t, db, d)
		f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 3 })
		team, leader := f.open("alice")
		bob, carol := f.join(team.ID, "bob"), f.join(team.ID, "carol")
		_, err := s.PaySeat(t.Context(), f.payWrite(leader, ""))
		require.NoError(t, err)

		// Bob pays inside a host transaction, which locks the team's row.
		tx, err := db.BeginTx(t.Context(), nil)
		require.NoError(t, err)
		defer tx.Rollback()
		_, err = s.WithTx(tx).PaySeat(t.Context(), f.payWrite(bob, ""))
		require.NoError(t, err)

		// Carol's payment starts now, takes its snapshot and waits.
		var seen []groupbuy.Seat
		w := f.payWrite(carol, "")
		w.OnFill = func(tm *groupbuy.Team, seats []groupbuy.Seat) []storage.Event {
			seen = seats
			return []storage.Event{f.event(groupbuy.TopicTeamSucceeded, "gb:"+tm.ID+":succeeded")}
		}
		n := s.RoundTrips()
		done := payWaitingForLock(t, db, s, w)
		require.NoError(t, tx.Commit())

		got := <-done
		require.NoError(t, got.err)
		assert.True(t, got.res.Filled)
		assert.Equal(t, groupbuy.TeamSucceeded, got.res.Team.State)
		assert.Equal(t, groupbuy.SeatConfirmed, got.res.Seat.State)
		assert.Equal(t, int64(3), s.RoundTrips()-n, "payment, the seats read afresh, completion")
		stored, err := s.TeamSeats(t.Context(), team.ID)
		require.NoError(t, err)
		assert.Equal(t, stored, seen, "OnFill saw the stored seats, bob's payment included")
		for _, st := range stored {
			assert.Equal(t, groupbuy.SeatConfirmed, st.State, st.UserID)
		}
		succeeded := 0
		for _, ev := range drain(t, s) {
			if ev.Topic == groupbuy.TopicTeamSucceeded {
				succeeded++
			}
		}
		assert.Equal(t, 1, succeeded)
	})
}

// failingCompletion opens a team of two on s, pays alice's seat and
// returns the fixture, the team, bob's seat and the payment that fills the team with an
// OnFill event whose ID is taken, so that the completion cannot be stored.
func failingCompletion(t *testing.T, s *sqlstore.Store) (*fixture, groupbuy.Team, groupbuy.Seat, *groupbuy.PaySeatWrite) {
	t.Helper()
	f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 2 })
	team, leader := f.open("alice")
	bob := f.join(team.ID, "bob")
	first := f.payWrite(leader, "")
	_, err := s.PaySeat(t.Context(), first)
	require.NoError(t, err)
	w := f.payWrite(bob, "")
	w.OnFill = func(*groupbuy.Team, []groupbuy.Seat) []storage.Event {
		ev := f.event(groupbuy.TopicTeamSucceeded, "gb:"+team.ID+":succeeded")
		ev.ID = first.Events[0].ID // taken: the completion cannot store it
		return []storage.Event{ev}
	}
	return f, team, bob, w
}

// TestFillingPayCompletionFails: when the completion of a filled team fails
// (here OnFill's event reuses an ID that is stored already), PostgreSQL has
// committed the payment in its first step and the team is left forming and
// fully paid, so DueTeams lists it for ProcessDue to complete; MySQL and
// SQLite roll the whole payment back.
func TestFillingPayCompletionFails(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		_, team, _, w := failingCompletion(t, s)
		_, err := s.PaySeat(t.Context(), w)
		require.Error(t, err)
		got, err := s.GetTeam(t.Context(), team.ID)
		require.NoError(t, err)
		assert.Equal(t, groupbuy.TeamForming, got.State)
		due, err := s.DueTeams(t.Context(), t0.Add(time.Minute), 10)
		require.NoError(t, err)
		if d == sqlstore.Postgres {
			assert.Equal(t, 2, got.SeatsPaid, "the payment committed in its first step")
			require.Len(t, due, 1, "DueTeams lists the fully paid forming team")
			assert.Equal(t, team.ID, due[0].ID)
			return
		}
		assert.Equal(t, 1, got.SeatsPaid, "the payment rolled back with its completion")
		assert.Empty(t, due)
	})
}

// TestGuardedWritesUsePrimaryKey: on PostgreSQL the guarded writes of open,
// join and pay find their row by primary key, also in the generic plan that
// PostgreSQL caches after five runs of a statement on young tables without
// statistics; in single statements and in the transactions of WithTx. Their
// guards once matched the partial indexes teams_fullest and seats_due,
// which were then scanned end to end for one row.
func TestGuardedWritesUsePrimaryKey(t *testing.T) {
	for _, hostTx := range []bool{false, true} {
		t.Run(map[bool]string{false: "single statements", true: "host transactions"}[hostTx], func(t *testing.T) {
			db := openPostgres(t)
			db.SetMaxOpenConns(1) // one backend: one plan cache, and its statistics flushed below
			ctx := t.Context()
			prefix := randomPrefix()
			s, err := sqlstore.New(db, sqlstore.Postgres, sqlstore.WithTablePrefix(prefix))
			require.NoError(t, err)
			t.Cleanup(func() { dropTables(t, db, sqlstore.Postgres, prefix) })
			require.NoError(t, s.Migrate(ctx))
			// The scans of each index so far: the migrations' own (the
			// seat rows migration finds the forming teams by teams_due)
			// are not the writes'.
			indexScans := func() map[string]int64 {
				_, err := db.ExecContext(ctx, "SELECT pg_stat_force_next_flush()")
				require.NoError(t, err)
				rows, err := db.QueryContext(ctx, `SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE indexrelname LIKE $1`, prefix+"%")
				require.NoError(t, err)
				scans := map[string]int64{}
				for rows.Next() {
					var name string
					var n int64
					require.NoError(t, rows.Scan(&name, &n))
					scans[strings.TrimPrefix(name, prefix)] = n
				}
				require.NoError(t, rows.Err())
				return scans
			}
			migrated := indexScans()
			f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 3 })
			for i := range 12 {
				team, leader := f.open(fmt.Sprintf("leader%d", i))
				w := s
				var tx *sql.Tx
				if hostTx {
					tx, err = db.BeginTx(ctx, nil)
					require.NoError(t, err)
					w = s.WithTx(tx)
				}
				_, bob, err := w.JoinTeam(ctx, f.joinWrite(team.ID, fmt.Sprintf("bob%d", i)))
				require.NoError(t, err)
				for _, st := range []groupbuy.Seat{leader, bob} {
					_, err := w.PaySeat(ctx, f.payWrite(st, ""))
					require.NoError(t, err)
				}
				if tx != nil {
					require.NoError(t, tx.Commit())
				}
			}
			scans := indexScans()
			for idx, n := range migrated {
				scans[idx] -= n
			}
			assert.GreaterOrEqual(t, scans["teams_pkey"], int64(36), "joins and payments find the team by key")
			assert.GreaterOrEqual(t, scans["seats_pkey"], int64(24), "payments find the seat by key")
			for _, idx := range []string{"teams_fullest", "teams_open", "teams_due", "teams_full", "seats_due", "seats_user"} {
				assert.Zero(t, scans[idx], "%s scanned by a keyed write", idx)
			}
		})
	}
}

// TestCancelFullyPaidForming: on PostgreSQL the payment that fills a team
// commits before the team is completed. A CancelTeam that finds the team
// in that state (forming, every seat paid; set here by hand) completes it
// as succeeded and refuses the cancel: no paid-in-full team is refunded.
func TestCancelFullyPaidForming(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		ctx := t.Context()
		s, prefix := newStorePrefixed(t, db, d)
		now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
		svc, err := groupbuy.New(s, groupbuy.Config{Now: func() time.Time { return now }})
		require.NoError(t, err)
		_, err = svc.CreateCampaign(ctx, groupbuy.Campaign{
			ID: "c", ProductRef: "p", Currency: "CNY", Prices: []groupbuy.SKUPrice{{SKU: "s", Price: decimal.NewFromInt(10)}},
			TeamSize: 2, TeamLifetime: time.Hour, ReservationTTL: 10 * time.Minute, StartsAt: now, EndsAt: now.Add(24 * time.Hour),
			Status: groupbuy.CampaignActive, VirtualFill: groupbuy.VirtualFill{Mode: groupbuy.VirtualFillNone}, LatePayment: groupbuy.LateRefund,
		})
		require.NoError(t, err)
		a, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: "c", UserID: "alice", SKU: "s"})
		require.NoError(t, err)
		b, err := svc.Join(ctx, groupbuy.JoinRequest{CampaignID: "c", TeamID: a.Team.ID, UserID: "bob", SKU: "s"})
		require.NoError(t, err)
		_, err = svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{
			TeamID: a.Team.ID, SeatID: a.Seat.ID, PaymentRef: "pay-a", Amount: a.Seat.Amount, Currency: "CNY",
		})
		require.NoError(t, err)
		// Bob's payment as the first PostgreSQL statement leaves it: seat
		// paid, team fully paid and still forming.
		_, err = db.ExecContext(ctx, "UPDATE "+prefix+"seats SET state = 'paid', payment_ref = 'pay-b', version = version + 1 WHERE id = '"+b.Seat.ID+"'")
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, "UPDATE "+prefix+"teams SET seats_paid = seats_paid + 1, version = version + 1 WHERE id = '"+a.Team.ID+"'")
		require.NoError(t, err)
		drain(t, s)

		team, err := svc.CancelTeam(ctx, a.Team.ID, "operator")
		require.ErrorIs(t, err, groupbuy.ErrIllegalTransition)
		assert.Equal(t, groupbuy.TeamSucceeded, team.State)
		tv, err := svc.Team(ctx, a.Team.ID)
		require.NoError(t, err)
		for _, st := range tv.Seats {
			assert.Equal(t, groupbuy.SeatConfirmed, st.State, "seat %s", st.UserID)
		}
		var topics []string
		for _, e := range drain(t, s) {
			topics = append(topics, e.Topic)
		}
		assert.Equal(t, []string{groupbuy.TopicTeamSucceeded}, topics, "no refund for a fully paid team")
	})
}

// TestRefusedWritesAreNotRerun: a write refused by its guards (no row
// matched, a dependent part missing and the deliberate division by zero, a
// unique key taken) is diagnosed once and returned: neither the statement
// nor the transaction is rerun as if the database had aborted it
// retryably, and the error is not marked retryable.
func TestRefusedWritesAreNotRerun(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize, c.Limits.MaxTeamsJoinedPerUser = 2, 1 })
		team, leader := f.open("alice")
		other, _ := f.open("dave")
		f.join(other.ID, "bob")
		n := s.Retries()

		refused := func(err error, want error, what string) {
			t.Helper()
			assert.ErrorIs(t, err, want, what)
			assert.False(t, storage.IsRetryable(err), "%s: not retryable: %v", what, err)
			assert.Equal(t, n, s.Retries(), "%s: not rerun", what)
		}
		// The team UPDATE matches, the per-user counter does not.
		_, _, err := s.JoinTeam(t.Context(), f.joinWrite(team.ID, "bob"))
		refused(err, groupbuy.ErrLimitExceeded, "join past the per-user limit")
		// The team UPDATE matches, the seat UPDATE does not.
		w := f.payWrite(leader, "")
		w.Amount = w.Amount.Add(decimal.New(1, -2))
		_, err = s.PaySeat(t.Context(), w)
		refused(err, groupbuy.ErrAmountMismatch, "payment of another amount")
		// No row matches.
		_, _, err = s.JoinTeam(t.Context(), f.joinWrite(other.ID, "carol"))
		refused(err, groupbuy.ErrTeamFull, "join into a full team")
		// A unique key is taken.
		dup, _ := f.open("erin")
		ow := &groupbuy.OpenTeamWrite{
			Team: groupbuy.Team{ID: dup.ID, CampaignID: f.c.ID, LeaderID: "frank", Capacity: 2, SeatsTaken: 1,
				State: groupbuy.TeamForming, OpenedAt: t0, ExpiresAt: t0.Add(time.Hour), Version: 1},
			Leader: f.seat(dup.ID, "frank", true), Now: t0,
		}
		refused(s.OpenTeam(t.Context(), ow), storage.ErrConflict, "open with a team ID in use")
		rec := &groupbuy.IdempotencyRecord{Scope: "test", Key: "k", Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: t0}
		require.NoError(t, s.RecordOutcome(t.Context(), rec, nil))
		_, isReplay := errors.AsType[*groupbuy.ReplayError](s.RecordOutcome(t.Context(), rec, nil))
		assert.True(t, isReplay, "the second record is a replay")
		assert.Equal(t, n, s.Retries(), "a replayed record: not rerun")
	})
}
