package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
)

// Dialect names the SQL dialect of the database behind a Store.
type Dialect int

// The supported dialects.
const (
	// Postgres is PostgreSQL 13 or later (and, see the package doc,
	// PostgreSQL-wire databases such as CockroachDB and YugabyteDB).
	Postgres Dialect = iota + 1
	// MySQL is MySQL 8.0 or later and MariaDB 10.6 or later.
	MySQL
	// SQLite is SQLite 3.35 or later (modernc.org/sqlite).
	SQLite
)

// String returns the dialect's name: "postgres", "mysql" or "sqlite".
func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case MySQL:
		return "mysql"
	case SQLite:
		return "sqlite"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// DefaultTablePrefix is the prefix of every table and index unless
// WithTablePrefix sets another.
const DefaultTablePrefix = "scsdk_"

// DefaultMaxRetries is how often a Store reruns a transaction that the
// database aborted as retryable, unless WithMaxRetries sets another number.
const DefaultMaxRetries = 5

var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,30}$`)

// Option configures a Store in New.
type Option func(*config)

type config struct {
	prefix     string
	now        func() time.Time
	maxRetries int
	prepared   int
}

// WithTablePrefix sets the prefix of every table, index and of the
// migrations-version table. It must match ^[a-z][a-z0-9_]{0,30}$; the
// default is DefaultTablePrefix. Two Stores with different prefixes share
// nothing, which is how tests isolate themselves in one database.
func WithTablePrefix(p string) Option { return func(c *config) { c.prefix = p } }

// WithClock sets the clock used for outbox lease math in Claim; default
// time.Now in UTC. Every other time a Store writes comes from the write
// itself (its Now field).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithMaxRetries sets how often a transaction that the database aborted as
// retryable (serialization failure, deadlock, lock timeout, busy) is rerun
// when the Store owns it; 0 disables retries. Default DefaultMaxRetries.
func WithMaxRetries(n int) Option { return func(c *config) { c.maxRetries = n } }

// WithPreparedStatements sets how many statements a Store prepares at most
// on MySQL and SQLite (see the package doc's Prepared statements); 0 turns
// preparing off, so that every statement is sent as text, as a host may
// want behind a proxy that multiplexes connections or with MySQL's
// max_prepared_stmt_count at 0. Default DefaultPreparedStatements; at most
// 1,000. PostgreSQL Stores prepare nothing themselves whatever it says.
func WithPreparedStatements(n int) Option { return func(c *config) { c.prepared = n } }

// Store is the database/sql adapter of groupbuy.Store and storage.Outbox. It
// is safe for concurrent use. Create it with New and create its tables with
// Migrate.
type Store struct {
	db         *sql.DB
	tx         *sql.Tx // set by WithTx
	d          Dialect
	prefix     string
	now        func() time.Time
	maxRetries int
	trips      *atomic.Int64
	retries    *atomic.Int64
	queries    *sync.Map  // template → *query
	stmts      *stmtCache // prepared statements on MySQL and SQLite; nil on PostgreSQL, whose driver keeps its own
	txStmts    *txStmts   // the host transaction's statements, set by WithTx when stmts is
	texts      *pgTexts   // PostgreSQL's single statements by shape; nil on other dialects
	lastPays   *lastPays  // PostgreSQL's teams one payment from full; nil on other dialects

	migrationLockTimeout time.Duration // Migrate's bound on each lock wait; 0: migrationLockTimeout
	savepointEndTimeout  time.Duration // bound on a savepoint's rollback or release under WithTx; 0: savepointEndTimeout
}

var (
	_ groupbuy.Store = (*Store)(nil)
	_ storage.Outbox = (*Store)(nil)
)

// New returns a Store on db, which must be open on a database of dialect d.
// It touches no table: run Migrate once (at deploy or start-up) before use.
//
// SQLite needs the DSN to set a busy timeout and immediate transactions,
// e.g. "file:app.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate";
// see the package doc for MySQL.
func New(db *sql.DB, d Dialect, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, &storage.ValidationError{Field: "db", Reason: "must not be nil"}
	}
	switch d {
	case Postgres, MySQL, SQLite:
	default:
		return nil, &storage.ValidationError{Field: "dialect", Reason: fmt.Sprintf("unknown dialect %d", int(d))}
	}
	c := config{prefix: DefaultTablePrefix, maxRetries: DefaultMaxRetries, prepared: DefaultPreparedStatements}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if !prefixRE.MatchString(c.prefix) {
		return nil, &storage.ValidationError{Field: "prefix", Reason: "must match ^[a-z][a-z0-9_]{0,30}$"}
	}
	if c.maxRetries < 0 || c.maxRetries > 100 {
		return nil, &storage.ValidationError{Field: "maxRetries", Reason: "must be in 0..100"}
	}
	if c.prepared < 0 || c.prepared > 1000 {
		return nil, &storage.ValidationError{Field: "preparedStatements", Reason: "must be in 0..1000"}
	}
	if c.now == nil {
		c.now = func() time.Time { return time.Now().UTC() }
	}
	s := &Store{
		db: db, d: d, prefix: c.prefix, now: c.now, maxRetries: c.maxRetries,
		trips: new(atomic.Int64), retries: new(atomic.Int64), queries: new(sync.Map),
	}
	if d == Postgres {
		s.texts, s.lastPays = new(pgTexts), new(lastPays)
	} else {
		s.stmts = newStmtCache(db, c.prepared, s.trips)
	}
	return s, nil
}

// Close releases the statements the Store prepared on MySQL and SQLite (on
// each connection that used them); it does not close the database. Call it
// when the Store goes and the database stays; a Store that becomes
// unreachable releases them too, once the garbage collector finds it, but
// MySQL caps prepared statements server-wide (max_prepared_stmt_count), so
// do not wait for that. A Store used after Close, or while it closes,
// sends its statements as text. Close on a Store returned by WithTx does
// nothing: the statements belong to the Store it came from.
func (s *Store) Close() error {
	if s.tx != nil {
		return nil
	}
	return s.stmts.close()
}

// Dialect returns the store's dialect.
func (s *Store) Dialect() Dialect { return s.d }

// WithTx returns a Store bound to the host's transaction tx: every method
// runs inside tx (under a savepoint, so that a failed write leaves tx as it
// was), commits nothing and retries nothing. An error that a rerun of the
// whole transaction may cure comes back marked retryable
// (storage.IsRetryable); the host then rolls back and runs its transaction
// again. The returned Store shares the round-trip counter with s. Reads
// also go through tx; under REPEATABLE READ a method that looks a row up
// by its key and misses one committed after tx's snapshot returns a
// retryable conflict, not the snapshot's not-found (the package doc lists
// which). A nil tx returns s unchanged.
func (s *Store) WithTx(tx *sql.Tx) *Store {
	if tx == nil {
		return s
	}
	c := *s
	c.tx = tx
	if s.stmts != nil {
		c.txStmts = new(txStmts)
	}
	return &c
}

// RoundTrips returns how many statements this Store (and the Stores that
// WithTx derived from it) has sent so far, counting BEGIN, COMMIT, ROLLBACK
// and SAVEPOINT statements and the Store's own prepares too; database/sql's
// prepares of a prepared statement on a connection new to it are not
// counted. Benchmarks divide it by the number of commands.
func (s *Store) RoundTrips() int64 { return s.trips.Load() }

// Retries returns how many times this Store (and the Stores that WithTx
// derived from it) has rerun a transaction or statement that the database
// aborted as retryable, and how many times a write was rerun because a
// concurrent change it lost to had been undone by the time it diagnosed
// the failure.
func (s *Store) Retries() int64 { return s.retries.Load() }

// query returns the statement of a query template, made on first use. Its
// final text: {p} becomes the table prefix and, on PostgreSQL, each ?
// becomes $1, $2, ... Templates never hold a ? inside a string literal.
func (s *Store) query(tmpl string) *query {
	if q, ok := s.queries.Load(tmpl); ok {
		return q.(*query)
	}
	text := strings.ReplaceAll(tmpl, "{p}", s.prefix)
	if s.d == Postgres {
		var b strings.Builder
		b.Grow(len(text) + 16)
		n := 0
		for i := 0; i < len(text); i++ {
			if text[i] == '?' {
				n++
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(n))
				continue
			}
			b.WriteByte(text[i])
		}
		text = b.String()
	}
	q, _ := s.queries.LoadOrStore(tmpl, newQuery(text))
	return q.(*query)
}

// querier is what *sql.DB, *sql.Tx and *sql.Conn have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// run sends statements through a querier, counting round trips and
// expanding query templates. On the Store's pool and in transactions,
// statements go through the Store's prepared statements (see stmtCache);
// elsewhere (migrations, IN lists) they are sent as text.
type run struct {
	s      *Store
	q      querier
	tx     *sql.Tx // q, when it is a transaction
	host   bool    // tx is the host's (WithTx), perhaps of another *sql.DB
	pooled bool    // q is the Store's pool
}

// pool returns a run on the Store's pool.
func (s *Store) pool() run { return run{s: s, q: s.db, pooled: true} }

// ownTx returns a run in a transaction the Store began itself.
func (s *Store) ownTx(tx *sql.Tx) run { return run{s: s, q: tx, tx: tx} }

// hostTx returns a run in the host's transaction (WithTx).
func (s *Store) hostTx() run { return run{s: s, q: s.tx, tx: s.tx, host: true} }

func (r run) exec(ctx context.Context, tmpl string, args ...any) (sql.Result, error) {
	r.s.trips.Add(1)
	q := r.s.query(tmpl)
	if st := r.stmt(ctx, q); st != nil {
		res, err := st.ExecContext(ctx, args...)
		if !r.sendText(err) {
			return res, err
		}
	}
	return r.q.ExecContext(ctx, q.text, args...)
}

// affected runs a statement and returns the number of rows it changed.
func (r run) affected(ctx context.Context, tmpl string, args ...any) (int64, error) {
	res, err := r.exec(ctx, tmpl, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (r run) query(ctx context.Context, tmpl string, args ...any) (*sql.Rows, error) {
	r.s.trips.Add(1)
	q := r.s.query(tmpl)
	if st := r.stmt(ctx, q); st != nil {
		rows, err := st.QueryContext(ctx, args...)
		if !r.sendText(err) {
			return rows, err
		}
	}
	return r.q.QueryContext(ctx, q.text, args...)
}

// queryText is query for a statement whose text is final (prefix in place,
// PostgreSQL's placeholders): it skips the lookup of the template, which
// hashes and compares the whole text.
func (r run) queryText(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	r.s.trips.Add(1)
	return r.q.QueryContext(ctx, q, args...)
}

func (r run) row(ctx context.Context, tmpl string, args ...any) *sql.Row {
	r.s.trips.Add(1)
	q := r.s.query(tmpl)
	if st := r.stmt(ctx, q); st != nil {
		if row := st.QueryRowContext(ctx, args...); !r.sendText(row.Err()) {
			return row
		}
	}
	return r.q.QueryRowContext(ctx, q.text, args...)
}

// reader returns where reads go: the host's transaction under WithTx, else
// the pool.
func (s *Store) reader() run {
	if s.tx != nil {
		return s.hostTx()
	}
	return s.pool()
}

// errGuard reports that a guarded statement matched no row or hit a unique
// key: the attempt was rolled back and the caller diagnoses why.
type errGuard struct{ what string }

func (e *errGuard) Error() string { return "sqlstore: guard failed: " + e.what }

func guard(what string) error { return &errGuard{what} }

// byKey is the WHERE clause of a guarded write that finds its row by primary
// key: the key's equality, and the guards wrapped in a CASE so that no
// planner can use them to pick an index. PostgreSQL would otherwise match
// guards such as state = 'forming' to the partial indexes behind Match and
// ProcessDue, and on young tables without statistics (the cost of every
// index is then the same) it scanned teams_fullest or seats_due from end to
// end for the one row, in a generic plan that it kept for the connection's
// life. The CASE changes nothing else: it is true exactly when the guards
// are, and PostgreSQL re-checks it on a row's latest version like any other
// condition.
func byKey(key, guards string) string {
	return key + byKeyCase + guards + byKeyEnd
}

// byKeyCase and byKeyEnd enclose byKey's guards.
const (
	byKeyCase = " AND CASE WHEN "
	byKeyEnd  = " THEN TRUE END"
)

// uniqueAsGuard turns a unique violation into a guard failure.
func (s *Store) uniqueAsGuard(err error, what string) error {
	if err != nil && s.isUnique(err) {
		return guard(what + ": unique key")
	}
	return err
}

// inTx runs fn in a transaction. Under WithTx that is the host's transaction,
// under a savepoint that is rolled back when fn fails; a retryable error is
// marked and returned. Otherwise the Store begins its own transaction and
// reruns it (up to maxRetries, WithMaxRetries) when the database aborts it as retryable.
func (s *Store) inTx(ctx context.Context, fn func(r run) error) error {
	return s.inTxOpts(ctx, nil, fn)
}

// inTxOpts is inTx beginning its own transactions with opts.
func (s *Store) inTxOpts(ctx context.Context, opts *sql.TxOptions, fn func(r run) error) error {
	if s.tx != nil {
		return s.inHostTx(ctx, fn)
	}
	return s.retry(ctx, func() error {
		s.stmts.prepareWanted(ctx)
		s.trips.Add(1)
		tx, err := s.db.BeginTx(ctx, opts)
		if err != nil {
			return err
		}
		if err := fn(s.ownTx(tx)); err != nil {
			s.trips.Add(1)
			_ = tx.Rollback()
			return err
		}
		s.trips.Add(1)
		return tx.Commit()
	})
}

// inStmt runs fn, which sends a single statement: in autocommit, rerun when
// the database aborts it as retryable, or under WithTx under a savepoint of
// the host's transaction.
func (s *Store) inStmt(ctx context.Context, fn func(r run) error) error {
	if s.tx != nil {
		return s.inHostTx(ctx, fn)
	}
	return s.retry(ctx, func() error { return fn(s.pool()) })
}

// inHostTx runs fn under a savepoint of the host's transaction.
//
// The savepoint is rolled back or released on a context that ctx's end
// cannot stop: the host's transaction lives on under the host's own
// context, and a write whose ctx ended between two of its statements
// would otherwise stay in it half done (database/sql sends nothing on an
// ended context), for the host to commit. A savepoint that could not be
// rolled back leaves the host's transaction holding part of the write:
// the error is then marked retryable, so that the host rolls back.
func (s *Store) inHostTx(ctx context.Context, fn func(r run) error) error {
	r := s.hostTx()
	if _, err := r.exec(ctx, "SAVEPOINT scsdk_write"); err != nil {
		return s.markRetryable(err)
	}
	err := fn(r)
	// The timeout starts once fn is done, so that a write that waited
	// long (for a row lock, say) still gets its savepoint's end sent.
	end, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.savepointEnd())
	defer cancel()
	if err != nil {
		if _, rerr := r.exec(end, "ROLLBACK TO SAVEPOINT scsdk_write"); rerr != nil {
			return storage.MarkRetryable(fmt.Errorf("%w (rollback to savepoint: %v; the transaction holds part of the write: roll it back)", err, rerr))
		}
		if _, rerr := r.exec(end, "RELEASE SAVEPOINT scsdk_write"); rerr != nil {
			return s.markRetryable(fmt.Errorf("%w (release savepoint: %v)", err, rerr))
		}
		return s.markRetryable(err)
	}
	_, err = r.exec(end, "RELEASE SAVEPOINT scsdk_write")
	return s.markRetryable(err)
}

// savepointEndTimeout bounds the rollback or release of a write's
// savepoint in the host's transaction, which runs after the write's ctx
// may have ended; it is counted from the write's end, not its start.
const savepointEndTimeout = 5 * time.Second

func (s *Store) savepointEnd() time.Duration {
	if s.savepointEndTimeout > 0 {
		return s.savepointEndTimeout
	}
	return savepointEndTimeout
}

// markRetryable marks err retryable when the database says a rerun may cure
// it.
func (s *Store) markRetryable(err error) error {
	if err != nil && s.isRetryable(err) && !storage.IsRetryable(err) {
		return storage.MarkRetryable(err)
	}
	return err
}

// retry runs f until it succeeds, fails for a reason a rerun cannot cure, or
// failed retryably maxRetries+1 times; the last retryable error comes back
// marked. Under WithTx it runs f once.
func (s *Store) retry(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || !s.isRetryable(err) {
			return err
		}
		if s.tx != nil || attempt >= s.maxRetries {
			return s.markRetryable(err)
		}
		if werr := backoff(ctx, attempt); werr != nil {
			return s.markRetryable(err)
		}
		s.retries.Add(1)
	}
}

// backoff sleeps a jittered, exponentially growing pause: up to 2 ms after
// the first failure, capped at 100 ms.
func backoff(ctx context.Context, attempt int) error {
	limit := 2 * time.Millisecond << min(attempt, 6)
	limit = min(limit, 100*time.Millisecond)
	return sleep(ctx, time.Duration(rand.Int64N(int64(limit)))+100*time.Microsecond)
}

// sleep waits d, or returns ctx's error if ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
