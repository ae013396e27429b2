// Package ids generates UUIDv7 identifiers without a global state: each
// Generator owns a ChaCha8 stream seeded from crypto/rand, so IDs are time
// ordered and unguessable, and generating one costs a single allocation.
package ids

import (
	crand "crypto/rand"
	"math/rand/v2"
	"sync"
	"time"
)

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

const hexDigits = "0123456789abcdef"

// NewID returns a new UUIDv7 (RFC 9562) in its canonical 36-character form.
func (g *Generator) NewID() string {
	var u [16]byte
	ms := uint64(g.now().UnixMilli())
	g.mu.Lock()
	a, b := g.rng.Uint64(), g.rng.Uint64()
	g.mu.Unlock()
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	for i := range 8 {
		u[8+i] = byte(b >> (56 - 8*i))
	}
	u[6] = 0x70 | byte(a>>60)&0x0f // version 7
	u[7] = byte(a >> 52)
	u[8] = 0x80 | u[8]&0x3f // variant 10
	var out [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hexDigits[c>>4], hexDigits[c&0x0f]
		j += 2
	}
	return string(out[:])
}
