package ranking

// golden is 2^64 divided by the golden ratio, the SplitMix64 increment.
const golden = 0x9e3779b97f4a7c15

// hashString is the 64-bit hash used for IDs, authors and the other axes:
// FNV-1a over the bytes followed by the SplitMix64 finaliser, so that the
// low bits are well mixed for open addressing. The empty string hashes to 0
// ("no value"); no other string does. It is part of the cursor format (the
// served set holds these hashes): changing it requires a new cursorFormat.
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
// Request.BlockedAuthors) stored as 64-bit hashes in an open-addressing
// table, so that a membership test costs a few nanoseconds and no
// allocation. Two distinct IDs collide with probability 2^-64 per pair; a
// collision makes the set report the other ID as present too.
//
// The zero value and a nil *IDSet are empty sets. An IDSet is not safe for
// concurrent writes; concurrent reads (Has, and use by Rank) are safe. Reset
// it and Add again to reuse its memory.
type IDSet struct {
	slots []uint64 // 0 marks a free slot; hashes are never 0
	n     int
}

// NewIDSet returns a set holding ids. Empty strings are ignored.
func NewIDSet(ids ...string) *IDSet {
	s := &IDSet{}
	s.reserve(len(ids))
	for _, id := range ids {
		s.Add(id)
	}
	return s
}

// Add puts id in the set. An empty id is ignored.
func (s *IDSet) Add(id string) { s.addHash(hashString(id)) }

// Has reports whether id is in the set.
func (s *IDSet) Has(id string) bool { return s.has(hashString(id)) }

// Len returns the number of distinct IDs in the set.
func (s *IDSet) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

// Reset empties the set and keeps its memory.
func (s *IDSet) Reset() {
	clear(s.slots)
	s.n = 0
}

func (s *IDSet) has(h uint64) bool {
	if s == nil || s.n == 0 || h == 0 {
		return false
	}
	slots := s.slots
	mask := uint64(len(slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		v := slots[i]
		if v == h {
			return true
		}
		if v == 0 {
			return false
		}
	}
}

// addHash inserts h (ignoring 0) and reports whether it was new.
func (s *IDSet) addHash(h uint64) bool {
	if h == 0 {
		return false
	}
	if 2*(s.n+1) > len(s.slots) {
		s.reserve(s.n + 1)
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
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
	size := 16
	for size < 4*n {
		size *= 2
	}
	old := s.slots
	s.slots = make([]uint64, size)
	s.n = 0
	for _, h := range old {
		if h != 0 {
			s.addHash(h)
		}
	}
}
