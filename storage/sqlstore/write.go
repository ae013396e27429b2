package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/storage"
)

// fast reports whether commands take PostgreSQL's single-statement path:
// on PostgreSQL, in autocommit or, under WithTx, under a savepoint of the
// host's transaction. Its guards hold there too: under READ COMMITTED each
// statement sees the latest committed rows, as in autocommit; under
// REPEATABLE READ or SERIALIZABLE, a row changed since the transaction's
// snapshot fails the statement's UPDATE with a serialization failure,
// which comes back retryable, as the generic path's locking read does.
func (s *Store) fast() bool { return s.d == Postgres }

// forUpdate is the locking clause of a read inside a write transaction. On
// SQLite the transaction already holds the database's write lock (BEGIN
// IMMEDIATE).
func (s *Store) forUpdate() string {
	if s.d == SQLite {
		return ""
	}
	return " FOR UPDATE"
}

// forShare is the clause of a read inside a write transaction that locks
// its row against writes, not against other readers: it reads the latest
// row on MySQL, and fails retryably on PostgreSQL when the row changed
// after a REPEATABLE READ snapshot. On SQLite the transaction holds the
// database's write lock.
func (s *Store) forShare() string {
	switch s.d {
	case Postgres:
		return " FOR SHARE"
	case MySQL:
		return " LOCK IN SHARE MODE"
	}
	return ""
}

// moneyEq is a guard comparing a money column with a query argument
// exactly: numerically on PostgreSQL and MySQL (MySQL would compare a
// DECIMAL with text as floating point, hence the cast), as canonical text on
// SQLite.
func (s *Store) moneyEq(col string) string {
	if s.d == MySQL {
		return col + " = CAST(? AS DECIMAL(20,4))"
	}
	return col + " = ?"
}

// command runs attempt until it succeeds or fails for a reason other than a
// guard. After a guard failure (the attempt was rolled back) diagnose reads
// the current state and names the precondition that failed, in the order
// the Store contract gives; when every precondition holds again (a
// concurrent change was undone), the attempt is rerun, at most maxRetries
// times (WithMaxRetries), then storage.ErrConflict. Under WithTx it is not rerun: the
// ErrConflict comes back marked retryable, for the host to rerun its
// transaction.
func (s *Store) command(ctx context.Context, attempt func() error, diagnose func(r run) error) error {
	for i := 0; ; i++ {
		err := attempt()
		g, ok := errors.AsType[*errGuard](err)
		if !ok {
			return err
		}
		if derr := diagnose(s.reader()); derr != nil {
			return derr
		}
		if s.tx != nil {
			// The host's transaction may read a snapshot older than the
			// write's locking reads (MySQL's REPEATABLE READ): only a rerun
			// of the whole transaction can tell what holds now.
			return storage.MarkRetryable(conflict("%s lost to a concurrent change", g.what))
		}
		if i >= s.maxRetries {
			return conflict("%s kept losing to concurrent changes", g.what)
		}
		s.retries.Add(1)
	}
}

// lockTeam reads a team and, except on SQLite (whose write transaction
// holds the database lock), locks its row for the rest of the transaction.
// Every write that touches a team or its seats takes this lock first, so
// that what it reads afterwards stays true until it commits.
func (s *Store) lockTeam(ctx context.Context, r run, id string) (groupbuy.Team, bool, error) {
	t, err := s.getTeamFor(ctx, r, `SELECT `+teamCols+` FROM {p}teams WHERE id = ?`+s.forUpdate(), id)
	return t, err == nil, ignoreNotFound(err)
}

// lockTeamCheckIdem is lockTeam followed by the idempotency check, in one
// statement: the check is a subquery of the locking read. On MySQL such a
// subquery is a consistent (non-locking) read whose snapshot may predate the
// lock wait; a record committed meanwhile is then caught by the record's
// primary key when this write inserts its own, and the diagnosis reports
// the replay. Every later read in these transactions is a locking read, so
// none of them sees that snapshot.
func (s *Store) lockTeamCheckIdem(ctx context.Context, r run, id string, rec *groupbuy.IdempotencyRecord) (groupbuy.Team, bool, error) {
	if rec == nil {
		return s.lockTeam(ctx, r, id)
	}
	var (
		t groupbuy.Team
		n int
	)
	err := r.row(ctx, `SELECT `+teamCols+`, (SELECT COUNT(*) FROM {p}idempotency WHERE scope = ? AND idem_key = ?)
		FROM {p}teams WHERE id = ?`+s.forUpdate(), rec.Scope, rec.Key, id).Scan(append(s.teamDest(make([]any, 0, teamColN+1), &t), &n)...)
	switch {
	case errors.Is(err, errNoRows):
		return t, false, s.replayIfRecorded(ctx, r, rec)
	case err != nil:
		return t, false, err
	case n > 0:
		if err := s.replayIfRecorded(ctx, r, rec); err != nil {
			return t, false, err
		}
	}
	return t, true, nil
}

// lockPayRows is lockTeamCheckIdem for a payment: it also reads seat
// w.SeatID of team w.TeamID, locking it too on MySQL. ok is false when the
// team or the seat is missing, or the seat is not the team's.
func (s *Store) lockPayRows(ctx context.Context, r run, w *groupbuy.PaySeatWrite) (t groupbuy.Team, st groupbuy.Seat, ok bool, err error) {
	idem, args := "0", []any{w.SeatID, w.TeamID}
	if rec := w.Idem; rec != nil {
		idem, args = "(SELECT COUNT(*) FROM {p}idempotency WHERE scope = ? AND idem_key = ?)", []any{rec.Scope, rec.Key, w.SeatID, w.TeamID}
	}
	var (
		n    int
		dest [teamColN + 1 + seatColN]any
	)
	// MySQL reads the team first (STRAIGHT_JOIN), so that its row is
	// locked before the seat's, in the order every other write takes them.
	join := "JOIN"
	if s.d == MySQL {
		join = "STRAIGHT_JOIN"
	}
	err = r.row(ctx, `SELECT `+teamColsT+`, `+idem+`, `+seatColsST+`
		FROM {p}teams t `+join+` {p}seats st ON st.id = ? AND st.team_id = t.id
		WHERE t.id = ?`+s.forUpdate(), args...).Scan(s.seatDest(append(s.teamDest(dest[:0], &t), &n), &st)...)
	switch {
	case errors.Is(err, errNoRows):
		return t, st, false, s.replayIfRecorded(ctx, r, w.Idem)
	case err != nil:
		return t, st, false, err
	case n > 0:
		err := s.replayIfRecorded(ctx, r, w.Idem)
		if re, ok := errors.AsType[*groupbuy.ReplayError](err); ok {
			// The replay carries the rows just read (see ReplayError).
			team, seat := t, st
			re.Team, re.Seat = &team, &seat
		}
		if err != nil {
			return t, st, false, err
		}
	}
	return t, st, true, nil
}

// lockTeamOfSeat is lockTeam for the team of a seat.
func (s *Store) lockTeamOfSeat(ctx context.Context, r run, seatID string) (groupbuy.Team, bool, error) {
	t, err := s.getTeamFor(ctx, r, `SELECT `+teamCols+` FROM {p}teams
		WHERE id = (SELECT team_id FROM {p}seats WHERE id = ?)`+s.forUpdate(), seatID)
	return t, err == nil, ignoreNotFound(err)
}

func (s *Store) getTeamFor(ctx context.Context, r run, tmpl string, arg string) (groupbuy.Team, error) {
	t, err := s.scanTeam(r.row(ctx, tmpl, arg))
	if errors.Is(err, errNoRows) {
		return t, groupbuy.ErrNotFound
	}
	return t, err
}

func ignoreNotFound(err error) error {
	if errors.Is(err, groupbuy.ErrNotFound) {
		return nil
	}
	return err
}

// lockedSeat reads a seat inside a write transaction (locking it on
// PostgreSQL and MySQL, so that MySQL reads its latest version).
func (s *Store) lockedSeat(ctx context.Context, r run, id string) (groupbuy.Seat, error) {
	st, err := s.scanSeat(r.row(ctx, `SELECT `+seatCols+` FROM {p}seats WHERE id = ?`+s.forUpdate(), id))
	if errors.Is(err, errNoRows) {
		return st, notFound("seat", id)
	}
	return st, err
}

func (s *Store) insertSeat(ctx context.Context, r run, st *groupbuy.Seat) error {
	_, err := r.exec(ctx, `INSERT INTO {p}seats (`+seatInsertCols+`, active_user)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		st.ID, st.TeamID, st.CampaignID, st.UserID, st.SKU, st.Quantity, money(st.UnitPrice), money(st.Amount),
		st.Currency, string(st.State), st.Leader, st.Virtual, s.t(st.ReservedAt), s.t(st.ReservedUntil), s.t(st.PaidAt),
		st.PaymentRef, st.Version, activeUser(st))
	return s.uniqueAsGuard(err, "seat "+st.ID)
}

// insertEvents appends events to the outbox in order, in multi-row INSERTs.
func (s *Store) insertEvents(ctx context.Context, r run, evs []storage.Event) error {
	const chunk = 500
	for len(evs) > 0 {
		n := min(len(evs), chunk)
		var b strings.Builder
		b.WriteString(`INSERT INTO {p}outbox (id, topic, event_key, payload, created_at) VALUES `)
		args := make([]any, 0, 5*n)
		for i := range evs[:n] {
			ev := &evs[i]
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?)")
			args = append(args, ev.ID, ev.Topic, ev.Key, ev.Payload, s.t(ev.CreatedAt))
		}
		if _, err := r.exec(ctx, b.String(), args...); err != nil {
			return s.uniqueAsGuard(err, "event")
		}
		evs = evs[n:]
	}
	return nil
}

// insertIdem stores an idempotency record; a concurrent command with the
// same key makes it a guard failure, which the diagnosis turns into a
// replay.
func (s *Store) insertIdem(ctx context.Context, r run, rec *groupbuy.IdempotencyRecord) error {
	if rec == nil {
		return nil
	}
	_, err := r.exec(ctx, `INSERT INTO {p}idempotency (scope, idem_key, fingerprint, result, created_at) VALUES (?, ?, ?, ?, ?)`,
		rec.Scope, rec.Key, rec.Fingerprint, rec.Result, s.t(rec.CreatedAt))
	return s.uniqueAsGuard(err, "idempotency record "+rec.Scope+"/"+rec.Key)
}

// countSeat adds one counted seat of a user in a campaign, guarded by the
// user's limit. It reports false when the limit is reached. Without a limit
// (max ≤ 0) it counts nothing: a campaign's limits never change (see
// groupbuy.JoinTeamWrite), so that count would never be read, and
// uncountSeats never takes a count below 0.
func (s *Store) countSeat(ctx context.Context, r run, campaignID, userID string, leader bool, max int) (bool, error) {
	if max <= 0 {
		return true, nil
	}
	col, opened, joined := "joined", 0, 1
	if leader {
		col, opened, joined = "opened", 1, 0
	}
	if s.d == MySQL {
		// Two statements: ON DUPLICATE KEY UPDATE's row count cannot tell
		// "inserted" from "left unchanged" under clientFoundRows.
		if _, err := r.exec(ctx, `INSERT INTO {p}user_limits (campaign_id, user_id, opened, joined) VALUES (?, ?, 0, 0)
			ON DUPLICATE KEY UPDATE user_id = user_id`, campaignID, userID); err != nil {
			return false, err
		}
		n, err := r.affected(ctx, `UPDATE {p}user_limits SET `+col+` = `+col+` + 1
			WHERE campaign_id = ? AND user_id = ? AND `+col+` < ?`, campaignID, userID, max)
		return n == 1, err
	}
	n, err := r.affected(ctx, `INSERT INTO {p}user_limits AS ul (campaign_id, user_id, opened, joined) VALUES (?, ?, ?, ?)
		ON CONFLICT (campaign_id, user_id) DO UPDATE SET `+col+` = ul.`+col+` + 1 WHERE ul.`+col+` < ?`,
		campaignID, userID, opened, joined, max)
	return n == 1, err
}

// uncountSeats stops counting seats that left the live states.
func (s *Store) uncountSeats(ctx context.Context, r run, seats []groupbuy.Seat) error {
	type key struct{ campaign, user string }
	type delta struct{ opened, joined int }
	m := map[key]*delta{}
	var keys []key
	for i := range seats {
		st := &seats[i]
		if st.Virtual || st.UserID == "" {
			continue
		}
		k := key{st.CampaignID, st.UserID}
		d := m[k]
		if d == nil {
			d = &delta{}
			m[k] = d
			keys = append(keys, k)
		}
		if st.Leader {
			d.opened++
		} else {
			d.joined++
		}
	}
	// A fixed order, so that two writers never wait on each other in a
	// cycle.
	slices.SortFunc(keys, func(a, b key) int {
		if c := strings.Compare(a.campaign, b.campaign); c != 0 {
			return c
		}
		return strings.Compare(a.user, b.user)
	})
	for _, k := range keys {
		d := m[k]
		if _, err := r.exec(ctx, `UPDATE {p}user_limits SET
			opened = CASE WHEN opened >= ? THEN opened - ? ELSE 0 END,
			joined = CASE WHEN joined >= ? THEN joined - ? ELSE 0 END
			WHERE campaign_id = ? AND user_id = ?`, d.opened, d.opened, d.joined, d.joined, k.campaign, k.user); err != nil {
			return err
		}
	}
	return nil
}

// OpenTeam implements groupbuy.Store. The team is stored forming with one
// seat taken and the leader seat reserved, whatever the write says of
// those fields; times are truncated to microseconds.
func (s *Store) OpenTeam(ctx context.Context, w *groupbuy.OpenTeamWrite) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	if err := groupbuy.CheckOpenTeamWrite(w); err != nil {
		return err
	}
	team, leader := openedRows(w)
	attempt := func() error {
		if s.fast() {
			return s.pgOpen(ctx, w, &team, &leader)
		}
		return s.inTx(ctx, func(r run) error { return s.openTx(ctx, r, w, &team, &leader) })
	}
	err := s.command(ctx, attempt, func(r run) error { return s.diagnoseOpen(ctx, r, w) })
	return s.wrap(err, "open team "+w.Team.ID)
}

// openedRows returns the team and the leader seat that w opens, as they
// are stored: forming with one seat taken, the leader seat reserved.
func openedRows(w *groupbuy.OpenTeamWrite) (groupbuy.Team, groupbuy.Seat) {
	team, leader := w.Rows()
	team.OpenedAt, team.ExpiresAt = utc(team.OpenedAt), utc(team.ExpiresAt) // as read back
	return team, leader
}

// openGate checks, in one read, an open's first preconditions in their
// order: no idempotency record rec (*ReplayError), the campaign exists
// (ErrNotFound) and accepts seats at now (ErrCampaignNotActive). The
// record's count is a consistent read on MySQL; a record committed since
// is caught by its primary key when the open inserts its own (see
// lockTeamCheckIdem).
func (s *Store) openGate(ctx context.Context, r run, campaignID string, rec *groupbuy.IdempotencyRecord, now time.Time) error {
	idem, args := "0", []any{campaignID}
	if rec != nil {
		idem, args = "(SELECT COUNT(*) FROM {p}idempotency WHERE scope = ? AND idem_key = ?)", []any{rec.Scope, rec.Key, campaignID}
	}
	var (
		status           string
		startsAt, endsAt time.Time
		n                int
	)
	err := r.row(ctx, `SELECT status, starts_at, ends_at, `+idem+` FROM {p}campaigns WHERE id = ?`, args...).
		Scan(&status, s.ts(&startsAt), s.ts(&endsAt), &n)
	switch {
	case errors.Is(err, errNoRows):
		if err := s.replayIfRecorded(ctx, r, rec); err != nil {
			return err
		}
		return s.notFoundOrNewer(ctx, r, "campaign", campaignID)
	case err != nil:
		return err
	case n > 0:
		if err := s.replayIfRecorded(ctx, r, rec); err != nil {
			return err
		}
	}
	c := groupbuy.Campaign{Status: groupbuy.CampaignStatus(status), StartsAt: startsAt, EndsAt: endsAt}
	if !c.AcceptsSeats(now) {
		return groupbuy.ErrCampaignNotActive
	}
	return nil
}

func (s *Store) openTx(ctx context.Context, r run, w *groupbuy.OpenTeamWrite, team *groupbuy.Team, leader *groupbuy.Seat) error {
	if err := s.openGate(ctx, r, team.CampaignID, w.Idem, w.Now); err != nil {
		return err
	}
	ok, err := s.countSeat(ctx, r, team.CampaignID, leader.UserID, true, w.MaxOpened)
	if err != nil {
		return err
	}
	if !ok {
		return groupbuy.ErrLimitExceeded
	}
	_, err = r.exec(ctx, `INSERT INTO {p}teams (`+teamCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		team.ID, team.CampaignID, team.LeaderID, team.Capacity, team.SeatsTaken, team.SeatsPaid, team.VirtualSeats,
		string(team.State), s.t(team.OpenedAt), s.t(team.ExpiresAt), s.t(team.ClosedAt), team.Version, team.SeatRows)
	if err != nil {
		return s.uniqueAsGuard(err, "team "+team.ID)
	}
	if err := s.insertSeat(ctx, r, leader); err != nil {
		return err
	}
	if err := s.insertEvents(ctx, r, w.Events); err != nil {
		return err
	}
	return s.insertIdem(ctx, r, w.Idem)
}

// JoinTeam implements groupbuy.Store. The seat is stored reserved, not
// leader, not virtual, its ReservedUntil clamped to the team's deadline;
// the returned team and seat are as stored.
func (s *Store) JoinTeam(ctx context.Context, w *groupbuy.JoinTeamWrite) (groupbuy.Team, groupbuy.Seat, error) {
	if err := checkCtx(ctx); err != nil {
		return groupbuy.Team{}, groupbuy.Seat{}, err
	}
	if err := groupbuy.CheckJoinTeamWrite(w); err != nil {
		return groupbuy.Team{}, groupbuy.Seat{}, err
	}
	seat := w.Row()
	var team groupbuy.Team
	attempt := func() error {
		if s.fast() {
			return s.pgJoin(ctx, w, &team, &seat)
		}
		return s.inTx(ctx, func(r run) error { return s.joinTx(ctx, r, w, &team, &seat) })
	}
	err := s.command(ctx, attempt, func(r run) error { return s.diagnoseJoin(ctx, r, w) })
	if err != nil {
		return groupbuy.Team{}, groupbuy.Seat{}, s.wrap(err, "join team "+w.Seat.TeamID)
	}
	return team, normSeat(seat), nil
}

func (s *Store) joinTx(ctx context.Context, r run, w *groupbuy.JoinTeamWrite, team *groupbuy.Team, seat *groupbuy.Seat) error {
	t, ok, err := s.lockTeamCheckIdem(ctx, r, seat.TeamID, w.Idem)
	if err != nil {
		return err
	}
	if !ok || t.CampaignID != seat.CampaignID {
		return notFound("team", seat.TeamID)
	}
	n, err := r.affected(ctx, joinTeamUpdate,
		t.ID, s.t(w.Now), t.CampaignID)
	if err != nil {
		return err
	}
	if n != 1 {
		return guard("join team " + t.ID)
	}
	if seat.ReservedUntil.After(t.ExpiresAt) {
		seat.ReservedUntil = t.ExpiresAt
	}
	if err := s.insertSeat(ctx, r, seat); err != nil {
		return err
	}
	ok, err = s.countSeat(ctx, r, t.CampaignID, seat.UserID, false, w.MaxJoined)
	if err != nil {
		return err
	}
	if !ok {
		return guard("per-user join limit")
	}
	if err := s.insertEvents(ctx, r, w.Events); err != nil {
		return err
	}
	if err := s.insertIdem(ctx, r, w.Idem); err != nil {
		return err
	}
	t.SeatsTaken++
	t.SeatRows++
	t.Version++
	*team = t
	return nil
}

// normSeat returns a seat as the store keeps it: times in UTC, truncated to
// microseconds, money normalised.
func normSeat(st groupbuy.Seat) groupbuy.Seat {
	st.ReservedAt, st.ReservedUntil, st.PaidAt = utc(st.ReservedAt), utc(st.ReservedUntil), utc(st.PaidAt)
	var d decScan
	d.dst = &st.UnitPrice
	_ = d.Scan(money(st.UnitPrice))
	d.dst = &st.Amount
	_ = d.Scan(money(st.Amount))
	return st
}

// PaySeat implements groupbuy.Store. The team's Version is bumped once per
// payment, also when the payment completes the team. When it does and
// FilledResult is set, the idempotency record stores FilledResult.
func (s *Store) PaySeat(ctx context.Context, w *groupbuy.PaySeatWrite) (groupbuy.PaySeatResult, error) {
	if err := checkCtx(ctx); err != nil {
		return groupbuy.PaySeatResult{}, err
	}
	if err := groupbuy.CheckPaySeatWrite(w); err != nil {
		return groupbuy.PaySeatResult{}, err
	}
	if !check.MoneyOK(w.Amount) {
		// No stored amount has more than 4 decimals or 16 integer digits.
		err := s.command(ctx, func() error { return guard("amount") }, func(r run) error { return s.diagnosePay(ctx, r, w) })
		return groupbuy.PaySeatResult{}, s.wrap(err, "pay seat "+w.SeatID)
	}
	var res groupbuy.PaySeatResult
	attempt := func() error {
		if s.fast() {
			return s.pgPay(ctx, w, &res)
		}
		return s.inTx(ctx, func(r run) error { return s.payTx(ctx, r, w, &res) })
	}
	err := s.command(ctx, attempt, func(r run) error { return s.diagnosePay(ctx, r, w) })
	if err != nil {
		return groupbuy.PaySeatResult{}, s.wrap(err, "pay seat "+w.SeatID)
	}
	return res, nil
}

// payTx locks the team and reads (and locks) the seat in one statement,
// then pays the seat and counts it on the team: on MySQL in one UPDATE of
// both rows, on SQLite (no round trips to save) in one each. A payment
// that does not fill its team returns the seat as read and paid, without
// reading it again. MySQL: BEGIN, the locking read, the UPDATE, the events,
// the record, COMMIT.
func (s *Store) payTx(ctx context.Context, r run, w *groupbuy.PaySeatWrite, res *groupbuy.PaySeatResult) error {
	t, seat, ok, err := s.lockPayRows(ctx, r, w)
	if err != nil {
		return err
	}
	if !ok {
		return guard("pay seat " + w.SeatID) // the diagnosis names why
	}
	fill := t.SeatsPaid+1 >= t.Capacity
	state, closedAt := groupbuy.TeamForming, time.Time{}
	if fill {
		state, closedAt = groupbuy.TeamSucceeded, w.Now
	}
	const (
		seatGuards = "st.team_id = ? AND st.state = 'reserved' AND st.reserved_until > ? AND "
		teamGuards = "t.state = 'forming' AND t.expires_at > ? AND t.seats_paid = ? AND t.seats_paid < t.capacity"
	)
	if s.d == MySQL {
		// Both rows are locked already; the guards are checked again all
		// the same. Without clientFoundRows or with it, 2 rows.
		n, err := r.affected(ctx, `UPDATE {p}seats st JOIN {p}teams t ON t.id = st.team_id
			SET st.state = 'paid', st.paid_at = ?, st.payment_ref = ?, st.version = st.version + 1,
				t.seats_paid = t.seats_paid + 1, t.version = t.version + 1, t.state = ?, t.closed_at = ?
			WHERE st.id = ? AND `+seatGuards+s.moneyEq("st.amount")+` AND st.currency = ? AND `+teamGuards,
			s.t(w.Now), w.PaymentRef, string(state), s.t(closedAt),
			w.SeatID, w.TeamID, s.t(w.Now), money(w.Amount), w.Currency, s.t(w.Now), t.SeatsPaid)
		if err != nil {
			return err
		}
		if n != 2 {
			return guard("pay seat " + w.SeatID)
		}
	} else {
		n, err := r.affected(ctx, `UPDATE {p}seats AS st SET state = 'paid', paid_at = ?, payment_ref = ?, version = version + 1
			WHERE `+byKey("st.id = ?", seatGuards+s.moneyEq("st.amount")+" AND st.currency = ?"),
			s.t(w.Now), w.PaymentRef, w.SeatID, w.TeamID, s.t(w.Now), money(w.Amount), w.Currency)
		if err != nil {
			return err
		}
		if n != 1 {
			return guard("pay seat " + w.SeatID)
		}
		n, err = r.affected(ctx, `UPDATE {p}teams AS t SET seats_paid = seats_paid + 1, version = version + 1, state = ?, closed_at = ?
			WHERE `+byKey("t.id = ?", teamGuards),
			string(state), s.t(closedAt), t.ID, s.t(w.Now), t.SeatsPaid)
		if err != nil {
			return err
		}
		if n != 1 {
			return guard("pay into team " + t.ID)
		}
	}
	t.SeatsPaid++
	t.Version++
	t.State, t.ClosedAt = state, utc(closedAt)
	seat.State, seat.PaidAt, seat.PaymentRef = groupbuy.SeatPaid, utc(w.Now), w.PaymentRef
	seat.Version++
	evs := w.Events
	if fill {
		seats, err := s.confirmSeats(ctx, r, t.ID)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(seats, func(st groupbuy.Seat) bool { return st.ID == w.SeatID })
		if i < 0 {
			return fmt.Errorf("sqlstore: paid seat %s missing from team %s", w.SeatID, t.ID)
		}
		seat = seats[i]
		if w.OnFill != nil {
			tc := t
			filled := w.OnFill(&tc, seats)
			if err := check.Events(filled); err != nil {
				return err
			}
			evs = append(slices.Clip(evs), filled...)
		}
	}
	if err := s.insertEvents(ctx, r, evs); err != nil {
		return err
	}
	idem := w.Idem
	if fill && idem != nil && w.FilledResult != nil {
		rec := *idem
		rec.Result = w.FilledResult
		idem = &rec
	}
	if err := s.insertIdem(ctx, r, idem); err != nil {
		return err
	}
	*res = groupbuy.PaySeatResult{Team: t, Seat: seat, Filled: fill}
	return nil
}

// confirmSeats confirms the paid seats of a team that just succeeded and
// returns all its seats in TeamSeats order. The caller holds the team's
// lock.
func (s *Store) confirmSeats(ctx context.Context, r run, teamID string) ([]groupbuy.Seat, error) {
	if _, err := r.exec(ctx, `UPDATE {p}seats SET state = 'confirmed', version = version + 1
		WHERE team_id = ? AND state = 'paid'`, teamID); err != nil {
		return nil, err
	}
	return s.seats(ctx, r, `SELECT `+seatCols+` FROM {p}seats WHERE team_id = ?`+seatOrder+s.forUpdate(), teamID)
}

// ReleaseSeat implements groupbuy.Store.
func (s *Store) ReleaseSeat(ctx context.Context, w *groupbuy.ReleaseSeatWrite) (groupbuy.Seat, error) {
	if err := checkCtx(ctx); err != nil {
		return groupbuy.Seat{}, err
	}
	if err := groupbuy.CheckReleaseSeatWrite(w); err != nil {
		return groupbuy.Seat{}, err
	}
	var out groupbuy.Seat
	err := s.inTx(ctx, func(r run) error {
		t, ok, err := s.lockTeamOfSeat(ctx, r, w.SeatID)
		if err != nil {
			return err
		}
		if !ok {
			// The team is found through the seat by a snapshot read, which
			// misses a seat committed after the host's snapshot (WithTx).
			return s.notFoundOrNewer(ctx, r, "seat", w.SeatID)
		}
		st, err := s.lockedSeat(ctx, r, w.SeatID)
		if err != nil {
			return err
		}
		switch {
		case st.State != groupbuy.SeatReserved:
			return s.retryableIfStale(ctx, r, groupbuy.ErrSeatNotReserved, func(r run) (bool, error) {
				st, err := s.getSeat(ctx, r, w.SeatID)
				return st.State == groupbuy.SeatReserved, err
			})
		case w.UserID != "" && st.UserID != w.UserID:
			return groupbuy.ErrNotOwner
		case w.OnlyExpired && st.ReservedUntil.After(w.Now):
			return conflict("seat %s has not expired", st.ID)
		}
		n, err := r.affected(ctx, `UPDATE {p}seats SET state = 'released', active_user = NULL, version = version + 1
			WHERE `+byKey("id = ?", "state = 'reserved'"), st.ID)
		if err != nil {
			return err
		}
		if n != 1 {
			return conflict("seat %s changed", st.ID)
		}
		if _, err := r.exec(ctx, `UPDATE {p}teams SET seats_taken = seats_taken - 1, version = version + 1
			WHERE `+byKey("id = ?", "seats_taken > 0"), t.ID); err != nil {
			return err
		}
		if err := s.uncountSeats(ctx, r, []groupbuy.Seat{st}); err != nil {
			return err
		}
		if err := s.insertEvents(ctx, r, w.Events); err != nil {
			return err
		}
		st.State = groupbuy.SeatReleased
		st.Version++
		out = st
		return nil
	})
	return out, s.wrap(s.guardAsConflict(err), "release seat "+w.SeatID)
}

// notFoundOrNewer returns the answer of a write or read that did not find
// row id of {p}<what>s (what is campaign, team or seat): ErrNotFound,
// unless the row was committed after the host's snapshot (see
// absentOrNewer).
func (s *Store) notFoundOrNewer(ctx context.Context, r run, what, id string) error {
	return s.absentOrNewer(ctx, r, what+" "+id, notFound(what, id), `{p}`+what+`s WHERE id = ?`, id)
}

// absentOrNewer returns absent, the answer of a write or read that did not
// find the row of from (a table and a WHERE clause on its key), unless the
// row exists all the same (beyondSnapshot): then a retryable conflict
// naming what. Such a row was committed after the host's REPEATABLE READ
// snapshot, which the reads (all of them on PostgreSQL, the consistent
// ones on MySQL) do not see: the answer would be the snapshot's, not the
// database's, and a host that took it as definitive would act on a row
// that exists; a rerun of its transaction finds it.
func (s *Store) absentOrNewer(ctx context.Context, r run, what string, absent error, from string, args ...any) error {
	switch newer, err := s.beyondSnapshot(ctx, r, from, args...); {
	case err != nil:
		return err
	case newer:
		return storage.MarkRetryable(conflict("%s is newer than the transaction's snapshot", what))
	}
	return absent
}

// beyondSnapshot reports whether the row of from, which a write or read
// under WithTx did not find, exists all the same: committed after the host's
// REPEATABLE READ snapshot, which its reads do not see. MySQL reads it in
// the host's transaction with a locking read, which reads the latest
// committed version (its shared lock lasts until the host's transaction
// ends, which the caller's retryable error asks the host to roll back). No
// statement of a PostgreSQL REPEATABLE READ transaction sees a row
// committed after its snapshot, so there it is read on the Store's pool,
// outside the transaction: only when the pool has an idle connection or
// room for one, waiting at most idleWait for it (a full pool may be
// waiting for the very connection the host's transaction holds); without
// one it reports false, and the caller's not-found stands. Without WithTx,
// and on SQLite (whose host transaction holds the write lock, so that
// nothing commits meanwhile), it reports false.
func (s *Store) beyondSnapshot(ctx context.Context, r run, from string, args ...any) (bool, error) {
	var one int
	var err error
	switch {
	case s.tx == nil:
		return false, nil
	case s.d == MySQL:
		err = r.row(ctx, `SELECT 1 FROM `+from+` LOCK IN SHARE MODE`, args...).Scan(&one)
	case s.d == Postgres:
		if st := s.db.Stats(); st.Idle == 0 && st.MaxOpenConnections > 0 && st.OpenConnections >= st.MaxOpenConnections {
			return false, nil
		}
		pctx, cancel := context.WithTimeout(ctx, idleWait)
		defer cancel()
		err = s.pool().row(pctx, `SELECT 1 FROM `+from, args...).Scan(&one)
		if err != nil && pctx.Err() != nil && ctx.Err() == nil {
			return false, nil // no connection in time
		}
	default:
		return false, nil
	}
	if errors.Is(err, errNoRows) {
		return false, nil
	}
	return err == nil, err
}

// retryableIfStale returns err, the refusal of a write that read its row
// locked and found it changed, marked retryable when the host's snapshot
// (WithTx) still shows the row as the write expected it (snapshot reports
// so, reading in r): under REPEATABLE READ (MySQL's default) the host's
// reads are older than the locking read, so the Service, re-reading in the
// same transaction, would read the same row and lose again; only a rerun
// of the host's transaction can see the change, as for command's
// conflicts. Without WithTx, or when the snapshot shows the change, err is
// returned as it is, and the Service re-reads and decides again; so it is
// when the snapshot lacks the row, inserted after it (MySQL's locking read
// found it): that is no ErrNotFound.
func (s *Store) retryableIfStale(ctx context.Context, r run, err error, snapshot func(r run) (bool, error)) error {
	if s.tx == nil {
		return err
	}
	stale, serr := snapshot(r)
	if errors.Is(serr, groupbuy.ErrNotFound) {
		return err
	}
	if serr != nil {
		return serr
	}
	if stale {
		return storage.MarkRetryable(err)
	}
	return err
}

// guardAsConflict reports a guard failure of a write that reads before it
// writes (so every precondition was already checked) as a conflict: only a
// unique key (an event ID or seat ID in use) can cause it.
func (s *Store) guardAsConflict(err error) error {
	if g, ok := errors.AsType[*errGuard](err); ok {
		return conflict("%s", g.what)
	}
	return err
}

// CloseTeam implements groupbuy.Store.
func (s *Store) CloseTeam(ctx context.Context, w *groupbuy.CloseTeamWrite) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	if err := groupbuy.CheckCloseTeamWrite(w); err != nil {
		return err
	}
	err := s.inTx(ctx, func(r run) error { return s.closeTx(ctx, r, w) })
	return s.wrap(s.guardAsConflict(err), "close team "+w.TeamID)
}

func (s *Store) closeTx(ctx context.Context, r run, w *groupbuy.CloseTeamWrite) error {
	t, ok, err := s.lockTeam(ctx, r, w.TeamID)
	if err != nil {
		return err
	}
	if !ok {
		// On PostgreSQL the locking read is in the host's snapshot too.
		return s.notFoundOrNewer(ctx, r, "team", w.TeamID)
	}
	if t.State != groupbuy.TeamForming || t.Version != w.Version {
		err := conflict("team %s is %s at version %d", t.ID, t.State, t.Version)
		return s.retryableIfStale(ctx, r, err, func(r run) (bool, error) {
			t, err := s.getTeam(ctx, r, w.TeamID)
			return t.State == groupbuy.TeamForming && t.Version == w.Version, err
		})
	}
	seats, err := s.seats(ctx, r, `SELECT `+seatCols+` FROM {p}seats WHERE team_id = ?`+s.forUpdate(), t.ID)
	if err != nil {
		return err
	}
	byID := make(map[string]*groupbuy.Seat, len(seats))
	for i := range seats {
		byID[seats[i].ID] = &seats[i]
	}
	moves := w.Moves()
	for _, m := range moves {
		for _, id := range m.SeatIDs {
			if st := byID[id]; st == nil || st.State != m.From {
				return conflict("seat %s of team %s changed", id, t.ID)
			}
		}
	}
	for i := range w.BotSeats {
		if b := &w.BotSeats[i]; b.TeamID != t.ID || !b.Virtual || b.CampaignID != t.CampaignID {
			return conflict("bot seat %s does not belong to team %s", b.ID, t.ID)
		}
	}
	var left []groupbuy.Seat // seats that stop counting
	taken, paid := 0, 0
	for _, m := range moves {
		if len(m.SeatIDs) == 0 {
			continue
		}
		activeTo := "NULL"
		if activeSeat(m.To) {
			activeTo = "active_user"
		}
		attempt := "" // a refund requested by the close is the seat's first
		if m.To == groupbuy.SeatRefundRequested {
			attempt = ", refund_attempt = 1"
		}
		for ids := range slices.Chunk(m.SeatIDs, 500) {
			args := []any{string(m.To), t.ID, string(m.From)}
			for _, id := range ids {
				args = append(args, id)
			}
			n, err := r.affected(ctx, `UPDATE {p}seats SET state = ?, active_user = `+activeTo+attempt+`, version = version + 1
				WHERE team_id = ? AND state = ? AND id IN (`+placeholders(len(ids))+`)`, args...)
			if err != nil {
				return err
			}
			if n != int64(len(ids)) {
				return conflict("seats of team %s changed", t.ID)
			}
		}
		if m.To != groupbuy.SeatConfirmed {
			for _, id := range m.SeatIDs {
				left = append(left, *byID[id])
				taken++
				if m.From == groupbuy.SeatPaid {
					paid++
				}
			}
		}
	}
	for i := range w.BotSeats {
		if err := s.insertSeat(ctx, r, &w.BotSeats[i]); err != nil {
			return err
		}
	}
	n, err := r.affected(ctx, `UPDATE {p}teams SET state = ?, closed_at = ?, virtual_seats = virtual_seats + ?,
		seats_taken = seats_taken - ?, seats_paid = seats_paid - ?, version = version + 1
		WHERE `+byKey("id = ?", "state = 'forming' AND version = ?"),
		string(w.State), s.t(w.Now), w.VirtualSeats, taken, paid, t.ID, w.Version)
	if err != nil {
		return err
	}
	if n != 1 {
		return conflict("team %s changed", t.ID)
	}
	if err := s.uncountSeats(ctx, r, left); err != nil {
		return err
	}
	return s.insertEvents(ctx, r, w.Events)
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// UpdateRefund implements groupbuy.Store. Like the reference adapter it
// guards the seat's state and refund attempt, and changes the seat alone; the per-user counters and the team's counters are
// not touched (the Service moves only seats that already left the live
// states along the refund path).
func (s *Store) UpdateRefund(ctx context.Context, w *groupbuy.RefundWrite) (groupbuy.Seat, error) {
	if err := checkCtx(ctx); err != nil {
		return groupbuy.Seat{}, err
	}
	if err := groupbuy.CheckRefundWrite(w); err != nil {
		return groupbuy.Seat{}, err
	}
	activeTo := "NULL"
	if activeSeat(w.To) {
		activeTo = "CASE WHEN is_virtual THEN NULL ELSE user_id END"
		if s.d != Postgres {
			activeTo = "CASE WHEN is_virtual = 1 THEN NULL ELSE user_id END"
		}
	}
	var out groupbuy.Seat
	err := s.inTx(ctx, func(r run) error {
		n, err := r.affected(ctx, `UPDATE {p}seats SET state = ?, active_user = `+activeTo+`, refund_attempt = ?, version = version + 1
			WHERE `+byKey("id = ?", "state = ? AND refund_attempt = ?"), string(w.To), w.NewAttempt(), w.SeatID, string(w.From), w.Attempt)
		if err != nil {
			return s.uniqueAsGuard(err, "seat "+w.SeatID)
		}
		st, err := s.lockedSeat(ctx, r, w.SeatID)
		if errors.Is(err, groupbuy.ErrNotFound) {
			// On PostgreSQL the UPDATE and the locking read are in the
			// host's snapshot too.
			return s.notFoundOrNewer(ctx, r, "seat", w.SeatID)
		}
		if err != nil {
			return err
		}
		if n != 1 {
			err := conflict("seat %s is %s at refund attempt %d", st.ID, st.State, st.RefundAttempt)
			return s.retryableIfStale(ctx, r, err, func(r run) (bool, error) {
				st, err := s.getSeat(ctx, r, w.SeatID)
				return st.State == w.From && st.RefundAttempt == w.Attempt, err
			})
		}
		if err := s.insertEvents(ctx, r, w.Events); err != nil {
			return err
		}
		out = st
		return nil
	})
	return out, s.wrap(s.guardAsConflict(err), "update refund of seat "+w.SeatID)
}

// RecordOutcome implements groupbuy.Store.
func (s *Store) RecordOutcome(ctx context.Context, idem *groupbuy.IdempotencyRecord, events []storage.Event) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	if err := groupbuy.CheckOutcome(idem, events); err != nil {
		return err
	}
	attempt := func() error {
		if s.fast() {
			return s.pgRecord(ctx, idem, events)
		}
		return s.inTx(ctx, func(r run) error {
			if err := s.replayIfRecorded(ctx, r, idem); err != nil {
				return err
			}
			if err := s.insertIdem(ctx, r, idem); err != nil {
				return err
			}
			return s.insertEvents(ctx, r, events)
		})
	}
	err := s.command(ctx, attempt, func(r run) error {
		if err := s.replayIfRecorded(ctx, r, idem); err != nil {
			return err
		}
		return s.eventsExist(ctx, r, events)
	})
	return s.wrap(err, "record outcome "+idem.Scope+"/"+idem.Key)
}
