package sqlstore

import (
	"database/sql"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

// The cache holds at most maxPrepared statements; the rest run as text and
// give the same answers. Statements that vary with their arguments are
// never prepared.
func TestStmtCacheBound(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "bound.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	s, err := New(db, SQLite)
	require.NoError(t, err)
	ctx := t.Context()
	// Two goroutines race on every first use; each statement is prepared
	// once and the answers are right.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for i := range maxPrepared + 20 {
				var n int
				if err := s.pool().row(ctx, `SELECT `+strconv.Itoa(i)+` + ?`, 1).Scan(&n); err != nil || n != i+1 {
					t.Errorf("statement %d: got %d, %v", i, n, err)
				}
			}
		})
	}
	wg.Wait()
	require.Len(t, s.stmts.all, maxPrepared)
	require.EqualValues(t, maxPrepared, s.stmts.slots.Load())

	var n int
	require.NoError(t, s.pool().uncached().row(ctx, `SELECT 1000 + ?`, 1).Scan(&n))
	require.Equal(t, 1001, n)
	require.Equal(t, stmtNone, s.query(`SELECT 1000 + ?`).state.Load(), "uncached statements are never marked")

	require.NoError(t, s.Close())
	require.Empty(t, s.stmts.all)
	require.NoError(t, s.pool().row(ctx, `SELECT 1 + ?`, 1).Scan(&n), "a closed Store sends text")
	require.Equal(t, 2, n)
}
