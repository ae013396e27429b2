package sqlstore

// The referral.Store of the SQL adapter.
//
// # Ancestor chains: a recursive CTE, not a closure table
//
// Chain reads the buyer and up to depth ancestors in one statement: WITH
// RECURSIVE over ref_nodes (one row per user: its current referrer),
// bounded by the programme's levels + 1 (the extra step names the first
// ancestor over the cap), each member's state read by a correlated
// subquery on ref_distributors. Each step is a primary-key probe, written
// so that no plan can be anything else (see chainSQL), so Attribute's read
// costs 2 × (levels + 2) probes in one round trip, whatever the tree's
// size; on PostgreSQL the keys include the columns read (migration 0003),
// so the probes are index-only once autovacuum has visited the pages. A
// buyer with no node row (most buyers: never bound, never a referrer) is
// answered by the same statement.
// A closure table (one row per ancestor/descendant pair) would make the
// read a single range scan but makes every bind and every admin rebind
// write O(depth × subtree) rows: moving a user with a large downline
// rewrites the closure of its whole subtree, under locks, which is exactly
// the write that must stay short and race-free here. Chains are read at a
// depth of 2–4, where the CTE's few probes cost no more than the closure's
// scan; so the forest is stored as parent pointers only.
//
// # Binding without cycles under concurrency
//
// Bind runs the generic lock-first transaction on every dialect: check the
// programme; create the user's and the referrer's node rows if missing
// (ON CONFLICT DO NOTHING, which locks no existing row; on MySQL the
// user's row alone, by ON DUPLICATE KEY UPDATE, which locks it
// exclusively: see nodeInsertOwn); lock the user's row (SELECT ... FOR
// UPDATE) and check the expected version (so of two binds of one new user
// exactly one wins, the other reads ErrAlreadyBound); check the referrer's
// distributor state; then share-lock every node of the referrer's chain up
// to its root (FOR SHARE / LOCK IN SHARE MODE) and check that the user is
// not on it. The chain is walked with a recursive CTE (a plain read, only
// a guess), its rows are then locked and re-read with a locking read, and
// the walk continues from any node whose locked, current referrer is not
// locked yet, until the locked pointers lead from the referrer to a root.
// On MySQL a referrer without a row yet (its first referee) gets one, as
// a root, before it is locked (INSERT IGNORE, which takes no exclusive
// lock on an existing row), so that there is a row to lock. The locking
// read goes by the primary key (nodesByKey), so it locks the chain's rows
// and nothing else.
//
// Only the bound user's own row, the one the bind UPDATEs, is locked
// exclusively. The chain's rows need only not change before the commit,
// which a shared lock ensures: a bind changes a node's pointer only under
// that node's exclusive lock, which waits for every shared lock on it. So
// the binds of many new users under one referrer (a popular distributor's
// launch) hold their shared locks on the same ancestors at once instead of
// queueing for them; a bind waits only for one that moves a node of its
// chain or refreshes a node's window (refreshBinding locks the row
// exclusively too), binds the same user, or is creating a row it needs (a
// new referrer's first referees wait for the first one's commit). Cycle
// prevention still holds: two binds that would close a cycle together each
// hold their own user's row exclusively and want a shared lock on the
// other's (for A→B racing B→A: A's bind holds A and wants B, B's holds B
// and wants A, each being on the other's chain), so one waits for the
// other's commit and then reads its binding under lock, or the database
// reports a deadlock, which the Store retries (boundedly, WithMaxRetries),
// and the retry sees it. Every read that the check relies on is a locking
// read, which reads the latest committed row on MySQL, so REPEATABLE
// READ's snapshot never hides a committed binding. SQLite's write lock
// serialises binds.
// Statements: BEGIN, programme, nodes, lock user, distributor, walk, lock
// chain, UPDATE, history, events, COMMIT: 11 (on MySQL one more to create
// the referrer's row when it has none; one more walk and lock per rebind
// that raced). A last-touch refresh (BindWrite.Refresh) keeps the edge, so
// it locks the user's row, checks the distributor and updates expires_at
// alone: 5 or 6 (refreshBinding).
//
// # Codes per user
//
// CreateCode counts the user's codes in ref_code_counts in the code's own
// transaction (countCode): a guarded upsert (MySQL: an upsert that makes
// sure of the row, then a guarded UPDATE) that refuses to pass the
// programme's limit, whose row lock makes the user's concurrent issuers
// wait for each other, and which the code's failed insert rolls back.
// A COUNT(*) of ref_codes and then the insert would let racing issuers
// all see room under READ COMMITTED (and REPEATABLE READ), and so pass the
// limit together. Statements: BEGIN, programme, count (MySQL: two),
// INSERT, COMMIT.
//
// Attribute's snapshot is one INSERT ... ON CONFLICT DO NOTHING plus its
// event in one statement on PostgreSQL (a data-modifying CTE), in
// autocommit or under WithTx; elsewhere a short transaction whose unique
// key makes a concurrent duplicate lose. Attribute is therefore two round
// trips on PostgreSQL (chain, then snapshot), and it cannot be fewer
// without moving referral.Decide into SQL: the snapshot stores Decide's
// result and the event carries the paid levels, both computed in Go from
// the chain that the first trip returns. Statements go through the
// driver's prepared-statement cache (pgx's default), so neither is parsed
// or planned per call.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/referral"
	"github.com/socialcommerce/sdk/storage"
)

var _ referral.Store = (*Store)(nil)

func refNotFound(what, id string) error {
	return fmt.Errorf("%s %s: %w", what, id, referral.ErrNotFound)
}

// programmeExists reads the programme's row inside a write transaction:
// a consistent read, which under WithTx misses a programme committed after
// the host's snapshot, hence absentOrNewer.
func (s *Store) programmeExists(ctx context.Context, r run, id string) error {
	var one int
	err := r.row(ctx, `SELECT 1 FROM {p}ref_programmes WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, errNoRows) {
		return s.absentOrNewer(ctx, r, "programme "+id, refNotFound("programme", id), `{p}ref_programmes WHERE id = ?`, id)
	}
	return err
}

// CreateProgramme implements referral.Store.
func (s *Store) CreateProgramme(ctx context.Context, p *referral.Programme) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	if p == nil {
		return bad("programme", "must not be nil")
	}
	if err := referral.CheckNewProgramme(p); err != nil {
		return err
	}
	c := *p
	c.CreatedAt = utc(c.CreatedAt)
	def, err := json.Marshal(&c)
	if err != nil {
		return bad("programme", err.Error())
	}
	return s.inStmt(ctx, func(r run) error {
		_, err := r.exec(ctx, `INSERT INTO {p}ref_programmes (id, definition, created_at) VALUES (?, ?, ?)`, p.ID, string(def), s.t(c.CreatedAt))
		if s.isUnique(err) {
			return conflict("programme %s exists", p.ID)
		}
		return err
	})
}

// GetProgramme implements referral.Store.
func (s *Store) GetProgramme(ctx context.Context, id string) (referral.Programme, error) {
	if err := checkCtx(ctx); err != nil {
		return referral.Programme{}, err
	}
	if err := checkID("id", id); err != nil {
		return referral.Programme{}, err
	}
	var def string
	err := s.reader().row(ctx, `SELECT definition FROM {p}ref_programmes WHERE id = ?`, id).Scan(&def)
	if errors.Is(err, errNoRows) {
		// Under WithTx the read is in the host's snapshot (see orNewer).
		return referral.Programme{}, s.absentOrNewer(ctx, s.reader(), "programme "+id, refNotFound("programme", id),
			`{p}ref_programmes WHERE id = ?`, id)
	}
	if err != nil {
		return referral.Programme{}, err
	}
	var p referral.Programme
	if err := json.Unmarshal([]byte(def), &p); err != nil {
		return referral.Programme{}, fmt.Errorf("sqlstore: programme %s: %w", id, err)
	}
	p.CreatedAt = utc(p.CreatedAt)
	return p, nil
}

const codeCols = `code, programme_id, user_id, channel, created_at, revoked_at`

func (s *Store) scanCode(row scanner) (referral.InviteCode, error) {
	var c referral.InviteCode
	err := row.Scan(&c.Code, &c.ProgrammeID, &c.UserID, &c.Channel, s.ts(&c.CreatedAt), s.ts(&c.RevokedAt))
	return c, err
}

// CreateCode implements referral.Store.
func (s *Store) CreateCode(ctx context.Context, c *referral.InviteCode) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	if err := referral.CheckInviteCode(c); err != nil {
		return err
	}
	return s.inTx(ctx, func(r run) error {
		limit, err := s.codeLimit(ctx, r, c.ProgrammeID)
		if err != nil {
			return err
		}
		if err := s.countCode(ctx, r, c.ProgrammeID, c.UserID, limit); err != nil {
			return err
		}
		_, err = r.exec(ctx, `INSERT INTO {p}ref_codes (`+codeCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
			c.Code, c.ProgrammeID, c.UserID, c.Channel, s.t(c.CreatedAt), s.t(c.RevokedAt))
		if s.isUnique(err) {
			return referral.ErrCodeTaken
		}
		return err
	})
}

// codeLimit reads the programme's CodeLimit inside a write transaction
// (ErrNotFound as programmeExists says it).
func (s *Store) codeLimit(ctx context.Context, r run, id string) (int, error) {
	var def string
	err := r.row(ctx, `SELECT definition FROM {p}ref_programmes WHERE id = ?`, id).Scan(&def)
	if errors.Is(err, errNoRows) {
		return 0, s.absentOrNewer(ctx, r, "programme "+id, refNotFound("programme", id), `{p}ref_programmes WHERE id = ?`, id)
	}
	if err != nil {
		return 0, err
	}
	// Only the limit: a definition stored before it existed has none, and
	// reads as 0, the default.
	var p struct{ MaxCodesPerUser int }
	if err := json.Unmarshal([]byte(def), &p); err != nil {
		return 0, fmt.Errorf("sqlstore: programme %s: %w", id, err)
	}
	return (&referral.Programme{MaxCodesPerUser: p.MaxCodesPerUser}).CodeLimit(), nil
}

// countCode counts one more code of the user in ref_code_counts unless
// the user holds limit codes already (ErrCodeLimit). The row's lock, held
// to the commit, makes the user's concurrent issuers wait for each other,
// so that each counts what the one before committed; a failed insert of
// the code rolls the count back with it. PostgreSQL and SQLite do it in
// one guarded upsert (no row changed: at the limit); MySQL makes sure of
// the row, then raises it with a guarded UPDATE, whose count of rows
// changed does not depend on the connection's CLIENT_FOUND_ROWS flag
// (that of ON DUPLICATE KEY UPDATE does).
func (s *Store) countCode(ctx context.Context, r run, prog, user string, limit int) error {
	var (
		n   int64
		err error
	)
	if s.d == MySQL {
		if _, err = r.exec(ctx, `INSERT INTO {p}ref_code_counts (programme_id, user_id, issued) VALUES (?, ?, 0)
			ON DUPLICATE KEY UPDATE issued = issued`, prog, user); err != nil {
			return err
		}
		n, err = r.affected(ctx, `UPDATE {p}ref_code_counts SET issued = issued + 1 WHERE programme_id = ? AND user_id = ? AND issued < ?`,
			prog, user, limit)
	} else {
		n, err = r.affected(ctx, `INSERT INTO {p}ref_code_counts AS c (programme_id, user_id, issued) VALUES (?, ?, 1)
			ON CONFLICT (programme_id, user_id) DO UPDATE SET issued = c.issued + 1 WHERE c.issued < ?`, prog, user, limit)
	}
	if err == nil && n == 0 {
		err = referral.ErrCodeLimit
	}
	return err
}

// GetCode implements referral.Store.
func (s *Store) GetCode(ctx context.Context, code string) (referral.InviteCode, error) {
	if err := checkCtx(ctx); err != nil {
		return referral.InviteCode{}, err
	}
	if err := checkID("code", code); err != nil {
		return referral.InviteCode{}, err
	}
	c, err := s.scanCode(s.reader().row(ctx, `SELECT `+codeCols+` FROM {p}ref_codes WHERE code = ?`, code))
	if errors.Is(err, errNoRows) {
		// Under WithTx the read is in the host's snapshot (see orNewer).
		return c, s.absentOrNewer(ctx, s.reader(), "invite code "+code, referral.ErrCodeNotFound, `{p}ref_codes WHERE code = ?`, code)
	}
	return c, err
}

// RevokeCode implements referral.Store.
func (s *Store) RevokeCode(ctx context.Context, code string, at time.Time) (referral.InviteCode, error) {
	if err := checkCtx(ctx); err != nil {
		return referral.InviteCode{}, err
	}
	if err := checkID("code", code); err != nil {
		return referral.InviteCode{}, err
	}
	if err := checkTime("at", at); err != nil {
		return referral.InviteCode{}, err
	}
	var out referral.InviteCode
	err := s.inTx(ctx, func(r run) error {
		c, err := s.scanCode(r.row(ctx, `SELECT `+codeCols+` FROM {p}ref_codes WHERE code = ?`+s.forUpdate(), code))
		switch {
		case errors.Is(err, errNoRows):
			// On PostgreSQL the locking read is in the host's snapshot
			// (WithTx) too.
			return s.absentOrNewer(ctx, r, "invite code "+code, referral.ErrCodeNotFound, `{p}ref_codes WHERE code = ?`, code)
		case err != nil:
			return err
		case c.Revoked():
			return referral.ErrCodeRevoked
		}
		if _, err := r.exec(ctx, `UPDATE {p}ref_codes SET revoked_at = ? WHERE code = ?`, s.t(at), code); err != nil {
			return err
		}
		c.RevokedAt = utc(at)
		out = c
		return nil
	})
	return out, err
}

// UserCodes implements referral.Store.
//
// A page is a range scan of the index on (programme_id, user_id,
// created_at, code) from the position: ref_codes_page on PostgreSQL and
// SQLite (migrations 0009 and 0006), ref_codes_user on MySQL, whose
// secondary keys end with the primary key, code.
func (s *Store) UserCodes(ctx context.Context, programmeID, userID string, after referral.CodePosition, limit int) ([]referral.InviteCode, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, err
	}
	if err := errors.Join(referral.CheckKeys("programmeID", programmeID, "userID", userID),
		referral.CheckCodePosition(after), referral.CheckListLimit(limit)); err != nil {
		return nil, err
	}
	if after.IsZero() {
		rows, err := s.reader().query(ctx, `SELECT `+codeCols+` FROM {p}ref_codes WHERE programme_id = ? AND user_id = ?
			ORDER BY created_at, code LIMIT ?`, programmeID, userID, limit)
		return collect(rows, err, s.scanCode)
	}
	at := s.t(after.CreatedAt.Truncate(time.Microsecond))
	// PostgreSQL and SQLite take the row comparison as the index's range;
	// MySQL scans the index from the position only when it is spelled out.
	cond := `(created_at, code) > (?, ?)`
	args := []any{programmeID, userID, at, after.Code, limit}
	if s.d == MySQL {
		cond = `(created_at > ? OR (created_at = ? AND code > ?))`
		args = []any{programmeID, userID, at, at, after.Code, limit}
	}
	rows, err := s.reader().query(ctx, `SELECT `+codeCols+` FROM {p}ref_codes WHERE programme_id = ? AND user_id = ? AND `+cond+`
		ORDER BY created_at, code LIMIT ?`, args...)
	return collect(rows, err, s.scanCode)
}

const distCols = `programme_id, user_id, state, applied_at, updated_at, actor, reason, version`

func (s *Store) scanDist(row scanner) (referral.Distributor, error) {
	var d referral.Distributor
	var state string
	err := row.Scan(&d.ProgrammeID, &d.UserID, &state, s.ts(&d.AppliedAt), s.ts(&d.UpdatedAt), &d.Actor, &d.Reason, &d.Version)
	d.State = referral.DistributorState(state)
	return d, err
}

// SetDistributor implements referral.Store.
func (s *Store) SetDistributor(ctx context.Context, w *referral.DistributorWrite) (referral.Distributor, error) {
	if err := checkCtx(ctx); err != nil {
		return referral.Distributor{}, err
	}
	if err := referral.CheckDistributorWrite(w); err != nil {
		return referral.Distributor{}, err
	}
	n := w.Next
	var out referral.Distributor
	err := s.inTx(ctx, func(r run) error {
		if err := s.programmeExists(ctx, r, n.ProgrammeID); err != nil {
			return err
		}
		cur, err := s.scanDist(r.row(ctx, `SELECT `+distCols+` FROM {p}ref_distributors WHERE programme_id = ? AND user_id = ?`+s.forUpdate(),
			n.ProgrammeID, n.UserID))
		if errors.Is(err, errNoRows) {
			cur, err = referral.Distributor{}, nil
		}
		if err != nil {
			return err
		}
		if cur.State != w.From || (w.Version > 0 && cur.Version != w.Version) {
			err := conflict("distributor %s is %q v%d", n.UserID, cur.State, cur.Version)
			return s.retryableIfStale(ctx, r, err, func(r run) (bool, error) {
				snap, err := s.scanDist(r.row(ctx, `SELECT `+distCols+` FROM {p}ref_distributors WHERE programme_id = ? AND user_id = ?`,
					n.ProgrammeID, n.UserID))
				if errors.Is(err, errNoRows) {
					snap, err = referral.Distributor{}, nil
				}
				return snap.State == w.From && (w.Version == 0 || snap.Version == w.Version), err
			})
		}
		d := n
		d.Version = cur.Version + 1
		d.AppliedAt, d.UpdatedAt = utc(d.AppliedAt), utc(d.UpdatedAt)
		if cur.State == referral.DistributorNone {
			_, err = r.exec(ctx, `INSERT INTO {p}ref_distributors (`+distCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				d.ProgrammeID, d.UserID, string(d.State), s.t(d.AppliedAt), s.t(d.UpdatedAt), d.Actor, d.Reason, d.Version)
			if s.isUnique(err) {
				err := conflict("distributor %s exists", n.UserID)
				if s.tx != nil {
					// Committed after the host's snapshot (PostgreSQL's
					// REPEATABLE READ hides it from the locking read too):
					// only a rerun of the host's transaction sees it.
					return storage.MarkRetryable(err)
				}
				return err
			}
		} else {
			_, err = r.exec(ctx, `UPDATE {p}ref_distributors SET state = ?, applied_at = ?, updated_at = ?, actor = ?, reason = ?, version = ?
				WHERE programme_id = ? AND user_id = ?`,
				string(d.State), s.t(d.AppliedAt), s.t(d.UpdatedAt), d.Actor, d.Reason, d.Version, d.ProgrammeID, d.UserID)
		}
		if err != nil {
			return err
		}
		out = d
		return s.refEvents(ctx, r, w.Events)
	})
	return out, err
}

// refEvents inserts the events of a referral write. An event ID in use
// (the outbox's key) is storage.ErrConflict, as the memory store says it:
// the referral writes have no guard whose failure a diagnosis would read
// as a repeat, so insertEvents's guard error would reach the caller as an
// internal one.
func (s *Store) refEvents(ctx context.Context, r run, evs []storage.Event) error {
	err := s.insertEvents(ctx, r, evs)
	if _, ok := errors.AsType[*errGuard](err); ok {
		return conflict("an event ID is in use")
	}
	return err
}

// GetDistributor implements referral.Store.
func (s *Store) GetDistributor(ctx context.Context, programmeID, userID string) (referral.Distributor, error) {
	if err := checkCtx(ctx); err != nil {
		return referral.Distributor{}, err
	}
	if err := referral.CheckKeys("programmeID", programmeID, "userID", userID); err != nil {
		return referral.Distributor{}, err
	}
	d, err := s.scanDist(s.reader().row(ctx, `SELECT `+distCols+` FROM {p}ref_distributors WHERE programme_id = ? AND user_id = ?`, programmeID, userID))
	if errors.Is(err, errNoRows) {
		return d, refNotFound("distributor", userID)
	}
	return d, err
}

const nodeCols = `programme_id, user_id, referrer_id, source, code, bound_at, locked_until, expires_at, actor, reason, version`

// walkStep bounds one recursive walk of the cycle check (MySQL's default
// cte_max_recursion_depth is 1000); longer chains take more walks.
const walkStep = 500

// Bind implements referral.Store; see the file comment for how it stays
// cycle-free under concurrency.
func (s *Store) Bind(ctx context.Context, w *referral.BindWrite) (referral.Binding, error) {
	if err := checkCtx(ctx); err != nil {
		return referral.Binding{}, err
	}
	if err := referral.CheckBindWrite(w); err != nil {
		return referral.Binding{}, err
	}
	if w.Refresh {
		return s.refreshBinding(ctx, w)
	}
	b := w.Binding
	b.Version = w.ExpectVersion + 1
	b.BoundAt, b.LockedUntil, b.ExpiresAt = utc(b.BoundAt), utc(b.LockedUntil), utc(b.ExpiresAt)
	err := s.inTx(ctx, func(r run) error {
		if err := s.programmeExists(ctx, r, b.ProgrammeID); err != nil {
			return err
		}
		if b.UserID == b.ReferrerID {
			return referral.ErrSelfReferral
		}
		if err := s.insertNodes(ctx, r, b.ProgrammeID, b.UserID, b.ReferrerID); err != nil {
			return err
		}
		var (
			cur     sql.NullString
			version int64
		)
		if err := r.row(ctx, `SELECT referrer_id, version FROM {p}ref_nodes WHERE programme_id = ? AND user_id = ?`+s.forUpdate(),
			b.ProgrammeID, b.UserID).Scan(&cur, &version); err != nil {
			return err
		}
		var lost error
		switch {
		case w.ExpectVersion == 0 && cur.Valid:
			lost = referral.ErrAlreadyBound
		case w.ExpectVersion > 0 && (!cur.Valid || version != w.ExpectVersion):
			lost = conflict("binding of %s is v%d", b.UserID, version)
		}
		if lost != nil {
			return s.retryableIfStale(ctx, r, lost, s.bindReadStale(ctx, w))
		}
		if w.RequireActiveReferrer {
			if err := s.activeReferrer(ctx, r, b.ProgrammeID, b.ReferrerID); err != nil {
				return err
			}
		}
		if err := s.checkNoCycle(ctx, r, b.ProgrammeID, b.UserID, b.ReferrerID); err != nil {
			return err
		}
		if _, err := r.exec(ctx, `UPDATE {p}ref_nodes SET referrer_id = ?, source = ?, code = ?, bound_at = ?, locked_until = ?, expires_at = ?,
			actor = ?, reason = ?, version = ? WHERE programme_id = ? AND user_id = ?`,
			b.ReferrerID, string(b.Source), b.Code, s.t(b.BoundAt), s.t(b.LockedUntil), s.t(b.ExpiresAt), b.Actor, b.Reason, b.Version,
			b.ProgrammeID, b.UserID); err != nil {
			return err
		}
		ch := w.Change
		if _, err := r.exec(ctx, `INSERT INTO {p}ref_history (programme_id, user_id, version, from_referrer, to_referrer, source, changed_at, actor, reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, b.ProgrammeID, b.UserID, b.Version, cur.String, b.ReferrerID, string(b.Source),
			s.t(ch.At), ch.Actor, ch.Reason); err != nil {
			return err
		}
		return s.refEvents(ctx, r, w.Events)
	})
	if err != nil {
		return referral.Binding{}, err
	}
	return b, nil
}

// bindReadStale tells retryableIfStale whether the Service, under WithTx,
// read in the host's snapshot the binding that w expected: then the
// binding changed after the snapshot, and only a rerun of the host's
// transaction sees the change.
func (s *Store) bindReadStale(ctx context.Context, w *referral.BindWrite) func(r run) (bool, error) {
	return func(r run) (bool, error) {
		var (
			ref sql.NullString
			v   int64
		)
		err := r.row(ctx, `SELECT referrer_id, version FROM {p}ref_nodes WHERE programme_id = ? AND user_id = ?`,
			w.Binding.ProgrammeID, w.Binding.UserID).Scan(&ref, &v)
		if errors.Is(err, errNoRows) {
			return w.ExpectVersion == 0, nil
		}
		if w.ExpectVersion == 0 {
			return !ref.Valid, err
		}
		return ref.Valid && v == w.ExpectVersion && (!w.Refresh || ref.String == w.Binding.ReferrerID), err
	}
}

// activeReferrer reports ErrNotDistributor unless ref is an active
// distributor of the programme.
func (s *Store) activeReferrer(ctx context.Context, r run, prog, ref string) error {
	var state string
	// A locking read, so that MySQL reads the latest row, not the host's
	// snapshot (WithTx); PostgreSQL's fails retryably on a row changed
	// after the snapshot, and misses one inserted after it, which
	// absentOrNewer finds.
	err := r.row(ctx, `SELECT state FROM {p}ref_distributors WHERE programme_id = ? AND user_id = ?`+s.forShare(),
		prog, ref).Scan(&state)
	if errors.Is(err, errNoRows) {
		return s.absentOrNewer(ctx, r, "distributor "+ref, referral.ErrNotDistributor,
			`{p}ref_distributors WHERE programme_id = ? AND user_id = ?`, prog, ref)
	}
	if err == nil && state != string(referral.DistributorActive) {
		return referral.ErrNotDistributor
	}
	return err
}

// refreshBinding is Bind of a BindWrite.Refresh: it moves the window of
// the user's binding in place, under the lock of its row, and appends no
// history row. The referrer stays, so there is no chain to lock and walk:
// BEGIN, programme, lock user, (distributor), UPDATE, COMMIT.
func (s *Store) refreshBinding(ctx context.Context, w *referral.BindWrite) (referral.Binding, error) {
	want := w.Binding
	var out referral.Binding
	err := s.inTx(ctx, func(r run) error {
		if err := s.programmeExists(ctx, r, want.ProgrammeID); err != nil {
			return err
		}
		if want.UserID == want.ReferrerID {
			return referral.ErrSelfReferral
		}
		b, err := s.scanBinding(r.row(ctx, `SELECT `+nodeCols+` FROM {p}ref_nodes WHERE programme_id = ? AND user_id = ?`+s.forUpdate(),
			want.ProgrammeID, want.UserID))
		if err != nil && !errors.Is(err, errNoRows) {
			return err
		}
		// A node row without a referrer scans as ReferrerID "".
		if err != nil || b.Version != w.ExpectVersion || b.ReferrerID != want.ReferrerID {
			lost := conflict("binding of %s is v%d to %q", want.UserID, b.Version, b.ReferrerID)
			return s.retryableIfStale(ctx, r, lost, s.bindReadStale(ctx, w))
		}
		if w.RequireActiveReferrer {
			if err := s.activeReferrer(ctx, r, want.ProgrammeID, want.ReferrerID); err != nil {
				return err
			}
		}
		// A zero ExpiresAt (NULL) never expires: it ends after any window.
		if exp := utc(want.ExpiresAt); !b.ExpiresAt.IsZero() && exp.After(b.ExpiresAt) {
			if _, err := r.exec(ctx, `UPDATE {p}ref_nodes SET expires_at = ? WHERE programme_id = ? AND user_id = ?`,
				s.t(exp), want.ProgrammeID, want.UserID); err != nil {
				return err
			}
			b.ExpiresAt = exp
		}
		out = b
		return s.refEvents(ctx, r, w.Events)
	})
	if err != nil {
		return referral.Binding{}, err
	}
	return out, nil
}

// The node rows that a Bind creates when missing, as roots.
const (
	nodeInsert = `INTO {p}ref_nodes (programme_id, user_id, referrer_id, source, code, actor, reason, version)
		VALUES (?, ?, NULL, '', '', '', '', 0)`
	// nodeInsertPair: the user's and the referrer's rows, in key order,
	// on PostgreSQL and SQLite, where DO NOTHING locks no existing row.
	// Racing inserts of one new row wait for the first inserter's end, so
	// two binds that would create the same rows (A→B racing B→A, both new)
	// queue instead of deadlocking, which PostgreSQL would detect only
	// after deadlock_timeout.
	nodeInsertPair = `INSERT ` + nodeInsert + `, (?, ?, NULL, '', '', '', '', 0) ON CONFLICT (programme_id, user_id) DO NOTHING`
	// nodeInsertOwn: the user's row on MySQL. Its duplicate path takes the
	// row's exclusive lock at once, which the bind takes next anyway, so
	// two binds of one user queue for it (where two shared locks would
	// deadlock on the upgrade). The referrer's row cannot be in the same
	// statement: it would get that exclusive lock too, and every bind
	// under the referrer would wait for it (checkNoCycle creates it).
	nodeInsertOwn = `INSERT ` + nodeInsert + ` ON DUPLICATE KEY UPDATE version = version`
	// nodeInsertRoot: a referrer's missing row on MySQL. IGNORE takes only
	// a shared lock on an existing row (the values are constants and
	// checked keys, so IGNORE has no other error to hide).
	nodeInsertRoot = `INSERT IGNORE ` + nodeInsert
)

// insertNodes creates the node rows of a bind of user under referrer that
// it must lock: both on PostgreSQL and SQLite, the user's alone on MySQL.
func (s *Store) insertNodes(ctx context.Context, r run, prog, user, referrer string) error {
	if s.d == MySQL {
		_, err := r.exec(ctx, nodeInsertOwn, prog, user)
		return err
	}
	if referrer < user {
		user, referrer = referrer, user
	}
	_, err := r.exec(ctx, nodeInsertPair, prog, user, prog, referrer)
	return err
}

// checkNoCycle share-locks the referrer's chain up to its root and reports
// ErrCycle when user is on it. The caller holds the exclusive lock on
// user's row. Why shared locks suffice is in the file's comment (Binding
// without cycles under concurrency).
func (s *Store) checkNoCycle(ctx context.Context, r run, prog, user, referrer string) error {
	locked := map[string]string{} // node → its current referrer ("" for a root), read under lock
	frontier := referrer
	for range referral.MaxChainWalk/walkStep + 2 {
		path, err := s.walkUp(ctx, r, prog, frontier, walkStep)
		if err != nil {
			return err
		}
		if len(path) == 0 && frontier == referrer && s.d == MySQL {
			// The referrer has no row (insertNodes leaves it to here on
			// MySQL): its first referee, or a row that the snapshot does
			// not show yet. Create it, so that there is a row to lock
			// against the referrer's own concurrent bind. Every other node
			// of a chain is some user's referrer, so has a row since that
			// user's bind; elsewhere insertNodes created this one.
			if _, err := r.exec(ctx, nodeInsertRoot, prog, referrer); err != nil {
				return err
			}
		}
		if !slices.Contains(path, frontier) {
			path = append(path, frontier)
		}
		var todo []string
		for _, u := range path {
			if _, ok := locked[u]; !ok && u != user {
				todo = append(todo, u)
			}
		}
		if err := s.lockNodes(ctx, r, prog, todo, locked); err != nil {
			return err
		}
		// Follow the locked pointers from the referrer.
		u, steps := referrer, 0
		for {
			if u == user {
				return referral.ErrCycle
			}
			next, ok := locked[u]
			if !ok {
				frontier = u
				break
			}
			if next == "" {
				return nil
			}
			if steps++; steps > referral.MaxChainWalk {
				return conflict("chain above %s deeper than %d", referrer, referral.MaxChainWalk)
			}
			u = next
		}
	}
	return conflict("chain above %s deeper than %d", referrer, referral.MaxChainWalk)
}

// walkUp returns from and up to limit of its ancestors, by a plain read.
func (s *Store) walkUp(ctx context.Context, r run, prog, from string, limit int) ([]string, error) {
	return r.strings(ctx, `WITH RECURSIVE up (user_id, referrer_id, depth) AS (
			SELECT user_id, referrer_id, 0 FROM {p}ref_nodes WHERE programme_id = ? AND user_id = ?
			UNION ALL
			SELECT n.user_id, n.referrer_id, up.depth + 1 FROM up JOIN {p}ref_nodes n ON n.programme_id = ? AND n.user_id = up.referrer_id
			WHERE up.depth < ?
		) SELECT user_id FROM up`, prog, from, prog, limit)
}

// lockNodes share-locks the rows of users (in ID order) and records their
// current referrers in locked; a user without a row is a root. A shared
// lock keeps a row's referrer from changing before the commit, as
// checkNoCycle needs, and lets any number of binds under the same
// ancestors hold it at once. On PostgreSQL it is FOR SHARE, not FOR KEY
// SHARE: a bind's UPDATE of referrer_id (not a key column) takes FOR NO
// KEY UPDATE, which FOR KEY SHARE would let through; FOR SHARE conflicts
// with it, whether or not the writer locked the row first. The locking
// read also reads the latest committed row on MySQL, whatever the
// REPEATABLE READ snapshot shows.
func (s *Store) lockNodes(ctx context.Context, r run, prog string, users []string, locked map[string]string) error {
	slices.Sort(users)
	for len(users) > 0 {
		n := min(len(users), walkStep)
		args := make([]any, 0, n+1)
		args = append(args, prog)
		for _, u := range users[:n] {
			args = append(args, u)
			locked[u] = ""
		}
		rows, err := r.query(ctx, `SELECT user_id, referrer_id FROM {p}ref_nodes`+s.nodesByKey()+` WHERE programme_id = ? AND user_id IN (?`+
			strings.Repeat(", ?", n-1)+`) ORDER BY user_id`+s.forShare(), args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var (
				u   string
				ref sql.NullString
			)
			if err := rows.Scan(&u, &ref); err != nil {
				rows.Close()
				return err
			}
			locked[u] = ref.String
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		users = users[n:]
	}
	return nil
}

// nodesByKey makes MySQL read ref_nodes by its primary key in lockNodes.
// Left to itself, MariaDB reads the covering index on (programme_id,
// referrer_id) instead whenever the programme's rows look few (a new or
// small programme), and a locking read then locks
// every index entry of the programme, with its gaps: every bind of the
// programme, and every bind's UPDATE of referrer_id, would wait for it.
// By the key it locks the listed rows only.
func (s *Store) nodesByKey() string {
	if s.d == MySQL {
		return " FORCE INDEX (PRIMARY)"
	}
	return ""
}

// GetBinding implements referral.Store.
func (s *Store) GetBinding(ctx context.Context, programmeID, userID string) (referral.Binding, error) {
	if err := checkCtx(ctx); err != nil {
		return referral.Binding{}, err
	}
	if err := referral.CheckKeys("programmeID", programmeID, "userID", userID); err != nil {
		return referral.Binding{}, err
	}
	b, err := s.scanBinding(s.reader().row(ctx, `SELECT `+nodeCols+` FROM {p}ref_nodes WHERE programme_id = ? AND user_id = ? AND referrer_id IS NOT NULL`,
		programmeID, userID))
	if errors.Is(err, errNoRows) {
		return referral.Binding{}, refNotFound("binding", userID)
	}
	return b, err
}

// scanBinding scans a row of nodeCols; a node without a referrer (a root)
// has ReferrerID "".
func (s *Store) scanBinding(row scanner) (referral.Binding, error) {
	var (
		b      referral.Binding
		ref    sql.NullString
		source string
	)
	err := row.Scan(&b.ProgrammeID, &b.UserID, &ref, &source, &b.Code, s.ts(&b.BoundAt), s.ts(&b.LockedUntil),
		s.ts(&b.ExpiresAt), &b.Actor, &b.Reason, &b.Version)
	b.ReferrerID, b.Source = ref.String, referral.Source(source)
	return b, err
}

// BindingHistory implements referral.Store.
// A page is a range scan of the primary key (programme_id, user_id,
// version) from the position.
func (s *Store) BindingHistory(ctx context.Context, programmeID, userID string, afterVersion int64, limit int) ([]referral.BindingChange, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, err
	}
	if err := errors.Join(referral.CheckKeys("programmeID", programmeID, "userID", userID),
		referral.CheckHistoryPosition(afterVersion), referral.CheckListLimit(limit)); err != nil {
		return nil, err
	}
	rows, err := s.reader().query(ctx, `SELECT programme_id, user_id, version, from_referrer, to_referrer, source, changed_at, actor, reason
		FROM {p}ref_history WHERE programme_id = ? AND user_id = ? AND version > ? ORDER BY version LIMIT ?`, programmeID, userID, afterVersion, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []referral.BindingChange
	for rows.Next() {
		var (
			c      referral.BindingChange
			source string
		)
		if err := rows.Scan(&c.ProgrammeID, &c.UserID, &c.Version, &c.FromReferrer, &c.ToReferrer, &source, s.ts(&c.At), &c.Actor, &c.Reason); err != nil {
			return nil, err
		}
		c.Source = referral.Source(source)
		out = append(out, c)
	}
	return out, rows.Err()
}

// chainSQL reads a user's chain in one statement on every dialect.
//
// The recursive step joins on the programme carried in the row (not on a
// parameter), and the states are correlated scalar subqueries, so each
// step is a primary-key probe whatever the statistics say: a generic plan
// cannot turn either join into a scan of the whole programme (which a
// parameter-filtered LEFT JOIN did on a table without statistics: a hash
// join over every distributor of the programme, 10–15 ms at 100,000 users).
// The second branch returns the user's state when it has no node row
// (never bound, never a referrer), so that case needs no second read.
const chainSQL = `WITH RECURSIVE up (programme_id, user_id, referrer_id, expires_at, link_expires, depth) AS (
		SELECT programme_id, user_id, referrer_id, expires_at, expires_at, 0 FROM {p}ref_nodes WHERE programme_id = ? AND user_id = ?
		UNION ALL
		SELECT n.programme_id, n.user_id, n.referrer_id, n.expires_at, up.expires_at, up.depth + 1
		FROM up JOIN {p}ref_nodes n ON n.programme_id = up.programme_id AND n.user_id = up.referrer_id
		WHERE up.depth < ?
	)
	SELECT up.user_id, (SELECT d.state FROM {p}ref_distributors d WHERE d.programme_id = up.programme_id AND d.user_id = up.user_id) AS state,
		up.link_expires, up.depth FROM up
	UNION ALL
	SELECT NULL, d.state, NULL, 0 FROM {p}ref_distributors d
	WHERE d.programme_id = ? AND d.user_id = ? AND NOT EXISTS (SELECT 1 FROM up)
	ORDER BY depth`

// Chain implements referral.Store in one statement (chainSQL), including
// for a user without a node row.
func (s *Store) Chain(ctx context.Context, programmeID, userID string, depth int) ([]referral.Link, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, err
	}
	if err := referral.CheckKeys("programmeID", programmeID, "userID", userID); err != nil {
		return nil, err
	}
	if err := referral.CheckChainDepth(depth); err != nil {
		return nil, err
	}
	rows, err := s.reader().query(ctx, chainSQL, programmeID, userID, depth, programmeID, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]referral.Link, 0, depth+1)
	for rows.Next() {
		var (
			l         referral.Link
			user      sql.NullString
			state     sql.NullString
			stepDepth int
		)
		if err := rows.Scan(&user, &state, s.ts(&l.BindingExpiresAt), &stepDepth); err != nil {
			return nil, err
		}
		l.UserID, l.State = user.String, referral.DistributorState(state.String)
		if !user.Valid { // the second branch: no node row
			l = referral.Link{UserID: userID, State: l.State}
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 { // no node row and no distributor record
		return []referral.Link{{UserID: userID}}, nil
	}
	out[0].BindingExpiresAt = time.Time{}
	return out, nil
}

// Downline implements referral.Store in one statement.
func (s *Store) Downline(ctx context.Context, programmeID, userID string, depth int) (referral.DownlineStats, error) {
	if err := checkCtx(ctx); err != nil {
		return referral.DownlineStats{}, err
	}
	if err := referral.CheckKeys("programmeID", programmeID, "userID", userID); err != nil {
		return referral.DownlineStats{}, err
	}
	if err := referral.CheckDownlineDepth(depth); err != nil {
		return referral.DownlineStats{}, err
	}
	st := referral.DownlineStats{Second: -1}
	if depth == 1 {
		err := s.reader().row(ctx, `SELECT COUNT(*) FROM {p}ref_nodes WHERE programme_id = ? AND referrer_id = ?`, programmeID, userID).Scan(&st.Direct)
		return st, err
	}
	err := s.reader().row(ctx, `SELECT
		(SELECT COUNT(*) FROM {p}ref_nodes WHERE programme_id = ? AND referrer_id = ?),
		(SELECT COUNT(*) FROM {p}ref_nodes c JOIN {p}ref_nodes g ON g.programme_id = c.programme_id AND g.referrer_id = c.user_id
			WHERE c.programme_id = ? AND c.referrer_id = ?)`, programmeID, userID, programmeID, userID).Scan(&st.Direct, &st.Second)
	return st, err
}

// SaveAttribution implements referral.Store. On PostgreSQL it is one
// statement (pgSaveAttribution), also under WithTx; elsewhere a short
// transaction whose unique key makes a concurrent duplicate lose. A repeat
// reads the stored snapshot with one more statement.
func (s *Store) SaveAttribution(ctx context.Context, a *referral.Attribution, events []storage.Event) (referral.Attribution, bool, error) {
	if err := checkCtx(ctx); err != nil {
		return referral.Attribution{}, false, err
	}
	if err := referral.CheckAttribution(a); err != nil {
		return referral.Attribution{}, false, err
	}
	if err := check.Events(events); err != nil {
		return referral.Attribution{}, false, err
	}
	c := *a
	c.At, c.CreatedAt = utc(c.At), utc(c.CreatedAt)
	snap, err := json.Marshal(&c)
	if err != nil {
		return referral.Attribution{}, false, bad("attribution", err.Error())
	}
	args := []any{c.ProgrammeID, c.OrderRef, c.BuyerID, s.t(c.At), c.PolicyName, c.PolicyVersion, string(snap), s.t(c.CreatedAt)}
	var created bool
	if s.d == Postgres {
		created, err = s.pgSaveAttribution(ctx, args, events)
	} else {
		err = s.inTx(ctx, func(r run) error {
			created = false // a rerun after a retryable failure starts afresh
			if _, err := r.exec(ctx, `INSERT INTO {p}ref_attributions (`+attrCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, args...); err != nil {
				return s.uniqueAsGuard(err, "attribution")
			}
			created = true
			return s.refEvents(ctx, r, events)
		})
		if _, ok := errors.AsType[*errGuard](err); ok {
			err = nil
		}
	}
	if err != nil {
		return referral.Attribution{}, false, err
	}
	if created {
		return c, true, nil
	}
	if s.tx != nil && s.d == MySQL {
		// The row the INSERT hit may have been committed after the host's
		// REPEATABLE READ snapshot, which a plain read would not see (no
		// such row: ErrNotFound); a locking read sees the latest version.
		got, err := s.getAttribution(ctx, s.hostTx(), " LOCK IN SHARE MODE", a.ProgrammeID, a.OrderRef)
		return got, false, err
	}
	got, err := s.GetAttribution(ctx, a.ProgrammeID, a.OrderRef)
	if errors.Is(err, referral.ErrNotFound) {
		// The INSERT hit the attribution's key, committed after the host's
		// snapshot (WithTx on MySQL), which GetAttribution reads.
		err = s.absentOrNewer(ctx, s.reader(), "attribution "+a.OrderRef, err,
			`{p}ref_attributions WHERE programme_id = ? AND order_ref = ?`, a.ProgrammeID, a.OrderRef)
	}
	return got, false, err
}

const attrCols = `programme_id, order_ref, buyer_id, attributed_at, policy_name, policy_version, snapshot, created_at`

// pgSaveAttribution inserts the snapshot unless one exists (ON CONFLICT DO
// NOTHING) and its events only when it did, in one statement: one round
// trip and one commit in autocommit, or under a savepoint of the host's
// transaction. It reports whether it inserted the snapshot.
//
// Returning the stored snapshot of a repeat from the same statement would
// save the repeat's read, but the extra SELECT cost every new order about
// 20 µs (measured interleaved on one connection); repeats are rare.
func (s *Store) pgSaveAttribution(ctx context.Context, args []any, events []storage.Event) (bool, error) {
	const ins = `WITH a AS (INSERT INTO {p}ref_attributions (` + attrCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (programme_id, order_ref) DO NOTHING RETURNING 1 AS ok)`
	q := ins + `
		INSERT INTO {p}outbox (id, topic, event_key, payload, created_at)
		SELECT ?, ?, ?, CAST(? AS BYTEA), CAST(? AS TIMESTAMPTZ) FROM a`
	switch len(events) {
	case 1: // Attribute's case: the event's row is the statement's count
		ev := &events[0]
		args = append(args, ev.ID, ev.Topic, ev.Key, ev.Payload, s.t(ev.CreatedAt))
	default:
		// Its placeholders follow the ?s of ins, numbered $1.. by run.
		a := &pgq{build: true, args: args}
		s.pgEvents(a, events, "a")
		q = ins + string(a.b) + ` SELECT count(*) FROM a`
		args = a.args
	}
	var n int64
	err := s.inStmt(ctx, func(r run) error {
		if len(events) == 1 {
			var err error
			n, err = r.affected(ctx, q, args...)
			return err
		}
		return r.row(ctx, q, args...).Scan(&n)
	})
	if s.isUnique(err) {
		// The snapshot's key conflicts are DO NOTHING: this is the outbox's.
		return false, conflict("an event ID is in use")
	}
	return n == 1, err
}

// GetAttribution implements referral.Store.
func (s *Store) GetAttribution(ctx context.Context, programmeID, orderRef string) (referral.Attribution, error) {
	if err := checkCtx(ctx); err != nil {
		return referral.Attribution{}, err
	}
	if err := referral.CheckKeys("programmeID", programmeID, "orderRef", orderRef); err != nil {
		return referral.Attribution{}, err
	}
	return s.getAttribution(ctx, s.reader(), "", programmeID, orderRef)
}

// getAttribution reads a stored attribution in r, with the locking clause
// lock ("" for none).
func (s *Store) getAttribution(ctx context.Context, r run, lock, programmeID, orderRef string) (referral.Attribution, error) {
	var snap string
	err := r.row(ctx, `SELECT snapshot FROM {p}ref_attributions WHERE programme_id = ? AND order_ref = ?`+lock, programmeID, orderRef).Scan(&snap)
	if errors.Is(err, errNoRows) {
		return referral.Attribution{}, refNotFound("attribution", orderRef)
	}
	if err != nil {
		return referral.Attribution{}, err
	}
	var a referral.Attribution
	if err := json.Unmarshal([]byte(snap), &a); err != nil {
		return referral.Attribution{}, fmt.Errorf("sqlstore: attribution %s: %w", orderRef, err)
	}
	a.At, a.CreatedAt = utc(a.At), utc(a.CreatedAt)
	for i := range a.Chain {
		a.Chain[i].BindingExpiresAt = utc(a.Chain[i].BindingExpiresAt)
	}
	return a, nil
}
