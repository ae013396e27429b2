package memory

import (
	"encoding/binary"
	"hash/maphash"
	"time"
	"unsafe"

	"github.com/socialcommerce/sdk/internal/fastcopy"
	"github.com/socialcommerce/sdk/internal/ids"
)

// The store keeps its per-seat, per-user, per-record and per-event rows
// without pointers: strings live in byte arenas and rows refer to them by
// offset, times are stored as numbers, rows sit in fixed chunks and are
// found through indexes of row numbers. The garbage collector then neither
// scans the rows nor marks a string per field, and writing a row costs no
// write barriers; with pointers, marking the store's rows was about 40% of
// the instructions of a join and a payment.

// arena holds bytes in append-only chunks. Bytes once written never change
// and a chunk is never reused, which is what makes it safe to hand out
// strings that alias them (see str).
type arena struct {
	chunks [][]byte // each at its full length; the last one is being filled
	cur    []byte   // the last chunk
	used   int      // of cur
	size   int      // of the next chunk
}

// Chunks grow from arenaFirst to arenaChunk bytes, so that the many small
// stores of tests stay small; a longer value gets a chunk of its own.
const (
	arenaFirst = 1 << 10
	arenaChunk = 64 << 10
)

// ref locates a value in an arena; the zero ref is the empty value (a nil
// []byte), and emptyBytes marks an empty but non-nil []byte.
type ref struct{ chunk, off, n uint32 }

// emptyBytes is the chunk of the ref of an empty, non-nil []byte, which
// reads back as such rather than as nil.
const emptyBytes = ^uint32(0)

// add copies s into the arena.
func (a *arena) add(s string) ref {
	if s == "" {
		return ref{}
	}
	if len(a.cur)-a.used < len(s) {
		a.grow(len(s))
	}
	// A copy and an offset rather than an append: writing the slice back
	// would cost a write barrier while the collector marks.
	off := a.used
	a.used += fastcopy.Copy(a.cur[off:], s) // IDs without a memmove call
	return ref{uint32(len(a.chunks) - 1), uint32(off), uint32(len(s))}
}

// addPair is add(s) and addBytes(b) with one check for room: they land
// side by side in the last chunk. A ref of length 0 reads back as empty
// whatever its chunk and offset.
func (a *arena) addPair(s string, b []byte) (ref, ref) {
	c := a.reserve(len(s) + len(b))
	off := uint32(a.used)
	dst := a.cur[a.used:]
	ns := uint32(fastcopy.Copy(dst, s))
	nb := uint32(copy(dst[ns:], b))
	a.used += int(ns + nb)
	rs, rb := ref{c, off, ns}, ref{c, off + ns, nb}
	if nb == 0 && b != nil {
		rb = ref{chunk: emptyBytes}
	}
	return rs, rb
}

// reserve makes room for n more bytes in the last chunk and returns its
// number.
func (a *arena) reserve(n int) uint32 {
	if len(a.chunks) == 0 || len(a.cur)-a.used < n {
		a.grow(n)
	}
	return uint32(len(a.chunks) - 1)
}

// grow starts a new chunk with room for at least n bytes: a chunk never
// grows past its capacity, so its bytes never move.
func (a *arena) grow(n int) {
	a.size = min(max(2*a.size, arenaFirst), arenaChunk)
	c := make([]byte, max(a.size, n))
	a.chunks = append(a.chunks, c)
	a.cur, a.used = c, 0
}

// str returns the string at r. It aliases the arena, which is safe because
// those bytes are never written again; the string keeps its chunk alive.
func (a *arena) str(r ref) string {
	if r.n == 0 {
		return ""
	}
	return unsafe.String(&a.chunks[r.chunk][r.off], int(r.n))
}

// bytes returns the bytes at r, aliasing the arena: callers copy them
// before handing them out.
func (a *arena) bytes(r ref) []byte {
	if r.n == 0 {
		if r.chunk == emptyBytes {
			return []byte{}
		}
		return nil
	}
	return a.chunks[r.chunk][r.off : r.off+r.n : r.off+r.n]
}

// stamp is a time.Time without pointers: seconds and nanoseconds since the
// Unix epoch of a UTC time without a monotonic reading (what the SDK's
// clocks produce), or, for any other time, an index into times.exact, so
// that every time reads back exactly as it was written. times.exact is
// never trimmed, so a table whose rows are dropped (the outbox) keeps its
// other times beside its rows instead (see utcStamp).
type stamp struct {
	sec  int64
	nsec int32 // -1 when sec indexes times.exact
}

// times encodes and decodes stamps.
type times struct {
	exact []time.Time
}

// utcStamp returns t as a stamp when it reads back exactly from one: a UTC
// time without a monotonic reading.
//
// Testing the location alone suffices, and is cheaper than rebuilding the
// time from the stamp and comparing: only time.Now gives a monotonic
// reading, in Local, and every change of location (UTC, In, Local) strips
// it, so a time whose location is UTC never has one.
func utcStamp(t time.Time) (stamp, bool) {
	if t.Location() != time.UTC {
		return stamp{}, false
	}
	return stamp{t.Unix(), int32(t.Nanosecond())}, true
}

// after reports whether s is later than u; neither may index times.exact.
func (s stamp) after(u stamp) bool {
	return s.sec > u.sec || s.sec == u.sec && s.nsec > u.nsec
}

// time is the instant of s, in UTC; s must not index times.exact.
func (s stamp) time() time.Time { return time.Unix(s.sec, int64(s.nsec)).UTC() }

// put keeps the rare times other than UTC ones out of line, in putExact,
// which a caller that has tested the time already calls directly.
func (ts *times) put(t time.Time) stamp {
	if s, ok := utcStamp(t); ok {
		return s
	}
	return ts.putExact(t)
}

// putExact keeps t in times.exact, whatever its location.
func (ts *times) putExact(t time.Time) stamp {
	ts.exact = append(ts.exact, t)
	return stamp{int64(len(ts.exact) - 1), -1}
}

func (ts *times) get(s stamp) time.Time {
	if s.nsec < 0 {
		return ts.exact[s.sec]
	}
	return s.time()
}

// rows is a table of rows in fixed chunks: rows never move, and adding one
// never copies those stored. Row numbers are dense from 0.
type rows[T any] struct {
	chunks [][]T
	n      uint32
}

const rowShift = 8 // 256 rows per chunk

func (r *rows[T]) add() (uint32, *T) {
	i := r.n
	if i&(1<<rowShift-1) == 0 {
		r.chunks = append(r.chunks, make([]T, 1<<rowShift))
	}
	r.n++
	return i, &r.chunks[i>>rowShift][i&(1<<rowShift-1)]
}

func (r *rows[T]) at(i uint32) *T { return &r.chunks[i>>rowShift][i&(1<<rowShift-1)] }

// index finds rows by a key held in the rows, like a map[string]uint32
// without pointers: open addressing over (hash, row) slots with linear
// probing, doubled at 1/2 load rather than 3/4: every write looks its key
// up first and misses, and a miss probes on to an empty slot, which takes
// far fewer probes at the lower load. Only the outbox's index of live event
// IDs deletes (del), and it halves when an eighth full.
type index struct {
	slots []slot
	n     int
	// free is the empty slot that the last lookup that missed stopped at,
	// plus one (0 for none), and freeHash the hash it probed for. A write
	// looks a key up before it adds it, so add can often take that slot
	// without probing again: as long as the slots were not rebuilt and the
	// slot is still empty, it is still the first empty one on that hash's
	// probe path, since slots are only filled between deletions (del
	// forgets free).
	free, freeHash uint32
}

type slot struct {
	hash uint32
	row  uint32 // the row number plus one; 0 marks an empty slot
}

// hashOf is the hash an index keeps for s.
func hashOf(seed maphash.Seed, s string) uint32 {
	h := maphash.String(seed, s)
	return uint32(h ^ h>>32)
}

// sameID is a == b, with IDs (see fastcopy) compared inline: a call to
// runtime.memequal costs several times as much for 36 bytes.
func sameID(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) != ids.Len {
		return a == b
	}
	x := unsafe.Slice(unsafe.StringData(a), ids.Len)
	y := unsafe.Slice(unsafe.StringData(b), ids.Len)
	le := binary.LittleEndian
	return le.Uint64(x) == le.Uint64(y) && le.Uint64(x[8:]) == le.Uint64(y[8:]) &&
		le.Uint64(x[16:]) == le.Uint64(y[16:]) && le.Uint64(x[24:]) == le.Uint64(y[24:]) &&
		le.Uint32(x[32:]) == le.Uint32(y[32:])
}

// next walks the probe path of hash h from slot *p (start with *p = h) and
// returns the next row whose hash is h, or false at the empty slot that
// ends the path. Lookups loop over it with their key comparison written
// out, rather than handing a comparison function to a find, an indirect
// call per probe.
func (x *index) next(h uint32, p *uint32) (uint32, bool) {
	if len(x.slots) == 0 {
		return 0, false
	}
	mask := uint32(len(x.slots) - 1)
	for {
		i := *p & mask
		*p = i + 1
		s := x.slots[i]
		if s.row == 0 {
			x.free, x.freeHash = i+1, h
			return 0, false
		}
		if s.hash == h {
			return s.row - 1, true
		}
	}
}

// add indexes row under hash h; the caller checked that its key is new.
func (x *index) add(h, row uint32) {
	if (x.n+1)*2 > len(x.slots) {
		x.resize(max(16, 2*len(x.slots)))
	}
	x.n++
	if f := x.free; f != 0 && x.freeHash == h && x.slots[f-1].row == 0 {
		x.slots[f-1] = slot{h, row + 1}
		return
	}
	x.put(h, row+1)
}

// resize moves the slots into a table of n slots, a power of two.
func (x *index) resize(n int) {
	old := x.slots
	slots := make([]slot, n)
	mask := uint32(n - 1)
	for _, s := range old {
		if s.row != 0 {
			i := s.hash & mask
			for slots[i].row != 0 {
				i = (i + 1) & mask
			}
			slots[i] = s
		}
	}
	x.slots, x.free = slots, 0
}

// del removes row, indexed under hash h. The slots after it on the probe
// path shift back into the hole (linear probing allows it), so no
// tombstone is left and lookups probe as if row had never been added.
func (x *index) del(h, row uint32) {
	mask := uint32(len(x.slots) - 1)
	i := h & mask
	for x.slots[i].row != row+1 {
		i = (i + 1) & mask
	}
	for j := i; ; {
		j = (j + 1) & mask
		s := x.slots[j]
		if s.row == 0 {
			break
		}
		// s stays when its home slot lies after the hole, within (i, j]:
		// moved to i, it would sit before its home, off its probe path.
		if (j-s.hash)&mask < (j-i)&mask {
			continue
		}
		x.slots[i] = s
		i = j
	}
	x.slots[i] = slot{}
	x.n--
	x.free = 0
	// An outbox drained after a burst lets the burst's table go.
	if len(x.slots) > 64 && x.n*8 < len(x.slots) {
		x.resize(len(x.slots) / 2)
	}
}

func (x *index) put(h, row uint32) {
	mask := uint32(len(x.slots) - 1)
	i := h & mask
	for x.slots[i].row != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = slot{h, row}
}

// interned numbers distinct strings in the order they first come, so that
// rows can refer to a campaign or a topic by a small number. Its zero value
// is ready to use.
type interned struct {
	list []string
	nums map[string]uint32
}

// num returns the number of s, adding s when new.
func (in *interned) num(s string) uint32 {
	// A few strings (the outbox's topics, most stores' campaigns) are found
	// faster by comparing than by hashing: strings of another length
	// differ at once, and the same string at once by its pointer.
	if len(in.list) <= internedScan {
		for n, t := range in.list {
			if t == s {
				return uint32(n)
			}
		}
	} else if n, ok := in.nums[s]; ok {
		return n
	}
	if in.nums == nil {
		in.nums = make(map[string]uint32)
	}
	n := uint32(len(in.list))
	in.list = append(in.list, s)
	in.nums[s] = n
	return n
}

// internedScan is how many strings interned compares before it hashes.
const internedScan = 8

// at returns the string numbered n.
func (in *interned) at(n uint32) string { return in.list[n] }
