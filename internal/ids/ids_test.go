package ids

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestNewIDIsUUIDv7(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	g := New(func() time.Time { return at })
	seen := map[string]bool{}
	for range 10000 {
		id := g.NewID()
		u, err := uuid.Parse(id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("%s: version %d variant %v", id, u.Version(), u.Variant())
		}
		sec, nsec := u.Time().UnixTime()
		if got := time.Unix(sec, nsec).UTC(); !got.Equal(at) {
			t.Fatalf("%s: time %v, want %v", id, got, at)
		}
		if seen[id] {
			t.Fatalf("duplicate %s", id)
		}
		seen[id] = true
	}
}

func BenchmarkNewID(b *testing.B) {
	g := New(nil)
	b.ReportAllocs()
	for b.Loop() {
		_ = g.NewID()
	}
}

func TestHexMatchesFmt(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 100000 {
		v := r.Uint32()
		if i < 16 {
			v = uint32(i) * 0x11111111
		}
		var got [8]byte
		binary.LittleEndian.PutUint64(got[:], hex8(v))
		if want := fmt.Sprintf("%08x", v); string(got[:]) != want {
			t.Fatalf("hex8(%#x) = %q, want %q", v, got, want)
		}
	}
}

// TestAppendIDLayout checks every field of the UUID against the random
// words drawn, with a generator whose stream is replayed.
func TestAppendIDLayout(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC)
	g := New(nil)
	var seed [32]byte
	seed[0] = 7
	g.rng = rand.NewChaCha8(seed)
	ref := rand.NewChaCha8(seed)
	for range 1000 {
		a, r := ref.Uint64(), ref.Uint64()
		got := string(g.AppendID([]byte("x"), at))
		u := uuid.MustParse(got[1:])
		if got[0] != 'x' || len(got) != 1+Len {
			t.Fatalf("AppendID appended %q", got)
		}
		var want [16]byte
		binary.BigEndian.PutUint64(want[:], uint64(at.UnixMilli())<<16|0x7000|a>>52)
		binary.BigEndian.PutUint64(want[8:], 0x8000000000000000|r>>2)
		if u != uuid.UUID(want) {
			t.Fatalf("AppendID = %s, want %s", u, uuid.UUID(want))
		}
	}
}

// TestPairIsTwoAppendIDs checks that Pair draws the same IDs as two calls of
// AppendID on the same stream.
func TestPairIsTwoAppendIDs(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC)
	var seed [32]byte
	seed[0] = 9
	g, ref := New(nil), New(nil)
	g.rng, ref.rng = rand.NewChaCha8(seed), rand.NewChaCha8(seed)
	for range 100 {
		var a, b [Len]byte
		g.Pair(at, &a, &b)
		want1 := string(ref.AppendID(nil, at))
		want2 := string(ref.AppendID(nil, at))
		if string(a[:]) != want1 || string(b[:]) != want2 {
			t.Fatalf("Pair = %s, %s; want %s, %s", a[:], b[:], want1, want2)
		}
	}
}

func BenchmarkAppendID(b *testing.B) {
	g := New(nil)
	at := time.Now()
	buf := make([]byte, 0, Len)
	b.ReportAllocs()
	for b.Loop() {
		buf = g.AppendID(buf[:0], at)
	}
}
