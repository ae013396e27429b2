package sqlstore

import (
	"context"
	"database/sql"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPreparedStatements is how many statements a Store prepares at most
// on MySQL and SQLite unless WithPreparedStatements sets another number.
// Opening, joining, paying and draining the outbox use about twenty; the
// other commands and reads a few dozen more.
const DefaultPreparedStatements = 96

// maxPreparedArgs is the most placeholders a prepared statement has: longer
// statements (outbox inserts of many events) vary with their arguments and
// are sent as text, as are IN lists.
const maxPreparedArgs = 40

// maxPreparesPerUse bounds the statements prepared at one use of the pool,
// so that the first requests after start-up share the warm-up.
const maxPreparesPerUse = 8

// query is a query template's final text and, on MySQL and SQLite, its
// prepared statement.
type query struct {
	text string
	// cacheable is false for statements whose text varies with their
	// arguments (IN lists, many placeholders): they would fill the cache.
	cacheable bool
	stmt      atomic.Pointer[sql.Stmt]
	state     atomic.Int32 // one of the stmt… constants
	fails     atomic.Int32 // failed prepares since the last success or Migrate
	retryAt   atomic.Int64 // Unix nanoseconds before which a failed prepare is not retried
}

func newQuery(text string) *query {
	return &query{text: text, cacheable: !inListRE.MatchString(text) && strings.Count(text, "?") <= maxPreparedArgs}
}

// inListRE finds a list of placeholders after IN, however spaced.
var inListRE = regexp.MustCompile(`(?i)\bIN\s*\(\s*\?`)

const (
	stmtNone      int32 = iota // not prepared
	stmtWanted                 // used in a transaction, to be prepared at the next use of the pool
	stmtPreparing              // a call of prepare is preparing it
	stmtReady                  // prepared: stmt is set
	stmtRefused                // never to be prepared: the bound was reached or the cache closed
)

// stmtCache holds the statements a Store prepared on MySQL and SQLite. On
// MySQL without interpolateParams, a statement with arguments is otherwise
// a prepare, an execute and a close: two round trips. On both, a prepared
// statement is parsed once per connection, not per use.
//
// A statement is prepared on the pool. A transaction (the Store's own or
// the host's) holds a connection, and with every connection of a bounded
// pool held by transactions, preparing would wait forever: a statement
// first used inside a transaction is prepared only if the pool has an idle
// connection or room for one, waiting at most idleWait for it; otherwise it is sent as text
// there and prepared at the Store's next use of the pool (before it begins
// a transaction or sends a statement on the pool).
//
// No lock of the cache is held while calling into database/sql: a pool
// read through a statement may wait for a connection that a transaction
// holds, and that transaction may be marking what it wants.
type stmtCache struct {
	db    *sql.DB
	max   int32
	now   func() time.Time // for the pauses; time.Now but in tests
	trips *atomic.Int64    // the Store's round-trip counter, for the prepares
	slots atomic.Int32     // statements prepared or being prepared

	mu      sync.Mutex // guards wanted
	wanted  []*query
	pending atomic.Bool // wanted is not empty

	// idlePause is when a transaction may next prepare on the pool, after
	// a prepare that found no connection in time; idleMisses counts those
	// in a row.
	idlePause  atomic.Int64
	idleMisses atomic.Int32

	uses atomic.Int64 // statements sent prepared, for tests

	set *stmtSet
}

// stmtSet is what closing needs: kept apart from stmtCache so that a
// cleanup can close the statements of a cache no Store refers to any more.
type stmtSet struct {
	closed atomic.Bool
	mu     sync.Mutex // guards all and orders a prepare's publication against close
	all    []*query   // the queries in stmtReady
}

// newStmtCache returns the cache of a Store on db, or nil when max is 0.
// The statements of a cache that becomes unreachable (every Store sharing
// it is gone) are closed by a cleanup, so that a program making Stores on
// a long-lived database does not pile them up on the server.
func newStmtCache(db *sql.DB, max int, trips *atomic.Int64) *stmtCache {
	if max <= 0 {
		return nil
	}
	c := &stmtCache{db: db, max: int32(max), now: time.Now, trips: trips, set: new(stmtSet)}
	runtime.AddCleanup(c, func(set *stmtSet) { set.close() }, c.set)
	return c
}

// get returns q's prepared statement, or nil.
func (c *stmtCache) get(q *query) *sql.Stmt {
	if q.state.Load() != stmtReady || c.set.closed.Load() {
		return nil
	}
	return q.stmt.Load()
}

// want marks q to be prepared at the next use of the pool.
func (c *stmtCache) want(q *query) {
	if !q.cacheable || !q.state.CompareAndSwap(stmtNone, stmtWanted) {
		return
	}
	c.mu.Lock()
	c.wanted = append(c.wanted, q)
	c.pending.Store(true)
	c.mu.Unlock()
}

// prepareIdle prepares q for a transaction, which holds a connection of
// the pool: only when the pool has an idle connection or room for a new
// one, and waiting at most idleWait for it (another goroutine may take it
// first); otherwise q is wanted, to be prepared at the next use of the
// pool.
func (c *stmtCache) prepareIdle(ctx context.Context, q *query) *sql.Stmt {
	if !c.mayPrepare(q) {
		return nil
	}
	if c.now().UnixNano() < c.idlePause.Load() {
		c.want(q)
		return nil
	}
	if st := c.db.Stats(); st.Idle == 0 && st.MaxOpenConnections > 0 && st.OpenConnections >= st.MaxOpenConnections {
		c.want(q)
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, idleWait)
	defer cancel()
	st := c.prepare(pctx, q)
	switch {
	case st != nil:
		c.idleMisses.Store(0)
	case pctx.Err() != nil && ctx.Err() == nil:
		// No connection in time (another goroutine took the idle one, or
		// connecting is slow): transactions stop trying for a pause that
		// doubles from 1 s up to 1 min, so that they do not each wait.
		f := min(c.idleMisses.Add(1), 7)
		c.idlePause.Store(c.now().Add(min(time.Second<<(f-1), time.Minute)).UnixNano())
		fallthrough
	default:
		c.want(q)
	}
	return st
}

// idleWait bounds how long a transaction waits for a connection to
// prepare a statement on (see prepareIdle); after such a wait ran out,
// transactions do not try again for a while.
const idleWait = 50 * time.Millisecond

// mayPrepare reports whether prepare may prepare q now.
func (c *stmtCache) mayPrepare(q *query) bool {
	switch st := q.state.Load(); {
	case !q.cacheable || c.set.closed.Load() || st == stmtRefused || st == stmtPreparing:
		return false
	case q.fails.Load() > 0 && c.now().UnixNano() < q.retryAt.Load():
		return false
	}
	return true
}

// prepareWanted prepares up to maxPreparesPerUse of the queries that want
// marked. Callers hold no connection of the pool.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	if c == nil || !c.pending.Load() {
		return
	}
	c.mu.Lock()
	n := min(len(c.wanted), maxPreparesPerUse)
	qs := append([]*query(nil), c.wanted[:n]...)
	c.wanted = append(c.wanted[:0], c.wanted[n:]...)
	c.pending.Store(len(c.wanted) > 0)
	c.mu.Unlock()
	for _, q := range qs {
		// A query whose prepare is put off goes back to stmtNone, and a
		// later use in a transaction wants it again.
		q.state.CompareAndSwap(stmtWanted, stmtNone)
		c.prepare(ctx, q)
	}
}

// prepare prepares q on the pool and returns its statement, or nil where
// it cannot: q varies with its arguments, the cache is closed or full, a
// concurrent first use is preparing it, or a recent prepare failed. A
// failed prepare (no table yet, a busy database) is retried after a pause
// that doubles with each failure, from 1 s up to 5 min; Migrate clears it.
func (c *stmtCache) prepare(ctx context.Context, q *query) *sql.Stmt {
	for {
		st := q.state.Load()
		switch {
		case st == stmtReady:
			return c.get(q)
		case !c.mayPrepare(q):
			return nil
		}
		if q.state.CompareAndSwap(st, stmtPreparing) {
			break
		}
	}
	// q is this call's until it leaves stmtPreparing.
	if c.slots.Add(1) > c.max {
		c.slots.Add(-1)
		q.state.Store(stmtRefused)
		return nil
	}
	st, err := c.db.PrepareContext(ctx, q.text)
	if err == nil || ctx.Err() == nil {
		c.trips.Add(1) // it reached the database
	}
	if err != nil {
		c.slots.Add(-1)
		if ctx.Err() == nil {
			f := min(q.fails.Add(1), 10)
			pause := min(time.Second<<(f-1), 5*time.Minute)
			q.retryAt.Store(c.now().Add(pause).UnixNano())
		}
		q.state.Store(stmtNone)
		return nil
	}
	q.fails.Store(0)
	set := c.set
	set.mu.Lock()
	if set.closed.Load() {
		set.mu.Unlock()
		c.slots.Add(-1)
		q.state.Store(stmtRefused)
		_ = st.Close()
		return nil
	}
	q.stmt.Store(st)
	q.state.Store(stmtReady)
	set.all = append(set.all, q)
	set.mu.Unlock()
	return st
}

// forgetFailures lets the queries of m (template → *query) whose prepare
// failed be prepared at their next use.
func (c *stmtCache) forgetFailures(m *sync.Map) {
	if c == nil {
		return
	}
	m.Range(func(_, v any) bool {
		v.(*query).fails.Store(0)
		return true
	})
}

// close closes the prepared statements; later statements are sent as text.
func (c *stmtCache) close() error {
	if c == nil {
		return nil
	}
	return c.set.close()
}

func (set *stmtSet) close() error {
	set.mu.Lock()
	set.closed.Store(true)
	qs := set.all
	set.all = nil
	set.mu.Unlock()
	// Outside the lock: Stmt.Close waits for the statement's running
	// queries, and one of them may wait for a connection.
	var first error
	for _, q := range qs {
		q.state.Store(stmtRefused)
		if st := q.stmt.Swap(nil); st != nil {
			if err := st.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// database/sql's errors for a prepared statement that it refused to run,
// returned before anything was sent. TestWithTxOfAnotherDB and
// TestStmtCacheCloseRace pin them.
const (
	errForeignTx  = "sql: Tx.Stmt: statement from different database used"
	errStmtClosed = "sql: statement is closed"
)

// stmt returns the prepared statement to send q through, or nil to send
// its text.
func (r run) stmt(ctx context.Context, q *query) *sql.Stmt {
	c := r.s.stmts
	if c == nil || !q.cacheable || (r.tx == nil && !r.pooled) {
		return nil
	}
	if r.tx != nil {
		if r.host {
			return r.s.txStmts.stmt(ctx, r.tx, c, q)
		}
		st := c.get(q)
		if st == nil {
			if st = c.prepareIdle(ctx, q); st == nil {
				return nil
			}
		}
		c.uses.Add(1)
		return r.tx.StmtContext(ctx, st)
	}
	c.prepareWanted(ctx)
	st := c.get(q)
	if st == nil {
		st = c.prepare(ctx, q)
	}
	if st != nil {
		c.uses.Add(1)
	}
	return st
}

// txStmts are the statements of one host transaction (a Store returned by
// WithTx): each is bound to the transaction once and kept, because
// database/sql keeps every statement bound to a transaction until it ends,
// and a long transaction (a bulk import) would otherwise pile them up.
type txStmts struct {
	// foreign is set once the transaction turned out to belong to another
	// *sql.DB than the Store's, whose connections cannot use the Store's
	// statements.
	foreign atomic.Bool
	mu      sync.Mutex
	bound   map[*query]*sql.Stmt
}

func (t *txStmts) stmt(ctx context.Context, tx *sql.Tx, c *stmtCache, q *query) *sql.Stmt {
	if t.foreign.Load() {
		return nil
	}
	t.mu.Lock()
	st := t.bound[q]
	t.mu.Unlock()
	if st != nil {
		c.uses.Add(1)
		return st
	}
	parent := c.get(q)
	if parent == nil {
		if parent = c.prepareIdle(ctx, q); parent == nil {
			return nil
		}
	}
	st = tx.StmtContext(ctx, parent)
	t.mu.Lock()
	if t.bound == nil {
		t.bound = make(map[*query]*sql.Stmt)
	}
	t.bound[q] = st
	t.mu.Unlock()
	c.uses.Add(1)
	return st
}

// sendText reports whether err, from a prepared statement, says that
// nothing ran and the statement is to be sent as text instead: the host's
// transaction belongs to another *sql.DB, the Store was closed meanwhile,
// or MySQL refused to prepare it again on a new connection
// (max_prepared_stmt_count reached, error 1461).
func (r run) sendText(err error) bool {
	if err == nil {
		return false
	}
	c := r.s.stmts
	switch {
	case r.host && err.Error() == errForeignTx:
		r.s.txStmts.foreign.Store(true)
		return true
	case c.set.closed.Load() && err.Error() == errStmtClosed:
		return true
	case r.s.d == MySQL && (strings.HasPrefix(err.Error(), "Error 1461 ") || strings.HasPrefix(err.Error(), "Error 1461:")):
		// Only a prepare returns it, and the driver's error comes
		// unwrapped. Text helps where it needs no prepare
		// (interpolateParams).
		return true
	}
	return false
}
