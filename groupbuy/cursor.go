package groupbuy

import (
	"errors"
	"time"

	"github.com/socialcommerce/sdk/internal/check"
	"github.com/socialcommerce/sdk/internal/keyset"
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

// A seat cursor (internal/keyset) is of kind 1, with the position's
// ReservedAt in Unix microseconds and its seat ID. It is a position in a
// user's list, not a credential: whoever holds one learns only a seat ID
// and an instant, and a cursor of another user's list positions this
// user's list.
const seatCursorVersion = 1

// encodeSeatCursor returns p's cursor.
func encodeSeatCursor(p SeatPosition) string {
	return keyset.Encode(seatCursorVersion, p.ReservedAt.UnixMicro(), p.ID)
}

// decodeSeatCursor parses a cursor of encodeSeatCursor; "" is the zero
// position. Anything else is a *ValidationError on field "cursor".
func decodeSeatCursor(c string) (SeatPosition, error) {
	if c == "" {
		return SeatPosition{}, nil
	}
	micros, id, err := keyset.Decode(c, seatCursorVersion, MaxIDLength)
	if errors.Is(err, keyset.ErrTooLong) {
		return SeatPosition{}, invalid("cursor", "too long")
	}
	p := SeatPosition{ReservedAt: time.UnixMicro(micros).UTC(), ID: id}
	if err != nil || CheckSeatPosition(p) != nil {
		return SeatPosition{}, invalid("cursor", "not a cursor of UserSeats")
	}
	return p, nil
}
