package groupbuy

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
	"time"

	"github.com/socialcommerce/sdk/internal/check"
)

// SeatPosition is a seat's place in the order of Store.UserSeats: its
// ReservedAt, to the microsecond (the precision every store keeps), then its
// ID. The zero SeatPosition is the start of the list.
type SeatPosition struct {
	ReservedAt time.Time
	ID         string
}

// IsZero reports whether p is the start of the list.
func (p SeatPosition) IsZero() bool { return p.ID == "" && p.ReservedAt.IsZero() }

// PositionOf returns seat's position in the order of Store.UserSeats; a
// nil seat has none: the zero position, the start of the list.
func PositionOf(seat *Seat) SeatPosition {
	if seat == nil {
		return SeatPosition{}
	}
	return SeatPosition{ReservedAt: seat.ReservedAt.Truncate(time.Microsecond), ID: seat.ID}
}

// CheckSeatPosition checks a position given to Store.UserSeats: the zero
// position, or a seat ID (the ID rules) with a ReservedAt in the years 1 to
// 9999. A *ValidationError otherwise.
func CheckSeatPosition(p SeatPosition) error {
	if p.IsZero() {
		return nil
	}
	if err := validateID("after.ID", p.ID); err != nil {
		return err
	}
	if p.ReservedAt.IsZero() {
		return invalid("after.ReservedAt", "must be set with an ID")
	}
	if q := check.TimeProblem(p.ReservedAt); q != "" {
		return invalid("after.ReservedAt", q)
	}
	return nil
}

// A seat cursor is the unpadded URL-safe base64 of a version byte, the
// position's ReservedAt in Unix microseconds (8 bytes, big-endian) and its
// seat ID. It is a position in a user's list, not a credential: whoever
// holds one learns only a seat ID and an instant, and a cursor of another
// user's list positions this user's list.
const seatCursorVersion = 1

var seatCursorEncoding = base64.RawURLEncoding.Strict()

// encodeSeatCursor returns p's cursor.
func encodeSeatCursor(p SeatPosition) string {
	b := make([]byte, 9, 9+len(p.ID))
	b[0] = seatCursorVersion
	binary.BigEndian.PutUint64(b[1:], uint64(p.ReservedAt.UnixMicro()))
	return seatCursorEncoding.EncodeToString(append(b, p.ID...))
}

// decodeSeatCursor parses a cursor of encodeSeatCursor; "" is the zero
// position. Anything else is a *ValidationError on field "cursor".
func decodeSeatCursor(c string) (SeatPosition, error) {
	if c == "" {
		return SeatPosition{}, nil
	}
	if len(c) > seatCursorEncoding.EncodedLen(9+MaxIDLength) {
		return SeatPosition{}, invalid("cursor", "too long")
	}
	// The decoder skips line breaks; a cursor has none, so that one
	// position has one cursor.
	b, err := seatCursorEncoding.DecodeString(c)
	if err != nil || strings.ContainsAny(c, "\r\n") || len(b) < 10 || b[0] != seatCursorVersion {
		return SeatPosition{}, invalid("cursor", "not a cursor of UserSeats")
	}
	p := SeatPosition{
		ReservedAt: time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:9]))).UTC(),
		ID:         string(b[9:]),
	}
	if CheckSeatPosition(p) != nil {
		return SeatPosition{}, invalid("cursor", "not a cursor of UserSeats")
	}
	return p, nil
}
