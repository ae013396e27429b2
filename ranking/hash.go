package ranking

import (
	"math/bits"
	"math/rand/v2"
)

// golden is 2^64 divided by the golden ratio, the SplitMix64 increment.
const golden = 0x9e3779b97f4a7c15

// hashString is the 64-bit hash used for IDs, authors and the other axes:
// FNV-1a over the bytes followed by the SplitMix64 finaliser, so that the
// low bits are well mixed for open addressing. The empty string hashes to 0
// ("no value"); no other string does. It is not collision-resistant:
// anyone can find two IDs with the same hash (about 2^32 evaluations), so
// it only finds candidates; what a collision must not decide is checked
// otherwise (Batch.lookup compares the IDs, a cursor's served set keyed
// tags). It is part of the cursor format (the served set holds the low
// half of these hashes): changing it requires a new cursorFormat.
func hashString(s string) uint64 {
	if s == "" {
		return 0
	}
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h = mix64(h)
	if h == 0 {
		h = golden
	}
	return h
}

// mix64 is the SplitMix64 finaliser: a bijection on uint64 with full
// avalanche.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// IDSet is a set of IDs (items for Request.Seen, authors for
// Request.BlockedAuthors) in an open-addressing table of 64-bit hashes
// beside the IDs themselves, so that a membership test costs a few
// nanoseconds and no allocation. A hash match is confirmed by comparing
// the IDs: the hash is not keyed, so whoever names items or authors can
// make two IDs collide on purpose (about 2^32 hash evaluations), and a set
// that compared hashes alone would then hide the other ID too. For the
// same reason the slot of a hash is keyed by a random seed (see slotOf).
//
// The zero value and a nil *IDSet are empty sets (Add on a nil one
// returns an error, as there is no set to add to). An IDSet is not safe for
// concurrent writes; concurrent reads (Has, and use by Rank) are safe. Reset
// it and Add again to reuse its memory.
type IDSet struct {
	slots []uint64 // 0 marks a free slot; hashes are never 0
	// ids holds the ID in each used slot for a set built by Add; it is nil
	// in the package's own sets of bare hashes (addHash), which are keyed
	// or compared otherwise.
	ids  []string
	n    int
	seed uint64 // keys the slot positions (see slotOf)
}

// newSeed returns a random key for a table's slot positions (see
// slotOf): unknown to whoever names the values. The positions decide
// nothing but where a value is stored, so the ranking stays a pure
// function of its inputs.
func newSeed() uint64 { return rand.Uint64() }

// slotOf is the home slot of hash h in a table of mask+1 slots keyed by
// seed. The hashes are not keyed, so anyone can name values whose hashes
// share their low bits (2^bits tries each); placed at h & mask they would
// pile into one run of linear probing, which every insert and lookup then
// walks (O(n²) for n of them). Mixed with a secret seed, the home slots
// of distinct hashes are unrelated; only values whose low 32 bits agree
// share one (2^16 tries for a pair, about k·2^32 for k of them). The low
// 32 bits alone are used, so that a served probe (servedProbe), which
// keeps only those, finds the candidates of its hash in a batch's index.
func slotOf(h, seed, mask uint64) uint64 { return mix64(h&0xffffffff^seed) & mask }

// NewIDSet returns a set holding ids. Empty strings are ignored.
func NewIDSet(ids ...string) *IDSet {
	s := &IDSet{}
	s.rehash(len(ids), true)
	for _, id := range ids {
		_ = s.Add(id) // s is not nil
	}
	return s
}

// Add puts id in the set. An empty id is ignored. A nil *IDSet cannot
// hold anything: Add returns a *ValidationError (it panicked).
func (s *IDSet) Add(id string) error {
	if s == nil {
		return invalid("IDSet", "must not be nil: use NewIDSet or a zero IDSet")
	}
	h := hashString(id)
	if h == 0 {
		return nil
	}
	if 2*(s.n+1) > len(s.slots) || s.ids == nil {
		s.rehash(s.n+1, true)
	}
	mask := uint64(len(s.slots) - 1)
	for i := slotOf(h, s.seed, mask); ; i = (i + 1) & mask {
		switch v := s.slots[i]; {
		case v == 0:
			s.slots[i], s.ids[i] = h, id
			s.n++
			return nil
		case v == h && s.ids[i] == id:
			return nil
		}
	}
}

// Has reports whether id is in the set.
func (s *IDSet) Has(id string) bool { return s.hasID(hashString(id), id) }

// Len returns the number of distinct IDs in the set.
func (s *IDSet) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

// Reset empties the set and keeps its memory. A nil *IDSet is empty
// already: Reset does nothing (it panicked).
func (s *IDSet) Reset() {
	if s == nil {
		return
	}
	clear(s.slots)
	clear(s.ids) // the IDs are the caller's: let them go
	s.n = 0
}

// hasID reports whether id, whose hash is h, is in the set: a slot with
// hash h whose ID is id (any slot with hash h in a set of bare hashes).
func (s *IDSet) hasID(h uint64, id string) bool {
	if s == nil || s.n == 0 || h == 0 {
		return false
	}
	slots := s.slots
	mask := uint64(len(slots) - 1)
	for i := slotOf(h, s.seed, mask); ; i = (i + 1) & mask {
		v := slots[i]
		if v == h && (s.ids == nil || s.ids[i] == id) {
			return true
		}
		if v == 0 {
			return false
		}
	}
}

// has reports whether hash h is in a set of bare hashes (addHash).
func (s *IDSet) has(h uint64) bool { return s.hasID(h, "") }

// addHash inserts h (ignoring 0) and reports whether it was new.
func (s *IDSet) addHash(h uint64) bool {
	if h == 0 {
		return false
	}
	if 2*(s.n+1) > len(s.slots) {
		s.reserve(s.n + 1)
	}
	mask := uint64(len(s.slots) - 1)
	for i := slotOf(h, s.seed, mask); ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return false
		case 0:
			s.slots[i] = h
			s.n++
			return true
		}
	}
}

// reserve makes room for n entries at a load factor of at most 1/2.
func (s *IDSet) reserve(n int) {
	if 2*n <= len(s.slots) {
		return
	}
	s.rehash(n, s.ids != nil)
}

// rehash moves the entries to a table with room for n entries at a load
// factor of at most 1/2 (and no smaller than the current one), keeping
// the IDs beside the hashes when withIDs or when the set has them.
func (s *IDSet) rehash(n int, withIDs bool) {
	size := max(16, len(s.slots))
	for size < 4*n {
		size *= 2
	}
	oldSlots, oldIDs := s.slots, s.ids
	s.slots = make([]uint64, size)
	s.ids = nil
	if withIDs || oldIDs != nil {
		s.ids = make([]string, size)
	}
	s.seed = newSeed()
	mask := uint64(size - 1)
	for k, h := range oldSlots {
		if h == 0 {
			continue
		}
		i := slotOf(h, s.seed, mask)
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = h
		if oldIDs != nil {
			s.ids[i] = oldIDs[k]
		}
	}
}

// sipHash24 is SipHash-2-4 (Aumasson and Bernstein) of s under the
// 128-bit key (k0, k1): a keyed pseudo-random function, so that without
// the key nobody can choose two strings whose values collide, as anyone
// can for hashString. It tags the items of a cursor's served set under the
// session's secret key (see servedTag), and binds a cursor to its request
// (see binding).
func sipHash24[T string | []byte](k0, k1 uint64, s T) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	n := len(s)
	for ; len(s) >= 8; s = s[8:] {
		m := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
	}
	m := uint64(n) << 56
	for i := len(s) - 1; i >= 0; i-- {
		m |= uint64(s[i]) << (8 * i)
	}
	v3 ^= m
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= m
	v2 ^= 0xff
	for range 4 {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// servedTag is the keyed tag of an item ID in a session's served set:
// 32 bits of SipHash-2-4 under the session key.
func servedTag(sk *[2]uint64, id string) uint32 {
	return uint32(sipHash24(sk[0], sk[1], id))
}

// pairKey combines an ID's hash and its served tag into one value (never
// 0) for an IDSet: two entries share it only if both hash and tag agree,
// bar a 2^-64 accident.
func pairKey(h uint64, tag uint32) uint64 {
	k := mix64(h ^ mix64(uint64(tag)+golden))
	if k == 0 {
		k = golden
	}
	return k
}
