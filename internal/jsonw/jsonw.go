// Package jsonw appends JSON values to byte slices for the few hot event
// payloads where encoding/json's reflection dominates a command's cost. Its
// output is what encoding/json produces for the same values.
package jsonw

import (
	"unicode/utf8"

	"github.com/socialcommerce/sdk/internal/fastcopy"
	"github.com/socialcommerce/sdk/internal/swar"
)

const hex = "0123456789abcdef"

// String appends s as a JSON string, escaped as encoding/json does: control
// characters, quote, backslash, <, >, &, U+2028 and U+2029 escaped; invalid
// UTF-8 replaced by U+FFFD.
func String(b []byte, s string) []byte {
	if Plain(s) {
		// IDs, amounts and currency codes: one copy, no per-byte work.
		return Quoted(b, s)
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

// Plain reports whether every byte of s is ASCII that JSON copies as is
// (0x20..0x7f except quote, backslash, <, > and &), so that a JSON string
// of s is s between quotes. IDs and amounts are; Plain checks them 8 bytes
// per step.
func Plain(s string) bool {
	n := len(s)
	if n < 8 {
		return !special(swar.Short(s, 'a'))
	}
	// Whole words, then the last 8 bytes (overlapping the words before when
	// n is not a multiple of 8), so that no byte is checked one at a time.
	for i := 0; i+8 <= n; i += 8 {
		if special(swar.Load8(s[i : i+8])) {
			return false
		}
	}
	return !special(swar.Load8(s[n-8:]))
}

// special reports whether a byte of x is one that JSON escapes or that
// needs UTF-8 checking: below 0x20, at or above 0x80, or one of " & < > \.
// Each test is exact (the bit tricks of "Bit Twiddling Hacks": haszero and
// hasless); '"' (0x22) and '&' (0x26) differ in bit 2 alone, and so do
// '<' (0x3c) and '>' (0x3e) in bit 1, so setting that bit tests both at
// once.
func special(x uint64) bool { return Specials(x) != 0 }

// Specials is special as a mask, for callers that scan the words of a
// string for their own test too (check.IDPlain): nonzero exactly when a byte
// of x is not Plain.
func Specials(x uint64) uint64 {
	return (x | swar.HasLess(x, 0x20) | swar.HasZero((x|swar.Lsb*0x04)^(swar.Lsb*'&')) |
		swar.HasZero((x|swar.Lsb*0x02)^(swar.Lsb*'>')) | swar.HasZero(x^(swar.Lsb*'\\'))) & swar.Msb
}

// Quoted appends s between quotes, which is String for an s known to be
// Plain.
func Quoted(b []byte, s string) []byte {
	b = append(b, '"')
	b = fastcopy.Append(b, s) // IDs without a memmove call
	return append(b, '"')
}

// Field appends `,"name":` (without the comma when first is true).
func Field(b []byte, name string, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, name...)
	return append(b, '"', ':')
}
