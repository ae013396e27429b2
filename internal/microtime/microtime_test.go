package microtime

import (
	"testing"
	"time"
)

func TestCeil(t *testing.T) {
	at := time.Date(2026, 11, 29, 18, 0, 0, 123456000, time.UTC)
	for _, tc := range []struct {
		in   time.Time
		want time.Time
	}{
		{at, at},
		{at.Add(1), at.Add(time.Microsecond)},
		{at.Add(999), at.Add(time.Microsecond)},
		{at.Add(-1), at},
		{time.Unix(0, -1).UTC(), time.Unix(0, 0).UTC()},
	} {
		if got := Ceil(tc.in); !got.Equal(tc.want) {
			t.Errorf("Ceil(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
