// Package jsonw appends JSON values to byte slices for the few hot event
// payloads where encoding/json's reflection dominates a command's cost. Its
// output is what encoding/json produces for the same values.
package jsonw

import (
	"encoding/binary"
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// String appends s as a JSON string, escaped as encoding/json does: control
// characters, quote, backslash, <, >, &, U+2028 and U+2029 escaped; invalid
// UTF-8 replaced by U+FFFD.
func String(b []byte, s string) []byte {
	if Plain(s) {
		// IDs, amounts and currency codes: one copy, no per-byte work.
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	return escape(b, s)
}

// escape is String for a string with at least one byte that is not Plain.
func escape(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// Plain reports whether every byte of s is ASCII that JSON copies as is
// (0x20..0x7f except quote, backslash, <, > and &), so that a JSON string
// of s is s between quotes. IDs and amounts are; Plain checks them 8 bytes
// per step.
func Plain(s string) bool {
	n := len(s)
	if n < 8 {
		// Pad with a plain byte to one word.
		w := [8]byte{'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}
		copy(w[:], s)
		return !special(binary.LittleEndian.Uint64(w[:]))
	}
	// Whole words, then the last 8 bytes (overlapping the words before when
	// n is not a multiple of 8), so that no byte is checked one at a time.
	for i := 0; i+8 <= n; i += 8 {
		if special(load8(s[i : i+8])) {
			return false
		}
	}
	return !special(load8(s[n-8:]))
}

// load8 reads the first 8 bytes of w little-endian; the compiler turns it
// into one load.
func load8(w string) uint64 {
	_ = w[7] // one bounds check for the eight reads below
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// special reports whether a byte of x is one that JSON escapes or that
// needs UTF-8 checking: below 0x20, at or above 0x80, or one of " & < > \.
// Each test is exact (the bit tricks of "Bit Twiddling Hacks": haszero and
// hasless); '"' (0x22) and '&' (0x26) differ in bit 2 alone, and so do
// '<' (0x3c) and '>' (0x3e) in bit 1, so setting that bit tests both at
// once.
func special(x uint64) bool {
	return (x|hasLess20(x)|hasZero((x|lsb*0x04)^(lsb*'&'))|
		hasZero((x|lsb*0x02)^(lsb*'>'))|hasZero(x^(lsb*'\\')))&msb != 0
}

// hasZero sets the high bit of some byte when a byte of v is zero (and only
// then).
func hasZero(v uint64) uint64 { return (v - lsb) &^ v }

// hasLess20 sets the high bit of some byte when a byte of v is below 0x20
// (and only then); v's own high bits are tested separately.
func hasLess20(v uint64) uint64 { return (v - lsb*0x20) &^ v }

// Field appends `,"name":` (without the comma when first is true).
func Field(b []byte, name string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}
