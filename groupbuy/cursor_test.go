package groupbuy

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// seatCursorEncoding is the cursors' encoding (internal/keyset), to build
// cursors keyset.Encode would not.
var seatCursorEncoding = base64.RawURLEncoding

func TestSeatCursor(t *testing.T) {
	at := time.Date(2026, 11, 29, 18, 0, 0, 123456789, time.UTC)
	pos := SeatPosition{ReservedAt: at.Truncate(time.Microsecond), ID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}
	c := encodeSeatCursor(pos)
	got, err := decodeSeatCursor(c)
	if err != nil || !got.ReservedAt.Equal(pos.ReservedAt) || got.ID != pos.ID {
		t.Fatalf("round trip of %q: %+v, %v; want %+v", c, got, err, pos)
	}
	if strings.ContainsAny(c, "+/=") {
		t.Errorf("cursor %q is not URL-safe", c)
	}
	if got, err := decodeSeatCursor(""); err != nil || !got.IsZero() {
		t.Errorf(`"" decodes to %+v, %v; want the zero position`, got, err)
	}
	bad := []struct{ name, cursor string }{
		{"not base64", "!!!!"},
		{"padded", c + "="},
		{"too short", seatCursorEncoding.EncodeToString([]byte{seatCursorVersion, 0, 0})},
		{"another version", seatCursorEncoding.EncodeToString(append([]byte{2, 0, 0, 0, 0, 0, 0, 0, 1}, "s-1"...))},
		{"a line break", c[:4] + "\n" + c[4:]},
		{"no ID", seatCursorEncoding.EncodeToString(append([]byte{seatCursorVersion}, make([]byte, 8)...))},
		{"an ID with a space", encodeSeatCursor(SeatPosition{ReservedAt: at, ID: "a b"})},
		{"before year 1", encodeSeatCursor(SeatPosition{ReservedAt: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), ID: "s"})},
		{"after year 9999", encodeSeatCursor(SeatPosition{ReservedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), ID: "s"})},
		{"too long", strings.Repeat("A", 400)},
	}
	for _, tc := range bad {
		_, err := decodeSeatCursor(tc.cursor)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != "cursor" {
			t.Errorf("%s: %v, want a ValidationError on cursor", tc.name, err)
		}
	}
}

func TestCheckSeatPosition(t *testing.T) {
	at := time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		pos  SeatPosition
		ok   bool
	}{
		{"zero", SeatPosition{}, true},
		{"a seat's", SeatPosition{ReservedAt: at, ID: "s-1"}, true},
		{"an ID without a time", SeatPosition{ID: "s-1"}, false},
		{"a time without an ID", SeatPosition{ReservedAt: at}, false},
		{"a bad ID", SeatPosition{ReservedAt: at, ID: "s\x00"}, false},
		{"year 10000", SeatPosition{ReservedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), ID: "s-1"}, false},
		{"the last microsecond of 9999", SeatPosition{ReservedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC), ID: "s-1"}, true},
	}
	for _, tc := range tests {
		err := CheckSeatPosition(tc.pos)
		var ve *ValidationError
		if tc.ok != (err == nil) || (err != nil && !errors.As(err, &ve)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// FuzzSeatCursor: any string decodes to a valid position or is a
// ValidationError, never a panic; a decoded cursor encodes back to itself
// (one position, one cursor).
func FuzzSeatCursor(f *testing.F) {
	f.Add("")
	f.Add(encodeSeatCursor(SeatPosition{ReservedAt: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), ID: "s-1"}))
	f.Add("AQAAAAAAAAAAcw")
	f.Fuzz(func(t *testing.T, c string) {
		p, err := decodeSeatCursor(c)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("%q: %v is not a ValidationError", c, err)
			}
			return
		}
		if err := CheckSeatPosition(p); err != nil {
			t.Fatalf("%q decoded to an invalid position %+v: %v", c, p, err)
		}
		if c != "" && encodeSeatCursor(p) != c {
			t.Fatalf("%q decoded to %+v, which encodes as %q", c, p, encodeSeatCursor(p))
		}
	})
}
