package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/socialcommerce/sdk/groupbuy"
)

func openSQLiteFile(t *testing.T) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "c.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	// The first connection turns the file to WAL; two first connections
	// at once could find the file busy doing so.
	require.NoError(t, db.PingContext(t.Context()))
	return db
}

func preparedTexts(s *Store) []string {
	s.stmts.set.mu.Lock()
	defer s.stmts.set.mu.Unlock()
	var texts []string
	for _, q := range s.stmts.set.all {
		texts = append(texts, q.text)
	}
	return texts
}

// The cache holds at most its bound; the rest run as text and give the
// same answers. Two goroutines race on every first use: each statement is
// prepared once.
func TestStmtCacheBound(t *testing.T) {
	s, err := New(openSQLiteFile(t), SQLite, WithPreparedStatements(10))
	require.NoError(t, err)
	ctx := t.Context()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for i := range 30 {
				var n int
				if err := s.pool().row(ctx, `SELECT `+strconv.Itoa(i)+` + ?`, 1).Scan(&n); err != nil || n != i+1 {
					t.Errorf("statement %d: got %d, %v", i, n, err)
				}
			}
		})
	}
	wg.Wait()
	// 60 statements and 10 prepares: each statement was prepared once.
	require.EqualValues(t, 70, s.RoundTrips())
	require.Len(t, preparedTexts(s), 10)
	require.EqualValues(t, 10, s.stmts.slots.Load())
	require.Equal(t, stmtRefused, s.query(`SELECT 29 + ?`).state.Load())

	_, err = New(openSQLiteFile(t), SQLite, WithPreparedStatements(1001))
	require.Error(t, err)
	off, err := New(openSQLiteFile(t), SQLite, WithPreparedStatements(0))
	require.NoError(t, err)
	require.Nil(t, off.stmts)
	var n int
	require.NoError(t, off.pool().row(ctx, `SELECT 1 + ?`, 1).Scan(&n))
	require.NoError(t, off.Close())
}

// Statements whose text varies with their arguments are never prepared,
// wherever they run: IN lists (here lockNodes', over chains of every
// length) and statements of more than maxPreparedArgs placeholders.
func TestStmtCacheSkipsVaryingText(t *testing.T) {
	s, err := New(openSQLiteFile(t), SQLite)
	require.NoError(t, err)
	ctx := t.Context()
	require.NoError(t, s.Migrate(ctx))
	users := make([]string, 40)
	for i := range users {
		users[i] = "u" + strconv.Itoa(i)
	}
	for n := 1; n <= len(users); n++ {
		require.NoError(t, s.inTx(ctx, func(r run) error {
			return s.lockNodes(ctx, r, "p", slicesClone(users[:n]), map[string]string{})
		}))
		var got int
		require.NoError(t, s.pool().row(ctx, `SELECT COUNT(*) FROM {p}outbox WHERE id IN (`+placeholders(n)+`)`, anys(users[:n])...).Scan(&got))
	}
	many := `SELECT ?` + strings.Repeat(` + ?`, maxPreparedArgs)
	var sum int
	require.NoError(t, s.pool().row(ctx, many, anys(make([]string, maxPreparedArgs+1))...).Scan(&sum))
	s.stmts.prepareWanted(ctx)
	for _, text := range preparedTexts(s) {
		require.NotContains(t, text, "IN (?")
		require.LessOrEqual(t, strings.Count(text, "?"), maxPreparedArgs, text)
	}
	require.False(t, s.query(many).cacheable)

	for text, cacheable := range map[string]bool{
		`SELECT 1 FROM t WHERE id IN (?, ?)`:             false,
		"SELECT 1 FROM t WHERE id in(?)":                 false,
		"SELECT 1 FROM t WHERE id IN (\n\t?, ?)":         false,
		`SELECT 1 FROM t WHERE id IN (SELECT id FROM u)`: true,
		`SELECT MIN(?) FROM t JOIN (SELECT 1) x ON true`: true,
		`SELECT 1 FROM t WHERE state IN ('a', 'b')`:      true,
	} {
		require.Equal(t, cacheable, newQuery(text).cacheable, text)
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

func anys(s []string) []any {
	out := make([]any, len(s))
	for i := range s {
		out[i] = s[i]
	}
	return out
}

// Close must not wait on a transaction that is marking what it wants
// while a pool read through a prepared statement waits for the connection
// that transaction holds (one connection in the pool).
func TestStmtCacheCloseWhileInUse(t *testing.T) {
	db := openSQLiteFile(t)
	db.SetMaxOpenConns(1)
	s, err := New(db, SQLite)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var n int
	require.NoError(t, s.pool().row(ctx, `SELECT 1 + ?`, 1).Scan(&n))
	require.Equal(t, stmtReady, s.query(`SELECT 1 + ?`).state.Load())

	holding, proceed := make(chan struct{}), make(chan struct{})
	txDone, readDone, closeDone := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	go func() {
		txDone <- s.inTx(ctx, func(r run) error {
			close(holding)
			<-proceed
			var m int
			return r.row(ctx, `SELECT 2 + ?`, 1).Scan(&m) // first use in a transaction: want
		})
	}()
	<-holding
	go func() {
		var m int
		readDone <- s.pool().row(ctx, `SELECT 1 + ?`, 1).Scan(&m) // waits for the connection
	}()
	time.Sleep(100 * time.Millisecond)
	go func() { closeDone <- s.Close() }()
	time.Sleep(100 * time.Millisecond)
	close(proceed)
	for name, ch := range map[string]chan error{"transaction": txDone, "read": readDone, "close": closeDone} {
		select {
		case err := <-ch:
			require.NoError(t, err, name)
		case <-time.After(10 * time.Second):
			t.Fatalf("%s still blocked after 10 s", name)
		}
	}
}

// Reads racing Close all succeed: a statement closed under a read is sent
// as text. database/sql's message for that case is pinned here.
func TestStmtCacheCloseRace(t *testing.T) {
	db := openSQLiteFile(t)
	db.SetMaxOpenConns(4)
	ctx := t.Context()
	for range 50 {
		s, err := New(db, SQLite)
		require.NoError(t, err)
		var n int
		require.NoError(t, s.pool().row(ctx, `SELECT 1 + ?`, 1).Scan(&n))
		var (
			wg   sync.WaitGroup
			stop atomic.Bool
		)
		for range 4 {
			wg.Go(func() {
				for !stop.Load() {
					var m int
					if err := s.pool().row(ctx, `SELECT 1 + ?`, 1).Scan(&m); err != nil || m != 2 {
						t.Errorf("read racing Close: %d, %v", m, err)
						return
					}
				}
			})
		}
		time.Sleep(time.Millisecond)
		require.NoError(t, s.Close())
		time.Sleep(time.Millisecond)
		stop.Store(true)
		wg.Wait()
	}

	// The window above is narrow; the decision, on its own: a statement
	// closed under a read of a closed Store is sent as text, and only then.
	s, err := New(db, SQLite)
	require.NoError(t, err)
	st, err := db.PrepareContext(ctx, `SELECT 1`)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	_, err = st.ExecContext(ctx)
	require.EqualError(t, err, errStmtClosed)
	require.False(t, s.pool().sendText(err), "an open Store's statements are never closed under it")
	require.NoError(t, s.Close())
	require.True(t, s.pool().sendText(err))
	require.False(t, s.pool().sendText(errors.New("UNIQUE constraint failed")))
}

// A statement that failed to prepare (no table yet, as when another
// process migrates) is prepared again once its pause is over.
func TestStmtCacheRetriesFailedPrepare(t *testing.T) {
	db := openSQLiteFile(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()).UTC() }
	s, err := New(db, SQLite)
	require.NoError(t, err)
	s.stmts.now = clock
	ctx := t.Context()
	_, err = s.GetTeam(ctx, "team-1")
	require.Error(t, err)

	other, err := New(db, SQLite) // another process
	require.NoError(t, err)
	require.NoError(t, other.Migrate(ctx))
	_, err = s.GetTeam(ctx, "team-1")
	require.True(t, errors.Is(err, groupbuy.ErrNotFound), "%v", err)
	require.Empty(t, preparedTexts(s), "still within the pause")

	now.Add(int64(2 * time.Second))
	_, err = s.GetTeam(ctx, "team-1")
	require.True(t, errors.Is(err, groupbuy.ErrNotFound), "%v", err)
	require.Len(t, preparedTexts(s), 1)
}

// A Store nobody refers to any more releases its statements: the cleanup
// closes them once the garbage collector has found it.
func TestStmtCacheCleanup(t *testing.T) {
	db := openSQLiteFile(t)
	ctx := t.Context()
	st := func() *sql.Stmt {
		s, err := New(db, SQLite)
		require.NoError(t, err)
		var n int
		require.NoError(t, s.pool().row(ctx, `SELECT 1 + ?`, 1).Scan(&n))
		return s.query(`SELECT 1 + ?`).stmt.Load()
	}()
	require.NotNil(t, st)
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		_, err := st.ExecContext(ctx, 1)
		if err != nil && err.Error() == errStmtClosed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the statement of an unreachable Store is still open: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// One host transaction of another *sql.DB sends text; the next host
// transaction of the Store's own *sql.DB uses the prepared statement again.
func TestStmtCacheForeignTxIsPerTx(t *testing.T) {
	dsn := "file:" + filepath.Join(t.TempDir(), "f.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	own, other := openDSN(t, dsn), openDSN(t, dsn)
	ctx := t.Context()
	s, err := New(own, SQLite)
	require.NoError(t, err)
	var n int
	require.NoError(t, s.pool().row(ctx, `SELECT 1 + ?`, 1).Scan(&n))
	q := s.query(`SELECT 1 + ?`)

	ftx, err := other.BeginTx(ctx, nil)
	require.NoError(t, err)
	foreign := s.WithTx(ftx)
	require.NoError(t, foreign.hostTx().row(ctx, `SELECT 1 + ?`, 1).Scan(&n))
	require.Equal(t, 2, n)
	require.Nil(t, foreign.hostTx().stmt(ctx, q), "text from then on")
	require.NoError(t, ftx.Rollback())

	tx, err := own.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	bound := s.WithTx(tx).hostTx()
	st := bound.stmt(ctx, q)
	require.NotNil(t, st)
	require.Same(t, st, bound.stmt(ctx, q), "bound to the transaction once")
}

func openDSN(t *testing.T, dsn string) *sql.DB {
	db, err := sql.Open("sqlite", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, db.PingContext(t.Context()))
	return db
}

// slowConnector opens SQLite connections after a delay longer than
// idleWait, giving up when its context ends, and counts its attempts.
type slowConnector struct {
	d        driver.Driver
	dsn      string
	attempts *atomic.Int64
}

func (c slowConnector) Connect(ctx context.Context) (driver.Conn, error) {
	c.attempts.Add(1)
	select {
	case <-time.After(4 * idleWait):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return c.d.Open(c.dsn)
}

func (c slowConnector) Driver() driver.Driver { return c.d }

// When a transaction's prepare finds no connection in time (here: the pool
// has room but connecting is slow), transactions stop trying for a pause
// instead of each waiting idleWait per statement.
func TestStmtCacheIdleWaitPauses(t *testing.T) {
	dsn := "file:" + filepath.Join(t.TempDir(), "s.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	drv := openDSN(t, dsn).Driver()
	attempts := new(atomic.Int64)
	db := sql.OpenDB(slowConnector{d: drv, dsn: dsn, attempts: attempts})
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(10)
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC).UnixNano())
	s, err := New(db, SQLite)
	require.NoError(t, err)
	s.stmts.now = func() time.Time { return time.Unix(0, now.Load()).UTC() }
	ctx := t.Context()
	round := func() {
		tx, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		r := s.WithTx(tx).hostTx()
		for i := range 4 {
			var n int
			require.NoError(t, r.row(ctx, `SELECT `+strconv.Itoa(i)+` + ?`, 1).Scan(&n))
			require.Equal(t, i+1, n)
		}
		require.NoError(t, tx.Commit())
	}
	round() // the transaction's own connection, then one prepare that runs out of time
	require.EqualValues(t, 2, attempts.Load())
	for range 3 {
		round()
	}
	require.EqualValues(t, 2, attempts.Load(), "no prepare tried during the pause")
	now.Add(int64(2 * time.Second))
	round()
	require.EqualValues(t, 3, attempts.Load(), "tried again after the pause")
	require.Empty(t, preparedTexts(s))
}
