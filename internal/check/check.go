// Package check holds the input checks that several packages of the SDK
// share, so that an ID means the same everywhere.
package check

import (
	"encoding/binary"
	"fmt"

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

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// printable reports whether s has no byte below 0x21 (space and the C0
// controls) and no DEL (0x7f). Every command checks several IDs, so it tests
// 8 bytes per step: the words of s, then its last 8 bytes (overlapping the
// words before when len(s) is not a multiple of 8).
func printable(s string) bool {
	n := len(s)
	if n < 8 {
		w := [8]byte{'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'} // padded with a valid byte
		copy(w[:], s)
		return !unprintable(binary.LittleEndian.Uint64(w[:]))
	}
	for i := 0; i+8 <= n; i += 8 {
		if unprintable(load8(s[i : i+8])) {
			return false
		}
	}
	return !unprintable(load8(s[n-8:]))
}

// load8 reads the first 8 bytes of w little-endian, as one load.
func load8(w string) uint64 {
	_ = w[7] // one bounds check for the eight reads below
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// unprintable reports whether a byte of x is below 0x21 or is 0x7f, exactly
// (the hasless and haszero tricks of "Bit Twiddling Hacks"; a byte at or
// above 0x80, part of a UTF-8 sequence, never borrows and is never flagged).
func unprintable(x uint64) bool {
	less21 := (x - lsb*0x21) &^ x
	y := x ^ (lsb * 0x7f)
	del := (y - lsb) &^ y
	return (less21|del)&msb != 0
}
