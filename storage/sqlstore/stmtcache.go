package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
)

// maxPrepared bounds the statements one Store prepares. The commands use
// about fifty; the rest (outbox inserts of unusual sizes, say) are sent as
// text. MySQL caps prepared statements server-wide (max_prepared_stmt_count,
// 16,382 by default), and each connection holds its own copy.
const maxPrepared = 96

// maxPreparedEvents is the most events an outbox insert holds whose
// statement is prepared: commands append a few; a team that fills appends
// one per seat and one more.
const maxPreparedEvents = 8

// uncached returns r sending its statements as text: for statements whose
// text varies with their arguments (IN lists), which would fill the cache.
func (r run) uncached() run {
	r.tx, r.pooled = nil, false
	return r
}

// query is a query template's final text and, on MySQL and SQLite, its
// prepared statement.
type query struct {
	text  string
	stmt  atomic.Pointer[sql.Stmt]
	state atomic.Int32 // one of the stmt… constants
}

const (
	stmtNone      int32 = iota // not prepared
	stmtWanted                 // used in a transaction, to be prepared before the next
	stmtPreparing              // a call of prepare is preparing it
	stmtReady                  // prepared: stmt is set
	stmtRefused                // not to be prepared: the bound was reached or preparing failed
)

// stmtCache holds the statements a Store prepared on MySQL and SQLite. On
// MySQL without interpolateParams, a statement with arguments is otherwise
// a prepare, an execute and a close: two round trips. On both, a prepared
// statement is parsed once per connection, not per use.
//
// A statement is prepared on the pool, never while the Store's own
// transaction holds a connection: with every connection of a bounded pool
// held by such a transaction, preparing would wait forever. A statement
// first used inside a transaction is sent as text there and prepared before
// the Store begins its next transaction.
type stmtCache struct {
	db      *sql.DB
	slots   atomic.Int32 // statements prepared or being prepared
	mu      sync.Mutex   // guards wanted, all and the move to closed
	wanted  []*query
	pending atomic.Bool // wanted is not empty
	closed  atomic.Bool
	all     []*query // the queries in stmtReady, for close
}

func newStmtCache(db *sql.DB) *stmtCache { return &stmtCache{db: db} }

// get returns q's prepared statement, or nil.
func (c *stmtCache) get(q *query) *sql.Stmt {
	if q.state.Load() != stmtReady || c.closed.Load() {
		return nil
	}
	return q.stmt.Load()
}

// want marks q to be prepared before the next transaction.
func (c *stmtCache) want(q *query) {
	if !q.state.CompareAndSwap(stmtNone, stmtWanted) {
		return
	}
	c.mu.Lock()
	c.wanted = append(c.wanted, q)
	c.pending.Store(true)
	c.mu.Unlock()
}

// prepareWanted prepares the queries that want marked. Callers hold no
// connection of the pool. A nil cache (PostgreSQL, whose driver keeps its
// own) does nothing.
func (c *stmtCache) prepareWanted(ctx context.Context) {
	if c == nil || !c.pending.Load() {
		return
	}
	c.mu.Lock()
	qs := c.wanted
	c.wanted = nil
	c.pending.Store(false)
	c.mu.Unlock()
	for _, q := range qs {
		c.prepare(ctx, q)
	}
}

// prepare prepares q on the pool and returns its statement, or nil where
// it cannot: the Store is closed, the bound is reached, the database
// refused, or a concurrent first use is preparing it. A refusal is final
// (until Migrate), so that a statement the database cannot prepare costs no
// extra round trip per use; a cancelled context is not. No lock is held
// while preparing: a transaction marking what it wants must never wait for
// a round trip on another connection.
func (c *stmtCache) prepare(ctx context.Context, q *query) *sql.Stmt {
	for {
		st := q.state.Load()
		switch {
		case st == stmtReady:
			return c.get(q)
		case st == stmtRefused || st == stmtPreparing || c.closed.Load():
			return nil
		}
		if q.state.CompareAndSwap(st, stmtPreparing) {
			break
		}
	}
	// q is this call's until it leaves stmtPreparing.
	if c.slots.Add(1) > maxPrepared {
		c.slots.Add(-1)
		q.state.Store(stmtRefused)
		return nil
	}
	st, err := c.db.PrepareContext(ctx, q.text)
	if err != nil {
		c.slots.Add(-1)
		if ctx.Err() != nil {
			q.state.Store(stmtNone)
		} else {
			q.state.Store(stmtRefused)
		}
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		c.slots.Add(-1)
		q.state.Store(stmtRefused)
		_ = st.Close()
		return nil
	}
	q.stmt.Store(st)
	q.state.Store(stmtReady)
	c.all = append(c.all, q)
	return st
}

// forgetRefusals lets the queries of m (template → *query) that were
// refused be prepared again. Those refused for the bound are refused again
// at once, without a round trip.
func (c *stmtCache) forgetRefusals(m *sync.Map) {
	if c == nil || c.closed.Load() {
		return
	}
	m.Range(func(_, v any) bool {
		v.(*query).state.CompareAndSwap(stmtRefused, stmtNone)
		return true
	})
}

// close closes the prepared statements; later statements are sent as text.
func (c *stmtCache) close() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed.Store(true)
	var errs []error
	for _, q := range c.all {
		if st := q.stmt.Swap(nil); st != nil {
			errs = append(errs, st.Close())
		}
		q.state.Store(stmtRefused)
	}
	c.all = nil
	return errors.Join(errs...)
}
