// Package swar holds the word-at-a-time byte tests ("SIMD within a
// register", after "Bit Twiddling Hacks") that internal/check and
// internal/jsonw run over IDs and amounts, eight bytes per step.
package swar

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
	n := uint(len(s))
	var x uint64
	// Loads that overlap rather than a copy into a padded array, which
	// costs a call to memmove: the first and last 4 bytes of 4..7, or the
	// first, middle and last byte of 1..3, cover every byte of s, and an
	// overlapped byte is ORed with itself.
	switch {
	case n >= 4:
		x = uint64(load4(s)) | uint64(load4(s[n-4:]))<<(8*(n-4))
	case n > 0:
		x = uint64(s[0]) | uint64(s[n/2])<<(8*(n/2)) | uint64(s[n-1])<<(8*(n-1))
	}
	keep := uint64(1)<<(8*n) - 1 // n < 8
	return x&keep | Lsb*uint64(pad)&^keep
}

// load4 returns the first 4 bytes of s as a little-endian word.
func load4(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// HasZero sets the high bit of some byte when a byte of v is zero, and only
// then.
func HasZero(v uint64) uint64 { return (v - Lsb) &^ v }

// HasLess sets the high bit of some byte when a byte of v is below c
// (c ≤ 0x80), and only then; bytes of v at or above 0x80 are never flagged.
func HasLess(v, c uint64) uint64 { return (v - Lsb*c) &^ v }
