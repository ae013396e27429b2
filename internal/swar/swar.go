// Package swar holds the word-at-a-time byte tests ("SIMD within a
// register", after "Bit Twiddling Hacks") that internal/check and
// internal/jsonw run over IDs and amounts, eight bytes per step.
package swar

import "encoding/binary"

// Lsb and Msb have the lowest and the highest bit of every byte set.
const (
	Lsb = 0x0101010101010101
	Msb = 0x8080808080808080
)

// Load8 returns the first 8 bytes of s as a little-endian word; the
// compiler turns it into one load.
func Load8(s string) uint64 {
	_ = s[7] // one bounds check for the eight reads below
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// Short returns s, shorter than 8 bytes, as a little-endian word padded with
// pad, a byte that the caller's test passes.
func Short(s string, pad byte) uint64 {
	w := [8]byte{pad, pad, pad, pad, pad, pad, pad, pad}
	copy(w[:], s)
	return binary.LittleEndian.Uint64(w[:])
}

// HasZero sets the high bit of some byte when a byte of v is zero, and only
// then.
func HasZero(v uint64) uint64 { return (v - Lsb) &^ v }

// HasLess sets the high bit of some byte when a byte of v is below c
// (c ≤ 0x80), and only then; bytes of v at or above 0x80 are never flagged.
func HasLess(v, c uint64) uint64 { return (v - Lsb*c) &^ v }
