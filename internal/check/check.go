// Package check holds the input checks that several packages of the SDK
// share, so that an ID means the same everywhere.
package check

import (
	"fmt"

	"github.com/socialcommerce/sdk/internal/jsonw"
	"github.com/socialcommerce/sdk/internal/swar"
	"github.com/socialcommerce/sdk/storage"
)

// MaxIDLength is the longest ID any package accepts.
const MaxIDLength = 128

// ID requires a non-empty ID of at most MaxIDLength bytes with no spaces or
// control characters.
func ID(field, id string) error {
	if id == "" {
		return &storage.ValidationError{Field: field, Reason: "must not be empty"}
	}
	if len(id) > MaxIDLength {
		return &storage.ValidationError{Field: field, Reason: fmt.Sprintf("longer than %d bytes", MaxIDLength)}
	}
	if !printable(id) {
		return &storage.ValidationError{Field: field, Reason: "must not contain spaces or control characters"}
	}
	return nil
}

// IDPlain is ID that also reports whether id is jsonw.Plain, so that a
// command encoding the IDs it checked into JSON need not scan them again:
// one pass over the words of id serves both tests.
func IDPlain(field, id string) (plain bool, err error) {
	n := len(id)
	if n == 0 || n > MaxIDLength {
		return false, ID(field, id)
	}
	// The pass tests for a byte that is either unprintable or not Plain,
	// one mask for both: IDs almost always have neither, and the rare one
	// that does is told apart by the exact tests below.
	var odd uint64
	if n < 8 {
		odd = oddMask(swar.Short(id, 'a'))
	} else {
		for i := 0; i+8 <= n; i += 8 {
			odd |= oddMask(swar.Load8(id[i : i+8]))
		}
		odd |= oddMask(swar.Load8(id[n-8:]))
	}
	if odd == 0 {
		return true, nil
	}
	if !printable(id) {
		return false, ID(field, id)
	}
	return jsonw.Plain(id), nil
}

// oddMask is nonzero exactly when a byte of x is unprintable (see
// unprintableMask) or not jsonw.Plain (see jsonw.Specials): the union of
// both tests, in which "below 0x21" covers Specials' "below 0x20".
func oddMask(x uint64) uint64 {
	return (x | swar.HasLess(x, 0x21) | swar.HasZero(x^(swar.Lsb*0x7f)) |
		swar.HasZero((x|swar.Lsb*0x04)^(swar.Lsb*'&')) | swar.HasZero((x|swar.Lsb*0x02)^(swar.Lsb*'>')) |
		swar.HasZero(x^(swar.Lsb*'\\'))) & swar.Msb
}

// printable reports whether s has no byte below 0x21 (space and the C0
// controls) and no DEL (0x7f). Every command checks several IDs, so it tests
// 8 bytes per step: the words of s, then its last 8 bytes (overlapping the
// words before when len(s) is not a multiple of 8).
func printable(s string) bool {
	n := len(s)
	if n < 8 {
		return !unprintable(swar.Short(s, 'a'))
	}
	for i := 0; i+8 <= n; i += 8 {
		if unprintable(swar.Load8(s[i : i+8])) {
			return false
		}
	}
	return !unprintable(swar.Load8(s[n-8:]))
}

// unprintable reports whether a byte of x is below 0x21 or is 0x7f, exactly
// (the hasless and haszero tricks of "Bit Twiddling Hacks"; a byte at or
// above 0x80, part of a UTF-8 sequence, never borrows and is never flagged).
func unprintable(x uint64) bool { return unprintableMask(x) != 0 }

// unprintableMask is unprintable as a mask: nonzero exactly when it holds.
func unprintableMask(x uint64) uint64 {
	return (swar.HasLess(x, 0x21) | swar.HasZero(x^(swar.Lsb*0x7f))) & swar.Msb
}
