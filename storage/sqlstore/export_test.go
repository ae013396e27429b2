package sqlstore

// Hooks for the external tests of this package.

import (
	"context"
	"time"
)

// PgJSONString is pgJSONString, for tests that run its SQL.
func PgJSONString(x string) string { return pgJSONString(x) }

// PgSeatSummary is pgSeatSummary, for tests that run its SQL.
func PgSeatSummary(alias string) string { return pgSeatSummary(alias) }

// MarkLastPay makes s take teamID's next payment as the one that fills it.
func MarkLastPay(s *Store, teamID string) {
	if s.lastPays != nil {
		s.lastPays.add(teamID)
	}
}

// PreparedStatements returns how many statements s holds prepared.
func PreparedStatements(s *Store) int {
	if s.stmts == nil {
		return 0
	}
	s.stmts.set.mu.Lock()
	defer s.stmts.set.mu.Unlock()
	return len(s.stmts.set.all)
}

// PreparedUses returns how many statements s has sent prepared.
func PreparedUses(s *Store) int64 {
	if s.stmts == nil {
		return 0
	}
	return s.stmts.uses.Load()
}

// MigrateTo is Migrate stopping after the migration of the given version.
func MigrateTo(ctx context.Context, s *Store, version int) error { return s.migrateTo(ctx, version) }

// MigrationVersions returns the versions of d's migrations, in order.
func MigrationVersions(d Dialect) ([]int, error) {
	ms, err := (&Store{d: d}).migrations()
	if err != nil {
		return nil, err
	}
	out := make([]int, len(ms))
	for i, m := range ms {
		out[i] = m.version
	}
	return out, nil
}

// SetMigrationLockTimeout sets how long each lock wait of s's Migrate
// lasts at most (MySQL rounds it up to whole seconds).
func SetMigrationLockTimeout(s *Store, d time.Duration) { s.migrationLockTimeout = d }

// MigrationChecksums returns the checksums of d's migrations by version.
func MigrationChecksums(d Dialect) (map[int]string, error) {
	ms, err := (&Store{d: d}).migrations()
	if err != nil {
		return nil, err
	}
	out := map[int]string{}
	for _, m := range ms {
		out[m.version] = m.sum
	}
	return out, nil
}

// RecordedChecksums reads the checksums that s's version table records,
// by version ("" where none is).
func RecordedChecksums(ctx context.Context, s *Store) (map[int]string, error) {
	return s.readVersions(ctx, run{s: s, q: s.db})
}

// SetSavepointEndTimeout sets how long the rollback or release of a
// write's savepoint under WithTx may take at most.
func SetSavepointEndTimeout(s *Store, d time.Duration) { s.savepointEndTimeout = d }
