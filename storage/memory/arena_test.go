package memory

import (
	"hash/maphash"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socialcommerce/sdk/storage"
)

// TestTimesExact: every time reads back exactly as written (==, so the
// location and the monotonic reading too), whether it takes the compact
// form or the exact table.
func TestTimesExact(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	var ts times
	for _, v := range []time.Time{
		{}, time.Unix(0, 0).UTC(), time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(1600, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, shanghai),
		time.Now(), time.Now().UTC(), time.Now().Local(), time.Now().In(shanghai),
	} {
		if got := ts.get(ts.put(v)); got != v {
			t.Errorf("put/get(%v) = %v", v, got)
		}
	}
	if s := ts.put(time.Date(2026, 11, 27, 12, 0, 0, 5, time.UTC)); s.nsec < 0 {
		t.Error("a UTC time without a monotonic reading takes the compact form")
	}
}

// TestArena: values read back as written across chunks, long values
// included, and earlier values never change as more are added.
func TestArena(t *testing.T) {
	var a arena
	var refs []ref
	var want []string
	for i := range 5000 {
		s := strings.Repeat(strconv.Itoa(i), i%37)
		if i%997 == 0 {
			s = strings.Repeat("x", arenaChunk+i) // longer than a chunk
		}
		refs = append(refs, a.add(s))
		want = append(want, s)
	}
	for i, r := range refs {
		if got := a.str(r); got != want[i] {
			t.Fatalf("value %d = %q, want %q", i, got, want[i])
		}
		if got := string(a.bytes(r)); got != want[i] {
			t.Fatalf("bytes %d = %q, want %q", i, got, want[i])
		}
	}
}

// TestIndex: every key added is found as its row, absent keys are not,
// across the doublings.
func TestIndex(t *testing.T) {
	seed := maphash.MakeSeed()
	var x index
	var keys []string
	eq := func(key string) func(uint32) bool {
		return func(r uint32) bool { return keys[r] == key }
	}
	for i := range 20000 {
		k := "k" + strconv.Itoa(i)
		h := hashOf(seed, k)
		if _, ok := x.find(h, eq(k)); ok {
			t.Fatalf("%s found before it was added", k)
		}
		keys = append(keys, k)
		x.add(h, uint32(i))
	}
	for i, k := range keys {
		if r, ok := x.find(hashOf(seed, k), eq(k)); !ok || r != uint32(i) {
			t.Fatalf("find(%s) = %d, %v", k, r, ok)
		}
	}
	if _, ok := x.find(hashOf(seed, "absent"), eq("absent")); ok {
		t.Fatal("an absent key was found")
	}
}

// TestIndexDelete: random adds and deletes, with hashes drawn from a small
// range so that probe paths collide and wrap around the table, leave
// exactly the rows added and not deleted findable, through growth and
// shrinking. The seed is printed.
func TestIndexDelete(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	var x index
	var hashes []uint32       // per row
	live := map[uint32]bool{} // rows indexed
	var order []uint32        // live rows, for picking one to delete
	for step := range 20000 {
		if len(order) > 0 && (rng.IntN(3) == 0 || step > 15000) {
			k := rng.IntN(len(order))
			r := order[k]
			order[k] = order[len(order)-1]
			order = order[:len(order)-1]
			x.del(hashes[r], r)
			delete(live, r)
		} else {
			r := uint32(len(hashes))
			h := uint32(rng.IntN(1<<7)) * 0x01000001 // few distinct homes; high bits for big tables
			if rng.IntN(2) == 0 {
				h = rng.Uint32()
			}
			hashes = append(hashes, h)
			x.add(h, r)
			live[r] = true
			order = append(order, r)
		}
		if step%1999 == 0 || step == 19999 {
			if x.n != len(live) {
				t.Fatalf("step %d: n %d, want %d", step, x.n, len(live))
			}
			for r, h := range hashes {
				_, ok := x.find(h, func(row uint32) bool { return row == uint32(r) })
				if ok != live[uint32(r)] {
					t.Fatalf("step %d: row %d found %v, indexed %v", step, r, ok, live[uint32(r)])
				}
			}
		}
	}
	if len(x.slots) > 64 && x.n*8 < len(x.slots) {
		t.Errorf("%d slots kept for %d rows", len(x.slots), x.n)
	}
}

// TestOutboxAcrossChunks writes events over many chunks of rows and bytes,
// acks them out of order and checks that what is left is claimed again
// intact, and that the chunks of fully acked events are let go.
func TestOutboxAcrossChunks(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	s := New(WithClock(func() time.Time { return now }))
	const n = 3000
	payload := func(i int) string { return `{"n":"` + strings.Repeat("p", i%300) + strconv.Itoa(i) + `"}` }
	for i := range n {
		s.mu.Lock()
		s.addEvents([]storage.Event{{ID: "e" + strconv.Itoa(i), Topic: "t" + strconv.Itoa(i%3), Key: "k" + strconv.Itoa(i), Payload: []byte(payload(i)), CreatedAt: now}})
		s.mu.Unlock()
	}
	// Ack every event but those divisible by 7, half after a claim and
	// half never claimed.
	evs, err := s.Claim(ctx, storage.MaxClaim, time.Minute)
	if err != nil || len(evs) != n {
		t.Fatalf("claim: %d events, %v", len(evs), err)
	}
	var ack []string
	for i := n - 1; i >= 0; i-- {
		if i%7 != 0 {
			ack = append(ack, "e"+strconv.Itoa(i))
		}
	}
	if err := s.Ack(ctx, ack); err != nil {
		t.Fatal(err)
	}
	if got, want := s.Pending(), (n+6)/7; got != want {
		t.Fatalf("pending %d, want %d", got, want)
	}
	now = now.Add(2 * time.Minute) // the leases end
	evs, err = s.Claim(ctx, storage.MaxClaim, time.Minute)
	if err != nil || len(evs) != (n+6)/7 {
		t.Fatalf("claim again: %d events, %v", len(evs), err)
	}
	for j, ev := range evs {
		i := 7 * j
		if ev.ID != "e"+strconv.Itoa(i) || ev.Key != "k"+strconv.Itoa(i) || ev.Topic != "t"+strconv.Itoa(i%3) ||
			string(ev.Payload) != payload(i) || ev.Attempts != 2 || !ev.CreatedAt.Equal(now.Add(-2*time.Minute)) {
			t.Fatalf("event %d = %+v", i, ev)
		}
	}
	var rest []string
	for _, ev := range evs {
		rest = append(rest, ev.ID)
	}
	if err := s.Ack(ctx, rest); err != nil {
		t.Fatal(err)
	}
	if s.Pending() != 0 {
		t.Fatalf("pending %d after acking all", s.Pending())
	}
	kept := 0
	for _, c := range s.out.bytes.chunks[:len(s.out.bytes.chunks)-1] {
		if c != nil {
			kept++
		}
	}
	for _, c := range s.out.log.chunks[:n>>rowShift] {
		if c != nil {
			kept++
		}
	}
	if kept != 0 {
		t.Errorf("%d chunks of acked events kept", kept)
	}
}

// TestHashOfEveryByte: hashOf reads every byte of keys of every length up
// to past five words: a change to any one changes the hash, barring a
// 2^-32 chance.
func TestHashOfEveryByte(t *testing.T) {
	seed := maphash.MakeSeed()
	buf := []byte(strings.Repeat("0123456789abcdef", 4))
	for n := 0; n <= 40; n++ {
		key := string(buf[:n]) // a copy of its own, as long as the key
		h := hashOf(seed, key)
		if hashOf(seed, key+"") != h || hashOf(seed, string([]byte(key))) != h {
			t.Fatalf("len %d: hash differs for an equal key", n)
		}
		for i := range n {
			b := []byte(key)
			b[i] ^= 1
			if hashOf(seed, string(b)) == h {
				t.Errorf("len %d: byte %d does not change the hash", n, i)
			}
		}
		if n > 0 && hashOf(seed, key[:n-1]) == h {
			t.Errorf("len %d: the hash of its prefix is the same", n)
		}
	}
}

// TestSameID: sameID is ==, for IDs differing in any one byte and for
// other lengths.
func TestSameID(t *testing.T) {
	for _, n := range []int{0, 5, 35, 36, 37} {
		a := strings.Repeat("0123456789abcdef", 3)[:n]
		if !sameID(a, string([]byte(a))) {
			t.Errorf("len %d: equal strings differ", n)
		}
		if n > 0 && sameID(a, a[:n-1]) {
			t.Errorf("len %d: a prefix is the same", n)
		}
		for i := range n {
			b := []byte(a)
			b[i] ^= 1
			if sameID(a, string(b)) {
				t.Errorf("len %d: byte %d is not compared", n, i)
			}
		}
	}
}

// find returns the row of x with hash h for which eq holds: the lookup
// the store writes out per key type, for the index's own test.
func (x *index) find(h uint32, eq func(row uint32) bool) (uint32, bool) {
	for p := h; ; {
		r, ok := x.next(h, &p)
		if !ok || eq(r) {
			return r, ok
		}
	}
}
