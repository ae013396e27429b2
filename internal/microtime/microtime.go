// Package microtime holds the rounding of times to the precision every
// store keeps: the SQL stores keep microseconds and truncate the rest.
package microtime

import "time"

// Ceil rounds t up to a whole microsecond, so that a deadline stored with
// microsecond precision is never before t: truncated, it would end up to
// 999 ns early.
func Ceil(t time.Time) time.Time {
	u := t.Truncate(time.Microsecond)
	if u.Before(t) {
		u = u.Add(time.Microsecond)
	}
	return u
}
