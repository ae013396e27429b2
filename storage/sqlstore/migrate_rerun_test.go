package sqlstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// TestMigrateMySQLRerunAfterCrash: MySQL's DDL is not transactional, so a
// crash after the last migration's statements but before its version row
// leaves the column added and the version missing. Migrate run again
// treats the duplicate column (1060) as applied, reruns the UPDATE (the
// last migrations add a column and then fill it: 0004 the seats' refund
// attempt, 0006 the forming teams' seat rows), and records the version.
func TestMigrateMySQLRerunAfterCrash(t *testing.T) {
	db, d, ctx := openMySQL(t), sqlstore.MySQL, t.Context()
	versions := migrationVersions(t, d)
	last := versions[len(versions)-1]
	s, prefix := newStoreAt(t, db, d, last)
	_, err := db.ExecContext(ctx, "DELETE FROM "+prefix+"schema_migrations WHERE version = ?", last)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx), "rerun after a crash before the version row")
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+prefix+"schema_migrations WHERE version = ?", last).Scan(&n))
	require.Equal(t, 1, n)
	require.NoError(t, s.Migrate(ctx), "a third run has nothing to do")
}
