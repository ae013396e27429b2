package sqlstore_test

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// TestMigrateRecordsChecksums: every version row holds its migration's
// checksum, and a second Migrate, which checks them, has nothing to do.
func TestMigrateRecordsChecksums(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		s, prefix := newStorePrefixed(t, db, d)
		assert.Equal(t, migrationChecksums(t, d), recordedChecksums(t, db, d, prefix))
		require.NoError(t, s.Migrate(t.Context()))
	})
}

// TestMigrateRefusesChangedMigration: a migration applied with other
// statements than the embedded file of its version holds now (a released
// file edited; here its recorded checksum is changed instead) makes
// Migrate refuse with a *MigrationChangedError naming it, before it
// applies the migrations still pending.
func TestMigrateRefusesChangedMigration(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		ctx := t.Context()
		versions := migrationVersions(t, d)
		s, prefix := newStoreAt(t, db, d, versions[len(versions)-2])
		edited := versions[1]
		_, err := db.ExecContext(ctx, "UPDATE "+prefix+"schema_migrations SET checksum = 'edited' WHERE version = "+fmt.Sprint(edited))
		require.NoError(t, err)

		err = s.Migrate(ctx)
		require.ErrorIs(t, err, sqlstore.ErrMigrationChanged)
		changed, ok := errors.AsType[*sqlstore.MigrationChangedError](err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, edited, changed.Version)
		assert.Regexp(t, fmt.Sprintf("^%04d_.*\\.sql$", edited), changed.Name)
		assert.Equal(t, "edited", changed.Recorded)
		assert.Equal(t, migrationChecksums(t, d)[edited], changed.Embedded)
		assert.Contains(t, err.Error(), changed.Name)
		assert.Equal(t, len(versions)-1, countVersions(t, db, prefix), "the pending migration is not applied")
		assert.Equal(t, "edited", recordedChecksums(t, db, d, prefix)[edited], "the recorded checksum is kept")
	})
}

// TestMigrateUpgradesVersionTable: a database migrated by a release
// before checksums has a version table without the checksum column.
// Several migrators at once (a rolling deploy) add the column, record the
// checksums of the migrations applied before, refusing none, and apply
// the pending one; the version table then equals a fresh install's, and a
// checksum that differs afterwards is refused.
func TestMigrateUpgradesVersionTable(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		ctx := t.Context()
		_, fresh := newStorePrefixed(t, db, d)
		versions := migrationVersions(t, d)
		_, prefix := newStoreAt(t, db, d, versions[len(versions)-2])
		usePreviousVersionTable(t, db, d, prefix)

		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				s, err := sqlstore.New(db, d, sqlstore.WithTablePrefix(prefix))
				if err == nil {
					err = s.Migrate(ctx)
				}
				errs[i] = err
			})
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "migrator %d", i)
		}
		assert.Equal(t, migrationChecksums(t, d), recordedChecksums(t, db, d, prefix))
		assert.Equal(t, versionTableSchema(t, db, d, fresh), versionTableSchema(t, db, d, prefix))

		_, err := db.ExecContext(ctx, "UPDATE "+prefix+"schema_migrations SET checksum = 'edited' WHERE version = 1")
		require.NoError(t, err)
		s, err := sqlstore.New(db, d, sqlstore.WithTablePrefix(prefix))
		require.NoError(t, err)
		require.ErrorIs(t, s.Migrate(ctx), sqlstore.ErrMigrationChanged)
	})
}

// usePreviousVersionTable replaces a prefix's version table by the one a
// release before migration checksums created, with the same versions.
func usePreviousVersionTable(t *testing.T, db *sql.DB, d sqlstore.Dialect, prefix string) {
	t.Helper()
	ctx := t.Context()
	table := prefix + "schema_migrations"
	var versions []int
	rows, err := db.QueryContext(ctx, "SELECT version FROM "+table+" ORDER BY version")
	require.NoError(t, err)
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		versions = append(versions, v)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	old := "CREATE TABLE " + table + " (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)"
	insert := "INSERT INTO " + table + " (version, applied_at) VALUES (?, ?)"
	var at any = t0.UnixMicro()
	switch d {
	case sqlstore.Postgres:
		old = "CREATE TABLE " + table + " (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
		insert = "INSERT INTO " + table + " (version, applied_at) VALUES ($1, $2)"
		at = t0
	case sqlstore.MySQL:
		old = "CREATE TABLE " + table + " (version INT NOT NULL PRIMARY KEY, applied_at DATETIME(6) NOT NULL) ENGINE=InnoDB"
		at = t0.UTC().Format("2006-01-02 15:04:05.000000")
	}
	for _, stmt := range []string{"DROP TABLE " + table, old} {
		_, err := db.ExecContext(ctx, stmt)
		require.NoError(t, err)
	}
	for _, v := range versions {
		_, err := db.ExecContext(ctx, insert, v, at)
		require.NoError(t, err)
	}
}

// versionTableSchema is schemaOf's lines of the version table.
func versionTableSchema(t *testing.T, db *sql.DB, d sqlstore.Dialect, prefix string) []string {
	t.Helper()
	var out []string
	for _, line := range schemaOf(t, db, d, prefix) {
		if strings.Contains(line, "P_schema_migrations") {
			out = append(out, line)
		}
	}
	require.NotEmpty(t, out)
	return out
}

func migrationChecksums(t *testing.T, d sqlstore.Dialect) map[int]string {
	t.Helper()
	sums, err := sqlstore.MigrationChecksums(d)
	require.NoError(t, err)
	return sums
}

// recordedChecksums reads the checksums of a prefix's version table.
func recordedChecksums(t *testing.T, db *sql.DB, d sqlstore.Dialect, prefix string) map[int]string {
	t.Helper()
	s, err := sqlstore.New(db, d, sqlstore.WithTablePrefix(prefix))
	require.NoError(t, err)
	sums, err := sqlstore.RecordedChecksums(t.Context(), s)
	require.NoError(t, err)
	return sums
}
