package fastcopy

import (
	"bytes"
	"strings"
	"testing"
)

func TestAppendAndCopy(t *testing.T) {
	for n := 0; n <= 80; n++ {
		s := strings.Repeat("0123456789abcdef-", 5)[:n]
		for _, c := range []int{0, 3, 36, 40, 128} {
			b := make([]byte, 3, c+3)
			copy(b, "xyz")
			got := Append(b, s)
			if want := append([]byte("xyz"), s...); !bytes.Equal(got, want) {
				t.Fatalf("Append(len %d, cap %d, %q) = %q, want %q", n, c, s, got, want)
			}
		}
		dst := make([]byte, n+4)
		if k := Copy(dst, s); k != n || string(dst[:n]) != s || string(dst[n:]) != "\x00\x00\x00\x00" {
			t.Fatalf("Copy(%q) = %d, %q", s, k, dst)
		}
	}
}
