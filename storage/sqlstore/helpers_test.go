package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// dbs are the databases the tests run on, each as a subtest named after it.
var dbs = []struct {
	name string
	d    sqlstore.Dialect
	open func(t testing.TB) *sql.DB
}{
	{"postgres", sqlstore.Postgres, openPostgres},
	{"mysql", sqlstore.MySQL, openMySQL},
	{"sqlite", sqlstore.SQLite, openSQLite},
}

// forEachDB runs f as a subtest per database. A database whose DSN is not
// set is skipped, unless SCSDK_REQUIRE_DB=1, which makes a missing or
// unreachable database a failure.
func forEachDB(t *testing.T, f func(t *testing.T, db *sql.DB, d sqlstore.Dialect)) {
	t.Helper()
	for _, c := range dbs {
		t.Run(c.name, func(t *testing.T) {
			f(t, c.open(t), c.d)
		})
	}
}

func requireDB() bool { return os.Getenv("SCSDK_REQUIRE_DB") == "1" }

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if requireDB() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

func openPostgres(t testing.TB) *sql.DB {
	dsn := os.Getenv("SCSDK_POSTGRES_DSN")
	if dsn == "" {
		skipOrFail(t, "SCSDK_POSTGRES_DSN is not set")
	}
	return openAndPing(t, "pgx", dsn)
}

func openMySQL(t testing.TB) *sql.DB {
	dsn := os.Getenv("SCSDK_MYSQL_DSN")
	if dsn == "" {
		skipOrFail(t, "SCSDK_MYSQL_DSN is not set")
	}
	// Parameters the DSN does not set itself. The store works with any
	// parseTime and loc; these are the usual ones.
	for _, p := range []string{"parseTime=true", "loc=UTC", "multiStatements=false"} {
		name, _, _ := strings.Cut(p, "=")
		if strings.Contains(dsn, "?"+name+"=") || strings.Contains(dsn, "&"+name+"=") {
			continue
		}
		if strings.Contains(dsn, "?") {
			dsn += "&" + p
		} else {
			dsn += "?" + p
		}
	}
	return openAndPing(t, "mysql", dsn)
}

func openSQLite(t testing.TB) *sql.DB {
	path := filepath.Join(t.TempDir(), "test.db")
	db := openAndPing(t, "sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	return db
}

func openAndPing(t testing.TB, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	require.NoError(t, err)
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		skipOrFail(t, "%s unreachable: %v", driver, err)
	}
	return db
}

// randomPrefix returns a fresh table prefix, so that tests sharing a
// database never see each other's rows.
func randomPrefix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b) + "_"
}

// dataTables are the tables a Store's migrations create, but its
// schema_migrations.
var dataTables = []string{"campaigns", "teams", "seats", "user_limits", "idempotency", "outbox",
	"ref_programmes", "ref_codes", "ref_code_counts", "ref_distributors", "ref_nodes", "ref_history", "ref_attributions"}

// dropTables drops every table of a prefix.
func dropTables(t testing.TB, db *sql.DB, d sqlstore.Dialect, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tb := range append(dataTables[:len(dataTables):len(dataTables)], "schema_migrations") {
		if _, err := db.ExecContext(ctx, "DROP TABLE IF EXISTS "+prefix+tb); err != nil {
			t.Errorf("drop %s%s: %v", prefix, tb, err)
		}
	}
}

// newStore returns a migrated Store with its own table prefix, dropped at
// cleanup.
func newStore(t testing.TB, db *sql.DB, d sqlstore.Dialect, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	s, _ := newStorePrefixed(t, db, d, opts...)
	return s
}

// newStorePrefixed is newStore also returning the table prefix, for a test
// that writes the tables by hand.
func newStorePrefixed(t testing.TB, db *sql.DB, d sqlstore.Dialect, opts ...sqlstore.Option) (*sqlstore.Store, string) {
	t.Helper()
	prefix := randomPrefix()
	s, err := sqlstore.New(db, d, append([]sqlstore.Option{sqlstore.WithTablePrefix(prefix)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { dropTables(t, db, d, prefix) })
	require.NoError(t, s.Migrate(t.Context()))
	return s, prefix
}

// newStoreAt returns a Store with its own table prefix, dropped at
// cleanup, migrated up to version only.
func newStoreAt(t testing.TB, db *sql.DB, d sqlstore.Dialect, version int, opts ...sqlstore.Option) (*sqlstore.Store, string) {
	t.Helper()
	prefix := randomPrefix()
	s, err := sqlstore.New(db, d, append([]sqlstore.Option{sqlstore.WithTablePrefix(prefix)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { dropTables(t, db, d, prefix) })
	require.NoError(t, sqlstore.MigrateTo(t.Context(), s, version))
	return s, prefix
}

// migrationVersions returns the versions of d's migrations, in order.
func migrationVersions(t testing.TB, d sqlstore.Dialect) []int {
	t.Helper()
	versions, err := sqlstore.MigrationVersions(d)
	require.NoError(t, err)
	return versions
}
