// Package jsonw appends JSON values to byte slices for the few hot event
// payloads where encoding/json's reflection dominates a command's cost. Its
// output is what encoding/json produces for the same values.
package jsonw

import (
	"unicode/utf8"
)

const hex = "0123456789abcdef"

// String appends s as a JSON string, escaped as encoding/json does: control
// characters, quote, backslash, <, >, &, U+2028 and U+2029 escaped; invalid
// UTF-8 replaced by U+FFFD.
func String(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		for i+8 <= len(s) && plain8(s[i:i+8]) {
			i += 8
		}
		if i == len(s) {
			break
		}
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

// zeroByte has the high bit set in the bytes of v that are zero (and
// possibly in some above them: a false alarm only sends String to its
// byte-wise path).
func zeroByte(v uint64) uint64 { return (v - lsb) & ^v & msb }

// plain8 reports whether the 8 bytes of w are ASCII that JSON never
// escapes; IDs and amounts are, and skip 8 bytes per step.
func plain8(w string) bool {
	x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
	special := x&msb | (x-lsb*0x20)&^x&msb |
		zeroByte(x^(lsb*'"')) | zeroByte(x^(lsb*'\\')) |
		zeroByte(x^(lsb*'<')) | zeroByte(x^(lsb*'>')) | zeroByte(x^(lsb*'&'))
	return special == 0
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
