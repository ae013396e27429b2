package ranking

import (
	"strconv"
	"testing"
	"time"
)

// lowBitIDs returns n IDs whose hashString has its low `bits` bits zero:
// about 2^bits tries each, as anyone who names items or authors can do,
// since the hash is not keyed.
func lowBitIDs(n, bits int) []string {
	mask := uint64(1)<<bits - 1
	out := make([]string, 0, n)
	for k := 0; len(out) < n; k++ {
		if id := "c-" + strconv.Itoa(k); hashString(id)&mask == 0 {
			out = append(out, id)
		}
	}
	return out
}

// longestRun is the longest run of consecutive used slots (cyclically)
// of an open-addressing table: what one probe may have to walk.
func longestRun[T comparable](slots []T) int {
	var zero T
	best, run := 0, 0
	for k := range 2 * len(slots) {
		if slots[k%len(slots)] == zero {
			run = 0
			continue
		}
		run++
		best = max(best, min(run, len(slots)))
	}
	return best
}

// TestChosenHashesDoNotCluster: the batch's ID index, IDSet and the
// diversity counter placed a value at its unkeyed hash's low bits, so
// values named to share those bits (1024 tries each here) piled into one
// run of linear probing: every Add, lookup and count walked it, O(n²) for
// a batch of them (a CPU denial of service from whoever names items,
// authors or categories). Positions are now keyed by a random per-table
// seed. Expected longest run at these loads: about 10.
func TestChosenHashesDoNotCluster(t *testing.T) {
	const n, bits, limit = 1000, 10, 100
	ids := lowBitIDs(n, bits)

	b := NewBatch(0)
	for _, id := range ids {
		if err := b.Add(&Candidate{ID: id, Author: id, Created: time.Unix(1e9, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	if r := longestRun(b.index); r > limit {
		t.Errorf("Batch index (%d slots): a run of %d used slots", len(b.index), r)
	}
	s := NewIDSet(ids...)
	if r := longestRun(s.slots); r > limit {
		t.Errorf("IDSet (%d slots): a run of %d used slots", len(s.slots), r)
	}
	var c counter
	c.reset(n)
	for _, id := range ids {
		c.incr(hashString(id), id)
	}
	if r := longestRun(c.keys); r > limit {
		t.Errorf("counter (%d slots): a run of %d used slots", len(c.keys), r)
	}
	for _, id := range ids { // still found
		if b.Index(id) < 0 || !s.Has(id) {
			t.Fatalf("%s lost", id)
		}
	}
}
