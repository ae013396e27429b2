// Package ids generates UUIDv7 identifiers without a global state: each
// Generator owns a ChaCha8 stream seeded from crypto/rand, so IDs are time
// ordered and unguessable, and generating one costs a single allocation
// (none with AppendID).
package ids

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Len is the length of an ID: the canonical UUID form.
const Len = 36

// Generator produces UUIDv7 strings. It is safe for concurrent use.
type Generator struct {
	mu  sync.Mutex
	rng *rand.ChaCha8
	now func() time.Time
}

// New returns a Generator reading wall-clock time from now (time.Now when
// nil).
func New(now func() time.Time) *Generator {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails on supported platforms
	if now == nil {
		now = time.Now
	}
	return &Generator{rng: rand.NewChaCha8(seed), now: now}
}

// NewID returns a new UUIDv7 (RFC 9562) in its canonical 36-character form,
// stamped with the Generator's clock.
func (g *Generator) NewID() string {
	var buf [Len]byte
	return string(g.AppendID(buf[:0], g.now()))
}

// AppendID appends a new UUIDv7 stamped with t to b. A caller that already
// read the clock for the command the ID belongs to passes that time, and one
// that stores the ID with other strings builds them in one buffer.
func (g *Generator) AppendID(b []byte, t time.Time) []byte {
	ms := uint64(t.UnixMilli())
	g.mu.Lock()
	a, r := g.rng.Uint64(), g.rng.Uint64()
	g.mu.Unlock()
	n := len(b)
	if cap(b)-n < Len {
		b = slices.Grow(b, Len)
	}
	// Written in place: formatting into a local array and copying that
	// in costs as much again as the formatting's stores.
	b = b[:n+Len]
	format((*[Len]byte)(b[n:]), hex8(uint32(ms>>16)), ms, a, r)
	return b
}

// Pair writes two new UUIDv7s stamped with t to first and second, the ones
// AppendID would have made in that order: one lock for both, for a command
// that needs two IDs (a seat and its event), and their first 8 digits,
// which only t sets, formatted once.
func (g *Generator) Pair(t time.Time, first, second *[Len]byte) {
	ms := uint64(t.UnixMilli())
	g.mu.Lock()
	a, r := g.rng.Uint64(), g.rng.Uint64()
	a2, r2 := g.rng.Uint64(), g.rng.Uint64()
	g.mu.Unlock()
	h0 := hex8(uint32(ms >> 16))
	format(first, h0, ms, a, r)
	format(second, h0, ms, a2, r2)
}

// format writes to out the UUIDv7 of milliseconds ms and random words a and
// r in its canonical form; h0 is hex8(uint32(ms>>16)), its first 8 digits.
func format(out *[Len]byte, h0, ms, a, r uint64) {
	// 48 bits of milliseconds, version 7, 12 random bits; variant 10 and 62
	// random bits.
	hi := ms<<16 | 0x7000 | a>>52
	lo := 0x8000000000000000 | r>>2
	// Four 8-digit conversions, whose digits are then laid out around the
	// dashes: converting the 4-digit groups on their own would spread half
	// empty words. The first, of hi>>32, is h0.
	h1 := hex8(uint32(hi))
	l0, l1 := hex8(uint32(lo>>32)), hex8(uint32(lo))
	binary.LittleEndian.PutUint64(out[0:], h0)
	out[8] = '-'
	binary.LittleEndian.PutUint32(out[9:], uint32(h1))
	out[13] = '-'
	binary.LittleEndian.PutUint32(out[14:], uint32(h1>>32))
	out[18] = '-'
	binary.LittleEndian.PutUint32(out[19:], uint32(l0))
	out[23] = '-'
	binary.LittleEndian.PutUint32(out[24:], uint32(l0>>32))
	binary.LittleEndian.PutUint64(out[28:], l1)
}

// hex8 returns the 8 lower-case hex digits of v, most significant first,
// as the bytes of a little-endian word: the nibbles are spread one per byte
// and turned into digits all at once.
func hex8(v uint32) uint64 {
	x := uint64(v)
	x = (x | x<<16) & 0x0000ffff0000ffff
	x = (x | x<<8) & 0x00ff00ff00ff00ff
	x = (x | x<<4) & 0x0f0f0f0f0f0f0f0f // nibble i in byte i
	x = bits.ReverseBytes64(x)          // most significant nibble first
	// Bytes holding 10..15 get 'a'-'0'-10 more than '0' + nibble.
	letters := ((x + 0x0606060606060606) >> 4) & 0x0101010101010101
	return x + 0x3030303030303030 + letters*('a'-'0'-10)
}
