package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrationsFS embed.FS

// migration is one embedded, versioned schema change.
type migration struct {
	version int
	name    string
	sum     string   // checksum of its statements (see checksum)
	stmts   []string // prefix substituted
}

// checksum is the hex SHA-256 of a migration's statements as splitSQL
// returns them from the file, before the prefix is substituted: the same
// for every prefix, and unchanged by an edit of the file's comment lines
// or of the blank space between statements, which run nothing (a "--"
// comment after code on a line is part of its statement).
func checksum(text string) string {
	sum := sha256.Sum256([]byte(strings.Join(splitSQL(text), ";\n")))
	return hex.EncodeToString(sum[:])
}

// ErrMigrationChanged reports that a migration recorded as applied in the
// database differs from the migration of the same version that this
// release embeds: a released migration file was edited (or the database
// was migrated by a build with other migrations). Migrate then applies
// nothing; a changed migration is never run again, so the database may
// lack what the edit added. Match it with errors.Is; the error is a
// *MigrationChangedError.
var ErrMigrationChanged = errors.New("sqlstore: an applied migration differs from the embedded one")

// MigrationChangedError is Migrate's refusal when an applied migration's
// recorded checksum differs from the embedded migration's; it matches
// ErrMigrationChanged.
type MigrationChangedError struct {
	Version  int    // the migration's version
	Name     string // the embedded migration's file name
	Recorded string // the checksum recorded when it was applied
	Embedded string // the checksum of the embedded migration
}

// Error names the migration and both checksums.
func (e *MigrationChangedError) Error() string {
	return fmt.Sprintf("sqlstore: migration %s was applied with checksum %s, but the embedded one has checksum %s: a released migration was edited; restore it and add a new migration instead",
		e.Name, e.Recorded, e.Embedded)
}

// Is reports whether target is ErrMigrationChanged.
func (e *MigrationChangedError) Is(target error) bool { return target == ErrMigrationChanged }

// ErrSchemaConflict reports that a table or index a migration creates
// exists already and is not the migration's own: an object of the host's
// under the Store's prefixed name. Migrate then applies nothing of that
// migration and records nothing; choose another prefix
// (WithTablePrefix), or rename the host's object. Match it with
// errors.Is; the error is a *SchemaConflictError.
var ErrSchemaConflict = errors.New("sqlstore: a table or index of a migration exists already")

// SchemaConflictError is Migrate's refusal when a table or index that a
// pending migration creates exists already (on MySQL: with another
// definition than the migration's); it matches ErrSchemaConflict.
type SchemaConflictError struct {
	Migration string // the migration's file name
	Object    string // the table's or index's name, prefix included
	Detail    string // the database's own words, or what differs
}

// Error names the migration and the object.
func (e *SchemaConflictError) Error() string {
	return fmt.Sprintf("sqlstore: migration %s creates %s, which exists already and is not its own (%s): choose another table prefix, or rename the existing object",
		e.Migration, e.Object, e.Detail)
}

// Is reports whether target is ErrSchemaConflict.
func (e *SchemaConflictError) Is(target error) bool { return target == ErrSchemaConflict }

// createdObject returns the name of the table or index that a CREATE
// TABLE or CREATE INDEX statement creates, and whether stmt is one.
func createdObject(stmt string) (name string, table, ok bool) {
	rest, table := strings.CutPrefix(stmt, "CREATE TABLE ")
	if !table {
		if rest, ok = strings.CutPrefix(stmt, "CREATE INDEX "); !ok {
			return "", false, false
		}
	}
	rest = strings.TrimPrefix(rest, "IF NOT EXISTS ")
	name, _, _ = strings.Cut(strings.TrimSpace(rest), " ")
	return name, table, name != ""
}

// checkSQLiteIndex refuses, with a *SchemaConflictError, a CREATE INDEX IF
// NOT EXISTS (SQLite 0003) whose name another object holds: SQLite would
// keep an index of another table or definition and the migration would
// be recorded. SQLite keeps the statement's text without IF NOT EXISTS;
// the texts are compared with their blank space normalised.
func (s *Store) checkSQLiteIndex(ctx context.Context, r run, m migration, stmt string) error {
	name, _, _ := createdObject(stmt)
	var typ, text sql.NullString
	err := r.row(ctx, `SELECT type, sql FROM sqlite_master WHERE name = ?`, name).Scan(&typ, &text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	want := "CREATE INDEX " + strings.TrimPrefix(stmt, "CREATE INDEX IF NOT EXISTS ")
	if typ.String == "index" && strings.Join(strings.Fields(text.String), " ") == strings.Join(strings.Fields(want), " ") {
		return nil
	}
	return &SchemaConflictError{Migration: m.name, Object: name, Detail: fmt.Sprintf("a %s of that name exists: %s", typ.String, text.String)}
}

// isDuplicateObject reports a CREATE of a table or index whose name is
// taken: PostgreSQL 42P07, SQLite "already exists".
func (s *Store) isDuplicateObject(err error) bool {
	if st, ok := errors.AsType[sqlStater](err); ok {
		return st.SQLState() == "42P07"
	}
	return s.d == SQLite && (strings.Contains(err.Error(), " already exists") || strings.Contains(err.Error(), "there is already a"))
}

// migrations returns the dialect's migrations in version order, with the
// table prefix substituted for {{prefix}}.
func (s *Store) migrations() ([]migration, error) {
	dir := path.Join("migrations", s.d.String())
	entries, err := fs.ReadDir(migrationsFS, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations of %s: %w", s.d, err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlstore: migration %s: name must be NNNN_name.sql", name)
		}
		b, err := migrationsFS.ReadFile(path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		text := strings.ReplaceAll(string(b), "{{prefix}}", s.prefix)
		out = append(out, migration{version: v, name: name, sum: checksum(string(b)), stmts: splitSQL(text)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("sqlstore: two migrations with version %d", out[i].version)
		}
	}
	return out, nil
}

// splitSQL splits a migration file into statements: it drops "--" comment
// lines and splits at semicolons. Migration files hold no semicolon inside
// a statement.
func splitSQL(text string) []string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		b.WriteString(line)
	}
	var out []string
	for stmt := range strings.SplitSeq(b.String(), ";") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}

// Migrate creates or upgrades the store's tables by applying the embedded
// migrations of its dialect that are not yet recorded in the
// <prefix>schema_migrations table. It is safe to run from several
// instances at once:
//
//   - PostgreSQL and SQLite apply each migration in one transaction that
//     first inserts the migration's version row; a concurrent migrator
//     blocks on that key until the first commits, then skips the migration.
//   - MySQL, whose DDL is not transactional, holds GET_LOCK on a dedicated
//     connection while it migrates, and its DDL is IF NOT EXISTS; a
//     concurrent migrator waits for that lock until its ctx is done.
//
// A migration waits for each lock it needs at most 2 s (PostgreSQL's
// lock_timeout, MySQL's lock_wait_timeout), so that the queries queued
// behind its wait are held up no longer; when the wait runs out, it rolls
// back, pauses and tries again until ctx is done, and then returns an
// error naming the migration. The host's statement timeouts
// (statement_timeout, max_statement_time) do not apply to migrations.
// Once it has its locks, a migration holds them until it ends: some keep
// reads of a table out for seconds per million rows (the package doc's
// Migrations lists them with measured times).
//
// Each version row holds a checksum of its migration's statements. Before
// it applies anything, Migrate compares the recorded checksums with the
// embedded migrations' and returns a *MigrationChangedError
// (ErrMigrationChanged) when one differs: a released migration file was
// edited. A version recorded by a release before checksums gets its
// checksum then, unchecked (the column is added to such a version table
// first).
//
// Migrations are forward-only. Run Migrate before deploying the code that
// needs it (migrate first, then deploy); a MySQL migration that failed
// halfway is completed by the next Migrate. New never migrates; run
// Migrate at deploy or start-up. Under WithTx, Migrate still uses the
// pool, not the host's transaction.
func (s *Store) Migrate(ctx context.Context) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	return s.migrateTo(ctx, math.MaxInt)
}

// migrateTo is Migrate stopping after the migration of the given version:
// the schema of an older release, for the upgrade test.
func (s *Store) migrateTo(ctx context.Context, version int) error {
	err := s.migrate(ctx, version)
	if err == nil {
		// A statement used before its tables existed failed to prepare;
		// it need not wait for its pause to end.
		s.stmts.forgetFailures(s.queries)
	}
	return err
}

func (s *Store) migrate(ctx context.Context, version int) error {
	ms, err := s.migrations()
	if err != nil {
		return err
	}
	ms = slices.DeleteFunc(ms, func(m migration) bool { return m.version > version })
	if s.d == MySQL {
		return s.migrateMySQL(ctx, ms)
	}
	r := run{s: s, q: s.db}
	// Two migrators creating the version table at once may collide on the
	// catalog (PostgreSQL reports a unique violation); try again.
	for attempt := 0; ; attempt++ {
		_, err := r.exec(ctx, s.versionTable())
		if err == nil {
			break
		}
		if attempt >= 5 {
			return fmt.Errorf("sqlstore: create %sschema_migrations: %w", s.prefix, err)
		}
		if werr := backoff(ctx, attempt); werr != nil {
			return werr
		}
	}
	applied, err := s.appliedVersions(ctx, r)
	if err != nil {
		return err
	}
	if err := s.checkApplied(ctx, r, ms, applied); err != nil {
		return err
	}
	for _, m := range ms {
		if _, ok := applied[m.version]; ok {
			continue
		}
		err := s.untilLocked(ctx, m, func() error {
			return s.retry(ctx, func() error { return s.applyInTx(ctx, m) })
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// versionTable is the statement that creates <prefix>schema_migrations:
// one row per applied migration, with the migration's checksum (NULL in a
// row that a release before checksums wrote).
func (s *Store) versionTable() string {
	if s.d == MySQL {
		return `CREATE TABLE IF NOT EXISTS {p}schema_migrations (version INT NOT NULL PRIMARY KEY, applied_at DATETIME(6) NOT NULL, checksum VARCHAR(64) NULL) ENGINE=InnoDB`
	}
	return `CREATE TABLE IF NOT EXISTS {p}schema_migrations (version INTEGER PRIMARY KEY, applied_at ` + s.timeType() + ` NOT NULL, checksum VARCHAR(64) NULL)`
}

// applyInTx applies one migration in one transaction, unless a concurrent
// migrator recorded it first.
func (s *Store) applyInTx(ctx context.Context, m migration) error {
	s.trips.Add(1)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	r := run{s: s, q: tx}
	if s.d == Postgres {
		// Wait for a lock at most the lock timeout (see untilLocked), and
		// let no statement_timeout of the host's abort an index build.
		set := fmt.Sprintf(`SET LOCAL lock_timeout = %d`, max(s.lockTimeout().Milliseconds(), 1))
		for _, stmt := range []string{set, `SET LOCAL statement_timeout = 0`} {
			if _, err := r.exec(ctx, stmt); err != nil {
				return err
			}
		}
	}
	n, err := r.affected(ctx, `INSERT INTO {p}schema_migrations (version, applied_at, checksum) VALUES (?, ?, ?) ON CONFLICT (version) DO NOTHING`,
		m.version, s.t(time.Now()), m.sum)
	if err != nil {
		return err
	}
	if n == 0 {
		return nil // applied by a concurrent migrator
	}
	for _, stmt := range m.stmts {
		if s.d == SQLite && strings.HasPrefix(stmt, "CREATE INDEX IF NOT EXISTS ") {
			if err := s.checkSQLiteIndex(ctx, r, m, stmt); err != nil {
				return err
			}
		}
		if _, err := r.exec(ctx, stmt); err != nil {
			// Its migrations run in one transaction each, so the table
			// or index is none that a migration of this Store left.
			if name, _, ok := createdObject(stmt); ok && s.isDuplicateObject(err) {
				return &SchemaConflictError{Migration: m.name, Object: name, Detail: err.Error()}
			}
			return fmt.Errorf("%w\n%s", err, stmt)
		}
	}
	s.trips.Add(1)
	return tx.Commit()
}

// appliedVersions returns the versions recorded as applied, each with its
// checksum ("" where a release before checksums recorded it). The version
// table of such a release lacks the checksum column: it is added first.
func (s *Store) appliedVersions(ctx context.Context, r run) (map[int]string, error) {
	applied, err := s.readVersions(ctx, r)
	// Only the checksum missing: a table of the host's of the same name,
	// which has no version column either, is not altered.
	if err == nil || !s.isUndefinedColumn(err) || !strings.Contains(err.Error(), "checksum") {
		return applied, err
	}
	if err := s.addChecksumColumn(ctx, r); err != nil {
		return nil, err
	}
	return s.readVersions(ctx, r)
}

func (s *Store) readVersions(ctx context.Context, r run) (map[int]string, error) {
	rows, err := r.query(ctx, `SELECT version, checksum FROM {p}schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: read %sschema_migrations: %w", s.prefix, err)
	}
	defer rows.Close()
	out := map[int]string{}
	for rows.Next() {
		var (
			v   int
			sum sql.NullString
		)
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, err
		}
		out[v] = sum.String
	}
	return out, rows.Err()
}

// isUndefinedColumn reports a statement naming a column its table lacks:
// PostgreSQL 42703, MySQL 1054, SQLite "no such column".
func (s *Store) isUndefinedColumn(err error) bool {
	if st, ok := errors.AsType[sqlStater](err); ok {
		return st.SQLState() == "42703"
	}
	if s.d == MySQL {
		return mysqlErrno(err, "1054")
	}
	return strings.Contains(err.Error(), "no such column")
}

// addChecksumColumn adds the checksum column to the version table of a
// release before checksums. Two migrators may add it at once: the second
// finds it there (PostgreSQL's IF NOT EXISTS after the table's lock;
// MySQL's 1060 and SQLite's duplicate column name, as applied). Like a
// migration, it waits for its table's lock at most the lock timeout per
// try; the table is the Store's own, which only migrators use.
func (s *Store) addChecksumColumn(ctx context.Context, r run) error {
	m := migration{name: s.prefix + "schema_migrations.checksum"}
	add := `ALTER TABLE {p}schema_migrations ADD COLUMN checksum VARCHAR(64) NULL`
	return s.untilLocked(ctx, m, func() error {
		var err error
		switch s.d {
		case Postgres:
			err = s.retry(ctx, func() error {
				tx, err := s.db.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				defer func() { _ = tx.Rollback() }()
				t := run{s: s, q: tx}
				set := fmt.Sprintf(`SET LOCAL lock_timeout = %d`, max(s.lockTimeout().Milliseconds(), 1))
				for _, stmt := range []string{set, strings.Replace(add, "ADD COLUMN", "ADD COLUMN IF NOT EXISTS", 1)} {
					if _, err := t.exec(ctx, stmt); err != nil {
						return err
					}
				}
				return tx.Commit()
			})
		case MySQL:
			if _, err = r.exec(ctx, add); err != nil && mysqlErrno(err, "1060") {
				err = nil
			}
		default:
			err = s.retry(ctx, func() error {
				_, err := r.exec(ctx, add)
				if err != nil && strings.Contains(err.Error(), "duplicate column name") {
					return nil
				}
				return err
			})
		}
		return err
	})
}

// checkApplied refuses, with a *MigrationChangedError, a migration of ms
// recorded as applied with another checksum than its own, before Migrate
// applies anything. A version that a release before checksums recorded
// gets its migration's checksum now: what ran then cannot be checked, so
// it is taken as the embedded migration.
func (s *Store) checkApplied(ctx context.Context, r run, ms []migration, applied map[int]string) error {
	var unrecorded []migration
	for _, m := range ms {
		switch sum, ok := applied[m.version]; {
		case !ok:
		case sum == "":
			unrecorded = append(unrecorded, m)
		case sum != m.sum:
			return &MigrationChangedError{Version: m.version, Name: m.name, Recorded: sum, Embedded: m.sum}
		}
	}
	for _, m := range unrecorded {
		err := s.retry(ctx, func() error {
			_, err := r.exec(ctx, `UPDATE {p}schema_migrations SET checksum = ? WHERE version = ? AND checksum IS NULL`, m.sum, m.version)
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlstore: record the checksum of migration %s: %w", m.name, err)
		}
	}
	return nil
}

func (s *Store) timeType() string {
	switch s.d {
	case Postgres:
		return "TIMESTAMPTZ"
	case MySQL:
		return "DATETIME(6)"
	}
	return "INTEGER"
}

// migrateMySQL migrates under a named lock held on one connection.
func (s *Store) migrateMySQL(ctx context.Context, ms []migration) (err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	defer conn.Close()
	r := run{s: s, q: conn}
	restore, err := s.mysqlMigrationSession(ctx, conn)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	defer restore()
	// Lock names are server-wide: qualify with the database, and keep
	// within MySQL's 64 characters.
	lock := s.prefix + "migrate"
	// Another migrator may hold the lock for as long as its migrations
	// take (an index build on a large table, or waits for its locks):
	// wait until ctx is done, a second at a time.
	start := time.Now()
	for {
		var got sql.NullInt64
		err := r.row(ctx, `SELECT GET_LOCK(CONCAT(LEFT(COALESCE(DATABASE(), ''), 24), '.', ?), 1)`, lock).Scan(&got)
		if err == nil && got.Valid && got.Int64 == 1 {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("sqlstore: migrate: another migrator of %s has held the migration lock for %v: %w",
				s.prefix, time.Since(start).Round(time.Millisecond), ctx.Err())
		}
		if err != nil {
			return fmt.Errorf("sqlstore: migrate: lock: %w", err)
		}
		if !got.Valid {
			return errors.New("sqlstore: migrate: lock: GET_LOCK failed (NULL)")
		}
	}
	defer func() {
		// Release on a context that the caller's cancellation cannot stop.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, rerr := r.exec(rctx, `SELECT RELEASE_LOCK(CONCAT(LEFT(COALESCE(DATABASE(), ''), 24), '.', ?))`, lock); rerr != nil && err == nil {
			err = fmt.Errorf("sqlstore: migrate: release lock: %w", rerr)
		}
	}()
	if _, err := r.exec(ctx, s.versionTable()); err != nil {
		return fmt.Errorf("sqlstore: create %sschema_migrations: %w", s.prefix, err)
	}
	applied, err := s.appliedVersions(ctx, r)
	if err != nil {
		return err
	}
	if err := s.checkApplied(ctx, r, ms, applied); err != nil {
		return err
	}
	for _, m := range ms {
		if _, ok := applied[m.version]; ok {
			continue
		}
		if err := s.checkMySQLTables(ctx, r, m); err != nil {
			return err
		}
		for _, stmt := range m.stmts {
			err := s.untilLocked(ctx, m, func() error {
				_, err := r.exec(ctx, stmt)
				// DDL is not transactional here: an index built before a
				// crash that kept its version row from being written is
				// there already (1061, duplicate key name).
				if err != nil && mysqlErrno(err, "1061") && strings.HasPrefix(stmt, "CREATE INDEX ") {
					return nil
				}
				// So is a column added before such a crash (1060,
				// duplicate column name).
				if err != nil && mysqlErrno(err, "1060") && strings.HasPrefix(stmt, "ALTER TABLE ") && strings.Contains(stmt, " ADD COLUMN ") {
					return nil
				}
				if err != nil {
					return fmt.Errorf("%w\n%s", err, stmt)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		err := s.untilLocked(ctx, m, func() error {
			if _, err := r.exec(ctx, `INSERT INTO {p}schema_migrations (version, applied_at, checksum) VALUES (?, ?, ?)`, m.version, s.t(time.Now()), m.sum); err != nil {
				return fmt.Errorf("record: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// checkMySQLTables refuses, with a *SchemaConflictError, a migration one
// of whose CREATE TABLE IF NOT EXISTS would keep an existing table of
// another definition, before any statement of it runs. MySQL's DDL is not
// transactional, so the statements of a migration that a crash cut short
// run again (see Migrate) and IF NOT EXISTS keeps the tables it created;
// but it would keep a host's table of the same name too, and the
// migration would go on and be recorded on it. An existing table must
// therefore equal, as SHOW CREATE TABLE shows it (AUTO_INCREMENT's
// counter aside), its twin that the statement creates as a temporary
// table, which the connection alone sees and which no crash leaves
// behind.
func (s *Store) checkMySQLTables(ctx context.Context, r run, m migration) error {
	for _, stmt := range m.stmts {
		table, isTable, ok := createdObject(stmt)
		if !ok || !isTable || !strings.HasPrefix(stmt, "CREATE TABLE IF NOT EXISTS ") {
			continue
		}
		var n int
		if err := r.row(ctx, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?`, table).Scan(&n); err != nil {
			return fmt.Errorf("sqlstore: migration %s: look for %s: %w", m.name, table, err)
		}
		if n == 0 {
			continue
		}
		have, err := s.showCreateTable(ctx, r, table, table)
		if err != nil {
			return fmt.Errorf("sqlstore: migration %s: %w", m.name, err)
		}
		twin := s.prefix + "migration_twin"
		want, err := func() (string, error) {
			if _, err := r.exec(ctx, `DROP TEMPORARY TABLE IF EXISTS `+twin); err != nil {
				return "", err
			}
			create := "CREATE TEMPORARY TABLE " + twin + strings.TrimPrefix(stmt, "CREATE TABLE IF NOT EXISTS "+table)
			if _, err := r.exec(ctx, create); err != nil {
				return "", err
			}
			defer func() {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				_, _ = r.exec(dctx, `DROP TEMPORARY TABLE IF EXISTS `+twin)
			}()
			return s.showCreateTable(ctx, r, twin, table)
		}()
		if err != nil {
			return fmt.Errorf("sqlstore: migration %s: the definition of %s: %w", m.name, table, err)
		}
		if have != want {
			return &SchemaConflictError{Migration: m.name, Object: table,
				Detail: "it exists with another definition: " + firstDifference(have, want)}
		}
	}
	return nil
}

// showCreateTable returns MySQL's SHOW CREATE TABLE of table, named as
// name, as a permanent table, without its AUTO_INCREMENT counter.
func (s *Store) showCreateTable(ctx context.Context, r run, table, name string) (string, error) {
	var got, def string
	if err := r.row(ctx, "SHOW CREATE TABLE "+table).Scan(&got, &def); err != nil {
		return "", err
	}
	def = strings.Replace(def, "CREATE TEMPORARY TABLE ", "CREATE TABLE ", 1)
	def = strings.Replace(def, "CREATE TABLE `"+table+"`", "CREATE TABLE `"+name+"`", 1)
	return autoIncrementRE.ReplaceAllString(def, ""), nil
}

var autoIncrementRE = regexp.MustCompile(` AUTO_INCREMENT=[0-9]+`)

// firstDifference returns the first line of have that want lacks, and
// want's line in its place.
func firstDifference(have, want string) string {
	hl, wl := strings.Split(have, "\n"), strings.Split(want, "\n")
	for i := range max(len(hl), len(wl)) {
		var h, w string
		if i < len(hl) {
			h = strings.TrimSpace(hl[i])
		}
		if i < len(wl) {
			w = strings.TrimSpace(wl[i])
		}
		if h != w {
			return fmt.Sprintf("has %q where the migration creates %q", h, w)
		}
	}
	return "same text"
}

// mysqlMigrationSession sets the migration connection's lock_wait_timeout
// (metadata locks, in whole seconds) to the lock timeout and, on MariaDB,
// its max_statement_time to 0 (none: the migration's waits and index
// builds are not the host's queries), and returns what puts the previous
// values back before the connection returns to the pool; a connection
// whose values could not be put back is discarded.
func (s *Store) mysqlMigrationSession(ctx context.Context, conn *sql.Conn) (restore func(), err error) {
	r := run{s: s, q: conn}
	secs := max(int64(math.Ceil(s.lockTimeout().Seconds())), 1)
	var (
		lockWait int64
		stmtTime float64
		set      = `SET SESSION lock_wait_timeout = ` + strconv.FormatInt(secs, 10)
		undo     string
	)
	switch err := r.row(ctx, `SELECT @@SESSION.lock_wait_timeout, @@SESSION.max_statement_time`).Scan(&lockWait, &stmtTime); {
	case err == nil: // MariaDB
		set += `, max_statement_time = 0`
		undo = `SET SESSION lock_wait_timeout = ` + strconv.FormatInt(lockWait, 10) +
			`, max_statement_time = ` + strconv.FormatFloat(stmtTime, 'f', -1, 64)
	case mysqlErrno(err, "1193"):
		// MySQL has no max_statement_time; its max_execution_time bounds
		// SELECTs only.
		if err := r.row(ctx, `SELECT @@SESSION.lock_wait_timeout`).Scan(&lockWait); err != nil {
			return nil, fmt.Errorf("read lock_wait_timeout: %w", err)
		}
		undo = `SET SESSION lock_wait_timeout = ` + strconv.FormatInt(lockWait, 10)
	default:
		return nil, fmt.Errorf("read lock_wait_timeout: %w", err)
	}
	restore = func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := r.exec(rctx, undo); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}
	if _, err := r.exec(ctx, set); err != nil {
		restore()
		return nil, fmt.Errorf("set lock_wait_timeout: %w", err)
	}
	return restore, nil
}

// migrationLockTimeout bounds each wait of a migration for a lock.
const migrationLockTimeout = 2 * time.Second

func (s *Store) lockTimeout() time.Duration {
	if s.migrationLockTimeout > 0 {
		return s.migrationLockTimeout
	}
	return migrationLockTimeout
}

// untilLocked runs try, one attempt at applying (part of) migration m, again
// while it fails with a lock timeout (PostgreSQL 55P03, MySQL 1205), until
// ctx is done. A migration's DDL needs an exclusive lock of its table,
// which it cannot get while a transaction that touched the table is open;
// waiting in the lock queue would hold up every later query of the table
// behind it, so each try waits at most the lock timeout and gives up, and
// the queries it held up run during the pause before the next try. The
// error of a migration that never got its locks names it and wraps ctx's
// error.
func (s *Store) untilLocked(ctx context.Context, m migration, try func() error) error {
	start := time.Now()
	var timedOut error // the last lock timeout
	for tries := 1; ; tries++ {
		err := try()
		if err == nil {
			return nil
		}
		if s.isLockTimeout(err) {
			timedOut = err
			if lockPause(ctx, s.lockTimeout(), tries) == nil {
				continue
			}
		} else if timedOut == nil || ctx.Err() == nil {
			return fmt.Errorf("sqlstore: migration %s: %w", m.name, err)
		}
		// ctx ended during a pause or a try, after a lock timeout.
		return fmt.Errorf("sqlstore: migration %s: could not take its locks in %d tries over %v, each waiting at most %v (a long transaction on its tables, or another migrator, holds them): %w; last try: %w",
			m.name, tries, time.Since(start).Round(time.Millisecond), s.lockTimeout(), ctx.Err(), timedOut)
	}
}

// isLockTimeout reports a lock wait that ran out: PostgreSQL's
// lock_not_available (55P03), MySQL's ER_LOCK_WAIT_TIMEOUT (1205).
func (s *Store) isLockTimeout(err error) bool {
	if st, ok := errors.AsType[sqlStater](err); ok {
		return st.SQLState() == "55P03"
	}
	return s.d == MySQL && mysqlErrno(err, "1205")
}

// lockPause sleeps between two tries of a migration for its locks: a
// quarter of the lock timeout after the first, doubling up to four times
// the lock timeout, jittered by ±50 %.
func lockPause(ctx context.Context, timeout time.Duration, tries int) error {
	d := max(min(timeout/4<<min(tries-1, 4), 4*timeout), time.Millisecond)
	return sleep(ctx, d/2+rand.N(d))
}
