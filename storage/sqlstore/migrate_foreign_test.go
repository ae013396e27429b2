package sqlstore_test

import (
	"database/sql"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// TestMigrateRefusesForeignTable: the host has a table of its own under a
// name the first migration creates (its prefix is the host's). Migrate
// refuses with a *SchemaConflictError naming it and creates nothing, on
// MySQL too, whose CREATE TABLE IF NOT EXISTS kept the host's table and
// went on creating the others and recording the version, so that the
// Store failed later on a table it does not know.
func TestMigrateRefusesForeignTable(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *sql.DB, d sqlstore.Dialect) {
		ctx := t.Context()
		prefix := randomPrefix()
		t.Cleanup(func() { dropTables(t, db, d, prefix) })
		_, err := db.ExecContext(ctx, "CREATE TABLE "+prefix+"teams (id VARCHAR(64) NOT NULL PRIMARY KEY, note VARCHAR(64) NOT NULL)")
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, "INSERT INTO "+prefix+"teams (id, note) VALUES ('host', 'the host''s row')")
		require.NoError(t, err)
		s, err := sqlstore.New(db, d, sqlstore.WithTablePrefix(prefix))
		require.NoError(t, err)

		err = s.Migrate(ctx)
		require.ErrorIs(t, err, sqlstore.ErrSchemaConflict)
		conflict, ok := errors.AsType[*sqlstore.SchemaConflictError](err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, prefix+"teams", conflict.Object)
		assert.Equal(t, "0001_init.sql", conflict.Migration)
		assert.Contains(t, err.Error(), prefix+"teams")

		assert.Zero(t, countVersions(t, db, prefix), "no version recorded")
		var n int
		for _, table := range []string{"campaigns", "seats", "outbox"} {
			assert.Error(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+prefix+table).Scan(&n), "%s not created", table)
		}
		var note string
		require.NoError(t, db.QueryRowContext(ctx, "SELECT note FROM "+prefix+"teams").Scan(&note))
		assert.Equal(t, "the host's row", note)
	})
}

// TestMigrateMySQLRerunAfterInit: MySQL's DDL is not transactional, so a
// crash in the first migration leaves its tables without the version
// row. Migrate run again finds them as the migration creates them, takes
// them as applied and records the version.
func TestMigrateMySQLRerunAfterInit(t *testing.T) {
	db, d, ctx := openMySQL(t), sqlstore.MySQL, t.Context()
	s, prefix := newStoreAt(t, db, d, 1)
	f := newFixture(t, s)
	// An outbox with rows: AUTO_INCREMENT moved. (A record and its event,
	// which 0001's tables hold as today's Store writes them; a team would
	// need a later migration's column.)
	rec := &groupbuy.IdempotencyRecord{Scope: "groupbuy.close", Key: "k", Fingerprint: "fp", Result: []byte(`{}`), CreatedAt: t0}
	require.NoError(t, s.RecordOutcome(ctx, rec, []storage.Event{f.event(groupbuy.TopicTeamFailed, "k")}))
	_, err := db.ExecContext(ctx, "DELETE FROM "+prefix+"schema_migrations")
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	assert.Equal(t, len(migrationVersions(t, d)), countVersions(t, db, prefix))
	_, err = s.GetIdempotency(ctx, rec.Scope, rec.Key)
	require.NoError(t, err)
	f.open("alice") // and today's writes work on the result
}

// TestMigrateSQLiteRefusesForeignIndex: SQLite's 0003 is a CREATE INDEX
// IF NOT EXISTS, and index names are the database's. An index of the
// host's under that name, on a table of its own, made the migration keep
// it and record the version, so that teams went without the index;
// Migrate refuses it instead.
func TestMigrateSQLiteRefusesForeignIndex(t *testing.T) {
	db, d, ctx := openSQLite(t), sqlstore.SQLite, t.Context()
	s, prefix := newStoreAt(t, db, d, 2)
	for _, stmt := range []string{
		"CREATE TABLE " + prefix + "host (a INTEGER)",
		"CREATE INDEX " + prefix + "teams_fullest ON " + prefix + "host (a)",
	} {
		_, err := db.ExecContext(ctx, stmt)
		require.NoError(t, err)
	}
	err := s.Migrate(ctx)
	require.ErrorIs(t, err, sqlstore.ErrSchemaConflict)
	conflict, ok := errors.AsType[*sqlstore.SchemaConflictError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, prefix+"teams_fullest", conflict.Object)
	assert.Equal(t, 2, countVersions(t, db, prefix), "0003 not recorded")
}
