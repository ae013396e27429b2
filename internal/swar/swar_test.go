package swar

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestAgainstBytes checks every function against a byte-by-byte reading on
// words built to hit each byte value at each position.
func TestAgainstBytes(t *testing.T) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 1))
	for n := range 200000 {
		var w [8]byte
		for i := range w {
			w[i] = byte(rng.Uint32())
		}
		w[n%8] = byte(n / 8) // every value at every position
		x := binary.LittleEndian.Uint64(w[:])
		if got := Load8(string(w[:]) + "tail"); got != x {
			t.Fatalf("seed %d: Load8(% x) = %#x", seed, w, got)
		}
		c := uint64(1 + rng.IntN(0x80))
		zero, less := false, false
		for _, b := range w {
			zero = zero || b == 0
			less = less || uint64(b) < c
		}
		if got := HasZero(x)&Msb != 0; got != zero {
			t.Fatalf("seed %d: HasZero(% x) = %v", seed, w, got)
		}
		if got := HasLess(x, c)&Msb != 0; got != less {
			t.Fatalf("seed %d: HasLess(% x, %#x) = %v", seed, w, c, got)
		}
	}
	for n := range 8 {
		s := "abcdefg"[:n]
		var want [8]byte
		for i := range want {
			want[i] = '.'
		}
		copy(want[:], s)
		if got := Short(s, '.'); got != binary.LittleEndian.Uint64(want[:]) {
			t.Fatalf("Short(%q) = %#x", s, got)
		}
	}
}

// TestShortRandom checks Short against a padded copy on random bytes of
// every length it takes.
func TestShortRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(rand.Uint64(), 2))
	for range 100000 {
		n := rng.IntN(8)
		var b [7]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		pad := byte(rng.Uint32())
		want := [8]byte{pad, pad, pad, pad, pad, pad, pad, pad}
		copy(want[:], b[:n])
		if got := Short(string(b[:n]), pad); got != binary.LittleEndian.Uint64(want[:]) {
			t.Fatalf("Short(% x, %#x) = %#x", b[:n], pad, got)
		}
	}
}
