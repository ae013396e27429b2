package sqlstore

import (
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// Times are stored in UTC with microsecond precision: timestamptz on
// PostgreSQL, DATETIME(6) on MySQL (written as text, read back as the UTC
// wall clock whatever the driver's loc setting), INTEGER Unix microseconds on
// SQLite. The zero time is stored as NULL. Everything read comes back in UTC,
// truncated to the microsecond.

const mysqlTime = "2006-01-02 15:04:05.000000"

// utc truncates t to the microsecond, in UTC.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// t returns the query argument for a time: NULL for the zero time.
func (s *Store) t(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	t = utc(t)
	switch s.d {
	case MySQL:
		return t.Format(mysqlTime)
	case SQLite:
		return t.UnixMicro()
	}
	return t
}

// timeScan scans a time column of any dialect into *dst.
type timeScan struct {
	d   Dialect
	dst *time.Time
}

func (s *Store) ts(dst *time.Time) timeScan { return timeScan{s.d, dst} }

// Scan implements sql.Scanner.
func (v timeScan) Scan(src any) error {
	switch x := src.(type) {
	case nil:
		*v.dst = time.Time{}
	case int64:
		*v.dst = time.UnixMicro(x).UTC()
	case time.Time:
		if v.d == MySQL {
			// DATETIME has no zone: the driver read the stored UTC wall
			// clock in its loc; take the wall clock back.
			x = time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), x.Nanosecond(), time.UTC)
		}
		*v.dst = utc(x)
	case []byte:
		return v.parse(string(x))
	case string:
		return v.parse(x)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a time", src)
	}
	return nil
}

func (v timeScan) parse(x string) error {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00"} {
		if t, err := time.ParseInLocation(layout, x, time.UTC); err == nil {
			*v.dst = utc(t)
			return nil
		}
	}
	return fmt.Errorf("sqlstore: cannot parse time %q", x)
}

// Money is NUMERIC(20,4) / DECIMAL(20,4), TEXT on SQLite. The query argument
// is the canonical text: fixed point, at most 4 decimals, no trailing zeros,
// so that equal amounts compare equal as text on SQLite too.

// maxMoney bounds amounts so that they fit NUMERIC(20,4).
var maxMoney = decimal.New(1, 16)

// moneyOK reports whether d fits the money columns exactly.
func moneyOK(d decimal.Decimal) bool {
	return d.Abs().LessThan(maxMoney) && d.Equal(d.Truncate(4))
}

// money returns the canonical text of d.
func money(d decimal.Decimal) string {
	x := d.StringFixed(4)
	x = strings.TrimRight(x, "0")
	x = strings.TrimSuffix(x, ".")
	if x == "-0" || x == "" {
		x = "0"
	}
	return x
}

// decScan scans a money column of any dialect into *dst.
type decScan struct{ dst *decimal.Decimal }

// Scan implements sql.Scanner.
func (v decScan) Scan(src any) error {
	var x string
	switch y := src.(type) {
	case string:
		x = y
	case []byte:
		x = string(y)
	case int64:
		*v.dst = decimal.NewFromInt(y)
		return nil
	case nil:
		*v.dst = decimal.Decimal{}
		return nil
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a decimal (money is never a float)", src)
	}
	d, err := decimal.NewFromString(x)
	if err != nil {
		return fmt.Errorf("sqlstore: money %q: %w", x, err)
	}
	// Normalise the scale (19.9000 → 19.9) so values read back alike on
	// every dialect.
	*v.dst = decimal.RequireFromString(money(d))
	return nil
}

// nullStr maps "" to NULL, for columns where NULL means absent.
func nullStr(x string) any {
	if x == "" {
		return nil
	}
	return x
}

var (
	_ sql.Scanner = timeScan{}
	_ sql.Scanner = decScan{}
)
