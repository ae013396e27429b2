package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	_ "modernc.org/sqlite"             // SQLite driver "sqlite"

	"github.com/socialcommerce/sdk/groupbuy"
	"github.com/socialcommerce/sdk/storage/sqlstore"
)

// dbKind says which database a -db value names.
func dbKind(dsn string) string {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return "postgres"
	case strings.HasPrefix(dsn, "mysql://"), strings.Contains(dsn, "tcp("), strings.Contains(dsn, "unix("), strings.Contains(dsn, "@"):
		return "mysql"
	default:
		return "sqlite"
	}
}

// openSQL opens the database named by dsn, migrates the tables with the
// given prefix and returns the target and a cleanup that drops the tables
// (unless keep) and closes the database.
func openSQL(ctx context.Context, dsn, prefix string, clients int, keep bool) (Target, func() error, error) {
	kind := dbKind(dsn)
	var driver, source string
	var dialect sqlstore.Dialect
	switch kind {
	case "postgres":
		driver, source, dialect = "pgx", dsn, sqlstore.Postgres
	case "mysql":
		cfg, err := mysql.ParseDSN(strings.TrimPrefix(dsn, "mysql://"))
		if err != nil {
			return Target{}, nil, fmt.Errorf("mysql DSN: %w", err)
		}
		cfg.ParseTime = true
		cfg.Loc = time.UTC
		driver, source, dialect = "mysql", cfg.FormatDSN(), sqlstore.MySQL
	default:
		driver, dialect = "sqlite", sqlstore.SQLite
		source = strings.TrimPrefix(dsn, "sqlite:")
		if !strings.HasPrefix(source, "file:") {
			source = "file:" + source + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		}
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		return Target{}, nil, err
	}
	db.SetMaxOpenConns(clients)
	db.SetMaxIdleConns(clients)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return Target{}, nil, fmt.Errorf("connect to %s: %w", kind, err)
	}
	st, err := sqlstore.New(db, dialect, sqlstore.WithTablePrefix(prefix))
	if err != nil {
		db.Close()
		return Target{}, nil, err
	}
	cleanup := func() error {
		var err error
		if !keep {
			err = dropTables(context.Background(), db, kind, prefix)
		}
		return errors.Join(err, st.Close(), db.Close())
	}
	if err := st.Migrate(ctx); err != nil {
		return Target{}, nil, errors.Join(fmt.Errorf("migrate: %w", err), cleanup())
	}
	if err := warm(ctx, db, clients); err != nil {
		return Target{}, nil, errors.Join(err, cleanup())
	}
	t := Target{
		Name:       kind,
		Store:      st,
		RoundTrips: st.RoundTrips,
		Check:      func(ctx context.Context) (Check, error) { return checkSQL(ctx, db, prefix) },
	}
	switch kind {
	case "postgres":
		t.SeedReferral = func(ctx context.Context, programmeID string, users int) error {
			return seedReferralPostgres(ctx, db, prefix, programmeID, users)
		}
		t.Counters = func(ctx context.Context) ([]KindCount, error) {
			return counters(ctx, db, "SELECT 'commits', xact_commit FROM pg_stat_database WHERE datname = current_database() "+
				"UNION ALL SELECT 'rollbacks', xact_rollback FROM pg_stat_database WHERE datname = current_database() "+
				"UNION ALL SELECT 'deadlocks', deadlocks FROM pg_stat_database WHERE datname = current_database()")
		}
	case "mysql":
		t.Counters = func(ctx context.Context) ([]KindCount, error) {
			return counters(ctx, db, "SELECT lower(variable_name), variable_value FROM information_schema.global_status "+
				"WHERE variable_name IN ('COM_COMMIT', 'COM_ROLLBACK', 'INNODB_DEADLOCKS', 'INNODB_ROW_LOCK_WAITS') ORDER BY variable_name")
		}
	}
	if r, ok := any(st).(interface{ Retries() int64 }); ok {
		t.Retries = r.Retries
	}
	return t, cleanup, nil
}

// warm opens n connections before the run, so that no command pays for
// connecting (pgbench does not count its connection time either).
func warm(ctx context.Context, db *sql.DB, n int) error {
	conns := make([]*sql.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("open connection %d of %d: %w", len(conns)+1, n, err)
		}
		if err := c.PingContext(ctx); err != nil {
			return fmt.Errorf("open connection %d of %d: %w", len(conns)+1, n, err)
		}
		conns = append(conns, c)
	}
	return nil
}

// counters reads (name, value) rows.
func counters(ctx context.Context, db *sql.DB, q string) ([]KindCount, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []KindCount
	for rows.Next() {
		var k KindCount
		if err := rows.Scan(&k.Kind, &k.Count); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// checkSQL checks every team in the tables with the given prefix.
func checkSQL(ctx context.Context, db *sql.DB, p string) (Check, error) {
	var c Check
	active := "(SELECT count(*) FROM " + p + "seats s WHERE s.team_id = t.id AND s.state IN ('reserved','paid','confirmed'))"
	paid := "(SELECT count(*) FROM " + p + "seats s WHERE s.team_id = t.id AND s.state IN ('paid','confirmed'))"
	rows := "(SELECT count(*) FROM " + p + "seats s WHERE s.team_id = t.id AND NOT s.is_virtual)"
	bound := fmt.Sprintf("(%d * t.capacity + %d)", groupbuy.SeatRowsPerSeat, groupbuy.SeatRowsSpare)
	queries := []struct {
		q   string
		dst *int
	}{
		{"SELECT count(*) FROM " + p + "teams", &c.Teams},
		{"SELECT count(*) FROM " + p + "teams t WHERE " + active + " > t.capacity", &c.Overfilled},
		{"SELECT count(*) FROM " + p + "teams t WHERE t.seats_taken <> " + active, &c.Mismatched},
		{"SELECT count(*) FROM " + p + "teams t WHERE t.seats_paid <> " + paid, &c.PaidMismatched},
		{"SELECT count(*) FROM " + p + "teams t WHERE t.state = 'forming' AND " + paid + " >= t.capacity", &c.FilledForming},
		{"SELECT count(*) FROM " + p + "teams t WHERE t.seat_rows <> " + rows, &c.RowsMismatched},
		{"SELECT count(*) FROM " + p + "teams t WHERE " + rows + " > " + bound, &c.OverRowBound},
		{"SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM " + p + "seats s WHERE s.state IN ('reserved','paid','confirmed') GROUP BY s.team_id) x", &c.MaxActive},
	}
	for _, q := range queries {
		if err := db.QueryRowContext(ctx, q.q).Scan(q.dst); err != nil {
			return c, fmt.Errorf("%s: %w", q.q, err)
		}
	}
	return c, nil
}

// dropTables drops every table whose name starts with prefix.
func dropTables(ctx context.Context, db *sql.DB, kind, prefix string) error {
	var q string
	switch kind {
	case "postgres":
		q = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
	case "mysql":
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
	default:
		q = "SELECT name FROM sqlite_master WHERE type = 'table'"
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		if strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, n := range refTables {
		if !slices.Contains(names, prefix+n) {
			names = append(names, prefix+n)
		}
	}
	if len(names) == 0 {
		return nil
	}
	switch kind {
	case "postgres":
		_, err = db.ExecContext(ctx, "DROP TABLE IF EXISTS "+strings.Join(names, ", ")+" CASCADE")
		return err
	case "mysql":
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SET FOREIGN_KEY_CHECKS = 0"); err != nil {
			return err
		}
		_, err = conn.ExecContext(ctx, "DROP TABLE IF EXISTS "+strings.Join(names, ", "))
		_, err2 := conn.ExecContext(ctx, "SET FOREIGN_KEY_CHECKS = 1")
		return errors.Join(err, err2)
	default:
		// Child tables first: retry the ones a foreign key still holds.
		for range len(names) {
			var left []string
			for _, n := range names {
				if _, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS "`+n+`"`); err != nil {
					left = append(left, n)
				}
			}
			if names = left; len(names) == 0 {
				return nil
			}
		}
		return fmt.Errorf("could not drop %v", names)
	}
}

// refTables are the referral tables of
// storage/sqlstore/migrations/*/0002_referral.sql; dropTables always
// includes them (DROP TABLE IF EXISTS), whatever the catalogue listed.
var refTables = []string{"ref_programmes", "ref_codes", "ref_distributors", "ref_nodes", "ref_history", "ref_attributions"}

// seedReferralPostgres seeds the referral scenario's tree with
// generate_series: user i (u0..u<users-1>) bound to a random j < i, and
// every user an active distributor; then vacuums and analyzes both tables
// (what autovacuum would have done to a tree in place for a while: hint
// bits, the visibility map that index-only probes need, statistics) and
// checkpoints, so that the bulk load's writes stay out of the run. A role
// that may not CHECKPOINT skips it.
func seedReferralPostgres(ctx context.Context, db *sql.DB, p, programmeID string, users int) error {
	for _, q := range []string{
		`INSERT INTO ` + p + `ref_nodes (programme_id, user_id, referrer_id, source, code, bound_at, actor, reason, version)
			SELECT $2, 'u' || i, CASE WHEN i = 0 THEN NULL ELSE 'u' || floor(random() * i)::int END, 'link', '', now(), '', '', 1
			FROM generate_series(0, $1 - 1) AS i`,
		`INSERT INTO ` + p + `ref_distributors (programme_id, user_id, state, applied_at, updated_at, actor, reason, version)
			SELECT $2, 'u' || i, 'active', now(), now(), 'system', '', 1 FROM generate_series(0, $1 - 1) AS i`,
	} {
		if _, err := db.ExecContext(ctx, q, users, programmeID); err != nil {
			return err
		}
	}
	if _, err := db.ExecContext(ctx, `VACUUM (ANALYZE) `+p+`ref_nodes, `+p+`ref_distributors`); err != nil {
		return err
	}
	_, _ = db.ExecContext(ctx, `CHECKPOINT`)
	return nil
}
