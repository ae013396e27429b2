package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/internal/jsonw"
	"github.com/socialcommerce/sdk/storage"
)

// PostgreSQL's single-statement commands. Each is one data-modifying CTE
// sent in autocommit: one round trip, one commit. The package doc explains
// why each part is safe under READ COMMITTED.

// pgq builds a PostgreSQL statement: its arguments and, unless the text of
// its shape is cached already, its text. The same code does both, so the
// cached text and the arguments of a later call can never disagree on the
// order of the arguments. Every placeholder carries its cast, and an
// argument used twice is used with the same cast, so PostgreSQL never
// deduces two types for one parameter.
type pgq struct {
	build  bool   // write the text; else only collect the arguments
	b      []byte // the text, with {p} for the table prefix
	args   []any
	cached *pgText                 // the shape's text, when !build
	slot   *atomic.Pointer[pgText] // where the shape's text is cached, or nil
	// team, when set, is the column holding the ID of the team a match
	// picked: pgEvents and pgIdemInsert fill groupbuy.TeamIDHole with it.
	team string
}

// ph is the placeholder of an argument: $n::typ.
type ph struct {
	n   int
	typ string
}

func (q *pgq) add(v any, typ string) ph {
	q.args = append(q.args, v)
	return ph{len(q.args), typ}
}

func (q *pgq) text(v string) ph  { return q.add(v, "text") }
func (q *pgq) bytes(v []byte) ph { return q.add(v, "bytea") }
func (q *pgq) int(v int) ph      { return q.add(v, "integer") }
func (q *pgq) int64(v int64) ph  { return q.add(v, "bigint") }
func (q *pgq) bool(v bool) ph    { return q.add(v, "boolean") }
func (s *Store) pgTime(q *pgq, t time.Time) ph {
	return q.add(s.t(t), "timestamptz")
}

// sql appends parts to the text: strings as they are, ints in decimal and
// placeholders as $n::typ. When only the arguments are collected it does
// nothing; its operands, the placeholders among them, are evaluated all the
// same, left to right, which is what numbers the arguments.
func (q *pgq) sql(parts ...any) {
	if !q.build {
		return
	}
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			q.b = append(q.b, p...)
		case ph:
			q.b = append(q.b, '$')
			q.b = strconv.AppendInt(q.b, int64(p.n), 10)
			q.b = append(q.b, "::"...)
			q.b = append(q.b, p.typ...)
		case int:
			q.b = strconv.AppendInt(q.b, int64(p), 10)
		default:
			// Not formatted, so that parts stay on the caller's stack.
			panic("sqlstore: a statement's text takes strings, ints and placeholders")
		}
	}
}

// The statements of the single-statement commands, for their shapes.
const (
	pgOpenStmt = iota
	pgJoinStmt
	pgPayStmt
	pgCompleteStmt
	pgRecordStmt
	pgMatchFullestStmt
	pgMatchOldestStmt
	pgPayFillStmt
	pgCompleteFilledStmt
	pgMatchRandomStmt
	pgStmts
)

// pgCachedEvents is the most events a statement of a cached shape inserts;
// a statement with more builds its text on every call.
const pgCachedEvents = 8

// pgText is the final text of a statement's shape (prefix in place) and how
// many arguments it takes.
type pgText struct {
	sql   string
	nargs int
}

// pgTexts caches the text of each statement shape: which statement, how
// many events it inserts (0..pgCachedEvents), whether it carries an
// idempotency record (1) and its variants (2, 4, 8): for a payment, a
// result for the filled case; for an open or a join, the per-user counter;
// for a match, the counter of joins (2), whether it may open a team (8)
// and that open's counter (4). A shape's text is built on its first use;
// two racing first uses build the same text.
type pgTexts [pgStmts][pgCachedEvents + 1][16]atomic.Pointer[pgText]

// Bits of a shape (pgTexts).
const (
	pgIdemBit = 1 << iota
	pgVariantBit
	pgVariant2Bit
	pgVariant3Bit
)

// pgStart starts a statement of a shape: the text is built only when the
// shape's text is not cached (or not cacheable).
func (s *Store) pgStart(stmt, events int, idem, variant bool) pgq {
	var bits int
	if idem {
		bits |= pgIdemBit
	}
	if variant {
		bits |= pgVariantBit
	}
	return s.pgStartBits(stmt, events, bits, true)
}

// pgStartBits is pgStart for a shape given by its bits; a shape that is
// not cacheable builds its text on every call.
func (s *Store) pgStartBits(stmt, events, bits int, cacheable bool) pgq {
	var q pgq
	if s.texts != nil && cacheable && events <= pgCachedEvents {
		q.slot = &s.texts[stmt][events][bits]
		if q.cached = q.slot.Load(); q.cached != nil {
			q.args = make([]any, 0, q.cached.nargs)
			return q
		}
	}
	q.build = true
	q.b = make([]byte, 0, 2048)
	return q
}

// pgDone returns the final text and the arguments, caching a text it built.
func (s *Store) pgDone(q *pgq) (string, []any) {
	if !q.build {
		return q.cached.sql, q.args
	}
	t := &pgText{sql: strings.ReplaceAll(string(q.b), "{p}", s.prefix), nargs: len(q.args)}
	if q.slot != nil {
		q.slot.Store(t)
	}
	return t.sql, q.args
}

// Column lists qualified by the aliases the statements use.
var (
	teamColsT  = qualify(teamCols, "t")
	teamColsD  = qualify(teamCols, "d")
	seatColsS  = qualify(seatCols, "s")
	seatColsST = qualify(seatCols, "st")
)

// qualify prefixes each column of a column list with alias.
func qualify(cols, alias string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

// holeKey writes v, a text (a placeholder or a column), with every
// groupbuy.TeamIDHole in it replaced by the picked team's ID when q has a
// team; as it is otherwise.
func (q *pgq) holeKey(v any) {
	if q.team == "" {
		q.sql(v)
		return
	}
	q.sql(`replace(`, v, `, `+pgHole+`, `, q.team, `)`)
}

// pgHole is groupbuy.TeamIDHole, a single control character, in SQL.
var pgHole = "chr(" + strconv.Itoa(int(groupbuy.TeamIDHole[0])) + ")"

// holeJSON is holeKey for bytea v holding JSON: the hole takes the ID as
// the content of a JSON string, escaped as encoding/json escapes it.
func (q *pgq) holeJSON(v any) {
	if q.team == "" {
		q.sql(v)
		return
	}
	j := pgJSONString(q.team)
	q.sql(`convert_to(replace(convert_from(`, v, `, 'UTF8'), `+pgHole+`, substr(`+j+`, 2, length(`+j+`) - 2)), 'UTF8')`)
}

// pgEvents writes a CTE that inserts events in order, for each row of
// source, or nothing when there are none. One event, the common case,
// needs no VALUES list to order: a plain select list keeps the statement's
// plan smaller (no sort, no join), which PostgreSQL sets up on every run.
func (s *Store) pgEvents(q *pgq, evs []storage.Event, source string) {
	s.pgEventsAs(q, "o", evs, source)
}

// pgEventsAs is pgEvents with the CTE named name.
func (s *Store) pgEventsAs(q *pgq, name string, evs []storage.Event, source string) {
	if len(evs) == 0 {
		return
	}
	q.sql(`, ` + name + ` AS (INSERT INTO {p}outbox (id, topic, event_key, payload, created_at)
		SELECT `)
	if len(evs) == 1 {
		ev := &evs[0]
		q.sql(q.text(ev.ID), ", ", q.text(ev.Topic), ", ")
		q.holeKey(q.text(ev.Key))
		q.sql(", ")
		q.holeJSON(q.bytes(ev.Payload))
		q.sql(", ", s.pgTime(q, ev.CreatedAt), ` FROM `, source, `)`)
		return
	}
	q.sql(`v.id, v.topic, `)
	q.holeKey("v.k")
	q.sql(`, `)
	q.holeJSON("v.p")
	q.sql(`, v.c FROM `, source, `, (VALUES `)
	for i := range evs {
		ev := &evs[i]
		sep := ", ("
		if i == 0 {
			sep = "("
		}
		q.sql(sep, i, ", ", q.text(ev.ID), ", ", q.text(ev.Topic), ", ", q.text(ev.Key), ", ", q.bytes(ev.Payload), ", ", s.pgTime(q, ev.CreatedAt), ")")
	}
	q.sql(`) AS v(n, id, topic, k, p, c) ORDER BY v.n)`)
}

// pgIdemGuard writes the NOT EXISTS guard of an idempotency record, if any,
// and returns the placeholders of its scope and key for pgIdemInsert.
func (s *Store) pgIdemGuard(q *pgq, rec *groupbuy.IdempotencyRecord) (scope, key ph) {
	if rec == nil {
		return ph{}, ph{}
	}
	scope, key = q.text(rec.Scope), q.text(rec.Key)
	q.sql(` AND NOT EXISTS (SELECT 1 FROM {p}idempotency WHERE scope = `, scope, ` AND idem_key = `, key, `)`)
	return scope, key
}

// pgIdemInsert writes the CTE that inserts an idempotency record for each
// row of source, if there is a record. The stored result is the record's,
// or filled when filled is set and the condition fill holds.
func (s *Store) pgIdemInsert(q *pgq, rec *groupbuy.IdempotencyRecord, scope, key ph, source string, filled []byte, fill string) {
	s.pgIdemInsertAs(q, "i", rec, scope, key, source, filled, fill)
}

// pgIdemInsertAs is pgIdemInsert with the CTE named name.
func (s *Store) pgIdemInsertAs(q *pgq, name string, rec *groupbuy.IdempotencyRecord, scope, key ph, source string, filled []byte, fill string) {
	if rec == nil {
		return
	}
	q.sql(`, `+name+` AS (INSERT INTO {p}idempotency (scope, idem_key, fingerprint, result, created_at)
		SELECT `, scope, `, `, key, `, `, q.text(rec.Fingerprint), `, `)
	if filled != nil {
		q.sql(`CASE WHEN `, fill, ` THEN `, q.bytes(filled), ` ELSE `, q.bytes(rec.Result), ` END`)
	} else {
		q.holeJSON(q.bytes(rec.Result))
	}
	q.sql(`, `, s.pgTime(q, rec.CreatedAt), ` FROM `, source, `)`)
}

// pgOne runs one single-statement command in autocommit, rerunning it when
// PostgreSQL aborts it as retryable (under WithTx: once, under a savepoint
// of the host's transaction). A statement that matched no row, hit a
// unique key or divided by zero on purpose becomes a guard failure named
// what+id (joined only then: most commands succeed); scan reads its one
// result row.
func (s *Store) pgOne(ctx context.Context, what, id, q string, args []any, scan func(*sql.Rows) error) error {
	return s.inStmt(ctx, func(r run) error { return s.pgOneOn(ctx, r, what, id, q, args, scan) })
}

// pgOneOn is pgOne's statement on r, with no savepoint or retry of its own.
func (s *Store) pgOneOn(ctx context.Context, r run, what, id, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := r.queryText(ctx, q, args...)
	if err != nil {
		return s.pgGuard(err, what, id)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return s.pgGuard(err, what, id)
		}
		return guard(what + id)
	}
	if err := scan(rows); err != nil {
		return s.pgGuard(err, what, id)
	}
	rows.Close()
	return s.pgGuard(rows.Err(), what, id)
}

func (s *Store) pgGuard(err error, what, id string) error {
	if err != nil && (isDivisionByZero(err) || s.isUnique(err)) {
		return guard(what + id)
	}
	return err
}

// pgOpen: the campaign check (c), the guarded per-user counter (u, only
// when the campaign limits teams opened: see countSeat), then the team, its
// leader seat, the events and the idempotency record, each depending on the
// part before it, so that a failed guard inserts nothing.
func (s *Store) pgOpen(ctx context.Context, w *groupbuy.OpenTeamWrite, team *groupbuy.Team, leader *groupbuy.Seat) error {
	q, args := s.pgOpenSQL(w, team, leader)
	// No row (pgOne's guard failure) when a guard failed: s is empty then.
	return s.pgOne(ctx, "open team ", team.ID, q, args, func(rows *sql.Rows) error {
		var n int
		return rows.Scan(&n)
	})
}

// pgOpenSQL returns pgOpen's statement and its arguments.
func (s *Store) pgOpenSQL(w *groupbuy.OpenTeamWrite, team *groupbuy.Team, leader *groupbuy.Seat) (string, []any) {
	q := s.pgStart(pgOpenStmt, len(w.Events), w.Idem != nil, w.MaxOpened > 0)
	camp, now := q.text(team.CampaignID), s.pgTime(&q, w.Now)
	q.sql(`WITH c AS (
		SELECT id FROM {p}campaigns WHERE id = `, camp, ` AND status = 'active'
		AND (starts_at IS NULL OR starts_at <= `, now, `) AND ends_at > `, now)
	scope, key := s.pgIdemGuard(&q, w.Idem)
	q.sql(`
	)`)
	s.pgOpenParts(&q, w, team, leader, camp, scope, key, "c", "")
	q.sql(`
	SELECT 1 FROM s`)
	return s.pgDone(&q)
}

// pgOpenParts writes the CTEs that open w's team for each row of from
// (whose id is the campaign's), each named with prefix p and depending on
// the one before it, so that a failed guard inserts nothing: the guarded
// per-user counter (u, only when the campaign limits teams opened: see
// countSeat), the team (t), its leader seat (s), the events (o) and the
// record (i, under scope and key).
func (s *Store) pgOpenParts(q *pgq, w *groupbuy.OpenTeamWrite, team *groupbuy.Team, leader *groupbuy.Seat, camp, scope, key ph, from, p string) {
	source := from
	if w.MaxOpened > 0 {
		source = p + "u"
		q.sql(`, `+source+` AS (
		INSERT INTO {p}user_limits AS ul (campaign_id, user_id, opened, joined)
		SELECT `+from+`.id, `, q.text(leader.UserID), `, 1, 0 FROM `+from+`
		ON CONFLICT (campaign_id, user_id) DO UPDATE SET opened = ul.opened + 1
		WHERE ul.opened < `, q.int(w.MaxOpened), `
		RETURNING 1 AS ok
	)`)
	}
	q.sql(`, `+p+`t AS (
		INSERT INTO {p}teams (`+teamCols+`)
		SELECT `, q.text(team.ID), `, `, camp, `, `, q.text(team.LeaderID), `, `, q.int(team.Capacity), `, 1, 0, 0, 'forming', `,
		s.pgTime(q, team.OpenedAt), `, `, s.pgTime(q, team.ExpiresAt), `, NULL, `, q.int64(team.Version), `, 1 FROM `, source, `
		RETURNING id
	), `+p+`s AS (
		INSERT INTO {p}seats (`+seatInsertCols+`, active_user)
		SELECT `)
	s.pgSeatValues(q, leader)
	q.sql(` FROM ` + p + `t
		RETURNING id
	)`)
	s.pgEventsAs(q, p+"o", w.Events, p+"t")
	s.pgIdemInsertAs(q, p+"i", w.Idem, scope, key, p+"t", nil, "")
}

// pgSeatValues writes the select list inserting a seat as given. Its
// active_user is an argument, NULL or not, so that the text is the same
// for every seat.
func (s *Store) pgSeatValues(q *pgq, st *groupbuy.Seat) {
	q.sql(q.text(st.ID), ", ", q.text(st.TeamID), ", ", q.text(st.CampaignID), ", ", q.text(st.UserID), ", ", q.text(st.SKU), ", ", q.int(st.Quantity), ", ",
		q.text(money(st.UnitPrice)), "::numeric, ", q.text(money(st.Amount)), "::numeric, ", q.text(st.Currency), ", ", q.text(string(st.State)), ", ",
		q.bool(st.Leader), ", ", q.bool(st.Virtual), ", ", s.pgTime(q, st.ReservedAt), ", ", s.pgTime(q, st.ReservedUntil), ", ", s.pgTime(q, st.PaidAt), ", ",
		q.text(st.PaymentRef), ", ", q.int64(st.Version), ", ", q.add(activeUser(st), "text"))
}

// pgJoin: the guarded team UPDATE (t) locks the team row and is re-checked
// on its latest version; the per-user counter (u, only when the campaign
// limits teams joined: see countSeat) depends on it and is guarded by its
// own ON CONFLICT ... WHERE, which also sees the latest row; the seat, the
// events and the idempotency record depend on both. When t
// updated the team but u's guard failed, the final SELECT divides by zero
// on purpose, so that PostgreSQL rolls the statement back.
func (s *Store) pgJoin(ctx context.Context, w *groupbuy.JoinTeamWrite, team *groupbuy.Team, seat *groupbuy.Seat) error {
	q, args := s.pgJoinSQL(w, seat)
	return s.pgOne(ctx, "join team ", seat.TeamID, q, args, func(rows *sql.Rows) error {
		var r struct {
			t         groupbuy.Team
			until     time.Time
			check     sql.NullInt64
			status    sql.NullString
			active, n int
			dest      [teamColN + 5]any
		}
		if err := rows.Scan(append(s.teamDest(r.dest[:0], &r.t), s.ts(&r.until), &r.check, &r.status, &r.active, &r.n)...); err != nil {
			return err
		}
		if !r.check.Valid {
			return pgJoinRefusal(w, &r.t, r.status, r.active, r.n)
		}
		*team = r.t
		seat.ReservedUntil = r.until
		return nil
	})
}

// pgJoinRefusal is the diagnosis of a join whose team update matched no
// row, from what its own statement read of the team (t), the campaign's
// status, the user's active seats in the team and the records under w's
// key, as of the statement's snapshot: the refusal those show, so that a
// join refused for a full or closed team costs one round trip. When they
// show none (a change committed after the snapshot, or a record of w's
// key, whose replay needs the record) it returns a guard failure, and
// command's diagnosis reads the state afresh. Either way the refusal
// reported held at one instant near the write: the snapshot's here, the
// later read's there.
func pgJoinRefusal(w *groupbuy.JoinTeamWrite, t *groupbuy.Team, status sql.NullString, active, records int) error {
	if records > 0 {
		return guard("join team " + w.Seat.TeamID)
	}
	f := joinFacts{campaignID: t.CampaignID, state: string(t.State), status: status, expiresAt: t.ExpiresAt,
		taken: t.SeatsTaken, capacity: t.Capacity, seatRows: t.SeatRows, active: active}
	if err := f.refusal(w); err != nil {
		return err
	}
	return guard("join team " + w.Seat.TeamID)
}

// pgJoinSQL returns pgJoin's statement and its arguments.
func (s *Store) pgJoinSQL(w *groupbuy.JoinTeamWrite, seat *groupbuy.Seat) (string, []any) {
	q := s.pgStart(pgJoinStmt, len(w.Events), w.Idem != nil, w.MaxJoined > 0)
	camp, now, team := q.text(seat.CampaignID), s.pgTime(&q, w.Now), q.text(seat.TeamID)
	q.sql(`WITH t AS (
		UPDATE {p}teams SET seats_taken = seats_taken + 1, seat_rows = seat_rows + 1, version = version + 1
		WHERE id = `, team, byKeyCase, `campaign_id = `, camp, ` AND state = 'forming' AND expires_at > `, now, ` AND seats_taken < capacity AND `, seatRowsLeftT, byKeyEnd, `
		AND EXISTS (SELECT 1 FROM {p}campaigns WHERE id = `, camp, ` AND status = 'active')`)
	scope, key := s.pgIdemGuard(&q, w.Idem)
	user := q.text(seat.UserID)
	q.sql(`
		RETURNING ` + teamCols)
	s.pgJoinSeat(&q, w, seat, user)
	s.pgEvents(&q, w.Events, "s")
	s.pgIdemInsert(&q, w.Idem, scope, key, "s", nil, "")
	// When t updated nothing, the second branch reads what explains why,
	// as of the statement's snapshot (see pgJoin).
	q.sql(`
	SELECT `, teamColsT, `, s.reserved_until, `, pgMissing("s.reserved_until"), `, NULL::text, 0::bigint, 0::bigint
	FROM t LEFT JOIN s ON true
	UNION ALL
	SELECT `, teamColsD, `, NULL, NULL, c.status,
		(SELECT COUNT(*) FROM {p}seats st WHERE st.team_id = d.id AND st.active_user = `, user, `), `)
	if w.Idem != nil {
		q.sql(`(SELECT COUNT(*) FROM {p}idempotency WHERE scope = `, scope, ` AND idem_key = `, key, `)`)
	} else {
		q.sql(`0`)
	}
	q.sql(`
	FROM {p}teams d LEFT JOIN {p}campaigns c ON c.id = d.campaign_id
	WHERE d.id = `, team, ` AND NOT EXISTS (SELECT 1 FROM t)`)
	return s.pgDone(&q)
}

// pgJoinSeat writes the parts of a join that follow its team UPDATE t: the
// per-user counter u (only when the campaign limits joins: see countSeat)
// and the seat s, which returns its reserved_until and team_id. user is
// the placeholder of the seat's user.
func (s *Store) pgJoinSeat(q *pgq, w *groupbuy.JoinTeamWrite, seat *groupbuy.Seat, user ph) {
	source := "t"
	if w.MaxJoined > 0 {
		source = "t, u"
		q.sql(`
	), u AS (
		INSERT INTO {p}user_limits AS ul (campaign_id, user_id, opened, joined)
		SELECT t.campaign_id, `, user, `, 0, 1 FROM t
		ON CONFLICT (campaign_id, user_id) DO UPDATE SET joined = ul.joined + 1
		WHERE ul.joined < `, q.int(w.MaxJoined), `
		RETURNING 1 AS ok`)
	}
	q.sql(`
	), s AS (
		INSERT INTO {p}seats (`+seatInsertCols+`, active_user)
		SELECT `, q.text(seat.ID), `, t.id, t.campaign_id, `, user, `, `, q.text(seat.SKU), `, `, q.int(seat.Quantity), `, `,
		q.text(money(seat.UnitPrice)), `::numeric, `, q.text(money(seat.Amount)), `::numeric, `, q.text(seat.Currency), `,
		'reserved', false, false, `, s.pgTime(q, seat.ReservedAt), `, LEAST(`, s.pgTime(q, seat.ReservedUntil), `, t.expires_at), NULL, `,
		q.text(seat.PaymentRef), `, `, q.int64(seat.Version), `, `, user, `
		FROM `, source, `
		RETURNING reserved_until, team_id
	)`)
}

// pgPay: the guarded team UPDATE (t) comes first, so the team row is locked
// before the seat; the guarded seat UPDATE (s) depends on it and is
// re-checked on the seat's latest version; the events and the idempotency
// record depend on s. When t updated the team but s's guard failed, the
// final SELECT divides by zero on purpose and the statement rolls back.
//
// When lastPays expects this payment to fill the team, and w lets the
// store build OnFill's event, the statement completes the team too
// (pgPayFill), and falls back to the plain form when its snapshot was
// stale. The plain form never completes the team: its snapshot may miss
// seats that other payments committed while it waited for the team's
// lock. When it makes SeatsPaid reach Capacity, pgFill completes the team
// in a new statement.
//
// Under WithTx the payment and the completion that follows it run under
// one savepoint, so that a completion that fails takes the payment back
// with it and leaves the host's transaction as it was (in autocommit the
// payment stays committed; see pgFill). The payment's statement takes no
// savepoint of its own then: the same three statements as any other
// command (SAVEPOINT, the statement, RELEASE) when it completes nothing.
func (s *Store) pgPay(ctx context.Context, w *groupbuy.PaySeatWrite, res *groupbuy.PaySeatResult) error {
	if s.tx == nil {
		return s.pgPayOn(ctx, run{}, w, res)
	}
	return s.inHostTx(ctx, func(r run) error { return s.pgPayOn(ctx, r, w, res) })
}

// pgPayOn is pgPay; host is the host's transaction, under pgPay's
// savepoint, or the zero run in autocommit.
func (s *Store) pgPayOn(ctx context.Context, host run, w *groupbuy.PaySeatWrite, res *groupbuy.PaySeatResult) error {
	pay := func(q string, args []any, scan func(*sql.Rows) error) error {
		if host.tx != nil {
			return s.pgOneOn(ctx, host, "pay seat ", w.SeatID, q, args, scan)
		}
		return s.pgOne(ctx, "pay seat ", w.SeatID, q, args, scan)
	}
	fillID := ""
	if w.FillEventID != nil && len(w.Events) == 1 && s.lastPays.take(w.TeamID) {
		// An unusable ID leaves the event to OnFill, whose events are
		// checked like any others.
		if id := w.FillEventID(); idProblem(id) == "" {
			fillID = id
		}
	}
	q, args := s.pgPaySQL(w, fillID)
	var r payRow
	dest := append(s.seatDest(s.teamDest(r.dest[:0], &r.team), &r.seat), &r.check)
	if fillID != "" {
		dest = append(dest, &r.fill)
	}
	err := pay(q, args, func(rows *sql.Rows) error {
		return rows.Scan(dest...)
	})
	unused := "" // a fill event ID not stored yet, for pgFill
	if fillID != "" && (isStaleFill(err) || isUnplannable(err)) {
		// The statement's snapshot lacked a seat of the team it filled
		// (or the database could not run the completing form): pay
		// without completing, then complete in a statement of its own.
		if host.tx != nil {
			// The failed statement aborted the host's transaction; the
			// savepoint, taken just before it, makes it usable again.
			if _, err := host.exec(ctx, "ROLLBACK TO SAVEPOINT scsdk_write"); err != nil {
				return err
			}
		}
		unused = fillID
		q, args = s.pgPaySQL(w, "")
		dest = dest[:len(dest)-1]
		err = pay(q, args, func(rows *sql.Rows) error {
			return rows.Scan(dest...)
		})
	}
	if err != nil {
		return err
	}
	if r.team.SeatsPaid == r.team.Capacity-1 {
		s.lastPays.add(w.TeamID)
	}
	if r.team.State == groupbuy.TeamSucceeded {
		*res = groupbuy.PaySeatResult{Team: r.team, Seat: r.seat, Filled: true}
		return nil
	}
	return s.pgFill(ctx, w, res, r.team, r.seat, unused)
}

// lastPays remembers the teams that a payment through this Store left one
// payment from full, so that the next payment of such a team sends the
// statement that also completes it (pgPayFill). That statement's larger
// plan costs every payment that does not fill more than it saves on the
// one that does, so the other payments send the plain one. A miss costs
// only speed: a payment that fills its team with the plain statement
// completes it in one more (pgFill); one sent with the larger statement
// that does not fill is just a payment. Teams that never get their last
// payment are forgotten when the set outgrows lastPaysMax.
type lastPays struct {
	mu    sync.Mutex
	teams map[string]struct{}
}

// lastPaysMax bounds lastPays: at 64 bytes or so an entry, a few hundred
// kB at most.
const lastPaysMax = 4096

func (l *lastPays) add(teamID string) {
	l.mu.Lock()
	if l.teams == nil || len(l.teams) >= lastPaysMax {
		l.teams = make(map[string]struct{}, 64)
	}
	l.teams[strings.Clone(teamID)] = struct{}{} // not the caller's buffer
	l.mu.Unlock()
}

// take reports whether teamID was one payment from full, forgetting it.
func (l *lastPays) take(teamID string) bool {
	l.mu.Lock()
	_, ok := l.teams[teamID]
	if ok {
		delete(l.teams, teamID)
	}
	l.mu.Unlock()
	return ok
}

// payRow is the row of the payment statement: the team, the paid seat,
// the guard's check and the completion's, with the scan destinations.
type payRow struct {
	team  groupbuy.Team
	seat  groupbuy.Seat
	check sql.NullInt64
	fill  sql.NullFloat64
	dest  [teamColN + seatColN + 2]any
}

// pgPaySQL returns pgPay's statement and its arguments. With a fillID the
// statement also completes the team when it fills it (see pgPayFill);
// w then carries exactly one event.
func (s *Store) pgPaySQL(w *groupbuy.PaySeatWrite, fillID string) (string, []any) {
	stmt := pgPayStmt
	if fillID != "" {
		stmt = pgPayFillStmt
	}
	q := s.pgStart(stmt, len(w.Events), w.Idem != nil, w.Idem != nil && w.FilledResult != nil)
	now := s.pgTime(&q, w.Now)
	q.sql(`WITH t AS (
		UPDATE {p}teams SET seats_paid = seats_paid + 1, version = version + 1,
			full_at = CASE WHEN seats_paid + 1 >= capacity THEN `, now, ` ELSE full_at END`)
	if fillID != "" {
		q.sql(`,
			state = CASE WHEN seats_paid + 1 >= capacity THEN 'succeeded' ELSE state END,
			closed_at = CASE WHEN seats_paid + 1 >= capacity THEN `, now, ` ELSE closed_at END`)
	}
	seatID := q.text(w.SeatID)
	q.sql(`
		WHERE id = `, q.text(w.TeamID), byKeyCase, `state = 'forming' AND expires_at > `, now, ` AND seats_paid < capacity`, byKeyEnd)
	scope, key := s.pgIdemGuard(&q, w.Idem)
	q.sql(`
		RETURNING ` + teamCols + `
	), s AS (
		UPDATE {p}seats AS st SET `)
	if fillID != "" {
		q.sql(`state = CASE WHEN t.seats_paid >= t.capacity THEN 'confirmed' ELSE 'paid' END,
			version = st.version + CASE WHEN t.seats_paid >= t.capacity THEN 2 ELSE 1 END`)
	} else {
		q.sql(`state = 'paid', version = st.version + 1`)
	}
	q.sql(`, paid_at = `, now, `, payment_ref = `, q.text(w.PaymentRef), `
		FROM t
		WHERE st.id = `, seatID, byKeyCase, `st.team_id = t.id AND st.state = 'reserved' AND st.reserved_until > `, now,
		` AND st.amount = `, q.text(money(w.Amount)), `::numeric AND st.currency = `, q.text(w.Currency), ` AND NOT st.is_virtual`, byKeyEnd, `
		RETURNING `, seatColsST, `
	)`)
	if fillID != "" {
		s.pgPayFill(&q, w, fillID, seatID, now)
	} else {
		s.pgEvents(&q, w.Events, "s")
	}
	s.pgIdemInsert(&q, w.Idem, scope, key, "s, t", w.FilledResult, "t.seats_paid >= t.capacity")
	q.sql(`
	SELECT `, teamColsT, `, `, seatColsS, `, `, pgMissing("s.id"))
	if fillID != "" {
		// ln(0) fails with its own code (isStaleFill) only where s
		// matched, so a guard failure is never taken for a stale snapshot.
		q.sql(`,
		ln((s.id IS NULL OR t.seats_paid < t.capacity OR (f.n = t.seats_paid AND f.unconfirmed = 0))::integer)
	FROM t LEFT JOIN s ON true CROSS JOIN f`)
	} else {
		q.sql(`
	FROM t LEFT JOIN s ON true`)
	}
	return s.pgDone(&q)
}

// pgPayFill writes the parts of a payment that completes the team it
// fills, after t and s. c confirms the team's other paid seats: it scans
// them in the statement's snapshot and PostgreSQL re-checks each on its
// latest version, so seats paid while this payment waited for the team's
// lock are confirmed too; a seat inserted after the snapshot is missed,
// and the count f.n then falls short of SeatsPaid and the statement fails
// (isStaleFill). f builds the confirmed seats' summaries in TeamSeats
// order, and o inserts the payment's event and, when the team filled,
// groupbuy.TeamFilledEvent's, written in SQL with the same bytes, in this
// order.
func (s *Store) pgPayFill(q *pgq, w *groupbuy.PaySeatWrite, fillID string, seatID, now ph) {
	q.sql(`, c AS (
		UPDATE {p}seats AS st SET state = CASE WHEN st.state = 'paid' THEN 'confirmed' ELSE st.state END,
			version = st.version + (st.state = 'paid')::integer
		FROM t
		WHERE t.seats_paid >= t.capacity AND st.team_id = t.id AND st.id <> `, seatID, ` AND st.state IN ('reserved', 'paid')
		RETURNING `, seatColsST, `
	), f AS (
		SELECT count(*) FILTER (WHERE x.state = 'confirmed') AS n,
			count(*) FILTER (WHERE x.state <> 'confirmed') AS unconfirmed,
			`, pgSeatSummaries(), ` FILTER (WHERE x.state = 'confirmed') AS seats
		FROM (SELECT * FROM s UNION ALL SELECT * FROM c) AS x
	), o AS (INSERT INTO {p}outbox (id, topic, event_key, payload, created_at)
		SELECT v.id, v.topic, v.k, v.p, v.c FROM (
			SELECT 1 AS n, `)
	ev := &w.Events[0]
	q.sql(q.text(ev.ID), ` AS id, `, q.text(ev.Topic), ` AS topic, `, q.text(ev.Key), ` AS k, `, q.bytes(ev.Payload), ` AS p, `,
		s.pgTime(q, ev.CreatedAt), ` AS c FROM s
			UNION ALL
			SELECT 2, `)
	pgFilledEvent(q, fillID, w.Currency, now)
	q.sql(` WHERE t.seats_paid >= t.capacity
		) AS v ORDER BY v.n)`)
}

// pgFilledEvent writes the select list and FROM of groupbuy.TeamFilledEvent
// for team t and its confirmed seats' summaries f.seats, in TeamSeats
// order: ID, topic, key, payload (encoding/json's bytes, built in SQL) and
// creation time.
func pgFilledEvent(q *pgq, id, currency string, now ph) {
	q.sql(q.text(id), `, `, q.text(groupbuy.TopicTeamSucceeded), `, 'gb:' || t.id || ':succeeded',
		convert_to('{"team_id":' || `, pgJSONString("t.id"), ` || ',"campaign_id":' || `, pgJSONString("t.campaign_id"),
		` || ',"state":"succeeded","reason":"filled","capacity":' || t.capacity || ',"virtual_seats":' || t.virtual_seats
		|| `, q.text(string(jsonw.String([]byte(`,"currency":`), currency))+`,"seats":[`), ` || f.seats || ']}', 'UTF8'), `, now, `
		FROM t, f`)
}

// pgSeatSummaries is the aggregate of the summaries of the seats of alias
// x (pgSeatSummary), joined by commas in TeamSeats order.
func pgSeatSummaries() string {
	return `string_agg(` + pgSeatSummary("x") + `, ',' ORDER BY x.is_virtual, x.reserved_at, x.id)`
}

// pgSeatSummary is the JSON of groupbuy.SeatSummary for the seat columns
// of alias a, as encoding/json writes it: omitempty fields left out when
// empty, the amount as decimal.Decimal writes it (no trailing zeros).
func pgSeatSummary(a string) string {
	c := func(col string) string { return a + "." + col }
	opt := func(name, col string) string {
		return `CASE WHEN ` + c(col) + ` = '' THEN '' ELSE ',"` + name + `":' || ` + pgJSONString(c(col)) + ` END`
	}
	return `'{"seat_id":' || ` + pgJSONString(c("id")) + ` || ` + opt("user_id", "user_id") + ` || ` + opt("sku", "sku") +
		` || ',"quantity":' || ` + c("quantity") + ` || ',"amount":"' || trim_scale(` + c("amount") + `) || '"' || ` +
		opt("payment_ref", "payment_ref") + ` || CASE WHEN ` + c("is_virtual") + ` THEN ',"virtual":true' ELSE '' END || ',"state":' || ` +
		pgJSONString(c("state")) + ` || '}'`
}

// pgJSONString is the JSON string of text x (SQL) as encoding/json writes
// it: to_json escapes as Go does (quote, backslash, the short escapes,
// \u00xx for other control characters) but for Go's HTML-safe escapes of
// <, > and & and its escapes of U+2028 and U+2029, added here. Escape
// string literals (E'...') keep their backslashes whatever
// standard_conforming_strings says. U+2028 and U+2029 are matched by
// regular expression escapes, not by chr(8232), which PostgreSQL folds at
// plan time and which fails in a database whose encoding is not UTF8 (there
// the two characters are left as they are). Invalid UTF-8, which Go
// replaces, cannot be stored in a UTF8 database.
func pgJSONString(x string) string {
	return `regexp_replace(regexp_replace(replace(replace(replace(to_json(` + x + `)::text, '<', E'\\u003c'), '>', E'\\u003e'), '&', E'\\u0026'), E'\\u2028', E'\\\\u2028', 'g'), E'\\u2029', E'\\\\u2029', 'g')`
}

// pgMissing is the last column of a statement whose dependent part (col
// from a LEFT JOIN) must have matched when its first part did: it divides
// by zero on a row where col is NULL, so PostgreSQL rolls the statement
// back. The divisor is a column, so it is never folded at plan time; a
// per-row test, so the statement needs no aggregate over its parts.
func pgMissing(col string) string {
	return "1 / (" + col + " IS NOT NULL)::integer"
}

// pgFill records the result of the payment statement and, when it made the
// team fully paid, completes the team in a new statement, whose snapshot
// holds every payment of the team: each committed before this payment took
// the team's lock, and none can follow, the team being fully paid. With a
// usable fill event ID (fillID, one the completing form did not store, or
// w's) that statement builds TeamFilledEvent itself (pgCompleteFilled);
// otherwise the seats are read and OnFill's events built from them
// (pgCompleteFrom), as also when the former finds the seats not final.
func (s *Store) pgFill(ctx context.Context, w *groupbuy.PaySeatWrite, res *groupbuy.PaySeatResult, t groupbuy.Team, seat groupbuy.Seat, fillID string) error {
	*res = groupbuy.PaySeatResult{Team: t, Seat: seat}
	if t.SeatsPaid < t.Capacity {
		return nil
	}
	res.Filled = true
	if fillID == "" && w.FillEventID != nil {
		if id := w.FillEventID(); idProblem(id) == "" {
			fillID = id
		}
	}
	if fillID != "" {
		done, err := s.pgCompleteFilled(ctx, w, res, t, seat, fillID)
		switch {
		case err == nil && done:
			return nil
		case err == nil:
			return s.pgCompletedElsewhere(ctx, res, t, seat)
		case !errors.Is(err, errStaleSnapshot) && !isUnplannable(err):
			return fmt.Errorf("sqlstore: seat %s paid, completing team %s: %w", w.SeatID, t.ID, err)
		}
		// Not final after all, or not for this database: read the seats
		// and complete from them.
	}
	seats, err := s.seats(ctx, s.reader(), `SELECT `+seatCols+` FROM {p}seats WHERE team_id = ?`+seatOrder, t.ID)
	var done completed
	if err == nil {
		// Were the seats not final after all (nothing known makes them
		// so), the error leaves the team forming and fully paid, and
		// ProcessDue completes it.
		done, err = s.pgCompleteFrom(ctx, w, t, seat, seats)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: seat %s paid, completing team %s: %w", w.SeatID, t.ID, err)
	}
	if done.team.ID != "" {
		res.Team = done.team
		if i := slices.IndexFunc(done.seats, func(st groupbuy.Seat) bool { return st.ID == seat.ID }); i >= 0 {
			res.Seat = done.seats[i]
		}
		return nil
	}
	return s.pgCompletedElsewhere(ctx, res, t, seat)
}

// pgCompletedElsewhere reports a team that someone else (ProcessDue)
// completed after this payment filled it, as it is now.
func (s *Store) pgCompletedElsewhere(ctx context.Context, res *groupbuy.PaySeatResult, t groupbuy.Team, seat groupbuy.Seat) error {
	r := s.reader()
	var err error
	if res.Team, err = s.getTeam(ctx, r, t.ID); err != nil {
		return err
	}
	res.Seat, err = s.getSeat(ctx, r, seat.ID)
	return err
}

// pgCompleteFilled completes team t, which the payment of seat filled, in
// one statement that builds groupbuy.TeamFilledEvent in SQL: the team's
// guarded UPDATE to succeeded, the confirmation of its paid seats, the
// event from the seats confirmed. The statement starts after the payment
// committed (under WithTx: after the payment's statement, in the same
// transaction, whose later statements see it; under REPEATABLE READ a
// payment committed since the snapshot would have failed this one's team
// UPDATE), so its snapshot holds every payment of the team; it divides
// by zero should it confirm another number of seats than the team counts
// (errStaleSnapshot). On success it sets res to the team and seat as
// stored; done is false when the team was completed by someone else
// first.
func (s *Store) pgCompleteFilled(ctx context.Context, w *groupbuy.PaySeatWrite, res *groupbuy.PaySeatResult, t groupbuy.Team, seat groupbuy.Seat, fillID string) (done bool, err error) {
	text, args := s.pgCompleteFilledSQL(w.Now, w.Currency, t.ID, seat.ID, fillID)
	var r payRow
	dest := append(s.seatDest(s.teamDest(r.dest[:0], &r.team), &r.seat), &r.check)
	if done, err = s.pgCompletion(ctx, text, args, dest); err != nil {
		return false, err
	}
	if done {
		res.Team, res.Seat = r.team, r.seat
	}
	return done, nil
}

// pgCompleteFilledSQL is pgCompleteFilled's statement: it completes team
// teamID at now, writes groupbuy.TeamFilledEvent (fillID, currency) and
// returns the team and seat seatID.
func (s *Store) pgCompleteFilledSQL(now time.Time, currency, teamID, seatID, fillID string) (string, []any) {
	q := s.pgStart(pgCompleteFilledStmt, 0, false, false)
	at := s.pgTime(&q, now)
	q.sql(`WITH t AS (
		UPDATE {p}teams SET state = 'succeeded', closed_at = `, at, `
		WHERE id = `, q.text(teamID), byKeyCase, `state = 'forming' AND seats_paid >= capacity`, byKeyEnd, `
		RETURNING `+teamCols+`
	), c AS (
		UPDATE {p}seats AS st SET state = 'confirmed', version = st.version + 1
		FROM t WHERE st.team_id = t.id AND st.state = 'paid'
		RETURNING `, seatColsST, `
	), f AS (
		SELECT count(*) AS n, `, pgSeatSummaries(), ` AS seats FROM c AS x
	), o AS (
		INSERT INTO {p}outbox (id, topic, event_key, payload, created_at)
		SELECT `)
	pgFilledEvent(&q, fillID, currency, at)
	q.sql(`
	)
	SELECT `, teamColsT, `, `, seatColsS, `, 1 / (f.n = t.seats_paid)::integer
	FROM t CROSS JOIN f LEFT JOIN c AS s ON s.id = `, q.text(seatID))
	return s.pgDone(&q)
}

// errStaleSnapshot: the seats read for a filled team were not final (a
// reserved one, or fewer paid than the team counts), or the completing
// statement confirmed another number of seats than they held.
var errStaleSnapshot = errors.New("sqlstore: stale snapshot of a filled team")

// pgCompleteFrom completes a team that the payment of seat filled, from its
// seats in TeamSeats order, in one statement: the team's guarded UPDATE to
// succeeded, the paid seats' confirmation and the events of OnFill, which
// are built before it from those seats in the states the statement gives
// them. The seats are final when they hold every paid seat (SeatsPaid of
// them) and no reserved one: a paid seat changes only when its team
// closes, and a filled team has no reserved seat. The statement re-counts
// the seats it confirms in its own snapshot and rolls back by division by
// zero when the count differs; either case returns errStaleSnapshot. A
// zero result means the team was completed by someone else first.
func (s *Store) pgCompleteFrom(ctx context.Context, w *groupbuy.PaySeatWrite, t groupbuy.Team, seat groupbuy.Seat, seats []groupbuy.Seat) (completed, error) {
	paid := 0
	for i := range seats {
		st := &seats[i]
		if st.ID == seat.ID {
			*st = seat
		}
		switch st.State {
		case groupbuy.SeatReserved:
			return completed{}, errStaleSnapshot
		case groupbuy.SeatPaid:
			st.State = groupbuy.SeatConfirmed
			st.Version++
			paid++
		}
	}
	if paid != t.SeatsPaid {
		return completed{}, errStaleSnapshot
	}
	team := t
	team.State, team.ClosedAt = groupbuy.TeamSucceeded, utc(w.Now)
	var events []storage.Event
	if w.OnFill != nil {
		tc := team
		events = w.OnFill(&tc, slices.Clone(seats))
		if err := check.Events(events); err != nil {
			return completed{}, err
		}
	}
	q, args := s.pgCompleteSQL(w.Now, t.ID, paid, events)
	var got groupbuy.Team
	var check intScan
	var dest [teamColN + 1]any
	found, err := s.pgCompletion(ctx, q, args, append(s.teamDest(dest[:0], &got), &check))
	if err != nil || !found {
		return completed{}, err
	}
	return completed{team: got, seats: seats}, nil
}

// pgCompletion runs a statement that completes a team, as pgOne runs its
// statement, and scans its row, if any, into dest:
// found is false when the team was no longer forming and fully paid. Its
// deliberate division by zero becomes errStaleSnapshot.
func (s *Store) pgCompletion(ctx context.Context, q string, args, dest []any) (found bool, err error) {
	err = s.inStmt(ctx, func(r run) error {
		found = false
		rows, err := r.queryText(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		if rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			found = true
		}
		return rows.Err()
	})
	if isDivisionByZero(err) {
		return false, errStaleSnapshot
	}
	return found, err
}

// pgCompleteSQL is pgCompleteFrom's statement: it completes team teamID,
// confirms its paid seats and inserts events, and divides by zero unless it
// confirmed paid seats.
func (s *Store) pgCompleteSQL(now time.Time, teamID string, paid int, events []storage.Event) (string, []any) {
	q := s.pgStart(pgCompleteStmt, len(events), false, false)
	q.sql(`WITH t AS (
		UPDATE {p}teams SET state = 'succeeded', closed_at = `, s.pgTime(&q, now), `
		WHERE id = `, q.text(teamID), byKeyCase, `state = 'forming' AND seats_paid >= capacity`, byKeyEnd, `
		RETURNING `+teamCols+`
	), c AS (
		UPDATE {p}seats AS st SET state = 'confirmed', version = st.version + 1
		FROM t WHERE st.team_id = t.id AND st.state = 'paid'
		RETURNING st.id
	)`)
	s.pgEvents(&q, events, "t")
	q.sql(`
	SELECT `, teamColsT, `, 1 / ((SELECT count(*) FROM c) = `, q.int(paid), `)::integer FROM t`)
	return s.pgDone(&q)
}

type completed struct {
	team  groupbuy.Team
	seats []groupbuy.Seat
}

// pgRecord stores an idempotency record and events in one statement; the
// record's INSERT ... ON CONFLICT DO NOTHING is the guard.
func (s *Store) pgRecord(ctx context.Context, rec *groupbuy.IdempotencyRecord, events []storage.Event) error {
	q, args := s.pgRecordSQL(rec, events)
	return s.pgOne(ctx, "record outcome", "", q, args, func(rows *sql.Rows) error {
		var n int
		if err := rows.Scan(&n); err != nil {
			return err
		}
		if n != 1 {
			return guard("record outcome")
		}
		return nil
	})
}

// pgRecordSQL returns pgRecord's statement and its arguments.
func (s *Store) pgRecordSQL(rec *groupbuy.IdempotencyRecord, events []storage.Event) (string, []any) {
	q := s.pgStart(pgRecordStmt, len(events), true, false)
	q.sql(`WITH i AS (
		INSERT INTO {p}idempotency (scope, idem_key, fingerprint, result, created_at)
		VALUES (`, q.text(rec.Scope), `, `, q.text(rec.Key), `, `, q.text(rec.Fingerprint), `, `, q.bytes(rec.Result), `, `,
		s.pgTime(&q, rec.CreatedAt), `)
		ON CONFLICT (scope, idem_key) DO NOTHING
		RETURNING 1 AS ok
	)`)
	s.pgEvents(&q, events, "i")
	q.sql(`
	SELECT count(*) FROM i`)
	return s.pgDone(&q)
}
