package sqlstore

import (
	"database/sql"
	"fmt"
	"strconv"
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
	return s.tBound(t)
}

// tBound is t for a time that a read compares columns with: as t, but
// the zero time is the zero instant, not NULL, which no comparison holds.
func (s *Store) tBound(t time.Time) any {
	t = utc(t)
	switch s.d {
	case MySQL:
		return t.Format(mysqlTime)
	case SQLite:
		return t.UnixMicro()
	}
	return t
}

// timeScan scans a time column into a time.Time; mysqlTimeScan does so on
// MySQL. Both are pointers, so that a scan destination made of them
// allocates nothing.
type (
	timeScan      time.Time
	mysqlTimeScan time.Time
)

// ts returns the scan destination of a time column into *dst.
func (s *Store) ts(dst *time.Time) any {
	if s.d == MySQL {
		return (*mysqlTimeScan)(dst)
	}
	return (*timeScan)(dst)
}

// Scan implements sql.Scanner.
func (v *timeScan) Scan(src any) error { return scanTime((*time.Time)(v), src, false) }

// Scan implements sql.Scanner.
func (v *mysqlTimeScan) Scan(src any) error { return scanTime((*time.Time)(v), src, true) }

// scanTime scans a time column of any dialect into *dst; wall says that
// the driver read a stored UTC wall clock in its own location (MySQL).
func scanTime(dst *time.Time, src any, wall bool) error {
	switch x := src.(type) {
	case nil:
		*dst = time.Time{}
	case int64:
		*dst = time.UnixMicro(x).UTC()
	case time.Time:
		if wall {
			// DATETIME has no zone: the driver read the stored UTC wall
			// clock in its loc; take the wall clock back.
			x = time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), x.Nanosecond(), time.UTC)
		}
		*dst = utc(x)
	case []byte:
		return parseTime(dst, string(x))
	case string:
		return parseTime(dst, x)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a time", src)
	}
	return nil
}

func parseTime(dst *time.Time, x string) error {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00"} {
		if t, err := time.ParseInLocation(layout, x, time.UTC); err == nil {
			*dst = utc(t)
			return nil
		}
	}
	return fmt.Errorf("sqlstore: cannot parse time %q", x)
}

// intScan scans an integer column into an int, and strScan a text column
// into a string type (TeamState, SeatState): database/sql converts into
// those only by reflection, formatting an integer and parsing it back.
type (
	intScan int
	strScan string
)

// Scan implements sql.Scanner.
func (v *intScan) Scan(src any) error {
	var n int64
	switch x := src.(type) {
	case int64:
		n = x
	case []byte, string:
		var s string
		if b, ok := x.([]byte); ok {
			s = string(b)
		} else {
			s = x.(string)
		}
		var err error
		if n, err = strconv.ParseInt(s, 10, strconv.IntSize); err != nil {
			return fmt.Errorf("sqlstore: cannot scan %q into an int: %w", s, err)
		}
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into an int", src)
	}
	if int64(int(n)) != n {
		return fmt.Errorf("sqlstore: %d overflows an int", n)
	}
	*v = intScan(n)
	return nil
}

// Scan implements sql.Scanner.
func (v *strScan) Scan(src any) error {
	switch x := src.(type) {
	case string:
		*v = strScan(x)
	case []byte:
		*v = strScan(x)
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a string", src)
	}
	return nil
}

// Money is NUMERIC(20,4) / DECIMAL(20,4), TEXT on SQLite. The query argument
// is the canonical text: fixed point, at most 4 decimals, no trailing zeros,
// so that equal amounts compare equal as text on SQLite too.

// money returns the canonical text of d.
func money(d decimal.Decimal) string {
	if d.Exponent() >= -4 {
		// No rounding to do: String gives that text without the rescale
		// that StringFixed makes.
		return d.String()
	}
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
	// Normalise the scale (19.9000 → 19.9) so values read back alike on
	// every dialect: parse money's text of the value. The databases' text
	// is that text once its trailing decimal zeros are cut, which saves a
	// parse and a format.
	if c, ok := canonicalMoney(x); ok {
		x = c
	} else {
		d, err := decimal.NewFromString(x)
		if err != nil {
			return fmt.Errorf("sqlstore: money %q: %w", x, err)
		}
		x = money(d)
	}
	d, err := decimal.NewFromString(x)
	if err != nil {
		return fmt.Errorf("sqlstore: money %q: %w", x, err)
	}
	*v.dst = d
	return nil
}

// canonicalMoney returns money's text of the value of x when x is plain
// fixed-point text with at most 4 decimals and no leading zero (as the
// databases return money): x without its trailing decimal zeros.
func canonicalMoney(x string) (string, bool) {
	i := 0
	if i < len(x) && x[i] == '-' {
		i++
	}
	start := i
	for i < len(x) && '0' <= x[i] && x[i] <= '9' {
		i++
	}
	if i == start || (i-start > 1 && x[start] == '0') {
		return "", false
	}
	if i < len(x) {
		if x[i] != '.' {
			return "", false
		}
		i++
		frac := i
		for i < len(x) && '0' <= x[i] && x[i] <= '9' {
			i++
		}
		if i != len(x) || i == frac || i-frac > 4 {
			return "", false
		}
		x = strings.TrimSuffix(strings.TrimRight(x, "0"), ".")
	}
	if x == "-0" {
		x = "0"
	}
	return x, true
}

// nullStr maps "" to NULL, for columns where NULL means absent.
func nullStr(x string) any {
	if x == "" {
		return nil
	}
	return x
}

var (
	_ sql.Scanner = (*timeScan)(nil)
	_ sql.Scanner = (*mysqlTimeScan)(nil)
	_ sql.Scanner = (*intScan)(nil)
	_ sql.Scanner = (*strScan)(nil)
	_ sql.Scanner = decScan{}
)
