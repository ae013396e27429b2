package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// TestMigrateLockTimeout: a host transaction that has read seats stays
// open while the pending migration needs an exclusive lock of seats
// (PostgreSQL 0008, MySQL 0004: the refund attempt column). Migrate waits
// for the lock at most its lock timeout per try, so a read of seats
// started while it tries is not
// queued behind it until the host transaction ends; Migrate retries until
// its ctx ends, then names the migration, or until the host transaction
// ends, then applies it. The migrator's connections carry a host's
// statement timeout shorter than the lock timeout, which the migration
// does not obey (an index build would otherwise be cut short too).
func TestMigrateLockTimeout(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		var (
			lockTimeout = 500 * time.Millisecond
			mdb         *sql.DB
		)
		switch d {
		case sqlstore.Postgres:
			mdb = openAndPing(t, "pgx", withParam(os.Getenv("SCSDK_POSTGRES_DSN"), "statement_timeout=200"))
		case sqlstore.MySQL:
			lockTimeout = time.Second // lock_wait_timeout counts whole seconds
			mdb = openAndPing(t, "mysql", withParam(os.Getenv("SCSDK_MYSQL_DSN"), "max_statement_time=0.2"))
		default:
			t.Skip("SQLite locks the whole database for one writer; its busy timeout bounds the wait")
		}
		mdb.SetMaxOpenConns(1) // one session, whose settings are checked below
		ctx := t.Context()
		versions := migrationVersions(t, d)
		// The refund attempt migration, which locks seats; later ones
		// (PostgreSQL's 0009 and 0010, MySQL's 0005 on the referral
		// tables; PostgreSQL's 0011 and MySQL's 0006 on teams) follow it
		// in the same Migrate.
		last := map[sqlstore.Dialect]int{sqlstore.Postgres: 8, sqlstore.MySQL: 4}[d]
		_, prefix := newStoreAt(t, db, d, last-1)
		m, err := sqlstore.New(mdb, d, sqlstore.WithTablePrefix(prefix))
		require.NoError(t, err)
		sqlstore.SetMigrationLockTimeout(m, lockTimeout)
		session := sessionSettings(t, mdb, d)

		host, err := db.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer func() { _ = host.Rollback() }()
		// Today's Store reads and writes columns that the pending
		// migrations add (refund_attempt, seat_rows): the reads of seats
		// here are the older release's.
		readSeats := func(q interface {
			QueryRowContext(context.Context, string, ...any) *sql.Row
		}) error {
			var n int
			return q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+prefix+"seats WHERE team_id = 'team-1'").Scan(&n)
		}
		require.NoError(t, readSeats(host))

		// Gives up when its ctx ends, naming the migration.
		short, cancel := context.WithTimeout(ctx, 3*lockTimeout)
		defer cancel()
		err = m.Migrate(short)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Contains(t, err.Error(), fmt.Sprintf("migration %04d_", last))
		assert.Contains(t, err.Error(), "could not take its locks")
		assert.Equal(t, last-1, countVersions(t, db, prefix), "not applied")

		// Waits for the host transaction, and lets a read through meanwhile.
		var order eventOrder
		happened := order.happened
		migrated := make(chan error, 1)
		go func() {
			err := m.Migrate(ctx)
			happened("migrated")
			migrated <- err
		}()
		waitForLockWait(t, db, d, prefix+"seats")
		var readErr error
		read := make(chan struct{})
		go func() {
			readErr = readSeats(db)
			happened("read")
			close(read)
		}()
		select {
		case <-read:
		case <-time.After(10 * lockTimeout):
			// Before the host transaction ends, which frees the read.
		}
		happened("host commits")
		require.NoError(t, host.Commit())
		require.NoError(t, <-migrated)
		<-read
		require.NoError(t, readErr)
		assert.Equal(t, []string{"read", "host commits", "migrated"}, order.list())
		assert.Equal(t, len(versions), countVersions(t, db, prefix))
		assert.Equal(t, session, sessionSettings(t, mdb, d), "the migration's session settings are undone")
	})
}

func countVersions(t *testing.T, db *sql.DB, prefix string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+prefix+"schema_migrations").Scan(&n))
	return n
}

// withParam adds a parameter to a DSN.
func withParam(dsn, p string) string {
	if strings.Contains(dsn, "?") {
		return dsn + "&" + p
	}
	return dsn + "?" + p
}

// sessionSettings returns the settings of db's session that a migration
// changes.
func sessionSettings(t *testing.T, db *sql.DB, d sqlstore.Dialect) string {
	t.Helper()
	q := `SELECT current_setting('lock_timeout') || ' ' || current_setting('statement_timeout')`
	if d == sqlstore.MySQL {
		q = `SELECT CONCAT_WS(' ', @@SESSION.lock_wait_timeout, @@SESSION.max_statement_time)`
	}
	var v string
	require.NoError(t, db.QueryRowContext(t.Context(), q).Scan(&v))
	return v
}

// waitForLockWait waits until a session waits for a lock of table.
func waitForLockWait(t *testing.T, db *sql.DB, d sqlstore.Dialect, table string) {
	t.Helper()
	q := `SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE NOT l.granted AND c.relname = $1`
	arg := table
	if d == sqlstore.MySQL {
		q = `SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = 'Waiting for table metadata lock' AND INFO LIKE ?`
		arg = "%" + table + "%"
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		require.NoError(t, db.QueryRowContext(t.Context(), q, arg).Scan(&n))
		if n > 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "nobody waits for a lock of %s", table)
		time.Sleep(2 * time.Millisecond)
	}
}

// TestMigrateMySQLWaitsForMigrator: on MySQL a migrator holds a named lock
// for as long as its migrations take; here the first waits behind a host
// transaction. A second migrator, as in a rolling restart, waits for the
// lock until its ctx is done (then says that another migrator holds it),
// and, when the first finishes while it waits, finds nothing left to do.
func TestMigrateMySQLWaitsForMigrator(t *testing.T) {
	db, d, ctx := openMySQL(t), sqlstore.MySQL, t.Context()
	versions := migrationVersions(t, d)
	_, prefix := newStoreAt(t, db, d, versions[len(versions)-2])
	host, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer func() { _ = host.Rollback() }()
	// A read of teams, which the last migration alters, as an older
	// release reads them (see TestMigrateLockTimeout).
	var n int
	require.NoError(t, host.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+prefix+"teams").Scan(&n))

	var order eventOrder
	happened := order.happened
	migrate := func(name string) <-chan error {
		done := make(chan error, 1)
		go func() {
			m, err := sqlstore.New(db, d, sqlstore.WithTablePrefix(prefix))
			if err == nil {
				sqlstore.SetMigrationLockTimeout(m, time.Second)
				err = m.Migrate(ctx)
			}
			happened(name)
			done <- err
		}()
		return done
	}
	first := migrate("first migrated")
	waitForLockWait(t, db, d, prefix+"teams") // the first holds the migration lock

	second, err := sqlstore.New(db, d, sqlstore.WithTablePrefix(prefix))
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
	defer cancel()
	err = second.Migrate(short)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "another migrator of "+prefix+" has held the migration lock")

	third := migrate("third migrated")
	waitForUserLock(t, db)
	time.Sleep(1500 * time.Millisecond) // more than one try of GET_LOCK
	happened("host commits")
	require.NoError(t, host.Commit())
	require.NoError(t, <-first)
	require.NoError(t, <-third)
	assert.Equal(t, "host commits", order.list()[0], "the third waited for the first")
	assert.Equal(t, len(versions), countVersions(t, db, prefix))
}

// waitForUserLock waits until a MySQL session waits in GET_LOCK.
func waitForUserLock(t *testing.T, db *sql.DB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		require.NoError(t, db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM information_schema.PROCESSLIST
			WHERE STATE = 'User lock' AND INFO LIKE 'SELECT GET_LOCK(%'`).Scan(&n))
		if n > 0 {
			return
		}
		require.True(t, time.Now().Before(deadline), "nobody waits in GET_LOCK")
		time.Sleep(2 * time.Millisecond)
	}
}

// eventOrder records the order in which concurrent steps happened.
type eventOrder struct {
	mu     sync.Mutex
	events []string
}

func (o *eventOrder) happened(e string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, e)
}

func (o *eventOrder) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.events...)
}
