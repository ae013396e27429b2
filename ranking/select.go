package ranking

import (
	"math"
	"slices"
	"strings"
)

// topk keeps the k best batch indices in the total order (score
// descending, then ID ascending) in a binary heap whose root is the worst
// kept item, so that most candidates are rejected by one comparison with
// the root: O(N log k) at worst, close to O(N) in practice. Entries carry
// their score so that comparisons stay within the heap's own memory.
type topk struct {
	heap   []entry
	idx    []int32 // the result, best first
	k      int
	ids    []string
	sorted bool
}

type entry struct {
	s float64
	i int32
}

func (h *topk) reset(k int, ids []string) {
	h.heap = h.heap[:0]
	h.idx = h.idx[:0]
	h.k = k
	h.ids = ids
	h.sorted = false
}

// worse reports whether a comes after b in the total order.
func (h *topk) worse(a, b entry) bool {
	if a.s != b.s {
		return a.s < b.s
	}
	return h.ids[a.i] > h.ids[b.i]
}

// offer considers batch index i with score s; it reports the root's score
// once the heap is full (the threshold below which nothing can enter), or
// -Inf before.
func (h *topk) offer(i int32, s float64) float64 {
	e := entry{s, i}
	if len(h.heap) < h.k {
		h.heap = append(h.heap, e)
		h.up(len(h.heap) - 1)
	} else if h.k > 0 && h.worse(h.heap[0], e) {
		h.heap[0] = e
		h.down(0, len(h.heap))
	}
	if len(h.heap) == h.k && h.k > 0 {
		return h.heap[0].s
	}
	return math.Inf(-1)
}

func (h *topk) up(j int) {
	x := h.heap
	for j > 0 {
		p := (j - 1) / 2
		if !h.worse(x[j], x[p]) {
			return
		}
		x[j], x[p] = x[p], x[j]
		j = p
	}
}

func (h *topk) down(j, n int) {
	x := h.heap[:n]
	for {
		c := 2*j + 1
		if c >= n {
			return
		}
		if r := c + 1; r < n && h.worse(x[r], x[c]) {
			c = r
		}
		if !h.worse(x[c], x[j]) {
			return
		}
		x[j], x[c] = x[c], x[j]
		j = c
	}
}

// sortedIdx returns the kept items best first (heap sort: the worst goes
// to the end, repeatedly). The heap is consumed.
func (h *topk) sortedIdx() []int32 {
	if !h.sorted {
		for end := len(h.heap) - 1; end > 0; end-- {
			h.heap[0], h.heap[end] = h.heap[end], h.heap[0]
			h.down(0, end)
		}
		h.idx = h.idx[:0]
		for _, e := range h.heap {
			h.idx = append(h.idx, e.i)
		}
		h.sorted = true
	}
	return h.idx
}

// sortAll is the full-sort baseline for benchmarks: idx holds every
// eligible item; sort them all by the same total order and keep the best
// k.
func (h *topk) sortAll(k int, score []float64) {
	ids := h.ids
	slices.SortFunc(h.idx, func(a, b int32) int {
		sa, sb := score[a], score[b]
		switch {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return strings.Compare(ids[a], ids[b])
	})
	if len(h.idx) > k {
		h.idx = h.idx[:k]
	}
	h.sorted = true
}

// counter counts occurrences of strings by their 64-bit hashes (never 0),
// by open addressing. A hash match is confirmed by comparing the strings:
// the hash is not keyed, and two values chosen to collide (an author named
// to collide with a rival's) must not share a count.
type counter struct {
	keys []uint64
	strs []string
	vals []int32
	seed uint64 // keys the slot positions (see slotOf)
}

func (t *counter) reset(n int) {
	t.seed = newSeed()
	size := 16
	for size < 2*n {
		size *= 2
	}
	if len(t.keys) < size {
		t.keys = make([]uint64, size)
		t.strs = make([]string, size)
		t.vals = make([]int32, size)
		return
	}
	clear(t.keys)
	clear(t.strs) // the batch's strings: let them go
}

// incr counts v, whose hash is h, once more and returns its count before.
func (t *counter) incr(h uint64, v string) int32 {
	mask := uint64(len(t.keys) - 1)
	for k := slotOf(h, t.seed, mask); ; k = (k + 1) & mask {
		switch t.keys[k] {
		case h:
			if t.strs[k] != v {
				continue
			}
			c := t.vals[k]
			t.vals[k]++
			return c
		case 0:
			t.keys[k] = h
			t.strs[k] = v
			t.vals[k] = 1
			return 0
		}
	}
}
