// Package sqlstore is the database/sql adapter of groupbuy.Store,
// referral.Store and storage.Outbox, for PostgreSQL, MySQL/MariaDB and
// SQLite.
//
// The host opens the *sql.DB with the driver of its choice (this package
// imports none) and hands it to New with the dialect; Migrate creates the
// tables, which all carry a prefix (WithTablePrefix, default "scsdk_").
// WithTx binds a Store to the host's own transaction. Every method validates
// its arguments first and returns a *storage.ValidationError without
// touching the database.
//
//	db, _ := sql.Open("pgx", dsn)
//	store, err := sqlstore.New(db, sqlstore.Postgres)
//	...
//	err = store.Migrate(ctx)
//	svc, err := groupbuy.New(store, groupbuy.Config{})
//
// # Schema and values
//
// The embedded migrations (migrations/<dialect>/NNNN_name.sql, {{prefix}}
// replaced by the table prefix) create campaigns, teams, seats, user_limits
// (the guarded per-user counters), idempotency and outbox, the referral
// tables (ref_programmes, ref_codes, ref_distributors, ref_nodes,
// ref_history, ref_attributions; 0002), and the version table
// <prefix>schema_migrations. Money is NUMERIC(20,4) on PostgreSQL,
// DECIMAL(20,4) on MySQL and canonical decimal text on SQLite, never a
// float; an amount with more than 4 decimals or 16 integer digits is a
// ValidationError. Times are stored in UTC with microsecond precision
// (timestamptz, DATETIME(6), INTEGER Unix microseconds); every time read
// back is in UTC and truncated to the microsecond, so compare times with
// Equal after truncating. The zero time is stored as NULL. IDs are compared
// and ordered by bytes on every dialect (COLLATE "C", utf8mb4_bin, BINARY).
// A seat's active_user column holds its user while the seat is reserved,
// paid or confirmed, so UNIQUE(team_id, active_user) turns a second live
// seat of a user in a team into a unique violation on every dialect.
//
// Each dialect numbers its own migrations. PostgreSQL's later ones tune
// for its single statements: covering keys for the referral chain (0003),
// room for heap-only updates of teams and the per-user counters and a
// partial index of reserved seats (0004), a full_at marker of fully paid
// forming teams in place of an index on seats_paid (0005), and an index
// for open teams in fullest order (0006; SQLite and MySQL 0003), so that
// MatchTeam's pick and OpenTeams' read stop early; the indexes of OpenTeams and DueTeams
// hold forming teams only (0007; SQLite 0004). Every dialect then adds
// seats.refund_attempt, groupbuy.Seat.RefundAttempt (PostgreSQL 0008,
// MySQL 0004, SQLite 0005), and puts the seats already in a refund state
// (refund_requested, refund_failed, refunded) at attempt 1, every other
// seat at 0. PostgreSQL 0009 and SQLite 0006 index ref_codes in
// UserCodes' page order (programme_id, user_id, created_at, code), so that
// a page is a range scan from its position; MySQL's index on
// (programme_id, user_id, created_at) ends with the primary key, code,
// already. Every dialect then adds ref_code_counts (PostgreSQL 0010,
// MySQL 0005, SQLite 0007): a user's count of codes in a programme,
// revoked ones included, filled from ref_codes; CreateCode raises it with
// a guarded write in the code's transaction, so that the programme's
// limit (referral.Programme.CodeLimit) holds against concurrent issuers.
// Then every dialect adds teams.seat_rows, groupbuy.Team.SeatRows
// (PostgreSQL 0011, MySQL 0006, SQLite 0008): the real seat rows a team
// has had, which a join and a match keep below groupbuy.MaxSeatRows
// (seat_rows < 4 * capacity + 8 in their guards); forming teams get their
// count of seats, closed teams keep 0 (they take no joins).
//
// # Migrations
//
// Migrations are forward-only: there are no down-migrations. To go back,
// restore a backup taken before Migrate, or fix forward with a release
// that adds a migration.
//
// Migrate first, then deploy: run Migrate before the code that needs the
// new schema starts. A release's code does not work on the schema before
// it in general: PostgreSQL's PaySeat and DueTeams read full_at, added by
// 0005, and the referral methods need 0002's tables. The other way round
// holds so far: the migrations only add tables, columns and indexes and
// replace indexes, and the code of each earlier release passes its
// conformance suite on today's schema, so instances of the previous
// release keep working while the new one rolls out after Migrate. (A
// pre-0005 PaySeat does not set full_at: a team that such an instance left
// fully paid and forming is completed at its deadline, not before. A
// release before the refund attempt column leaves it at 0 on the seats it
// moves to refund_requested after the migration: MarkRefunded and
// MarkRefundFailed take such a seat's attempt as attempt 1, and its next
// RetryRefund numbers attempt 2. A release before ref_code_counts neither
// counts nor limits the codes it issues after the migration: each such
// code lets its user exceed the limit by one; stop those instances
// before users can issue many codes. A release before the seat rows
// column opens teams at seat_rows 0 and does not count its joins: its instances
// do not keep the bound while they run, and a team they opened is bounded
// by the rows counted from the upgrade on.)
//
// A released migration is never edited: its changes go in a new
// migration. <prefix>schema_migrations records a checksum of each applied
// migration's statements (SHA-256 of the statements without the file's
// comment lines, before the prefix is substituted), and Migrate refuses to run
// (ErrMigrationChanged, naming the migration) when an applied migration's
// embedded statements differ from what was recorded. A database migrated
// by a release before checksums has none: Migrate adds the column (a
// brief lock of the version table only) and records the embedded
// migrations' checksums for the versions applied, as they stand.
//
// PostgreSQL and SQLite apply each migration in a transaction, so one that
// fails leaves nothing behind and the next Migrate applies it afresh.
// MySQL, whose DDL is not transactional, applies them under GET_LOCK
// without one (see Migrate): a migration that fails halfway (a lost
// connection, a full disk, a ctx that ended while the server went on)
// keeps the statements that ran and lacks its version row. Its statements
// can run again (CREATE TABLE IF NOT EXISTS; a CREATE INDEX whose index
// exists counts as done, also when the server finished building it after
// the client left, and so does an ADD COLUMN whose column exists), so the recovery is to remove the cause and run
// Migrate again, which completes the migration and records it; do not
// insert version rows by hand.
//
// A table or index that a pending migration creates and that exists
// already is not taken over: Migrate returns a *SchemaConflictError
// (ErrSchemaConflict) naming it and applies nothing of the migration. On
// PostgreSQL and SQLite such an object cannot be a migration's own (their
// migrations are transactions; SQLite's 0003, a CREATE INDEX IF NOT
// EXISTS, keeps an existing index only when it is the statement's); on
// MySQL, whose CREATE TABLE IF NOT
// EXISTS would keep a host's table of the same name and go on, an
// existing table counts as the migration's own, left by a crash, only
// when SHOW CREATE TABLE shows it as the statement creates it (compared
// with a temporary twin, which needs the CREATE TEMPORARY TABLES
// privilege). The index and column that a rerun takes as done (MySQL
// 1061, 1060) are matched by name only: they belong to a table that a
// migration created.
//
// A migration's DDL locks its table. On PostgreSQL, CREATE INDEX takes a
// SHARE lock: writes wait, reads go on. ALTER TABLE (a constraint, a
// column) and DROP INDEX take ACCESS EXCLUSIVE: reads wait too. Each lock
// is held until the migration commits, so a migration that drops and
// rebuilds an index keeps reads out for the whole build. Measured on
// PostgreSQL 15 with 2M teams, 2M seats and 1M rows each of ref_nodes and
// ref_distributors:
//
//	0003_referral_covering  8.0 s  reads and writes of ref_nodes waited (ref_distributors is locked alike)
//	0004_hot_updates        1.5 s  reads and writes of seats waited
//	0005_full_marker        3.9 s  reads and writes of teams waited
//	0006_teams_fullest      3.9 s  writes of teams waited, reads went on
//	0007_forming_indexes    4.6 s  reads and writes of teams waited
//	0008_refund_attempt     not measured; reads and writes of seats wait for a scan of seats
//	0009_ref_codes_page     8.9 s  on 1M codes: writes of ref_codes waited, reads went on (the DROP INDEX is last)
//	0010_ref_code_counts    not measured; one scan of ref_codes, nothing waits (codes issued meanwhile by a previous release are not counted)
//	0011_seat_rows          not measured; reads and writes of teams wait while forming teams are counted
//
// On MariaDB 10.11, mysql/0003 (InnoDB builds the index online) took 5.8 s
// on 2M teams, and writes of teams waited at most 41 ms meanwhile. SQLite's
// have not been measured; a migration holds the database's write lock
// until it commits (in WAL mode readers go on). The times grow with the
// tables: plan an upgrade by them, and migrate when traffic is low.
//
// Before its DDL runs, a migration waits for every open transaction that
// has touched the table (on MySQL too: online DDL takes an exclusive
// metadata lock at its start and end), and while it waits, the table's
// new queries queue behind it. Migrate bounds each such wait at 2 s
// (PostgreSQL's lock_timeout, set for the migration's transaction;
// MySQL's lock_wait_timeout, set for its connection and restored
// afterwards), then rolls the migration back (on MySQL, the statement),
// pauses (0.5 s, doubling up to 8 s, jittered) so that the queued queries
// run, and tries again, until its ctx is done; then it returns an error
// naming the migration that could not get its locks. A query of the table
// thus waits at most about 2 s for each try, plus the migration's run once
// it holds the lock. A host transaction that stays open (or a session idle
// in a transaction) keeps the migration out for as long: give Migrate a
// ctx with a deadline, and find such sessions (pg_stat_activity,
// information_schema.PROCESSLIST) when it fails. A migration does not
// inherit the host's statement timeout (PostgreSQL statement_timeout and
// MariaDB max_statement_time are 0 for it), so that an index build is not
// cut short; on MySQL a second migrator waits for the first one's
// GET_LOCK until its ctx is done.
//
// Who waits for a running migration: the queries of its tables, as above;
// on SQLite every write of the database (the host's tables too), as the
// migration holds the write lock. A second migrator of the same database
// and prefix waits for the first: on PostgreSQL for the migration the
// first is applying (the version row's key, retried as a lock wait), then
// skips it; on MySQL for the first's whole run (GET_LOCK); on SQLite for
// the write lock, up to the busy timeout per try and WithMaxRetries
// tries, after which it fails with the busy error. Other prefixes, and
// the Store's commands, take no migration lock. Instances that run
// Migrate at start-up therefore start no sooner than a long migration
// ends: run such a migration as a deploy step of its own, with a
// deadline, before the instances start.
//
// A guarded write that finds its row by primary key keeps its guards in a
// CASE (byKey in store.go), out of reach of the planner's index matching:
// PostgreSQL matched state = 'forming' to the partial indexes above and, on
// young tables without statistics, kept a cached generic plan that scanned
// teams_fullest or seats_due end to end for one row (TestGuardedWritesUsePrimaryKey).
//
// # How writes stay correct
//
// Every write applies a guarded delta: the preconditions are part of the
// statements that write (UPDATE ... WHERE state = 'forming' AND seats_taken
// < capacity ..., INSERT ... ON CONFLICT ... DO UPDATE ... WHERE joined <
// max), together with the rows, the outbox events and the idempotency
// record, atomically. When a guard matches no row or a unique key is hit,
// the attempt is rolled back and a diagnosis reads the current state to
// name the failed precondition in the order the groupbuy.Store contract
// gives (an existing idempotency record first, as a *groupbuy.ReplayError).
// If every precondition holds again (a concurrent change was undone) the
// write is rerun, at most WithMaxRetries times (default
// DefaultMaxRetries), then storage.ErrConflict.
//
// Without WithTx the Store owns its transactions and reruns those the
// database aborted as retryable (PostgreSQL 40001/40P01, MySQL 1213/1205,
// SQLite BUSY/LOCKED) up to WithMaxRetries times with a jittered backoff;
// past that the error is marked retryable (storage.IsRetryable). Under
// WithTx nothing is retried: each write runs under a SAVEPOINT that is
// rolled back when it fails, so a refused write leaves the host's
// transaction usable and unchanged (also a write whose ctx ended between
// its statements: the rollback does not obey that ctx; if it cannot be
// sent, the error comes back marked retryable, for the host to roll
// back), and retryable errors come back marked
// for the host to rerun its whole transaction; so does the ErrConflict of
// a write whose preconditions all hold in the host's snapshot although its
// guard failed (under REPEATABLE READ the snapshot may be older than what
// the write's locking reads saw), and the refusal of a close, a refund
// step, a release, a campaign's status change, a distributor's move or a
// binding whose row, read locked, changed after the snapshot, which still
// shows it as
// the write expected: the Service, re-reading in that snapshot, would only
// lose again (the Services return such a conflict at once). So does a
// write or a read that does not find a row committed after the snapshot:
// OpenTeam and MatchTeam in such a campaign, SetCampaignStatus and
// GetCampaign of it, JoinTeam, CloseTeam, GetTeam and TeamSeats of such a
// team, PaySeat, ReleaseSeat, UpdateRefund and GetSeat of such a seat,
// CreateCode, SetDistributor, Bind and GetProgramme of such a programme
// (and Bind with RequireActiveReferrer of such a referrer's distributor
// row), RevokeCode and GetCode of such a code, and SaveAttribution that
// hits such an attribution: the row exists, and a rerun finds it, so the
// answer is no ErrNotFound (nor ErrCodeNotFound or ErrNotDistributor),
// which the Services, reading before they write, would pass on. MySQL's
// consistent reads, and every statement of a PostgreSQL REPEATABLE READ
// transaction, miss such a row; before answering not found the Store
// looks for it beyond the snapshot: on MySQL with a locking read in the
// host's transaction (its shared lock lasts until the host rolls back),
// on PostgreSQL with a read on the pool, made only when the pool has a
// connection free within 50 ms (else the answer stays not found). A row
// that does not exist is not found as before; GetIdempotency,
// GetDistributor and GetBinding, whose not-found is the usual answer (no
// record yet, no distributor, unbound), stay the snapshot's, and the
// write that follows them catches a row committed meanwhile. Bind reads
// the referrer's distributor row with a locking read (FOR SHARE), so that
// MySQL answers from its latest version and PostgreSQL fails retryably
// when it changed after the snapshot. A campaign's status is read in the
// host's snapshot too: under REPEATABLE READ a transaction that began
// before the campaign was paused still opens and matches teams in it (and
// joins, on PostgreSQL; on MySQL a join then comes back retryable), as if
// it had run before the pause. Likewise on PostgreSQL a refusal that the
// snapshot explains (a team full or closed in it, though a seat was freed
// since) is the snapshot's answer, as if the host's transaction had run at
// its snapshot; MySQL's locking reads answer from the latest rows.
//
// # Statements per command
//
// PostgreSQL, Store-owned transactions: OpenTeam, JoinTeam, MatchTeam,
// PaySeat and RecordOutcome are one statement each (a data-modifying CTE in autocommit:
// one round trip, one commit). Under READ COMMITTED every part of such a
// statement reads the snapshot taken when the statement started; only a row
// that an UPDATE (or an ON CONFLICT DO UPDATE) locks is re-evaluated on its
// latest version after waiting for the lock. The statements are built so
// that every guard that matters sits on such a row, or on a unique key:
//
//   - JoinTeam: t = the guarded team UPDATE (forming, not expired, a free
//     seat, a seat row left, campaign active, no idempotency record; it
//     adds one to seats_taken and to seat_rows), which locks the team
//     row and re-checks the guard on its latest version; u = the per-user
//     counter, INSERT ... ON CONFLICT DO UPDATE SET joined = joined + 1
//     WHERE joined < max, depending on t (only when the campaign has that
//     limit: limits never change, so an unlimited count is never kept);
//     then the seat INSERT (its unique
//     key catches a second live seat of the user), the events and the
//     idempotency record, depending on t and u. The idempotency check is a
//     NOT EXISTS on the statement's snapshot, so a concurrent first request
//     is caught by the record's primary key instead. When t updated the
//     team but u's guard failed, the final SELECT divides by zero on purpose
//     (1 / (s.reserved_until IS NOT NULL)::integer over t LEFT JOIN s: a
//     column, so never folded at plan time) and PostgreSQL rolls the whole
//     statement back.
//   - MatchTeam: c = the campaign, active (and no idempotency record); p =
//     the first qualifying team in the write's order (forming, not
//     expired, a free seat, a seat row left, not excluded, no live seat
//     of the user), read
//     with FOR NO KEY UPDATE SKIP LOCKED: PostgreSQL skips rows others
//     hold locked and re-checks the conditions on the latest version of
//     the row it locks; then JoinTeam's parts on that team (t with its
//     guards again, u, the seat), the events and the record, whose
//     TeamIDHole the statement fills from the seat's team_id (raw in event
//     keys; as JSON string content, escaped as encoding/json escapes it, in payloads and the
//     record's result). When c holds and no team qualifies, a second
//     branch (UNION ALL) returns one row flagged as "no team", so that
//     ErrTeamFull needs no diagnosis. For MatchRandom, k numbers the first
//     32 qualifying teams (no lock), f computes groupbuy.RandomPicks from
//     the write's Pick in SQL, and p locks the first pick, or the second
//     when the first is held (SKIP LOCKED, re-checked on the latest
//     version), so that at most one team row is locked. With
//     groupbuy.MatchTeamWrite.Open
//     the same statement opens that team instead: oc = c, the campaign's
//     window taking seats and p empty; then OpenTeam's parts depending on
//     oc (the counter of teams opened, the team, its leader seat, the
//     events, the record under the match's key), and the flagged row
//     comes from the leader seat's INSERT. p and oc exclude each other, so
//     one statement either joins or opens: Service.Match is one round trip
//     in both cases. When the open's guard fails, a third flagged row says
//     so, and the diagnosis checks OpenTeam's preconditions (a team the
//     pick skipped as held would mislead a diagnosis that looked for
//     qualifying teams).
//   - PaySeat: t = the guarded team UPDATE (seats_paid + 1, forming, not
//     expired) first, so the team row is locked before the seat, as every
//     writer does; s = the guarded seat UPDATE ... FROM t (reserved, not
//     lapsed, this team, this amount and currency), re-checked on the
//     seat's latest version; events and idempotency record depending on s;
//     the same division by zero when t matched and s did not.
//     The payment that fills its team completes it too, when the Store
//     expects it to: a payment through this Store that left the team one
//     payment from full marks the team (lastPays, per Store, at most
//     4,096 teams), and the team's next payment sends the completing form.
//     There t also sets the team succeeded when seats_paid + 1 reaches
//     capacity, s confirms the seat, c confirms the team's other paid
//     seats, and the outbox gets the payment's event, then
//     groupbuy.TeamFilledEvent's, built in SQL from the seats that s and c
//     return, in TeamSeats order and byte for byte as encoding/json writes
//     it. c scans the seats in the statement's snapshot, which may be older
//     than the team lock's wait; PostgreSQL re-checks each row on its
//     latest version, so a seat paid meanwhile is confirmed. A seat
//     inserted meanwhile is missing from the snapshot: the statement then
//     counts fewer confirmed seats than seats_paid and fails on purpose
//     (ln(0), SQLSTATE 2201E), and the payment is sent again in the plain
//     form below. The completing form is not sent for every payment: its
//     larger plan, which PostgreSQL sets up on every run, cost the nine
//     payments in ten that fill nothing more than it saved on the tenth
//     (BENCHMARKS.md, session K).
//     The plain form never completes the team: its snapshot may lack
//     seats that other payments committed while it waited for the team
//     lock. When it makes SeatsPaid reach Capacity, a new statement, whose
//     snapshot holds every payment of the team (each committed before this
//     payment took the team's lock, and none can follow a full payment
//     count), completes the team: UPDATE it to succeeded WHERE forming AND
//     seats_paid >= capacity, confirm its paid seats, and write
//     TeamFilledEvent from the seats it confirmed, built in SQL as above
//     (dividing by zero when it confirmed another number than seats_paid).
//     A write without FillEventID, or whose ID is unusable, gets OnFill's
//     events instead: PaySeat reads the seats, builds the events from them
//     and completes the team in one more statement of the same guards.
//     Each happens once whoever runs it. If the process dies between the
//     payment and the completion, or the completion fails, DueTeams lists
//     the team (forming, SeatsPaid = Capacity) and ProcessDue completes it.
//     The team's Version is bumped once per payment, in either form.
//   - OpenTeam: campaign active and in its window (and no idempotency
//     record), then the guarded per-user counter, then the team, leader
//     seat, events and idempotency record, each depending on the part
//     before, so a failed guard inserts nothing.
//   - RecordOutcome: INSERT the idempotency record ON CONFLICT DO NOTHING,
//     and the events depending on it.
//
// A refused command costs one or two more reads (the diagnosis), but for a
// JoinTeam refused by its team's guard on PostgreSQL: when t updates no
// row, a second branch of the final SELECT (UNION ALL, run only then)
// reads the team, its campaign's status, the user's live seats in it and
// the records of the key, as of the statement's snapshot; a closed or full
// team, a team at its seat-row bound (groupbuy.ErrTeamChurned), an
// inactive campaign, a user already in the team or a team of another
// campaign is then reported from that row, in one round trip. A
// refusal the row cannot explain (a change committed after the snapshot,
// an existing record, whose replay needs the record) goes to the
// diagnosis. A payment
// that fills its team costs 1 statement in the completing form, 2 in the
// plain form (the payment, the completion), 3 when the completing form
// found its snapshot stale, and 3 without FillEventID (the payment, the
// read of the seats, the completion). ReleaseSeat, CloseTeam, UpdateRefund and SetCampaignStatus use
// the generic transaction below;
// CreateCampaign, Claim and Ack are one statement each.
//
// On PostgreSQL these single statements run under WithTx too, each under a
// savepoint of the host's transaction (SAVEPOINT, the statement, RELEASE):
// 3 per command. A groupbuy.Service built for each transaction starts with
// an empty campaign cache, so its first Open, Join or Match there reads the
// campaign first: one statement more, on every dialect.
//
// MySQL/MariaDB and SQLite, which lack data-modifying CTEs, use one short
// transaction per command that takes the team's row lock first (SELECT ... FOR UPDATE; on
// SQLite BEGIN IMMEDIATE already holds the database's write lock) and
// checks the idempotency record in the same statement, then sends the
// guarded statements. Counting BEGIN and COMMIT:
//
//   - JoinTeam: BEGIN, lock team (and check the key), guarded team UPDATE,
//     seat INSERT, counter upsert (only with a join limit), events INSERT,
//     idempotency INSERT, COMMIT: 8 (one less without a key, one less
//     without a limit; +1 on MySQL with a limit, whose upsert takes two
//     statements because ON DUPLICATE KEY UPDATE's row count cannot tell
//     "inserted" from "unchanged" under clientFoundRows).
//   - MatchTeam: BEGIN (READ COMMITTED on MySQL, whose REPEATABLE READ
//     also locks the gaps of the index the pick scans, and matchers then
//     deadlocked with payments), read the idempotency record (only with a
//     key), read the campaign, pick and lock the team (FOR UPDATE SKIP
//     LOCKED on MySQL and PostgreSQL; MatchRandom reads its candidates'
//     IDs first, then locks its first pick, or its second), then
//     JoinTeam's writes with the holes filled
//     (groupbuy.MatchTeamWrite.Filled), COMMIT: 7 to join without a key or
//     a limit (+2 with a key, the record's read and INSERT; +1 with a join
//     limit, +2 on MySQL; +1 for MatchRandom's read of its candidates),
//     so 7 to 11 on SQLite and 7 to 12 on MySQL, where MatchRandom sends
//     one more when its first pick was taken or is held (on SQLite the
//     write lock keeps the candidates as read). When no team qualifies
//     and the write has Open, OpenTeam's reads and writes in the same
//     transaction instead of the join's: 8 without a key or a limit (the
//     same +2 with a key; +1 with a limit of teams opened, +2 on MySQL),
//     so 8 to 11 on SQLite and 8 to 12 on MySQL.
//   - PaySeat: BEGIN, lock the team and read and lock the seat (and check
//     the key) in one statement (the team first: STRAIGHT_JOIN on MySQL),
//     the guarded UPDATE of seat and team (completing the team when this
//     is the last payment: the lock makes the seats read next complete;
//     one UPDATE of both rows on MySQL, one each on SQLite), events
//     INSERT, idempotency INSERT, COMMIT: 6 on MySQL and 7 on SQLite (+2
//     when it fills the team: confirm the paid seats and read them, for
//     OnFill; 8 and 9). The seat returned is the one read, paid; it is
//     not read again.
//   - OpenTeam: BEGIN, the campaign's status and window with the
//     idempotency record's count in one read, counter upsert (only with a
//     limit of teams opened), team INSERT, seat INSERT, events INSERT,
//     idempotency INSERT (only with a key), COMMIT: 7 (one less without a
//     limit, one more with a key; +1 on MySQL with a limit, whose upsert
//     takes two statements as JoinTeam's does).
//
// Under WithTx, SAVEPOINT and RELEASE replace BEGIN and COMMIT. RoundTrips
// counts the statements sent (and the Store's prepares), for benchmarks.
//
// # Prepared statements
//
// On MySQL and SQLite a Store prepares the statements of its commands and
// reads once, on the pool, and reuses them on the pool and in transactions,
// its own and the host's (WithTx): each is then parsed once per connection,
// and on MySQL a statement with arguments is one round trip, not a
// prepare, an execute and a close (go-sql-driver/mysql without
// interpolateParams).
//
// A transaction holds a connection, so preparing a statement it meets
// first could wait forever on a full pool. Such a statement is prepared on
// the pool at once only when the pool has an idle connection or room for
// one, waiting at most 50 ms; after a wait that ran out, transactions stop
// trying for a pause of 1 s, doubling up to 1 min. Otherwise it runs as
// text there and is prepared at the Store's next use of the pool (a
// statement on the pool, or the start of its own transaction; at most 8 at
// a time). A host transaction binds each statement to itself once,
// however long it runs; one of another *sql.DB than the Store's gets text.
//
// Statements whose text varies with their arguments (IN lists, more than
// 40 placeholders) always run as text. A Store prepares at most
// DefaultPreparedStatements (WithPreparedStatements; 0 turns preparing
// off). A statement that failed to prepare (its table did not exist yet,
// say) is tried again after a pause of 1 s, doubling up to 5 min, or at
// once after Migrate.
//
// database/sql prepares a statement again on each connection new to it,
// so the gain needs connections that live: set MaxIdleConns near
// MaxOpenConns (database/sql keeps 2 idle connections by default) and no
// short ConnMaxLifetime. On MySQL each connection holds its own copy, and
// max_prepared_stmt_count (16,382 by default) caps them for the whole
// server, across every process and client: a few dozen statements per Store
// times the connections that used them. Make one Store per database and
// prefix and keep it; Close releases its statements, as does the garbage
// collector once no Store refers to them. PostgreSQL's drivers keep their
// own (pgx prepares and caches each statement per connection), so a
// PostgreSQL Store prepares nothing.
//
// # Outbox
//
// Events get a sequence number (identity, AUTO_INCREMENT, AUTOINCREMENT) in
// the order they were written; Claim hands out the oldest first. On
// PostgreSQL Claim is one UPDATE ... WHERE seq IN (SELECT ... FOR UPDATE
// SKIP LOCKED) RETURNING; on MySQL a READ COMMITTED transaction selects
// the rows FOR UPDATE SKIP LOCKED, leases and reads them (under WithTx,
// whose transaction may be REPEATABLE READ, it reads them without locks
// first and then locks them by key, so that no gap lock at the outbox's
// end holds up the writers appending events); on SQLite one
// UPDATE ... RETURNING under the write lock. Lease math uses the Store's
// clock (WithClock); a lease ends on a whole microsecond, rounded up, so
// that the column's precision never ends it early. Ack deletes the rows
// (on MySQL under WithTx, those of its IDs that a read without locks
// finds, so that an ID acked already locks no gap of the ID index).
//
// # Connection settings
//
// SQLite: the DSN must set a busy timeout and immediate transactions, and
// should use WAL, e.g.
// "file:app.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
// (modernc.org/sqlite). Without _txlock=immediate concurrent writers fail
// with SQLITE_BUSY and exhaust their retries.
//
// MySQL (github.com/go-sql-driver/mysql): any parseTime and loc setting
// works (DATETIME values are written as UTC text and read back as the UTC
// wall clock). interpolateParams matters only for statements sent as text
// (see Prepared statements): with it, those are one round trip instead of
// two; a prepared statement's first use on a connection is two either way.
// MySQL 8.0+ or MariaDB 10.6+ (FOR UPDATE SKIP LOCKED).
//
// PostgreSQL: any driver whose errors have SQLState() (pgx's stdlib, lib/pq).
// The SQL is written for PostgreSQL 13+ and avoids advisory locks and
// gap-free sequences so that it can run on PostgreSQL-wire databases
// (CockroachDB, YugabyteDB); that has not been tested. There, transactions
// are SERIALIZABLE, so contention shows up as 40001 errors, which the Store
// retries.
package sqlstore
