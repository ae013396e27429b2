package sqlstore_test

import (
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// TestUpgradeFromEveryVersion: for every older version N of the dialect's
// schema, a fresh prefix migrated to N only gets data through the Store's
// own writes (SQL where today's writes need a later schema), read back
// through the Store; Migrate then brings it to the latest version. The
// same reads, by the same Store (its prepared statements and the
// driver's cached ones made before the DDL), return the same data, the
// migrations that change data did (PostgreSQL 0005's full_at), writes
// work on the result, and its tables, columns, indexes and constraints
// equal a fresh install's. The version table starts as the releases
// before migration checksums created it, and ends with every checksum.
//
// Today's Store reads and writes columns that later migrations add
// (laterColumns: seats.refund_attempt, teams.seat_rows): while it seeds
// and reads before the upgrade, the test adds each such column as its
// migration does, and drops it again before Migrate, so that the upgrade
// finds the rows as an older release left them (seats in refund states,
// forming teams with released seats) and the migrations set the seats'
// attempts and the forming teams' seat rows.
func TestUpgradeFromEveryVersion(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		_, prefix := newStorePrefixed(t, db, d)
		want := schemaOf(t, db, d, prefix)
		versions := migrationVersions(t, d)
		require.Greater(t, len(want), 30, "the schema listing found the tables")
		for _, v := range versions[:len(versions)-1] {
			t.Run(fmt.Sprintf("from%04d", v), func(t *testing.T) {
				upgradeFrom(t, db, d, v, versions, want)
			})
		}
	})
}

func upgradeFrom(t *testing.T, db *sql.DB, d sqlstore.Dialect, v int, versions []int, want []string) {
	ctx := t.Context()
	s, prefix := newStoreAt(t, db, d, v)
	require.Equal(t, slices.Index(versions, v)+1, countVersions(t, db, prefix), "migrated to %d only", v)
	// As the release that migrated it left it: no checksums.
	usePreviousVersionTable(t, db, d, prefix)

	var added []string // the columns added for today's Store
	for _, c := range laterColumns {
		if v < c.since[d] {
			_, err := db.ExecContext(ctx, "ALTER TABLE "+prefix+c.table+" ADD COLUMN "+c.column+" INTEGER NOT NULL DEFAULT 0")
			require.NoError(t, err, "today's Store needs %s.%s", c.table, c.column)
			added = append(added, c.column)
		}
	}
	// Today's CreateCode counts each code in ref_code_counts (PostgreSQL
	// 0010, MySQL 0005, SQLite 0007): before it, the seeding counts in a
	// stand-in, dropped before Migrate, so that the migration finds the
	// codes as an older release left them and counts them itself.
	hasCounts := v >= map[sqlstore.Dialect]int{sqlstore.Postgres: 10, sqlstore.MySQL: 5, sqlstore.SQLite: 7}[d]
	if !hasCounts {
		_, err := db.ExecContext(ctx, "CREATE TABLE "+prefix+"ref_code_counts (programme_id VARCHAR(128) NOT NULL, user_id VARCHAR(128) NOT NULL, issued INTEGER NOT NULL, PRIMARY KEY (programme_id, user_id))")
		require.NoError(t, err, "today's Store needs the table")
	}
	u := seedAt(t, db, d, s, prefix, v)
	before := u.read(t)
	var events int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+prefix+"outbox").Scan(&events))
	for _, c := range laterColumns {
		if v < c.since[d] {
			_, err := db.ExecContext(ctx, "ALTER TABLE "+prefix+c.table+" DROP COLUMN "+c.column)
			require.NoError(t, err, "the %s as a release before %s left them", c.table, c.column)
		}
	}
	if slices.Contains(added, "seat_rows") {
		// The seat rows migration counts the forming teams' rows; the
		// closed teams, which take no joins, keep 0.
		for _, id := range []string{u.teamA, u.teamB, u.teamC, u.teamD, u.teamE, u.teamF} {
			if team := before["team "+id].(groupbuy.Team); team.State != groupbuy.TeamForming {
				team.SeatRows = 0
				before["team "+id] = team
			}
		}
	}
	if !hasCounts {
		_, err := db.ExecContext(ctx, "DROP TABLE "+prefix+"ref_code_counts")
		require.NoError(t, err, "the codes as a release before the count left them")
	}

	require.NoError(t, s.Migrate(ctx))

	assert.Equal(t, len(versions), countVersions(t, db, prefix), "every migration recorded")
	assert.Equal(t, migrationChecksums(t, d), recordedChecksums(t, db, d, prefix), "with its checksum")
	assert.Equal(t, want, schemaOf(t, db, d, prefix), "schema upgraded from %d equals a fresh install's", v)
	after := u.read(t)
	assert.Equal(t, before, after, "the same reads return the same data")
	// The refund attempt migration: a seat whose refund was requested
	// before it is at attempt 1, any other at 0.
	for _, id := range []string{u.teamA, u.teamB, u.teamC, u.teamD, u.teamE, u.teamF} {
		for _, st := range after["seats "+id].([]groupbuy.Seat) {
			switch st.State {
			case groupbuy.SeatRefundRequested, groupbuy.SeatRefundFailed, groupbuy.SeatRefunded:
				assert.Equal(t, 1, st.RefundAttempt, "seat %s, %s", st.ID, st.State)
			default:
				assert.Zero(t, st.RefundAttempt, "seat %s, %s", st.ID, st.State)
			}
		}
	}
	// The seat rows migration: a forming team's count is its seats.
	seatRows := map[string]int{u.teamA: 2, u.teamB: 1}
	if d == sqlstore.Postgres {
		seatRows[u.teamD] = 3 // left forming
	}
	for id, n := range seatRows {
		team := after["team "+id].(groupbuy.Team)
		assert.Equal(t, groupbuy.TeamForming, team.State)
		assert.Equal(t, n, team.SeatRows, "team %s", id)
		assert.Len(t, after["seats "+id], n)
	}
	var states []groupbuy.SeatState
	for _, id := range []string{u.teamE, u.teamF} {
		for _, st := range after["seats "+id].([]groupbuy.Seat) {
			states = append(states, st.State)
		}
	}
	assert.ElementsMatch(t, []groupbuy.SeatState{groupbuy.SeatRefundFailed, groupbuy.SeatRefunded, groupbuy.SeatReleased, groupbuy.SeatRefundRequested}, states)
	// A host's report of attempt 1 matches such a seat; its retry is
	// attempt 2.
	ivy, err := s.UpdateRefund(ctx, &groupbuy.RefundWrite{SeatID: u.ivy, From: groupbuy.SeatRefundFailed, To: groupbuy.SeatRefundRequested, Attempt: 1, Now: t0})
	require.NoError(t, err)
	assert.Equal(t, 2, ivy.RefundAttempt)

	// The data of every migration reads as today's code expects.
	assert.Equal(t, []string{u.teamA, u.teamB}, teamIDs(after["open fullest"].([]groupbuy.Team)))
	assert.Equal(t, []string{u.teamA, u.teamB}, teamIDs(after["open oldest"].([]groupbuy.Team)))
	var due []string
	for _, st := range after["due reservations"].([]groupbuy.Seat) {
		due = append(due, st.UserID)
	}
	assert.ElementsMatch(t, []string{"bob", "dave"}, due)
	dueTeams, err := s.DueTeams(ctx, t0.Add(time.Minute), 10)
	require.NoError(t, err)
	if d == sqlstore.Postgres {
		// Left forming and fully paid: 0005 marked it when it was older.
		assert.Equal(t, []string{u.teamD}, teamIDs(dueTeams))
	} else {
		assert.Empty(t, dueTeams)
	}
	got := drain(t, s)
	assert.Len(t, got, events, "every outbox event is claimed")

	// Writes on the upgraded schema: fill team A.
	carol := u.f.join(u.teamA, "carol")
	for _, st := range []groupbuy.Seat{u.bob, carol} {
		_, err := s.PaySeat(ctx, u.f.payWrite(st, ""))
		require.NoError(t, err)
	}
	team, err := s.GetTeam(ctx, u.teamA)
	require.NoError(t, err)
	assert.Equal(t, groupbuy.TeamSucceeded, team.State)
	assert.Equal(t, 3, team.SeatsPaid)
	if v >= 2 {
		svc := u.referral(t)
		a, err := svc.Attribute(ctx, "p", "o2", "a", t0)
		require.NoError(t, err)
		assert.Len(t, a.Beneficiaries(), 2)
		// The code c was issued before counts the default limit down.
		for i := range referral.DefaultMaxCodesPerUser - 1 {
			_, err := svc.IssueCode(ctx, "p", "c", "")
			require.NoError(t, err, "code %d after the upgrade", i+2)
		}
		_, err = svc.IssueCode(ctx, "p", "c", "")
		assert.ErrorIs(t, err, referral.ErrCodeLimit, "the code issued before the upgrade counts")
	}
}

// laterColumns are the columns today's Store reads and writes that a
// migration after the first adds, with that migration's version per
// dialect: an older schema lacks them.
var laterColumns = []struct {
	table, column string
	since         map[sqlstore.Dialect]int
}{
	{"seats", "refund_attempt", map[sqlstore.Dialect]int{sqlstore.Postgres: 8, sqlstore.MySQL: 4, sqlstore.SQLite: 5}},
	{"teams", "seat_rows", map[sqlstore.Dialect]int{sqlstore.Postgres: 11, sqlstore.MySQL: 6, sqlstore.SQLite: 8}},
}

// upgrade is the data written at the older version.
type upgrade struct {
	s          *sqlstore.Store
	f          *fixture
	v          int
	d          sqlstore.Dialect
	teamA      string // alice (paid) and bob (reserved): 2 of 3 seats
	teamB      string // dave (reserved): 1 of 3
	teamC      string // erin's, failed, her seat released
	teamD      string // 3 of 3 paid; on PostgreSQL left forming (a crash before the completion), else succeeded
	teamE      string // failed: ivy's refund failed, jay's settled, kim's seat released
	teamF      string // cancelled: lea's refund requested
	ivy        string // ivy's seat
	bob        groupbuy.Seat
	payKey     string // PaySeat's idempotency key, when it ran through the Store
	outcomeKey string
}

// seedAt writes u's data on a schema at version v.
func seedAt(t *testing.T, db *sql.DB, d sqlstore.Dialect, s *sqlstore.Store, prefix string, v int) *upgrade {
	ctx := t.Context()
	u := &upgrade{s: s, v: v, d: d, f: newFixture(t, s, func(c *groupbuy.Campaign) { c.TeamSize = 3 })}
	f := u.f
	// Today's PostgreSQL PaySeat writes full_at (0005); before it, a
	// payment is written as that release's first step left it.
	storePays := d != sqlstore.Postgres || v >= 5
	pay := func(st groupbuy.Seat, key string) {
		t.Helper()
		if storePays {
			_, err := s.PaySeat(ctx, f.payWrite(st, key))
			require.NoError(t, err)
			return
		}
		_, err := db.ExecContext(ctx, `UPDATE `+prefix+`seats SET state = 'paid', paid_at = $2, payment_ref = $3, version = version + 1 WHERE id = $1`,
			st.ID, t0.Add(time.Minute), "pay-"+st.ID)
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, `UPDATE `+prefix+`teams SET seats_paid = seats_paid + 1, version = version + 1 WHERE id = $1`, st.TeamID)
		require.NoError(t, err)
	}

	team, alice := f.open("alice")
	u.teamA = team.ID
	u.bob = f.join(team.ID, "bob")
	if storePays {
		u.payKey = "pay-alice"
	}
	pay(alice, u.payKey)

	team, _ = f.open("dave")
	u.teamB = team.ID

	team, erin := f.open("erin")
	u.teamC = team.ID
	failed := f.event(groupbuy.TopicTeamFailed, "failed:"+team.ID)
	require.NoError(t, s.CloseTeam(ctx, &groupbuy.CloseTeamWrite{TeamID: team.ID, Version: team.Version, State: groupbuy.TeamFailed,
		Now: t0.Add(time.Minute), Release: []string{erin.ID}, Events: []storage.Event{failed}}))

	team, frank := f.open("frank")
	u.teamD = team.ID
	gina, hank := f.join(team.ID, "gina"), f.join(team.ID, "hank")
	pay(frank, "")
	pay(gina, "")
	if d == sqlstore.Postgres && storePays {
		// The completion fails (its event's ID is taken): the payment
		// stays committed, the team forming, as after a crash.
		w := f.payWrite(hank, "")
		w.OnFill = func(*groupbuy.Team, []groupbuy.Seat) []storage.Event {
			ev := f.event(groupbuy.TopicTeamSucceeded, "gb:"+u.teamD+":succeeded")
			ev.ID = failed.ID
			return []storage.Event{ev}
		}
		_, err := s.PaySeat(ctx, w)
		require.Error(t, err)
	} else {
		pay(hank, "")
	}

	// Refunds: a failed team with seats in every refund state.
	team, ivy := f.open("ivy")
	u.teamE, u.ivy = team.ID, ivy.ID
	jay, kim := f.join(team.ID, "jay"), f.join(team.ID, "kim")
	pay(ivy, "")
	pay(jay, "")
	team, err := s.GetTeam(ctx, u.teamE)
	require.NoError(t, err)
	require.NoError(t, s.CloseTeam(ctx, &groupbuy.CloseTeamWrite{TeamID: team.ID, Version: team.Version, State: groupbuy.TeamFailed,
		Now: t0.Add(time.Minute), Release: []string{kim.ID}, Refund: []string{ivy.ID, jay.ID}}))
	_, err = s.UpdateRefund(ctx, &groupbuy.RefundWrite{SeatID: ivy.ID, From: groupbuy.SeatRefundRequested, To: groupbuy.SeatRefundFailed, Attempt: 1, Now: t0})
	require.NoError(t, err)
	_, err = s.UpdateRefund(ctx, &groupbuy.RefundWrite{SeatID: jay.ID, From: groupbuy.SeatRefundRequested, To: groupbuy.SeatRefunded, Attempt: 1, Now: t0})
	require.NoError(t, err)
	team, lea := f.open("lea")
	u.teamF = team.ID
	pay(lea, "")
	team, err = s.GetTeam(ctx, u.teamF)
	require.NoError(t, err)
	require.NoError(t, s.CloseTeam(ctx, &groupbuy.CloseTeamWrite{TeamID: team.ID, Version: team.Version, State: groupbuy.TeamCancelled,
		Now: t0.Add(time.Minute), Refund: []string{lea.ID}}))

	u.outcomeKey = "outcome-" + u.teamC
	require.NoError(t, s.RecordOutcome(ctx, &groupbuy.IdempotencyRecord{Scope: "groupbuy.close", Key: u.outcomeKey,
		Fingerprint: "fp", Result: []byte(`{"ok":true}`), CreatedAt: t0}, []storage.Event{f.event(groupbuy.TopicTeamFailed, "outcome")}))

	if v >= 2 {
		svc := u.referral(t)
		_, err := svc.CreateProgramme(ctx, referral.Programme{
			ID: "p", Policy: referral.PolicyChina, Levels: 2, LevelRates: []float64{0.1, 0.05}, BindMode: referral.BindFirstTouch,
			SelfPurchase: referral.SelfPurchaseReferrer, Frozen: referral.FrozenSkipLevel, Approval: referral.ApproveAuto,
		})
		require.NoError(t, err)
		for _, user := range []string{"a", "b", "c"} {
			_, err := svc.Apply(ctx, "p", user)
			require.NoError(t, err)
		}
		_, err = svc.IssueCode(ctx, "p", "c", "poster")
		require.NoError(t, err)
		for _, p := range [][2]string{{"a", "b"}, {"b", "c"}} {
			_, err := svc.Bind(ctx, referral.BindRequest{ProgrammeID: "p", UserID: p[0], ReferrerID: p[1], Source: referral.SourceLink})
			require.NoError(t, err)
		}
		_, err = svc.Attribute(ctx, "p", "o1", "a", t0)
		require.NoError(t, err)
	}
	return u
}

func (u *upgrade) referral(t *testing.T) *referral.Service {
	svc, err := referral.New(u.s, referral.Config{Now: func() time.Time { return t0 }})
	require.NoError(t, err)
	return svc
}

// read reads u's data through the Store, each result under a name.
func (u *upgrade) read(t *testing.T) map[string]any {
	ctx, s := t.Context(), u.s
	out := map[string]any{}
	add := func(name string, v any, err error) {
		t.Helper()
		require.NoError(t, err, name)
		out[name] = v
	}
	c, err := s.GetCampaign(ctx, u.f.c.ID)
	add("campaign", c, err)
	for _, id := range []string{u.teamA, u.teamB, u.teamC, u.teamD, u.teamE, u.teamF} {
		team, err := s.GetTeam(ctx, id)
		add("team "+id, team, err)
		seats, err := s.TeamSeats(ctx, id)
		add("seats "+id, seats, err)
	}
	for _, order := range []groupbuy.MatchStrategy{groupbuy.MatchFullest, groupbuy.MatchOldest} {
		teams, err := s.OpenTeams(ctx, u.f.c.ID, t0.Add(time.Minute), order, 10)
		add("open "+string(order), teams, err)
	}
	seats, err := s.UserSeats(ctx, "alice", groupbuy.SeatPosition{}, 10)
	add("alice's seats", seats, err)
	seats, err = s.DueReservations(ctx, t0.Add(time.Hour), 10)
	add("due reservations", seats, err)
	if u.d != sqlstore.Postgres || u.v >= 5 { // DueTeams reads full_at there
		teams, err := s.DueTeams(ctx, t0.Add(48*time.Hour), 10)
		add("due teams", teams, err)
	}
	if u.payKey != "" {
		rec, err := s.GetIdempotency(ctx, "groupbuy.pay", u.payKey)
		add("pay record", rec, err)
	}
	rec, err := s.GetIdempotency(ctx, "groupbuy.close", u.outcomeKey)
	add("outcome record", rec, err)
	if u.v >= 2 {
		p, err := s.GetProgramme(ctx, "p")
		add("programme", p, err)
		codes, err := s.UserCodes(ctx, "p", "c", referral.CodePosition{}, referral.MaxListLimit)
		add("codes", codes, err)
		dist, err := s.GetDistributor(ctx, "p", "a")
		add("distributor", dist, err)
		b, err := s.GetBinding(ctx, "p", "a")
		add("binding", b, err)
		h, err := s.BindingHistory(ctx, "p", "a", 0, referral.MaxListLimit)
		add("history", h, err)
		chain, err := s.Chain(ctx, "p", "a", 3)
		add("chain", chain, err)
		down, err := s.Downline(ctx, "p", "c", 2)
		add("downline", down, err)
		a, err := s.GetAttribution(ctx, "p", "o1")
		add("attribution", a, err)
	}
	return out
}

func teamIDs(teams []groupbuy.Team) []string {
	var out []string
	for _, t := range teams {
		out = append(out, t.ID)
	}
	return out
}

// schemaOf lists the tables, columns, indexes and constraints of a prefix,
// with the prefix replaced by "P_", sorted.
func schemaOf(t *testing.T, db *sql.DB, d sqlstore.Dialect, prefix string) []string {
	n := strconv.Itoa(len(prefix))
	var qs []string
	switch d {
	case sqlstore.Postgres:
		mine := ` c.relnamespace = current_schema()::regnamespace AND left(c.relname, ` + n + `) = $1`
		qs = []string{
			// Relations (tables, indexes, sequences) and their options (fillfactor).
			`SELECT 'rel ' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(array_to_string(c.reloptions, ','), '')
			 FROM pg_class c WHERE` + mine,
			// Columns numbered by their place among the live ones: the
			// upgrade test drops and adds one, which moves its attnum.
			`SELECT 'col ' || c.relname || ' ' || row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' ||
			    a.attnotnull::text || ' ' || coalesce(co.collname, '') || ' ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '') || ' ' || a.attidentity::text
			 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
			 LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 0
			 LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
			 WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND` + mine,
			`SELECT 'idx ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE` + mine,
			`SELECT 'con ' || c.relname || ' ' || x.conname || ' ' || pg_get_constraintdef(x.oid)
			 FROM pg_constraint x JOIN pg_class c ON c.oid = x.conrelid WHERE` + mine,
		}
	case sqlstore.MySQL:
		mine := ` TABLE_SCHEMA = DATABASE() AND LEFT(TABLE_NAME, ` + n + `) = ?`
		qs = []string{
			`SELECT CONCAT_WS(' ', 'table', TABLE_NAME, ENGINE, TABLE_COLLATION, CREATE_OPTIONS) FROM information_schema.TABLES WHERE` + mine,
			`SELECT CONCAT_WS(' ', 'col', TABLE_NAME, ORDINAL_POSITION, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE,
			    COALESCE(COLLATION_NAME, '-'), COALESCE(COLUMN_DEFAULT, '-'), EXTRA)
			 FROM information_schema.COLUMNS WHERE` + mine,
			`SELECT CONCAT_WS(' ', 'idx', TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, COALESCE(COLLATION, '-'),
			    COALESCE(SUB_PART, '-'), INDEX_TYPE)
			 FROM information_schema.STATISTICS WHERE` + mine,
			`SELECT CONCAT_WS(' ', 'con', TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE) FROM information_schema.TABLE_CONSTRAINTS WHERE` + mine,
		}
	default:
		// The statements as SQLite stores them, and its own indexes
		// (UNIQUE, PRIMARY KEY).
		qs = []string{`SELECT type || ' ' || name || ' ' || tbl_name || ' ' || coalesce(sql, '') FROM sqlite_master
			WHERE substr(tbl_name, 1, ` + n + `) = ?`}
	}
	var out []string
	for _, q := range qs {
		rows, err := db.QueryContext(t.Context(), q, prefix)
		require.NoError(t, err)
		for rows.Next() {
			var line string
			require.NoError(t, rows.Scan(&line))
			out = append(out, strings.ReplaceAll(strings.Join(strings.Fields(line), " "), prefix, "P_"))
		}
		require.NoError(t, rows.Err())
		require.NoError(t, rows.Close())
	}
	slices.Sort(out)
	return out
}
