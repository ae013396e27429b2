// Package check holds the input checks that several packages of the SDK
// share, so that an ID means the same everywhere.
package check

import (
	"fmt"
	"unicode/utf8"

	"github.com/socialcommerce/sdk/internal/ids"
	"github.com/socialcommerce/sdk/internal/jsonw"
	"github.com/socialcommerce/sdk/internal/swar"
	"github.com/socialcommerce/sdk/storage"
)

// MaxIDLength is the longest ID any package accepts.
const MaxIDLength = 128

// ID requires a non-empty ID of at most MaxIDLength bytes of valid UTF-8
// with no spaces or control characters (Problem).
func ID(field, id string) error {
	if p := Problem(id, MaxIDLength); p != "" {
		return &storage.ValidationError{Field: field, Reason: p}
	}
	return nil
}

// Text is ID for a value of at most max bytes, such as a payment
// reference.
func Text(field, s string, max int) error {
	if p := Problem(s, max); p != "" {
		return &storage.ValidationError{Field: field, Reason: p}
	}
	return nil
}

// Problem says why s is not an acceptable ID or reference of at most max
// bytes, or returns "". Such values hold no spaces, so that every store
// compares them exactly: MySQL's PAD SPACE collations take "a" and "a " for
// one key, which would make two payments one. They are valid UTF-8 with no
// ASCII control characters: PostgreSQL refuses to store invalid UTF-8 and
// NUL, MySQL invalid UTF-8.
func Problem(s string, max int) string {
	if len(s) == ids.Len && max >= ids.Len && oddUUID(s) == 0 {
		return "" // the common case, the SDK's own UUIDs: printable ASCII
	}
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > max:
		return fmt.Sprintf("longer than %d bytes", max)
	}
	printable, ascii := scan(s)
	switch {
	case !printable:
		return "must not contain spaces or control characters"
	case !ascii && !utf8.ValidString(s):
		return "must be valid UTF-8"
	}
	return ""
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
	} else if n == ids.Len {
		odd = oddUUID(id)
	} else {
		odd = oddWords(id)
	}
	if odd == 0 {
		return true, nil
	}
	if p, ascii := scan(id); !p || !ascii && !utf8.ValidString(id) {
		return false, ID(field, id)
	}
	return jsonw.Plain(id), nil
}

// oddWords is oddMask over the words of s, len(s) ≥ 8: the words' high bits
// and fineMasks are gathered, and combined once at the end. It is a
// function of its own so that IDPlain's arguments, kept for its slow path,
// take no registers in the loop: there the constants of fineMask stay in
// registers, loaded once from fine, a variable; as constants the compiler
// would materialize each again for every word.
func oddWords(s string) uint64 {
	c5f, c7f, c04, c26, c62, c7e := fine.c5f, fine.c7f, fine.c04, fine.c26, fine.c62, fine.c7e
	x := swar.Load8(s[len(s)-8:]) // overlaps the last word when 8 ∤ len(s)
	hi, ok := x, fineMaskOf(x, c5f, c7f, c04, c26, c62, c7e)
	for ; len(s) > 8; s = s[8:] {
		x := swar.Load8(s)
		hi, ok = hi|x, ok&fineMaskOf(x, c5f, c7f, c04, c26, c62, c7e)
	}
	return (hi | ^ok) & swar.Msb
}

// oddUUID is oddWords for len(s) == ids.Len (a canonical UUID, the IDs
// the SDK generates and so the most common ones), unrolled: without a loop
// counter, a register is left to hold 0x01 bytes, and the tests for below
// 0x21 and for 0x7f become one: x+0x5f reaches 0x80 for x ≥ 0x21, x+0x01
// for x ≥ 0x7f, so that their XOR has the high bit set exactly for 0x21 ≤
// x < 0x7f.
func oddUUID(s string) uint64 {
	c01, c5f, c7f, c04, c26, c62, c7e := fine.c01, fine.c5f, fine.c7f, fine.c04, fine.c26, fine.c62, fine.c7e
	s = s[:ids.Len]
	m := func(x uint64) uint64 {
		return ((x + c5f) ^ (x + c01)) & ((x | c04) ^ c26 + c7f) & ((x | c62) ^ c7e + c7f)
	}
	x0, x1, x2, x3, x4 := swar.Load8(s[0:]), swar.Load8(s[8:]), swar.Load8(s[16:]), swar.Load8(s[24:]), swar.Load8(s[28:])
	ok := m(x0) & m(x1) & m(x2) & m(x3) & m(x4)
	return (x0 | x1 | x2 | x3 | x4 | ^ok) & swar.Msb
}

// oddMask is nonzero when a byte of x is unprintable (see unprintableMask)
// or not jsonw.Plain (see jsonw.Specials): the union of both tests, in
// which "below 0x21" covers Specials' "below 0x20". It may also be nonzero
// for a few rare plain bytes (see fineMask), which send IDPlain down its
// exact path: never wrong, only slower.
func oddMask(x uint64) uint64 { return (x | ^fineMask(x)) & swar.Msb }

// fineMask has the high bit of a byte of x set when, x having no byte at or
// above 0x80, that byte is none of the odd ASCII bytes: below 0x21, 0x7f,
// '"', '&', '<', '>' and '\\', nor one of '^', '|' and '~', which the
// test for '<', '>' and '\\' catches too and which are rare in IDs. A
// byte at or above 0x80 is odd by its own high bit, which oddMask tests;
// then fineMask may be anything, so x needs no masking to seven bits. On
// seven-bit bytes y, y+c for c ≤ 0x7f never carries into the next byte, so
// each test is exact per byte, and they combine with ANDs: y+0x5f reaches
// 0x80 exactly when y ≥ 0x21, and (y^c)+0x7f exactly when y ≠ c. '"'
// (0x22) and '&' (0x26) differ in bit 2 alone, so setting that bit tests
// both at once; setting bits 1, 5 and 6 maps '<' (0x3c), '>' (0x3e) and
// '\\' (0x5c), with '^', '|' and '~', to 0x7e. It costs fewer operations
// than the borrow tests of jsonw.Specials.
func fineMask(x uint64) uint64 {
	return fineMaskOf(x, fine.c5f, fine.c7f, fine.c04, fine.c26, fine.c62, fine.c7e)
}

// fineConsts are the constants of fineMask and oddUUID, each byte of them
// the value its name gives.
type fineConsts struct{ c01, c5f, c7f, c04, c26, c62, c7e uint64 }

// fine holds fineConsts in a variable, never written, rather than as
// constants: the loops over words load them into registers once (see
// oddWords).
var fine = fineConsts{swar.Lsb, swar.Lsb * 0x5f, swar.Lsb * 0x7f, swar.Lsb * 0x04, swar.Lsb * '&', swar.Lsb * 0x62, swar.Lsb * 0x7e}

// fineMaskOf is fineMask with its constants passed in (the fields of fine
// of the same names).
func fineMaskOf(x, c5f, c7f, c04, c26, c62, c7e uint64) uint64 {
	return (x + c5f) & ((x ^ c7f) + c7f) & ((x | c04) ^ c26 + c7f) & ((x | c62) ^ c7e + c7f)
}

// scan reports whether s is printable (no byte below 0x21, which are space
// and the C0 controls, and no DEL, 0x7f) and whether it is ASCII, in one
// pass: only a string with a byte at or above 0x80 needs the slower UTF-8
// check. Every command checks several IDs, so it tests 8 bytes per step:
// the words of s, then its last 8 bytes (overlapping the words before when
// len(s) is not a multiple of 8).
func scan(s string) (printable, ascii bool) {
	n := len(s)
	if n < 8 {
		x := swar.Short(s, 'a')
		return !unprintable(x), x&swar.Msb == 0
	}
	var bad, hi uint64
	for i := 0; i+8 <= n; i += 8 {
		x := swar.Load8(s[i : i+8])
		bad, hi = bad|unprintableMask(x), hi|x
	}
	x := swar.Load8(s[n-8:])
	bad, hi = bad|unprintableMask(x), hi|x
	return bad == 0, hi&swar.Msb == 0
}

// unprintable reports whether a byte of x is below 0x21 or is 0x7f, exactly
// (the hasless and haszero tricks of "Bit Twiddling Hacks"; a byte at or
// above 0x80, part of a UTF-8 sequence, never borrows and is never flagged).
func unprintable(x uint64) bool { return unprintableMask(x) != 0 }

// unprintableMask is unprintable as a mask: nonzero exactly when it holds.
func unprintableMask(x uint64) uint64 {
	return (swar.HasLess(x, 0x21) | swar.HasZero(x^(swar.Lsb*0x7f))) & swar.Msb
}
