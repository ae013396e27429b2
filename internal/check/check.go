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
		// The words' high bits and fineMasks are gathered, and combined
		// once at the end.
		hi, fine := uint64(0), ^uint64(0)
		for i := 0; i+8 <= n; i += 8 {
			x := swar.Load8(id[i : i+8])
			hi, fine = hi|x, fine&fineMask(x)
		}
		x := swar.Load8(id[n-8:])
		odd = (hi | x | ^(fine & fineMask(x))) & swar.Msb
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
func oddMask(x uint64) uint64 { return (x | ^fineMask(x)) & swar.Msb }

// fineMask has the high bit of a byte of x set when its low seven bits are
// none of the odd ASCII bytes: below 0x21, 0x7f, '"', '&', '<', '>' and
// '\\' (a byte at or above 0x80 is odd by its own high bit, which oddMask
// tests). On seven-bit bytes y, y+c for c ≤ 0x7f never carries into the
// next byte, so each test is exact per byte, and they combine with ANDs:
// y+0x5f reaches 0x80 exactly when y ≥ 0x21, and (y^c)+0x7f exactly when
// y ≠ c. '"' (0x22) and '&' (0x26) differ in bit 2 alone, and so do '<'
// (0x3c) and '>' (0x3e) in bit 1, so setting that bit tests both at once.
// It costs fewer operations than the borrow tests of jsonw.Specials.
func fineMask(x uint64) uint64 {
	const l7 = swar.Lsb * 0x7f
	y := x & l7
	return (y + swar.Lsb*0x5f) & ((y ^ l7) + l7) & ((y | swar.Lsb*0x04) ^ (swar.Lsb * '&') + l7) &
		((y | swar.Lsb*0x02) ^ (swar.Lsb * '>') + l7) & ((y ^ swar.Lsb*'\\') + l7)
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
