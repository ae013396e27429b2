// Package keyset holds what the SDK's keyset-paged lists share
// (groupbuy.Service.UserSeats, referral.Service.UserCodes and
// BindingHistory): the opaque cursor of a position and the cut of a page
// read one item long.
//
// A cursor is the unpadded URL-safe base64 of a kind byte, a number (8
// bytes, big-endian: an instant in Unix microseconds, or a version) and a
// tail (an ID, or nothing). It is a position in a list, not a credential.
package keyset

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
)

// Errors of Decode; each package turns them into its *ValidationError.
var (
	// ErrTooLong: the cursor is longer than any of its kind.
	ErrTooLong = errors.New("too long")
	// ErrMalformed: not base64, not of the kind asked for, or too short.
	ErrMalformed = errors.New("malformed")
)

var encoding = base64.RawURLEncoding.Strict()

// Encode returns the cursor of kind for the number n and the tail.
func Encode(kind byte, n int64, tail string) string {
	b := make([]byte, 9, 9+len(tail))
	b[0] = kind
	binary.BigEndian.PutUint64(b[1:], uint64(n))
	return encoding.EncodeToString(append(b, tail...))
}

// Decode parses a cursor of kind whose tail is at most maxTail bytes long
// (ErrTooLong otherwise). Anything that Encode did not make is
// ErrMalformed; "" too, which the lists take as their start before asking.
// The caller checks the number and the tail as positions of its list.
func Decode(c string, kind byte, maxTail int) (n int64, tail string, err error) {
	if len(c) > encoding.EncodedLen(9+maxTail) {
		return 0, "", ErrTooLong
	}
	// The decoder skips line breaks; a cursor has none, so that one
	// position has one cursor.
	b, err := encoding.DecodeString(c)
	if err != nil || strings.ContainsAny(c, "\r\n") || len(b) < 9 || b[0] != kind {
		return 0, "", ErrMalformed
	}
	return int64(binary.BigEndian.Uint64(b[1:9])), string(b[9:]), nil
}

// Cut cuts a list read with a limit of min(limit+1, max) to a page of at
// most limit (1..max) items, and returns the page's last item when a next
// page may follow (nil on the last page): when the list held the item
// after the page, or was cut at max, where the item after it went unread.
func Cut[T any](list []T, limit, max int) ([]T, *T) {
	if len(list) > limit || len(list) == max {
		list = list[:limit]
		return list, &list[limit-1]
	}
	return list, nil
}
