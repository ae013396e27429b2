package sqlstore

import (
	"errors"
	"strings"
)

// The drivers are not imported by library code; their errors are recognised
// by the small interfaces they implement, or (MySQL) by their text.

// sqlStater is implemented by PostgreSQL drivers' errors (pgx's
// *pgconn.PgError, lib/pq's *pq.Error).
type sqlStater interface {
	error
	SQLState() string
}

// sqliteCoder is implemented by modernc.org/sqlite's *sqlite.Error; Code
// returns the extended result code.
type sqliteCoder interface {
	error
	Code() int
}

// SQLite result codes.
const (
	sqliteBusy              = 5
	sqliteLocked            = 6
	sqliteConstraintPK      = 1555
	sqliteConstraintUnique  = 2067
	sqliteConstraintPrimary = 19
)

// isRetryable reports whether the database aborted the statement or its
// transaction for a reason that a rerun of the whole transaction may cure:
// PostgreSQL serialization failure (40001) or deadlock (40P01); MySQL
// deadlock (1213) or lock wait timeout (1205); SQLite busy or locked.
func (s *Store) isRetryable(err error) bool {
	if err == nil {
		return false
	}
	if st, ok := errors.AsType[sqlStater](err); ok {
		switch st.SQLState() {
		case "40001", "40P01":
			return true
		}
		return false
	}
	if c, ok := errors.AsType[sqliteCoder](err); ok {
		switch c.Code() & 0xff {
		case sqliteBusy, sqliteLocked:
			return true
		}
		return false
	}
	if s.d == MySQL {
		return mysqlErrno(err, "1213") || mysqlErrno(err, "1205")
	}
	return false
}

// isUnique reports whether err is a unique-key violation: PostgreSQL 23505,
// MySQL 1062, SQLite SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY.
func (s *Store) isUnique(err error) bool {
	if err == nil {
		return false
	}
	if st, ok := errors.AsType[sqlStater](err); ok {
		return st.SQLState() == "23505"
	}
	if c, ok := errors.AsType[sqliteCoder](err); ok {
		switch c.Code() {
		case sqliteConstraintUnique, sqliteConstraintPK:
			return true
		case sqliteConstraintPrimary:
			return strings.Contains(err.Error(), "UNIQUE constraint failed")
		}
		return false
	}
	if s.d == MySQL {
		return mysqlErrno(err, "1062")
	}
	return false
}

// isStaleFill reports PostgreSQL's 2201E (the logarithm of zero), which a
// payment that would complete its team raises on purpose when its snapshot
// lacked a seat of the team (see pgPayFill).
func isStaleFill(err error) bool {
	st, ok := errors.AsType[sqlStater](err)
	return ok && st.SQLState() == "2201E"
}

// isUnplannable reports an error that PostgreSQL (or a database speaking
// its protocol) raises when it cannot plan or run a statement of that
// shape at all: classes 0A (feature not supported), 42 (syntax or access
// rule) and 54 (program limit). A payment's completing form, which only
// saves round trips, gives way to the plain form on such an error.
func isUnplannable(err error) bool {
	st, ok := errors.AsType[sqlStater](err)
	if !ok {
		return false
	}
	c := st.SQLState()
	return strings.HasPrefix(c, "0A") || strings.HasPrefix(c, "42") || strings.HasPrefix(c, "54")
}

// isDivisionByZero reports PostgreSQL's 22012, which the single-statement
// commands raise on purpose to roll themselves back.
func isDivisionByZero(err error) bool {
	st, ok := errors.AsType[sqlStater](err)
	return ok && st.SQLState() == "22012"
}

// mysqlErrno reports whether err's text carries MySQL error number n, as
// go-sql-driver formats it: "Error 1062 (23000): ..." or "Error 1062: ...".
func mysqlErrno(err error, n string) bool {
	msg := err.Error()
	for i := strings.Index(msg, "Error "+n); i >= 0; {
		rest := msg[i+len("Error ")+len(n):]
		if rest == "" || rest[0] == ' ' || rest[0] == ':' {
			return true
		}
		j := strings.Index(rest, "Error "+n)
		if j < 0 {
			return false
		}
		msg = rest
		i = j
	}
	return false
}
