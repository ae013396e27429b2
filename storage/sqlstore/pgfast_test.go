package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
)

// noDB is a connector that refuses to connect: building statements needs no
// database.
type noDB struct{}

func (noDB) Connect(context.Context) (driver.Conn, error) { return nil, errors.New("no database") }
func (noDB) Driver() driver.Driver                        { return nil }

// pgShapeCase is one statement shape with a function that builds its
// statement from values selected by v, so that two values of one shape can
// be compared.
type pgShapeCase struct {
	name  string
	cache bool // the shape's text is cached
	build func(s *Store, v int) (string, []any)
}

// pgShapeCases lists every shape of every single statement, and one of each
// beyond the cached number of events.
func pgShapeCases() []pgShapeCase {
	var out []pgShapeCase
	for events := 0; events <= pgCachedEvents+1; events++ {
		for _, idem := range []bool{false, true} {
			for _, filled := range []bool{false, true} {
				name := fmt.Sprintf("events=%d idem=%t filled=%t", events, idem, filled)
				cache := events <= pgCachedEvents
				out = append(out, pgShapeCase{"pay " + name, cache, func(s *Store, v int) (string, []any) {
					return s.pgPaySQL(payWrite(v, events, idem, filled), "")
				}})
				if events == 1 {
					out = append(out, pgShapeCase{"pay completing " + name, cache, func(s *Store, v int) (string, []any) {
						return s.pgPaySQL(payWrite(v, events, idem, filled), "fill-"+strconv.Itoa(v))
					}})
				}
				if filled {
					continue
				}
				out = append(out,
					pgShapeCase{"open " + name, cache, func(s *Store, v int) (string, []any) {
						w := openWrite(v, events, idem)
						return s.pgOpenSQL(w, &w.Team, &w.Leader)
					}},
					pgShapeCase{"join " + name, cache, func(s *Store, v int) (string, []any) {
						w := joinWrite(v, events, idem)
						return s.pgJoinSQL(w, &w.Seat)
					}},
				)
				for _, order := range []groupbuy.MatchStrategy{groupbuy.MatchFullest, groupbuy.MatchOldest, groupbuy.MatchRandom} {
					out = append(out, pgShapeCase{"match " + string(order) + " " + name, cache, func(s *Store, v int) (string, []any) {
						w := &groupbuy.MatchTeamWrite{JoinTeamWrite: *joinWrite(v, events, idem), Order: order, Exclude: "ex-" + strconv.Itoa(v)}
						w.Pick = uint64(v+1) * 0x9e3779b97f4a7c15
						w.Seat.TeamID = ""
						return s.pgMatchSQL(w, &w.Seat)
					}})
					// A match that may open: cached when the open writes
					// two events, as the Service's does.
					for _, openEvents := range []int{1, 2} {
						out = append(out, pgShapeCase{fmt.Sprintf("match %s or open (%d events) %s", order, openEvents, name), cache && openEvents == 2,
							func(s *Store, v int) (string, []any) {
								w := &groupbuy.MatchTeamWrite{JoinTeamWrite: *joinWrite(v, events, idem), Order: order, Exclude: "ex-" + strconv.Itoa(v)}
								w.Pick = uint64(v+1) * 0x9e3779b97f4a7c15
								w.Seat.TeamID = ""
								w.Open = openWrite(v, openEvents, idem)
								w.Open.Team.ID = "opened-" + strconv.Itoa(v)
								w.Open.Leader.ID, w.Open.Leader.TeamID = "leader-"+strconv.Itoa(v), w.Open.Team.ID
								return s.pgMatchSQL(w, &w.Seat)
							}})
					}
				}
				if idem {
					continue
				}
				out = append(out,
					pgShapeCase{"complete " + name, cache, func(s *Store, v int) (string, []any) {
						return s.pgCompleteSQL(shapeTime(v), "team-"+strconv.Itoa(v), 3+v, shapeEvents(v, events))
					}},
					pgShapeCase{"record " + name, cache, func(s *Store, v int) (string, []any) {
						return s.pgRecordSQL(shapeIdem(v), shapeEvents(v, events))
					}},
				)
			}
		}
	}
	// The completion of a filled team has one shape.
	out = append(out, pgShapeCase{"complete filled", true, func(s *Store, v int) (string, []any) {
		n := strconv.Itoa(v)
		return s.pgCompleteFilledSQL(shapeTime(v), "CNY"+n, "team-"+n, "seat-"+n, "fill-"+n)
	}})
	return out
}

// TestPgShapes: for every shape of every single statement, the text cached
// on the first call and the arguments of a later call are exactly what a
// fresh build of that call gives, whatever the values; and every argument
// has a placeholder, with one cast.
func TestPgShapes(t *testing.T) {
	db := sql.OpenDB(noDB{})
	t.Cleanup(func() { _ = db.Close() })
	fresh := func() *Store {
		s, err := New(db, Postgres, WithTablePrefix("shape_"))
		require.NoError(t, err)
		return s
	}
	s := fresh()
	for _, c := range pgShapeCases() {
		t.Run(c.name, func(t *testing.T) {
			first, _ := c.build(s, 0) // caches the shape's text (built from other values)
			assert.NotContains(t, first, "{p}")
			assert.Contains(t, first, "shape_")
			for v := 1; v <= 2; v++ {
				wantText, wantArgs := c.build(fresh(), v)
				gotText, gotArgs := c.build(s, v)
				require.Equal(t, wantText, gotText, "the cached text is the one built for these values")
				require.Equal(t, wantArgs, gotArgs, "the arguments of a cached shape are the ones built with the text")
				checkPlaceholders(t, gotText, len(gotArgs))
			}
			cached := false
			for i := range s.texts {
				for j := range s.texts[i] {
					for k := range s.texts[i][j] {
						if p := s.texts[i][j][k].Load(); p != nil && p.sql == first {
							cached = true
						}
					}
				}
			}
			assert.Equal(t, c.cache, cached, "cached")
		})
	}
}

var placeholderRE = regexp.MustCompile(`\$(\d+)(::[a-z]+)?`)

// checkPlaceholders checks that text uses each of n arguments, every time
// with the same cast.
func checkPlaceholders(t *testing.T, text string, n int) {
	t.Helper()
	casts := map[int]string{}
	for _, m := range placeholderRE.FindAllStringSubmatch(text, -1) {
		i, _ := strconv.Atoi(m[1])
		require.NotEmpty(t, m[2], "$%d has no cast", i)
		if c, ok := casts[i]; ok {
			require.Equal(t, c, m[2], "$%d is cast twice differently", i)
		}
		casts[i] = m[2]
	}
	require.Len(t, casts, n, "every argument has a placeholder")
	for i := 1; i <= n; i++ {
		require.Contains(t, casts, i)
	}
	require.False(t, strings.Contains(text, "?"), "no ? placeholder")
}

// The values below differ with v, and v = 2 has zero times (NULL
// arguments) and no per-user limits, so that a text depending on a value
// rather than on the shape shows.

func shapeTime(v int) time.Time {
	if v == 2 {
		return time.Time{}
	}
	return time.Date(2025, 1, 2, 3, 4, 5, v*1000, time.UTC)
}

func shapeEvents(v, n int) []storage.Event {
	evs := make([]storage.Event, n)
	for i := range evs {
		evs[i] = storage.Event{
			ID: fmt.Sprintf("ev-%d-%d", v, i), Topic: "topic", Key: fmt.Sprintf("key-%d-%d", v, i),
			Payload: []byte(`{"v":` + strconv.Itoa(v) + `}`), CreatedAt: shapeTime(v).Add(time.Duration(i) * time.Second),
		}
	}
	return evs
}

func shapeIdem(v int) *groupbuy.IdempotencyRecord {
	return &groupbuy.IdempotencyRecord{
		Scope: "scope", Key: "key-" + strconv.Itoa(v), Fingerprint: "fp-" + strconv.Itoa(v),
		Result: []byte(`{"r":` + strconv.Itoa(v) + `}`), CreatedAt: shapeTime(v),
	}
}

func shapeSeat(v int) groupbuy.Seat {
	price := decimal.New(int64(1990+v), -2)
	return groupbuy.Seat{
		ID: "seat-" + strconv.Itoa(v), TeamID: "team-" + strconv.Itoa(v), CampaignID: "camp-" + strconv.Itoa(v),
		UserID: "user-" + strconv.Itoa(v), SKU: "sku", Quantity: 1 + v, UnitPrice: price, Amount: price.Mul(decimal.NewFromInt(int64(1 + v))),
		Currency: "CNY", State: groupbuy.SeatReserved, Leader: v == 0, ReservedAt: shapeTime(v), ReservedUntil: shapeTime(v).Add(time.Minute),
		PaymentRef: "", Version: int64(1 + v),
	}
}

func openWrite(v, events int, idem bool) *groupbuy.OpenTeamWrite {
	w := &groupbuy.OpenTeamWrite{
		Team: groupbuy.Team{
			ID: "team-" + strconv.Itoa(v), CampaignID: "camp-" + strconv.Itoa(v), LeaderID: "user-" + strconv.Itoa(v), Capacity: 3 + v,
			State: groupbuy.TeamForming, OpenedAt: shapeTime(v), ExpiresAt: shapeTime(v).Add(time.Hour), Version: int64(1 + v),
		},
		Leader: shapeSeat(v), Now: shapeTime(v), Events: shapeEvents(v, events), MaxOpened: 2 - v,
	}
	if v == 1 {
		w.Leader.State = groupbuy.SeatReleased // no active_user: NULL
	}
	if idem {
		w.Idem = shapeIdem(v)
	}
	return w
}

func joinWrite(v, events int, idem bool) *groupbuy.JoinTeamWrite {
	w := &groupbuy.JoinTeamWrite{Seat: shapeSeat(v), Now: shapeTime(v), Events: shapeEvents(v, events), MaxJoined: 2 - v}
	if idem {
		w.Idem = shapeIdem(v)
	}
	return w
}

func payWrite(v, events int, idem, filled bool) *groupbuy.PaySeatWrite {
	st := shapeSeat(v)
	w := &groupbuy.PaySeatWrite{
		TeamID: st.TeamID, SeatID: st.ID, PaymentRef: "pay-" + strconv.Itoa(v), Amount: st.Amount, Currency: st.Currency,
		Now: shapeTime(v), Events: shapeEvents(v, events),
	}
	if idem {
		w.Idem = shapeIdem(v)
	}
	if filled {
		w.FilledResult = []byte(`{"filled":` + strconv.Itoa(v) + `}`)
	}
	return w
}

// TestHoleIsOneByte: the statements spell groupbuy.TeamIDHole as chr(n),
// which holds one character only.
func TestHoleIsOneByte(t *testing.T) {
	if len(groupbuy.TeamIDHole) != 1 || groupbuy.TeamIDHole[0] >= 0x20 {
		t.Fatalf("TeamIDHole %q: the PostgreSQL statements need one control character", groupbuy.TeamIDHole)
	}
}

// TestCheckMatchBounds: a match (groupbuy.CheckMatchTeamWrite) whose event key would outgrow its column
// once the longest team ID fills its holes, or whose Exclude is longer than
// an ID, is refused before anything is sent; the same write within bounds
// passes.
func TestCheckMatchBounds(t *testing.T) {
	valid := func() *groupbuy.MatchTeamWrite {
		w := &groupbuy.MatchTeamWrite{JoinTeamWrite: *joinWrite(0, 1, false), Order: groupbuy.MatchFullest}
		w.Seat.TeamID = ""
		return w
	}
	require.NoError(t, groupbuy.CheckMatchTeamWrite(valid()))
	fits := strings.Repeat("k", groupbuy.MaxEventKeyLength-(groupbuy.MaxIDLength-1)-1) + groupbuy.TeamIDHole
	for _, c := range []struct {
		name  string
		edit  func(w *groupbuy.MatchTeamWrite)
		field string
	}{
		{"key full once filled", func(w *groupbuy.MatchTeamWrite) { w.Events[0].Key = fits }, ""},
		{"key over once filled", func(w *groupbuy.MatchTeamWrite) { w.Events[0].Key = "k" + fits }, "Events[0].Key"},
		{"exclude an ID long", func(w *groupbuy.MatchTeamWrite) { w.Exclude = strings.Repeat("x", groupbuy.MaxIDLength) }, ""},
		{"exclude over", func(w *groupbuy.MatchTeamWrite) { w.Exclude = strings.Repeat("x", groupbuy.MaxIDLength+1) }, "Exclude"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := valid()
			c.edit(w)
			err := groupbuy.CheckMatchTeamWrite(w)
			if c.field == "" {
				require.NoError(t, err)
				return
			}
			var ve *storage.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, c.field, ve.Field)
		})
	}
}

// stateErr is a driver error with a SQLSTATE.
type stateErr string

func (e stateErr) Error() string    { return "sqlstate " + string(e) }
func (e stateErr) SQLState() string { return string(e) }

// TestCompletingFormFallbacks: the errors on which a payment's completing
// form gives way to the plain form, and the ones it does not (a guard
// failure, a retryable abort), wrapped as the driver and database/sql
// would.
func TestCompletingFormFallbacks(t *testing.T) {
	for code, want := range map[string]bool{
		"2201E": true,  // the stale snapshot, on purpose
		"0A000": true,  // feature not supported
		"42P01": true,  // undefined table: the plain form reports it too
		"42601": true,  // syntax error
		"54001": true,  // statement too complex
		"22012": false, // a guard's division by zero
		"23505": false, // a unique key: a guard
		"40001": false, // serialization failure: retried as it is
		"40P01": false, // deadlock: retried as it is
	} {
		err := fmt.Errorf("query: %w", stateErr(code))
		assert.Equal(t, want, isStaleFill(err) || isUnplannable(err), code)
	}
	assert.False(t, isUnplannable(errors.New("no state")))
}
