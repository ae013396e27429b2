package ranking

import "testing"

// collidingIDs have the same hashString (FNV-1a 64, then a bijection):
// found by a parallel-collision (Pollard rho) search over IDs of the form
// "sku-" + 11 characters, about 2^32 hash evaluations, a minute on two
// cores. Anyone who names items can do the same.
var collidingIDs = [2]string{"sku-tmElGPM1FKA", "sku-AYBJ0pbVf12"}

func TestCollidingIDs(t *testing.T) {
	a, b := collidingIDs[0], collidingIDs[1]
	if a == b || hashString(a) != hashString(b) {
		t.Fatalf("hashString(%q) = %#x, hashString(%q) = %#x: not a collision", a, hashString(a), b, hashString(b))
	}
	var sk [2]uint64
	for k := range uint64(64) {
		sk = [2]uint64{k, ^k}
		if servedTag(&sk, a) != servedTag(&sk, b) {
			return
		}
	}
	t.Fatalf("the served tags of %q and %q agree under 64 keys", a, b)
}

// TestSipHash24 checks sipHash24 against the reference test vectors
// (key 00 01 .. 0f, message 00 01 .. n-1).
func TestSipHash24(t *testing.T) {
	const k0, k1 = 0x0706050403020100, 0x0f0e0d0c0b0a0908
	tests := []struct {
		n    int
		want uint64
	}{
		{0, 0x726fdb47dd0e0e31},
		{1, 0x74f839c593dc67fd},
		{8, 0x93f5f5799a932462},
		{15, 0xa129ca6149be45e5},
	}
	for _, tt := range tests {
		msg := make([]byte, tt.n)
		for i := range msg {
			msg[i] = byte(i)
		}
		if got := sipHash24(k0, k1, string(msg)); got != tt.want {
			t.Errorf("SipHash-2-4 of %d bytes = %#x, want %#x", tt.n, got, tt.want)
		}
	}
}
