package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// awkward holds every character that encoding/json escapes in a way of
// its own: HTML-safe escapes, the line and paragraph separators, quote
// and backslash, beside multi-byte text.
const awkward = `<a&b>"q"\x` + "\u2028\u2029é中😀"

// fillWrite is a payment of st whose OnFill returns TeamFilledEvent, as the
// Service's does, with the ID the adapter may also take from FillEventID.
func fillWrite(f *fixture, st groupbuy.Seat, id string) *groupbuy.PaySeatWrite {
	w := f.payWrite(st, "")
	w.PaymentRef = "ref" + awkward + st.ID
	w.OnFill = func(team *groupbuy.Team, seats []groupbuy.Seat) []storage.Event {
		return []storage.Event{groupbuy.TeamFilledEvent(id, team, seats, w.Currency, w.Now)}
	}
	w.FillEventID = func() string { return id }
	return w
}

// checkFilled checks a team that a payment filled: the team succeeded,
// every seat confirmed, and one TeamSucceeded event, byte for byte the
// event TeamFilledEvent builds from the stored team and seats.
func checkFilled(t *testing.T, s *sqlstore.Store, res groupbuy.PaySeatResult, teamID, eventID string, now time.Time) {
	t.Helper()
	require.True(t, res.Filled)
	team, err := s.GetTeam(t.Context(), teamID)
	require.NoError(t, err)
	assert.Equal(t, team, res.Team, "the result is the stored team")
	assert.Equal(t, groupbuy.TeamSucceeded, team.State)
	seats, err := s.TeamSeats(t.Context(), teamID)
	require.NoError(t, err)
	for _, st := range seats {
		assert.Equal(t, groupbuy.SeatConfirmed, st.State, st.UserID)
		assert.Equal(t, int64(3), st.Version, "%s: reserved → paid → confirmed", st.UserID)
		if st.ID == res.Seat.ID {
			assert.Equal(t, st, res.Seat, "the result is the stored seat")
		}
	}
	want := groupbuy.TeamFilledEvent(eventID, &team, seats, "CNY", now)
	var got []storage.Event
	for _, ev := range drain(t, s) {
		if ev.Topic == groupbuy.TopicTeamSucceeded {
			got = append(got, ev)
		}
	}
	require.Len(t, got, 1, "one TeamSucceeded")
	assert.Equal(t, want.ID, got[0].ID)
	assert.Equal(t, want.Key, got[0].Key)
	assert.True(t, want.CreatedAt.Truncate(time.Microsecond).Equal(got[0].CreatedAt), "created %s, want %s", got[0].CreatedAt, want.CreatedAt)
	assert.Equal(t, string(want.Payload), string(got[0].Payload), "the payload, byte for byte")
}

// TestFillingPayInOneStatement: on PostgreSQL the payment that fills a
// team, after another payment through the same Store left it one payment
// from full, completes it in its own statement; when that payment went
// through another instance, the plain payment completes the team in one
// more statement. Either way TeamSucceeded is written in SQL exactly as
// TeamFilledEvent writes it, whatever the IDs hold.
func TestFillingPayInOneStatement(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		for _, c := range []struct {
			name  string
			other bool // the earlier payments go through another Store
			trips int64
			why   string
		}{
			{"expected", false, 1, "one statement pays and completes"},
			{"paid elsewhere before", true, 2, "the payment, then the completion"},
		} {
			t.Run(c.name, func(t *testing.T) {
				s, prefix := newStorePrefixed(t, db, d)
				payer := s
				if c.other {
					var err error
					payer, err = sqlstore.New(db, d, sqlstore.WithTablePrefix(prefix))
					require.NoError(t, err)
				}
				f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 3; c.ID = "camp" + awkward })
				team, leader := f.open("alice" + awkward)
				bob := f.join(team.ID, "bob"+awkward)
				carol := f.join(team.ID, "carol")
				// A neighbour team of the same campaign with a paid and a
				// reserved seat: completing the team must not touch them,
				// nor count them (which would make the completion fall back
				// to more statements).
				other, dave := f.open("dave")
				erin := f.join(other.ID, "erin")
				_, err := s.PaySeat(t.Context(), f.payWrite(dave, ""))
				require.NoError(t, err)
				neighbours, err := s.TeamSeats(t.Context(), other.ID)
				require.NoError(t, err)
				for _, st := range []groupbuy.Seat{leader, bob} {
					_, err := payer.PaySeat(t.Context(), fillWrite(f, st, f.id("ev")))
					require.NoError(t, err)
				}
				drain(t, s)
				w := fillWrite(f, carol, f.id("ev"))
				n := s.RoundTrips()
				res, err := s.PaySeat(t.Context(), w)
				require.NoError(t, err)
				if d == sqlstore.Postgres {
					assert.Equal(t, c.trips, s.RoundTrips()-n, c.why)
				}
				checkFilled(t, s, res, team.ID, w.FillEventID(), w.Now)
				after, err := s.TeamSeats(t.Context(), other.ID)
				require.NoError(t, err)
				assert.Equal(t, neighbours, after, "the neighbour team's seats (%s paid, %s reserved) are untouched", dave.ID, erin.ID)

				// Paying the seat again is refused and writes nothing.
				_, err = s.PaySeat(t.Context(), fillWrite(f, carol, f.id("ev")))
				require.Error(t, err)
				assert.Empty(t, drain(t, s))
			})
		}
	})
}

// TestFillingPayStaleSnapshot: a payment sent to complete its team whose
// snapshot lacks a seat of the team (joined and paid in a transaction that
// held the team's lock while the payment waited for it) fails on purpose
// and is paid again the plain way, then the team is completed in a
// statement of its own, whose snapshot holds every seat: still once.
func TestFillingPayStaleSnapshot(t *testing.T) {
	db := openPostgres(t)
	s := newStore(t, db, sqlstore.Postgres)
	f, team, carol, tx := staleFill(t, db, s)
	// Carol's payment, sent to complete the team, takes its snapshot now,
	// without Dave's seat, and waits.
	payCompletingAfter(t, db, s, f, tx, team.ID, carol, 3, "the completing statement, then the payment, then the completion")
}

// staleFill sets up a team of three on s whose completing payment will
// find its snapshot stale: alice's seat paid, carol's reserved, and Dave
// joined and paid inside the returned transaction, which holds the team's
// row lock until it commits.
func staleFill(t *testing.T, db *sql.DB, s *sqlstore.Store) (*fixture, groupbuy.Team, groupbuy.Seat, *sql.Tx) {
	t.Helper()
	f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 3 })
	team, leader := f.open("alice")
	carol := f.join(team.ID, "carol")
	_, err := s.PaySeat(t.Context(), f.payWrite(leader, ""))
	require.NoError(t, err)
	tx, err := db.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback() })
	in := s.WithTx(tx)
	_, dave, err := in.JoinTeam(t.Context(), f.joinWrite(team.ID, "dave"))
	require.NoError(t, err)
	_, err = in.PaySeat(t.Context(), f.payWrite(dave, ""))
	require.NoError(t, err)
	return f, team, carol, tx
}

// TestPgJSONMatchesEncodingJSON runs the SQL that writes JSON strings and
// seat summaries on PostgreSQL against encoding/json, over awkward and
// random text and amounts (the seed is printed).
func TestPgJSONMatchesEncodingJSON(t *testing.T) {
	db := openPostgres(t)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	alphabet := []rune("aZ09-_.:<>&\"\\'/\u2028\u2029\u007fé中😀\t\n\r\b\f\x01\x1f ")
	text := func() string {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	str := `SELECT ` + sqlstore.PgJSONString("$1::text")
	sum := `SELECT ` + sqlstore.PgSeatSummary("x") + ` FROM (SELECT $1::text AS id, $2::text AS user_id, $3::text AS sku,
		$4::integer AS quantity, $5::numeric(20,4) AS amount, $6::text AS payment_ref, $7::boolean AS is_virtual, $8::text AS state) AS x`
	for i := range 300 {
		v := text()
		if i == 0 {
			v = awkward
		}
		var got string
		require.NoError(t, db.QueryRowContext(t.Context(), str, v).Scan(&got))
		want, err := json.Marshal(v)
		require.NoError(t, err)
		require.Equal(t, string(want), got, "string %q (seed %d)", v, seed)

		amount := decimal.New(rng.Int64N(10_000_000), -int32(rng.IntN(5)))
		stored := decimal.RequireFromString(amount.StringFixed(4)) // as read back from NUMERIC(20,4)
		ss := groupbuy.SeatSummary{
			SeatID: "s" + text(), UserID: text(), SKU: text(), Quantity: rng.IntN(100),
			Amount: stored, PaymentRef: text(), Virtual: rng.IntN(2) == 0, State: groupbuy.SeatConfirmed,
		}
		require.NoError(t, db.QueryRowContext(t.Context(), sum, ss.SeatID, ss.UserID, ss.SKU, ss.Quantity,
			amount.String(), ss.PaymentRef, ss.Virtual, string(ss.State)).Scan(&got))
		want, err = json.Marshal(ss)
		require.NoError(t, err)
		require.Equal(t, string(want), got, "summary %s (seed %d)", fmt.Sprint(ss), seed)
	}
}

// TestFillingPayUnusableEventID: a FillEventID that is no valid ID leaves
// the event to OnFill, and the payment still completes the team.
func TestFillingPayUnusableEventID(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s := newStore(t, db, d)
		f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 2 })
		team, leader := f.open("alice")
		bob := f.join(team.ID, "bob")
		_, err := s.PaySeat(t.Context(), fillWrite(f, leader, f.id("ev")))
		require.NoError(t, err)
		drain(t, s)
		id := f.id("ev")
		w := fillWrite(f, bob, id)
		w.FillEventID = func() string { return strings.Repeat("x", groupbuy.MaxIDLength+1) }
		n := s.RoundTrips()
		res, err := s.PaySeat(t.Context(), w)
		require.NoError(t, err)
		if d == sqlstore.Postgres {
			assert.Equal(t, int64(3), s.RoundTrips()-n, "the plain form: payment, seats read, completion")
		}
		checkFilled(t, s, res, team.ID, id, w.Now)
	})
}

// payOutcome is the outcome of a payment sent in the background.
type payOutcome struct {
	res groupbuy.PaySeatResult
	err error
}

// payWaitingForLock sends w through s in the background and returns once
// PostgreSQL shows the payment waiting for a lock (the team's row, which
// the caller's transaction holds); its outcome arrives on the channel.
func payWaitingForLock(t *testing.T, db *sql.DB, s *sqlstore.Store, w *groupbuy.PaySeatWrite) <-chan payOutcome {
	t.Helper()
	done := make(chan payOutcome, 1)
	go func() {
		res, err := s.PaySeat(context.Background(), w)
		done <- payOutcome{res, err}
	}()
	require.Eventually(t, func() bool {
		var waiting int
		err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND datname = current_database()
			AND query LIKE '%seats_paid = seats_paid + 1%'`).Scan(&waiting)
		return err == nil && waiting > 0
	}, 10*time.Second, 5*time.Millisecond, "the payment never waited for the team's lock")
	return done
}

// TestFillingPayAfterOtherPaid: a completing payment that waited for the
// team's lock while the other last seat was paid has that seat, reserved,
// in its snapshot; PostgreSQL re-checks it on its latest version, so the
// statement confirms it and completes the team in its one round trip.
func TestFillingPayAfterOtherPaid(t *testing.T) {
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
		drain(t, s)

		tx, err := db.BeginTx(t.Context(), nil)
		require.NoError(t, err)
		defer tx.Rollback()
		_, err = s.WithTx(tx).PaySeat(t.Context(), fillWrite(f, bob, f.id("ev")))
		require.NoError(t, err)

		payCompletingAfter(t, db, s, f, tx, team.ID, carol, 1, "one statement, Bob's payment confirmed on its latest version")
	})
}

// TestFillingPayThroughService drives the completing form through the
// Service: Match fills its team ID into JSON, the payment carries its
// idempotency record with the filled result, and its replay reports the
// fill.
func TestFillingPayThroughService(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		fillThroughService(t, newStore(t, db, d), d == sqlstore.Postgres)
	})
}

// TestFillingPayNotUTF8: on a PostgreSQL database whose encoding is not
// UTF8 the statements that write JSON still run (U+2028 and U+2029, which
// such a database cannot hold as characters, are left alone).
func TestFillingPayNotUTF8(t *testing.T) {
	main := openPostgres(t)
	name := "scsdk_ascii_" + strings.TrimSuffix(randomPrefix(), "_")
	_, err := main.ExecContext(t.Context(), `CREATE DATABASE `+name+` ENCODING 'SQL_ASCII' TEMPLATE template0`)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := main.ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
		assert.NoError(t, err)
	})
	u, err := url.Parse(os.Getenv("SCSDK_POSTGRES_DSN"))
	require.NoError(t, err)
	u.Path = "/" + name
	db := openAndPing(t, "pgx", u.String())
	fillThroughService(t, newStore(t, db, sqlstore.Postgres), true)
}

func fillThroughService(t *testing.T, s *sqlstore.Store, pg bool) {
	f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 2; c.ID = "camp<&>" })
	svc, err := groupbuy.New(s, groupbuy.Config{})
	require.NoError(t, err)
	ctx := t.Context()
	opened, err := svc.Open(ctx, groupbuy.OpenRequest{CampaignID: f.c.ID, UserID: "alice<&>", SKU: "sku"})
	require.NoError(t, err)
	matched, err := svc.Match(ctx, groupbuy.MatchRequest{CampaignID: f.c.ID, UserID: "bob&", SKU: "sku", Strategy: groupbuy.MatchFullest})
	require.NoError(t, err)
	require.Equal(t, opened.Team.ID, matched.Team.ID, "Match takes the open team")
	pay := func(st groupbuy.Seat, ref string) groupbuy.PaymentResult {
		r, err := svc.ConfirmPayment(ctx, groupbuy.PaymentRequest{TeamID: st.TeamID, SeatID: st.ID, PaymentRef: ref, Amount: st.Amount, Currency: st.Currency})
		require.NoError(t, err)
		return r
	}
	assert.False(t, pay(opened.Seat, "ref<a>").Filled)
	n := s.RoundTrips()
	filled := pay(matched.Seat, "ref<b>")
	require.True(t, filled.Filled)
	if pg {
		assert.Equal(t, int64(1), s.RoundTrips()-n, "the payment completes its team in one statement")
	}
	again := pay(matched.Seat, "ref<b>")
	assert.True(t, again.Filled, "the replay reports the fill")

	team, err := s.GetTeam(ctx, opened.Team.ID)
	require.NoError(t, err)
	seats, err := s.TeamSeats(ctx, team.ID)
	require.NoError(t, err)
	evs := drain(t, s)
	require.Equal(t, 1, topicCount(evs, groupbuy.TopicTeamSucceeded))
	for _, ev := range evs {
		switch ev.Topic {
		case groupbuy.TopicTeamSucceeded:
			want := groupbuy.TeamFilledEvent(ev.ID, &team, seats, "CNY", ev.CreatedAt)
			assert.Equal(t, string(want.Payload), string(ev.Payload))
		case groupbuy.TopicSeatReserved:
			var p groupbuy.SeatPayload
			require.NoError(t, json.Unmarshal(ev.Payload, &p))
			assert.Equal(t, team.ID, p.TeamID, "the reserved seat's event names its team")
		}
	}
}

// TestFillingPayCompletionConflict: when the statement that completes a
// filled team cannot store TeamSucceeded (its ID is taken), the payment
// stays committed, PaySeat reports the error, and the team is left
// forming and fully paid for ProcessDue, as with OnFill's events.
func TestFillingPayCompletionConflict(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		if d != sqlstore.Postgres {
			t.Skip("the completion in a statement of its own is PostgreSQL's")
		}
		s, prefix := newStorePrefixed(t, db, d)
		other, err := sqlstore.New(db, d, sqlstore.WithTablePrefix(prefix))
		require.NoError(t, err)
		f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 2 })
		team, leader := f.open("alice")
		bob := f.join(team.ID, "bob")
		first := fillWrite(f, leader, f.id("ev"))
		_, err = other.PaySeat(t.Context(), first) // s does not expect the fill
		require.NoError(t, err)
		w := fillWrite(f, bob, first.Events[0].ID) // taken: the completion cannot store it
		_, err = s.PaySeat(t.Context(), w)
		require.Error(t, err)
		got, err := s.GetTeam(t.Context(), team.ID)
		require.NoError(t, err)
		assert.Equal(t, groupbuy.TeamForming, got.State)
		assert.Equal(t, 2, got.SeatsPaid, "the payment committed in its own statement")
		due, err := s.DueTeams(t.Context(), t0.Add(time.Minute), 10)
		require.NoError(t, err)
		require.Len(t, due, 1, "DueTeams lists the fully paid forming team")
		assert.Equal(t, team.ID, due[0].ID)
	})
}

// payCompletingAfter sends seat's payment in the completing form while tx
// holds the team's lock, commits tx once the payment waits for it, and
// checks that the payment filled the team in trips round trips.
func payCompletingAfter(t *testing.T, db *sql.DB, s *sqlstore.Store, f *fixture, tx *sql.Tx, teamID string, seat groupbuy.Seat, trips int64, why string) {
	t.Helper()
	sqlstore.MarkLastPay(s, teamID)
	w := fillWrite(f, seat, f.id("ev"))
	n := s.RoundTrips()
	done := payWaitingForLock(t, db, s, w)
	require.NoError(t, tx.Commit())
	got := <-done
	require.NoError(t, got.err)
	assert.Equal(t, trips, s.RoundTrips()-n, why)
	checkFilled(t, s, got.res, teamID, w.FillEventID(), w.Now)
}

// TestFillingPayCompletionCountsSeats: the statement that completes a team
// a plain payment filled confirms exactly SeatsPaid seats or nothing. Here
// one of the seats the team counts as paid was put back to reserved by
// hand, so only two of its three are paid when the third payment fills it:
// the completion must refuse (its count of confirmed seats falls short of
// SeatsPaid, and the seats read afresh hold a reserved one), leaving the
// payment committed and the team forming and fully paid, for ProcessDue,
// never succeeded with a seat that is not confirmed and a TeamSucceeded
// that lists two seats of three. PostgreSQL's: MySQL and SQLite complete
// under the team's lock from the seats they confirm.
func TestFillingPayCompletionCountsSeats(t *testing.T) {
	db, d := openPostgres(t), sqlstore.Postgres
	s, prefix := newStorePrefixed(t, db, d)
	// The earlier payments go through another Store, so that s sends
	// the plain payment and completes the team in a statement of its own.
	payer, err := sqlstore.New(db, d, sqlstore.WithTablePrefix(prefix))
	require.NoError(t, err)
	f := newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 3 })
	team, leader := f.open("alice")
	bob, carol := f.join(team.ID, "bob"), f.join(team.ID, "carol")
	for _, st := range []groupbuy.Seat{leader, bob} {
		_, err := payer.PaySeat(t.Context(), fillWrite(f, st, f.id("ev")))
		require.NoError(t, err)
	}
	_, err = db.ExecContext(t.Context(), `UPDATE `+prefix+`seats SET state = 'reserved' WHERE id = $1`, bob.ID)
	require.NoError(t, err)
	drain(t, s)

	_, err = s.PaySeat(t.Context(), fillWrite(f, carol, f.id("ev")))
	require.Error(t, err, "the completion confirms 2 seats of a team that counts 3 paid")
	got, err := s.GetTeam(t.Context(), team.ID)
	require.NoError(t, err)
	assert.Equal(t, groupbuy.TeamForming, got.State)
	assert.Equal(t, 3, got.SeatsPaid, "the payment committed in its first step")
	seats, err := s.TeamSeats(t.Context(), team.ID)
	require.NoError(t, err)
	for _, st := range seats {
		assert.NotEqual(t, groupbuy.SeatConfirmed, st.State, st.UserID)
	}
	for _, ev := range drain(t, s) {
		assert.NotEqual(t, groupbuy.TopicTeamSucceeded, ev.Topic)
	}
	due, err := s.DueTeams(t.Context(), t0.Add(2*time.Minute), 10)
	require.NoError(t, err)
	require.Len(t, due, 1, "DueTeams lists the fully paid forming team")
	assert.Equal(t, team.ID, due[0].ID)
}
